//! ゲートウェイ (ポート 8080、DESIGN §2・§7): システムへの唯一の入口。
//!
//! - **ログイン**: GitHub と Google の OAuth2 (認可コード + PKCE S256、ブラウザーに結び付けた
//!   `state`、正確な `redirect_uri`)。成功したら JWT (HS256、1 時間) を発行し、
//!   フロントエンドへ `#token=<JWT>` (URL のフラグメントだけ) でリダイレクトします。
//!   初回ログインで `UserRegistered` を追記します ([`users`])。開発用ログイン
//!   (`POST /auth/dev-token`) は設定で有効にしたときだけ使えます。
//! - **中継**: 経路表 ([`routes::ROUTES`]) にある公開パスだけを上流のサービスへ流したまま
//!   中継します ([`proxy`])。ユーザー用 JWT を先に検証し、クライアントの `X-User-ID` と
//!   ホップバイホップのヘッダーを取り除き、リクエスト ID と相関 ID を付けます。
//!   `/internal/...` は決して中継しません。
//! - **CORS**: 設定したフロントエンドのオリジンだけを許可します ([`app::cors`])。
//! - **文書**: `/openapi.json` と `/swagger` が公開 API 全体を 1 か所で説明します ([`openapi`])。
//!
//! 形は全サービス共通の **config → state → routes → run** です:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::gateway::{GatewayConfig, start};
//! use mediahub_services::platform::auth::JwtKeys;
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = GatewayConfig::new("./data/gateway.db", keys)
//!     .listen("127.0.0.1:0")
//!     .dev_login(true);
//! let gateway = start(config).await?;
//! println!("{}", gateway.base_url());
//! gateway.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod app;
pub mod args;
pub mod error;
pub mod lab;
pub mod oauth;
pub mod openapi;
pub mod pending;
pub mod profile;
pub mod proxy;
pub mod routes;
pub mod users;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use tokio::task::JoinHandle;
use url::Url;

pub use self::api::{GatewayApi, GatewayState};
pub use self::args::OAuthArgs;
pub use self::error::{RequestError, codes};
pub use self::lab::{LabAction, LabApi, LabControl, LabFailure, LabRequest, LabService, LabState};
pub use self::oauth::{OAuthClients, OAuthConfigError, OAuthProvider, ProviderKind};
pub use self::proxy::{Proxy, ProxySettings, UpstreamUrls};
pub use self::routes::{ROUTES, RouteKind, RouteRule, Upstream};

use self::pending::PendingLogins;
use self::users::{UserProjection, Users};
use crate::consumer::{self, Consumer, ConsumerConfig, ConsumerError};
use crate::platform::auth::JwtKeys;
use crate::platform::server::{
    self, DEFAULT_GRACE, Readiness, ServerError, ServerHandle, ServiceInfo, Shutdown,
};
use crate::store_client::{EventStoreClient, ServiceTokenProvider, StoreClientError};

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// 既定のデータベースファイル (ユーザー索引)。
pub const DEFAULT_DATABASE: &str = "./data/gateway.db";
/// 既定の公開 URL (`redirect_uri` の元)。
pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:8080";
/// 既定のフロントエンドの URL。
pub const DEFAULT_FRONTEND_URL: &str = "http://localhost:3000";
/// 既定のアップロードの上限 (50 MB、コアの既定と同じ)。
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = mediahub_core::media::DEFAULT_MAX_UPLOAD_BYTES;
/// アップロードの上限に足す multipart の枠 (境界やヘッダー) の余裕 (1 MiB)。
pub const MULTIPART_OVERHEAD_BYTES: u64 = 1024 * 1024;
/// 既定の上流の応答待ち時間 (応答ヘッダーまで)。
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// 既定のアップロードの応答待ち時間 (本体を送り終えて応答ヘッダーが来るまで)。
pub const DEFAULT_UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);
/// ゲートウェイ自身のエンドポイントの本体の上限 (64 KiB)。
const OWN_BODY_LIMIT: usize = 64 * 1024;
/// ログイン途中の状態を保管する最大件数。
const MAX_PENDING_LOGINS: usize = 10_000;
/// ユーザー索引の購読者の名前。
const CONSUMER_NAME: &str = "gateway-users";

/// サービスの情報 (OpenAPI 文書に載ります)。
pub const SERVICE_INFO: ServiceInfo = ServiceInfo {
    name: "gateway",
    title: "MediaHub Gateway (公開 API)",
    description: "MediaHub の唯一の入口。OAuth2 (GitHub / Google) と開発用ログインで JWT を発行し、\
                  公開 API を各サービスへ中継します。この文書には公開 API のすべてのパスが載っています \
                  (中継するパスの本体の詳しい形は x-upstream のサービスの /openapi.json にあります)。",
};

/// ゲートウェイの起動・停止のエラー。
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// 設定の URL が不正。
    #[error("{field} が URL として不正です: {value}")]
    InvalidUrl {
        /// 設定項目。
        field: &'static str,
        /// 渡された値。
        value: String,
    },
    /// OAuth2 の設定が不正。
    #[error(transparent)]
    OAuth(#[from] OAuthConfigError),
    /// HTTP クライアントを作れない。
    #[error("HTTP クライアントを作れません: {0}")]
    Http(#[from] reqwest::Error),
    /// イベントストアのクライアントを作れない。
    #[error("イベントストアのクライアントを作れません: {0}")]
    Store(#[from] StoreClientError),
    /// ユーザー索引のデータベースを開けない。
    #[error("ユーザー索引のデータベースを開けません: {0}")]
    Database(#[from] sqlx::Error),
    /// マイグレーションに失敗した。
    #[error("ユーザー索引のマイグレーションに失敗しました: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// 購読ランナーを開けない。
    #[error("ユーザー索引の購読者を開けません: {0}")]
    Consumer(#[from] ConsumerError),
    /// OpenAPI 文書を組み立てられない。
    #[error("OpenAPI 文書を組み立てられません: {0}")]
    Document(String),
    /// サーバーのエラー。
    #[error(transparent)]
    Server(#[from] ServerError),
    /// 購読タスクが異常終了した。
    #[error("購読タスクが異常終了しました: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// ゲートウェイの設定。
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// 待ち受けアドレス (テストでは `127.0.0.1:0`)。
    pub listen: String,
    /// 外から見たゲートウェイの URL。`redirect_uri` は `{public_url}/auth/{provider}/callback`。
    pub public_url: String,
    /// フロントエンドの URL (ログイン後のリダイレクト先、CORS で許可するオリジン)。
    pub frontend_url: String,
    /// CORS で追加で許可するオリジン。
    pub extra_origins: Vec<String>,
    /// イベントストアの URL。
    pub eventstore_url: String,
    /// media-command の URL。
    pub media_command_url: String,
    /// media-query の URL。
    pub media_query_url: String,
    /// album の URL。
    pub album_url: String,
    /// notification の URL。
    pub notification_url: String,
    /// saga の URL。
    pub saga_url: String,
    /// JWT の鍵。
    pub keys: JwtKeys,
    /// GitHub (無ければ無効)。
    pub github: Option<OAuthProvider>,
    /// Google (無ければ無効)。
    pub google: Option<OAuthProvider>,
    /// 開発用ログインを有効にするか (既定 `false`)。
    pub dev_login: bool,
    /// アップロードの上限 (バイト)。中継する本体の上限はこれに
    /// [`MULTIPART_OVERHEAD_BYTES`] を足したもの。
    pub max_upload_bytes: u64,
    /// ユーザー索引の SQLite ファイル。
    pub database: PathBuf,
    /// 上流の応答待ち時間 (応答ヘッダーまで。SSE には適用しません)。
    pub upstream_timeout: Duration,
    /// アップロードの応答待ち時間。
    pub upload_timeout: Duration,
    /// グレースフルシャットダウンの猶予。
    pub grace: Duration,
    /// 学習用にサービスを止める・起こす窓口 (`make run` の開発モードだけ。既定 `None`)。
    pub lab_controls: Option<LabControl>,
    /// サービスの地図で UI (frontend) の状態を確かめる URL (既定 `None` = `unknown`)。
    pub frontend_probe_url: Option<String>,
}

impl GatewayConfig {
    /// データベースファイルと JWT の鍵から、ほかは既定値 (各サービスの既定のポート、
    /// OAuth2 なし、開発用ログインなし) で設定を作ります。
    #[must_use]
    pub fn new(database: impl AsRef<Path>, keys: JwtKeys) -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            public_url: DEFAULT_PUBLIC_URL.to_owned(),
            frontend_url: DEFAULT_FRONTEND_URL.to_owned(),
            extra_origins: Vec::new(),
            eventstore_url: "http://127.0.0.1:8084".to_owned(),
            media_command_url: "http://127.0.0.1:8081".to_owned(),
            media_query_url: "http://127.0.0.1:8082".to_owned(),
            album_url: "http://127.0.0.1:8083".to_owned(),
            notification_url: "http://127.0.0.1:8086".to_owned(),
            saga_url: "http://127.0.0.1:8085".to_owned(),
            keys,
            github: None,
            google: None,
            dev_login: false,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            database: database.as_ref().to_path_buf(),
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            upload_timeout: DEFAULT_UPLOAD_TIMEOUT,
            grace: DEFAULT_GRACE,
            lab_controls: None,
            frontend_probe_url: None,
        }
    }

    /// 学習用にサービスを止める・起こす窓口を渡したコピーを返します ([`lab`])。
    #[must_use]
    pub fn lab_controls(mut self, controls: Option<LabControl>) -> Self {
        self.lab_controls = controls;
        self
    }

    /// サービスの地図で UI の状態を確かめる URL を変えたコピーを返します。
    #[must_use]
    pub fn frontend_probe_url(mut self, url: impl Into<String>) -> Self {
        self.frontend_probe_url = Some(url.into());
        self
    }

    /// 待ち受けアドレスを変えたコピーを返します。
    #[must_use]
    pub fn listen(mut self, listen: impl Into<String>) -> Self {
        self.listen = listen.into();
        self
    }

    /// 公開 URL を変えたコピーを返します。
    #[must_use]
    pub fn public_url(mut self, public_url: impl Into<String>) -> Self {
        self.public_url = public_url.into();
        self
    }

    /// フロントエンドの URL を変えたコピーを返します。
    #[must_use]
    pub fn frontend_url(mut self, frontend_url: impl Into<String>) -> Self {
        self.frontend_url = frontend_url.into();
        self
    }

    /// CORS で追加で許可するオリジンを設定したコピーを返します。
    #[must_use]
    pub fn extra_origins(mut self, origins: Vec<String>) -> Self {
        self.extra_origins = origins;
        self
    }

    /// イベントストアの URL を変えたコピーを返します。
    #[must_use]
    pub fn eventstore_url(mut self, url: impl Into<String>) -> Self {
        self.eventstore_url = url.into();
        self
    }

    /// 5 つのドメインサービスの URL をまとめて変えたコピーを返します。
    #[must_use]
    pub fn service_urls(mut self, urls: &UpstreamUrls) -> Self {
        self.media_command_url.clone_from(&urls.media_command);
        self.media_query_url.clone_from(&urls.media_query);
        self.album_url.clone_from(&urls.album);
        self.notification_url.clone_from(&urls.notification);
        self.saga_url.clone_from(&urls.saga);
        self.eventstore_url.clone_from(&urls.eventstore);
        self
    }

    /// GitHub を設定したコピーを返します。
    #[must_use]
    pub fn github(mut self, provider: Option<OAuthProvider>) -> Self {
        self.github = provider;
        self
    }

    /// Google を設定したコピーを返します。
    #[must_use]
    pub fn google(mut self, provider: Option<OAuthProvider>) -> Self {
        self.google = provider;
        self
    }

    /// 開発用ログインの有効・無効を変えたコピーを返します。
    #[must_use]
    pub fn dev_login(mut self, enabled: bool) -> Self {
        self.dev_login = enabled;
        self
    }

    /// アップロードの上限を変えたコピーを返します。
    #[must_use]
    pub fn max_upload_bytes(mut self, bytes: u64) -> Self {
        self.max_upload_bytes = bytes;
        self
    }

    /// 上流の応答待ち時間を変えたコピーを返します。
    #[must_use]
    pub fn upstream_timeout(mut self, timeout: Duration) -> Self {
        self.upstream_timeout = timeout;
        self
    }

    /// アップロードの応答待ち時間を変えたコピーを返します。
    #[must_use]
    pub fn upload_timeout(mut self, timeout: Duration) -> Self {
        self.upload_timeout = timeout;
        self
    }

    /// 現在の上流の URL。
    #[must_use]
    pub fn upstream_urls(&self) -> UpstreamUrls {
        UpstreamUrls {
            media_command: self.media_command_url.clone(),
            media_query: self.media_query_url.clone(),
            album: self.album_url.clone(),
            eventstore: self.eventstore_url.clone(),
            saga: self.saga_url.clone(),
            notification: self.notification_url.clone(),
        }
    }

    /// CORS で許可するオリジン (フロントエンド、追加分、ゲートウェイ自身の公開 URL)。
    ///
    /// # エラー
    /// URL が読めなければ [`GatewayError::InvalidUrl`]。
    pub fn allowed_origins(&self) -> Result<Vec<String>, GatewayError> {
        let mut origins = Vec::new();
        let candidates = [
            ("frontend_url", &self.frontend_url),
            ("public_url", &self.public_url),
        ]
        .into_iter()
        .chain(self.extra_origins.iter().map(|o| ("extra_origins", o)));
        for (field, value) in candidates {
            let origin = origin_of(field, value)?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(origins)
    }

    fn check_urls(&self) -> Result<(), GatewayError> {
        for (field, value) in [
            ("eventstore_url", &self.eventstore_url),
            ("media_command_url", &self.media_command_url),
            ("media_query_url", &self.media_query_url),
            ("album_url", &self.album_url),
            ("notification_url", &self.notification_url),
            ("saga_url", &self.saga_url),
        ] {
            origin_of(field, value)?;
        }
        Ok(())
    }
}

fn origin_of(field: &'static str, value: &str) -> Result<String, GatewayError> {
    let invalid = || GatewayError::InvalidUrl {
        field,
        value: value.to_owned(),
    };
    let url = Url::parse(value).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid());
    }
    Ok(url.origin().ascii_serialization())
}

/// 動いているゲートウェイの取っ手。
#[derive(Debug)]
pub struct GatewayHandle {
    server: ServerHandle,
    readiness: Readiness,
    consumer_task: JoinHandle<()>,
    pool: SqlitePool,
}

impl GatewayHandle {
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

    /// 停止の合図 (バイナリがシグナルで停止を始めるのに使います)。
    #[must_use]
    pub fn shutdown(&self) -> &Shutdown {
        self.server.shutdown()
    }

    /// 停止します: 新しい要求の受け付けをやめ、処理中の要求を終え (流れている中継は停止で切れます)、
    /// ユーザー索引の購読を止めてデータベースを閉じます。
    ///
    /// # エラー
    /// サーバーや購読タスクが異常終了していれば [`GatewayError`]。
    pub async fn stop(self) -> Result<(), GatewayError> {
        self.server.shutdown().trigger();
        self.wait().await
    }

    /// 停止の合図が (どこかで) 出るまで待ち、[`GatewayHandle::stop`] と同じ後始末をします。
    ///
    /// # エラー
    /// サーバーや購読タスクが異常終了していれば [`GatewayError`]。
    pub async fn wait(self) -> Result<(), GatewayError> {
        let Self {
            server,
            readiness,
            consumer_task,
            pool,
        } = self;
        server.shutdown().wait().await;
        readiness.set_ready(false);
        let served = server.wait().await;
        consumer_task.await?;
        pool.close().await;
        tracing::info!("ゲートウェイを停止しました");
        served?;
        Ok(())
    }
}

async fn open_users_database(path: &Path) -> Result<SqlitePool, GatewayError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| GatewayError::Database(sqlx::Error::Io(e)))?;
    }
    let pool = consumer::open_database(path).await?;
    sqlx::migrate!("./migrations/gateway").run(&pool).await?;
    Ok(pool)
}

/// ゲートウェイを起動します (ユーザー索引を開き、購読を始め、HTTP サーバーを起動します)。
///
/// # エラー
/// 設定が不正、データベースが開けない、アドレスを束縛できないなら [`GatewayError`]。
pub async fn start(config: GatewayConfig) -> Result<GatewayHandle, GatewayError> {
    let listener = server::bind(&config.listen).await?;
    start_on(listener, config).await
}

/// 束縛済みのリスナーでゲートウェイを起動します (`config.listen` は使いません)。
///
/// 自分の公開 URL (OAuth2 の `redirect_uri`) を起動前に決めたいとき (ポート 0 で起動する
/// 全部入りの起動やテスト) に使います。
///
/// # エラー
/// [`start`] と同じ (束縛のエラーを除く)。
pub async fn start_on(
    listener: tokio::net::TcpListener,
    config: GatewayConfig,
) -> Result<GatewayHandle, GatewayError> {
    // config → state
    config.check_urls()?;
    let origins = config.allowed_origins()?;
    let configured: Vec<(ProviderKind, &OAuthProvider)> = [
        (ProviderKind::GitHub, config.github.as_ref()),
        (ProviderKind::Google, config.google.as_ref()),
    ]
    .into_iter()
    .filter_map(|(kind, p)| {
        p.filter(|p| !p.client_id.trim().is_empty() && !p.client_secret.trim().is_empty())
            .map(|p| (kind, p))
    })
    .collect();
    let oauth = OAuthClients::new(&config.public_url, &configured, config.upstream_timeout)?;
    let client = EventStoreClient::new(
        &config.eventstore_url,
        ServiceTokenProvider::new(config.keys.clone(), proxy::GATEWAY_SERVICE_NAME),
    )?;
    let pool = open_users_database(&config.database).await?;
    let consumer = Consumer::open(
        CONSUMER_NAME,
        pool.clone(),
        client.clone(),
        UserProjection,
        ConsumerConfig::default(),
    )
    .await?;
    let shutdown = Shutdown::new();
    let consumer_task = consumer.spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.wait().await }
    });
    let state = Arc::new(GatewayState {
        oauth,
        pending: PendingLogins::new(MAX_PENDING_LOGINS, Duration::from_secs(api::LOGIN_TTL_SECS)),
        users: Users::new(client, pool.clone(), consumer.subscribe()),
        keys: config.keys.clone(),
        frontend_url: config.frontend_url.clone(),
        dev_login: config.dev_login,
        secure_cookie: config.public_url.starts_with("https://"),
    });
    let proxy = Proxy::new(ProxySettings {
        keys: config.keys.clone(),
        upstreams: config.upstream_urls(),
        max_request_bytes: config
            .max_upload_bytes
            .saturating_add(MULTIPART_OVERHEAD_BYTES),
        upstream_timeout: config.upstream_timeout,
        upload_timeout: config.upload_timeout,
        shutdown: shutdown.clone(),
    })?;
    // routes
    let readiness = Readiness::new();
    let lab = Arc::new(LabState {
        upstreams: config.upstream_urls(),
        frontend_url: config.frontend_probe_url.clone(),
        keys: config.keys.clone(),
        controls: config.lab_controls.clone(),
        rebuild_enabled: config.dev_login,
        http: crate::platform::http_client::builder().build()?,
    });
    let inner = server::build_app(
        (GatewayApi::new(state), LabApi::new(lab)),
        &SERVICE_INFO,
        readiness.clone(),
        config.keys.clone(),
        OWN_BODY_LIMIT,
    );
    let app = app::build(inner, proxy, &origins)
        .await
        .map_err(GatewayError::Document)?;
    // run
    let server = server::spawn_server(listener, app, SERVICE_INFO.name, shutdown, config.grace)?;
    readiness.set_ready(true);
    tracing::info!(
        addr = %server.local_addr(),
        providers = ?configured.iter().map(|(k, _)| k.name()).collect::<Vec<_>>(),
        dev_login = config.dev_login,
        "ゲートウェイの準備ができました"
    );
    Ok(GatewayHandle {
        server,
        readiness,
        consumer_task,
        pool,
    })
}
