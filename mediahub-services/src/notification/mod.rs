//! 通知サービス (ポート 8086、DESIGN §2)。
//!
//! イベント駆動の通知です。Saga の最後のステップが内部 API で通知を送り、利用者は公開 API で
//! 自分の通知を読み、既読にし、Server-Sent Events で新しい通知をすぐに受け取ります。
//!
//! - **コマンド側**: [`NotificationCommands`] (共通の [`AggregateCommands`]) がコマンドを
//!   実行します。イベント (`NotificationSent` / `NotificationRead`) は中央のイベントストアに
//!   書かれ、応答はその位置 (`position`) を返します。通知 ID は Saga から決まるので、再送しても
//!   一通だけです (冪等)。
//! - **読み側**: 購読ランナー ([`crate::consumer::Consumer`]) が `Notification` のイベントを
//!   自分の SQLite の `notifications` 表 ([`projection`]) に反映します。クエリは `min_position`
//!   まで待てます (read-your-writes)。
//! - **ライブ配信**: プロジェクションがコミットするとチェックポイントの `watch` が進み、
//!   SSE の接続ごとにそのユーザーの新しい通知を読みモデルから読んで流します ([`stream`])。
//!
//! 形は全サービス共通の **config → state → routes → run** です:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::notification::{NotificationConfig, start};
//! use mediahub_services::platform::auth::JwtKeys;
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = NotificationConfig::new("http://127.0.0.1:8084", "./data/notification.db", keys)
//!     .listen("127.0.0.1:0");
//! let service = start(config).await?;
//! println!("{} (読みモデルの位置 {})", service.base_url(), service.position());
//! service.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod db;
pub mod error;
pub mod internal;
pub mod projection;
pub mod state;
pub mod stream;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use self::api::NotificationApi;
pub use self::error::{ApiError, codes};
pub use self::internal::InternalApi;
pub use self::projection::NotificationProjection;
pub use self::state::NotificationState;
pub use self::view::{ApiNotificationKind, NotificationView};

use crate::consumer::{Consumer, ConsumerError, open_database};
use crate::platform::read_side::{ReadSideConfig, ReadSideService};
use crate::platform::server::{
    self, DEFAULT_BODY_LIMIT, Readiness, ServerError, ServerHandle, ServiceInfo, Shutdown,
};
use crate::store_client::{
    AggregateCommands, EventStoreClient, RemoteEventRepository, ServiceTokenProvider,
    StoreClientError,
};

/// 通知集約へのコマンドの窓口。
pub type NotificationCommands = AggregateCommands<mediahub_core::notification::Notification>;

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8086";
/// 既定のデータベースファイル。
pub const DEFAULT_DATABASE: &str = "./data/notification.db";
/// 既定のイベントストアの URL。
pub const DEFAULT_EVENTSTORE_URL: &str = "http://127.0.0.1:8084";
/// `min_position` を待つ既定の最長時間。
pub use crate::platform::read_side::DEFAULT_READ_WAIT;
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
    server::openapi_spec::<(NotificationApi, InternalApi)>(&SERVICE_INFO)
}

/// 通知サービスの起動・停止のエラー。
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// イベントストアのクライアントを作れない (URL が不正など)。
    #[error("イベントストアのクライアントを作れません: {0}")]
    Store(#[from] StoreClientError),
    /// データベースのディレクトリを作れない。
    #[error("データベースのディレクトリを作れません: {0}")]
    Io(#[from] std::io::Error),
    /// 読みモデルのデータベースを開けない。
    #[error("読みモデルのデータベースを開けません: {0}")]
    Database(#[from] sqlx::Error),
    /// 読みモデルのマイグレーションに失敗した。
    #[error("読みモデルのマイグレーションに失敗しました: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// 購読ランナーを開けない。
    #[error("購読ランナーを開けません: {0}")]
    Consumer(#[from] ConsumerError),
    /// サーバーのエラー。
    #[error(transparent)]
    Server(#[from] ServerError),
    /// 購読ランナーのタスクが異常終了した。
    #[error("購読ランナーのタスクが異常終了しました: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// 通知サービスの印 (既定の待ち受けアドレス [`DEFAULT_LISTEN`])。
pub enum NotificationService {}

impl ReadSideService for NotificationService {
    const DEFAULT_LISTEN: &'static str = DEFAULT_LISTEN;
}

/// 通知サービスの設定 (形は読み側のサービスで共通の [`ReadSideConfig`])。
pub type NotificationConfig = ReadSideConfig<NotificationService>;

/// 動いている通知サービスの取っ手。
#[derive(Debug)]
pub struct NotificationHandle {
    server: ServerHandle,
    state: Arc<NotificationState>,
    readiness: Readiness,
    consumer_task: JoinHandle<()>,
}

impl NotificationHandle {
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

    /// 読みモデルの現在のチェックポイント (反映済みのグローバル位置)。
    #[must_use]
    pub fn position(&self) -> u64 {
        self.state.consumer().position()
    }

    /// 読みモデルのチェックポイントの変化を受け取る `watch`。
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.state.positions()
    }

    /// 共有の状態 (同じプロセスの中から直接使うときに)。
    #[must_use]
    pub fn state(&self) -> &Arc<NotificationState> {
        &self.state
    }

    /// 停止します: 新しいリクエストの受け付けをやめ、処理中のリクエストと SSE を終え、
    /// 購読ランナーを止めてから、データベースを閉じます。
    ///
    /// # エラー
    /// サーバーや購読ランナーが異常終了していれば [`NotificationError`]。
    pub async fn stop(self) -> Result<(), NotificationError> {
        self.server.shutdown().trigger();
        self.wait().await
    }

    /// 停止の合図が (どこかで) 出るまで待ち、[`NotificationHandle::stop`] と同じ後始末をします。
    ///
    /// # エラー
    /// サーバーや購読ランナーが異常終了していれば [`NotificationError`]。
    pub async fn wait(self) -> Result<(), NotificationError> {
        let Self {
            server,
            state,
            readiness,
            consumer_task,
        } = self;
        server.shutdown().wait().await;
        readiness.set_ready(false);
        let served = server.wait().await;
        let consumed = consumer_task.await;
        state.pool().close().await;
        tracing::info!("通知サービスを停止しました");
        served?;
        consumed?;
        Ok(())
    }
}

/// 通知サービスを起動します (読みモデルを開き、購読ランナーと HTTP サーバーを起動します)。
///
/// # エラー
/// イベントストアの URL が不正、データベースを開けない、アドレスを束縛できないなら
/// [`NotificationError`]。
pub async fn start(config: NotificationConfig) -> Result<NotificationHandle, NotificationError> {
    // config → state
    let client = EventStoreClient::new(
        &config.eventstore_url,
        ServiceTokenProvider::new(config.keys.clone(), SERVICE_NAME),
    )?;
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
    let shutdown = Shutdown::new();
    let state = Arc::new(NotificationState::new(
        pool,
        consumer.clone(),
        NotificationCommands::new(RemoteEventRepository::new(client), ()),
        config.read_wait,
        shutdown.clone(),
    ));
    // routes
    let readiness = Readiness::new();
    let app = server::build_app(
        (
            NotificationApi::new(Arc::clone(&state)),
            InternalApi::new(Arc::clone(&state)),
        ),
        &SERVICE_INFO,
        readiness.clone(),
        config.keys.clone(),
        DEFAULT_BODY_LIMIT,
    );
    // run
    let spawned = server::bind(&config.listen).await.and_then(|listener| {
        server::spawn_server(
            listener,
            app,
            SERVICE_INFO.name,
            shutdown.clone(),
            config.grace,
        )
    });
    let server = match spawned {
        Ok(server) => server,
        Err(err) => {
            state.pool().close().await;
            return Err(err.into());
        }
    };
    let consumer_task = consumer.spawn(async move { shutdown.wait().await });
    readiness.set_ready(true);
    tracing::info!(
        database = %config.database.display(),
        eventstore = %config.eventstore_url,
        position = consumer.position(),
        addr = %server.local_addr(),
        "通知サービスの準備ができました"
    );
    Ok(NotificationHandle {
        server,
        state,
        readiness,
        consumer_task,
    })
}
