//! ゲートウェイの中継: 経路表、ヘッダーの扱い、本体を流したままの中継、上限、上流の失敗、文書。
//!
//! ドメインサービスの代わりに、受けた要求をそのまま返す上流の代役 (`crate::support::gateway::Echo`) を
//! 使います (本物のサービスを通した端から端までのテストは後で足します)。

use std::time::Duration;

use crate::support::gateway::{
    DEADLINE, Harness, Options, TEST_REQUEST_LIMIT, first_chunk, header, raw_request,
    status_and_json, wait_until,
};
use futures::StreamExt;
use reqwest::Method;
use serde_json::Value;

const CHUNK: usize = 64 * 1024;

#[tokio::test]
async fn each_public_path_reaches_the_upstream_of_the_route_table() {
    let h = Harness::start().await;
    let (token, _) = h.dev_token("alice").await;
    let caller = h.caller(token);
    for (method, path, upstream) in [
        (Method::GET, "/api/v1/media?limit=5", "media-query"),
        (Method::POST, "/api/v1/media", "media-command"),
        (Method::GET, "/api/v1/media/m1", "media-query"),
        (Method::DELETE, "/api/v1/media/m1", "media-command"),
        (Method::GET, "/api/v1/media/m1/history", "media-query"),
        (Method::GET, "/api/v1/media/m1/original", "media-command"),
        (Method::GET, "/api/v1/media/m1/thumbnail", "media-command"),
        (Method::POST, "/api/v1/albums", "album"),
        (Method::PATCH, "/api/v1/albums/a1", "album"),
        (Method::POST, "/api/v1/albums/a1/media", "album"),
        (Method::DELETE, "/api/v1/albums/a1/media/m1", "album"),
        (Method::GET, "/api/v1/notifications/unread", "notification"),
        (
            Method::PUT,
            "/api/v1/notifications/read-all",
            "notification",
        ),
        (Method::PUT, "/api/v1/notifications/n1/read", "notification"),
        (Method::GET, "/api/v1/sagas", "saga"),
        (Method::GET, "/api/v1/sagas/s1", "saga"),
    ] {
        let (status, body) = caller
            .send(caller.request(method.clone(), path).body("{}"))
            .await;
        assert_eq!(status, 200, "{method} {path}: {body}");
        assert_eq!(body["upstream"], upstream, "{method} {path}");
        assert_eq!(body["method"], method.as_str());
        assert_eq!(body["path"].as_str(), path.split('?').next());
    }
    let (_, body) = caller.get("/api/v1/media?limit=5&kind=image").await;
    assert_eq!(body["query"], "limit=5&kind=image");
    h.stop().await;
}

#[tokio::test]
async fn proxied_request_keeps_authorization_strips_x_user_id_and_hop_by_hop_and_adds_ids() {
    let h = Harness::start().await;
    let (token, _) = h.dev_token("alice").await;
    let other = mediahub_core::ids::UserId::new_random();
    let caller = h.caller(token.clone());
    let (status, body) = caller
        .send(
            caller
                .request(Method::GET, "/api/v1/albums")
                .header("X-User-ID", other.to_string())
                .header("Connection", "keep-alive, X-Secret-Hop")
                .header("X-Secret-Hop", "1")
                .header("Proxy-Authorization", "Basic Zm9v")
                .header("Cookie", "mediahub_oauth=abc")
                .header("X-Fault-Inject", "album"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let headers = &body["headers"];
    assert_eq!(headers["authorization"], format!("Bearer {token}"));
    for absent in ["x-user-id", "x-secret-hop", "proxy-authorization", "cookie"] {
        assert!(headers.get(absent).is_none(), "{absent} が上流に届いた");
    }
    assert_eq!(headers["x-fault-inject"], "album");
    assert!(!headers["x-request-id"].as_str().unwrap_or("").is_empty());
    let correlation = headers["x-correlation-id"].as_str().unwrap_or("");
    assert!(uuid::Uuid::parse_str(correlation).is_ok(), "{correlation}");
    h.stop().await;
}

#[tokio::test]
async fn client_correlation_id_is_forwarded_and_returned_unchanged() {
    let h = Harness::start().await;
    let (token, _) = h.dev_token("alice").await;
    let correlation = uuid::Uuid::new_v4().to_string();
    let response = h
        .caller(token)
        .request(Method::GET, "/api/v1/sagas")
        .header("X-Correlation-ID", &correlation)
        .header("X-Request-Id", "req-123")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        header(&response, "x-correlation-id").as_deref(),
        Some(correlation.as_str())
    );
    assert_eq!(
        header(&response, "x-request-id").as_deref(),
        Some("req-123")
    );
    let (_, body) = status_and_json(response).await;
    assert_eq!(body["headers"]["x-correlation-id"], correlation);
    assert_eq!(body["headers"]["x-request-id"], "req-123");
    h.stop().await;
}

#[tokio::test]
async fn upload_is_streamed_upstream_before_client_finishes_sending() {
    let h = Harness::start().await;
    let (token, _) = h.dev_token("alice").await;
    let echo = h.echoes.media_command.state.received.subscribe();
    // 最初の塊を送った後、上流がそれを受け取るまで次を送りません。ゲートウェイが本体を
    // ためてから送るなら、上流は何も受け取らず、期限切れで失敗します。
    let body = futures::stream::unfold(0u8, move |step| {
        let mut echo = echo.clone();
        async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>(vec![b'a'; CHUNK]), 1)),
                1 => {
                    let seen =
                        tokio::time::timeout(DEADLINE, echo.wait_for(|n| *n >= CHUNK as u64)).await;
                    assert!(seen.is_ok(), "上流が最初の塊を受け取る前に次を求められた");
                    Some((Ok(vec![b'b'; CHUNK]), 2))
                }
                _ => None,
            }
        }
    });
    let response = h
        .http
        .post(format!("{}/api/v1/media", h.base))
        .bearer_auth(token)
        .header("Content-Type", "multipart/form-data; boundary=x")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["body_len"], (2 * CHUNK) as u64);
    assert_eq!(h.echoes.media_command.completed(), 1);
    h.stop().await;
}

#[tokio::test]
async fn upload_declaring_content_length_over_limit_is_413_before_any_body_byte_is_sent() {
    let h = Harness::start().await;
    let (token, _) = h.dev_token("alice").await;
    let (status, text) = raw_request(
        h.addr(),
        &format!(
            "POST /api/v1/media HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            TEST_REQUEST_LIMIT + 1
        ),
    )
    .await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("application/problem+json"));
    assert!(text.contains("request.payload_too_large"));
    assert_eq!(h.echoes.media_command.hits(), 0);
    h.stop().await;
}

#[tokio::test]
async fn chunked_upload_crossing_limit_is_aborted_with_413_and_upstream_never_completes() {
    let h = Harness::start().await;
    let (token, _) = h.dev_token("alice").await;
    let chunks = (TEST_REQUEST_LIMIT as usize) / CHUNK;
    // 上限ちょうどまで送り、さらに 1 バイト送ったら、あとは送らずに待ちます (切断は応答の後)。
    let body =
        futures::stream::iter((0..chunks).map(|_| Ok::<_, std::io::Error>(vec![b'x'; CHUNK])))
            .chain(futures::stream::once(async { Ok(vec![b'y']) }))
            .chain(futures::stream::pending());
    let response = h
        .http
        .post(format!("{}/api/v1/media", h.base))
        .bearer_auth(token)
        .header("Content-Type", "multipart/form-data; boundary=x")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "request.payload_too_large");
    assert_eq!(h.echoes.media_command.completed(), 0);
    assert!(h.echoes.media_command.received() <= TEST_REQUEST_LIMIT);
    h.stop().await;
}

#[tokio::test]
async fn sse_response_is_streamed_while_upstream_keeps_connection_open() {
    let h = Harness::start().await;
    let (token, _) = h.dev_token("alice").await;
    let mut response = h
        .caller(token)
        .request(Method::GET, "/api/v1/notifications/stream")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/event-stream")
    );
    assert!(
        first_chunk(&mut response)
            .await
            .contains("event: notification")
    );
    drop(response);
    h.stop().await;
}

#[tokio::test]
async fn unreachable_upstream_is_502_upstream_unavailable_problem() {
    let closed = crate::support::common::ClosedPort::bind();
    let h = Harness::start_with(Options {
        album_url: Some(closed.url().to_owned()),
        ..Options::default()
    })
    .await;
    let (token, _) = h.dev_token("alice").await;
    let (status, body) = h.caller(token).get("/api/v1/albums").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "upstream.unavailable");
    assert_eq!(body["upstream"], "album");
    h.stop().await;
}

#[tokio::test]
async fn upstream_not_answering_in_time_is_504_upstream_timeout_problem() {
    let h = Harness::start_with(Options {
        upstream_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let (token, _) = h.dev_token("alice").await;
    let (status, body) = h.caller(token).get("/api/v1/sagas/hang").await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["code"], "upstream.timeout");
    assert_eq!(body["upstream"], "saga");
    h.stop().await;
}

#[tokio::test]
async fn unknown_path_is_404_and_known_path_with_other_method_is_405_with_allow() {
    let h = Harness::start().await;
    let (token, _) = h.dev_token("alice").await;
    let caller = h.caller(token);
    for path in [
        "/api/v1/unknown",
        "/api/v2/media",
        "/api/v1/media/m1/process",
        "/",
    ] {
        let (status, body) = caller.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["code"], "request.not_found", "{path}");
    }
    let response = caller
        .request(Method::PUT, "/api/v1/albums")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(header(&response, "allow").as_deref(), Some("GET, POST"));
    let (status, body) = status_and_json(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some("request.method_not_allowed"))
    );
    assert_eq!(h.echoes.total_hits(), 0);
    h.stop().await;
}

#[tokio::test]
async fn openapi_json_and_swagger_describe_gateway_endpoints_and_every_proxied_path() {
    let h = Harness::start().await;
    let (status, spec) = h.anonymous().get("/openapi.json").await;
    assert_eq!(status, 200);
    let paths = &spec["paths"];
    for path in [
        "/auth/providers",
        "/auth/dev-token",
        "/auth/{provider}/login",
        "/auth/{provider}/callback",
        "/api/v1/me",
        "/health",
    ] {
        assert!(paths.get(path).is_some(), "{path} が文書に無い");
    }
    for rule in mediahub_services::gateway::ROUTES {
        for verb in rule.verbs {
            assert_eq!(
                paths[rule.pattern][verb.lowercase()]["x-upstream"],
                rule.upstream.name()
            );
        }
    }
    assert!(
        paths
            .as_object()
            .map(|p| p.keys().all(|k| !k.starts_with("/internal")))
            .unwrap_or(false)
    );
    let swagger = h
        .http
        .get(format!("{}/swagger", h.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(swagger.status().as_u16(), 200);
    let html = swagger.text().await.unwrap_or_default();
    assert!(html.contains("SwaggerUIBundle"));
    assert!(html.contains("/api/v1/albums/{id}/media/{media_id}"));
    h.stop().await;
}

#[tokio::test]
async fn own_events_long_poll_waits_and_answers_when_caller_event_is_committed() {
    let h = Harness::start().await;
    let (alice, _) = h.dev_token("alice").await;
    let head = h
        .store
        .client()
        .head()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let caller = h.caller(alice);
    let waiting = tokio::spawn({
        let caller = caller.clone();
        async move {
            caller
                .get(&format!("/api/v1/events?after={head}&wait_ms=15000"))
                .await
        }
    });
    // 待ち始めてから、呼び出し元のイベントをストアに直接追記します。
    let store = h.store.client();
    wait_until(
        "ロングポーリングが待ち始める",
        DEADLINE,
        || {
            let h = &h;
            async move { h.store.handle().state().waiters() > 0 }
        },
    )
    .await;
    let me = mediahub_core::ids::UserId::for_identity("dev", "alice");
    let event = mediahub_core::envelope::NewEvent {
        id: mediahub_core::ids::EventId::new_random(),
        event_type: "Noted".into(),
        event_version: "1.0".into(),
        data: serde_json::json!({}),
        metadata: mediahub_core::envelope::EventMetadata::default().by_user(me),
    };
    store
        .append("Note", "n1", 0, &[event])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = waiting.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200, "{body}");
    let events = body["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_type"], "Noted");
    assert_eq!(
        events[0]["metadata"]["user_id"],
        Value::String(me.to_string())
    );
    h.stop().await;
}
