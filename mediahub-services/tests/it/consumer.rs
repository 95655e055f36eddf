//! 購読ランナー: 本物のイベントストア (HTTP、ポート 0) と一時ディレクトリの SQLite で確かめます。

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::support::store_client::{
    Appender, GateProxy, Store, added, counting_client, wait_until,
};
use mediahub_core::envelope::Envelope;
use mediahub_services::consumer::{
    Consumer, ConsumerConfig, ConsumerError, EventFilter, EventHandler, HandlerError,
    RebuildProgress, WaitError, open_database, wait_for_position,
};
use mediahub_services::platform::server::Shutdown;
use mediahub_services::store_client::{EventStoreClient, RetryPolicy};
use sqlx::{SqliteConnection, SqlitePool};
use tempfile::TempDir;
use tokio::sync::Notify;

/// 十分に長い期限 (条件を待つときの上限。通常はずっと早く満たされる)。
const DEADLINE: Duration = Duration::from_secs(20);

/// テスト用のプロジェクション: 届いたイベントを `applied` に 1 行ずつ足し、`totals` に集計します。
/// `applied` には一意制約がないので、二重に反映されれば行が増えて分かります。
struct Ledger {
    filter: EventFilter,
    /// この位置のイベントを書いた後、(一度だけ) 永遠に止まる。
    hang_at: Option<u64>,
    hung: Arc<Notify>,
    /// この位置のイベントを書いた後、残り回数だけ失敗する。
    fail_at: Option<u64>,
    failures_left: AtomicU32,
    failures_seen: Arc<AtomicU32>,
}

impl Ledger {
    fn new() -> Self {
        Self {
            filter: EventFilter::all(),
            hang_at: None,
            hung: Arc::new(Notify::new()),
            fail_at: None,
            failures_left: AtomicU32::new(0),
            failures_seen: Arc::new(AtomicU32::new(0)),
        }
    }
}

impl EventHandler for Ledger {
    async fn handle(
        &self,
        tx: &mut SqliteConnection,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        let amount = event.data["amount"].as_i64().unwrap_or(0);
        let position = i64::try_from(event.position).map_err(HandlerError::other)?;
        sqlx::query(
            "INSERT INTO applied (position, event_id, aggregate_type, aggregate_id, amount)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(position)
        .bind(event.id.to_string())
        .bind(&event.aggregate_type)
        .bind(&event.aggregate_id)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO totals (aggregate_id, total) VALUES (?, ?)
             ON CONFLICT (aggregate_id) DO UPDATE SET total = total + excluded.total",
        )
        .bind(&event.aggregate_id)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
        if self.hang_at == Some(event.position) {
            self.hung.notify_one();
            std::future::pending::<()>().await;
        }
        if self.fail_at == Some(event.position)
            && self
                .failures_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            self.failures_seen.fetch_add(1, Ordering::SeqCst);
            return Err(HandlerError::other(std::io::Error::other("注入した失敗")));
        }
        Ok(())
    }

    async fn reset(&self, tx: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query("DELETE FROM applied").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM totals").execute(&mut *tx).await?;
        Ok(())
    }

    fn filter(&self) -> EventFilter {
        self.filter.clone()
    }
}

fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("ledger.db")
}

async fn open_pool(path: &Path) -> SqlitePool {
    let pool = open_database(path).await.unwrap_or_else(|e| panic!("{e}"));
    for sql in [
        "CREATE TABLE IF NOT EXISTS applied (
            position INTEGER NOT NULL, event_id TEXT NOT NULL, aggregate_type TEXT NOT NULL,
            aggregate_id TEXT NOT NULL, amount INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS totals (aggregate_id TEXT PRIMARY KEY, total INTEGER NOT NULL)",
    ] {
        sqlx::query(sql)
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    pool
}

fn fast_config() -> ConsumerConfig {
    ConsumerConfig {
        page_size: 7,
        long_poll: Duration::from_secs(10),
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(100),
    }
}

async fn open_consumer(
    dir: &TempDir,
    client: EventStoreClient,
    ledger: Ledger,
    config: ConsumerConfig,
) -> Consumer<Ledger> {
    let pool = open_pool(&db_path(dir)).await;
    Consumer::open("ledger", pool, client, ledger, config)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn until(shutdown: &Shutdown) -> impl Future<Output = ()> + Send + 'static {
    let shutdown = shutdown.clone();
    async move { shutdown.wait().await }
}

async fn reach(consumer: &Consumer<Ledger>, position: u64) {
    wait_for_position(consumer.subscribe(), position, DEADLINE)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// `applied` の位置 (昇順、重複もそのまま)。
async fn applied_positions(pool: &SqlitePool) -> Vec<u64> {
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT position FROM applied ORDER BY position")
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    rows.into_iter()
        .map(|(p,)| u64::try_from(p).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

type ReadModel = (Vec<(i64, String, String, String, i64)>, Vec<(String, i64)>);

async fn read_model(pool: &SqlitePool) -> ReadModel {
    let applied = sqlx::query_as(
        "SELECT position, event_id, aggregate_type, aggregate_id, amount FROM applied
         ORDER BY position",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let totals = sqlx::query_as("SELECT aggregate_id, total FROM totals ORDER BY aggregate_id")
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (applied, totals)
}

async fn stored_checkpoint(pool: &SqlitePool) -> i64 {
    let (position,): (i64,) =
        sqlx::query_as("SELECT position FROM checkpoints WHERE consumer = 'ledger'")
            .fetch_one(pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    position
}

async fn append_counter_events(appender: &mut Appender, amounts: std::ops::RangeInclusive<u64>) {
    for amount in amounts {
        let id = format!("c{}", amount % 3);
        appender.add("Counter", &id, amount).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_projects_20_existing_and_5_live_events_once_each_and_checkpoint_equals_head() {
    let store = Store::start().await;
    let mut appender = Appender::new(store.client());
    append_counter_events(&mut appender, 1..=20).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let consumer = open_consumer(&dir, store.client(), Ledger::new(), fast_config()).await;
    let shutdown = Shutdown::new();
    let task = consumer.spawn(until(&shutdown));

    reach(&consumer, 20).await;
    append_counter_events(&mut appender, 21..=25).await;
    reach(&consumer, 25).await;

    assert_eq!(
        applied_positions(consumer.pool()).await,
        (1..=25).collect::<Vec<_>>()
    );
    assert_eq!(stored_checkpoint(consumer.pool()).await, 25);
    assert_eq!(store.client().head().await.ok(), Some(consumer.position()));
    let (_, totals) = read_model(consumer.pool()).await;
    let sum: i64 = totals.iter().map(|(_, t)| t).sum();
    assert_eq!(sum, (1..=25).sum::<i64>());
    shutdown.trigger();
    tokio::time::timeout(DEADLINE, task)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_restarted_after_stop_catches_up_7_events_appended_while_stopped() {
    let store = Store::start().await;
    let mut appender = Appender::new(store.client());
    append_counter_events(&mut appender, 1..=5).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let first = open_consumer(&dir, store.client(), Ledger::new(), fast_config()).await;
    let shutdown = Shutdown::new();
    let task = first.spawn(until(&shutdown));
    reach(&first, 5).await;
    shutdown.trigger();
    tokio::time::timeout(DEADLINE, task)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    first.pool().close().await;
    drop(first);

    append_counter_events(&mut appender, 6..=12).await;
    let second = open_consumer(&dir, store.client(), Ledger::new(), fast_config()).await;
    assert_eq!(second.position(), 5, "保存したチェックポイントから再開する");
    let shutdown = Shutdown::new();
    let _task = second.spawn(until(&shutdown));
    reach(&second, 12).await;

    assert_eq!(
        applied_positions(second.pool()).await,
        (1..=12).collect::<Vec<_>>()
    );
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_killed_between_handler_and_commit_applies_every_event_exactly_once_after_restart()
{
    let store = Store::start().await;
    let mut appender = Appender::new(store.client());
    append_counter_events(&mut appender, 1..=10).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = ConsumerConfig {
        page_size: 3,
        ..fast_config()
    };
    let hanging = Ledger {
        hang_at: Some(5),
        ..Ledger::new()
    };
    let hung = Arc::clone(&hanging.hung);
    let consumer = open_consumer(&dir, store.client(), hanging, config).await;
    let task = consumer.spawn(std::future::pending());

    // ページ [4, 5, 6] の途中: 4 と 5 を書いたがコミットしていないところで止まる。
    tokio::time::timeout(DEADLINE, hung.notified())
        .await
        .unwrap_or_else(|e| panic!("ハンドラが止まらなかった: {e}"));
    assert_eq!(consumer.position(), 3);
    let observer = open_pool(&db_path(&dir)).await;
    assert_eq!(
        applied_positions(&observer).await,
        vec![1, 2, 3],
        "未コミットの書き込みは見えない"
    );
    assert_eq!(stored_checkpoint(&observer).await, 3);

    // 強制終了 (ハンドラとコミットの間)。
    task.abort();
    let joined = task.await;
    assert!(joined.is_err_and(|e| e.is_cancelled()));
    consumer.pool().close().await;
    drop(consumer);

    let restarted = open_consumer(&dir, store.client(), Ledger::new(), config).await;
    assert_eq!(restarted.position(), 3);
    let shutdown = Shutdown::new();
    let _task = restarted.spawn(until(&shutdown));
    reach(&restarted, 10).await;

    assert_eq!(
        applied_positions(restarted.pool()).await,
        (1..=10).collect::<Vec<_>>(),
        "どのイベントもちょうど一回"
    );
    assert_eq!(stored_checkpoint(&observer).await, 10);
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_failing_twice_at_position_3_is_retried_and_every_event_is_applied_once() {
    let store = Store::start().await;
    let mut appender = Appender::new(store.client());
    append_counter_events(&mut appender, 1..=5).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let flaky = Ledger {
        fail_at: Some(3),
        failures_left: AtomicU32::new(2),
        ..Ledger::new()
    };
    let failures = Arc::clone(&flaky.failures_seen);
    let consumer = open_consumer(&dir, store.client(), flaky, fast_config()).await;
    let shutdown = Shutdown::new();
    let _task = consumer.spawn(until(&shutdown));

    reach(&consumer, 5).await;

    assert_eq!(failures.load(Ordering::SeqCst), 2);
    assert_eq!(
        applied_positions(consumer.pool()).await,
        vec![1, 2, 3, 4, 5]
    );
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_from_zero_while_running_yields_same_read_model_and_reports_progress_to_head() {
    let store = Store::start().await;
    let mut appender = Appender::new(store.client());
    append_counter_events(&mut appender, 1..=30).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let consumer = open_consumer(&dir, store.client(), Ledger::new(), fast_config()).await;
    let shutdown = Shutdown::new();
    let _task = consumer.spawn(until(&shutdown));
    reach(&consumer, 30).await;
    let live = read_model(consumer.pool()).await;

    let mut progress = Vec::new();
    let report = consumer
        .rebuild(|p| progress.push(p))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        report,
        RebuildProgress {
            applied: 30,
            position: 30,
            head: 30
        }
    );
    assert_eq!(
        progress.first().map(|p| (p.applied, p.position)),
        Some((0, 0))
    );
    assert_eq!(progress.last(), Some(&report));
    assert_eq!(progress.len(), 1 + 5, "開始 + 7 件ずつ 5 ページ");
    assert!(progress.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(read_model(consumer.pool()).await, live);

    // 作り直しの後も、動いているランナーが続きを処理する。
    append_counter_events(&mut appender, 31..=33).await;
    reach(&consumer, 33).await;
    assert_eq!(
        applied_positions(consumer.pool()).await,
        (1..=33).collect::<Vec<_>>()
    );
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_position_returns_once_projection_has_the_event_and_times_out_or_stops_otherwise()
{
    let store = Store::start().await;
    let mut appender = Appender::new(store.client());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let consumer = open_consumer(&dir, store.client(), Ledger::new(), fast_config()).await;
    let shutdown = Shutdown::new();
    let task = consumer.spawn(until(&shutdown));

    let early = wait_for_position(consumer.subscribe(), 1, Duration::from_millis(30)).await;
    assert!(
        matches!(
            early,
            Err(WaitError::Timeout {
                min_position: 1,
                reached: 0,
                ..
            })
        ),
        "{early:?}"
    );
    let waiter = tokio::spawn(wait_for_position(consumer.subscribe(), 1, DEADLINE));
    let position = appender.add("Counter", "c", 42).await;
    let reached = waiter
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));

    assert!(reached >= position);
    // read-your-writes: 待ち終えた時点で読みモデルに入っている。
    assert_eq!(applied_positions(consumer.pool()).await, vec![position]);

    let rx = consumer.subscribe();
    shutdown.trigger();
    tokio::time::timeout(DEADLINE, task)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    drop(consumer);
    assert_eq!(
        wait_for_position(rx, position + 1, DEADLINE).await,
        Err(WaitError::Stopped {
            min_position: position + 1,
            reached: position
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_started_while_store_is_down_retries_and_catches_up_once_store_is_up() {
    let mut store = Store::start().await;
    let mut appender = Appender::new(store.client());
    append_counter_events(&mut appender, 1..=10).await;
    store.stop().await;
    let gate = GateProxy::spawn().await;
    let retry = RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    };
    let (client, tokens) = counting_client(&gate.url, retry);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let consumer = open_consumer(&dir, client, Ledger::new(), fast_config()).await;
    let shutdown = Shutdown::new();
    let task = consumer.spawn(until(&shutdown));

    wait_until(
        "ストアが落ちている間に何度も試す",
        DEADLINE,
        || {
            let tried = tokens.count() >= 6;
            async move { tried }
        },
    )
    .await;
    assert_eq!(consumer.position(), 0);
    assert!(!task.is_finished(), "失敗してもランナーは止まらない");

    store.start_again().await;
    gate.open_to(store.handle().local_addr());
    reach(&consumer, 10).await;

    assert_eq!(
        applied_positions(consumer.pool()).await,
        (1..=10).collect::<Vec<_>>()
    );
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_filtered_to_counter_handles_only_counter_events_and_checkpoint_reaches_head() {
    let store = Store::start().await;
    let mut appender = Appender::new(store.client());
    appender.add("Counter", "c1", 1).await;
    appender.add("Other", "o1", 2).await;
    appender.add("Counter", "c2", 3).await;
    appender.add("Other", "o2", 4).await;
    let head = appender.add("Other", "o3", 5).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ledger = Ledger {
        filter: EventFilter::aggregate_types(["Counter"]),
        ..Ledger::new()
    };
    let consumer = open_consumer(&dir, store.client(), ledger, fast_config()).await;
    let shutdown = Shutdown::new();
    let _task = consumer.spawn(until(&shutdown));

    reach(&consumer, head).await;

    assert_eq!(applied_positions(consumer.pool()).await, vec![1, 3]);
    assert_eq!(stored_checkpoint(consumer.pool()).await, 5);
    let later = appender.add("Counter", "c1", 6).await;
    reach(&consumer, later).await;
    assert_eq!(applied_positions(consumer.pool()).await, vec![1, 3, 6]);
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_filtered_to_two_types_handles_only_those_and_checkpoint_reaches_head() {
    let store = Store::start().await;
    let mut appender = Appender::new(store.client());
    appender.add("Counter", "c1", 1).await;
    appender.add("Other", "o1", 2).await;
    appender.add("Third", "t1", 3).await;
    let head = appender.add("Other", "o2", 4).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ledger = Ledger {
        filter: EventFilter::aggregate_types(["Third", "Counter"]),
        ..Ledger::new()
    };
    let consumer = open_consumer(&dir, store.client(), ledger, fast_config()).await;

    let caught_up = consumer.catch_up().await.unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(caught_up, head);
    assert_eq!(applied_positions(consumer.pool()).await, vec![1, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_consumer_filtered_to_added_events_skips_reset_events_and_checkpoint_follows_each_head()
 {
    let store = Store::start().await;
    let mut appender = Appender::new(store.client());
    let reset = |stream: &'static str| {
        let client = store.client();
        async move {
            let event = mediahub_core::envelope::NewEvent {
                event_type: "Reset".into(),
                ..added(0)
            };
            client
                .append("Counter", stream, 0, &[event])
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .last_position
        }
    };
    appender.add("Counter", "c1", 1).await;
    reset("r1").await;
    appender.add("Other", "o1", 2).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ledger = Ledger {
        filter: EventFilter::aggregate_types(["Counter"]).event_types(["Added"]),
        ..Ledger::new()
    };
    let consumer = open_consumer(&dir, store.client(), ledger, fast_config()).await;
    let shutdown = Shutdown::new();
    let _task = consumer.spawn(until(&shutdown));
    reach(&consumer, 3).await;
    assert_eq!(applied_positions(consumer.pool()).await, vec![1]);

    // 購読者が待っている間の、条件に合わないコミット: 「先頭が進んだ」だけの応答で追いつく。
    let skipped = reset("r2").await;
    reach(&consumer, skipped).await;
    let later = appender.add("Counter", "c1", 5).await;
    reach(&consumer, later).await;

    assert_eq!(applied_positions(consumer.pool()).await, vec![1, 5]);
    assert_eq!(stored_checkpoint(consumer.pool()).await, 5);
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_with_blank_name_is_rejected_with_empty_name() {
    let store = Store::start().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pool = open_pool(&db_path(&dir)).await;

    let result = Consumer::open(" ", pool, store.client(), Ledger::new(), fast_config()).await;

    assert!(matches!(result, Err(ConsumerError::EmptyName)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_runner_with_same_name_and_stale_position_applies_nothing_twice() {
    let store = Store::start().await;
    let mut appender = Appender::new(store.client());
    append_counter_events(&mut appender, 1..=10).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let first = open_consumer(&dir, store.client(), Ledger::new(), fast_config()).await;
    let second = open_consumer(&dir, store.client(), Ledger::new(), fast_config()).await;
    assert_eq!((first.position(), second.position()), (0, 0));

    let caught_up = first.catch_up().await.unwrap_or_else(|e| panic!("{e}"));
    let stale = second.catch_up().await;

    assert_eq!(caught_up, 10);
    assert!(
        matches!(
            stale,
            Err(ConsumerError::CheckpointMoved {
                expected: 0,
                stored: 10
            })
        ),
        "{stale:?}"
    );
    assert_eq!(second.position(), 10, "保存されている位置を読み直す");
    assert_eq!(second.catch_up().await.ok(), Some(10));
    assert_eq!(
        applied_positions(first.pool()).await,
        (1..=10).collect::<Vec<_>>()
    );
}
