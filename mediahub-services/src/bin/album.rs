//! アルバムサービス (ポート 8083) のバイナリ。
//!
//! ```text
//! JWT_SECRET=$(openssl rand -hex 32) album --listen 127.0.0.1:8083 \
//!     --eventstore-url http://127.0.0.1:8084 --database ./data/album.db
//! ```
//!
//! 設定はフラグと環境変数で渡します (`album --help` に一覧があります)。
//! Ctrl-C または SIGTERM でグレースフルに停止します。

use std::process::ExitCode;

use mediahub_services::album::AlbumArgs;
use mediahub_services::platform::service::run_service;

#[tokio::main]
async fn main() -> ExitCode {
    run_service::<AlbumArgs>().await
}
