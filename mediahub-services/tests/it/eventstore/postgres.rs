//! PostgreSQL だけのテスト: いくつものイベントストアのプロセスが 1 つのデータベースに同時に書く。
//!
//! プロセスは本物のバイナリ (`eventstore`) を起動します。位置の割り当て (勧告ロック)、
//! ほかのプロセスのコミットで起きる購読 (LISTEN/NOTIFY)、書いている途中の SIGKILL を確かめます。

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};

use super::concurrency::race_writers;
use crate::support::eventstore::{Http, SECRET, TestStore, events_of, keys, new_event};
use crate::support::postgres::PgServer;
use crate::support::process::ServiceProcess;

/// 別のプロセスとして動くイベントストア (落とすと SIGKILL で止めます)。
struct StoreProcess {
    process: ServiceProcess,
    http: Http,
}

impl StoreProcess {
    /// `eventstore` バイナリを `database_url` の上で起動します。
    fn spawn(database_url: &str) -> Self {
        let secret = std::str::from_utf8(SECRET).unwrap_or_else(|e| panic!("{e}"));
        let process = ServiceProcess::spawn(
            env!("CARGO_BIN_EXE_eventstore"),
            "eventstore",
            &[
                ("EVENTSTORE_DATABASE", database_url),
                ("EVENTSTORE_LISTEN", "127.0.0.1:0"),
                ("JWT_SECRET", secret),
            ],
        );
        let http = Http {
            client: mediahub_services::platform::http_client::builder()
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
            token: keys()
                .issue_service_token("test")
                .unwrap_or_else(|e| panic!("{e}")),
            base: process.base_url.clone(),
        };
        Self { process, http }
    }

    fn kill(&mut self) {
        self.process.kill();
    }
}

fn positions(log: &[Value]) -> Vec<u64> {
    log.iter().filter_map(|e| e["position"].as_u64()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_store_processes_on_one_database_with_32_racing_writers_each_take_every_version_once_and_log_is_gap_free()
 {
    const WRITERS_PER_PROCESS: usize = 32;
    let server = PgServer::start();
    let url = server.database().await;
    let a = StoreProcess::spawn(&url);
    let b = StoreProcess::spawn(&url);
    let (taken, conflicts) = race_writers(&[&a.http, &b.http], WRITERS_PER_PROCESS * 2).await;
    let expected: Vec<u64> = (1..=(WRITERS_PER_PROCESS * 2) as u64).collect();
    assert_eq!(taken, expected, "どの版もちょうど 1 回だけ取られる");
    assert!(
        conflicts > 0,
        "2 つのプロセスの間で 409 が一度も起きていません"
    );
    let log_a = a.http.whole_log().await;
    let log_b = b.http.whole_log().await;
    assert_eq!(
        positions(&log_a),
        expected,
        "位置は 1..=64 で隙間も重複もない"
    );
    assert_eq!(log_a, log_b, "どちらのプロセスから読んでも同じログ");
    let writers: HashSet<u64> = log_a
        .iter()
        .filter_map(|e| e["data"]["writer"].as_u64())
        .collect();
    assert_eq!(writers.len(), WRITERS_PER_PROCESS * 2);
}

/// 購読者: `after` から long-poll で読み続け、読んだ位置を順に返す (`total` 件読んだら終わる)。
async fn consume(http: Http, total: u64) -> Vec<u64> {
    let mut seen = Vec::new();
    let mut after = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while after < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "購読者が期限内に {total} 件読めませんでした (読めたのは {after} まで)"
        );
        let (status, body) = http
            .get_json(&format!(
                "/api/v1/events?after={after}&limit=7&wait_ms=2000"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        for event in events_of(&body) {
            let position = event["position"].as_u64().unwrap_or_default();
            seen.push(position);
            after = position;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumers_on_both_processes_reading_during_concurrent_commits_from_both_never_skip_an_event_in_25_rounds()
 {
    const ROUNDS: u64 = 25;
    const WRITERS: u64 = 8;
    const APPENDS: u64 = 5;
    let total = ROUNDS * WRITERS * APPENDS;
    let server = PgServer::start();
    let url = server.database().await;
    let a = StoreProcess::spawn(&url);
    let b = StoreProcess::spawn(&url);
    // 購読者は最初から待っています。ほかのプロセスのコミットでも LISTEN/NOTIFY で起きるはずです。
    let reader_a = tokio::spawn(consume(a.http.clone(), total));
    let reader_b = tokio::spawn(consume(b.http.clone(), total));
    for round in 0..ROUNDS {
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let http = if writer % 2 == 0 {
                    a.http.clone()
                } else {
                    b.http.clone()
                };
                tokio::spawn(async move {
                    for version in 0..APPENDS {
                        let event = new_event("AlbumRenamed", json!({"round": round}));
                        let (status, body) = http
                            .append("Album", &format!("r{round}-w{writer}"), version, &[event])
                            .await;
                        assert_eq!(status, 201, "{body}");
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let expected: Vec<u64> = (1..=total).collect();
    for reader in [reader_a, reader_b] {
        let seen = reader.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            seen, expected,
            "購読者は 1 件も読み飛ばさず、同じ位置を 2 度読まない"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_process_killed_with_sigkill_mid_append_leaves_no_partial_batch_nor_gap_and_retries_are_stored_once()
 {
    const BATCHES: usize = 24;
    const EVENTS: usize = 500;
    let server = PgServer::start();
    let url = server.database().await;
    let mut victim = StoreProcess::spawn(&url);
    let survivor = StoreProcess::spawn(&url);
    // 24 個の大きなバッチ (各 500 件、別々のストリーム) を同時に送り、最初の返事が来たら
    // (= ほかのバッチがまだ書かれている最中に) SIGKILL します。
    let batches: Vec<Vec<Value>> = (0..BATCHES)
        .map(|batch| {
            (0..EVENTS)
                .map(|n| {
                    new_event(
                        "MediaTagged",
                        json!({"batch": batch, "n": n, "pad": "x".repeat(200)}),
                    )
                })
                .collect()
        })
        .collect();
    let (first_tx, mut first_rx) = tokio::sync::mpsc::channel::<()>(BATCHES);
    let sends: Vec<_> = batches
        .iter()
        .enumerate()
        .map(|(batch, events)| {
            let http = victim.http.clone();
            let events = events.clone();
            let first_tx = first_tx.clone();
            tokio::spawn(async move {
                let response = http
                    .post(&format!("/api/v1/streams/Media/kill-{batch}/events"))
                    .json(&json!({"expected_version": 0, "events": events}))
                    .send()
                    .await;
                let status = match response {
                    Ok(response) => Some(response.status().as_u16()),
                    Err(_) => None,
                };
                let _sent = first_tx.send(()).await;
                status
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(60), first_rx.recv())
        .await
        .unwrap_or_else(|_| panic!("どの追記も 60 秒以内に返りませんでした"));
    victim.kill();
    let mut answered = 0;
    for send in sends {
        if send.await.unwrap_or_else(|e| panic!("{e}")) == Some(201) {
            answered += 1;
        }
    }
    assert!(
        answered < BATCHES,
        "すべてのバッチが kill の前に書き終わりました (途中で止める試験になっていません)"
    );

    // 生き残ったプロセスから見たログ: 隙間が無く、どのバッチも全部か無しか。
    let log = survivor.http.whole_log().await;
    let head = survivor.http.head().await;
    assert_eq!(
        positions(&log),
        (1..=head).collect::<Vec<_>>(),
        "位置に隙間が無い"
    );
    let mut per_batch: BTreeMap<String, usize> = BTreeMap::new();
    for event in &log {
        *per_batch
            .entry(
                event["aggregate_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
            .or_default() += 1;
    }
    for (stream, count) in &per_batch {
        assert_eq!(*count, EVENTS, "{stream} は途中までしか書かれていません");
    }
    let stored_before_retry = per_batch.len();
    assert!(stored_before_retry >= 1);

    // クライアントは返事をもらえなかったバッチも含めて全部を同じ ID で送り直します。
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for (batch, events) in batches.iter().enumerate() {
        let (status, body) = survivor
            .http
            .append("Media", &format!("kill-{batch}"), 0, events)
            .await;
        assert!(status == 200 || status == 201, "{status}: {body}");
        *statuses.entry(status).or_default() += 1;
    }
    assert_eq!(
        statuses.get(&200).copied().unwrap_or(0),
        stored_before_retry,
        "kill の前にコミットされていたバッチは冪等な再送 (200)"
    );
    let log = survivor.http.whole_log().await;
    assert_eq!(
        log.len(),
        BATCHES * EVENTS,
        "どのイベントもちょうど 1 回だけ保存される"
    );
    assert_eq!(
        positions(&log),
        (1..=(BATCHES * EVENTS) as u64).collect::<Vec<_>>()
    );
    let ids: HashSet<&str> = log.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids.len(), BATCHES * EVENTS);
    // 念のため、同じデータベースに新しいイベントストアを立てても同じログが見えます。
    let fresh = TestStore::start_on_url(&url).await;
    assert_eq!(fresh.head().await, (BATCHES * EVENTS) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_process_paused_with_sigstop_while_writing_does_not_block_the_other_process_for_long()
{
    let server = PgServer::start();
    let url = server.database().await;
    let paused = StoreProcess::spawn(&url);
    let other = StoreProcess::spawn(&url);
    // 一時停止するプロセスに追記を流し続け (トランザクションの途中で止まることがあるように)、止めます。
    let flood: Vec<_> = (0..8)
        .map(|writer| {
            let http = paused.http.clone();
            tokio::spawn(async move {
                for version in 0..1000_u64 {
                    let events: Vec<Value> = (0..50)
                        .map(|n| new_event("MediaTagged", json!({"n": n})))
                        .collect();
                    let sent = tokio::time::timeout(
                        Duration::from_secs(60),
                        http.append("Media", &format!("paused-{writer}"), version * 50, &events),
                    )
                    .await;
                    if sent.is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    crate::support::common::wait_until(
        "一時停止するプロセスが書き始める",
        Duration::from_secs(30),
        || async { other.http.head().await > 0 },
    )
    .await;
    paused.process.signal("STOP");

    // 止まったプロセスがロックを持っていても、PostgreSQL が黙った接続を切るので、もう一方は書ける。
    let (status, body) = tokio::time::timeout(
        Duration::from_secs(30),
        other.http.append(
            "Media",
            "after-pause",
            0,
            &[new_event("MediaTagged", json!({}))],
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("一時停止したプロセスがもう一方の書き込みを 30 秒以上止めました"));
    assert_eq!(status, 201, "{body}");
    let log = other.http.whole_log().await;
    let head = other.http.head().await;
    assert_eq!(
        positions(&log),
        (1..=head).collect::<Vec<_>>(),
        "位置に隙間が無い"
    );
    paused.process.signal("CONT");
    for task in flood {
        task.abort();
    }
}
