//! ゲートウェイの起動 ([`start`]・[`start_on`])。

use std::sync::Arc;
use std::time::Duration;

use super::api::{self, GatewayApi};
use super::app;
use super::config::{GatewayArgs, GatewayConfig, MULTIPART_OVERHEAD_BYTES};
use super::db;
use super::error::StartError;
use super::lab::{LabApi, LabState};
use super::oauth::{OAuthClients, OAuthProvider, ProviderKind};
use super::pending::PendingLogins;
use super::proxy::{self, Proxy, ProxySettings};
use super::state::GatewayState;
use super::users::{UserProjection, Users};
use crate::consumer::{Consumer, ConsumerConfig};
use crate::platform::server::{self, ServiceInfo};
use crate::platform::service::{ArgsError, Launch, ServiceHandle, ServiceMain};
use crate::store_client::{EventStoreClient, ServiceTokenProvider};

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

/// 動いているゲートウェイの取っ手。
pub type GatewayHandle = ServiceHandle;

/// ゲートウェイを起動します (ユーザー索引を開き、購読を始め、HTTP サーバーを起動します)。
///
/// # エラー
/// 設定が不正、データベースが開けない、アドレスを束縛できないなら [`StartError`]。
pub async fn start(config: GatewayConfig) -> Result<GatewayHandle, StartError> {
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
) -> Result<GatewayHandle, StartError> {
    let launch = Launch::on(&SERVICE_INFO, listener, config.grace);
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
    let pool = db::open(&config.database).await?;
    let consumer = Consumer::open(
        CONSUMER_NAME,
        pool.clone(),
        client.clone(),
        UserProjection,
        ConsumerConfig::default(),
    )
    .await?;
    let shutdown = launch.shutdown().clone();
    let consumer_task = consumer.spawn(shutdown.signalled());
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
        launch.readiness().clone(),
        config.keys.clone(),
        OWN_BODY_LIMIT,
    );
    let app = app::build(inner, proxy, &origins)
        .await
        .map_err(StartError::Document)?;
    tracing::info!(
        providers = ?configured.iter().map(|(k, _)| k.name()).collect::<Vec<_>>(),
        dev_login = config.dev_login,
        "ゲートウェイの準備ができました"
    );
    Ok(launch.serve(app, (), async move {
        consumer_task.await?;
        pool.close().await;
        Ok(())
    })?)
}

impl ServiceMain for GatewayArgs {
    const SERVICE: &'static str = "gateway";
    type Config = GatewayConfig;
    type State = ();
    type Error = StartError;

    fn config(self) -> Result<GatewayConfig, ArgsError> {
        self.into_config()
    }

    fn notice(config: &GatewayConfig) -> Option<String> {
        config.dev_login.then(|| {
            "gateway: *** 開発用ログインが有効です (POST /auth/dev-token で誰でもトークンを得られます)。\
             手元の開発以外では DEV_LOGIN を有効にしないでください ***"
                .to_owned()
        })
    }

    async fn start(config: GatewayConfig) -> Result<GatewayHandle, StartError> {
        start(config).await
    }
}
