//! アルバムサービス (ポート 8083)。
//!
//! - **書き込み側**: アルバム集約 ([`mediahub_core::album`]) へのコマンドを、中央のイベントストアの
//!   上の [`AlbumCommands`] (共通の [`AggregateCommands`]) で実行します。応答の `position` は
//!   最後に書いたイベントのグローバル位置です (read-your-writes)。
//! - **読み取り側**: 購読ランナー ([`crate::consumer::Consumer`]) が Album と Media のイベントを
//!   自分の SQLite に反映します ([`projection`])。メディアの所有者もこの射影で知るので、
//!   media-command を同期的に呼ぶことはありません。
//! - **リアクター**: `MediaDeleted` / `MediaInvalidated` を見た射影が記録した予定を、コミットの後に
//!   [`reactor`] が `RemoveMedia { reason: MediaDeleted }` として実行します。
//! - **内部 API**: Saga のアルバム追加ステップ (デフォルトアルバムを必要なら作って追加) と
//!   読みモデルの作り直し ([`internal`])。
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::album::{AlbumConfig, start};
//! use mediahub_services::platform::auth::JwtKeys;
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = AlbumConfig::new("http://127.0.0.1:8084", "./data/album.db", keys)
//!     .listen("127.0.0.1:0");
//! let service = start(config).await?;
//! println!("{} (射影の位置 {})", service.base_url(), service.position());
//! service.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod db;
pub mod error;
pub mod internal;
pub mod model;
pub mod projection;
pub mod reactor;

use std::net::SocketAddr;
use std::sync::Arc;

use sqlx::SqlitePool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use self::api::{AlbumApi, AlbumState};
pub use self::db::DbError;
pub use self::error::codes;
pub use self::internal::InternalApi;
pub use self::projection::{AlbumProjection, CONSUMER_NAME};
pub use self::reactor::RemovalReactor;

use crate::consumer::{Consumer, ConsumerError};
use crate::platform::read_side::{ReadSideConfig, ReadSideService};
use crate::platform::server::{
    self, DEFAULT_BODY_LIMIT, Readiness, ServerError, ServerHandle, ServiceInfo, Shutdown,
};
use crate::store_client::{
    AggregateCommands, EventStoreClient, RemoteEventRepository, ServiceTokenProvider,
    StoreClientError,
};

/// アルバム集約へのコマンドの窓口。
pub type AlbumCommands = AggregateCommands<mediahub_core::album::Album>;

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8083";
/// 既定の読みモデルのファイル。
pub const DEFAULT_DATABASE: &str = "./data/album.db";
/// 既定のイベントストアの URL。
pub const DEFAULT_EVENTSTORE_URL: &str = "http://127.0.0.1:8084";
/// `min_position` を待つ既定の最長時間。
pub use crate::platform::read_side::DEFAULT_READ_WAIT;

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
    server::openapi_spec::<(AlbumApi, InternalApi)>(&SERVICE_INFO)
}

/// album サービスの起動・停止のエラー。
#[derive(Debug, thiserror::Error)]
pub enum AlbumError {
    /// イベントストアのクライアントを作れなかった (URL が不正など)。
    #[error("イベントストアのクライアントを作れません: {0}")]
    Client(#[from] StoreClientError),
    /// 読みモデルを開けなかった。
    #[error(transparent)]
    Database(#[from] DbError),
    /// 購読ランナーを開けなかった。
    #[error("購読ランナーを開けません: {0}")]
    Consumer(#[from] ConsumerError),
    /// サーバーのエラー。
    #[error(transparent)]
    Server(#[from] ServerError),
    /// バックグラウンドのタスクが異常終了した。
    #[error("バックグラウンドのタスクが異常終了しました: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// album サービスの印 (既定の待ち受けアドレス [`DEFAULT_LISTEN`])。
pub enum AlbumService {}

impl ReadSideService for AlbumService {
    const DEFAULT_LISTEN: &'static str = DEFAULT_LISTEN;
}

/// album サービスの設定 (形は読み側のサービスで共通の [`ReadSideConfig`])。
pub type AlbumConfig = ReadSideConfig<AlbumService>;

/// 動いている album サービスの取っ手。
#[derive(Debug)]
pub struct AlbumHandle {
    server: ServerHandle,
    readiness: Readiness,
    consumer: Consumer<AlbumProjection>,
    pool: SqlitePool,
    consumer_task: JoinHandle<()>,
    reactor_task: JoinHandle<()>,
}

impl AlbumHandle {
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

    /// 射影のチェックポイント (反映済みのグローバル位置)。
    #[must_use]
    pub fn position(&self) -> u64 {
        self.consumer.position()
    }

    /// チェックポイントの変化を受け取る `watch`。
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.consumer.subscribe()
    }

    /// 停止します: 新しいリクエストの受け付けをやめ、処理中のリクエストを終え、
    /// 購読ランナーとリアクターを止めてから読みモデルを閉じます。
    ///
    /// # エラー
    /// サーバーやタスクが異常終了していれば [`AlbumError`]。
    pub async fn stop(self) -> Result<(), AlbumError> {
        self.server.shutdown().trigger();
        self.wait().await
    }

    /// 停止の合図が (どこかで) 出るまで待ち、[`AlbumHandle::stop`] と同じ後始末をします。
    ///
    /// # エラー
    /// サーバーやタスクが異常終了していれば [`AlbumError`]。
    pub async fn wait(self) -> Result<(), AlbumError> {
        let Self {
            server,
            readiness,
            consumer,
            pool,
            consumer_task,
            reactor_task,
        } = self;
        server.shutdown().wait().await;
        readiness.set_ready(false);
        let served = server.wait().await;
        consumer_task.await?;
        reactor_task.await?;
        drop(consumer);
        pool.close().await;
        tracing::info!("album を停止しました");
        served?;
        Ok(())
    }
}

/// album サービスを起動します: 読みモデルを開き (マイグレーション)、購読ランナーと
/// リアクターを動かし、HTTP サーバーを起動します。
///
/// # エラー
/// URL が不正、読みモデルが開けない、アドレスを束縛できないなら [`AlbumError`]。
pub async fn start(config: AlbumConfig) -> Result<AlbumHandle, AlbumError> {
    // config → state
    let client = EventStoreClient::new(
        &config.eventstore_url,
        ServiceTokenProvider::new(config.keys.clone(), SERVICE_INFO.name),
    )?;
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
    // routes
    let readiness = Readiness::new();
    let app = server::build_app(
        (
            AlbumApi::new(Arc::clone(&state)),
            InternalApi::new(Arc::clone(&state)),
        ),
        &SERVICE_INFO,
        readiness.clone(),
        config.keys.clone(),
        DEFAULT_BODY_LIMIT,
    );
    // run
    let listener = match server::bind(&config.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            pool.close().await;
            return Err(err.into());
        }
    };
    let shutdown = Shutdown::new();
    let consumer_task = consumer.spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.wait().await }
    });
    let reactor_task = tokio::spawn(
        RemovalReactor::new(pool.clone(), commands).run(consumer.subscribe(), shutdown.clone()),
    );
    let server = match server::spawn_server(
        listener,
        app,
        SERVICE_INFO.name,
        shutdown.clone(),
        config.grace,
    ) {
        Ok(server) => server,
        Err(err) => {
            shutdown.trigger();
            return Err(err.into());
        }
    };
    readiness.set_ready(true);
    tracing::info!(
        database = %config.database.display(),
        position = consumer.position(),
        addr = %server.local_addr(),
        "album の準備ができました"
    );
    Ok(AlbumHandle {
        server,
        readiness,
        consumer,
        pool,
        consumer_task,
        reactor_task,
    })
}
