//! 通知サービスのライブ配信 (Server-Sent Events)。

use crate::support::notification::{DEADLINE, Service, data_of, next_event};
use mediahub_core::ids::UserId;
use serde_json::json;

#[tokio::test]
async fn stream_of_user_receives_own_new_notification_and_not_one_sent_to_another_user() {
    let service = Service::start().await;
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    let mut stream = service.open_stream(alice, None).await;
    service.send(bob, "for bob").await;
    let (id, position) = service.send(alice, "for alice").await;
    let event = next_event(&mut stream).await;
    assert_eq!(event.event.as_deref(), Some("notification"));
    assert_eq!(event.id, Some(position.to_string()));
    let view = data_of(&event);
    assert_eq!(view["id"], json!(id));
    assert_eq!(view["user_id"], json!(alice));
    assert_eq!(view["message"], "for alice");
    assert_eq!(view["read"], false);
    assert_eq!(view["position"], position);
    service.send(bob, "for bob again").await;
    let (_, next) = service.send(alice, "for alice again").await;
    let event = next_event(&mut stream).await;
    assert_eq!(event.id, Some(next.to_string()));
    assert_eq!(data_of(&event)["message"], "for alice again");
    service.stop().await;
}

#[tokio::test]
async fn stream_without_last_event_id_skips_notifications_sent_before_connecting() {
    let service = Service::start().await;
    let user = UserId::new_random();
    let (_, old) = service.send(user, "old").await;
    service.list(user, old).await;
    let mut stream = service.open_stream(user, None).await;
    service.send(user, "new").await;
    assert_eq!(data_of(&next_event(&mut stream).await)["message"], "new");
    service.stop().await;
}

#[tokio::test]
async fn stream_with_last_event_id_replays_missed_notifications_in_order_then_continues_live() {
    let service = Service::start().await;
    let (user, other) = (UserId::new_random(), UserId::new_random());
    let (_, seen) = service.send(user, "seen").await;
    let (_, missed1) = service.send(user, "missed 1").await;
    service.send(other, "not mine").await;
    let (_, missed2) = service.send(user, "missed 2").await;
    service.list(user, missed2).await;
    let mut stream = service.open_stream(user, Some(seen)).await;
    let first = next_event(&mut stream).await;
    assert_eq!(first.id, Some(missed1.to_string()));
    assert_eq!(data_of(&first)["message"], "missed 1");
    let second = next_event(&mut stream).await;
    assert_eq!(second.id, Some(missed2.to_string()));
    let (_, live) = service.send(user, "live").await;
    let third = next_event(&mut stream).await;
    assert_eq!(third.id, Some(live.to_string()));
    assert_eq!(data_of(&third)["message"], "live");
    service.stop().await;
}

#[tokio::test]
async fn open_stream_ends_when_the_service_stops() {
    let mut service = Service::start().await;
    let user = UserId::new_random();
    let mut stream = service.open_stream(user, None).await;
    service.stop_service().await;
    let ended = tokio::time::timeout(DEADLINE, stream.next())
        .await
        .unwrap_or_else(|_| panic!("停止しても SSE が終わりません"));
    assert!(ended.is_none());
    service.stop().await;
}

#[tokio::test]
async fn stream_with_non_numeric_last_event_id_is_400_problem() {
    let service = Service::start().await;
    let caller = service.user(UserId::new_random());
    let (status, problem) = caller
        .send(
            caller
                .request(reqwest::Method::GET, "/api/v1/notifications/stream")
                .header("Last-Event-ID", "abc"),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem["code"], "request.invalid_parameter");
    service.stop().await;
}
