//! 購読: ロングポーリングと Server-Sent Events。

use std::time::Duration;

use crate::support::eventstore::{SseReader, TestStore, events_of, new_event, wait_until};
use serde_json::{Value, json};
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(10);

/// 要求を別タスクで送り始めます (ロングポーリングの応答を待つ間にテストが書けるように)。
fn spawn_request(
    request: reqwest::RequestBuilder,
) -> tokio::task::JoinHandle<Result<reqwest::Response, reqwest::Error>> {
    tokio::spawn(async move { request.send().await })
}

/// [`spawn_request`] で送った要求の応答。
async fn answer(
    waiter: tokio::task::JoinHandle<Result<reqwest::Response, reqwest::Error>>,
) -> reqwest::Response {
    waiter
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `Album` だけを待ち、先頭が進めば空のページでも答えるロングポーリング (最長 `wait_ms`)。
fn spawn_album_progress_poll(
    store: &TestStore,
    wait_ms: u64,
) -> tokio::task::JoinHandle<Result<reqwest::Response, reqwest::Error>> {
    spawn_request(store.get(&format!(
        "/api/v1/events?after=0&aggregate_type=Album&wait_ms={wait_ms}&progress=true"
    )))
}

/// `Album` の進み具合つきロングポーリングを始め、`Media` を 1 件コミットし、その応答の本体を返します。
async fn progress_answer_to_one_other_commit(store: &TestStore, wait_ms: u64) -> Value {
    let waiter = spawn_album_progress_poll(store, wait_ms);
    wait_for_waiters(store, 1).await;
    append_one(store, "Media", "m1", "MediaUploaded").await;
    answer(waiter)
        .await
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// 新しいストリームに 1 イベントを追記し、201 を確かめます。
async fn append_one(store: &TestStore, aggregate_type: &str, aggregate_id: &str, event_type: &str) {
    let (status, body) = store
        .append(
            aggregate_type,
            aggregate_id,
            0,
            &[new_event(event_type, json!({}))],
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// 待ち手がサーバー側でコミットを待ち始めるまで待ちます。
async fn wait_for_waiters(store: &TestStore, count: usize) {
    let state = store.handle().state().clone();
    wait_until(
        "待ち手がコミットを待ち始める",
        DEADLINE,
        || {
            let state = state.clone();
            async move { state.waiters() >= count }
        },
    )
    .await;
}

crate::on_both_backends! {
    async fn long_poll_filtered_by_event_type_sleeps_through_other_event_type_of_same_aggregate_and_answers_matching_one(backend) {
        let mut store = TestStore::start_on(backend).await;
        let waiter = spawn_request(store.get(
            "/api/v1/events?after=0&aggregate_type=Album&event_type=MediaAddedToAlbum&wait_ms=10000",
        ));
        wait_for_waiters(&store, 1).await;
        append_one(&store, "Album", "a1", "AlbumRenamed").await;
        append_one(&store, "Album", "a2", "MediaAddedToAlbum").await;
        let body: Value = answer(waiter)
            .await
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let events = events_of(&body);
        assert_eq!(events.len(), 1, "名前変更では答えず、追加で答える: {body}");
        assert_eq!(events[0]["event_type"], "MediaAddedToAlbum");
        assert_eq!(events[0]["position"], 2);
        assert_eq!(body["head"], 2);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn long_poll_with_wait_ms_5000_on_empty_log_wakes_on_commit_and_returns_the_event(backend) {
        let mut store = TestStore::start_on(backend).await;
        let waiter = spawn_request(store.get("/api/v1/events?after=0&wait_ms=5000"));
        wait_for_waiters(&store, 1).await;
        let event = new_event("MediaUploaded", json!({"x": 1}));
        let (status, _) = store
            .append("Media", "m1", 0, std::slice::from_ref(&event))
            .await;
        assert_eq!(status, 201);
        let response = answer(waiter).await;
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("{e}"));
        let events = events_of(&body);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["id"], event["id"]);
        assert_eq!(events[0]["position"], 1);
        assert_eq!(body["head"], 1);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn long_poll_filtered_by_correlation_ignores_other_commits_and_returns_only_the_match(backend) {
        let mut store = TestStore::start_on(backend).await;
        let correlation = Uuid::new_v4();
        let waiter = spawn_request(store.get(&format!(
                "/api/v1/events?after=0&wait_ms=5000&correlation_id={correlation}"
            )));
        wait_for_waiters(&store, 1).await;
        append_one(&store, "Album", "other", "AlbumCreated").await;
        let mut matching = new_event("MediaUploaded", json!({}));
        matching["metadata"] = json!({"correlation_id": correlation});
        let (status, _) = store
            .append("Media", "m1", 0, std::slice::from_ref(&matching))
            .await;
        assert_eq!(status, 201);
        let response = answer(waiter).await;
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("{e}"));
        let events = events_of(&body);
        assert_eq!(events.len(), 1, "{body}");
        assert_eq!(events[0]["id"], matching["id"]);
        assert_eq!(events[0]["position"], 2);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn long_poll_with_existing_events_answers_at_once_and_wait_ms_0_on_empty_log_returns_empty(backend) {
        let mut store = TestStore::start_on(backend).await;
        let (status, body) = store.get_json("/api/v1/events?after=0&wait_ms=0").await;
        assert_eq!(status, 200);
        assert!(events_of(&body).is_empty());
        assert_eq!(body["head"], 0);
        append_one(&store, "Media", "m1", "MediaUploaded").await;
        // イベントがあるので 30 秒の待ちでもすぐ答える (待ち手として登録されない)。
        let (status, body) = store.get_json("/api/v1/events?after=0&wait_ms=30000").await;
        assert_eq!(status, 200);
        assert_eq!(events_of(&body).len(), 1);
        assert_eq!(store.handle().state().waiters(), 0);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn long_poll_pending_during_stop_returns_empty_list_and_service_stops(backend) {
        let mut store = TestStore::start_on(backend).await;
        let waiter = spawn_request(store.get("/api/v1/events?after=0&wait_ms=30000"));
        wait_for_waiters(&store, 1).await;
        store.stop().await;
        let response = answer(waiter).await;
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(events_of(&body).is_empty());
    }
}

async fn open_sse(store: &TestStore, query: &str, last_event_id: Option<&str>) -> SseReader {
    let mut request = store
        .get(&format!("/api/v1/events/stream{query}"))
        .header("Accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    SseReader::new(response)
}

async fn next_event(reader: &mut SseReader) -> crate::support::eventstore::SseEvent {
    tokio::time::timeout(DEADLINE, reader.next())
        .await
        .unwrap_or_else(|_| panic!("SSE のイベントが期限内に届きません"))
        .unwrap_or_else(|| panic!("SSE が途中で終わりました"))
}

crate::on_both_backends! {
    async fn sse_client_receives_past_and_live_events_in_position_order_with_id_and_event_type(backend) {
        let mut store = TestStore::start_on(backend).await;
        let (status, _) = store
            .append(
                "Media",
                "m1",
                0,
                &[new_event("MediaUploaded", json!({"n": 1}))],
            )
            .await;
        assert_eq!(status, 201);
        let mut reader = open_sse(&store, "?after=0", None).await;
        let first = next_event(&mut reader).await;
        assert_eq!(first.id.as_deref(), Some("1"));
        assert_eq!(first.event.as_deref(), Some("MediaUploaded"));
        // ライブ: 接続中に 1 件ずつと 5 件のバッチを追記する。
        wait_for_waiters(&store, 1).await;
        let (status, _) = store
            .append(
                "Media",
                "m1",
                1,
                &[new_event("MediaProcessed", json!({"n": 2}))],
            )
            .await;
        assert_eq!(status, 201);
        let batch: Vec<Value> = (3..=7)
            .map(|n| new_event("AlbumRenamed", json!({"n": n})))
            .collect();
        let (status, _) = store.append("Album", "a1", 0, &batch).await;
        assert_eq!(status, 201);
        let mut received = vec![first];
        for _ in 2..=7 {
            received.push(next_event(&mut reader).await);
        }
        let ids: Vec<String> = received.iter().filter_map(|e| e.id.clone()).collect();
        let expected: Vec<String> = (1..=7).map(|n| n.to_string()).collect();
        assert_eq!(ids, expected);
        for (index, event) in received.iter().enumerate() {
            let envelope: Value = serde_json::from_str(&event.data).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(envelope["position"], index as u64 + 1);
            assert_eq!(envelope["data"]["n"], index as u64 + 1);
            assert_eq!(event.event.as_deref(), envelope["event_type"].as_str());
        }
        drop(reader);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn sse_with_last_event_id_5_and_aggregate_filter_resumes_after_5_with_matching_events_only(backend) {
        let mut store = TestStore::start_on(backend).await;
        for n in 0..4 {
            let (status, _) = store
                .append("Media", "m1", n, &[new_event("MediaProcessed", json!({}))])
                .await;
            assert_eq!(status, 201);
            let (status, _) = store
                .append("Album", "a1", n, &[new_event("AlbumRenamed", json!({}))])
                .await;
            assert_eq!(status, 201);
        }
        // 位置: Media は 1,3,5,7、Album は 2,4,6,8。
        let mut reader = open_sse(&store, "?after=0&aggregate_type=Album", Some("5")).await;
        let first = next_event(&mut reader).await;
        let second = next_event(&mut reader).await;
        assert_eq!(first.id.as_deref(), Some("6"));
        assert_eq!(second.id.as_deref(), Some("8"));
        drop(reader);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn sse_stream_ends_when_service_stops(backend) {
        let mut store = TestStore::start_on(backend).await;
        let mut reader = open_sse(&store, "", None).await;
        wait_for_waiters(&store, 1).await;
        store.stop().await;
        let end = tokio::time::timeout(DEADLINE, reader.next())
            .await
            .unwrap_or_else(|_| panic!("停止しても SSE が終わりません"));
        assert!(end.is_none());
    }
}

crate::on_both_backends! {
    async fn long_poll_filtered_with_progress_over_3_other_commits_in_its_window_answers_once_with_head_3(backend) {
        // 寄せ集める時間を長くして、3 回のコミットが確実にその間に入るようにする。
        // (`is_finished` の確認は早すぎる応答を見つけるための補助。決め手は head が 3 であること)
        let mut store = TestStore::start_on(backend).await;
        store.restart_with_progress_coalesce(Duration::from_secs(8)).await;
        let waiter = spawn_album_progress_poll(&store, 30000);
        wait_for_waiters(&store, 1).await;
        for n in 1..=3 {
            let (status, _) = store
                .append("Media", &format!("m{n}"), 0, &[new_event("MediaUploaded", json!({}))])
                .await;
            assert_eq!(status, 201);
            assert!(!waiter.is_finished(), "コミット {n} 回目で答えてしまいました");
        }
        let response = answer(waiter).await;
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(events_of(&body).len(), 0);
        assert_eq!(body["head"], 3);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn long_poll_filtered_with_progress_and_wait_ms_shorter_than_its_window_answers_at_wait_ms_with_head_1(backend) {
        let mut store = TestStore::start_on(backend).await;
        store.restart_with_progress_coalesce(Duration::from_secs(3600)).await;
        let body = progress_answer_to_one_other_commit(&store, 5000).await;
        assert_eq!(events_of(&body).len(), 0);
        assert_eq!(body["head"], 1);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn long_poll_filtered_with_progress_in_its_window_answers_matching_commit_at_once_with_the_event(backend) {
        let mut store = TestStore::start_on(backend).await;
        store.restart_with_progress_coalesce(Duration::from_secs(3600)).await;
        let waiter = spawn_album_progress_poll(&store, 30000);
        wait_for_waiters(&store, 1).await;
        append_one(&store, "Media", "m1", "MediaUploaded").await;
        append_one(&store, "Album", "a1", "AlbumCreated").await;
        let response = answer(waiter).await;
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("{e}"));
        let events = events_of(&body);
        assert_eq!(events.len(), 1, "{body}");
        assert_eq!(events[0]["event_type"], "AlbumCreated");
        assert_eq!(body["head"], 2);
        store.stop().await;
    }
}

crate::on_both_backends! {
    async fn long_poll_filtered_with_progress_answers_empty_page_with_new_head_on_other_commit(backend) {
        let mut store = TestStore::start_on(backend).await;
        let body = progress_answer_to_one_other_commit(&store, 10000).await;
        assert_eq!(events_of(&body).len(), 0);
        assert_eq!(body["head"], 1);
        store.stop().await;
    }
}
