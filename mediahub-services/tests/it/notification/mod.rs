//! notification サービス (8086) のテスト: コマンド、クエリ、SSE のストリーム。

mod commands;
mod queries;
mod stream;
