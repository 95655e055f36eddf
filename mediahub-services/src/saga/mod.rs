//! saga サービス (ポート 8085、DESIGN §5・§6): メディアアップロード Saga のオーケストレーター。
//!
//! Saga そのもの (状態・判断・再試行の方針) は `mediahub_core::saga` の純粋なコードです。
//! このサービスはそれを動かす殻で、四つの部品からできています。
//!
//! - **リアクター** ([`reactor`]): イベントストアのグローバルログを購読し (1 ページ 1 件)、
//!   Saga に関係するドメインイベントを `React(input)` として Saga 集約に実行します。
//!   チェックポイントはコマンドの **後で** コミットされるので、実行は「少なくとも一回」です。
//!   Saga の判断関数は重複・古い入力を無視するので、再配信されても Saga のイベントは増えません。
//! - **実行役** ([`executor`]): Saga の状態が変わるたびに「実行中の試行」の行動を参加者
//!   (media-command・album・notification) の内部 API に HTTP で送ります ([`participants`])。
//!   失敗は `StepAttemptFailed` として Saga に戻し、再試行か補償かは Saga が決めます。
//! - **読みモデル** ([`projection`]): `Saga` 集約のイベントから `sagas` と `saga_steps` を作ります。
//! - **API** ([`api`]): 自分の Saga の一覧と、タイムライン付きの詳細。
//!
//! 起動時には読みモデルを追いつかせ、終端でない Saga すべての実行中の試行をやり直します
//! (再起動の前に送りかけていた依頼の再駆動。受け手は冪等なので二重には実行されません)。
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::platform::auth::JwtKeys;
//! use mediahub_services::saga::{SagaConfig, start};
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = SagaConfig::new("./data/saga.db", keys)
//!     .eventstore_url("http://127.0.0.1:8084")
//!     .listen("127.0.0.1:0");
//! let service = start(config).await?;
//! println!("{}", service.base_url());
//! service.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod args;
pub mod db;
pub mod error;
pub mod executor;
pub mod participants;
pub mod projection;
pub mod reactor;
pub mod runtime;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mediahub_core::ids::SagaId;
use mediahub_core::saga::SagaPolicy;
use sqlx::SqlitePool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use self::api::{ApiState, SagaApi};
pub use self::args::{SagaPolicyArgs, SagaPolicyArgsError};
pub use self::error::{ApiError, codes};
pub use self::participants::ParticipantsError;
pub use self::projection::SagaView;
pub use self::reactor::SagaReactor;

use self::executor::{Kicker, spawn_executor};
use self::participants::Participants;
use self::runtime::SagaRuntime;
use crate::consumer::{Consumer, ConsumerConfig, ConsumerError, open_database};
use crate::platform::auth::JwtKeys;
use crate::platform::server::{
    self, DEFAULT_BODY_LIMIT, DEFAULT_GRACE, Readiness, ServerError, ServerHandle, ServiceInfo,
    Shutdown,
};
use crate::store_client::{EventStoreClient, ServiceTokenProvider, StoreClientError};

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8085";
/// 既定のデータベースファイル。
pub const DEFAULT_DATABASE: &str = "./data/saga.db";
/// 既定のイベントストアの URL。
pub const DEFAULT_EVENTSTORE_URL: &str = "http://127.0.0.1:8084";
/// 既定の media-command の URL。
pub const DEFAULT_MEDIA_COMMAND_URL: &str = "http://127.0.0.1:8081";
/// 既定の album の URL。
pub const DEFAULT_ALBUM_URL: &str = "http://127.0.0.1:8083";
/// 既定の notification の URL。
pub const DEFAULT_NOTIFICATION_URL: &str = "http://127.0.0.1:8086";
/// `min_position` を待つ既定の最長時間。
pub use crate::platform::read_side::DEFAULT_READ_WAIT;
/// リアクターの購読者名 (チェックポイント表のキー)。
pub const REACTOR_NAME: &str = "saga-reactor";
/// 読みモデルの購読者名 (チェックポイント表のキー)。
pub const VIEW_NAME: &str = "saga-view";
/// 起動時の追いつきに失敗したときの最初の待ち時間。
const RECOVERY_BACKOFF: Duration = Duration::from_millis(100);
/// 起動時の追いつきの待ち時間の上限。
const MAX_RECOVERY_BACKOFF: Duration = Duration::from_secs(5);

/// サービスの情報 (OpenAPI 文書に載ります)。
pub const SERVICE_INFO: ServiceInfo = ServiceInfo {
    name: "saga",
    title: "MediaHub Saga Orchestrator",
    description: "メディアアップロード Saga のオーケストレーター。ドメインイベントに反応して \
                  Saga を進め、参加者 (media-command・album・notification) に依頼し、失敗を \
                  再試行または補償します。自分の Saga の一覧とタイムラインを返します。",
};

/// このサービスの OpenAPI 文書。状態を作らずに API の型から組み立てます
/// (`/openapi.json` が返すものと同じ。ゲートウェイが公開の契約をまとめるのに使います)。
#[must_use]
pub fn openapi_spec() -> serde_json::Value {
    server::openapi_spec::<SagaApi>(&SERVICE_INFO)
}

/// saga サービスの起動・停止のエラー。
#[derive(Debug, thiserror::Error)]
pub enum SagaServiceError {
    /// データベースを開けなかった。
    #[error("saga のデータベースを開けません: {0}")]
    Database(#[from] sqlx::Error),
    /// 読みモデルのマイグレーションに失敗した。
    #[error("saga の読みモデルのマイグレーションに失敗しました: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// データベースのディレクトリを作れなかった。
    #[error("saga のデータベースのディレクトリを作れません: {0}")]
    Io(#[from] std::io::Error),
    /// イベントストアのクライアントを作れなかった (URL が不正など)。
    #[error(transparent)]
    Store(#[from] StoreClientError),
    /// 参加者の URL が不正。
    #[error(transparent)]
    Participants(#[from] ParticipantsError),
    /// 購読者を開けなかった。
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    /// サーバーのエラー。
    #[error(transparent)]
    Server(#[from] ServerError),
    /// 内部のタスクが異常終了した。
    #[error("saga の内部タスクが異常終了しました: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// saga サービスの設定。
#[derive(Debug, Clone)]
pub struct SagaConfig {
    /// 待ち受けアドレス (テストでは `127.0.0.1:0`)。
    pub listen: String,
    /// イベントストアの URL。
    pub eventstore_url: String,
    /// media-command の URL。
    pub media_command_url: String,
    /// album の URL。
    pub album_url: String,
    /// notification の URL。
    pub notification_url: String,
    /// 読みモデルとチェックポイントの SQLite ファイル。
    pub database: PathBuf,
    /// JWT の鍵。
    pub keys: JwtKeys,
    /// 再試行と締め切りの方針。
    pub policy: SagaPolicy,
    /// 購読ランナーの設定 (リアクターは 1 ページ 1 件に固定)。
    pub consumer: ConsumerConfig,
    /// `min_position` を待つ最長の時間。
    pub read_wait: Duration,
    /// グレースフルシャットダウンの猶予。
    pub grace: Duration,
}

impl SagaConfig {
    /// データベースファイルと JWT の鍵から、ほかは既定値 (各サービスの既定のポート) で作ります。
    #[must_use]
    pub fn new(database: impl AsRef<Path>, keys: JwtKeys) -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            eventstore_url: DEFAULT_EVENTSTORE_URL.to_owned(),
            media_command_url: DEFAULT_MEDIA_COMMAND_URL.to_owned(),
            album_url: DEFAULT_ALBUM_URL.to_owned(),
            notification_url: DEFAULT_NOTIFICATION_URL.to_owned(),
            database: database.as_ref().to_path_buf(),
            keys,
            policy: SagaPolicy::default(),
            consumer: ConsumerConfig::default(),
            read_wait: DEFAULT_READ_WAIT,
            grace: DEFAULT_GRACE,
        }
    }

    /// 待ち受けアドレスを変えたコピーを返します。
    #[must_use]
    pub fn listen(mut self, listen: impl Into<String>) -> Self {
        self.listen = listen.into();
        self
    }

    /// イベントストアの URL を変えたコピーを返します。
    #[must_use]
    pub fn eventstore_url(mut self, url: impl Into<String>) -> Self {
        self.eventstore_url = url.into();
        self
    }

    /// media-command の URL を変えたコピーを返します。
    #[must_use]
    pub fn media_command_url(mut self, url: impl Into<String>) -> Self {
        self.media_command_url = url.into();
        self
    }

    /// album の URL を変えたコピーを返します。
    #[must_use]
    pub fn album_url(mut self, url: impl Into<String>) -> Self {
        self.album_url = url.into();
        self
    }

    /// notification の URL を変えたコピーを返します。
    #[must_use]
    pub fn notification_url(mut self, url: impl Into<String>) -> Self {
        self.notification_url = url.into();
        self
    }

    /// 再試行と締め切りの方針を変えたコピーを返します。
    #[must_use]
    pub fn policy(mut self, policy: SagaPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// 購読ランナーの設定を変えたコピーを返します。
    #[must_use]
    pub fn consumer(mut self, consumer: ConsumerConfig) -> Self {
        self.consumer = consumer;
        self
    }

    /// `min_position` を待つ最長の時間を変えたコピーを返します。
    #[must_use]
    pub fn read_wait(mut self, read_wait: Duration) -> Self {
        self.read_wait = read_wait;
        self
    }

    /// グレースフルシャットダウンの猶予を変えたコピーを返します。
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

/// 動いている saga サービスの取っ手。
#[derive(Debug)]
pub struct SagaHandle {
    server: ServerHandle,
    readiness: Readiness,
    pool: SqlitePool,
    view: Consumer<SagaView>,
    reactor: Consumer<SagaReactor>,
    tasks: Vec<JoinHandle<()>>,
}

impl SagaHandle {
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

    /// 読みモデルのチェックポイント (反映済みのグローバル位置)。
    #[must_use]
    pub fn position(&self) -> u64 {
        self.view.position()
    }

    /// 読みモデルのチェックポイントの変化を受け取る `watch`。
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.view.subscribe()
    }

    /// リアクターのチェックポイント (Saga に渡し終えたグローバル位置)。
    #[must_use]
    pub fn reactor_position(&self) -> u64 {
        self.reactor.position()
    }

    /// 停止します: 新しいリクエストの受け付けをやめ、処理中のリクエスト・購読・行動を終えてから、
    /// データベースを閉じます。
    ///
    /// # エラー
    /// サーバーや内部のタスクが異常終了していれば [`SagaServiceError`]。
    pub async fn stop(self) -> Result<(), SagaServiceError> {
        self.server.shutdown().trigger();
        self.wait().await
    }

    /// 停止の合図が (どこかで) 出るまで待ち、[`SagaHandle::stop`] と同じ後始末をします。
    ///
    /// # エラー
    /// サーバーや内部のタスクが異常終了していれば [`SagaServiceError`]。
    pub async fn wait(self) -> Result<(), SagaServiceError> {
        let Self {
            server,
            readiness,
            pool,
            tasks,
            ..
        } = self;
        server.shutdown().wait().await;
        readiness.set_ready(false);
        let served = server.wait().await;
        let mut joined = Ok(());
        for task in tasks {
            if let Err(err) = task.await {
                joined = Err(err);
            }
        }
        pool.close().await;
        tracing::info!("saga サービスを停止しました");
        served?;
        joined?;
        Ok(())
    }
}

/// 起動時の再駆動: 読みモデルを追いつかせ、終端でない Saga すべてを実行役に知らせます。
async fn recover(view: &Consumer<SagaView>, kicker: &Kicker, shutdown: &Shutdown) {
    let mut backoff = RECOVERY_BACKOFF;
    loop {
        match view.catch_up().await {
            Ok(_) => break,
            Err(error) => {
                tracing::warn!(%error, "起動時の追いつきに失敗しました。待ってから再試行します");
                tokio::select! {
                    () = shutdown.wait() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_RECOVERY_BACKOFF);
            }
        }
    }
    match db::unfinished(view.pool()).await {
        Ok(ids) => {
            tracing::info!(
                count = ids.len(),
                "終端でない Saga の実行中の試行をやり直します"
            );
            for id in ids {
                match id.parse::<SagaId>() {
                    Ok(saga_id) => kicker.kick(saga_id),
                    Err(error) => tracing::error!(id, %error, "読みモデルの Saga ID が不正です"),
                }
            }
        }
        Err(error) => tracing::error!(%error, "終端でない Saga を読めません"),
    }
}

async fn open_pool(path: &Path) -> Result<SqlitePool, SagaServiceError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await?;
    }
    let pool = open_database(path).await?;
    db::migrate(&pool).await?;
    Ok(pool)
}

/// saga サービスを起動します (データベースを開き、リアクター・読みモデル・実行役・HTTP サーバーを
/// 起動し、終端でない Saga を再駆動します)。
///
/// # エラー
/// URL が不正、ファイルが開けない、アドレスを束縛できないなら [`SagaServiceError`]。
pub async fn start(config: SagaConfig) -> Result<SagaHandle, SagaServiceError> {
    // config → state
    let tokens = ServiceTokenProvider::new(config.keys.clone(), SERVICE_INFO.name);
    let client = EventStoreClient::new(&config.eventstore_url, tokens.clone())?;
    let participants = Participants::new(
        tokens,
        &config.media_command_url,
        &config.album_url,
        &config.notification_url,
    )?;
    let pool = open_pool(&config.database).await?;
    let shutdown = Shutdown::new();
    let runtime = Arc::new(SagaRuntime::new(client.clone(), config.policy));
    let reactor_config = ConsumerConfig {
        page_size: 1,
        ..config.consumer
    };
    let view = Consumer::open(
        VIEW_NAME,
        pool.clone(),
        client.clone(),
        SagaView,
        config.consumer,
    )
    .await?;
    let listener = server::bind(&config.listen).await?;
    let reactor_position = Arc::new(OnceLock::new());
    let (kicker, executor_task) = spawn_executor(
        Arc::clone(&runtime),
        participants,
        shutdown.clone(),
        Arc::clone(&reactor_position),
    );
    let reactor = match Consumer::open(
        REACTOR_NAME,
        pool.clone(),
        client.clone(),
        SagaReactor::new(runtime, kicker.clone()),
        reactor_config,
    )
    .await
    {
        Ok(reactor) => reactor,
        Err(err) => {
            shutdown.trigger();
            return Err(err.into());
        }
    };
    // 実行役が、結果のイベントを待つ締め切りでリアクターの遅れを考えに入れられるように。
    if reactor_position.set(reactor.waiter()).is_err() {
        tracing::warn!("リアクターの位置の係はすでに入っています");
    }
    let reactor_task = reactor.spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.wait().await }
    });
    let view_task = tokio::spawn({
        let (view, shutdown) = (view.clone(), shutdown.clone());
        async move {
            recover(&view, &kicker, &shutdown).await;
            drop(kicker);
            view.run(shutdown.wait()).await;
        }
    });
    // routes
    let readiness = Readiness::new();
    let state = Arc::new(ApiState {
        pool: pool.clone(),
        view: view.clone(),
        client,
        read_wait: config.read_wait,
    });
    let app = server::build_app(
        SagaApi::new(state),
        &SERVICE_INFO,
        readiness.clone(),
        config.keys.clone(),
        DEFAULT_BODY_LIMIT,
    );
    // run
    let server = server::spawn_server(
        listener,
        app,
        SERVICE_INFO.name,
        shutdown.clone(),
        config.grace,
    )
    .inspect_err(|_| shutdown.trigger())?;
    readiness.set_ready(true);
    tracing::info!(
        database = %config.database.display(),
        eventstore = config.eventstore_url.as_str(),
        addr = %server.local_addr(),
        "saga サービスの準備ができました"
    );
    Ok(SagaHandle {
        server,
        readiness,
        pool,
        view,
        reactor,
        tasks: vec![reactor_task, view_task, executor_task],
    })
}
