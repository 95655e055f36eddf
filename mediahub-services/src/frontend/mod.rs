//! フロントエンドサービス (ポート 3000、DESIGN §2・§8)。
//!
//! `web/` のデバッグ UI (HTML・CSS・JavaScript モジュール、ビルド手順なし) を配るだけの
//! 小さなサービスです。UI はゲートウェイだけを呼びます。ゲートウェイの URL は実行時に
//! `runtime-config.js` で渡すので、テストで一時的なポートを使っても UI を書き換える必要は
//! ありません ([`assets`])。
//!
//! 形はほかのサービスと同じ **config → state → routes → run** です。API を持たないので
//! OpenAPI 文書はなく、`/health` と `/ready` だけを足します。
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::frontend::{FrontendConfig, start};
//!
//! let config = FrontendConfig::new("./web", "http://localhost:8080").listen("127.0.0.1:0");
//! let frontend = start(config).await?;
//! println!("{}", frontend.base_url());
//! frontend.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod assets;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use poem::http::header;
use poem::web::{Data, Json};
use poem::{Endpoint, EndpointExt, Request, Response, Route, get, handler};

use self::assets::{AssetError, RUNTIME_CONFIG_PATH};
use crate::platform::problem::{Problem, ProblemMiddleware, codes};
use crate::platform::server::{
    self, DEFAULT_GRACE, Readiness, ServerError, ServerHandle, Shutdown,
};
use crate::platform::telemetry::RequestIdMiddleware;

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
/// 既定の UI のディレクトリ。
pub const DEFAULT_WEB_DIR: &str = "./web";
/// サービス名。
pub const SERVICE_NAME: &str = "frontend";

/// フロントエンドの起動・停止のエラー。
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    /// UI のディレクトリに `index.html` が無い。
    #[error("UI のディレクトリに index.html がありません: {0}")]
    MissingIndex(PathBuf),
    /// サーバーのエラー。
    #[error(transparent)]
    Server(#[from] ServerError),
}

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

/// リクエストが共有する状態。
#[derive(Debug)]
struct FrontendState {
    web_dir: PathBuf,
    runtime_config: String,
    content_security_policy: String,
    readiness: Readiness,
}

/// 動いているフロントエンドの取っ手。
#[derive(Debug)]
pub struct FrontendHandle {
    server: ServerHandle,
    readiness: Readiness,
}

impl FrontendHandle {
    /// 束縛したアドレス。
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// `http://<アドレス>` の形のベース URL。
    #[must_use]
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// 停止の合図。
    #[must_use]
    pub fn shutdown(&self) -> &Shutdown {
        self.server.shutdown()
    }

    /// 停止します (処理中のリクエストを終えてから)。
    ///
    /// # エラー
    /// サーバーが異常終了していれば [`FrontendError`]。
    pub async fn stop(self) -> Result<(), FrontendError> {
        self.server.shutdown().trigger();
        self.wait().await
    }

    /// 停止の合図が (どこかで) 出るまで待ち、後始末をします。
    ///
    /// # エラー
    /// サーバーが異常終了していれば [`FrontendError`]。
    pub async fn wait(self) -> Result<(), FrontendError> {
        self.server.shutdown().wait().await;
        self.readiness.set_ready(false);
        self.server.wait().await?;
        Ok(())
    }
}

/// URL からオリジン (`scheme://host:port`) を取り出します。読めなければ `None`。
fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    match parsed.origin() {
        url::Origin::Tuple(..) => Some(parsed.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// UI に付ける Content-Security-Policy。スクリプトは自分のオリジンからだけ、通信は
/// 自分とゲートウェイにだけ許します。画像と動画は、認可つきで取得して作る `blob:` の URL でも
/// 表示できます (`media-src` が無いと動画の原本が再生できません)。
fn content_security_policy(gateway_url: &str) -> String {
    let connect = origin_of(gateway_url)
        .map(|origin| format!(" {origin}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'{connect}; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'self'"
    )
}

fn asset_problem(err: &AssetError) -> Problem {
    match err {
        AssetError::InvalidPath(_) => Problem::bad_request(codes::INVALID_PATH, err.to_string()),
        AssetError::UnsupportedExtension(_) => {
            Problem::not_found(codes::NOT_FOUND, err.to_string())
        }
    }
}

fn with_headers(
    state: &FrontendState,
    content_type: &str,
    body: impl Into<poem::Body>,
) -> Response {
    Response::builder()
        .content_type(content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_FRAME_OPTIONS, "DENY")
        .header(
            header::CONTENT_SECURITY_POLICY,
            state.content_security_policy.as_str(),
        )
        .body(body)
}

#[handler]
async fn asset(req: &Request, state: Data<&Arc<FrontendState>>) -> Result<Response, Problem> {
    let path = req.uri().path();
    if path.trim_start_matches('/') == RUNTIME_CONFIG_PATH {
        return Ok(with_headers(
            &state,
            "text/javascript; charset=utf-8",
            state.runtime_config.clone(),
        ));
    }
    let (file, content_type) =
        assets::resolve(&state.web_dir, path).map_err(|err| asset_problem(&err))?;
    let bytes = match tokio::fs::read(&file).await {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(Problem::not_found(
                codes::NOT_FOUND,
                format!("ファイルがありません: {path}"),
            ));
        }
        Err(err) => return Err(Problem::internal("UI のファイルを読めません", &err)),
    };
    if file.file_name().is_some_and(|name| name == "index.html") {
        let html = String::from_utf8_lossy(&bytes);
        return Ok(with_headers(
            &state,
            content_type,
            assets::inject_runtime_config(&html),
        ));
    }
    Ok(with_headers(&state, content_type, bytes))
}

/// `/health` と `/ready` の本体 (ほかのサービスの `HealthApi` と同じ形)。
fn health_status(status: &str) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": status, "service": SERVICE_NAME }))
}

#[handler]
fn health() -> Json<serde_json::Value> {
    health_status("ok")
}

#[handler]
fn ready(state: Data<&Arc<FrontendState>>) -> Result<Json<serde_json::Value>, Problem> {
    if state.readiness.is_ready() {
        Ok(health_status("ready"))
    } else {
        Err(Problem::unavailable("サービスはまだ準備ができていません"))
    }
}

fn routes(state: Arc<FrontendState>) -> impl Endpoint<Output = Response> + 'static {
    Route::new()
        .at("/health", get(health))
        .at("/ready", get(ready))
        .at("/", get(asset))
        .at("/*path", get(asset))
        .data(state)
        .with(ProblemMiddleware)
        .with(RequestIdMiddleware)
        .map_to_response()
}

/// フロントエンドを起動します。
///
/// # エラー
/// UI のディレクトリに `index.html` が無い、アドレスを束縛できないなら [`FrontendError`]。
pub async fn start(config: FrontendConfig) -> Result<FrontendHandle, FrontendError> {
    let listener = server::bind(&config.listen).await?;
    start_on(listener, config).await
}

/// 束縛済みのリスナーでフロントエンドを起動します (`config.listen` は使いません)。
///
/// 先にポートを決めておきたいとき (ゲートウェイの CORS に UI のオリジンを渡してから UI を
/// 起動する全部入りの起動など) に使います。
///
/// # エラー
/// UI のディレクトリに `index.html` が無ければ [`FrontendError::MissingIndex`]。
pub async fn start_on(
    listener: tokio::net::TcpListener,
    config: FrontendConfig,
) -> Result<FrontendHandle, FrontendError> {
    // config → state
    if !config.web_dir.join("index.html").is_file() {
        return Err(FrontendError::MissingIndex(config.web_dir));
    }
    let readiness = Readiness::new();
    let state = Arc::new(FrontendState {
        runtime_config: assets::runtime_config_script(&config.gateway_url, &config.service_urls),
        content_security_policy: content_security_policy(&config.gateway_url),
        web_dir: config.web_dir,
        readiness: readiness.clone(),
    });
    // routes
    let app = routes(state);
    // run
    let server = server::spawn_server(listener, app, SERVICE_NAME, Shutdown::new(), config.grace)?;
    readiness.set_ready(true);
    Ok(FrontendHandle { server, readiness })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_allows_connecting_to_gateway_origin_only_besides_self() {
        let csp = content_security_policy("http://127.0.0.1:8080/some/path");
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:8080;"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self';"), "{csp}");
    }

    #[test]
    fn csp_of_unparsable_gateway_url_allows_self_only() {
        let csp = content_security_policy("not a url");
        assert!(csp.contains("connect-src 'self';"), "{csp}");
    }
}
