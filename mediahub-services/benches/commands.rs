//! コマンドの経路のベンチマーク (`cargo bench -p mediahub-services --bench commands`、`make bench`)。
//!
//! MediaHub の代わりに選ばれうるもの ─ 1 プロセスの `cqrs-es` + `sqlite-es` ─ を基準に、同じ
//! 「アルバムの改名」を同じ条件で実行して比べます (issue #17、[開発ガイド「ベンチマークの結果」](https://github.com/nao1215/mediahub/blob/main/docs/development.md#ベンチマークの結果-参考))。
//!
//! | 経路 | 中身 |
//! |---|---|
//! | 基準 (1 プロセス) | `CqrsFramework<Album, PersistedEventStore<SqliteEventRepository, Album>>` (公開されている `cqrs-es` と `sqlite-es` のクレートそのまま。WAL・`synchronous=NORMAL` の SQLite ファイル)。要求ごとに `execute` を 1 回。参考に、同じものを `synchronous=FULL` (MediaHub の既定と同じくコミットごとに fsync) でも測ります |
//! | MediaHub | ゲートウェイの `PATCH /api/v1/albums/{id}` (ゲートウェイ → album → イベントストア、すべて本物の HTTP。全サービスを `mediahub run` と同じ起動でポート 0 に) |
//!
//! どちらも 1,000 個のアルバムを作ってから、ランダムに選んだアルバムを毎回違う名前に改名します。
//! 同時実行 16 は、16 本の作業者がそれぞれ次の改名を待たずに送り続け、同時実行 1 は 1 本です。
//! 基準は同じ集約への同時のコマンドが版の衝突 (`AggregateConflict`) でそのまま失敗し、それを
//! 「エラー」と数えます (MediaHub は衝突を読み直して再実行するので 0 のはず)。
//!
//! 計測は 基準 → MediaHub (fsync) → MediaHub (耐久性 normal) → 基準 (synchronous=FULL) → 基準 → … と
//! 交互に 3 回ずつ行い、中央値を Markdown の表で出します。
//! どの計測の前にも、両方の MediaHub の読み側 4 サービスの遅れが 0 になるまで待ちます
//! (前の計測で溜まったプロジェクションの仕事が、次の計測 ─ 基準を含む ─ の CPU を奪わないように)。
//!
//! 続けて **経路の分解** を出します。同じシステムに外側から順に段を足して (HTTP の往復だけ →
//! イベントストアへ直接の追記 → album へ直接の改名 → ゲートウェイ越しの改名) 同時実行 1 の p50 と
//! 同時実行 16 の速さを測り、内側の段からの増分をその段の費用として並べます。
//!
//! 最後に **床** として、何もしない HTTP サーバーを 1・2・3 段つないだ鎖 (サービスと同じ poem と
//! reqwest。認証もデータベースも無し) を同じように測ります。3 段はゲートウェイ越しの改名と同じ
//! 段数なので、経路の段数だけで決まる費用が分かります。どの表にも、このプロセス全体が使った CPU
//! 時間を 1 コマンドあたりにした列があります (2 コアのマシンで CPU が上限なら、速さは高々
//! 2 秒 ÷ その値)。

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateError, CqrsFramework};
use mediahub_core::album::{Album, AlbumCommand};
use mediahub_core::ids::{AlbumId, EventId, UserId};
use mediahub_services::eventstore::Durability;
use mediahub_services::gateway::lab::LabProjections;
use mediahub_services::platform::auth::JwtKeys;
use mediahub_services::platform::http_client;
use mediahub_services::platform::server::{ServerHandle, Shutdown, bind, spawn_server};
use mediahub_services::system::{Ports, System, SystemConfig};
use poem::EndpointExt;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::types::ParseFromJSON;
use serde_json::{Value, json};
use sqlite_es::SqliteEventRepository;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

mod support;
use support::{cpu_per, process_cpu_time};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const SECRET: &[u8] = b"bench-secret-0123456789abcdef-0123456789";
/// 改名の対象にするアルバムの数。
const ALBUMS: usize = 1_000;
/// 繰り返しの回数 (中央値をとる)。
const REPEATS: usize = 3;
/// 同時実行 1 の 1 回の計測のコマンド数。
const SERIAL_COMMANDS: usize = 500;
/// 同時実行 16 の 1 回の計測のコマンド数。
const CONCURRENT_COMMANDS: usize = 4_000;

/// 再現できる乱数 (xorshift64)。
fn next_random(state: &AtomicU64) -> u64 {
    let mut x = state.load(Ordering::Relaxed);
    loop {
        let mut y = x;
        y ^= y << 13;
        y ^= y >> 7;
        y ^= y << 17;
        match state.compare_exchange_weak(x, y, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return y,
            Err(current) => x = current,
        }
    }
}

/// 1 回の計測の結果。
#[derive(Debug, Clone, Copy)]
struct Run {
    per_second: f64,
    errors: usize,
    p50: Duration,
    /// このプロセス全体 (全サービス・基準・負荷をかける側) が使った CPU 時間をコマンド数で割ったもの。
    /// 2 コアなら、CPU が上限のときの速さは高々 `2 / cpu_per_command` です。
    /// CPU 時間を読めなかったときは `None` (表には「—」)。
    cpu_per_command: Option<Duration>,
}

/// 改名を `commands` 回、`workers` 本で実行し、速さ・エラー数・p50 を返します。
async fn measure<F, Fut>(workers: usize, commands: usize, rename: F) -> Run
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let rename = Arc::new(rename);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let random = Arc::new(AtomicU64::new(0x9E37_79B9_7F4A_7C15));
    let cpu_before = process_cpu_time();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (rename, next, errors, random) = (
            Arc::clone(&rename),
            Arc::clone(&next),
            Arc::clone(&errors),
            Arc::clone(&random),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= commands {
                    return latencies;
                }
                let pick = next_random(&random);
                let sent = Instant::now();
                if !rename(n, pick).await {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                latencies.push(sent.elapsed());
            }
        }));
    }
    let mut latencies = Vec::with_capacity(commands);
    for task in tasks {
        latencies.extend(task.await.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Run {
        cpu_per_command: cpu_per(cpu_before, commands),
        per_second: commands as f64 / elapsed.as_secs_f64(),
        errors: errors.load(Ordering::Relaxed),
        p50: latencies
            .get(latencies.len() / 2)
            .copied()
            .unwrap_or_default(),
    }
}

// ---- 基準: 1 プロセスの cqrs-es + sqlite-es ----

type Baseline = CqrsFramework<Album, PersistedEventStore<SqliteEventRepository, Album>>;

struct BaselineSide {
    cqrs: Arc<Baseline>,
    owner: UserId,
    albums: Arc<Vec<String>>,
    _dir: tempfile::TempDir,
}

/// 基準を作ります。`synchronous` は `Normal` (既定の表の基準) か、MediaHub の既定と同じくコミットごとに
/// fsync する `Full` (同じ耐久性どうしの比を出すため)。
async fn baseline(synchronous: SqliteSynchronous) -> BenchResult<BaselineSide> {
    let dir = tempfile::tempdir()?;
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("baseline.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous);
    let pool = SqlitePoolOptions::new()
        .max_connections(10)
        .connect_with(options)
        .await?;
    // sqlite-es が前提にする表 (そのクレートの README の形)
    for sql in [
        "CREATE TABLE events (aggregate_type text NOT NULL, aggregate_id text NOT NULL,
           sequence integer CHECK (sequence >= 0) NOT NULL, event_type text NOT NULL,
           event_version text NOT NULL, payload text NOT NULL, metadata text NOT NULL,
           PRIMARY KEY (aggregate_type, aggregate_id, sequence)) STRICT",
        "CREATE TABLE snapshots (aggregate_type text NOT NULL, aggregate_id text NOT NULL,
           last_sequence integer CHECK (last_sequence >= 0) NOT NULL,
           current_snapshot integer CHECK (current_snapshot >= 0) NOT NULL,
           payload text NOT NULL, PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)) STRICT",
    ] {
        sqlx::query(sql).execute(&pool).await?;
    }
    let repo = SqliteEventRepository::new(pool);
    let cqrs = Arc::new(CqrsFramework::new(
        PersistedEventStore::new_event_store(repo),
        vec![],
        (),
    ));
    let owner = UserId::new_random();
    let mut albums = Vec::with_capacity(ALBUMS);
    for n in 0..ALBUMS {
        let album_id = AlbumId::new_random();
        cqrs.execute(
            &album_id.to_string(),
            AlbumCommand::Create {
                album_id,
                owner_id: owner,
                name: format!("album {n}"),
                is_default: false,
            },
        )
        .await?;
        albums.push(album_id.to_string());
    }
    Ok(BaselineSide {
        cqrs,
        owner,
        albums: Arc::new(albums),
        _dir: dir,
    })
}

async fn run_baseline(side: &BaselineSide, workers: usize, commands: usize, round: usize) -> Run {
    let (cqrs, albums, owner) = (Arc::clone(&side.cqrs), Arc::clone(&side.albums), side.owner);
    measure(workers, commands, move |n, pick| {
        let cqrs = Arc::clone(&cqrs);
        let id = albums[(pick as usize) % albums.len()].clone();
        async move {
            let command = AlbumCommand::Rename {
                requested_by: owner,
                name: format!("r{round}-{workers}-{n}"),
            };
            match cqrs.execute(&id, command).await {
                Ok(()) => true,
                Err(AggregateError::AggregateConflict) => false,
                Err(other) => {
                    eprintln!("基準の改名が失敗しました: {other}");
                    false
                }
            }
        }
    })
    .await
}

// ---- MediaHub: ゲートウェイ越しの PATCH ----

struct MediaHubSide {
    system: System,
    client: reqwest::Client,
    token: String,
    service_token: String,
    albums: Arc<Vec<String>>,
    _dir: tempfile::TempDir,
}

async fn mediahub(durability: Durability) -> BenchResult<MediaHubSide> {
    let dir = tempfile::tempdir()?;
    let web = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web");
    let keys = JwtKeys::from_secret(SECRET)?;
    let service_token = keys.issue_service_token("bench")?;
    let config = SystemConfig::new(dir.path(), web, keys)
        .ports(Ports::EPHEMERAL)
        .dev_login(true)
        .durability(durability);
    let system = System::start(config).await?;
    let client = mediahub_services::platform::http_client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let gateway = system.urls().gateway.clone();
    let login: Value = client
        .post(format!("{gateway}/auth/dev-token"))
        .json(&json!({"login": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .ok_or("トークンがありません")?
        .to_owned();
    let mut albums = Vec::with_capacity(ALBUMS);
    for n in 0..ALBUMS {
        let created: Value = client
            .post(format!("{gateway}/api/v1/albums"))
            .bearer_auth(&token)
            .json(&json!({"name": format!("album {n}")}))
            .send()
            .await?
            .json()
            .await?;
        albums.push(
            created["id"]
                .as_str()
                .ok_or("アルバム ID がありません")?
                .to_owned(),
        );
    }
    Ok(MediaHubSide {
        system,
        client,
        token,
        service_token,
        albums: Arc::new(albums),
        _dir: dir,
    })
}

/// 計測の前に待つ最長の時間 (読み側が追いつくまで)。
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);

/// 読み側 4 サービス (media-query・album・notification・saga) の遅れが 0 になるまで待ちます。
///
/// ゲートウェイの学習用 API `GET /api/v1/lab/projections` (UI のプロジェクションパネルと同じ)
/// が 4 つの進み具合を 1 回の要求で集めます。
///
/// # エラー
/// [`SETTLE_TIMEOUT`] までに追いつかない、状態を読めない、または止まっているサービスがあるとき。
async fn settle(side: &MediaHubSide) -> BenchResult<()> {
    let url = format!("{}/api/v1/lab/projections", side.system.urls().gateway);
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let body: Value = side
            .client
            .get(&url)
            .bearer_auth(&side.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let projections = LabProjections::parse_from_json(Some(body))
            .map_err(|err| format!("進み具合を読めません: {}", err.into_message()))?;
        let mut behind = Vec::new();
        for item in projections.items {
            let status = item
                .status
                .ok_or_else(|| format!("{} が止まっています", item.service))?;
            if status.lag > 0 {
                behind.push(format!("{} (遅れ {})", status.name, status.lag));
            }
        }
        if behind.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(
                format!("{SETTLE_TIMEOUT:?} で追いつきません: {}", behind.join("、")).into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// 経路の分解で測る段。外側の段ほど、内側の段を 1 つ含みます。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    /// album の `GET /health` (HTTP の往復 1 回だけ。認証もデータベースも無し)。
    HttpRoundTrip,
    /// イベントストアへ直接、1 イベントの追記 (HTTP + JWT + 書き込み役 + fsync)。
    EventStore,
    /// album へ直接の改名 (HTTP + JWT + 集約のキャッシュ + 判断 + イベントストアへの追記)。
    Album,
    /// ゲートウェイ越しの改名 (利用者が使う経路そのもの)。
    Gateway,
}

impl Hop {
    const ALL: [Hop; 4] = [
        Hop::HttpRoundTrip,
        Hop::EventStore,
        Hop::Album,
        Hop::Gateway,
    ];

    fn label(self) -> &'static str {
        match self {
            Hop::HttpRoundTrip => "HTTP の往復だけ (album の `GET /health`)",
            Hop::EventStore => "イベントストアへ直接 1 イベントを追記",
            Hop::Album => "album へ直接 `PATCH /api/v1/albums/{id}`",
            Hop::Gateway => "ゲートウェイ → album → イベントストア",
        }
    }
}

async fn run_mediahub(side: &MediaHubSide, workers: usize, commands: usize, round: usize) -> Run {
    run_hop(side, Hop::Gateway, workers, commands, round).await
}

/// `hop` の段を `commands` 回、`workers` 本で実行します。
async fn run_hop(
    side: &MediaHubSide,
    hop: Hop,
    workers: usize,
    commands: usize,
    round: usize,
) -> Run {
    let urls = side.system.urls();
    let base = Arc::new(match hop {
        Hop::Gateway => urls.gateway.clone(),
        Hop::Album | Hop::HttpRoundTrip => urls.album.clone(),
        Hop::EventStore => urls.eventstore.clone(),
    });
    let token = Arc::new(match hop {
        Hop::EventStore => side.service_token.clone(),
        _ => side.token.clone(),
    });
    let (client, albums) = (side.client.clone(), Arc::clone(&side.albums));
    measure(workers, commands, move |n, pick| {
        let id = &albums[(pick as usize) % albums.len()];
        let name = format!("r{round}-{workers}-{n}");
        let request = match hop {
            Hop::HttpRoundTrip => client.get(format!("{base}/health")),
            Hop::EventStore => client
                .post(format!("{base}/api/v1/streams/Bench/{name}-{id}/events"))
                .bearer_auth(token.as_str())
                .json(&json!({
                    "expected_version": 0,
                    "events": [{
                        "id": EventId::new_time_ordered(),
                        "event_type": "BenchRenamed",
                        "event_version": "1.0",
                        "data": {"name": name},
                        "metadata": {},
                    }],
                })),
            Hop::Album | Hop::Gateway => client
                .patch(format!("{base}/api/v1/albums/{id}"))
                .bearer_auth(token.as_str())
                .json(&json!({"name": name})),
        };
        send_and_drain(request, hop.label())
    })
    .await
}

/// 要求を送り、2xx なら本体を読み切って (接続を再利用するため) `true` を返します。
/// 失敗は `what` の名前で標準エラーに出し、`false` を返します (計測はエラーとして数える)。
async fn send_and_drain(request: reqwest::RequestBuilder, what: &str) -> bool {
    match request.send().await {
        Ok(response) if response.status().is_success() => response.bytes().await.is_ok(),
        Ok(response) => {
            eprintln!("{what} が {} で失敗しました", response.status());
            false
        }
        Err(err) => {
            eprintln!("{what} が届きません: {err}");
            false
        }
    }
}

// ---- 床: 何もしない HTTP の段 ----

/// 何もしない HTTP サーバーを何段かつないだ鎖 (経路の段数だけで決まる費用の床を測る)。
///
/// 最後のサーバーは受け取った本体を読み、その長さを JSON で返します。手前のサーバーは本体を
/// 次のサーバーへそのまま送り (サービスと同じ [`http_client::builder`] のクライアント、
/// 接続は使い回し)、答えをそのまま返します。3 段は ゲートウェイ → album → イベントストア と
/// 同じ段数で、認証・検査・ミドルウェア・データベース・読みモデルを除いた HTTP だけの費用です。
struct Relay {
    entry: String,
    servers: Vec<ServerHandle>,
}

/// 中継するサーバーが持つもの。
#[derive(Clone)]
struct Forward {
    client: reqwest::Client,
    next: Arc<str>,
}

/// 最後の段: 本体を読み、その長さを返します。
#[poem::handler]
fn answer(body: Vec<u8>) -> poem::Response {
    poem::Response::builder()
        .content_type("application/json")
        .body(format!("{{\"bytes\":{}}}", body.len()))
}

/// 手前の段: 本体を次の段へ送り、答えをそのまま返します。
#[poem::handler]
async fn forward(body: Vec<u8>, to: Data<&Forward>) -> poem::Result<poem::Response> {
    let bad_gateway = |err: reqwest::Error| poem::Error::new(err, StatusCode::BAD_GATEWAY);
    let reply = to
        .client
        .post(&*to.next)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(bad_gateway)?;
    let status = reply.status();
    let bytes = reply.bytes().await.map_err(bad_gateway)?;
    Ok(poem::Response::builder()
        .status(status)
        .content_type("application/json")
        .body(bytes))
}

/// `servers` 段の鎖を 127.0.0.1 のポート 0 で起動します。
async fn relay(servers: usize) -> BenchResult<Relay> {
    let spawn = |app: poem::Route, listener| {
        spawn_server(
            listener,
            app,
            "relay",
            Shutdown::new(),
            Duration::from_secs(1),
        )
    };
    let last = spawn(
        poem::Route::new().at("/", poem::post(answer)),
        bind("127.0.0.1:0").await?,
    )?;
    let mut entry = last.base_url();
    let mut handles = vec![last];
    for _ in 1..servers {
        let to = Forward {
            client: http_client::builder().pool_max_idle_per_host(64).build()?,
            next: Arc::from(entry.as_str()),
        };
        let handle = spawn(
            poem::Route::new().at("/", poem::post(forward.data(to))),
            bind("127.0.0.1:0").await?,
        )?;
        entry = handle.base_url();
        handles.push(handle);
    }
    Ok(Relay {
        entry,
        servers: handles,
    })
}

/// 鎖の入口へ改名と同じ大きさの本体を `commands` 回、`workers` 本で送ります。
async fn run_relay(
    chain: &Relay,
    client: &reqwest::Client,
    workers: usize,
    commands: usize,
) -> Run {
    let (client, entry) = (client.clone(), Arc::new(chain.entry.clone()));
    measure(workers, commands, move |n, _| {
        let request = client
            .post(entry.as_str())
            .json(&json!({"name": format!("relay-{workers}-{n}")}));
        send_and_drain(request, "何もしない鎖")
    })
    .await
}

/// 何もしない HTTP の鎖を 1・2・3 段で測り (各 [`REPEATS`] 回を交互に)、Markdown の表で出します。
async fn print_relay_floor(side: &MediaHubSide) -> BenchResult<()> {
    let mut rows = Vec::new();
    for servers in 1..=3 {
        rows.push((servers, relay(servers).await?, Vec::new(), Vec::new()));
    }
    for _ in 0..REPEATS {
        for (_, chain, serial, concurrent) in &mut rows {
            settle(side).await?;
            serial.push(run_relay(chain, &side.client, 1, SERIAL_COMMANDS).await);
            settle(side).await?;
            concurrent.push(run_relay(chain, &side.client, 16, CONCURRENT_COMMANDS).await);
        }
    }
    println!();
    println!(
        "## 床: 何もしない HTTP の段の鎖 (サービスと同じ poem と reqwest。各 {REPEATS} 回を交互に測った中央値)"
    );
    println!();
    println!(
        "| サーバーの段数 | 同時実行 1 の p50 | 同時実行 16 の 1 秒あたり | 同時実行 16 の CPU/要求 | エラー |"
    );
    println!("|---|---|---|---|---|");
    for (servers, chain, serial, concurrent) in rows {
        print_row(&format!("{servers}"), &serial, &concurrent, None);
        for server in chain.servers {
            server.stop().await?;
        }
    }
    Ok(())
}

/// 経路を段ごとに測り (各段 [`REPEATS`] 回を交互に)、1 段ごとの p50 の差を Markdown の表で出します。
async fn print_breakdown(side: &MediaHubSide) -> BenchResult<()> {
    let mut rows: Vec<(Hop, Vec<Run>, Vec<Run>)> = Hop::ALL
        .iter()
        .map(|hop| (*hop, Vec::new(), Vec::new()))
        .collect();
    for round in 0..REPEATS {
        for (hop, serial, concurrent) in &mut rows {
            settle(side).await?;
            serial.push(run_hop(side, *hop, 1, SERIAL_COMMANDS, round + 10).await);
            settle(side).await?;
            concurrent.push(
                with_catch_up(
                    side,
                    CONCURRENT_COMMANDS,
                    run_hop(side, *hop, 16, CONCURRENT_COMMANDS, round + 10),
                )
                .await?,
            );
        }
    }
    println!();
    println!("## コマンドの経路の分解 (耐久性 full、各段 {REPEATS} 回を交互に測った中央値)");
    println!();
    println!(
        "CPU/コマンドはこのプロセス全体 (全サービス・負荷をかける側) の CPU 時間を、読み側が追いつくまで含めて数えたものです。"
    );
    println!();
    println!(
        "| 段 | 同時実行 1 の p50 | 内側の段からの増分 | 同時実行 16 の 1 秒あたり | 同時実行 16 の CPU/コマンド | エラー |"
    );
    println!("|---|---|---|---|---|---|");
    let mut inner = Duration::ZERO;
    for (hop, serial, concurrent) in &rows {
        let p50 = median_duration(serial.iter().map(|r| r.p50).collect());
        let added = if *hop == Hop::HttpRoundTrip {
            "—".to_owned()
        } else {
            format!("+{}", millis(p50.saturating_sub(inner)))
        };
        print_row(hop.label(), serial, concurrent, Some(&added));
        if *hop != Hop::HttpRoundTrip {
            inner = p50;
        }
    }
    Ok(())
}

/// `run` を測った後、読み側が追いつくまで待ち、その間の CPU も含めた 1 コマンドあたりの CPU を入れ直します
/// (読みモデルの更新は計測の後にも続くので、それもコマンドの費用に数える)。
async fn with_catch_up(
    side: &MediaHubSide,
    commands: usize,
    run: impl Future<Output = Run>,
) -> BenchResult<Run> {
    let before = process_cpu_time();
    let mut measured = run.await;
    settle(side).await?;
    measured.cpu_per_command = cpu_per(before, commands);
    Ok(measured)
}

/// 表の 1 行 (同時実行 1 の p50、`added` があればその列、同時実行 16 の速さと CPU/コマンド、エラーの合計)。
fn print_row(label: &str, serial: &[Run], concurrent: &[Run], added: Option<&str>) {
    let p50 = median_duration(serial.iter().map(|r| r.p50).collect());
    let rate = median(concurrent.iter().map(|r| r.per_second).collect());
    let cpu = median_cpu(concurrent);
    let errors: usize = serial.iter().chain(concurrent).map(|r| r.errors).sum();
    let added = added.map(|text| format!(" {text} |")).unwrap_or_default();
    println!(
        "| {label} | {} |{added} {rate:.0} | {} | {errors} |",
        millis(p50),
        cpu
    );
}

/// CPU/コマンドの中央値 (`1.23 ms` の形)。どれか 1 回でも読めなかったら「—」。
fn median_cpu(runs: &[Run]) -> String {
    runs.iter()
        .map(|r| r.cpu_per_command)
        .collect::<Option<Vec<_>>>()
        .map_or_else(|| "—".to_owned(), |cpu| millis(median_duration(cpu)))
}

/// `1.23 ms` の形。
fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

/// `value / base` (`base` が 0 でも割り算が無限大や NaN にならないように)。
fn ratio(value: f64, base: f64) -> f64 {
    value / base.max(f64::MIN_POSITIVE)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn median_duration(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn main() -> BenchResult<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let base = baseline(SqliteSynchronous::Normal).await?;
        let base_full = baseline(SqliteSynchronous::Full).await?;
        let hub = mediahub(Durability::Full).await?;
        let relaxed = mediahub(Durability::Normal).await?;
        let mut rows = Vec::new();
        for (workers, commands) in [(16, CONCURRENT_COMMANDS), (1, SERIAL_COMMANDS)] {
            let (mut base_runs, mut hub_runs, mut relaxed_runs, mut base_full_runs) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let quiet = || async {
                settle(&hub).await?;
                settle(&relaxed).await
            };
            for round in 0..REPEATS {
                quiet().await?;
                base_runs.push(run_baseline(&base, workers, commands, round).await);
                quiet().await?;
                hub_runs.push(
                    with_catch_up(&hub, commands, run_mediahub(&hub, workers, commands, round))
                        .await?,
                );
                quiet().await?;
                relaxed_runs.push(
                    with_catch_up(
                        &relaxed,
                        commands,
                        run_mediahub(&relaxed, workers, commands, round),
                    )
                    .await?,
                );
                quiet().await?;
                base_full_runs.push(run_baseline(&base_full, workers, commands, round).await);
            }
            rows.push((workers, base_runs, hub_runs, relaxed_runs, base_full_runs));
        }
        println!();
        println!("## コマンドの経路: ゲートウェイ越しの改名 vs 1 プロセスの cqrs-es + sqlite-es");
        println!();
        println!(
            "アルバム {ALBUMS} 個からランダムに改名。各 {REPEATS} 回を交互に測った中央値 \
             (同時実行 16 は {CONCURRENT_COMMANDS} コマンド、1 は {SERIAL_COMMANDS} コマンド)。"
        );
        println!();
        println!(
            "CPU/コマンドはこのプロセス全体 (全サービス・基準・負荷をかける側) の CPU 時間を、\
             MediaHub では読み側が追いつくまで含めて数えたものです (2 コアなら速さは高々 2 秒 ÷ これ)。"
        );
        println!();
        println!("| 同時実行 | 経路 | コマンド/秒 | エラー (中央値) | p50 | CPU/コマンド |");
        println!("|---|---|---|---|---|---|");
        let mut summary = Vec::new();
        for (workers, base_runs, hub_runs, relaxed_runs, base_full_runs) in &rows {
            for (label, runs) in [
                ("基準 cqrs-es + sqlite-es (1 プロセス、synchronous=NORMAL)", base_runs),
                ("MediaHub (ゲートウェイ → album → イベントストア、コミットごとに fsync)", hub_runs),
                ("MediaHub (同じ経路、耐久性 normal = 基準と同じ)", relaxed_runs),
                ("参考: 基準を synchronous=FULL に (コミットごとに fsync = MediaHub の既定と同じ)", base_full_runs),
            ] {
                let rate = median(runs.iter().map(|r| r.per_second).collect());
                let errors = median(runs.iter().map(|r| r.errors as f64).collect());
                let p50 = median_duration(runs.iter().map(|r| r.p50).collect());
                let cpu = median_cpu(runs);
                println!(
                    "| {workers} | {label} | {rate:.0} | {errors:.0} / {} | {} | {} |",
                    if *workers == 1 {
                        SERIAL_COMMANDS
                    } else {
                        CONCURRENT_COMMANDS
                    },
                    millis(p50),
                    cpu
                );
                summary.push((*workers, label, rate, p50));
            }
        }
        let pick = |workers: usize, index: usize| {
            summary
                .iter()
                .filter(|(w, ..)| *w == workers)
                .nth(index)
                .map(|(_, _, rate, p50)| (*rate, *p50))
                .unwrap_or_default()
        };
        let (base16, _) = pick(16, 0);
        let (hub16, _) = pick(16, 1);
        let (_, base1) = pick(1, 0);
        let (_, hub1) = pick(1, 1);
        println!();
        println!(
            "- 同時実行 16 の速さの比 (MediaHub / 基準): **{:.2}×** (目標 ≥ 1.0×)",
            ratio(hub16, base16)
        );
        println!(
            "- 同時実行 1 の p50 の比 (MediaHub / 基準): **{:.2}×** (目標 ≤ 2×)",
            ratio(hub1.as_secs_f64(), base1.as_secs_f64())
        );
        let (_, relaxed1) = pick(1, 2);
        let (relaxed16, _) = pick(16, 2);
        println!(
            "- 耐久性 normal (基準と同じ) の MediaHub: 同時実行 16 の比 **{:.2}×**、同時実行 1 の p50 の比 **{:.2}×**",
            ratio(relaxed16, base16),
            ratio(relaxed1.as_secs_f64(), base1.as_secs_f64())
        );
        let (full16, _) = pick(16, 3);
        let (_, full1) = pick(1, 3);
        println!(
            "- 参考: 両方ともコミットごとに fsync (MediaHub の既定 / 基準の synchronous=FULL): 同時実行 16 の比 **{:.2}×**、同時実行 1 の p50 の比 **{:.2}×**",
            ratio(hub16, full16),
            ratio(hub1.as_secs_f64(), full1.as_secs_f64())
        );
        print_breakdown(&hub).await?;
        print_relay_floor(&hub).await?;
        hub.system.stop().await?;
        relaxed.system.stop().await?;
        Ok(())
    })
}
