//! コマンド側の共通部品: 集約へのコマンドを中央のイベントストアの上で実行する
//! [`AggregateCommands`] と、その失敗を problem+json にする [`CommandError::to_problem`]。
//!
//! 楽観的同時実行制御 (docs/concurrency.md) の三つの約束をここで守ります。
//!
//! 1. `If-Match` (期待する版) があれば、その版でだけ実行します。違えば
//!    [`CommandError::VersionMismatch`] (HTTP 412、現在の版つき) で、何も書きません。
//! 2. 期待する版が無ければ「最新の状態に適用」です。同じインスタンスの中では同じ集約への
//!    コマンドを一つずつ実行するので、自分同士では衝突しません。
//! 3. 別のインスタンスとの衝突は、集約を読み直して期限 ([`DEFAULT_CONFLICT_DEADLINE`]) まで
//!    再試行します。`503` にはしません。

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore};
use cqrs_es::{Aggregate, AggregateError, EventEnvelope, EventStore};
use mediahub_core::envelope::EventMetadata;
use mediahub_core::error::{DomainError, ErrorKind};
use poem::http::StatusCode;
use uuid::Uuid;

use super::repository::RemoteEventRepository;
use super::tracker::{COMMIT_TICKET_KEY, CommitTracker};
use crate::platform::problem::{Problem, codes};

/// 別のインスタンスとの版の衝突を再試行し続ける既定の期限。
pub const DEFAULT_CONFLICT_DEADLINE: Duration = Duration::from_secs(10);

/// 同じインスタンスの中で同じ集約へのコマンドを直列にする鍵を、いくつまで覚えておくか
/// (超えたら使われていない鍵を捨てます)。
const LOCKS_TO_KEEP: usize = 1024;
/// 覚えておく集約の数の上限 (超えたら一度すべて忘れます)。
const CACHED_AGGREGATES: usize = 10_000;

/// コマンド実行の結果。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandOutcome {
    /// このコマンドで最後にコミットされたイベントのグローバル位置。
    ///
    /// コマンドがイベントを出さなかった (冪等な再実行など) ときは `None`。そのときの
    /// read-your-writes には、ログの先頭位置 ([`EventStoreClient::head`](super::EventStoreClient::head))
    /// を返せば十分です (先頭は以前のイベントをすべて含むため)。
    pub last_position: Option<u64>,
    /// 実行後の集約の版 (ストリームのイベント数)。次の `If-Match` に使えます。
    pub version: u64,
    /// 実行した回数 (1 なら衝突なし)。
    pub attempts: u32,
}

impl CommandOutcome {
    /// 応答の `position` (イベントを出さなかったら 0)。
    #[must_use]
    pub fn position(&self) -> u64 {
        self.last_position.unwrap_or(0)
    }
}

/// コマンド実行の失敗。
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    /// 集約が業務ルールによりコマンドを拒んだ (4xx。再試行しても同じ)。
    #[error(transparent)]
    Rule(E),
    /// `If-Match` の版が集約の現在の版と違う (412)。何も書いていません。
    #[error("集約の版が {current} で、If-Match の {expected} と一致しません")]
    VersionMismatch {
        /// 要求が期待した版。
        expected: u64,
        /// 集約の現在の版。
        current: u64,
    },
    /// 別のインスタンスとの版の衝突が期限まで続いた (409 `conflict`)。
    #[error("別のインスタンスによる同じ集約への更新が {attempts} 回続き、期限を過ぎました")]
    Conflict {
        /// 試した回数。
        attempts: u32,
    },
    /// イベントストアに届かない (503 `store_unavailable`)。再試行すれば通る見込みがあります。
    #[error("イベントストアに届きません: {0}")]
    StoreUnavailable(String),
    /// 保存されたイベントが読めないなど、想定外の失敗 (500)。
    #[error("コマンドの実行に失敗しました: {0}")]
    Unexpected(String),
}

impl<E: std::error::Error> From<AggregateError<E>> for CommandError<E> {
    fn from(err: AggregateError<E>) -> Self {
        match err {
            AggregateError::UserError(rule) => Self::Rule(rule),
            AggregateError::AggregateConflict => Self::Conflict { attempts: 1 },
            AggregateError::DatabaseConnectionError(source) => {
                Self::StoreUnavailable(source.to_string())
            }
            AggregateError::DeserializationError(source)
            | AggregateError::UnexpectedError(source) => Self::Unexpected(source.to_string()),
        }
    }
}

impl<E: std::error::Error> CommandError<E> {
    /// problem+json にします。業務ルール違反は `rule` で写し、それ以外はすべてのサービスで
    /// 同じ形です: 412 `precondition_failed` (本体に `expected_version` と `current_version`)、
    /// 409 `conflict`、503 `store_unavailable`、500 `internal.error`。
    #[must_use]
    pub fn to_problem(&self, rule: impl FnOnce(&E) -> Problem) -> Problem {
        match self {
            Self::Rule(err) => rule(err),
            Self::VersionMismatch { expected, current } => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                codes::PRECONDITION_FAILED,
                format!(
                    "版が {current} に進んでいるため、If-Match: \"{expected}\" のコマンドは実行しませんでした。\
                     読み直してから送り直してください"
                ),
            )
            .with_extension("expected_version", *expected)
            .with_extension("current_version", *current),
            Self::Conflict { .. } => Problem::conflict(
                codes::CONFLICT,
                "同じ集約が別のインスタンスで更新され続けました。読み直してから送り直してください",
            ),
            Self::StoreUnavailable(source) => {
                tracing::warn!(error = %source, "イベントストアに届きません");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::STORE_UNAVAILABLE,
                    "イベントストアに届きません。時間をおいて再試行してください",
                )
            }
            Self::Unexpected(_) => Problem::internal("command", self),
        }
    }
}

impl<E: DomainError> CommandError<E> {
    /// [`domain_problem`] で業務ルール違反を写して problem+json にします。
    #[must_use]
    pub fn problem(&self) -> Problem {
        self.to_problem(domain_problem)
    }
}

/// 業務ルール違反を、その分類 ([`ErrorKind`]) の状態コードとそのエラーの `code` で
/// problem+json にします (NotFound 404、Conflict 409、Invalid 400、TooLarge 413、
/// UnsupportedMediaType 415)。
#[must_use]
pub fn domain_problem<E: DomainError>(err: &E) -> Problem {
    let status = match err.kind() {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
    };
    Problem::new(status, err.code(), err.to_string())
}

/// コマンドの前の状態 `before` にイベントを順に適用した状態 (JSON)。読めなければ `None`。
fn state_after<A: Aggregate>(
    before: serde_json::Value,
    events: &[A::Event],
) -> Option<serde_json::Value> {
    let mut aggregate: A = serde_json::from_value(before).ok()?;
    for event in events {
        aggregate.apply(event.clone());
    }
    serde_json::to_value(&aggregate).ok()
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

/// 集約 ID ごとの鍵 (このインスタンスの中で同じ集約へのコマンドを一つずつにする)。
#[derive(Debug, Default)]
struct AggregateLocks(Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>);

impl AggregateLocks {
    /// 集約 ID の鍵 (誰も使っていなければ新しく作る)。
    fn lock_for(&self, aggregate_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(lock) = locks.get(aggregate_id).and_then(Weak::upgrade) {
            return lock;
        }
        if locks.len() >= LOCKS_TO_KEEP {
            locks.retain(|_, lock| lock.strong_count() > 0);
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(aggregate_id.to_owned(), Arc::downgrade(&lock));
        lock
    }
}

/// コミットした後の集約の状態と版 (次のコマンドをイベントストアから読み直さずに始めるため)。
///
/// 別のインスタンスが同じ集約に書いていれば、覚えた版での追記は版の衝突になるので、そのときだけ
/// 読み直します (追記の版の検査がある限り、古い状態で書いてしまうことはありません)。
#[derive(Debug, Default)]
struct AggregateCache(Mutex<HashMap<String, (serde_json::Value, u64)>>);

impl AggregateCache {
    /// 覚えている状態から文脈を作ります (無い・読めないなら `None`)。
    fn context<A: Aggregate>(&self, aggregate_id: &str) -> Option<EventStoreAggregateContext<A>> {
        let cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (state, version) = cache.get(aggregate_id)?;
        let aggregate = serde_json::from_value(state.clone()).ok()?;
        Some(EventStoreAggregateContext {
            aggregate_id: aggregate_id.to_owned(),
            aggregate,
            current_sequence: usize::try_from(*version).ok()?,
            current_snapshot: None,
        })
    }

    /// コミットした後の状態と版を覚えます。
    fn remember(&self, aggregate_id: &str, state: serde_json::Value, version: u64) {
        let mut cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHED_AGGREGATES && !cache.contains_key(aggregate_id) {
            cache.clear();
        }
        cache.insert(aggregate_id.to_owned(), (state, version));
    }

    /// 忘れます (次は読み直します)。
    fn forget(&self, aggregate_id: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(aggregate_id);
    }
}

/// 一つの集約型へのコマンドの窓口 (すべてのコマンドサービスが使う形)。
///
/// `cqrs-es` の `CqrsFramework::execute` と同じ手順 (読み込み → `handle` → コミット) を、
/// 期待する版・集約ごとの直列化・期限つきの衝突の再試行・コミット位置の受け取りを足して
/// 行います。コミットした後の状態は覚えておき、同じ集約への次のコマンドは読み込みを省きます
/// (覚えた版で追記するので、別のインスタンスが先に書いていれば版の衝突になり、読み直して
/// やり直します。業務ルール違反と 412 は、答える前に必ず読み直した状態で確かめます)。
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use cqrs_es::doc::{MyAggregate, MyCommands, MyService};
/// use mediahub_core::envelope::EventMetadata;
/// use mediahub_services::store_client::{
///     AggregateCommands, EventStoreClient, RemoteEventRepository, StaticToken,
/// };
///
/// let client = EventStoreClient::new("http://127.0.0.1:8084", StaticToken("token".into()))?;
/// let commands = AggregateCommands::<MyAggregate>::new(RemoteEventRepository::new(client), MyService);
/// let metadata = EventMetadata::default();
/// // If-Match: "3" のコマンド (版が 3 でなければ CommandError::VersionMismatch)
/// let outcome = commands
///     .execute("id-1", Some(3), || MyCommands::DoSomething, &metadata)
///     .await?;
/// println!("position = {}, version = {}", outcome.position(), outcome.version);
/// # Ok(()) }
/// ```
pub struct AggregateCommands<A: Aggregate> {
    store: PersistedEventStore<RemoteEventRepository, A>,
    services: A::Services,
    tracker: CommitTracker,
    locks: AggregateLocks,
    cache: AggregateCache,
    conflict_deadline: Duration,
}

impl<A: Aggregate> std::fmt::Debug for AggregateCommands<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateCommands")
            .field("aggregate_type", &A::TYPE)
            .field("conflict_deadline", &self.conflict_deadline)
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate> AggregateCommands<A> {
    /// リポジトリと集約のサービス (`Aggregate::Services`) から作ります。
    #[must_use]
    pub fn new(repo: RemoteEventRepository, services: A::Services) -> Self {
        let tracker = repo.commit_tracker();
        Self {
            store: PersistedEventStore::new_event_store(repo),
            services,
            tracker,
            locks: AggregateLocks::default(),
            cache: AggregateCache::default(),
            conflict_deadline: DEFAULT_CONFLICT_DEADLINE,
        }
    }

    /// 別のインスタンスとの衝突を再試行し続ける期限を変えます。
    #[must_use]
    pub fn with_conflict_deadline(mut self, deadline: Duration) -> Self {
        self.conflict_deadline = deadline;
        self
    }

    /// コマンドを実行します。
    ///
    /// - `expected_version` が `Some(v)` なら、集約の版が `v` のときだけ実行します (`If-Match`)。
    ///   版を比べるのは業務ルール (所有者の確認を含む) を通った後なので、拒まれるコマンドは
    ///   版に関係なくルールの答えになります。
    /// - `make_command` は試行ごとに呼ばれ、その回のコマンドを返します (コマンドが `Clone` で
    ///   なくても使えるように)。
    /// - `metadata` はすべてのイベントに付きます。コミット位置を受け取るための引換券
    ///   ([`COMMIT_TICKET_KEY`]) は保存前にリポジトリが取り除きます。
    ///
    /// # エラー
    /// [`CommandError`] の各場合。衝突は期限まで読み直して再実行するので、
    /// [`CommandError::Conflict`] は期限を過ぎたときだけです。
    pub async fn execute<F>(
        &self,
        aggregate_id: &str,
        expected_version: Option<u64>,
        mut make_command: F,
        metadata: &EventMetadata,
    ) -> Result<CommandOutcome, CommandError<A::Error>>
    where
        F: FnMut() -> A::Command,
    {
        let lock = self.locks.lock_for(aggregate_id);
        let _serialized = lock.lock().await;
        let deadline = Instant::now() + self.conflict_deadline;
        let ticket = self.tracker.ticket();
        let mut map = metadata.to_map();
        map.insert(COMMIT_TICKET_KEY.to_owned(), ticket.value());
        let mut attempt = 1;
        let mut use_cache = true;
        loop {
            let cached = if use_cache {
                self.cache.context::<A>(aggregate_id)
            } else {
                None
            };
            let from_cache = cached.is_some();
            let mut context = match cached {
                Some(context) => context,
                None => self.store.load_aggregate(aggregate_id).await?,
            };
            let current = context.current_sequence as u64;
            // 業務ルール (所有者の確認を含む) を版より先に確かめる。他人の集約に If-Match を
            // 付けても 412 と版ではなくルールの答え (404 など) になり、存在も版も漏れない。
            // 覚える状態は、コマンドの前の状態にこの回のイベントを適用したもの (読み直したときと同じ)。
            // `handle` が集約そのものに書くか写しに書くかに左右されません。
            let before = serde_json::to_value(&context.aggregate).ok();
            let sink = EventSink::default();
            let handled = context
                .aggregate
                .handle(make_command(), &self.services, &sink)
                .await;
            let mismatch = expected_version.filter(|v| *v != current);
            if from_cache && (handled.is_err() || mismatch.is_some()) {
                // 覚えた状態が古いかもしれないので、断る前に読み直して確かめます。
                self.cache.forget(aggregate_id);
                use_cache = false;
                continue;
            }
            handled.map_err(CommandError::Rule)?;
            if let Some(expected) = mismatch {
                return Err(CommandError::VersionMismatch { expected, current });
            }
            let events = sink.collect().await;
            if from_cache && events.is_empty() {
                // 「何もしなくてよい」も、覚えた状態が古い (ほかのレプリカが先に書いた) せいかも
                // しれません。空のコミットはイベントストアに届かず版の確認も起きないので、
                // 読み直して確かめます (確かめないと、入力を黙って落とすことになります)。
                self.cache.forget(aggregate_id);
                use_cache = false;
                continue;
            }
            let written = events.len() as u64;
            let state = before.and_then(|before| state_after::<A>(before, &events));
            match self.store.commit(events, context, map.clone()).await {
                Ok(_) => {
                    let version = current + written;
                    match state {
                        Some(state) => self.cache.remember(aggregate_id, state, version),
                        None => self.cache.forget(aggregate_id),
                    }
                    return Ok(CommandOutcome {
                        last_position: ticket.position(),
                        version,
                        attempts: attempt,
                    });
                }
                Err(AggregateError::AggregateConflict) if Instant::now() < deadline => {
                    // 読み直してやり直します (If-Match つきなら、読み直すと版が違うので 412)。
                    self.cache.forget(aggregate_id);
                    use_cache = false;
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
                Err(AggregateError::AggregateConflict) => {
                    self.cache.forget(aggregate_id);
                    return Err(CommandError::Conflict { attempts: attempt });
                }
                Err(err) => {
                    self.cache.forget(aggregate_id);
                    return Err(err.into());
                }
            }
        }
    }

    /// 集約のイベントをすべて読みます (コマンドを出さずに状態を組み立てるとき)。
    ///
    /// # エラー
    /// イベントストアに届かない、またはイベントが読めなければ [`CommandError`]。
    pub async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, CommandError<A::Error>> {
        Ok(self.store.load_events(aggregate_id).await?)
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

    #[tokio::test]
    async fn same_aggregate_id_shares_one_lock_and_other_ids_do_not_wait() {
        let locks = AggregateLocks::default();
        let first = locks.lock_for("a");
        let _held = first.lock().await;
        assert!(locks.lock_for("a").try_lock().is_err());
        assert!(locks.lock_for("b").try_lock().is_ok());
    }

    #[test]
    fn unused_locks_are_dropped_once_more_than_the_limit_are_remembered() {
        let locks = AggregateLocks::default();
        for i in 0..=LOCKS_TO_KEEP {
            drop(locks.lock_for(&i.to_string()));
        }
        let remembered = locks.0.lock().unwrap_or_else(PoisonError::into_inner).len();
        assert!(remembered <= 1, "remembered {remembered} locks");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("rule")]
    struct Rule;

    #[test]
    fn version_mismatch_is_412_with_expected_and_current_versions() {
        let problem = CommandError::<Rule>::VersionMismatch {
            expected: 3,
            current: 5,
        }
        .to_problem(|_| Problem::bad_request("x", "y"));
        assert_eq!(problem.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(problem.code(), codes::PRECONDITION_FAILED);
        assert_eq!(problem.extension("expected_version"), Some(&3.into()));
        assert_eq!(problem.extension("current_version"), Some(&5.into()));
    }

    #[test]
    fn conflict_past_deadline_is_409_and_store_outage_is_503_never_both_503() {
        let conflict =
            CommandError::<Rule>::Conflict { attempts: 9 }.to_problem(|_| unreachable!());
        assert_eq!(conflict.status(), StatusCode::CONFLICT);
        assert_eq!(conflict.code(), codes::CONFLICT);
        let outage = CommandError::<Rule>::from(AggregateError::DatabaseConnectionError(Box::new(
            std::io::Error::other("refused"),
        )))
        .to_problem(|_| unreachable!());
        assert_eq!(outage.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(outage.code(), codes::STORE_UNAVAILABLE);
    }
}
