//! 通知サービスの起動 ([`start`])。

use std::sync::Arc;

use super::api::NotificationApi;
use super::config::{NotificationArgs, NotificationConfig};
use super::db;
use super::error::StartError;
use super::internal::InternalApi;
use super::projection::NotificationProjection;
use super::state::{NotificationCommands, NotificationState};
use crate::consumer::{Consumer, ProjectionApi, open_database};
use crate::platform::server::{self, DEFAULT_BODY_LIMIT, ServiceInfo};
use crate::platform::service::{ArgsError, Launch, ServiceHandle, ServiceMain, join_all};
use crate::store_client::{EventStoreClient, RemoteEventRepository, ServiceTokenProvider};

/// イベントストアへのサービストークンの名前 (`sub = "service:notification"`)。
pub const SERVICE_NAME: &str = "notification";

/// サービスの情報 (OpenAPI 文書に載ります)。
pub const SERVICE_INFO: ServiceInfo = ServiceInfo {
    name: "notification",
    title: "MediaHub Notification",
    description: "イベント駆動の通知サービス。/api/v1 は利用者が自分の通知を読み・既読にし・\
                  Server-Sent Events で受け取る公開 API (ユーザー用トークン)、/internal/v1 は \
                  Saga が通知を送り、読みモデルを作り直す内部 API (サービス用トークン) です。",
};

/// このサービスの OpenAPI 文書。状態を作らずに API の型から組み立てます
/// (`/openapi.json` が返すものと同じ。ゲートウェイが公開の契約をまとめるのに使います)。
#[must_use]
pub fn openapi_spec() -> serde_json::Value {
    server::openapi_spec::<(
        NotificationApi,
        InternalApi,
        ProjectionApi<NotificationProjection>,
    )>(&SERVICE_INFO)
}

/// 動いている通知サービスの取っ手。
pub type NotificationHandle = ServiceHandle<Arc<NotificationState>>;

/// 通知サービスを起動します: 読みモデルを開き (マイグレーション)、購読ランナーを動かし、
/// HTTP サーバーを起動します。
///
/// # エラー
/// URL が不正、読みモデルが開けない、アドレスを束縛できないなら [`StartError`]。
pub async fn start(config: NotificationConfig) -> Result<NotificationHandle, StartError> {
    let client = EventStoreClient::new(
        &config.eventstore_url,
        ServiceTokenProvider::new(config.keys.clone(), SERVICE_NAME),
    )?;
    let launch = Launch::bind(&SERVICE_INFO, &config.listen, config.grace).await?;
    if let Some(dir) = config
        .database
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        tokio::fs::create_dir_all(dir).await?;
    }
    let pool = open_database(&config.database).await?;
    db::migrate(&pool).await?;
    let consumer = Consumer::open(
        NotificationProjection::NAME,
        pool.clone(),
        client.clone(),
        NotificationProjection,
        config.consumer,
    )
    .await?;
    let shutdown = launch.shutdown();
    let state = Arc::new(NotificationState::new(
        pool.clone(),
        consumer.clone(),
        NotificationCommands::new(RemoteEventRepository::new(client), ()),
        config.read_wait,
        shutdown.clone(),
    ));
    let app = server::build_app(
        (
            NotificationApi::new(Arc::clone(&state)),
            InternalApi::new(Arc::clone(&state)),
            ProjectionApi::new(consumer.clone()),
        ),
        &SERVICE_INFO,
        launch.readiness().clone(),
        config.keys.clone(),
        DEFAULT_BODY_LIMIT,
    );
    let tasks = vec![consumer.spawn(shutdown.signalled())];
    tracing::info!(
        database = %config.database.display(),
        eventstore = %config.eventstore_url,
        position = consumer.position(),
        "通知サービスの準備ができました"
    );
    Ok(launch.serve(app, state, async move {
        join_all(tasks).await?;
        pool.close().await;
        Ok(())
    })?)
}

impl ServiceMain for NotificationArgs {
    const SERVICE: &'static str = "notification";
    type Config = NotificationConfig;
    type State = Arc<NotificationState>;
    type Error = StartError;

    fn config(self) -> Result<NotificationConfig, ArgsError> {
        self.into_config()
    }

    async fn start(config: NotificationConfig) -> Result<NotificationHandle, StartError> {
        start(config).await
    }
}
