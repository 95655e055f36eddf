//! 通知サービスのクエリ: 並び順、持ち主ごとの分離、read-your-writes、作り直し、再起動。

use std::time::Duration;

use crate::support::notification::{Caller, Service, items, keys, service_token};
use mediahub_core::ids::UserId;
use mediahub_services::consumer::ConsumerConfig;
use mediahub_services::notification::{NotificationConfig, StartError, start};
use serde_json::{Value, json};

fn messages(views: &[Value]) -> Vec<String> {
    views
        .iter()
        .map(|v| v["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn list_of_three_sent_notifications_is_newest_first_and_limit_2_returns_the_newest_two() {
    let service = Service::start().await;
    let user = UserId::new_random();
    service.send(user, "one").await;
    service.send(user, "two").await;
    let (_, last) = service.send(user, "three").await;
    let listed = service.list(user, last).await;
    assert_eq!(messages(&listed), ["three", "two", "one"]);
    let positions: Vec<u64> = listed
        .iter()
        .filter_map(|v| v["position"].as_u64())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] > w[1]), "{positions:?}");
    let (status, body) = service
        .user(user)
        .get("/api/v1/notifications?limit=2")
        .await;
    assert_eq!(status, 200);
    assert_eq!(messages(&items(&body)), ["three", "two"]);
    service.stop().await;
}

#[tokio::test]
async fn list_with_limit_0_or_101_is_400_invalid_parameter() {
    let service = Service::start().await;
    let caller = service.user(UserId::new_random());
    for path in [
        "/api/v1/notifications?limit=0",
        "/api/v1/notifications?limit=101",
        "/api/v1/notifications/unread?limit=0",
        "/api/v1/notifications?min_position=-1",
    ] {
        let (status, problem) = caller.get(path).await;
        assert_eq!(status, 400, "{path}: {problem}");
        assert_eq!(problem["code"], "request.invalid_parameter", "{path}");
    }
    service.stop().await;
}

#[tokio::test]
async fn each_user_sees_only_own_notifications_and_service_token_acts_for_x_user_id() {
    let service = Service::start().await;
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    service.send(alice, "for alice").await;
    let (_, last) = service.send(bob, "for bob").await;
    assert_eq!(messages(&service.list(alice, last).await), ["for alice"]);
    assert_eq!(messages(&service.list(bob, last).await), ["for bob"]);
    assert_eq!(service.unread(alice, last).await["count"], 1);
    let gateway = Caller::new(
        service.handle().base_url(),
        service_token(&keys(), "gateway"),
    );
    let (status, body) = gateway
        .send(
            gateway
                .request(reqwest::Method::GET, "/api/v1/notifications")
                .header("X-User-ID", bob.to_string()),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(messages(&items(&body)), ["for bob"]);
    service.stop().await;
}

#[tokio::test]
async fn list_with_min_position_of_just_sent_notification_includes_it_without_retrying() {
    let service = Service::start().await;
    let user = UserId::new_random();
    for n in 0..5 {
        let (id, position) = service.send(user, &format!("n{n}")).await;
        let listed = service.list(user, position).await;
        assert_eq!(listed[0]["id"], json!(id));
        assert_eq!(service.unread(user, position).await["count"], n + 1);
    }
    service.stop().await;
}

#[tokio::test]
async fn list_with_min_position_1000_beyond_the_log_returns_409_position_beyond_log_with_head() {
    let service = Service::start_with(|c| c.read_wait(Duration::from_millis(50))).await;
    let user = UserId::new_random();
    let (_, position) = service.send(user, "x").await;
    let target = position + 1000;
    let (status, problem) = service
        .user(user)
        .get(&format!("/api/v1/notifications?min_position={target}"))
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "read_model.position_beyond_log");
    assert_eq!(problem["min_position"], target);
    assert_eq!(problem["head"], position);
    service.stop().await;
}

#[tokio::test]
async fn rebuild_after_sends_and_reads_gives_the_same_views_as_the_live_read_model() {
    let service = Service::start().await;
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    let (first, _) = service.send(alice, "a1").await;
    service.send(alice, "a2").await;
    service.send(bob, "b1").await;
    let (status, body) = service.mark_read(alice, first).await;
    assert_eq!(status, 200);
    let last = body["position"].as_u64().unwrap_or(0);
    let live_alice = service.list(alice, last).await;
    let live_bob = service.list(bob, last).await;
    let (status, rebuilt) = service
        .internal()
        .post("/internal/v1/rebuild", &json!({}))
        .await;
    assert_eq!(status, 200, "{rebuilt}");
    assert_eq!(rebuilt["position"], last);
    assert_eq!(rebuilt["events"], 4);
    assert_eq!(service.list(alice, last).await, live_alice);
    assert_eq!(service.list(bob, last).await, live_bob);
    assert_eq!(service.unread(alice, last).await["count"], 1);
    service.stop().await;
}

#[tokio::test]
async fn restarted_service_keeps_its_checkpoint_and_catches_up_on_notifications_sent_while_down() {
    let mut service = Service::start().await;
    let user = UserId::new_random();
    let (_, first) = service.send(user, "before").await;
    service.list(user, first).await;
    service.restart_service().await;
    assert!(service.handle().position() >= first);
    let (_, second) = service.send(user, "after").await;
    assert_eq!(
        messages(&service.list(user, second).await),
        ["after", "before"]
    );
    let mut positions = service.handle().subscribe();
    let reached = *positions
        .wait_for(|p| *p >= second)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(reached >= second);
    service.stop().await;
}

#[tokio::test]
async fn start_with_eventstore_url_that_is_not_a_url_fails_with_store_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config =
        NotificationConfig::new("not a url", dir.path().join("n.db"), keys()).listen("127.0.0.1:0");
    let result = start(config).await;
    assert!(matches!(result, Err(StartError::Store(_))));
}

#[tokio::test]
async fn start_on_address_in_use_fails_with_server_error_and_custom_settings_still_serve() {
    let service = Service::start_with(|c| {
        c.grace(Duration::from_secs(1)).consumer(ConsumerConfig {
            page_size: 10,
            ..ConsumerConfig::default()
        })
    })
    .await;
    let taken = service.handle().local_addr().to_string();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = NotificationConfig::new(service.store.base_url(), dir.path().join("n.db"), keys())
        .listen(taken);
    assert!(matches!(start(config).await, Err(StartError::Server(_))));
    let user = UserId::new_random();
    let (_, position) = service.send(user, "still works").await;
    assert_eq!(service.list(user, position).await.len(), 1);
    service.stop().await;
}

#[test]
fn binary_with_short_jwt_secret_exits_with_code_1_and_says_why() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_notification"))
        .env("JWT_SECRET", "short")
        .env("NOTIFICATION_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JWT_SECRET"), "{stderr}");
}
