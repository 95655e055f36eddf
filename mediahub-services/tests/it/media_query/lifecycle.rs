//! media-query の作り直し・再起動・準備状態。

use std::time::Duration;

use crate::support::media_query::{
    Caller, DEADLINE, Env, READ_WAIT, ids, keys, user_token, wait_until,
};
use mediahub_core::ids::{MediaId, UserId};
use mediahub_services::media_query::{MediaQueryConfig, StartError, start};
use serde_json::json;

const JPEG: &str = "images/sunset-640x427.jpg";
const PNG: &str = "images/small-64x48.png";

/// 二人のユーザーのメディアをいろいろな状態にして、最後の位置を返します。
async fn populate(env: &Env, alice: UserId, bob: UserId) -> u64 {
    let (a1, _) = env.upload(alice, "a1.jpg", JPEG).await;
    let (a2, _) = env.upload(alice, "a2.png", PNG).await;
    let (b1, _) = env.upload(bob, "b1.jpg", JPEG).await;
    env.process(a1, 640, 427).await;
    env.fail(a2, "壊れています").await;
    env.upload(alice, "a3.jpg", JPEG).await;
    env.delete(b1, bob).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_from_zero_gives_the_same_list_json_as_the_live_model() {
    let env = Env::start().await;
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    let last = populate(&env, alice, bob).await;
    env.caught_up(last).await;
    let lists = || async {
        let mut out = Vec::new();
        for user in [alice, bob] {
            for query in ["", "?status=deleted", "?q=a"] {
                out.push(env.user(user).get(&format!("/api/v1/media{query}")).await.1);
            }
        }
        out
    };
    let before = lists().await;

    let (status, body) = env
        .as_service()
        .post("/internal/v1/rebuild", &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["position"].as_u64(), Some(last));
    assert_eq!(body["events"].as_u64(), Some(7));
    assert_eq!(env.service().position(), last);
    assert_eq!(lists().await, before);
    assert_eq!(ids(&before[0]).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_with_user_token_answers_403_and_changes_nothing() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (_, position) = env.upload(user, "u.jpg", JPEG).await;
    env.caught_up(position).await;

    let (status, body) = env
        .user(user)
        .post("/internal/v1/rebuild", &json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("auth.service_token_required"))
    );
    assert_eq!(env.service().position(), position);
    let (_, list) = env.user(user).get("/api/v1/media").await;
    assert_eq!(ids(&list).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_same_database_catches_up_on_new_events_without_duplicates() {
    let mut env = Env::start().await;
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    let first = populate(&env, alice, bob).await;
    env.caught_up(first).await;
    env.stop().await;

    // 止まっている間のイベント。
    let (late, _) = env.upload(alice, "late.jpg", JPEG).await;
    let last = env.process(late, 1, 1).await;
    env.boot().await;
    assert!(
        env.service().position() >= first,
        "チェックポイントから続ける"
    );
    env.caught_up(last).await;

    let (_, list) = env.user(alice).get("/api/v1/media").await;
    let listed = ids(&list);
    assert_eq!(listed.len(), 4, "{list}");
    assert_eq!(listed[0], late.to_string());
    assert_eq!(list["items"][0]["status"], "processed");
    let mut unique = listed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), listed.len(), "重複なし");
    let (_, bobs) = env.user(bob).get("/api/v1/media?status=deleted").await;
    assert_eq!(ids(&bobs).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_answers_200_once_caught_up_to_the_log_head_at_start() {
    let mut env = Env::without_service(READ_WAIT).await;
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    let head = populate(&env, alice, bob).await;
    env.boot().await;
    let caller = env.as_service();

    wait_until("/ready が 200 になる", DEADLINE, || {
        let caller = caller.clone();
        async move { caller.get("/ready").await.0 == 200 }
    })
    .await;
    assert!(env.service().position() >= head);
    let (status, health) = caller.get("/health").await;
    assert_eq!(
        (status, health["service"].as_str()),
        (200, Some("media-query"))
    );
    let (status, spec) = caller.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        spec["paths"]["/api/v1/media/{id}/history"].is_object(),
        "{spec}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_with_unreachable_store_is_not_ready_serves_empty_list_and_stops_cleanly() {
    // 接続を受け付けてすぐ切る = 落ちているイベントストア。
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let down = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let refuser = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = MediaQueryConfig::new(down, dir.path().join("q.db"), keys())
        .listen("127.0.0.1:0")
        .read_wait(Duration::from_millis(50));
    let service = start(config).await.unwrap_or_else(|e| panic!("{e}"));
    let user = UserId::new_random();
    let caller = Caller::new(service.base_url(), user_token(&keys(), user));

    let (status, ready) = caller.get("/ready").await;
    assert_eq!(
        (status, ready["code"].as_str()),
        (503, Some("service.unavailable"))
    );
    let (status, list) = caller.get("/api/v1/media").await;
    assert_eq!((status, ids(&list).len()), (200, 0));
    let (status, body) = caller.get("/api/v1/media?min_position=1").await;
    assert_eq!((status, body["reached"].as_u64()), (503, Some(0)));
    let (status, body) = caller
        .get(&format!("/api/v1/media/{}/history", MediaId::new_random()))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("service.unavailable"))
    );
    service.stop().await.unwrap_or_else(|e| panic!("{e}"));
    refuser.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_with_invalid_eventstore_url_fails_with_client_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = MediaQueryConfig::new("ftp://nowhere", dir.path().join("q.db"), keys());
    let result = start(config).await;
    assert!(matches!(result, Err(StartError::Client(_))), "{result:?}");
}
