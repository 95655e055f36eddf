//! イベントストアの起動 ([`start`])。

use std::sync::Arc;

use tokio::sync::watch;

use super::api::EventStoreApi;
use super::config::{EventStoreArgs, EventStoreConfig};
use super::db;
use super::error::StartError;
use super::state::StoreState;
use super::writer;
use crate::platform::server::{self, ServiceInfo};
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

/// イベントストアを起動します (ファイルを開き、マイグレーションを適用し、書き込みタスクと
/// HTTP サーバーを起動します)。止めるときは、受け付け済みの書き込みを終えてからデータベースを閉じます。
///
/// # エラー
/// ファイルが開けない、マイグレーションに失敗した、アドレスを束縛できないなら [`StartError`]。
pub async fn start(config: EventStoreConfig) -> Result<EventStoreHandle, StartError> {
    let launch = Launch::bind(&SERVICE_INFO, &config.listen, config.grace).await?;
    let mut writer_conn = db::open_writer(&config.database, config.durability).await?;
    let head = db::read_head(&mut writer_conn).await?;
    let reader = db::open_reader(&config.database, config.durability, READ_CONNECTIONS).await?;
    let (head_tx, head_rx) = watch::channel(head);
    let (writer, writer_task) = writer::spawn_writer(writer_conn, head, head_tx);
    let state = Arc::new(StoreState::new(
        reader,
        writer,
        head_rx,
        launch.shutdown().clone(),
    ));
    let app = server::build_app(
        EventStoreApi::new(Arc::clone(&state)),
        &SERVICE_INFO,
        launch.readiness().clone(),
        config.keys.clone(),
        config.body_limit,
    );
    tracing::info!(
        database = %config.database.display(),
        head,
        "イベントストアの準備ができました"
    );
    let closing = Arc::clone(&state);
    Ok(launch.serve(app, state, async move {
        closing.writer.stop().await;
        let conn = writer_task.await?;
        // 読み取り用を先に閉じ、最後に書き込み用を閉じます (最後の接続が WAL を畳んで消します)。
        closing.reader.close().await;
        db::close_writer(conn).await.map_err(StopError::cleanup)
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
