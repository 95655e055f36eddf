//! album サービスの起動 ([`start`])。

use std::sync::Arc;

use sqlx::SqlitePool;
use tokio::sync::watch;

use super::api::AlbumApi;
use super::config::{AlbumArgs, AlbumConfig};
use super::db;
use super::error::StartError;
use super::internal::InternalApi;
use super::projection::{AlbumProjection, CONSUMER_NAME};
use super::reactor::RemovalReactor;
use super::state::{AlbumCommands, AlbumState};
use crate::consumer::{Consumer, ProjectionApi};
use crate::platform::server::{self, DEFAULT_BODY_LIMIT, ServiceInfo};
use crate::platform::service::{
    ArgsError, Checkpointed, Launch, ServiceHandle, ServiceMain, join_all,
};
use crate::store_client::{EventStoreClient, RemoteEventRepository, ServiceTokenProvider};

/// サービスの情報 (OpenAPI 文書に載ります)。
pub const SERVICE_INFO: ServiceInfo = ServiceInfo {
    name: "album",
    title: "MediaHub Album",
    description: "アルバムの作成・一覧・改名・削除と、メディアの追加・除去。\
                  すべてのアルバムは利用者ごとに分かれ、他人のものは 404 になります。\
                  アップロードしたメディアは Saga が内部 API でデフォルトアルバムに加えます。",
};

/// このサービスの OpenAPI 文書。状態を作らずに API の型から組み立てます
/// (`/openapi.json` が返すものと同じ。ゲートウェイが公開の契約をまとめるのに使います)。
#[must_use]
pub fn openapi_spec() -> serde_json::Value {
    server::openapi_spec::<(AlbumApi, InternalApi, ProjectionApi<AlbumProjection>)>(&SERVICE_INFO)
}

/// 取っ手から見える album の読み側: 射影の購読ランナーと読みモデル。
#[derive(Debug)]
pub struct AlbumReadSide {
    /// 射影の購読ランナー。
    pub consumer: Consumer<AlbumProjection>,
    /// 読みモデル。
    pub pool: SqlitePool,
}

impl Checkpointed for AlbumReadSide {
    fn checkpoint(&self) -> watch::Receiver<u64> {
        self.consumer.subscribe()
    }
}

/// 動いている album サービスの取っ手。
pub type AlbumHandle = ServiceHandle<AlbumReadSide>;

/// album サービスを起動します: 読みモデルを開き (マイグレーション)、購読ランナーと
/// リアクターを動かし、HTTP サーバーを起動します。
///
/// # エラー
/// URL が不正、読みモデルが開けない、アドレスを束縛できないなら [`StartError`]。
pub async fn start(config: AlbumConfig) -> Result<AlbumHandle, StartError> {
    let client = EventStoreClient::new(
        &config.eventstore_url,
        ServiceTokenProvider::new(config.keys.clone(), SERVICE_INFO.name),
    )?;
    let launch = Launch::bind(&SERVICE_INFO, &config.listen, config.grace).await?;
    let pool = db::open(&config.database).await?;
    let consumer = Consumer::open(
        CONSUMER_NAME,
        pool.clone(),
        client.clone(),
        AlbumProjection,
        config.consumer,
    )
    .await?;
    let commands = Arc::new(AlbumCommands::new(RemoteEventRepository::new(client), ()));
    let state = Arc::new(AlbumState {
        pool: pool.clone(),
        commands: Arc::clone(&commands),
        consumer: consumer.clone(),
        positions: consumer.waiter(),
        read_wait: config.read_wait,
    });
    let app = server::build_app(
        (
            AlbumApi::new(Arc::clone(&state)),
            InternalApi::new(Arc::clone(&state)),
            ProjectionApi::new(consumer.clone()),
        ),
        &SERVICE_INFO,
        launch.readiness().clone(),
        config.keys.clone(),
        DEFAULT_BODY_LIMIT,
    );
    let shutdown = launch.shutdown().clone();
    let tasks = vec![
        consumer.spawn(shutdown.signalled()),
        tokio::spawn(
            RemovalReactor::new(pool.clone(), commands).run(consumer.subscribe(), shutdown),
        ),
    ];
    tracing::info!(
        database = %config.database.display(),
        position = consumer.position(),
        "album の準備ができました"
    );
    let read_side = AlbumReadSide {
        consumer,
        pool: pool.clone(),
    };
    Ok(launch.serve(app, read_side, async move {
        join_all(tasks).await?;
        pool.close().await;
        Ok(())
    })?)
}

impl ServiceMain for AlbumArgs {
    const SERVICE: &'static str = "album";
    type Config = AlbumConfig;
    type State = AlbumReadSide;
    type Error = StartError;

    fn config(self) -> Result<AlbumConfig, ArgsError> {
        self.into_config()
    }

    async fn start(config: AlbumConfig) -> Result<AlbumHandle, StartError> {
        start(config).await
    }
}
