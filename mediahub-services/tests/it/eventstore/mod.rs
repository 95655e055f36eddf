//! イベントストアサービス (8084) のテスト: API、不正な入力、並行追記、耐久性、購読。

mod api;
mod bad_input;
mod concurrency;
mod durability;
mod postgres;
mod subscribe;
