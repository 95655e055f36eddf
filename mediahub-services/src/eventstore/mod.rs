//! イベントストアサービス (ポート 8084、DESIGN §4)。
//!
//! すべての状態変化 (イベント) を保存する中央のストアです。
//!
//! - **ストリーム**: 集約 (`aggregate_type` と `aggregate_id` の組) ごとのイベント列。
//!   版 (`version`) は 1, 2, 3 … と隙間なく並びます。追記は **楽観的並行性制御** で、
//!   呼び出し側が期待する版と現在の版が違えば 409 になり、何も書かれません。
//! - **グローバルログ**: すべてのイベントをコミット順に並べた 1 本の列。位置 (`position`) は
//!   1 から隙間なく増えます。プロジェクションやリアクターはこれを先頭から順に読みます。
//! - **購読**: ロングポーリング (`wait_ms`) と Server-Sent Events。どちらもコミットの瞬間に
//!   起こされるので、ポーリング間隔はありません。
//!
//! 保存先は SQLite (WAL) で、`events` / `snapshots` テーブルは sqlite-es と同じ列名です
//! (sqlite-es の `SqliteEventRepository` でそのまま読めます)。書き込みは 1 本の書き込みタスクが
//! グループコミットで行います ([`writer`])。
//!
//! 形は全サービス共通の **config → state → routes → run** です:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::eventstore::{EventStoreConfig, start};
//! use mediahub_services::platform::auth::JwtKeys;
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = EventStoreConfig::new("./data/eventstore.db", keys).listen("127.0.0.1:0");
//! let service = start(config).await?;
//! println!("{}", service.base_url());
//! service.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod db;
pub mod error;
pub mod writer;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use self::api::{EventStoreApi, StoreState};
pub use self::db::{Durability, LogFilter, StreamKey};
pub use self::error::{StoreError, codes};
pub use self::writer::{AppendOutcome, AppendRequest, SnapshotWrite, WriterHandle};

use crate::platform::auth::JwtKeys;
use crate::platform::server::{
    self, DEFAULT_BODY_LIMIT, DEFAULT_GRACE, Readiness, ServerError, ServerHandle, ServiceInfo,
    Shutdown,
};

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8084";
/// 既定のデータベースファイル。
pub const DEFAULT_DATABASE: &str = "./data/eventstore.db";
/// 読み取り用の接続の数。
const READ_CONNECTIONS: u32 = 4;

/// サービスの情報 (OpenAPI 文書に載ります)。
pub const SERVICE_INFO: ServiceInfo = ServiceInfo {
    name: "eventstore",
    title: "MediaHub Event Store",
    description: "集約ごとのストリーム (楽観的並行性制御)、隙間のないグローバルログ、\
                  ロングポーリングと Server-Sent Events による購読を提供するイベントストア。\
                  すべての /api/v1 の操作にサービス用 JWT が必要です。",
};

/// このサービスの OpenAPI 文書。状態を作らずに API の型から組み立てます
/// (`/openapi.json` が返すものと同じ。ゲートウェイが公開の契約をまとめるのに使います)。
#[must_use]
pub fn openapi_spec() -> serde_json::Value {
    server::openapi_spec::<EventStoreApi>(&SERVICE_INFO)
}

/// イベントストアの起動・停止のエラー。
#[derive(Debug, thiserror::Error)]
pub enum EventStoreError {
    /// ストアを開けなかった。
    #[error("イベントストアを開けません: {0}")]
    Store(#[from] StoreError),
    /// サーバーのエラー。
    #[error(transparent)]
    Server(#[from] ServerError),
    /// 書き込みタスクが異常終了した。
    #[error("書き込みタスクが異常終了しました: {0}")]
    Writer(#[from] tokio::task::JoinError),
}

/// イベントストアの設定。
#[derive(Debug, Clone)]
pub struct EventStoreConfig {
    /// 待ち受けアドレス (テストでは `127.0.0.1:0`)。
    pub listen: String,
    /// SQLite のファイル。
    pub database: PathBuf,
    /// JWT の鍵。
    pub keys: JwtKeys,
    /// リクエスト本体の上限 (バイト)。
    pub body_limit: usize,
    /// コミットの耐久性。
    pub durability: Durability,
    /// グレースフルシャットダウンの猶予。
    pub grace: Duration,
}

impl EventStoreConfig {
    /// データベースファイルと JWT の鍵から、ほかは既定値で設定を作ります。
    #[must_use]
    pub fn new(database: impl AsRef<Path>, keys: JwtKeys) -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            database: database.as_ref().to_path_buf(),
            keys,
            body_limit: DEFAULT_BODY_LIMIT,
            durability: Durability::default(),
            grace: DEFAULT_GRACE,
        }
    }

    /// 待ち受けアドレスを変えたコピーを返します。
    #[must_use]
    pub fn listen(mut self, listen: impl Into<String>) -> Self {
        self.listen = listen.into();
        self
    }

    /// 耐久性を変えたコピーを返します。
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// 本体の上限を変えたコピーを返します。
    #[must_use]
    pub fn body_limit(mut self, body_limit: usize) -> Self {
        self.body_limit = body_limit;
        self
    }
}

/// 動いているイベントストアの取っ手。
#[derive(Debug)]
pub struct EventStoreHandle {
    server: ServerHandle,
    state: Arc<StoreState>,
    readiness: Readiness,
    writer_task: JoinHandle<sqlx::SqliteConnection>,
}

impl EventStoreHandle {
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

    /// 共有の状態 (同じプロセスの中から直接読むときに使います)。
    #[must_use]
    pub fn state(&self) -> &Arc<StoreState> {
        &self.state
    }

    /// 停止します: 新しいリクエストの受け付けをやめ、処理中のリクエストと受け付け済みの
    /// 書き込みを終えてから、データベースを閉じます。
    ///
    /// # エラー
    /// サーバーや書き込みタスクが異常終了していれば [`EventStoreError`]。
    pub async fn stop(self) -> Result<(), EventStoreError> {
        self.server.shutdown().trigger();
        self.wait().await
    }

    /// 停止の合図が (どこかで) 出るまで待ち、[`EventStoreHandle::stop`] と同じ後始末をします。
    ///
    /// # エラー
    /// サーバーや書き込みタスクが異常終了していれば [`EventStoreError`]。
    pub async fn wait(self) -> Result<(), EventStoreError> {
        let Self {
            server,
            state,
            readiness,
            writer_task,
        } = self;
        server.shutdown().wait().await;
        readiness.set_ready(false);
        let served = server.wait().await;
        state.writer.stop().await;
        let conn = writer_task.await?;
        // 読み取り用を先に閉じ、最後に書き込み用を閉じます (最後の接続が WAL を畳んで消します)。
        state.reader.close().await;
        db::close_writer(conn).await?;
        tracing::info!("イベントストアを停止しました");
        served?;
        Ok(())
    }
}

/// イベントストアを起動します (ファイルを開き、マイグレーションを適用し、書き込みタスクと
/// HTTP サーバーを起動します)。
///
/// # エラー
/// ファイルが開けない、マイグレーションに失敗した、アドレスを束縛できないなら [`EventStoreError`]。
pub async fn start(config: EventStoreConfig) -> Result<EventStoreHandle, EventStoreError> {
    // config → state
    let mut writer_conn = db::open_writer(&config.database, config.durability).await?;
    let head = db::read_head(&mut writer_conn).await?;
    let reader = db::open_reader(&config.database, config.durability, READ_CONNECTIONS).await?;
    let (head_tx, head_rx) = watch::channel(head);
    let (writer, writer_task) = writer::spawn_writer(writer_conn, head, head_tx);
    let shutdown = Shutdown::new();
    let state = Arc::new(StoreState::new(reader, writer, head_rx, shutdown.clone()));
    // routes
    let readiness = Readiness::new();
    let app = server::build_app(
        EventStoreApi::new(Arc::clone(&state)),
        &SERVICE_INFO,
        readiness.clone(),
        config.keys.clone(),
        config.body_limit,
    );
    // run
    let listener = match server::bind(&config.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            state.writer.stop().await;
            return Err(err.into());
        }
    };
    let server = server::spawn_server(listener, app, SERVICE_INFO.name, shutdown, config.grace)?;
    readiness.set_ready(true);
    tracing::info!(
        database = %config.database.display(),
        head,
        addr = %server.local_addr(),
        "イベントストアの準備ができました"
    );
    Ok(EventStoreHandle {
        server,
        state,
        readiness,
        writer_task,
    })
}
