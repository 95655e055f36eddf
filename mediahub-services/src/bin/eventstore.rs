//! イベントストア (ポート 8084) のバイナリ。
//!
//! ```text
//! JWT_SECRET=$(openssl rand -hex 32) eventstore --listen 127.0.0.1:8084 \
//!     --database ./data/eventstore.db
//! ```
//!
//! 設定はフラグと環境変数で渡します (`eventstore --help` に一覧があります)。
//! Ctrl-C または SIGTERM で、受け付け済みの書き込みを終えてからグレースフルに停止します。

use std::process::ExitCode;

use mediahub_services::eventstore::EventStoreArgs;
use mediahub_services::platform::service::run_service;

#[tokio::main]
async fn main() -> ExitCode {
    run_service::<EventStoreArgs>().await
}
