//! media-query サービス (ポート 8082) のバイナリ。
//!
//! ```text
//! JWT_SECRET=$(openssl rand -hex 32) media-query --listen 127.0.0.1:8082 \
//!     --eventstore-url http://127.0.0.1:8084 --database ./data/media-query.db
//! ```
//!
//! 設定はフラグと環境変数で渡します (`media-query --help` に一覧があります)。
//! Ctrl-C または SIGTERM でグレースフルに停止します。

use std::process::ExitCode;

use mediahub_services::media_query::MediaQueryArgs;
use mediahub_services::platform::service::run_service;

#[tokio::main]
async fn main() -> ExitCode {
    run_service::<MediaQueryArgs>().await
}
