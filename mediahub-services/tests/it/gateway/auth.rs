//! 開発用ログイン (`POST /auth/dev-token`) と `GET /api/v1/me`。

use crate::support::gateway::{Harness, Options, keys, problem, service_token};
use mediahub_core::ids::UserId;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn dev_token_for_alice_returns_verifiable_token_of_dev_alice_user_registered_once() {
    let h = Harness::start().await;
    let (token, user) = h.dev_token("alice").await;
    assert_eq!(user, UserId::for_identity("dev", "alice"));
    let claims = keys().verify(&token).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claims.user().ok().flatten(), Some(user));
    let (again, same) = h.dev_token("alice").await;
    assert_eq!(same, user);
    assert!(keys().verify(&again).is_ok());
    assert_eq!(h.registrations(user).await, 1);
    h.stop().await;
}

#[tokio::test]
async fn dev_token_for_different_logins_are_different_users() {
    let h = Harness::start().await;
    let (_, alice) = h.dev_token("alice").await;
    let (_, bob) = h.dev_token("bob").await;
    assert_ne!(alice, bob);
    assert_eq!(h.all_registrations().await, 2);
    h.stop().await;
}

#[tokio::test]
async fn dev_token_without_body_or_with_empty_object_is_default_dev_user() {
    let h = Harness::start().await;
    let anonymous = h.anonymous();
    let (status, body) = anonymous
        .send(anonymous.request(Method::POST, "/auth/dev-token"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["user_id"],
        UserId::for_identity("dev", "dev").to_string()
    );
    let (status, body) = anonymous.post("/auth/dev-token", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["user_id"],
        UserId::for_identity("dev", "dev").to_string()
    );
    h.stop().await;
}

#[tokio::test]
async fn dev_token_with_invalid_login_is_400_problem_and_registers_nothing() {
    let h = Harness::start().await;
    for login in ["", "a b", "../x", "x".repeat(65).as_str()] {
        let (status, body) = h
            .anonymous()
            .post("/auth/dev-token", &json!({ "login": login }))
            .await;
        assert_eq!(status, 400, "{login:?}");
        // ログイン名の規則は文書のスキーマ (pattern) にあり、本体の検査で断られる
        assert_eq!(body["code"], "request.invalid_body");
    }
    let (status, _) = h
        .anonymous()
        .post("/auth/dev-token", &json!({ "login": "a", "admin": true }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(h.all_registrations().await, 0);
    h.stop().await;
}

#[tokio::test]
async fn dev_token_when_disabled_is_404_problem_and_registers_nothing() {
    let h = Harness::start_with(Options {
        dev_login: false,
        ..Options::default()
    })
    .await;
    let response = h
        .http
        .post(format!("{}/auth/dev-token", h.base))
        .json(&json!({ "login": "alice" }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = problem(response).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "gateway.dev_login_disabled");
    assert_eq!(h.all_registrations().await, 0);
    h.stop().await;
}

#[tokio::test]
async fn me_of_dev_user_returns_id_null_email_display_name_and_provider() {
    let h = Harness::start().await;
    let (token, user) = h.dev_token("carol").await;
    let (status, me) = h.caller(token).get("/api/v1/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me,
        json!({ "id": user.to_string(), "email": null, "display_name": "carol", "provider": "dev" })
    );
    h.stop().await;
}

#[tokio::test]
async fn me_without_token_is_401_and_with_service_token_is_403_and_unregistered_user_is_404() {
    let h = Harness::start().await;
    let (status, body) = h.anonymous().get("/api/v1/me").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("auth.missing_token"))
    );
    let (status, body) = h
        .caller(service_token(&keys(), "saga"))
        .get("/api/v1/me")
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("gateway.user_token_required"))
    );
    let stranger = keys()
        .issue_user_token(UserId::new_random())
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = h.caller(stranger).get("/api/v1/me").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("gateway.user_not_found"))
    );
    h.stop().await;
}

#[tokio::test]
async fn health_and_ready_answer_200_for_gateway() {
    let h = Harness::start().await;
    let (status, body) = h.anonymous().get("/health").await;
    assert_eq!((status, body["service"].as_str()), (200, Some("gateway")));
    let (status, _) = h.anonymous().get("/ready").await;
    assert_eq!(status, 200);
    h.stop().await;
}
