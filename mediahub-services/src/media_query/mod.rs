//! media-query サービス (ポート 8082、DESIGN §2・§5): メディアの読み取り側 (CQRS の Q)。
//!
//! イベントストアのグローバルログから Media 集約のイベントだけを購読し
//! ([`crate::consumer::Consumer`])、自分専用の SQLite の読みモデルを作ります
//! ([`projection::MediaProjection`])。読みモデルへの書き込みとチェックポイントは同じ
//! トランザクションでコミットされるので、反映はちょうど一回です。
//!
//! - `GET /api/v1/media` — 自分のメディアの一覧 (新しい順、カーソル、`kind`・`status`・
//!   ファイル名の全文検索 `q`)
//! - `GET /api/v1/media/{id}` — 1 件
//! - `GET /api/v1/media/{id}/history` — イベントストアのイベントをコアの集約で畳み込んだ、
//!   各版の時点の状態 (タイムトラベル)
//! - `POST /internal/v1/rebuild` — 読みモデルを位置 0 から作り直す (サービス用トークン)
//!
//! 一覧と詳細は `min_position` を受け付け、読みモデルがその位置に届くまで (最長
//! [`MediaQueryConfig::read_wait`]) 待ちます (read-your-writes)。
//!
//! `/ready` は、起動した時点のログの先頭まで一度追いついてから 200 になります
//! (イベントストアに届かない間は 503 のままで、届けばすぐ追いつきます)。
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::media_query::{MediaQueryConfig, start};
//! use mediahub_services::platform::auth::JwtKeys;
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = MediaQueryConfig::new("http://127.0.0.1:8084", "./data/media-query.db", keys)
//!     .listen("127.0.0.1:0");
//! let service = start(config).await?;
//! println!("{} (位置 {})", service.base_url(), service.position());
//! service.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod db;
pub mod error;
pub mod history;
pub mod projection;
pub mod search;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use self::api::{MediaQueryApi, QueryState};
pub use self::error::{QueryError, codes};
pub use self::history::{HistoryEntry, MediaHistory};
pub use self::projection::{CONSUMER_NAME, MediaProjection};
pub use self::view::{MediaPage, MediaView};

use crate::consumer::{Consumer, ConsumerConfig, ConsumerError};
use crate::platform::read_side::{ReadSideConfig, ReadSideService};
use crate::platform::server::{
    self, DEFAULT_BODY_LIMIT, Readiness, ServerError, ServerHandle, ServiceInfo, Shutdown,
};
use crate::store_client::{EventStoreClient, ServiceTokenProvider, StoreClientError};

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8082";
/// 既定のデータベースファイル。
pub const DEFAULT_DATABASE: &str = "./data/media-query.db";
/// 既定のイベントストアの URL。
pub const DEFAULT_EVENTSTORE_URL: &str = "http://127.0.0.1:8084";
/// `min_position` を待つ既定の最長時間。
pub use crate::platform::read_side::DEFAULT_READ_WAIT;

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
    server::openapi_spec::<MediaQueryApi>(&SERVICE_INFO)
}

/// 起動・停止のエラー。
#[derive(Debug, thiserror::Error)]
pub enum MediaQueryError {
    /// 読みモデルのデータベースを開けなかった。
    #[error("読みモデルのデータベースを開けません: {0}")]
    Database(#[from] sqlx::Error),
    /// マイグレーションに失敗した。
    #[error("読みモデルのマイグレーションに失敗しました: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// ディレクトリを作れなかった。
    #[error("ファイルの入出力エラー: {0}")]
    Io(#[from] std::io::Error),
    /// イベントストアのクライアントを作れなかった (URL が不正など)。
    #[error("イベントストアのクライアントを作れません: {0}")]
    Client(#[from] StoreClientError),
    /// 購読ランナーを開けなかった。
    #[error("購読ランナーを開けません: {0}")]
    Consumer(#[from] ConsumerError),
    /// サーバーのエラー。
    #[error(transparent)]
    Server(#[from] ServerError),
    /// 背景のタスクが異常終了した。
    #[error("背景のタスクが異常終了しました: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// media-queryの印 (既定の待ち受けアドレス [`DEFAULT_LISTEN`])。
pub enum MediaQueryService {}

impl ReadSideService for MediaQueryService {
    const DEFAULT_LISTEN: &'static str = DEFAULT_LISTEN;
}

/// media-queryの設定 (形は読み側のサービスで共通の [`ReadSideConfig`])。
pub type MediaQueryConfig = ReadSideConfig<MediaQueryService>;

/// 動いている media-query の取っ手。
#[derive(Debug)]
pub struct MediaQueryHandle {
    server: ServerHandle,
    state: Arc<QueryState>,
    readiness: Readiness,
    consumer_task: JoinHandle<()>,
    ready_task: JoinHandle<()>,
}

impl MediaQueryHandle {
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
        self.state.consumer.position()
    }

    /// チェックポイントの変化を受け取る `watch`
    /// ([`crate::consumer::wait_for_position`] で待てます)。
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.state.consumer.subscribe()
    }

    /// 共有の状態 (同じプロセスの中から直接読むときに使います)。
    #[must_use]
    pub fn state(&self) -> &Arc<QueryState> {
        &self.state
    }

    /// 停止します: 新しいリクエストの受け付けをやめ、処理中のリクエストを終え、
    /// 購読を止めて (処理中のページは巻き戻り、次の起動でやり直します) データベースを閉じます。
    ///
    /// # エラー
    /// サーバーや背景のタスクが異常終了していれば [`MediaQueryError`]。
    pub async fn stop(self) -> Result<(), MediaQueryError> {
        self.server.shutdown().trigger();
        self.wait().await
    }

    /// 停止の合図が (どこかで) 出るまで待ち、[`MediaQueryHandle::stop`] と同じ後始末をします。
    ///
    /// # エラー
    /// サーバーや背景のタスクが異常終了していれば [`MediaQueryError`]。
    pub async fn wait(self) -> Result<(), MediaQueryError> {
        let Self {
            server,
            state,
            readiness,
            consumer_task,
            ready_task,
        } = self;
        server.shutdown().wait().await;
        readiness.set_ready(false);
        let served = server.wait().await;
        consumer_task.await?;
        ready_task.await?;
        state.pool.close().await;
        tracing::info!("media-query を停止しました");
        served?;
        Ok(())
    }
}

/// 起動した時点のログの先頭まで購読が一度追いついたら、準備完了にします。
///
/// イベントストアに届かない間は、待ち時間を延ばしながら先頭の読み取りを繰り返します。
async fn ready_after_catch_up(
    client: EventStoreClient,
    mut positions: watch::Receiver<u64>,
    readiness: Readiness,
    shutdown: Shutdown,
    config: ConsumerConfig,
) {
    let mut delay = config.initial_backoff;
    let head = loop {
        tokio::select! {
            biased;
            () = shutdown.wait() => return,
            head = client.head() => match head {
                Ok(head) => break head,
                Err(error) => {
                    tracing::warn!(%error, "イベントストアの先頭を読めません。待ってから再試行します");
                }
            },
        }
        tokio::select! {
            biased;
            () = shutdown.wait() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = delay.saturating_mul(2).min(config.max_backoff);
    };
    tokio::select! {
        biased;
        () = shutdown.wait() => {}
        reached = positions.wait_for(|position| *position >= head) => {
            if reached.is_ok() {
                readiness.set_ready(true);
                tracing::info!(head, "読みモデルが起動時の先頭に追いつきました");
            }
        }
    }
}

/// media-query を起動します (読みモデルを開いてマイグレーションを適用し、購読ランナーと
/// HTTP サーバーを起動します)。
///
/// # エラー
/// ファイルが開けない、マイグレーションに失敗した、URL が不正、アドレスを束縛できないなら
/// [`MediaQueryError`]。
pub async fn start(config: MediaQueryConfig) -> Result<MediaQueryHandle, MediaQueryError> {
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
    // routes
    let readiness = Readiness::new();
    let app = server::build_app(
        MediaQueryApi::new(Arc::clone(&state)),
        &SERVICE_INFO,
        readiness.clone(),
        config.keys.clone(),
        DEFAULT_BODY_LIMIT,
    );
    // run
    let listener = match server::bind(&config.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            state.pool.close().await;
            return Err(err.into());
        }
    };
    let shutdown = Shutdown::new();
    let server = server::spawn_server(
        listener,
        app,
        SERVICE_INFO.name,
        shutdown.clone(),
        config.grace,
    )?;
    let consumer_task = state.consumer.spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.wait().await }
    });
    let ready_task = tokio::spawn(ready_after_catch_up(
        state.client.clone(),
        state.consumer.subscribe(),
        readiness.clone(),
        shutdown,
        config.consumer,
    ));
    tracing::info!(
        database = %config.database.display(),
        eventstore = config.eventstore_url.as_str(),
        position = state.consumer.position(),
        addr = %server.local_addr(),
        "media-query を起動しました"
    );
    Ok(MediaQueryHandle {
        server,
        state,
        readiness,
        consumer_task,
        ready_task,
    })
}
