//! ゲートウェイ (ポート 8080) のバイナリ。
//!
//! ```text
//! JWT_SECRET=$(openssl rand -hex 32) DEV_LOGIN=true gateway --listen 127.0.0.1:8080
//! ```
//!
//! 設定はフラグと環境変数で渡します (`gateway --help` に一覧があります)。
//! GitHub / Google はクライアント ID とシークレットの両方があるときだけ有効になります。
//! Ctrl-C または SIGTERM でグレースフルに停止します。

use std::process::ExitCode;

use mediahub_services::gateway::GatewayArgs;
use mediahub_services::platform::service::run_service;

#[tokio::main]
async fn main() -> ExitCode {
    run_service::<GatewayArgs>().await
}
