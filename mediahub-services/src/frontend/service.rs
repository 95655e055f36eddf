//! フロントエンドの起動 ([`start`]・[`start_on`])。

use std::sync::Arc;

use super::api;
use super::assets;
use super::config::{FrontendArgs, FrontendConfig, SERVICE_NAME};
use super::error::StartError;
use super::state::FrontendState;
use crate::platform::cli::ui_line;
use crate::platform::server::{self, ServiceInfo};
use crate::platform::service::{ArgsError, Launch, ServiceHandle, ServiceMain};

/// サービスの情報 (API を持たないので OpenAPI 文書はありません。名前をログと取っ手に使います)。
pub const SERVICE_INFO: ServiceInfo = ServiceInfo {
    name: SERVICE_NAME,
    title: "MediaHub Frontend",
    description: "web/ のデバッグ UI を配る静的ファイルサーバー。",
};

/// 動いているフロントエンドの取っ手。
pub type FrontendHandle = ServiceHandle;

/// フロントエンドを起動します。
///
/// # エラー
/// UI のディレクトリに `index.html` が無い、アドレスを束縛できないなら [`StartError`]。
pub async fn start(config: FrontendConfig) -> Result<FrontendHandle, StartError> {
    let listener = server::bind(&config.listen).await?;
    start_on(listener, config).await
}

/// 束縛済みのリスナーでフロントエンドを起動します (`config.listen` は使いません)。
///
/// 先にポートを決めておきたいとき (ゲートウェイの CORS に UI のオリジンを渡してから UI を
/// 起動する全部入りの起動など) に使います。
///
/// # エラー
/// UI のディレクトリに `index.html` が無ければ [`StartError::MissingIndex`]。
pub async fn start_on(
    listener: tokio::net::TcpListener,
    config: FrontendConfig,
) -> Result<FrontendHandle, StartError> {
    if !config.web_dir.join("index.html").is_file() {
        return Err(StartError::MissingIndex(config.web_dir));
    }
    let launch = Launch::on(&SERVICE_INFO, listener, config.grace);
    let state = Arc::new(FrontendState {
        runtime_config: assets::runtime_config_script(&config.gateway_url, &config.service_urls),
        content_security_policy: api::content_security_policy(&config.gateway_url),
        web_dir: config.web_dir,
        readiness: launch.readiness().clone(),
    });
    let app = api::routes(state);
    Ok(launch.serve(app, (), async { Ok(()) })?)
}

impl ServiceMain for FrontendArgs {
    const SERVICE: &'static str = SERVICE_NAME;
    const LOG_FILTER: &'static str = "info";
    type Config = FrontendConfig;
    type State = ();
    type Error = StartError;

    fn config(self) -> Result<FrontendConfig, ArgsError> {
        self.into_config()
    }

    fn announcement(base_url: &str) -> String {
        ui_line(SERVICE_NAME, base_url)
    }

    async fn start(config: FrontendConfig) -> Result<FrontendHandle, StartError> {
        start(config).await
    }
}
