//! HTTP 越しの `cqrs_es::persist::PersistedEventRepository` 実装 [`RemoteEventRepository`]。

use cqrs_es::Aggregate;
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use mediahub_core::envelope::{Envelope, NewEvent};
use mediahub_core::ids::EventId;
use serde_json::Value;

use super::client::EventStoreClient;
use super::error::StoreClientError;
use super::tracker::{COMMIT_TICKET_KEY, CommitTracker};
use super::types::LogQuery;
use crate::eventstore::view::{AggregateState, SnapshotWriteBody};

/// 既定の 1 ページの件数 (集約型ごとの全件ストリームで使用)。
const DEFAULT_PAGE_SIZE: u32 = 500;
/// 既定の再生ストリームのバッファ件数。
const DEFAULT_CHANNEL_SIZE: usize = 200;

/// 中央のイベントストアサービスを HTTP で使う `cqrs-es` のイベントリポジトリ。
///
/// `PersistedEventStore::new_event_store(repo)` (または `new_snapshot_store`) に渡せば、
/// コマンドサービスは `CqrsFramework` をそのまま中央のストアの上で使えます。
///
/// - `persist` は `POST …/commit` に対応し、イベントとスナップショットを一つの
///   トランザクションで保存します。呼び出しごとに各イベントへ新しい [`EventId`] (時刻順の UUID v7、
///   [`EventId::new_time_ordered`]) を付けるので、
///   通信失敗による再送 ([`RetryPolicy`](super::RetryPolicy)) でもイベントは一度だけ保存されます。
/// - 版の衝突とスナップショットの衝突は [`PersistenceError::OptimisticLockError`] になり、`cqrs-es` はそれを
///   `AggregateError::AggregateConflict` として返します。
/// - メタデータの引換券 ([`COMMIT_TICKET_KEY`]) は保存前に取り除き、コミットされた位置を
///   [`CommitTracker`] に記録します (コマンド応答の `position` 用)。
///
/// 注意: `new_snapshot_store` で 1 コマンドが複数イベントを出す場合、`cqrs-es` はスナップショットに
/// 反映したイベント数をリポジトリに渡さないため、`sqlite-es` と同じく
/// 「スナップショットの版 = 最後のイベントの版」として保存します。スナップショットを使う集約では
/// 1 コマンド 1 イベントにするか、スナップショット間隔を 1 にしてください。
///
/// 注意 2: `cqrs-es` 0.5.0 では、`Aggregate::handle` の中で `EventSink::write(event, self)` が
/// 集約にイベントを適用した後、スナップショットを作る `PersistedEventStore::commit` が同じイベントを
/// もう一度適用します。スナップショット (`new_snapshot_store` / `new_aggregate_store`) を使う集約は、
/// `sink.write` に集約の写しを渡すか、イベントを唯一の正とする `new_event_store` を使ってください
/// (MediaHub の既定)。
#[derive(Debug, Clone)]
pub struct RemoteEventRepository {
    client: EventStoreClient,
    tracker: CommitTracker,
    page_size: u32,
    channel_size: usize,
}

impl RemoteEventRepository {
    /// クライアントからリポジトリを作ります (引換券の対応表は新しく作ります)。
    #[must_use]
    pub fn new(client: EventStoreClient) -> Self {
        Self {
            client,
            tracker: CommitTracker::new(),
            page_size: DEFAULT_PAGE_SIZE,
            channel_size: DEFAULT_CHANNEL_SIZE,
        }
    }

    /// 引換券の対応表を差し替えます (複数の集約で一つの表を共有したいとき)。
    #[must_use]
    pub fn with_tracker(mut self, tracker: CommitTracker) -> Self {
        self.tracker = tracker;
        self
    }

    /// 全件ストリームで 1 回に読む件数を設定します (0 は 1 とみなします)。
    #[must_use]
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// 引換券の対応表 (複製しても同じ表)。[`AggregateCommands`](super::AggregateCommands) が
    /// 作るときに取り出して、コミット位置の受け取りに使います。
    #[must_use]
    pub fn commit_tracker(&self) -> CommitTracker {
        self.tracker.clone()
    }

    /// 内部の HTTP クライアント。
    #[must_use]
    pub fn client(&self) -> &EventStoreClient {
        &self.client
    }
}

/// クライアントのエラーを `cqrs-es` の永続化エラーに変換します。
#[must_use]
pub fn to_persistence_error(error: StoreClientError) -> PersistenceError {
    match error {
        StoreClientError::VersionConflict { .. } | StoreClientError::SnapshotConflict { .. } => {
            PersistenceError::OptimisticLockError
        }
        e @ (StoreClientError::Http(_) | StoreClientError::Status { .. }) if e.is_transient() => {
            PersistenceError::ConnectionError(Box::new(e))
        }
        e @ StoreClientError::Decode { .. } => PersistenceError::DeserializationError(Box::new(e)),
        e => PersistenceError::UnknownError(Box::new(e)),
    }
}

fn to_usize(value: u64) -> Result<usize, PersistenceError> {
    usize::try_from(value).map_err(|e| PersistenceError::UnknownError(Box::new(e)))
}

/// 複数の集約のイベントが一度に渡されたときのエラー。
#[derive(Debug, thiserror::Error)]
#[error("一度の persist に複数の集約のイベントがあります: {first} と {other}")]
struct MixedAggregates {
    first: String,
    other: String,
}

impl PersistedEventRepository for RemoteEventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.get_last_events::<A>(aggregate_id, 0).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let after_version = u64::try_from(last_sequence)
            .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?;
        let events = self
            .client
            .read_stream(A::TYPE, aggregate_id, after_version)
            .await
            .map_err(to_persistence_error)?;
        Ok(events.iter().map(Envelope::to_serialized).collect())
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        let Some(snapshot) = self
            .client
            .snapshot(A::TYPE, aggregate_id)
            .await
            .map_err(to_persistence_error)?
        else {
            return Ok(None);
        };
        Ok(Some(SerializedSnapshot {
            aggregate_id: aggregate_id.to_owned(),
            aggregate: snapshot.aggregate,
            current_sequence: to_usize(snapshot.current_sequence)?,
            current_snapshot: to_usize(snapshot.current_snapshot)?,
        }))
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            // cqrs-es はイベントのないコミットでスナップショットを作らないので、何もしません。
            return Ok(());
        };
        let expected_version = (first.sequence as u64).saturating_sub(1);
        let mut ticket = None;
        let mut new_events = Vec::with_capacity(events.len());
        for event in events {
            if event.aggregate_id != first.aggregate_id {
                return Err(PersistenceError::UnknownError(Box::new(MixedAggregates {
                    first: first.aggregate_id.clone(),
                    other: event.aggregate_id.clone(),
                })));
            }
            let mut new = NewEvent::from_serialized(event, EventId::new_time_ordered())
                .map_err(|e| PersistenceError::DeserializationError(Box::new(e)))?;
            if let Some(value) = new.metadata.extra.remove(COMMIT_TICKET_KEY) {
                ticket = Some(value);
            }
            new_events.push(new);
        }
        let snapshot = snapshot_update.map(|(_, aggregate, current_snapshot)| {
            let current_snapshot = current_snapshot as u64;
            SnapshotWriteBody {
                aggregate: AggregateState(aggregate),
                current_sequence: last.sequence as u64,
                current_snapshot,
                expected_snapshot: (current_snapshot > 1).then(|| current_snapshot - 1),
            }
        });
        let outcome = match &snapshot {
            None => {
                self.client
                    .append(A::TYPE, &first.aggregate_id, expected_version, &new_events)
                    .await
            }
            Some(snapshot) => {
                self.client
                    .commit(
                        A::TYPE,
                        &first.aggregate_id,
                        expected_version,
                        &new_events,
                        Some(snapshot),
                    )
                    .await
            }
        }
        .map_err(to_persistence_error)?;
        if let Some(ticket) = ticket {
            self.tracker.record(&ticket, outcome.last_position);
        }
        Ok(())
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        let (mut feed, stream) = ReplayStream::new(self.channel_size);
        let client = self.client.clone();
        let aggregate_id = aggregate_id.to_owned();
        tokio::spawn(async move {
            let mut after_version = 0u64;
            loop {
                let events = match client
                    .read_stream(A::TYPE, &aggregate_id, after_version)
                    .await
                {
                    Ok(events) => events,
                    Err(e) => {
                        // 受け手がいなければ伝える先がないので、送信失敗は無視して終わります。
                        let _ = feed.push(Err(to_persistence_error(e))).await;
                        return;
                    }
                };
                let before = after_version;
                for event in &events {
                    if event.version <= after_version {
                        continue;
                    }
                    after_version = event.version;
                    if feed.push(Ok(event.to_serialized())).await.is_err() {
                        return;
                    }
                }
                if after_version == before {
                    return;
                }
            }
        });
        Ok(stream)
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        let (mut feed, stream) = ReplayStream::new(self.channel_size);
        let client = self.client.clone();
        let page_size = self.page_size;
        tokio::spawn(async move {
            let mut after = 0u64;
            loop {
                let query = LogQuery::after(after)
                    .limit(page_size)
                    .aggregate_type(A::TYPE);
                let page = match client.read_log(&query).await {
                    Ok(page) => page,
                    Err(e) => {
                        // 受け手がいなければ伝える先がないので、送信失敗は無視して終わります。
                        let _ = feed.push(Err(to_persistence_error(e))).await;
                        return;
                    }
                };
                let before = after;
                for event in &page.events {
                    if event.position <= after {
                        continue;
                    }
                    after = event.position;
                    if event.aggregate_type != A::TYPE {
                        continue;
                    }
                    if feed.push(Ok(event.to_serialized())).await.is_err() {
                        return;
                    }
                }
                if after == before || after >= page.head {
                    return;
                }
            }
        });
        Ok(stream)
    }
}
