//! `RemoteEventRepository` の上の `AggregateCommands` (と `CqrsFramework`): 本物のイベントストアに
//! HTTP でつなぎます。

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::support::store_client::{GateProxy, Store, added, client_for};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{PersistedEventRepository, PersistedEventStore};
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, DomainEvent, EventStore};
use mediahub_core::envelope::{CORRELATION_ID_KEY, EventMetadata};
use mediahub_core::ids::{CorrelationId, UserId};
use std::time::Duration;

use mediahub_services::store_client::{
    AggregateCommands, COMMIT_TICKET_KEY, CommandError, RemoteEventRepository,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Barrier;

/// テスト用の小さな集約: 足し算をするだけのカウンター。
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Counter {
    total: u64,
    adds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum CounterEvent {
    Added { amount: u64 },
}

impl DomainEvent for CounterEvent {
    fn event_type(&self) -> String {
        "Added".into()
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

enum CounterCommand {
    /// `amount` を足す (0 ならイベントなし)。`rendezvous` なら、集約を読んだ後に
    /// サービスのバリアで相手を待ってから結果を返す (二つのコマンドを確実に競合させる)。
    Add { amount: u64, rendezvous: bool },
    /// それぞれを 1 イベントずつ足す。
    AddEach(Vec<u64>),
    /// 業務ルール違反で拒否される。
    Reject,
    /// 合計がこの値でなければ拒否される (イベントなし)。
    RequireTotal(u64),
    /// 合計がこの値なら何もしない (イベントなし)、違えば 1 を足す。
    AddUnlessTotal(u64),
}

#[derive(Debug, thiserror::Error)]
#[error("拒否されました")]
struct CounterError;

#[derive(Default)]
struct CounterServices {
    barrier: Option<Arc<Barrier>>,
}

impl Aggregate for Counter {
    const TYPE: &'static str = "Counter";
    type Command = CounterCommand;
    type Event = CounterEvent;
    type Error = CounterError;
    type Services = CounterServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        // cqrs-es 0.5.0 の `EventSink::write` は渡された集約にイベントを適用し、スナップショットを
        // 作るときに `PersistedEventStore::commit` が同じイベントをもう一度適用する (二重適用)。
        // コンテキストの集約を変えないよう、写しに書き込む。
        let mut scratch = self.clone();
        match command {
            CounterCommand::Add { amount, rendezvous } => {
                if let (true, Some(barrier)) = (rendezvous, &services.barrier) {
                    barrier.wait().await;
                }
                if amount > 0 {
                    sink.write(CounterEvent::Added { amount }, &mut scratch)
                        .await;
                }
            }
            CounterCommand::AddEach(amounts) => {
                for amount in amounts {
                    sink.write(CounterEvent::Added { amount }, &mut scratch)
                        .await;
                }
            }
            CounterCommand::Reject => return Err(CounterError),
            CounterCommand::RequireTotal(total) if total != self.total => return Err(CounterError),
            CounterCommand::RequireTotal(_) => {}
            CounterCommand::AddUnlessTotal(total) if total == self.total => {}
            CounterCommand::AddUnlessTotal(_) => {
                sink.write(CounterEvent::Added { amount: 1 }, &mut scratch)
                    .await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            CounterEvent::Added { amount } => {
                self.total += amount;
                self.adds += 1;
            }
        }
    }
}

type Commands = AggregateCommands<Counter>;

/// ストアにつないだコマンドの窓口 (一つのサービスインスタンスに当たる) と、そのリポジトリ。
fn framework(store: &Store, services: CounterServices) -> (Commands, RemoteEventRepository) {
    let repo = RemoteEventRepository::new(store.client());
    (Commands::new(repo.clone(), services), repo)
}

async fn load(repo: &RemoteEventRepository, id: &str) -> (u64, u64, usize) {
    let store = PersistedEventStore::<_, Counter>::new_event_store(repo.clone());
    let context = store
        .load_aggregate(id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (
        context.aggregate.total,
        context.aggregate.adds,
        context.current_sequence,
    )
}

fn add(amount: u64) -> CounterCommand {
    CounterCommand::Add {
        amount,
        rendezvous: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_commands_persist_over_http_and_aggregate_reloads_with_total_and_sequence_3() {
    let store = Store::start().await;
    let (commands, repo) = framework(&store, CounterServices::default());
    let correlation = CorrelationId::new_random();
    let user = UserId::new_random();
    let metadata = EventMetadata::correlated(correlation).by_user(user);

    for (amount, version) in [(3, 1), (4, 2), (5, 3)] {
        let outcome = commands
            .execute("c-1", None, || add(amount), &metadata)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcome.version, version);
    }

    assert_eq!(load(&repo, "c-1").await, (12, 3, 3));
    let stored = store
        .client()
        .read_stream("Counter", "c-1", 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stored.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(
        stored.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    for event in &stored {
        assert_eq!(event.event_type, "Added");
        assert_eq!(event.metadata.correlation_id, Some(correlation));
        assert_eq!(event.metadata.user_id, Some(user));
        assert!(
            !event.metadata.extra.contains_key(COMMIT_TICKET_KEY),
            "引換券が保存されてしまった: {:?}",
            event.metadata
        );
    }
    assert_eq!(repo.commit_tracker().outstanding(), 0, "引換券が残っている");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_aggregate_loads_as_default_with_sequence_0() {
    let store = Store::start().await;
    let (_, repo) = framework(&store, CounterServices::default());
    assert_eq!(load(&repo, "nobody").await, (0, 0, 0));
}

/// 同じ集約を同時に読む二つのインスタンス (どちらも初回だけ相手を待つ = 必ず競合する)。
fn two_instances_that_race_once(store: &Store, deadline: Duration) -> (Commands, Commands) {
    let barrier = Arc::new(Barrier::new(2));
    let instance = || {
        Commands::new(
            RemoteEventRepository::new(store.client()),
            CounterServices {
                barrier: Some(Arc::clone(&barrier)),
            },
        )
        .with_conflict_deadline(deadline)
    };
    (instance(), instance())
}

/// 初回だけ相手を待つコマンド。再試行ではもう待たない。
fn add_meeting_once(amount: u64) -> impl FnMut() -> CounterCommand {
    let calls = AtomicU32::new(0);
    move || CounterCommand::Add {
        amount,
        rendezvous: calls.fetch_add(1, Ordering::SeqCst) == 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_on_one_aggregate_with_zero_deadline_give_one_success_and_one_conflict()
 {
    let store = Store::start().await;
    let (one, two) = two_instances_that_race_once(&store, Duration::ZERO);
    let metadata = EventMetadata::default();

    let (a, b) = tokio::join!(
        one.execute("race", None, add_meeting_once(1), &metadata),
        two.execute("race", None, add_meeting_once(2), &metadata),
    );

    let conflicts = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Err(CommandError::Conflict { attempts: 1 })))
        .count();
    let successes = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!((successes, conflicts), (1, 1), "a = {a:?}, b = {b:?}");
    let (total, adds, sequence) = load(&one_repo(&store), "race").await;
    assert_eq!((adds, sequence), (1, 1));
    assert!(total == 1 || total == 2);
}

fn one_repo(store: &Store) -> RemoteEventRepository {
    RemoteEventRepository::new(store.client())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_on_one_aggregate_both_succeed_after_one_reload_and_total_is_sum() {
    let store = Store::start().await;
    let (one, two) = two_instances_that_race_once(&store, Duration::from_secs(10));
    let metadata = EventMetadata::default();

    let (a, b) = tokio::join!(
        one.execute("race", None, add_meeting_once(10), &metadata),
        two.execute("race", None, add_meeting_once(20), &metadata),
    );

    let a = a.unwrap_or_else(|e| panic!("{e}"));
    let b = b.unwrap_or_else(|e| panic!("{e}"));
    let mut attempts = [a.attempts, b.attempts];
    attempts.sort_unstable();
    assert_eq!(attempts, [1, 2], "片方だけが一度衝突して再試行したはず");
    let mut positions = [a.last_position, b.last_position];
    positions.sort_unstable();
    assert_eq!(positions, [Some(1), Some(2)]);
    let mut versions = [a.version, b.version];
    versions.sort_unstable();
    assert_eq!(versions, [1, 2]);
    assert_eq!(load(&one_repo(&store), "race").await, (30, 2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_with_the_same_if_match_give_one_success_and_one_412_without_retry() {
    let store = Store::start().await;
    let (one, two) = two_instances_that_race_once(&store, Duration::from_secs(10));
    let metadata = EventMetadata::default();

    let (a, b) = tokio::join!(
        one.execute("race", Some(0), add_meeting_once(10), &metadata),
        two.execute("race", Some(0), add_meeting_once(20), &metadata),
    );

    let mismatches = [&a, &b]
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(CommandError::VersionMismatch {
                    expected: 0,
                    current: 1
                })
            )
        })
        .count();
    assert_eq!(mismatches, 1, "a = {a:?}, b = {b:?}");
    assert!(a.is_ok() || b.is_ok());
    let (_, adds, sequence) = load(&one_repo(&store), "race").await;
    assert_eq!((adds, sequence), (1, 1), "負けた側は何も書かない");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_commands_in_one_instance_are_serialized_without_a_single_conflict() {
    let store = Store::start().await;
    let (commands, repo) = framework(&store, CounterServices::default());
    let commands = commands.with_conflict_deadline(Duration::ZERO);
    let metadata = EventMetadata::default();

    let results = futures::future::join_all(
        (0..32).map(|_| commands.execute("one", None, || add(1), &metadata)),
    )
    .await;

    let mut versions = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .map(|outcome| {
            assert_eq!(outcome.attempts, 1, "同じインスタンスの中では衝突しない");
            outcome.version
        })
        .collect::<Vec<_>>();
    versions.sort_unstable();
    assert_eq!(versions, (1..=32).collect::<Vec<_>>());
    assert_eq!(load(&repo, "one").await, (32, 32, 32));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_with_the_current_version_runs_and_with_a_stale_version_is_refused_unwritten() {
    let store = Store::start().await;
    let (commands, repo) = framework(&store, CounterServices::default());
    let metadata = EventMetadata::default();

    let first = commands
        .execute("v", Some(0), || add(1), &metadata)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stale = commands.execute("v", Some(0), || add(1), &metadata).await;

    assert_eq!(first.version, 1);
    assert!(
        matches!(
            stale,
            Err(CommandError::VersionMismatch {
                expected: 0,
                current: 1
            })
        ),
        "{stale:?}"
    );
    assert_eq!(load(&repo, "v").await, (1, 1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_outcome_reports_global_position_of_its_last_event_across_aggregates() {
    let store = Store::start().await;
    let (commands, _) = framework(&store, CounterServices::default());
    let metadata = EventMetadata::default();

    let first = commands
        .execute("a", None, || add(1), &metadata)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let batch = commands
        .execute(
            "b",
            None,
            || CounterCommand::AddEach(vec![1, 2, 3]),
            &metadata,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let last = commands
        .execute("a", None, || add(1), &metadata)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(first.last_position, Some(1));
    assert_eq!(batch.last_position, Some(4), "3 件のうち最後の位置");
    assert_eq!(batch.version, 3);
    assert_eq!(last.last_position, Some(5));
    assert_eq!(store.client().head().await.ok(), Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_that_emits_no_event_reports_no_position_and_writes_nothing() {
    let store = Store::start().await;
    let (commands, _) = framework(&store, CounterServices::default());

    let outcome = commands
        .execute("a", None, || add(0), &EventMetadata::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(outcome.last_position, None);
    assert_eq!(outcome.version, 0);
    assert_eq!(outcome.attempts, 1);
    assert_eq!(store.client().head().await.ok(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_command_returns_user_error_without_retry_and_writes_nothing() {
    let store = Store::start().await;
    let (commands, _) = framework(&store, CounterServices::default());
    let calls = AtomicU32::new(0);

    let result = commands
        .execute(
            "a",
            None,
            || {
                calls.fetch_add(1, Ordering::SeqCst);
                CounterCommand::Reject
            },
            &EventMetadata::default(),
        )
        .await;

    assert!(matches!(result, Err(CommandError::Rule(CounterError))));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(store.client().head().await.ok(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_store_every_2_events_stores_snapshot_at_4_and_reloads_total_of_5_commands() {
    let store = Store::start().await;
    let repo = RemoteEventRepository::new(store.client());
    let cqrs = CqrsFramework::new(
        PersistedEventStore::<_, Counter>::new_snapshot_store(repo.clone(), 2),
        vec![],
        CounterServices::default(),
    );
    for amount in 1..=5 {
        cqrs.execute("s", add(amount))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    let snapshot = store
        .client()
        .snapshot("Counter", "s")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("スナップショットがない"));
    assert_eq!(
        (snapshot.current_sequence, snapshot.current_snapshot),
        (4, 2)
    );
    assert_eq!(snapshot.aggregate["total"], 10);

    let reload = PersistedEventStore::<_, Counter>::new_snapshot_store(repo.clone(), 2);
    let context = reload
        .load_aggregate("s")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (
            context.aggregate.total,
            context.current_sequence,
            context.current_snapshot
        ),
        (15, 5, Some(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_store_snapshots_every_commit_and_reloads_from_snapshot_only() {
    let store = Store::start().await;
    let repo = RemoteEventRepository::new(store.client());
    let cqrs = CqrsFramework::new(
        PersistedEventStore::<_, Counter>::new_aggregate_store(repo.clone()),
        vec![],
        CounterServices::default(),
    );
    for amount in [2, 3, 4] {
        cqrs.execute("g", add(amount))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    let snapshot = repo
        .get_snapshot::<Counter>("g")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("スナップショットがない"));
    assert_eq!(
        (snapshot.current_sequence, snapshot.current_snapshot),
        (3, 3)
    );
    let context = PersistedEventStore::<_, Counter>::new_aggregate_store(repo)
        .load_aggregate("g")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((context.aggregate.total, context.current_sequence), (9, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_commits_with_snapshots_give_exactly_one_aggregate_conflict() {
    let store = Store::start().await;
    let repo = RemoteEventRepository::new(store.client());
    // 二つのフレームワークが同じ集約を同時に読み、両方がスナップショットを書こうとする。
    let barrier = Arc::new(Barrier::new(2));
    let make = || {
        CqrsFramework::new(
            PersistedEventStore::<_, Counter>::new_aggregate_store(repo.clone()),
            vec![],
            CounterServices {
                barrier: Some(Arc::clone(&barrier)),
            },
        )
    };
    let (one, two) = (make(), make());
    let command = || CounterCommand::Add {
        amount: 1,
        rendezvous: true,
    };
    let (a, b) = tokio::join!(
        one.execute_with_metadata("x", command(), Default::default()),
        two.execute_with_metadata("x", command(), Default::default()),
    );
    let conflicts = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Err(AggregateError::AggregateConflict)))
        .count();
    assert_eq!(conflicts, 1, "a = {a:?}, b = {b:?}");
    assert!(a.is_ok() || b.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_events_and_stream_all_events_replay_only_counter_events_in_order() {
    let store = Store::start().await;
    let (commands, repo) = framework(&store, CounterServices::default());
    let metadata = EventMetadata::correlated(CorrelationId::new_random());
    for (id, amount) in [("p", 1), ("q", 2), ("p", 3)] {
        commands
            .execute(id, None, || add(amount), &metadata)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // 別の型のイベントは Counter の全件ストリームに出てこない。
    store
        .client()
        .append("Other", "o", 0, &[added(100)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let mut one = repo
        .stream_events::<Counter>("p")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut seen = Vec::new();
    while let Some(event) = one.next::<Counter>(&[]).await {
        let event = event.unwrap_or_else(|e| panic!("{e}"));
        assert!(event.metadata.contains_key(CORRELATION_ID_KEY));
        seen.push((event.aggregate_id, event.sequence, event.payload));
    }
    assert_eq!(
        seen,
        vec![
            ("p".into(), 1, CounterEvent::Added { amount: 1 }),
            ("p".into(), 2, CounterEvent::Added { amount: 3 }),
        ]
    );

    let mut all = repo
        .stream_all_events::<Counter>()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut seen = Vec::new();
    while let Some(event) = all.next::<Counter>(&[]).await {
        let event = event.unwrap_or_else(|e| panic!("{e}"));
        seen.push((event.aggregate_id, event.sequence));
    }
    assert_eq!(
        seen,
        vec![("p".into(), 1), ("q".into(), 1), ("p".into(), 2)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_while_store_is_down_fail_with_store_unavailable() {
    // 接続を受け付けてすぐ切る中継 = 落ちているストア。
    let down = GateProxy::spawn().await;
    let commands = Commands::new(
        RemoteEventRepository::new(client_for(&down.url)),
        CounterServices::default(),
    );

    let result = commands
        .execute("a", None, || add(1), &EventMetadata::default())
        .await;

    assert!(
        matches!(result, Err(CommandError::StoreUnavailable(_))),
        "{result:?}"
    );
}

async fn add_to(
    commands: &Commands,
    id: &str,
    amount: u64,
    metadata: &EventMetadata,
) -> mediahub_services::store_client::CommandOutcome {
    commands
        .execute(id, None, || add(amount), metadata)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_reuses_state_after_its_commit_and_reloads_once_when_another_instance_wrote() {
    let store = Store::start().await;
    let (one, _) = framework(&store, CounterServices::default());
    let (two, _) = framework(&store, CounterServices::default());
    let metadata = EventMetadata::default();
    let first = add_to(&one, "cached", 1, &metadata).await;
    let second = add_to(&one, "cached", 1, &metadata).await;
    let other = add_to(&two, "cached", 5, &metadata).await;
    let stale = add_to(&one, "cached", 1, &metadata).await;

    assert_eq!((first.version, second.version, second.attempts), (1, 2, 1));
    assert_eq!(other.version, 3);
    assert_eq!(
        (stale.version, stale.attempts),
        (4, 2),
        "覚えた版 2 での追記は衝突し、読み直して 1 回だけやり直す"
    );
    assert_eq!(load(&one_repo(&store), "cached").await, (8, 4, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_refusal_and_if_match_from_remembered_state_are_rechecked_against_the_store() {
    let store = Store::start().await;
    let (one, _) = framework(&store, CounterServices::default());
    let (two, _) = framework(&store, CounterServices::default());
    let metadata = EventMetadata::default();
    one.execute("re", None, || add(1), &metadata)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    two.execute("re", None, || add(1), &metadata)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // one が覚えている合計は 1 (版 1)。ストアでは合計 2 (版 2)。
    let rule = one
        .execute("re", None, || CounterCommand::RequireTotal(2), &metadata)
        .await;
    two.execute("re", None, || add(1), &metadata)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let if_match = one.execute("re", Some(3), || add(1), &metadata).await;

    assert!(
        rule.is_ok(),
        "覚えた合計 1 ではなく、読み直した合計 2 で確かめる: {rule:?}"
    );
    assert_eq!(
        if_match.map(|outcome| outcome.version).ok(),
        Some(4),
        "覚えた版 2 ではなく、読み直した版 3 と If-Match を比べる"
    );
    assert_eq!(load(&one_repo(&store), "re").await, (4, 4, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_op_decided_from_remembered_state_is_rechecked_and_adds_when_another_instance_moved_on()
{
    let store = Store::start().await;
    let (one, _) = framework(&store, CounterServices::default());
    let (two, _) = framework(&store, CounterServices::default());
    let metadata = EventMetadata::default();
    add_to(&one, "noop", 2, &metadata).await;
    add_to(&two, "noop", 1, &metadata).await;

    // one が覚えている合計は 2 なので「何もしない」と決めかけるが、ストアの合計は 3。
    let outcome = one
        .execute(
            "noop",
            None,
            || CounterCommand::AddUnlessTotal(2),
            &metadata,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        outcome.version, 3,
        "読み直した合計 3 で決め直し、1 を足して版 3 になる (入力を黙って落とさない)"
    );
    assert_eq!(load(&one_repo(&store), "noop").await, (4, 3, 3));
}
