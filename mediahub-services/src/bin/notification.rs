//! 通知サービス (ポート 8086) のバイナリ。
//!
//! ```text
//! JWT_SECRET=$(openssl rand -hex 32) notification --listen 127.0.0.1:8086 \
//!     --eventstore-url http://127.0.0.1:8084 --database ./data/notification.db
//! ```
//!
//! 設定はフラグと環境変数で渡します (`notification --help` に一覧があります)。
//! Ctrl-C または SIGTERM でグレースフルに停止します。

use std::process::ExitCode;

use mediahub_services::notification::NotificationArgs;
use mediahub_services::platform::service::run_service;

#[tokio::main]
async fn main() -> ExitCode {
    run_service::<NotificationArgs>().await
}
