//! ゲートウェイの OAuth2 ログイン (GitHub / Google) を、テストの中で起動した偽プロバイダに対して
//! 本物の HTTP で最後まで確かめます。

use std::collections::HashMap;

use crate::support::gateway::{
    CLIENT_ID, FRONTEND_URL, GITHUB_USER_ID, GOOGLE_SUB, Harness, Options, PUBLIC_URL, authorize,
    callback, full_login, keys, location_and_cookie, problem, status_and_json, token_from_fragment,
};
use mediahub_core::ids::UserId;

#[tokio::test]
async fn github_login_redirects_with_state_s256_challenge_exact_redirect_uri_and_httponly_lax_cookie()
 {
    let h = Harness::start().await;
    let response = h
        .http
        .get(format!("{}/auth/github/login", h.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 302);
    let (location, cookie) = location_and_cookie(&response);
    let url = url::Url::parse(&location).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(url.path(), "/authorize");
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(
        q["redirect_uri"],
        format!("{PUBLIC_URL}/auth/github/callback")
    );
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 16);
    let cookie = cookie.unwrap_or_default();
    for attribute in ["mediahub_oauth=", "HttpOnly", "SameSite=Lax", "Path=/auth"] {
        assert!(cookie.contains(attribute), "{attribute} が無い: {cookie}");
    }
    assert!(
        !cookie.contains(&q["state"]),
        "state をクッキーに入れてはいけない"
    );
    h.stop().await;
}

#[tokio::test]
async fn github_full_flow_exchanges_code_with_verifier_and_returns_token_in_fragment_only() {
    let h = Harness::start().await;
    let location = full_login(&h, "github").await;
    assert!(location.starts_with(&format!("{FRONTEND_URL}/#token=")));
    assert!(
        !location.contains('?'),
        "トークンをクエリに入れてはいけない: {location}"
    );
    let claims = keys()
        .verify(&token_from_fragment(&location))
        .unwrap_or_else(|e| panic!("{e}"));
    let user = UserId::for_identity("github", &GITHUB_USER_ID.to_string());
    assert_eq!(claims.user().ok().flatten(), Some(user));
    assert_eq!(h.fake.token_requests(), 1);
    assert_eq!(h.registrations(user).await, 1);
    h.stop().await;
}

#[tokio::test]
async fn github_two_logins_register_user_once_and_me_shows_primary_verified_email() {
    let h = Harness::start().await;
    let first = token_from_fragment(&full_login(&h, "github").await);
    let second = token_from_fragment(&full_login(&h, "github").await);
    let user = UserId::for_identity("github", &GITHUB_USER_ID.to_string());
    assert_eq!(h.registrations(user).await, 1);
    for token in [first, second] {
        let (status, me) = h.caller(token).get("/api/v1/me").await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["id"], user.to_string());
        assert_eq!(me["email"], "octo@example.com");
        assert_eq!(me["display_name"], "Octo Cat");
        assert_eq!(me["provider"], "github");
    }
    h.stop().await;
}

#[tokio::test]
async fn google_full_flow_registers_user_once_over_two_logins_with_verified_email() {
    let h = Harness::start().await;
    let location = full_login(&h, "google").await;
    full_login(&h, "google").await;
    let user = UserId::for_identity("google", GOOGLE_SUB);
    let token = token_from_fragment(&location);
    assert_eq!(
        keys()
            .verify(&token)
            .ok()
            .and_then(|c| c.user().ok().flatten()),
        Some(user)
    );
    assert_eq!(h.registrations(user).await, 1);
    let (status, me) = h.caller(token).get("/api/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], "gopher@example.com");
    assert_eq!(me["provider"], "google");
    let authorize = h
        .fake
        .state
        .authorize_requests
        .lock()
        .unwrap_or_else(|e| panic!("{e}"))[0]
        .clone();
    assert_eq!(authorize["scope"], "openid email profile");
    assert_eq!(
        authorize["redirect_uri"],
        format!("{PUBLIC_URL}/auth/google/callback")
    );
    h.stop().await;
}

#[tokio::test]
async fn callback_with_wrong_state_is_400_problem_and_no_code_exchange_and_no_user() {
    let h = Harness::start().await;
    let (url, cookie) = authorize(&h, "github").await;
    let mut tampered = url::Url::parse(&url).unwrap_or_else(|e| panic!("{e}"));
    let pairs: Vec<(String, String)> = tampered
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "state" {
                (k, "forged".into())
            } else {
                (k, v)
            }
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let (status, body) =
        status_and_json(callback(&h, tampered.as_str(), Some(&cookie)).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "gateway.invalid_oauth_state");
    assert_eq!(h.fake.token_requests(), 0);
    assert_eq!(h.all_registrations().await, 0);
    h.stop().await;
}

#[tokio::test]
async fn callback_without_state_or_without_cookie_is_400_problem_and_no_user() {
    let h = Harness::start().await;
    let (url, cookie) = authorize(&h, "github").await;
    let without_state = url
        .split('&')
        .filter(|p| !p.starts_with("state="))
        .collect::<Vec<_>>()
        .join("&");
    let response = callback(&h, &without_state, Some(&cookie)).await;
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("gateway.invalid_oauth_state"))
    );
    let (url, _) = authorize(&h, "github").await;
    let (status, body) = status_and_json(callback(&h, &url, None).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("gateway.invalid_oauth_state"))
    );
    assert_eq!(h.fake.token_requests(), 0);
    assert_eq!(h.all_registrations().await, 0);
    h.stop().await;
}

#[tokio::test]
async fn replayed_callback_with_same_cookie_and_state_is_400_second_time() {
    let h = Harness::start().await;
    let (url, cookie) = authorize(&h, "google").await;
    assert_eq!(
        callback(&h, &url, Some(&cookie)).await.status().as_u16(),
        302
    );
    let (status, body) = status_and_json(callback(&h, &url, Some(&cookie)).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("gateway.invalid_oauth_state"))
    );
    assert_eq!(h.fake.token_requests(), 1);
    h.stop().await;
}

#[tokio::test]
async fn state_from_github_login_is_rejected_on_google_callback() {
    let h = Harness::start().await;
    let (url, cookie) = authorize(&h, "github").await;
    let google = url.replace("/auth/github/callback", "/auth/google/callback");
    let (status, _) = status_and_json(callback(&h, &google, Some(&cookie)).await).await;
    assert_eq!(status, 400);
    assert_eq!(h.all_registrations().await, 0);
    h.stop().await;
}

#[tokio::test]
async fn provider_error_on_callback_is_400_oauth_denied_and_no_user() {
    let h = Harness::start().await;
    let (url, cookie) = authorize(&h, "github").await;
    let state = url::Url::parse(&url)
        .unwrap_or_else(|e| panic!("{e}"))
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let denied = format!(
        "{}/auth/github/callback?error=access_denied&state={state}",
        h.base
    );
    let (status, body) = status_and_json(callback(&h, &denied, Some(&cookie)).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("gateway.oauth_denied"))
    );
    assert_eq!(h.all_registrations().await, 0);
    h.stop().await;
}

#[tokio::test]
async fn disabled_or_unknown_provider_login_is_404_problem() {
    let h = Harness::start_with(Options {
        google: false,
        ..Options::default()
    })
    .await;
    for path in [
        "/auth/google/login",
        "/auth/twitter/login",
        "/auth/google/callback",
    ] {
        let (status, body) = h.anonymous().get(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["code"], "gateway.provider_disabled", "{path}");
    }
    let (status, body) = h.anonymous().get("/auth/providers").await;
    assert_eq!(status, 200);
    assert_eq!(body["providers"], serde_json::json!(["github"]));
    assert_eq!(body["dev_login"], true);
    h.stop().await;
}

#[tokio::test]
async fn providers_lists_both_when_configured_and_dev_login_false_when_disabled() {
    let h = Harness::start_with(Options {
        dev_login: false,
        ..Options::default()
    })
    .await;
    let (status, body) = h.anonymous().get("/auth/providers").await;
    assert_eq!(status, 200);
    assert_eq!(body["providers"], serde_json::json!(["github", "google"]));
    assert_eq!(body["dev_login"], false);
    h.stop().await;
}

#[tokio::test]
async fn code_exchange_rejected_by_provider_for_wrong_client_secret_is_502_and_no_user() {
    let h = Harness::start_with(Options {
        client_secret: "not-the-secret",
        ..Options::default()
    })
    .await;
    let (url, cookie) = authorize(&h, "github").await;
    let (status, body) = problem(callback(&h, &url, Some(&cookie)).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (502, Some("gateway.oauth_provider_failed"))
    );
    assert_eq!(
        h.fake
            .state
            .token_rejections
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(h.all_registrations().await, 0);
    h.stop().await;
}
