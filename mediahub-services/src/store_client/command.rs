//! コマンドを版の衝突時に限られた回数だけ再試行して実行し、コミット位置を返す補助。

use std::time::Duration;

use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventStore};
use mediahub_core::envelope::EventMetadata;
use uuid::Uuid;

use super::tracker::{COMMIT_TICKET_KEY, CommitTracker};

/// コマンド実行の結果。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandOutcome {
    /// このコマンドで最後にコミットされたイベントのグローバル位置。
    ///
    /// コマンドがイベントを出さなかった (冪等な再実行など) ときは `None`。そのときの
    /// read-your-writes には、ログの先頭位置 ([`EventStoreClient::head`](super::EventStoreClient::head))
    /// を返せば十分です (先頭は以前のイベントをすべて含むため)。
    pub last_position: Option<u64>,
    /// 実行した回数 (1 なら衝突なし)。
    pub attempts: u32,
}

/// 衝突後の再試行までの待ち時間: `[0, min(1ms × 2^(attempt-1), 50ms))` の一様乱数。
///
/// 同じ集約を多数が同時に更新するとき、全員が同時に読み直して再び衝突するのを避けます。
fn conflict_backoff(attempt: u32) -> Duration {
    let cap_micros = 1_000u64
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u64::MAX)
        .min(50_000);
    let random = Uuid::new_v4().as_u128() as u64;
    Duration::from_micros(random % cap_micros.max(1))
}

/// コマンドを実行し、版の衝突 (`AggregateError::AggregateConflict`) なら最大 `max_attempts` 回まで
/// 集約を読み直して再実行します。
///
/// - `make_command` は試行ごとに呼ばれ、その回のコマンドを返します (コマンドが `Clone` でなくても
///   使えるように)。
/// - `tracker` は `cqrs` の裏にある [`RemoteEventRepository`](super::RemoteEventRepository) の
///   [`commit_tracker`](super::RemoteEventRepository::commit_tracker) を渡します。
///   これにより [`CommandOutcome::last_position`] が埋まります (別のストアでは `None` のまま)。
/// - `metadata` はすべてのイベントに付くメタデータです。引換券 ([`COMMIT_TICKET_KEY`]) が
///   加わりますが、保存前にリポジトリが取り除きます (`cqrs-es` のクエリには見えます)。
///
/// `max_attempts` が 0 なら 1 とみなします。
///
/// # エラー
/// 衝突が `max_attempts` 回続けば `AggregateError::AggregateConflict`。業務ルール違反
/// (`UserError`) や通信の失敗など衝突以外のエラーは、再試行せずにそのまま返します。
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use cqrs_es::CqrsFramework;
/// use cqrs_es::doc::{MyAggregate, MyCommands, MyService};
/// use cqrs_es::persist::PersistedEventStore;
/// use mediahub_core::envelope::EventMetadata;
/// use mediahub_services::store_client::{
///     EventStoreClient, RemoteEventRepository, StaticToken, execute_with_retry,
/// };
///
/// let client = EventStoreClient::new("http://127.0.0.1:8084", StaticToken("token".into()))?;
/// let repo = RemoteEventRepository::new(client);
/// let tracker = repo.commit_tracker(); // PersistedEventStore に渡す前に取り出す
/// let store = PersistedEventStore::<_, MyAggregate>::new_event_store(repo);
/// let cqrs = CqrsFramework::new(store, vec![], MyService);
/// let metadata = EventMetadata::default();
/// let outcome =
///     execute_with_retry(&cqrs, &tracker, "id-1", || MyCommands::DoSomething, &metadata, 3)
///         .await?;
/// println!("position = {:?}", outcome.last_position);
/// # Ok(()) }
/// ```
pub async fn execute_with_retry<A, ES, F>(
    cqrs: &CqrsFramework<A, ES>,
    tracker: &CommitTracker,
    aggregate_id: &str,
    mut make_command: F,
    metadata: &EventMetadata,
    max_attempts: u32,
) -> Result<CommandOutcome, AggregateError<A::Error>>
where
    A: Aggregate,
    ES: EventStore<A>,
    F: FnMut() -> A::Command,
{
    let max_attempts = max_attempts.max(1);
    let ticket = tracker.ticket();
    let mut map = metadata.to_map();
    map.insert(COMMIT_TICKET_KEY.to_owned(), ticket.value());
    let mut attempt = 1;
    loop {
        match cqrs
            .execute_with_metadata(aggregate_id, make_command(), map.clone())
            .await
        {
            Ok(()) => {
                return Ok(CommandOutcome {
                    last_position: ticket.position(),
                    attempts: attempt,
                });
            }
            Err(AggregateError::AggregateConflict) if attempt < max_attempts => {
                let delay = conflict_backoff(attempt);
                tracing::debug!(
                    aggregate_type = A::TYPE,
                    aggregate_id,
                    attempt,
                    ?delay,
                    "版が衝突したので集約を読み直して再実行します"
                );
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_backoff_stays_below_growing_cap_of_at_most_50ms() {
        for attempt in 1..40 {
            let cap = Duration::from_micros(
                (1_000u64.checked_shl(attempt - 1).unwrap_or(u64::MAX)).min(50_000),
            );
            assert!(conflict_backoff(attempt) < cap);
        }
    }
}
