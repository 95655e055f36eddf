//! 公開 API と内部 API が共有する状態 ([`QueryState`])。

use std::time::Duration;

use sqlx::SqlitePool;
use tokio::sync::watch;

use super::error::QueryError;
use super::projection::MediaProjection;
use crate::consumer::Consumer;
use crate::platform::service::Checkpointed;
use crate::store_client::EventStoreClient;

/// API が共有する状態。
#[derive(Debug)]
pub struct QueryState {
    /// 読みモデルの SQLite。
    pub pool: SqlitePool,
    /// 読みモデルを作る購読ランナー。
    pub consumer: Consumer<MediaProjection>,
    /// イベントストアへのクライアント (履歴の読み取り用)。
    pub client: EventStoreClient,
    /// `min_position` を待つ最長の時間。
    pub read_wait: Duration,
}

impl QueryState {
    /// チェックポイントが `min_position` に届くまで (最長 `read_wait`) 待ちます。
    pub(crate) async fn wait_for(&self, min_position: Option<u64>) -> Result<(), QueryError> {
        self.consumer
            .waiter()
            .wait(min_position, self.read_wait)
            .await?;
        Ok(())
    }
}

impl Checkpointed for QueryState {
    fn checkpoint(&self) -> watch::Receiver<u64> {
        self.consumer.subscribe()
    }
}
