//! ゲートウェイのセキュリティ表。各行は problem+json で拒否され、何も変わらない
//! (上流の代役に要求が届かない、イベントが増えない) ことを確かめます。

use crate::support::gateway::{
    FRONTEND_URL, Harness, base64, first_chunk, header, keys, problem, raw_get, service_token,
    sign, testdata, user_claims,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mediahub_core::ids::UserId;
use mediahub_services::platform::auth::JwtKeys;
use reqwest::Method;
use serde_json::{Value, json};

/// 保護された経路に `token` (無ければ Authorization なし) で来たときの状態コードと本体を返し、
/// 上流の代役に何も届かず、イベントも増えていないことを確かめます。
async fn rejected(h: &Harness, token: Option<String>) -> (u16, Value) {
    let before = h.all_registrations().await;
    let caller = match token {
        Some(token) => h.caller(token),
        None => h.anonymous(),
    };
    let response = caller
        .request(Method::POST, "/api/v1/albums")
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let result = problem(response).await;
    assert_eq!(h.echoes.total_hits(), 0, "上流に届いてしまった");
    assert_eq!(h.all_registrations().await, before);
    result
}

#[tokio::test]
async fn request_without_token_is_401_missing_token() {
    let h = Harness::start().await;
    let (status, body) = rejected(&h, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("auth.missing_token"))
    );
    h.stop().await;
}

#[tokio::test]
async fn token_signed_with_other_secret_is_401_invalid_token() {
    let h = Harness::start().await;
    let other = JwtKeys::from_secret(b"another-secret-another-secret-0123456789")
        .unwrap_or_else(|e| panic!("{e}"));
    let token = sign(&other, &user_claims(UserId::new_random()));
    let (status, body) = rejected(&h, Some(token)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("auth.invalid_token"))
    );
    h.stop().await;
}

#[tokio::test]
async fn alg_none_token_is_401_invalid_token() {
    let h = Harness::start().await;
    let header = base64(br#"{"alg":"none","typ":"JWT"}"#, true);
    let claims =
        serde_json::to_vec(&user_claims(UserId::new_random())).unwrap_or_else(|e| panic!("{e}"));
    let token = format!("{header}.{}.", base64(&claims, true));
    let (status, body) = rejected(&h, Some(token)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("auth.invalid_token"))
    );
    h.stop().await;
}

#[tokio::test]
async fn rs256_signed_token_is_401_invalid_token() {
    let h = Harness::start().await;
    let pem = testdata("keys/rs256-test-private.pem");
    let key = EncodingKey::from_rsa_pem(&pem).unwrap_or_else(|e| panic!("{e}"));
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &user_claims(UserId::new_random()),
        &key,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = rejected(&h, Some(token)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("auth.invalid_token"))
    );
    h.stop().await;
}

#[tokio::test]
async fn expired_token_is_401_token_expired() {
    let h = Harness::start().await;
    let mut claims = user_claims(UserId::new_random());
    claims.exp = claims.iat - 3600;
    claims.iat -= 7200;
    let (status, body) = rejected(&h, Some(sign(&keys(), &claims))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("auth.token_expired"))
    );
    h.stop().await;
}

#[tokio::test]
async fn token_with_wrong_audience_or_issuer_is_401_invalid_token() {
    let h = Harness::start().await;
    let user = UserId::new_random();
    let mut wrong_aud = user_claims(user);
    wrong_aud.aud = "someone-else".into();
    let mut wrong_iss = user_claims(user);
    wrong_iss.iss = "evil".into();
    for claims in [wrong_aud, wrong_iss] {
        let (status, body) = rejected(&h, Some(sign(&keys(), &claims))).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("auth.invalid_token"))
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn service_token_from_outside_is_403_user_token_required() {
    let h = Harness::start().await;
    let (status, body) = rejected(&h, Some(service_token(&keys(), "saga"))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("gateway.user_token_required"))
    );
    h.stop().await;
}

#[tokio::test]
async fn user_token_on_internal_endpoint_is_404_not_routed_and_403_directly_on_event_store() {
    let h = Harness::start().await;
    let (token, _) = h.dev_token("alice").await;
    let caller = h.caller(token.clone());
    for (method, path) in [
        (Method::POST, "/internal/v1/rebuild"),
        (Method::POST, "/internal/v1/media/m1/process"),
        (Method::POST, "/internal/v1/default-album/media"),
        (Method::POST, "/internal/v1/notifications"),
        (Method::GET, "/api/v1/head"),
        (Method::GET, "/api/v1/streams/User/x/events"),
    ] {
        let (status, body) = caller
            .send(caller.request(method, path).json(&json!({})))
            .await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["code"], "request.not_found", "{path}");
    }
    assert_eq!(h.echoes.total_hits(), 0);
    let direct = crate::support::gateway::Caller::new(h.store.base_url(), token);
    let (status, body) = direct.get("/api/v1/events").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("auth.service_token_required"))
    );
    h.stop().await;
}

#[tokio::test]
async fn client_x_user_id_of_another_user_is_stripped_before_upstream() {
    let h = Harness::start().await;
    let (token, _) = h.dev_token("alice").await;
    let (_, bob) = h.dev_token("bob").await;
    let caller = h.caller(token);
    let (status, body) = caller
        .send(
            caller
                .request(Method::GET, "/api/v1/media")
                .header("X-User-ID", bob.to_string()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["headers"].get("x-user-id").is_none());
    h.stop().await;
}

#[tokio::test]
async fn events_endpoint_returns_only_callers_events_even_with_other_user_id_and_x_user_id() {
    let h = Harness::start().await;
    let (alice_token, alice) = h.dev_token("alice").await;
    let (_, bob) = h.dev_token("bob").await;
    let caller = h.caller(alice_token);
    for path in [
        "/api/v1/events".to_owned(),
        format!("/api/v1/events?user_id={bob}&after=0&limit=100"),
    ] {
        let (status, body) = caller
            .send(
                caller
                    .request(Method::GET, &path)
                    .header("X-User-ID", bob.to_string()),
            )
            .await;
        assert_eq!(status, 200, "{path}: {body}");
        let events = body["events"].as_array().cloned().unwrap_or_default();
        assert_eq!(events.len(), 1, "{path}: {body}");
        assert_eq!(events[0]["aggregate_id"], alice.to_string());
        assert!(
            events
                .iter()
                .all(|e| e["metadata"]["user_id"] == alice.to_string())
        );
    }
    let mut stream = caller
        .request(Method::GET, &format!("/api/v1/events/stream?user_id={bob}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stream.status().as_u16(), 200);
    let text = first_chunk(&mut stream).await;
    assert!(text.contains(&alice.to_string()), "{text}");
    assert!(!text.contains(&bob.to_string()), "{text}");
    drop(stream);
    h.stop().await;
}

#[tokio::test]
async fn cors_preflight_from_foreign_origin_gets_403_problem_without_allow_origin() {
    let h = Harness::start().await;
    let response = h
        .http
        .request(Method::OPTIONS, format!("{}/api/v1/media", h.base))
        .header("Origin", "http://evil.test")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("gateway.cors_rejected"))
    );
    assert_eq!(h.echoes.total_hits(), 0);
    h.stop().await;
}

#[tokio::test]
async fn cors_preflight_from_frontend_origin_allows_origin_and_the_five_headers() {
    let h = Harness::start().await;
    let response = h
        .http
        .request(Method::OPTIONS, format!("{}/api/v1/media", h.base))
        .header("Origin", FRONTEND_URL)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, x-fault-inject",
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    assert_eq!(header("access-control-allow-origin"), FRONTEND_URL);
    for allowed in [
        "authorization",
        "content-type",
        "last-event-id",
        "x-fault-inject",
        "x-correlation-id",
    ] {
        assert!(
            header("access-control-allow-headers").contains(allowed),
            "{allowed}"
        );
    }
    assert_eq!(h.echoes.total_hits(), 0);
    h.stop().await;
}

#[tokio::test]
async fn dot_dot_and_encoded_dot_dot_and_double_slash_paths_are_400_before_routing() {
    let h = Harness::start().await;
    let (token, _) = h.dev_token("alice").await;
    for path in [
        "/api/v1/media/../../internal/v1/rebuild",
        "/api/v1/media/%2e%2e/%2e%2e/internal/v1/rebuild",
        "/api/v1/media/%2E%2e/x",
        "/api/v1/media/.%2E/x",
        "/api/v1//media",
        "/api/v1/media/a%2fb",
    ] {
        let (status, text) = raw_get(h.addr(), path, &token).await;
        assert_eq!(status, 400, "{path}: {text}");
        assert!(text.contains("application/problem+json"), "{path}");
        assert!(text.contains("gateway.unsafe_path"), "{path}");
    }
    assert_eq!(h.echoes.total_hits(), 0);
    h.stop().await;
}
