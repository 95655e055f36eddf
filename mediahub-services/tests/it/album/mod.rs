//! album サービス (8083) のテスト: 公開 API、内部エンドポイント、メディアのイベントへの反応。

mod api;
mod internal;
mod reactor;
