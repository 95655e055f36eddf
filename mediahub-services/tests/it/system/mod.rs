//! 全サービスを 1 つのテストプロセスで起動するテスト: アップロード Saga の end-to-end とブラウザー。

mod browser_lab;
mod browser_tour;
mod browser_ui;
mod concurrency;
mod lab;
mod upload_saga;
