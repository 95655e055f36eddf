//! フロントエンドの設定 ([`FrontendConfig`]) と、バイナリ `frontend` の引数 ([`FrontendArgs`])。

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::platform::server::DEFAULT_GRACE;
use crate::platform::service::ArgsError;

/// サービス名。
pub const SERVICE_NAME: &str = "frontend";
/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
/// 既定の UI のディレクトリ。
pub const DEFAULT_WEB_DIR: &str = "./web";

/// フロントエンドの設定。
#[derive(Debug, Clone)]
pub struct FrontendConfig {
    /// 待ち受けアドレス (テストでは `127.0.0.1:0`)。
    pub listen: String,
    /// UI のファイルのディレクトリ (`web/`)。
    pub web_dir: PathBuf,
    /// ブラウザーから見たゲートウェイの URL。
    pub gateway_url: String,
    /// Swagger UI へのリンクに使う各サービスの URL (名前と URL)。空なら UI が
    /// ゲートウェイのホストと既定のポートから作ります。
    pub service_urls: Vec<(String, String)>,
    /// グレースフルシャットダウンの猶予。
    pub grace: Duration,
}

impl FrontendConfig {
    /// UI のディレクトリとゲートウェイの URL から、ほかは既定値で設定を作ります。
    #[must_use]
    pub fn new(web_dir: impl AsRef<Path>, gateway_url: impl Into<String>) -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            web_dir: web_dir.as_ref().to_path_buf(),
            gateway_url: gateway_url.into(),
            service_urls: Vec::new(),
            grace: DEFAULT_GRACE,
        }
    }

    /// 待ち受けアドレスを変えたコピーを返します。
    #[must_use]
    pub fn listen(mut self, listen: impl Into<String>) -> Self {
        self.listen = listen.into();
        self
    }

    /// Swagger UI へのリンクに使うサービスの URL を変えたコピーを返します。
    #[must_use]
    pub fn service_urls(mut self, service_urls: Vec<(String, String)>) -> Self {
        self.service_urls = service_urls;
        self
    }
}

/// MediaHub のデバッグ UI を配る静的ファイルサーバー。UI はゲートウェイだけを呼びます。
#[derive(Debug, clap::Parser)]
#[command(name = "frontend", version)]
pub struct FrontendArgs {
    /// 待ち受けアドレス (例: 127.0.0.1:3000、0.0.0.0:3000)。
    #[arg(long, env = "FRONTEND_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// UI のファイル (index.html のあるディレクトリ)。
    #[arg(long, env = "WEB_DIR", default_value = DEFAULT_WEB_DIR)]
    pub web_dir: PathBuf,

    /// ブラウザーから見たゲートウェイの URL。
    #[arg(long, env = "GATEWAY_URL", default_value = "http://localhost:8080")]
    pub gateway_url: String,
}

impl FrontendArgs {
    /// 引数から設定を作ります。
    ///
    /// # エラー
    /// `GATEWAY_URL` が URL でなければ [`ArgsError::Invalid`]。
    pub fn into_config(self) -> Result<FrontendConfig, ArgsError> {
        if url::Url::parse(&self.gateway_url).is_err() {
            return Err(ArgsError::Invalid(format!(
                "GATEWAY_URL が URL ではありません: {}",
                self.gateway_url
            )));
        }
        Ok(FrontendConfig::new(&self.web_dir, self.gateway_url).listen(self.listen))
    }
}
