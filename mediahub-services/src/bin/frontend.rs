//! フロントエンド (ポート 3000) のバイナリ: `web/` のデバッグ UI を配ります。
//!
//! ```text
//! frontend --listen 127.0.0.1:3000 --web-dir ./web --gateway-url http://localhost:8080
//! ```
//!
//! 設定はフラグと環境変数で渡します (`frontend --help` に一覧があります)。
//! Ctrl-C または SIGTERM でグレースフルに停止します。

use std::process::ExitCode;

use mediahub_services::frontend::FrontendArgs;
use mediahub_services::platform::service::run_service;

#[tokio::main]
async fn main() -> ExitCode {
    run_service::<FrontendArgs>().await
}
