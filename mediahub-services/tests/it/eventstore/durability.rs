//! 再起動後の永続性と、冪等な追記。

use crate::support::eventstore::{TestStore, events_of, new_event, status_and_json};
use serde_json::{Value, json};
use uuid::Uuid;

crate::on_both_backends! {
    async fn restart_on_same_file_keeps_events_snapshot_and_head_and_positions_continue_without_gap(backend) {
        let mut store = TestStore::start_on(backend).await;
        let (status, _) = store
            .append(
                "Media",
                "m1",
                0,
                &[
                    new_event("MediaUploaded", json!({"n": 1})),
                    new_event("MediaProcessed", json!({"n": 2})),
                ],
            )
            .await;
        assert_eq!(status, 201);
        let (status, _) = store
            .append(
                "Album",
                "a1",
                0,
                &[new_event("AlbumCreated", json!({"n": 3}))],
            )
            .await;
        assert_eq!(status, 201);
        let response = store
            .put("/api/v1/streams/Media/m1/snapshot")
            .json(&json!({"aggregate": {"s": 1}, "current_sequence": 2, "current_snapshot": 1, "expected_snapshot": null}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 204);
        let before = store.whole_log().await;
        let old_base = store.base.clone();

        store.restart().await;

        assert_ne!(
            store.base, old_base,
            "ポート 0 なので新しいポートで起動している"
        );
        assert_eq!(
            store.whole_log().await,
            before,
            "イベントはすべて同じ形で残っている"
        );
        assert_eq!(store.head().await, 3);
        let (status, snapshot) = store.get_json("/api/v1/streams/Media/m1/snapshot").await;
        assert_eq!(status, 200);
        assert_eq!(snapshot["aggregate"], json!({"s": 1}));
        // 版の衝突も再起動をまたいで効く。
        let (status, body) = store
            .append("Media", "m1", 1, &[new_event("MediaDeleted", json!({}))])
            .await;
        assert_eq!(status, 409);
        assert_eq!(body["current_version"], 2);
        let (status, body) = store
            .append("Media", "m1", 2, &[new_event("MediaDeleted", json!({}))])
            .await;
        assert_eq!(status, 201);
        assert_eq!(body["last_position"], 4, "位置は隙間なく続く");
        assert_eq!(body["last_version"], 3);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn same_append_sent_twice_returns_200_with_stored_envelopes_and_stores_events_once(backend) {
        let mut store = TestStore::start_on(backend).await;
        let events = vec![
            new_event("MediaUploaded", json!({"n": 1})),
            new_event("MediaProcessed", json!({"n": 2})),
        ];
        let (status, first) = store.append("Media", "m1", 0, &events).await;
        assert_eq!(status, 201, "{first}");
        let (status, again) = store.append("Media", "m1", 0, &events).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again, first, "再送には最初と同じエンベロープが返る");
        assert_eq!(store.stream("Media", "m1").await.len(), 2);
        assert_eq!(store.head().await, 2);
        // ほかのイベントが後に続いていても、再送は冪等。
        let (status, _) = store
            .append("Media", "m1", 2, &[new_event("MediaDeleted", json!({}))])
            .await;
        assert_eq!(status, 201);
        let (status, later) = store.append("Media", "m1", 0, &events).await;
        assert_eq!(status, 200);
        assert_eq!(later, first);
        assert_eq!(store.head().await, 3);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn same_event_id_with_other_content_or_stream_or_partial_retry_returns_409_duplicate_and_writes_nothing(backend) {
        let mut store = TestStore::start_on(backend).await;
        let original = new_event("MediaUploaded", json!({"n": 1}));
        let (status, _) = store
            .append("Media", "m1", 0, std::slice::from_ref(&original))
            .await;
        assert_eq!(status, 201);
        let mut changed = original.clone();
        changed["data"] = json!({"n": 2});
        let fresh = new_event("MediaProcessed", json!({}));
        let cases: Vec<(&str, &str, u64, Vec<Value>)> = vec![
            ("内容が違う", "m1", 0, vec![changed]),
            (
                "別のストリーム・版は不一致",
                "m2",
                5,
                vec![original.clone()],
            ),
            ("別のストリーム・版も一致", "m3", 0, vec![original.clone()]),
            (
                "一部だけ保存済み",
                "m1",
                0,
                vec![original.clone(), fresh.clone()],
            ),
            (
                "保存済みの ID を後ろに付けた追記",
                "m1",
                1,
                vec![fresh, original.clone()],
            ),
        ];
        for (name, stream, expected, events) in cases {
            let (status, body) = store.append("Media", stream, expected, &events).await;
            assert_eq!(status, 409, "{name}: {body}");
            assert_eq!(
                body["code"], "eventstore.duplicate_event_id",
                "{name}: {body}"
            );
            assert_eq!(body["event_id"], original["id"], "{name}: {body}");
        }
        assert_eq!(store.head().await, 1);
        assert_eq!(store.stream("Media", "m1").await.len(), 1);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn commit_sent_twice_returns_200_and_keeps_first_snapshot(backend) {
        let mut store = TestStore::start_on(backend).await;
        let body = json!({
            "expected_version": 0,
            "events": [new_event("MediaUploaded", json!({}))],
            "snapshot": {"aggregate": {"v": 1}, "current_sequence": 1, "current_snapshot": 1, "expected_snapshot": null},
        });
        let send = || store.post("/api/v1/streams/Media/c1/commit").json(&body);
        let (status, first) =
            status_and_json(send().send().await.unwrap_or_else(|e| panic!("{e}"))).await;
        assert_eq!(status, 201, "{first}");
        let (status, again) =
            status_and_json(send().send().await.unwrap_or_else(|e| panic!("{e}"))).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(events_of(&again), events_of(&first));
        assert_eq!(store.head().await, 1);
        let (_, snapshot) = store.get_json("/api/v1/streams/Media/c1/snapshot").await;
        assert_eq!(snapshot["current_snapshot"], 1);
        store.stop().await;
    }
}

crate::on_both_backends! {
    multi_thread:
    async fn same_append_sent_by_8_clients_at_once_is_stored_once_one_201_and_seven_200(backend) {
        let mut store = TestStore::start_on(backend).await;
        let events = vec![
            new_event("MediaUploaded", json!({"n": 1})),
            new_event("MediaProcessed", json!({"n": 2})),
        ];
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let http = store.http.clone();
                let events = events.clone();
                let start = std::sync::Arc::clone(&start);
                tokio::spawn(async move {
                    start.wait().await;
                    http.append("Media", "same", 0, &events).await
                })
            })
            .collect();
        let mut created = 0;
        let mut bodies = Vec::new();
        for task in tasks {
            let (status, body) = task.await.unwrap_or_else(|e| panic!("{e}"));
            match status {
                201 => created += 1,
                200 => {}
                other => panic!("予期しない状態 {other}: {body}"),
            }
            bodies.push(body);
        }
        assert_eq!(created, 1);
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "全員が同じエンベロープを受け取る"
        );
        assert_eq!(store.head().await, 2);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn log_reads_of_fresh_commits_equal_the_same_reads_from_the_file_after_restart_for_every_filter(backend) {
        // SQLite はコミットしたばかりのイベントを書き込みタスクの窓 (RecentEvents) から答え、
        // 再起動後は窓が空なのでファイルから答えます。どの読み方でも 1 バイトも違わないこと。
        let mut store = TestStore::start_on(backend).await;
        let correlation = Uuid::new_v4();
        let user = Uuid::new_v4();
        let rich = |event_type: &str, data: Value, correlation: Uuid| {
            json!({
                "id": Uuid::new_v4(),
                "event_type": event_type,
                "event_version": "1.0",
                "data": data,
                "metadata": {
                    "correlation_id": correlation,
                    "causation_id": Uuid::new_v4(),
                    "user_id": user,
                    "idempotency_key": "saga:process_media",
                },
            })
        };
        let appends = [
            ("Media", "m1", vec![
                rich("MediaUploaded", json!({"name": "写真 \"1\".jpg", "size": 0.1, "tags": [null, true, -0.0]}), correlation),
                rich("MediaProcessed", json!({"width": 1_u64 << 53, "ratio": 1.0e-7}), correlation),
            ]),
            ("Album", "a1", vec![rich("AlbumCreated", json!({"name": "旅行"}), Uuid::new_v4())]),
            ("Notification", "n1", vec![new_event("NotificationSent", json!({}))]),
        ];
        for (aggregate_type, aggregate_id, events) in &appends {
            let (status, body) = store.append(aggregate_type, aggregate_id, 0, events).await;
            assert_eq!(status, 201, "{body}");
        }
        let reads = [
            "/api/v1/events?after=0".to_owned(),
            "/api/v1/events?after=1&limit=2".to_owned(),
            "/api/v1/events?aggregate_type=Album&aggregate_type=Notification".to_owned(),
            "/api/v1/events?event_type=MediaProcessed".to_owned(),
            "/api/v1/events?aggregate_id=m1".to_owned(),
            format!("/api/v1/events?correlation_id={correlation}"),
            format!("/api/v1/events?user_id={user}"),
            "/api/v1/events?before=4&limit=2".to_owned(),
            "/api/v1/events?after=1&aggregate_type=Media&wait_ms=1".to_owned(),
        ];
        let fresh = read_all(&store, &reads).await;
        let positions: Vec<Vec<u64>> = fresh
            .iter()
            .map(|body| events_of(body).iter().filter_map(|e| e["position"].as_u64()).collect())
            .collect();
        assert_eq!(
            positions,
            [vec![1, 2, 3, 4], vec![2, 3], vec![3, 4], vec![2], vec![1, 2], vec![1, 2], vec![1, 2, 3], vec![2, 3], vec![2]]
        );

        store.restart().await;

        assert_eq!(read_all(&store, &reads).await, fresh, "窓から答えてもファイルから答えても同じ");
        store.stop().await;
    }
}

/// `paths` を順に読み、どれも 200 であることを確かめて本体を返します。
async fn read_all(store: &TestStore, paths: &[String]) -> Vec<Value> {
    let mut answers = Vec::with_capacity(paths.len());
    for path in paths {
        let (status, body) = store.get_json(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        answers.push(body);
    }
    answers
}
