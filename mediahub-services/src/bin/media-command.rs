//! media-command サービス (ポート 8081) のバイナリ。
//!
//! ```text
//! JWT_SECRET=$(openssl rand -hex 32) media-command --listen 127.0.0.1:8081 \
//!     --eventstore-url http://127.0.0.1:8084 --storage-dir ./data/media
//! ```
//!
//! 設定はフラグと環境変数で渡します (`media-command --help` に一覧があります)。
//! Ctrl-C または SIGTERM でグレースフルに停止します。

use std::process::ExitCode;

use mediahub_services::media_command::MediaCommandArgs;
use mediahub_services::platform::service::run_service;

#[tokio::main]
async fn main() -> ExitCode {
    run_service::<MediaCommandArgs>().await
}
