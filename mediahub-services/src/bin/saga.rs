//! saga サービス (ポート 8085) のバイナリ: メディアアップロード Saga のオーケストレーター。
//!
//! ```text
//! JWT_SECRET=... EVENTSTORE_URL=http://127.0.0.1:8084 saga --listen 127.0.0.1:8085
//! ```
//!
//! 設定はフラグと環境変数で渡します (`saga --help` に一覧があります)。
//! Ctrl-C または SIGTERM でグレースフルに停止します。

use std::process::ExitCode;

use mediahub_services::platform::service::run_service;
use mediahub_services::saga::SagaArgs;

#[tokio::main]
async fn main() -> ExitCode {
    run_service::<SagaArgs>().await
}
