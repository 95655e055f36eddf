//! media-query の起動 ([`start`])。

use std::sync::Arc;

use super::api::MediaQueryApi;
use super::config::{MediaQueryArgs, MediaQueryConfig};
use super::db;
use super::error::StartError;
use super::internal::InternalApi;
use super::projection::{CONSUMER_NAME, MediaProjection};
use super::state::QueryState;
use crate::consumer::{Consumer, ready_after_catch_up};
use crate::platform::server::{self, DEFAULT_BODY_LIMIT, ServiceInfo};
use crate::platform::service::{ArgsError, Launch, ServiceHandle, ServiceMain, join_all};
use crate::store_client::{EventStoreClient, ServiceTokenProvider};

/// サービスの情報 (OpenAPI 文書に載ります)。
pub const SERVICE_INFO: ServiceInfo = ServiceInfo {
    name: "media-query",
    title: "MediaHub Media Query",
    description: "メディアの読み取り側 (CQRS の Q)。イベントストアの Media イベントから作った\
                  読みモデルで、一覧・詳細・ファイル名検索・履歴 (タイムトラベル) を返します。\
                  自分のメディアだけが見えます。min_position で read-your-writes を待てます。",
};

/// このサービスの OpenAPI 文書。状態を作らずに API の型から組み立てます
/// (`/openapi.json` が返すものと同じ。ゲートウェイが公開の契約をまとめるのに使います)。
#[must_use]
pub fn openapi_spec() -> serde_json::Value {
    server::openapi_spec::<(MediaQueryApi, InternalApi)>(&SERVICE_INFO)
}

/// 動いている media-query の取っ手。
pub type MediaQueryHandle = ServiceHandle<Arc<QueryState>>;

/// media-query を起動します: 読みモデルを開き (マイグレーション)、購読ランナーを動かし、
/// HTTP サーバーを起動します。`/ready` は、起動した時点のログの先頭まで射影が追いついてから 200 です。
///
/// # エラー
/// URL が不正、読みモデルが開けない、アドレスを束縛できないなら [`StartError`]。
pub async fn start(config: MediaQueryConfig) -> Result<MediaQueryHandle, StartError> {
    let client = EventStoreClient::new(
        &config.eventstore_url,
        ServiceTokenProvider::new(config.keys.clone(), SERVICE_INFO.name),
    )?;
    let launch = Launch::bind(&SERVICE_INFO, &config.listen, config.grace)
        .await?
        .ready_later();
    let pool = db::open(&config.database).await?;
    let consumer = Consumer::open(
        CONSUMER_NAME,
        pool.clone(),
        client.clone(),
        MediaProjection,
        config.consumer,
    )
    .await?;
    let state = Arc::new(QueryState {
        pool,
        consumer,
        client,
        read_wait: config.read_wait,
    });
    let app = server::build_app(
        (
            MediaQueryApi::new(Arc::clone(&state)),
            InternalApi::new(state.consumer.clone()),
        ),
        &SERVICE_INFO,
        launch.readiness().clone(),
        config.keys.clone(),
        DEFAULT_BODY_LIMIT,
    );
    let shutdown = launch.shutdown();
    let tasks = vec![
        state.consumer.spawn(shutdown.signalled()),
        tokio::spawn(ready_after_catch_up(
            state.client.clone(),
            state.consumer.subscribe(),
            launch.readiness().clone(),
            shutdown.clone(),
            config.consumer,
        )),
    ];
    tracing::info!(
        database = %config.database.display(),
        eventstore = config.eventstore_url.as_str(),
        position = state.consumer.position(),
        "media-query を起動しました"
    );
    let pool = state.pool.clone();
    Ok(launch.serve(app, state, async move {
        join_all(tasks).await?;
        pool.close().await;
        Ok(())
    })?)
}

impl ServiceMain for MediaQueryArgs {
    const SERVICE: &'static str = "media-query";
    type Config = MediaQueryConfig;
    type State = Arc<QueryState>;
    type Error = StartError;

    fn config(self) -> Result<MediaQueryConfig, ArgsError> {
        self.into_config()
    }

    async fn start(config: MediaQueryConfig) -> Result<MediaQueryHandle, StartError> {
        start(config).await
    }
}
