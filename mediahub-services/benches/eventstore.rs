//! イベントストアのベンチマーク (`cargo bench -p mediahub-services --bench eventstore`)。
//!
//! イベントストアをポート 0 で起動し、本物の HTTP で次を測ります。保存先は 3 通りです:
//! 一時ディレクトリの SQLite、PostgreSQL に 1 プロセス、同じ PostgreSQL のデータベースに
//! 2 プロセス (レプリカ。クライアントは交互に二つへ送る)。PostgreSQL は環境変数
//! `MEDIAHUB_BENCH_POSTGRES_URL` (管理用の URL。`make bench` が `scripts/pg-test-cluster.sh` で
//! 使い捨てのクラスターを起動して渡す) があるときだけ測り、計測ごとに新しいデータベースを作ります。
//!
//! - 追記のスループット: 同時クライアント 1 / 4 / 16、1 回に 1 件 / 100 件。
//!   各クライアントは自分のストリームに、版を数えながら追記し続けます (衝突なし)。
//! - 追記 → ロングポーリングの起床までの遅延の p50 / p99 (レプリカでは、一方に追記し、もう一方で
//!   待つ。起床は LISTEN/NOTIFY を通る)。
//!
//! 各計測を 3 回行い、中央値を Markdown の表で出します。
//! 目標 ([開発ガイド「ベンチマークの結果」](https://github.com/nao1215/mediahub/blob/main/docs/development.md#ベンチマークの結果-参考)、issue 3): 16 クライアントで 10,000 件/秒以上、起床 p99 5 ms 以下。

use std::sync::Arc;
use std::time::{Duration, Instant};

use mediahub_core::envelope::NewEvent;
use mediahub_core::ids::{CorrelationId, EventId};
use mediahub_services::eventstore::{
    AppendRequest, Durability, EventStoreConfig, EventStoreHandle, StoreLocation, StreamKey, start,
};
use mediahub_services::platform::auth::JwtKeys;
use serde_json::{Value, json};
use sqlx::Connection;
use uuid::Uuid;

/// 1 回のスループット計測の長さ。
const RUN: Duration = Duration::from_millis(1500);
/// 各計測の繰り返し回数 (中央値をとる)。
const REPEATS: usize = 3;
/// 遅延の計測回数 (1 回の繰り返しあたり)。
const LATENCY_SAMPLES: usize = 200;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Bench {
    base: String,
    token: String,
    client: reqwest::Client,
}

/// 1 回の追記で送るイベント。MediaHub のサービスと同じく、イベント ID も相関 ID も時刻順の UUID v7
/// (`EventId::new_time_ordered`・`CorrelationId::new_time_ordered`) で、相関 ID は 1 回の追記
/// (= 1 つの要求) に 1 つにする (ランダムな ID を付けると索引のあちこちのページを汚し、サービスが
/// 実際に送る追記より遅い値を測ってしまう)。
fn new_events(count: usize) -> Vec<Value> {
    let correlation_id = CorrelationId::new_time_ordered();
    (0..count)
        .map(|n| {
            json!({
                "id": EventId::new_time_ordered(),
                "event_type": "BenchEvent",
                "event_version": "1.0",
                "data": {"n": n, "text": "0123456789abcdef0123456789abcdef"},
                "metadata": {"correlation_id": correlation_id},
            })
        })
        .collect()
}

/// 1 クライアント: 期限まで自分のストリームに追記し続け、書いたイベント数を返す。
async fn client_loop(
    bench: Arc<Bench>,
    stream: String,
    batch: usize,
    until: Instant,
) -> BenchResult<u64> {
    let mut version = 0_u64;
    let url = format!("{}/api/v1/streams/Bench/{stream}/events", bench.base);
    while Instant::now() < until {
        let body = json!({"expected_version": version, "events": new_events(batch)});
        let response = bench
            .client
            .post(&url)
            .bearer_auth(&bench.token)
            .json(&body)
            .send()
            .await?;
        if response.status().as_u16() != 201 {
            return Err(format!("追記に失敗: {}", response.status()).into());
        }
        // 本体を読み切って接続を再利用する。
        let _body = response.bytes().await?;
        version += batch as u64;
    }
    Ok(version)
}

/// 同時に `clients` 人が追記し続けたときのイベント/秒。クライアントは `benches` (レプリカ) に交互に送ります。
async fn throughput(benches: &[Arc<Bench>], clients: usize, batch: usize) -> BenchResult<f64> {
    let started = Instant::now();
    let until = started + RUN;
    let run_id = Uuid::new_v4();
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            tokio::spawn(client_loop(
                Arc::clone(&benches[client % benches.len()]),
                format!("{run_id}-{client}"),
                batch,
                until,
            ))
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// `writer` に追記してから、`waiter` (同じか別のレプリカ) で待つロングポーリングが起きるまでの時間。
async fn wake_latencies(
    writer: &Arc<Bench>,
    bench: &Arc<Bench>,
    service: &EventStoreHandle,
) -> BenchResult<Vec<Duration>> {
    let state = Arc::clone(service.state());
    let stream = format!("latency-{}", Uuid::new_v4());
    let mut latencies = Vec::with_capacity(LATENCY_SAMPLES);
    for version in 0..LATENCY_SAMPLES as u64 {
        let head = *state.head.borrow();
        let waiter = {
            let request = bench
                .client
                .get(format!(
                    "{}/api/v1/events?after={head}&wait_ms=5000",
                    bench.base
                ))
                .bearer_auth(&bench.token);
            tokio::spawn(async move {
                let response = request.send().await?;
                let body: Value = response.json().await?;
                let woke = Instant::now();
                BenchResult::Ok((woke, body))
            })
        };
        // 待ち手がサーバー側で待ち始めるまで待つ (期限つき)。
        let deadline = Instant::now() + Duration::from_secs(5);
        while state.waiters() == 0 {
            if Instant::now() > deadline {
                return Err("待ち手が待ち始めません".into());
            }
            tokio::task::yield_now().await;
        }
        let sent = Instant::now();
        let response = writer
            .client
            .post(format!(
                "{}/api/v1/streams/Bench/{stream}/events",
                writer.base
            ))
            .bearer_auth(&writer.token)
            .json(&json!({"expected_version": version, "events": new_events(1)}))
            .send()
            .await?;
        let _body = response.bytes().await?;
        let (woke, body) = waiter.await??;
        if body["events"].as_array().map_or(0, Vec::len) != 1 {
            return Err(format!("待ち手がイベントを受け取っていません: {body}").into());
        }
        latencies.push(woke.saturating_duration_since(sent));
    }
    latencies.sort_unstable();
    Ok(latencies)
}

/// HTTP を通さずに書き込みタスクへ直接追記する (HTTP とデータベースのどちらが重いかを切り分ける)。
async fn direct_throughput(
    service: &EventStoreHandle,
    clients: usize,
    batch: usize,
) -> BenchResult<f64> {
    let started = Instant::now();
    let until = started + RUN;
    let run_id = Uuid::new_v4();
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let writer = service.state().writer.clone();
            let stream = StreamKey::new("Direct", format!("{run_id}-{client}"));
            tokio::spawn(async move {
                let stream = stream?;
                let mut version = 0_u64;
                while Instant::now() < until {
                    let events = new_events(batch)
                        .into_iter()
                        .map(serde_json::from_value::<NewEvent>)
                        .collect::<Result<Vec<_>, _>>()?;
                    writer
                        .append(AppendRequest {
                            stream: stream.clone(),
                            expected_version: version,
                            events,
                            snapshot: None,
                        })
                        .await?;
                    version += batch as u64;
                }
                BenchResult::Ok(version)
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// sqlx の SQLite 接続に 1 文 (`SELECT 1`) を送って答えを受け取るまでの時間 (並べたもの)。
///
/// sqlx は接続ごとの専用スレッドで文を実行するので、文ごとにそのスレッドとの受け渡しが往復 1 回
/// あります。SQLite の書き込みタスクは 1 コミットにこれを 2 回払います (`begin_batch` と
/// `insert_and_commit`)。ディスクに触れない文なので、受け渡しだけの費用です。
async fn sqlx_round_trips() -> BenchResult<Vec<Duration>> {
    let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:").await?;
    let mut latencies = Vec::with_capacity(LATENCY_SAMPLES * 10);
    for _ in 0..LATENCY_SAMPLES * 10 {
        let sent = Instant::now();
        sqlx::query("SELECT 1").fetch_one(&mut conn).await?;
        latencies.push(sent.elapsed());
    }
    conn.close().await?;
    latencies.sort_unstable();
    Ok(latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// 測る保存先。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// 一時ディレクトリの SQLite。
    Sqlite,
    /// PostgreSQL に 1 プロセス。
    Postgres,
    /// 同じ PostgreSQL のデータベースに 2 プロセス。
    PostgresReplicas,
}

impl Target {
    fn label(self) -> &'static str {
        match self {
            Target::Sqlite => "SQLite",
            Target::Postgres => "PostgreSQL",
            Target::PostgresReplicas => "PostgreSQL ×2",
        }
    }
}

/// 動いているイベントストア (1 つか 2 つ) と、それぞれを呼ぶクライアント。
struct Running {
    _dir: tempfile::TempDir,
    services: Vec<EventStoreHandle>,
    benches: Vec<Arc<Bench>>,
}

/// PostgreSQL に新しいデータベースを作り、その URL を返します。
async fn new_database(admin_url: &str) -> BenchResult<String> {
    let name = format!("bench_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    Ok(format!("{base}/{name}"))
}

async fn launch(
    target: Target,
    durability: Durability,
    postgres: Option<&str>,
) -> BenchResult<Running> {
    let dir = tempfile::tempdir()?;
    let keys = JwtKeys::from_secret(b"bench-secret-bench-secret-bench-secret!")?;
    let token = keys.issue_service_token("bench")?;
    let (location, count) = match (target, postgres) {
        (Target::Sqlite, _) => (StoreLocation::Sqlite(dir.path().join("eventstore.db")), 1),
        (Target::Postgres, Some(admin)) => (StoreLocation::Postgres(new_database(admin).await?), 1),
        (Target::PostgresReplicas, Some(admin)) => {
            (StoreLocation::Postgres(new_database(admin).await?), 2)
        }
        (_, None) => return Err("PostgreSQL の URL がありません".into()),
    };
    let mut services = Vec::with_capacity(count);
    let mut benches = Vec::with_capacity(count);
    for _ in 0..count {
        let config = EventStoreConfig::new(location.clone(), keys.clone())
            .listen("127.0.0.1:0")
            .durability(durability);
        let service = start(config).await?;
        benches.push(Arc::new(Bench {
            base: service.base_url(),
            token: token.clone(),
            client: mediahub_services::platform::http_client::builder()
                .pool_max_idle_per_host(64)
                .build()?,
        }));
        services.push(service);
    }
    // 準備運転 (接続の確立とキャッシュ)。
    throughput(&benches, 4, 10).await?;
    Ok(Running {
        _dir: dir,
        services,
        benches,
    })
}

async fn run(durability: Durability, postgres: Option<&str>) -> BenchResult<()> {
    let targets: Vec<Target> = match postgres {
        Some(_) => vec![Target::Sqlite, Target::Postgres, Target::PostgresReplicas],
        None => vec![Target::Sqlite],
    };
    let mut running = Vec::with_capacity(targets.len());
    for target in &targets {
        running.push(launch(*target, durability, postgres).await?);
    }
    let labels: Vec<&str> = targets.iter().map(|t| t.label()).collect();

    println!();
    println!(
        "### イベントストア: 追記のスループット、イベント/秒 (durability = {durability:?}、{REPEATS} 回の中央値)"
    );
    println!();
    println!("| 同時クライアント | 1 回の件数 | {} |", labels.join(" | "));
    println!("|---:|---:|{}", "---:|".repeat(labels.len()));
    for batch in [1_usize, 100] {
        for clients in [1_usize, 4, 16] {
            let mut cells = Vec::with_capacity(running.len());
            for target in &running {
                let mut runs = Vec::with_capacity(REPEATS);
                for _ in 0..REPEATS {
                    runs.push(throughput(&target.benches, clients, batch).await?);
                }
                cells.push(format!("{:.0}", median(runs)));
            }
            println!("| {clients} | {batch} | {} |", cells.join(" | "));
        }
    }

    println!();
    println!(
        "### 参考: HTTP を通さず書き込みタスクに直接追記、イベント/秒 (durability = {durability:?}、{REPEATS} 回の中央値)"
    );
    println!();
    let single: Vec<(&str, &Running)> = labels
        .iter()
        .zip(&running)
        .filter(|(_, r)| r.services.len() == 1)
        .map(|(l, r)| (*l, r))
        .collect();
    println!(
        "| 同時クライアント | 1 回の件数 | {} |",
        single
            .iter()
            .map(|(l, _)| *l)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---:|---:|{}", "---:|".repeat(single.len()));
    for (clients, batch) in [(1_usize, 1_usize), (16, 1), (1, 100), (16, 100)] {
        let mut cells = Vec::with_capacity(single.len());
        for (_, target) in &single {
            let mut runs = Vec::with_capacity(REPEATS);
            for _ in 0..REPEATS {
                runs.push(direct_throughput(&target.services[0], clients, batch).await?);
            }
            cells.push(format!("{:.0}", median(runs)));
        }
        println!("| {clients} | {batch} | {} |", cells.join(" | "));
    }

    let mut round_trips = Vec::with_capacity(REPEATS);
    for _ in 0..REPEATS {
        round_trips.push(percentile(&sqlx_round_trips().await?, 0.50).as_secs_f64() * 1000.0);
    }
    println!();
    println!(
        "sqlx の SQLite 接続との 1 文の往復 (`SELECT 1`、{} 回 × {REPEATS} の中央値): p50 {:.3} ms \
         (SQLite の書き込みタスクは 1 コミットに 2 回。SQLite だけの床は `python3 scripts/sqlite_floor.py`)",
        LATENCY_SAMPLES * 10,
        median(round_trips)
    );

    println!();
    println!(
        "### 追記 → ロングポーリング起床の遅延 (durability = {durability:?}、{LATENCY_SAMPLES} 回 × {REPEATS} の中央値。×2 は一方に追記し、もう一方で待つ)"
    );
    println!();
    println!("| 保存先 | p50 (ms) | p99 (ms) |");
    println!("|---|---:|---:|");
    for (label, target) in labels.iter().zip(&running) {
        let waiter = target.services.len() - 1;
        let mut p50s = Vec::with_capacity(REPEATS);
        let mut p99s = Vec::with_capacity(REPEATS);
        for _ in 0..REPEATS {
            let latencies = wake_latencies(
                &target.benches[0],
                &target.benches[waiter],
                &target.services[waiter],
            )
            .await?;
            p50s.push(percentile(&latencies, 0.50).as_secs_f64() * 1000.0);
            p99s.push(percentile(&latencies, 0.99).as_secs_f64() * 1000.0);
        }
        println!("| {label} | {:.2} | {:.2} |", median(p50s), median(p99s));
    }
    if postgres.is_none() {
        println!();
        println!(
            "(PostgreSQL は測っていません: MEDIAHUB_BENCH_POSTGRES_URL が無い。make bench は使い捨てのクラスターを起動して測ります)"
        );
    }
    for target in running {
        for service in target.services {
            service.stop().await?;
        }
    }
    Ok(())
}

fn main() -> BenchResult<()> {
    // `cargo bench` は `--bench` を渡す。`cargo test --benches` のときは起動の確認だけにする。
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("eventstore bench: --bench なしで起動されたので計測を省きます");
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let durability = match std::env::var("EVENTSTORE_DURABILITY").as_deref() {
        Ok("normal") => Durability::Normal,
        _ => Durability::Full,
    };
    let postgres = std::env::var("MEDIAHUB_BENCH_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty());
    runtime.block_on(run(durability, postgres.as_deref()))?;
    println!();
    println!("(計測時間: {:.1} 秒)", started.elapsed().as_secs_f64());
    Ok(())
}
