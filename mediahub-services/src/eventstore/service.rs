//! イベントストアの起動 ([`start`])。

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::api::EventStoreApi;
use super::config::{EventStoreArgs, EventStoreConfig};
use super::db::{Reader, StoreLocation, postgres, sqlite};
use super::error::{StartError, StoreError};
use super::state::StoreState;
use super::writer::{self, WriterHandle};
use crate::platform::server::{self, ServiceInfo, Shutdown};
use crate::platform::service::{ArgsError, Launch, ServiceHandle, ServiceMain, StopError};

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

/// 動いているイベントストアの取っ手 (状態は同じプロセスの中から直接読むときに使います)。
pub type EventStoreHandle = ServiceHandle<Arc<StoreState>>;

/// 開いた保存先: 読み取り役、書き込みタスク、(PostgreSQL なら) 通知の受け手。
struct Opened {
    reader: Reader,
    head: u64,
    writer: WriterHandle,
    writer_task: JoinHandle<Result<(), StoreError>>,
    listener_task: Option<JoinHandle<()>>,
}

/// 保存先を開き (マイグレーションを含む)、書き込みタスクを起動します。
async fn open(
    config: &EventStoreConfig,
    head_tx: watch::Sender<u64>,
    shutdown: &Shutdown,
) -> Result<Opened, StoreError> {
    match &config.database {
        StoreLocation::Sqlite(path) => {
            let mut writer_conn = sqlite::open_writer(path, config.durability).await?;
            let head = writer_conn.read_head().await?;
            let reads = sqlite::open_reader(path, config.durability, READ_CONNECTIONS)
                .await?
                .with_recent_of(&writer_conn);
            head_tx.send_replace(head);
            let (writer, writer_task) = writer::spawn_writer(writer_conn, head, head_tx);
            Ok(Opened {
                reader: Reader::Sqlite(reads),
                head,
                writer,
                writer_task,
                listener_task: None,
            })
        }
        StoreLocation::Postgres(url) => {
            let writer_conn = postgres::open_writer(url, config.durability).await?;
            let reads = postgres::open_reader(url, READ_CONNECTIONS).await?;
            // 聞き始めてから先頭を読みます (逆だと、その間のほかのプロセスのコミットを取りこぼします)。
            let listener = postgres::listen(&reads).await?;
            let head = reads.read_head().await?;
            head_tx.send_replace(head);
            let listener_task = postgres::spawn_listener(
                listener,
                reads.clone(),
                head_tx.clone(),
                shutdown.clone(),
            );
            let (writer, writer_task) = writer::spawn_writer(writer_conn, head, head_tx);
            Ok(Opened {
                reader: Reader::Postgres(reads),
                head,
                writer,
                writer_task,
                listener_task: Some(listener_task),
            })
        }
    }
}

/// イベントストアを起動します (保存先を開き、マイグレーションを適用し、書き込みタスクと
/// HTTP サーバーを起動します)。保存先は `config.database` で決まります (SQLite のファイルか
/// `postgres://` の URL)。止めるときは、受け付け済みの書き込みを終えてからデータベースを閉じます。
///
/// # エラー
/// 保存先が開けない、マイグレーションに失敗した、アドレスを束縛できないなら [`StartError`]。
pub async fn start(config: EventStoreConfig) -> Result<EventStoreHandle, StartError> {
    let launch = Launch::bind(&SERVICE_INFO, &config.listen, config.grace).await?;
    let (head_tx, head_rx) = watch::channel(0);
    let Opened {
        reader,
        head,
        writer,
        writer_task,
        listener_task,
    } = open(&config, head_tx, launch.shutdown()).await?;
    let state = Arc::new(
        StoreState::new(reader, writer, head_rx, launch.shutdown().clone())
            .with_progress_coalesce(config.progress_coalesce),
    );
    let app = server::build_app(
        EventStoreApi::new(Arc::clone(&state)),
        &SERVICE_INFO,
        launch.readiness().clone(),
        config.keys.clone(),
        config.body_limit,
    );
    tracing::info!(
        database = %config.database,
        head,
        "イベントストアの準備ができました"
    );
    let closing = Arc::clone(&state);
    Ok(launch.serve(app, state, async move {
        closing.writer.stop().await;
        if let Some(listener_task) = listener_task {
            // 停止の合図で終わっています。
            listener_task.await?;
        }
        // 読み取り用を先に閉じ、最後に書き込み用を閉じます (SQLite では最後の接続が WAL を畳んで消します)。
        closing.reader.close().await;
        writer_task.await?.map_err(StopError::cleanup)
    })?)
}

impl ServiceMain for EventStoreArgs {
    const SERVICE: &'static str = "eventstore";
    type Config = EventStoreConfig;
    type State = Arc<StoreState>;
    type Error = StartError;

    fn config(self) -> Result<EventStoreConfig, ArgsError> {
        self.into_config()
    }

    async fn start(config: EventStoreConfig) -> Result<EventStoreHandle, StartError> {
        start(config).await
    }
}
