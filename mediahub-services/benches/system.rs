//! 全体のベンチマーク (`cargo bench -p mediahub-services --bench system`、`make bench`)。
//!
//! 全サービスを 1 つのプロセスでポート 0 に起動し (`mediahub run` と同じ起動)、本物の HTTP で
//! 次を測って、DESIGN §10 の round 2 の目標と並べた 1 つの表を出します (結果の記録は
//! [開発ガイド「ベンチマークの結果」](https://github.com/nao1215/mediahub/blob/main/docs/development.md#ベンチマークの結果-参考))。
//!
//! | 計測 | 方法 |
//! |---|---|
//! | 1 メガピクセルの JPEG のアップロード → Saga 完了 | ゲートウェイに 1280×800 の JPEG を 100 回送り、受付から `SagaCompleted` がログに載るまで (ロングポーリングで待つ) の p50 / p99 |
//! | 16 人が同時に 1 メガピクセルの JPEG をアップロード | 16 人がそれぞれ 4 回ずつ送り、各回 `SagaCompleted` まで待つ。Saga 完了までのアップロード/秒、各回の p50 / p99、1 回あたりのこのプロセス全体の CPU 時間 (`/proc/self/stat`) |
//! | 追記 → media-query で見える | saga を止めた静かな状態で `MediaUploaded` を 200 回イベントストアに直接追記し、media-query のチェックポイントがその位置に届くまでの p50 / p99 |
//! | 読みモデルの作り直し | さらに `MediaUploaded` を 20,000 件足してから、media-query の `POST /internal/v1/rebuild` が処理したイベント数 / 時間 |
//! | 50 MB のアップロード | 1 回のアップロードの間のピーク RSS の増分 (`/proc/self/clear_refs` でピークを戻してから `VmHWM`) |
//! | 全部入りの待機 RSS・全 /ready までの時間 | `mediahub run --ephemeral-ports` を子プロセスで起動し、全サービスの `/ready` が 200 になるまでの時間と、その 1 秒後の `VmRSS` |
//!
//! 最後の計測は release ビルドの `mediahub` バイナリを使います (`make bench` が先にビルドします)。

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mediahub_core::envelope::{EventMetadata, NewEvent};
use mediahub_core::ids::{EventId, MediaId, UserId};
use mediahub_core::media::{MediaEvent, MediaKind};
use mediahub_services::platform::auth::JwtKeys;
use mediahub_services::store_client::{EventStoreClient, LogQuery, StaticToken};
use mediahub_services::system::{Ports, System, SystemConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

mod support;
use support::{cpu_per, process_cpu_time};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const SECRET: &[u8] = b"bench-secret-0123456789abcdef-0123456789";
const UPLOADS: usize = 100;
const APPENDS: usize = 200;
const BIG_UPLOAD_BYTES: usize = 50_000_000;
/// 作り直しの計測のために足す Media イベントの数。
const REBUILD_EVENTS: usize = 20_000;
/// 同時にアップロードする人数 (DESIGN §10)。
const CONCURRENT_UPLOADERS: usize = 16;
/// 同時アップロードの計測で、1 人がアップロードする回数。
const UPLOADS_PER_UPLOADER: usize = 4;

/// 同時アップロードの計測の結果。
struct ConcurrentUploads {
    /// Saga 完了までを数えたアップロード/秒。
    per_second: f64,
    /// 各回のアップロード → Saga 完了の時間 (昇順)。
    samples: Vec<Duration>,
    /// 1 回あたりのこのプロセス全体の CPU 時間 (読めなければ `None`)。
    cpu_per_upload: Option<Duration>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// `/proc/<pid>/status` の 1 行 (kB) をバイトで。
fn proc_status_bytes(pid: &str, key: &str) -> BenchResult<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .ok_or_else(|| format!("{key} がありません"))?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .ok_or("値がありません")?
        .parse()?;
    Ok(kb * 1024)
}

struct Bench {
    system: System,
    http: reqwest::Client,
    token: String,
    store: EventStoreClient,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn start() -> BenchResult<Self> {
        let dir = tempfile::tempdir()?;
        let keys = JwtKeys::from_secret(SECRET)?;
        let config = SystemConfig::new(dir.path(), root().join("web"), keys.clone())
            .ports(Ports::EPHEMERAL)
            .dev_login(true);
        let system = System::start(config).await?;
        let http = mediahub_services::platform::http_client::builder().build()?;
        let login: Value = http
            .post(format!("{}/auth/dev-token", system.urls().gateway))
            .json(&json!({"login": "bench"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = login["token"]
            .as_str()
            .ok_or("token がありません")?
            .to_owned();
        let store = EventStoreClient::new(
            &system.urls().eventstore,
            StaticToken(keys.issue_service_token("bench")?),
        )?;
        Ok(Self {
            system,
            http,
            token,
            store,
            _dir: dir,
        })
    }

    async fn upload(&self, bytes: Vec<u8>, name: &str) -> BenchResult<Value> {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str("image/jpeg")?;
        Ok(self
            .http
            .post(format!("{}/api/v1/media", self.system.urls().gateway))
            .bearer_auth(&self.token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// `after` より後に、あるイベント型・集約 ID のイベントが載るまでロングポーリングで待ちます。
    async fn wait_for_event(
        &self,
        after: u64,
        event_type: &str,
        aggregate_id: &str,
    ) -> BenchResult<u64> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut after = after;
        while Instant::now() < deadline {
            let page = self
                .store
                .read_log(
                    &LogQuery::after(after)
                        .event_type(event_type)
                        .aggregate_id(aggregate_id)
                        .limit(1000)
                        .wait(Duration::from_secs(5)),
                )
                .await?;
            for event in &page.events {
                if event.event_type == event_type && event.aggregate_id == aggregate_id {
                    return Ok(event.position);
                }
                after = event.position;
            }
        }
        Err(format!("{event_type} ({aggregate_id}) が 30 秒以内に載りません").into())
    }

    /// 1 メガピクセルの JPEG のアップロード → Saga 完了。
    async fn upload_to_completed(&self) -> BenchResult<Vec<Duration>> {
        let jpeg = std::fs::read(root().join("testdata/images/photo-1280x800.jpg"))?;
        let mut samples = Vec::with_capacity(UPLOADS);
        for n in 0..UPLOADS {
            let after = self.store.head().await?;
            let started = Instant::now();
            let accepted = self.upload(jpeg.clone(), &format!("photo-{n}.jpg")).await?;
            let saga_id = accepted["saga_id"].as_str().ok_or("saga_id がありません")?;
            self.wait_for_event(after, "SagaCompleted", saga_id).await?;
            samples.push(started.elapsed());
        }
        samples.sort();
        Ok(samples)
    }

    /// [`CONCURRENT_UPLOADERS`] 人が同時に、それぞれ [`UPLOADS_PER_UPLOADER`] 回ずつ 1 メガピクセルの
    /// JPEG をアップロードし、各回 Saga 完了まで待ちます (画像のデコードが律速なので、1 回あたりの CPU も出す)。
    async fn concurrent_uploads(&self) -> BenchResult<ConcurrentUploads> {
        let jpeg = std::fs::read(root().join("testdata/images/photo-1280x800.jpg"))?;
        let cpu_before = process_cpu_time();
        let started = Instant::now();
        let uploaders = (0..CONCURRENT_UPLOADERS).map(|uploader| {
            let jpeg = &jpeg;
            async move {
                let mut samples = Vec::with_capacity(UPLOADS_PER_UPLOADER);
                for n in 0..UPLOADS_PER_UPLOADER {
                    let after = self.store.head().await?;
                    let begun = Instant::now();
                    let accepted = self
                        .upload(jpeg.clone(), &format!("concurrent-{uploader}-{n}.jpg"))
                        .await?;
                    let saga_id = accepted["saga_id"].as_str().ok_or("saga_id がありません")?;
                    self.wait_for_event(after, "SagaCompleted", saga_id).await?;
                    samples.push(begun.elapsed());
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(samples)
            }
        });
        let mut samples = Vec::with_capacity(CONCURRENT_UPLOADERS * UPLOADS_PER_UPLOADER);
        for uploaded in futures::future::join_all(uploaders).await {
            samples.extend(uploaded?);
        }
        let elapsed = started.elapsed();
        samples.sort();
        Ok(ConcurrentUploads {
            per_second: samples.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
            cpu_per_upload: cpu_per(cpu_before, samples.len()),
            samples,
        })
    }

    /// 追記 → media-query で見える (saga を止めた静かな状態で)。
    async fn append_to_visible(&mut self) -> BenchResult<Vec<Duration>> {
        self.system.stop_saga().await?;
        let owner = UserId::new_random();
        let mut samples = Vec::with_capacity(APPENDS);
        for _ in 0..APPENDS {
            let media_id = MediaId::new_random();
            let event = MediaEvent::MediaUploaded {
                media_id,
                owner_id: owner,
                filename: "bench.jpg".into(),
                content_type: "image/jpeg".into(),
                kind: MediaKind::Image,
                size_bytes: 1234,
                sha256: "0".repeat(64),
                storage_key: format!("originals/{media_id}"),
            };
            let new = NewEvent::from_domain(
                &event,
                EventId::new_time_ordered(),
                EventMetadata::default(),
            )?;
            let query = self
                .system
                .media_query()
                .ok_or("media-query が止まっています")?;
            let mut position = query.subscribe();
            let started = Instant::now();
            let outcome = self
                .store
                .append("Media", &media_id.to_string(), 0, &[new])
                .await?;
            let target = outcome.last_position;
            position.wait_for(|p| *p >= target).await?;
            samples.push(started.elapsed());
        }
        samples.sort();
        Ok(samples)
    }

    /// `count` 件の `MediaUploaded` を 8 並列で追記し、media-query が追いつくのを待ちます
    /// (作り直しの速さを意味のある件数で測るため。saga は止めたまま)。
    async fn bulk_append(&self, count: usize) -> BenchResult<()> {
        let owner = UserId::new_random();
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..8 {
            let store = self.store.clone();
            tasks.spawn(async move {
                let mut last = 0;
                for n in (worker..count).step_by(8) {
                    let media_id = MediaId::new_random();
                    let event = MediaEvent::MediaUploaded {
                        media_id,
                        owner_id: owner,
                        filename: format!("bulk-{n}.jpg"),
                        content_type: "image/jpeg".into(),
                        kind: MediaKind::Image,
                        size_bytes: 1234,
                        sha256: "0".repeat(64),
                        storage_key: format!("originals/{media_id}"),
                    };
                    let new = NewEvent::from_domain(
                        &event,
                        EventId::new_time_ordered(),
                        EventMetadata::default(),
                    )?;
                    last = store
                        .append("Media", &media_id.to_string(), 0, &[new])
                        .await?
                        .last_position;
                }
                Ok::<u64, Box<dyn std::error::Error + Send + Sync>>(last)
            });
        }
        let mut head = 0;
        while let Some(joined) = tasks.join_next().await {
            head = head.max(joined??);
        }
        let query = self
            .system
            .media_query()
            .ok_or("media-query が止まっています")?;
        query.subscribe().wait_for(|p| *p >= head).await?;
        Ok(())
    }

    /// 読みモデルの作り直し (イベント/秒)。
    async fn rebuild_rate(&self) -> BenchResult<(u64, Duration)> {
        let keys = JwtKeys::from_secret(SECRET)?;
        let url = format!(
            "{}/internal/v1/rebuild",
            self.system
                .media_query()
                .ok_or("media-query が止まっています")?
                .base_url()
        );
        let started = Instant::now();
        let body: Value = self
            .http
            .post(url)
            .bearer_auth(keys.issue_service_token("bench")?)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok((body["events"].as_u64().unwrap_or(0), started.elapsed()))
    }

    /// 50 MB のアップロードの間のピーク RSS の増分。
    async fn big_upload_rss_growth(&self) -> BenchResult<u64> {
        // ピーク (VmHWM) を今の RSS に戻す。
        std::fs::write("/proc/self/clear_refs", "5")?;
        let baseline = proc_status_bytes("self", "VmHWM:")?;
        let mut header = vec![0xFF, 0xD8, 0xFF, 0xE0];
        header.resize(64 * 1024, 0);
        let chunks = BIG_UPLOAD_BYTES / header.len();
        let body = futures::stream::iter((0..chunks).map(move |n| {
            let mut chunk = header.clone();
            if n > 0 {
                chunk[..4].copy_from_slice(&[0, 0, 0, 0]);
            }
            Ok::<_, std::io::Error>(chunk)
        }));
        let part = reqwest::multipart::Part::stream_with_length(
            reqwest::Body::wrap_stream(body),
            (chunks * 64 * 1024) as u64,
        )
        .file_name("big.jpg")
        .mime_str("image/jpeg")?;
        self.http
            .post(format!("{}/api/v1/media", self.system.urls().gateway))
            .bearer_auth(&self.token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await?
            .error_for_status()?;
        let peak = proc_status_bytes("self", "VmHWM:")?;
        Ok(peak.saturating_sub(baseline))
    }
}

/// `mediahub run --ephemeral-ports` を子プロセスで起動し、全 /ready までの時間と待機 RSS を測ります。
async fn all_in_one_startup() -> BenchResult<(Duration, u64)> {
    let binary = root().join("target/release/mediahub");
    if !binary.is_file() {
        return Err(format!(
            "{} がありません (cargo build --release --bin mediahub)",
            binary.display()
        )
        .into());
    }
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&binary)
        .args(["run", "--ephemeral-ports", "--data-dir"])
        .arg(dir.path())
        .arg("--web-dir")
        .arg(root().join("web"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child
        .id()
        .ok_or("子プロセスの pid がありません")?
        .to_string();
    let stdout = child.stdout.take().ok_or("標準出力がありません")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut urls = Vec::new();
    while let Some(line) = lines.next_line().await? {
        if let Some(url) = line.split_whitespace().nth(1) {
            if let Some(base) = url.strip_suffix("/swagger") {
                urls.push(base.to_owned());
            }
        }
        if line.starts_with("Ctrl-C") {
            break;
        }
    }
    let http = mediahub_services::platform::http_client::builder().build()?;
    for url in &urls {
        loop {
            let ok = http
                .get(format!("{url}/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!("{url} が 30 秒以内に ready になりません").into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let ready = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = proc_status_bytes(&pid, "VmRSS:")?;
    child.start_kill()?;
    child.wait().await?;
    Ok((ready, rss))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> BenchResult<()> {
    let mut bench = Bench::start().await?;
    // 温め (初回の接続・SQLite のページキャッシュ)
    let jpeg = std::fs::read(root().join("testdata/images/photo-1280x800.jpg"))?;
    bench.upload(jpeg, "warmup.jpg").await?;

    let uploads = bench.upload_to_completed().await?;
    let concurrent = bench.concurrent_uploads().await?;
    let appends = bench.append_to_visible().await?;
    bench.bulk_append(REBUILD_EVENTS).await?;
    let (rebuilt, rebuild_time) = bench.rebuild_rate().await?;
    let big_growth = bench.big_upload_rss_growth().await?;
    bench.system.stop().await?;
    let (ready, idle_rss) = all_in_one_startup().await?;

    let rebuild_rate = rebuilt as f64 / rebuild_time.as_secs_f64().max(f64::EPSILON);
    println!();
    println!("| 計測 | 結果 | 目標 (DESIGN §10) |");
    println!("|---|---|---|");
    println!(
        "| 1 MP JPEG のアップロード → Saga 完了 ({UPLOADS} 回) | p50 {} / p99 {} | p50 ≤ 25 ms, p99 ≤ 50 ms |",
        ms(percentile(&uploads, 50.0)),
        ms(percentile(&uploads, 99.0))
    );
    println!(
        "| {CONCURRENT_UPLOADERS} 人が同時に 1 MP JPEG のアップロード → Saga 完了 ({} 回) | {:.1} 回/秒、p50 {} / p99 {}、CPU {}/回 | 数字を出す (デコードが律速) |",
        concurrent.samples.len(),
        concurrent.per_second,
        ms(percentile(&concurrent.samples, 50.0)),
        ms(percentile(&concurrent.samples, 99.0)),
        concurrent.cpu_per_upload.map_or_else(|| "—".to_owned(), ms)
    );
    println!(
        "| 追記 → media-query で見える ({APPENDS} 回、静止時) | p50 {} / p99 {} | p99 ≤ 5 ms |",
        ms(percentile(&appends, 50.0)),
        ms(percentile(&appends, 99.0))
    );
    println!("| 読みモデルの作り直し ({rebuilt} 件) | {rebuild_rate:.0} 件/秒 | ≥ 50,000 件/秒 |");
    println!(
        "| 50 MB のアップロード中のピーク RSS の増分 | {:.1} MB | < 16 MB |",
        big_growth as f64 / 1_000_000.0
    );
    println!(
        "| 全部入りの待機 RSS / 全 /ready までの時間 | {:.1} MB / {} | ≤ 40 MB / ≤ 100 ms |",
        idle_rss as f64 / 1_000_000.0,
        ms(ready)
    );
    println!();
    println!("(イベント追記のスループットは `cargo bench --bench eventstore` の表にあります)");
    Ok(())
}
