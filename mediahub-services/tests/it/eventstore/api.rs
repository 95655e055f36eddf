//! イベントストアの基本の振る舞い: 追記・読み取り・絞り込み・スナップショット・共通エンドポイント。

use crate::support::eventstore::{TestStore, events_of, new_event, status_and_json};
use serde_json::{Value, json};
use uuid::Uuid;

crate::on_both_backends! {
    async fn append_two_events_to_new_stream_returns_201_with_versions_1_2_and_positions_1_2(backend) {
        let mut store = TestStore::start_on(backend).await;
        let first = new_event("MediaUploaded", json!({"n": 1}));
        let second = new_event("MediaProcessed", json!({"n": 2}));
        let (status, body) = store
            .append("Media", "m1", 0, &[first.clone(), second.clone()])
            .await;
        assert_eq!(status, 201, "{body}");
        let events = events_of(&body);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["id"], first["id"]);
        assert_eq!(events[0]["version"], 1);
        assert_eq!(events[0]["position"], 1);
        assert_eq!(events[0]["aggregate_type"], "Media");
        assert_eq!(events[0]["aggregate_id"], "m1");
        assert_eq!(events[0]["event_type"], "MediaUploaded");
        assert_eq!(events[0]["data"], json!({"n": 1}));
        assert!(events[0]["created_at"].is_string());
        assert_eq!(events[1]["version"], 2);
        assert_eq!(events[1]["position"], 2);
        assert_eq!(body["last_position"], 2);
        assert_eq!(body["last_version"], 2);
        assert_eq!(store.head().await, 2);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn read_stream_returns_stored_envelopes_and_from_version_skips_older_ones(backend) {
        let mut store = TestStore::start_on(backend).await;
        let events: Vec<Value> = (1..=3)
            .map(|n| new_event("AlbumRenamed", json!({"n": n})))
            .collect();
        let (status, appended) = store.append("Album", "a1", 0, &events).await;
        assert_eq!(status, 201, "{appended}");
        let all = store.stream("Album", "a1").await;
        assert_eq!(all, events_of(&appended));
        let (status, body) = store
            .get_json("/api/v1/streams/Album/a1/events?from_version=2")
            .await;
        assert_eq!(status, 200);
        let later = events_of(&body);
        assert_eq!(later.len(), 1);
        assert_eq!(later[0]["version"], 3);
        assert!(store.stream("Album", "unknown").await.is_empty());
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn global_log_filters_by_type_id_correlation_and_user_and_pages_with_limit(backend) {
        let mut store = TestStore::start_on(backend).await;
        let correlation = Uuid::new_v4();
        let user = Uuid::new_v4();
        let mut tagged = new_event("MediaUploaded", json!({}));
        tagged["metadata"] = json!({"correlation_id": correlation, "user_id": user, "fault": "x"});
        let (status, _) = store
            .append("Media", "m1", 0, std::slice::from_ref(&tagged))
            .await;
        assert_eq!(status, 201);
        for n in 0..4 {
            let (status, _) = store
                .append("Album", "a1", n, &[new_event("AlbumRenamed", json!({}))])
                .await;
            assert_eq!(status, 201);
        }
        let (_, body) = store.get_json("/api/v1/events?aggregate_type=Album").await;
        assert_eq!(events_of(&body).len(), 4);
        assert_eq!(body["head"], 5);
        let (_, body) = store
            .get_json("/api/v1/events?aggregate_type=Media&aggregate_id=m1")
            .await;
        assert_eq!(events_of(&body).len(), 1);
        let (_, body) = store
            .get_json(&format!("/api/v1/events?correlation_id={correlation}"))
            .await;
        let found = events_of(&body);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["id"], tagged["id"]);
        assert_eq!(found[0]["metadata"]["user_id"], json!(user));
        assert_eq!(found[0]["metadata"]["fault"], "x");
        let (_, body) = store
            .get_json(&format!("/api/v1/events?user_id={user}"))
            .await;
        assert_eq!(events_of(&body).len(), 1);
        let (_, body) = store
            .get_json(&format!("/api/v1/events?user_id={}", Uuid::new_v4()))
            .await;
        assert!(events_of(&body).is_empty());
        let (_, page) = store.get_json("/api/v1/events?after=1&limit=2").await;
        let positions: Vec<u64> = events_of(&page)
            .iter()
            .filter_map(|e| e["position"].as_u64())
            .collect();
        assert_eq!(positions, vec![2, 3]);
        assert_eq!(page["head"], 5);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn global_log_with_repeated_aggregate_type_and_event_type_returns_events_matching_any_in_position_order(backend) {
        let mut store = TestStore::start_on(backend).await;
        let appends = [
            ("Media", "m1", "MediaUploaded"),
            ("Album", "a1", "AlbumCreated"),
            ("Saga", "s1", "SagaStarted"),
            ("Album", "a1", "MediaAddedToAlbum"),
            ("Media", "m1", "MediaProcessed"),
            ("Album", "a1", "AlbumRenamed"),
        ];
        let mut versions = std::collections::HashMap::new();
        for (aggregate_type, aggregate_id, event_type) in appends {
            let version = versions.entry(aggregate_id).or_insert(0_u64);
            let (status, body) = store
                .append(aggregate_type, aggregate_id, *version, &[new_event(event_type, json!({}))])
                .await;
            assert_eq!(status, 201, "{body}");
            *version += 1;
        }
        let positions = |body: &Value| -> Vec<u64> {
            events_of(body).iter().filter_map(|e| e["position"].as_u64()).collect()
        };
        let (status, body) = store
            .get_json("/api/v1/events?aggregate_type=Album&aggregate_type=Media")
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(positions(&body), vec![1, 2, 4, 5, 6]);
        assert_eq!(body["head"], 6);
        let (_, body) = store
            .get_json("/api/v1/events?event_type=MediaAddedToAlbum&event_type=MediaUploaded")
            .await;
        assert_eq!(positions(&body), vec![1, 4]);
        let (_, body) = store
            .get_json("/api/v1/events?aggregate_type=Album&aggregate_type=Media&event_type=MediaProcessed&event_type=MediaAddedToAlbum&after=1&limit=1")
            .await;
        assert_eq!(positions(&body), vec![4], "after と limit も効く");
        let (_, body) = store
            .get_json("/api/v1/events?aggregate_type=Album&aggregate_type=Media&event_type=AlbumRenamed&before=6")
            .await;
        assert!(events_of(&body).is_empty(), "before は位置 6 を含まない: {body}");
        let (_, body) = store
            .get_json("/api/v1/events?aggregate_type=Saga&event_type=MediaUploaded")
            .await;
        assert!(events_of(&body).is_empty(), "型どうしは「かつ」: {body}");
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn snapshot_put_get_and_stale_expected_snapshot_returns_409(backend) {
        let mut store = TestStore::start_on(backend).await;
        let path = "/api/v1/streams/Media/s1/snapshot";
        let (status, body) = store.get_json(path).await;
        assert_eq!(status, 404);
        assert_eq!(body["code"], "eventstore.snapshot_not_found");
        let put = |expected: Value, snapshot: u64| {
            store.put(path).json(&json!({
                "aggregate": {"state": snapshot},
                "current_sequence": snapshot * 10,
                "current_snapshot": snapshot,
                "expected_snapshot": expected,
            }))
        };
        let response = put(Value::Null, 1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 204);
        let (status, body) = store.get_json(path).await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"aggregate": {"state": 1}, "current_sequence": 10, "current_snapshot": 1})
        );
        let (status, body) = status_and_json(
            put(Value::Null, 2)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await;
        assert_eq!(status, 409);
        assert_eq!(body["code"], "eventstore.snapshot_conflict");
        assert_eq!(body["current_snapshot"], 1);
        let response = put(json!(1), 2)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 204);
        let (_, body) = store.get_json(path).await;
        assert_eq!(body["current_snapshot"], 2);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn commit_with_snapshot_writes_both_and_snapshot_conflict_writes_neither(backend) {
        let mut store = TestStore::start_on(backend).await;
        let commit = |expected_version: u64, expected_snapshot: Value, current_snapshot: u64| {
            store.post("/api/v1/streams/Media/c1/commit").json(&json!({
                "expected_version": expected_version,
                "events": [new_event("MediaUploaded", json!({}))],
                "snapshot": {
                    "aggregate": {"v": current_snapshot},
                    "current_sequence": expected_version + 1,
                    "current_snapshot": current_snapshot,
                    "expected_snapshot": expected_snapshot,
                },
            }))
        };
        let (status, body) = status_and_json(
            commit(0, Value::Null, 1)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["last_version"], 1);
        let (_, snapshot) = store.get_json("/api/v1/streams/Media/c1/snapshot").await;
        assert_eq!(snapshot["current_sequence"], 1);
        // スナップショットの版が古い → 409、イベントも書かれない。
        let (status, body) = status_and_json(
            commit(1, Value::Null, 2)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["code"], "eventstore.snapshot_conflict");
        assert_eq!(store.stream("Media", "c1").await.len(), 1);
        assert_eq!(store.head().await, 1);
        // 正しい版なら両方書かれる。
        let (status, _) = status_and_json(
            commit(1, json!(1), 2)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(store.stream("Media", "c1").await.len(), 2);
        let (_, snapshot) = store.get_json("/api/v1/streams/Media/c1/snapshot").await;
        assert_eq!(snapshot["current_snapshot"], 2);
        store.stop().await;
    }
}

#[tokio::test]
async fn health_ready_openapi_and_swagger_answer_without_token_and_request_id_is_echoed() {
    let mut store = TestStore::start().await;
    let client = mediahub_services::platform::http_client::builder()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let response = client
        .get(store.url("/health"))
        .header("X-Request-Id", "req-123")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("req-123")
    );
    let response = client
        .get(store.url("/ready"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().get("x-request-id").is_some());
    let (status, spec) = status_and_json(
        client
            .get(store.url("/openapi.json"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    assert_eq!(status, 200);
    let paths = spec["paths"].as_object().cloned().unwrap_or_default();
    for path in [
        "/api/v1/streams/{aggregate_type}/{aggregate_id}/events",
        "/api/v1/streams/{aggregate_type}/{aggregate_id}/snapshot",
        "/api/v1/streams/{aggregate_type}/{aggregate_id}/commit",
        "/api/v1/events",
        "/api/v1/events/stream",
        "/api/v1/head",
        "/health",
        "/ready",
    ] {
        assert!(paths.contains_key(path), "{path} がありません");
    }
    assert!(spec["components"]["schemas"]["Envelope"].is_object());
    let response = client
        .get(store.url("/swagger"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.unwrap_or_default();
    assert!(html.to_lowercase().contains("swagger"));
    store.stop().await;
}

#[tokio::test]
async fn events_written_over_http_are_readable_by_sqlite_es_repository() {
    use cqrs_es::persist::PersistedEventRepository;
    use mediahub_core::media::Media;

    let mut store = TestStore::start().await;
    let (status, _) = store
        .append(
            "Media",
            "compat",
            0,
            &[
                new_event("MediaUploaded", json!({"a": 1})),
                new_event("MediaProcessed", json!({"b": 2})),
            ],
        )
        .await;
    assert_eq!(status, 201);
    store.stop().await;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(store.db_path());
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let repo = sqlite_es::SqliteEventRepository::new(pool);
    let events = repo
        .get_events::<Media>("compat")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sequences: Vec<usize> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, vec![1, 2]);
    assert_eq!(events[0].event_type, "MediaUploaded");
    assert_eq!(events[1].payload, json!({"b": 2}));
}

crate::on_both_backends! {
    async fn append_of_1000_events_in_one_request_stores_versions_and_positions_1_to_1000(backend) {
        let mut store = TestStore::start_on(backend).await;
        let events: Vec<Value> = (0..1000)
            .map(|n| new_event("AlbumRenamed", json!({"n": n})))
            .collect();
        let (status, body) = store.append("Album", "big", 0, &events).await;
        assert_eq!(status, 201);
        assert_eq!(body["last_position"], 1000);
        assert_eq!(body["last_version"], 1000);
        let stored = store.stream("Album", "big").await;
        assert_eq!(stored.len(), 1000);
        for (index, event) in stored.iter().enumerate() {
            assert_eq!(event["version"], index as u64 + 1);
            assert_eq!(event["position"], index as u64 + 1);
            assert_eq!(event["id"], events[index]["id"]);
        }
        // 同じ 1000 件の再送は冪等。
        let (status, again) = store.append("Album", "big", 0, &events).await;
        assert_eq!(status, 200);
        assert_eq!(again, body);
        store.stop().await;
    }
}
