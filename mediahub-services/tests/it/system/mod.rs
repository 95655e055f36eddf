//! 全サービスを 1 つのテストプロセスで起動するテスト: アップロード Saga の end-to-end とブラウザー。

mod browser_ui;
mod concurrency;
mod upload_saga;
