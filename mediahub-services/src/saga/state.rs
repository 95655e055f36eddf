//! 公開 API と内部 API が共有する状態 ([`ApiState`])。

use std::time::Duration;

use sqlx::SqlitePool;
use tokio::sync::watch;

use super::projection::SagaView;
use crate::consumer::Consumer;
use crate::platform::service::Checkpointed;
use crate::store_client::EventStoreClient;

/// API が共有する状態。
#[derive(Debug)]
pub struct ApiState {
    /// 読みモデルのデータベース。
    pub pool: SqlitePool,
    /// 読みモデルを作る購読者 (`min_position` の待ち合わせと作り直しに使います)。
    pub view: Consumer<SagaView>,
    /// Saga のイベントを読むためのイベントストアのクライアント。
    pub client: EventStoreClient,
    /// `min_position` を待つ最長の時間。
    pub read_wait: Duration,
}

impl Checkpointed for ApiState {
    fn checkpoint(&self) -> watch::Receiver<u64> {
        self.view.subscribe()
    }
}
