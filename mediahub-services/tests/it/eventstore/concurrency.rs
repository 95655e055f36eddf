//! 並行書き込み: 楽観的並行性制御と、隙間のないグローバルログ。

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::support::eventstore::{Http, TestStore, new_event};
use serde_json::{Value, json};
use tokio::sync::Barrier;

/// 1 人の書き手: 現在の版を読み、その版を期待して 1 件追記する。409 なら読み直してやり直す。
/// (成功した版, 409 の回数) を返す。
async fn write_once_with_retries(store: Http, writer: usize, start: Arc<Barrier>) -> (u64, usize) {
    start.wait().await;
    let mut conflicts = 0;
    for _attempt in 0..500 {
        let version = store.stream("Media", "race").await.len() as u64;
        let event = new_event("MediaUploaded", json!({"writer": writer}));
        let (status, body) = store.append("Media", "race", version, &[event]).await;
        match status {
            201 => {
                let taken = body["last_version"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{body}"));
                assert_eq!(taken, version + 1);
                return (taken, conflicts);
            }
            409 => {
                assert_eq!(body["code"], "eventstore.version_conflict", "{body}");
                let current = body["current_version"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{body}"));
                assert!(current > version, "{body}");
                conflicts += 1;
            }
            other => panic!("予期しない状態 {other}: {body}"),
        }
    }
    panic!("書き手 {writer} が 500 回試しても書けませんでした");
}

/// `writers` 人の書き手を一斉に `Media/race` へ追記させます (書き手 `n` は `endpoints[n % 長さ]` に送る)。
/// 取れた版 (昇順) と 409 の合計を返します。
pub(super) async fn race_writers(endpoints: &[&Http], writers: usize) -> (Vec<u64>, usize) {
    let start = Arc::new(Barrier::new(writers));
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            tokio::spawn(write_once_with_retries(
                endpoints[writer % endpoints.len()].clone(),
                writer,
                Arc::clone(&start),
            ))
        })
        .collect();
    let mut taken = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let (version, lost) = task.await.unwrap_or_else(|e| panic!("{e}"));
        taken.push(version);
        conflicts += lost;
    }
    taken.sort_unstable();
    (taken, conflicts)
}

crate::on_both_backends! {
    multi_thread:
    async fn thirty_two_writers_racing_on_one_stream_take_each_version_once_and_log_has_no_gaps(backend) {
        const WRITERS: usize = 32;
        let mut store = TestStore::start_on(backend).await;
        let (taken, conflicts) = race_writers(&[&store.http], WRITERS).await;
        let expected: Vec<u64> = (1..=WRITERS as u64).collect();
        assert_eq!(taken, expected, "各版はちょうど 1 回だけ取られる");
        // 32 人が同時に版 0 を読んで書くので、負けた書き手は必ず 409 を受け取っている。
        assert!(conflicts > 0, "409 が一度も起きていません");

        let stream = store.stream("Media", "race").await;
        let versions: Vec<u64> = stream
            .iter()
            .filter_map(|e| e["version"].as_u64())
            .collect();
        assert_eq!(versions, expected);
        let writers: HashSet<u64> = stream
            .iter()
            .filter_map(|e| e["data"]["writer"].as_u64())
            .collect();
        assert_eq!(
            writers.len(),
            WRITERS,
            "どの書き手のイベントもちょうど 1 件"
        );

        let log = store.whole_log().await;
        let positions: Vec<u64> = log.iter().filter_map(|e| e["position"].as_u64()).collect();
        assert_eq!(
            positions, expected,
            "グローバルログは 1..=N で隙間も重複もない"
        );
        assert_eq!(store.head().await, WRITERS as u64);
        store.stop().await;
    }
}

crate::on_both_backends! {
    multi_thread:
    async fn many_streams_written_concurrently_give_gap_free_log_and_versions_1_to_n_per_stream(backend) {
        const STREAMS: usize = 8;
        const APPENDS: u64 = 10;
        let mut store = TestStore::start_on(backend).await;
        let client = store.client.clone();
        let token = store.token.clone();
        let base = store.base.clone();
        let tasks: Vec<_> = (0..STREAMS)
            .map(|stream| {
                let client = client.clone();
                let token = token.clone();
                let base = base.clone();
                tokio::spawn(async move {
                    for version in 0..APPENDS {
                        // 偶数回は 1 件、奇数回は 3 件のバッチ。
                        let count = if version % 2 == 0 { 1 } else { 3 };
                        let events: Vec<Value> = (0..count)
                            .map(|_| new_event("AlbumRenamed", json!({"stream": stream})))
                            .collect();
                        let expected = (version / 2) * 4 + (version % 2);
                        let response = client
                            .post(format!("{base}/api/v1/streams/Album/s{stream}/events"))
                            .bearer_auth(&token)
                            .json(&json!({"expected_version": expected, "events": events}))
                            .send()
                            .await
                            .unwrap_or_else(|e| panic!("{e}"));
                        assert_eq!(response.status().as_u16(), 201);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap_or_else(|e| panic!("{e}"));
        }
        let log = store.whole_log().await;
        let total = STREAMS as u64 * (APPENDS / 2) * 4;
        let positions: Vec<u64> = log.iter().filter_map(|e| e["position"].as_u64()).collect();
        assert_eq!(positions, (1..=total).collect::<Vec<_>>());
        let mut per_stream: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for event in &log {
            per_stream
                .entry(
                    event["aggregate_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
                .or_default()
                .push(event["version"].as_u64().unwrap_or_default());
        }
        assert_eq!(per_stream.len(), STREAMS);
        for versions in per_stream.values() {
            let expected: Vec<u64> = (1..=(APPENDS / 2) * 4).collect();
            assert_eq!(
                versions, &expected,
                "グローバルログの中でも各ストリームの版は昇順"
            );
        }
        store.stop().await;
    }
}
