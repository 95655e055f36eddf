//! 通知サービスのコマンド: 内部 API の送信、既読、すべて既読、不正な入力。

use crate::support::notification::{
    Service, content_type, items, keys, send_body, service_token, user_token,
};
use mediahub_core::ids::{NotificationId, UserId};
use serde_json::json;

#[tokio::test]
async fn internal_send_to_user_is_listed_for_that_user_and_unread_count_is_1() {
    let service = Service::start().await;
    let user = UserId::new_random();
    let (id, position) = service
        .send(user, "cat.jpg のアップロードが完了しました")
        .await;
    assert!(position > 0);
    let listed = service.list(user, position).await;
    assert_eq!(listed.len(), 1);
    let view = &listed[0];
    assert_eq!(view["id"], json!(id));
    assert_eq!(view["user_id"], json!(user));
    assert_eq!(view["kind"], "upload_completed");
    assert_eq!(view["message"], "cat.jpg のアップロードが完了しました");
    assert_eq!(view["read"], false);
    assert_eq!(view["read_at"], json!(null));
    assert_eq!(view["position"], position);
    let unread = service.unread(user, position).await;
    assert_eq!(unread["count"], 1);
    assert_eq!(items(&unread).len(), 1);
    service.stop().await;
}

#[tokio::test]
async fn internal_send_twice_with_same_id_writes_one_event_and_second_answers_position_0() {
    let service = Service::start().await;
    let (id, user) = (NotificationId::new_random(), UserId::new_random());
    let body = send_body(id, user, "done");
    let (status, first) = service
        .internal()
        .post("/internal/v1/notifications", &body)
        .await;
    assert_eq!(status, 200, "{first}");
    assert!(first["position"].as_u64().unwrap_or(0) > 0);
    let (status, second) = service
        .internal()
        .post("/internal/v1/notifications", &body)
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["position"], 0);
    let events = service.events_of(id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "NotificationSent");
    service.stop().await;
}

#[tokio::test]
async fn internal_send_with_inject_fault_returns_503_fault_injected_and_writes_nothing() {
    let service = Service::start().await;
    let (id, user) = (NotificationId::new_random(), UserId::new_random());
    let mut body = send_body(id, user, "done");
    body["inject_fault"] = json!(true);
    let (status, problem) = service
        .internal()
        .post("/internal/v1/notifications", &body)
        .await;
    assert_eq!(status, 503);
    assert_eq!(problem["code"], "fault.injected");
    let head = service.head().await;
    assert_eq!(head, 0);
    assert!(service.list(user, 0).await.is_empty());
    service.stop().await;
}

#[tokio::test]
async fn internal_send_with_user_token_returns_403_service_token_required() {
    let service = Service::start().await;
    let user = UserId::new_random();
    let (status, problem) = service
        .user(user)
        .post(
            "/internal/v1/notifications",
            &send_body(NotificationId::new_random(), user, "x"),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(problem["code"], "auth.service_token_required");
    let (status, _) = service
        .user(user)
        .post("/internal/v1/rebuild", &json!({}))
        .await;
    assert_eq!(status, 403);
    service.stop().await;
}

#[tokio::test]
async fn internal_send_with_blank_message_is_400_and_same_id_to_other_user_is_409() {
    let service = Service::start().await;
    let (status, problem) = service
        .internal()
        .post(
            "/internal/v1/notifications",
            &send_body(NotificationId::new_random(), UserId::new_random(), "  "),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem["code"], "notification.empty_message");
    let (id, _) = service.send(UserId::new_random(), "first").await;
    let (status, problem) = service
        .internal()
        .post(
            "/internal/v1/notifications",
            &send_body(id, UserId::new_random(), "second"),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(problem["code"], "notification.already_exists");
    service.stop().await;
}

#[tokio::test]
async fn internal_send_with_unknown_field_or_kind_is_400_problem_and_writes_nothing() {
    let service = Service::start().await;
    let user = UserId::new_random();
    let mut unknown_field = send_body(NotificationId::new_random(), user, "x");
    unknown_field["extra"] = json!(1);
    let mut unknown_kind = send_body(NotificationId::new_random(), user, "x");
    unknown_kind["kind"] = json!("upload_exploded");
    for body in [unknown_field, unknown_kind] {
        let (status, problem) = service
            .internal()
            .post("/internal/v1/notifications", &body)
            .await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["code"], "request.invalid_body");
    }
    let head = service.head().await;
    assert_eq!(head, 0);
    service.stop().await;
}

#[tokio::test]
async fn internal_send_keeps_correlation_causation_and_idempotency_key_in_event_metadata() {
    let service = Service::start().await;
    let (id, user) = (NotificationId::new_random(), UserId::new_random());
    let (correlation, causation) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let caller = service.internal();
    let (status, body) = caller
        .send(
            caller
                .request(reqwest::Method::POST, "/internal/v1/notifications")
                .header("X-Correlation-ID", correlation.to_string())
                .header("X-Causation-ID", causation.to_string())
                .header("Idempotency-Key", "saga-1:notify")
                .json(&send_body(id, user, "done")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let events = service.events_of(id).await;
    let metadata = &events[0].metadata;
    assert_eq!(
        metadata.correlation_id.map(|c| c.as_uuid()),
        Some(correlation)
    );
    assert_eq!(metadata.causation_id, Some(causation));
    assert_eq!(
        metadata.extra.get("idempotency_key").map(String::as_str),
        Some("saga-1:notify")
    );
    let (status, problem) = caller
        .send(
            caller
                .request(reqwest::Method::POST, "/internal/v1/notifications")
                .header("X-Correlation-ID", "not-a-uuid")
                .json(&send_body(NotificationId::new_random(), user, "done")),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    service.stop().await;
}

#[tokio::test]
async fn mark_read_by_recipient_makes_it_read_and_unread_count_0_and_repeat_answers_position_0() {
    let service = Service::start().await;
    let user = UserId::new_random();
    let (id, _) = service.send(user, "done").await;
    let (status, body) = service.mark_read(user, id).await;
    assert_eq!(status, 200, "{body}");
    let position = body["position"].as_u64().unwrap_or(0);
    assert!(position > 0);
    let unread = service.unread(user, position).await;
    assert_eq!(unread["count"], 0);
    assert!(items(&unread).is_empty());
    let listed = service.list(user, position).await;
    assert_eq!(listed[0]["read"], true);
    assert!(listed[0]["read_at"].is_string());
    let (status, again) = service.mark_read(user, id).await;
    assert_eq!(status, 200);
    assert_eq!(again["position"], 0);
    service.stop().await;
}

#[tokio::test]
async fn mark_read_by_other_user_returns_404_and_leaves_notification_unread() {
    let service = Service::start().await;
    let (owner, other) = (UserId::new_random(), UserId::new_random());
    let (id, position) = service.send(owner, "done").await;
    let (status, problem) = service.mark_read(other, id).await;
    assert_eq!(status, 404);
    assert_eq!(problem["code"], "notification.not_found");
    let unknown = NotificationId::new_random();
    let (status, _) = service.mark_read(owner, unknown).await;
    assert_eq!(status, 404);
    let unread = service.unread(owner, position).await;
    assert_eq!(unread["count"], 1);
    let events = service.events_of(id).await;
    assert_eq!(events.len(), 1);
    service.stop().await;
}

#[tokio::test]
async fn read_all_with_3_sent_and_1_already_read_marks_2_and_leaves_0_unread() {
    let service = Service::start().await;
    let (user, other) = (UserId::new_random(), UserId::new_random());
    let (first, _) = service.send(user, "one").await;
    service.send(user, "two").await;
    let (_, last) = service.send(user, "three").await;
    let (_, other_position) = service.send(other, "not yours").await;
    let (status, _) = service.mark_read(user, first).await;
    assert_eq!(status, 200);
    let (status, body) = service
        .user(user)
        .put(
            &format!("/api/v1/notifications/read-all?min_position={other_position}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["updated"], 2);
    let position = body["position"].as_u64().unwrap_or(0);
    assert!(position > last);
    let unread = service.unread(user, position).await;
    assert_eq!(unread["count"], 0);
    assert!(
        service
            .list(user, position)
            .await
            .iter()
            .all(|v| v["read"] == true)
    );
    assert_eq!(service.unread(other, position).await["count"], 1);
    let (status, again) = service
        .user(user)
        .put("/api/v1/notifications/read-all", &json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again, json!({"position": 0, "updated": 0}));
    service.stop().await;
}

#[tokio::test]
async fn mark_read_with_invalid_id_in_path_returns_400_problem_json() {
    let service = Service::start().await;
    let caller = service.user(UserId::new_random());
    let response = caller
        .request(
            reqwest::Method::PUT,
            "/api/v1/notifications/not-a-uuid/read",
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(content_type(&response), "application/problem+json");
    service.stop().await;
}

#[tokio::test]
async fn public_api_without_token_is_401_and_user_token_with_x_user_id_is_403() {
    let service = Service::start().await;
    let user = UserId::new_random();
    let anonymous = crate::support::notification::Caller::anonymous(service.handle().base_url());
    let (status, problem) = anonymous.get("/api/v1/notifications").await;
    assert_eq!(status, 401);
    assert_eq!(problem["code"], "auth.missing_token");
    let caller = crate::support::notification::Caller::new(
        service.handle().base_url(),
        user_token(&keys(), user),
    );
    let (status, problem) = caller
        .send(
            caller
                .request(reqwest::Method::GET, "/api/v1/notifications")
                .header("X-User-ID", UserId::new_random().to_string()),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(problem["code"], "auth.user_id_header_forbidden");
    let service_caller = crate::support::notification::Caller::new(
        service.handle().base_url(),
        service_token(&keys(), "gateway"),
    );
    let (status, problem) = service_caller.get("/api/v1/notifications").await;
    assert_eq!(status, 403);
    assert_eq!(problem["code"], "auth.user_required");
    service.stop().await;
}
