//! 不正な入力の表: どれも problem+json で正しい状態と `code` を返し、ログは変わらない。

use crate::support::eventstore::{TestStore, new_event};
use mediahub_core::ids::UserId;
use mediahub_services::platform::auth::{AUDIENCE, Claims, ISSUER, JwtKeys, Role};
use serde_json::{Value, json};

/// リクエストの認証の付け方。
#[derive(Clone)]
enum Auth {
    Service,
    None,
    Raw(String),
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    auth: Auth,
    headers: Vec<(&'static str, String)>,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    status: u16,
    code: &'static str,
}

impl Case {
    fn new(name: &'static str, method: &'static str, path: impl Into<String>) -> Self {
        Self {
            name,
            method,
            path: path.into(),
            auth: Auth::Service,
            headers: Vec::new(),
            content_type: None,
            body: None,
            status: 400,
            code: "",
        }
    }

    fn json(mut self, body: &Value) -> Self {
        self.body = Some(body.to_string().into_bytes());
        self.content_type = Some("application/json");
        self
    }

    fn raw(mut self, body: impl Into<Vec<u8>>, content_type: &'static str) -> Self {
        self.body = Some(body.into());
        self.content_type = Some(content_type);
        self
    }

    fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn expect(mut self, status: u16, code: &'static str) -> Self {
        self.status = status;
        self.code = code;
        self
    }
}

fn now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default()
}

fn service_claims() -> Claims {
    Claims {
        sub: "service:test".into(),
        user_id: None,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        exp: now() + 600,
        iat: now(),
        role: Role::Service,
    }
}

fn alg_none_token() -> String {
    use base64_like::encode;
    let header = encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = encode(
        serde_json::to_string(&service_claims())
            .unwrap_or_default()
            .as_bytes(),
    );
    format!("{header}.{payload}.")
}

/// テスト用の最小の base64url (パディングなし) エンコーダー。
mod base64_like {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    pub fn encode(input: &[u8]) -> String {
        let mut out = String::new();
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = chunk.len() + 1;
            for i in 0..chars {
                let index = (n >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[index as usize]));
            }
        }
        out
    }
}

fn cases(keys: &JwtKeys, stored_id: &Value) -> Vec<Case> {
    let append = "/api/v1/streams/Media/m1/events";
    let forged = JwtKeys::from_secret(b"another-secret-another-secret-another!!")
        .and_then(|k| k.issue_service_token("evil"))
        .unwrap_or_else(|e| panic!("{e}"));
    let expired = keys
        .encode_claims(&Claims {
            exp: now() - 3600,
            iat: now() - 7200,
            ..service_claims()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let wrong_issuer = keys
        .encode_claims(&Claims {
            iss: "someone-else".into(),
            ..service_claims()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let user = keys
        .issue_user_token(UserId::new_random())
        .unwrap_or_else(|e| panic!("{e}"));
    let valid_event = new_event("MediaUploaded", json!({}));
    let mut event_with_unknown = valid_event.clone();
    event_with_unknown["surprise"] = json!(1);
    let oversized = vec![b' '; 9 * 1024 * 1024];
    let thousand_and_one: Vec<Value> = (0..1001)
        .map(|_| new_event("MediaUploaded", json!({})))
        .collect();
    vec![
        Case::new("malformed JSON", "POST", append)
            .raw(r#"{"expected_version": 0, "events": ["#, "application/json")
            .expect(400, "request.invalid_body"),
        Case::new("wrong type: expected_version is a string", "POST", append)
            .json(&json!({"expected_version": "zero", "events": [valid_event]}))
            .expect(400, "request.invalid_body"),
        Case::new("negative expected_version", "POST", append)
            .json(&json!({"expected_version": -1, "events": [valid_event]}))
            .expect(400, "request.invalid_body"),
        Case::new("absurd expected_version 2^63", "POST", append)
            .json(&json!({"expected_version": 9_223_372_036_854_775_808_u64, "events": [valid_event]}))
            .expect(400, "eventstore.invalid_batch"),
        Case::new("unknown top-level field", "POST", append)
            .json(&json!({"expected_version": 0, "events": [valid_event], "force": true}))
            .expect(400, "request.invalid_body"),
        Case::new("unknown field inside an event", "POST", append)
            .json(&json!({"expected_version": 0, "events": [event_with_unknown]}))
            .expect(400, "request.invalid_body"),
        Case::new("event id is not a UUID", "POST", append)
            .json(&json!({"expected_version": 0, "events": [{"id": "nope", "event_type": "X", "event_version": "1", "data": {}}]}))
            .expect(400, "request.invalid_body"),
        Case::new("missing events field", "POST", append)
            .json(&json!({"expected_version": 0}))
            .expect(400, "request.invalid_body"),
        Case::new("empty events", "POST", append)
            .json(&json!({"expected_version": 0, "events": []}))
            .expect(400, "eventstore.invalid_batch"),
        Case::new("1001 events", "POST", append)
            .json(&json!({"expected_version": 0, "events": thousand_and_one}))
            .expect(400, "eventstore.invalid_batch"),
        Case::new("same id twice in one append", "POST", append)
            .json(&json!({"expected_version": 0, "events": [valid_event, valid_event]}))
            .expect(400, "eventstore.invalid_batch"),
        Case::new("body over 8 MiB", "POST", append)
            .raw(oversized, "application/json")
            .expect(413, "request.payload_too_large"),
        Case::new("text/plain body", "POST", append)
            .raw(json!({"expected_version": 0, "events": [valid_event]}).to_string(), "text/plain")
            .expect(415, "request.unsupported_media_type"),
        Case::new("missing token", "POST", append)
            .json(&json!({"expected_version": 0, "events": [valid_event]}))
            .auth(Auth::None)
            .expect(401, "auth.missing_token"),
        Case::new("token signed with another secret", "POST", append)
            .json(&json!({"expected_version": 0, "events": [valid_event]}))
            .auth(Auth::Raw(forged))
            .expect(401, "auth.invalid_token"),
        Case::new("expired token", "POST", append)
            .json(&json!({"expected_version": 0, "events": [valid_event]}))
            .auth(Auth::Raw(expired))
            .expect(401, "auth.token_expired"),
        Case::new("alg none token", "POST", append)
            .json(&json!({"expected_version": 0, "events": [valid_event]}))
            .auth(Auth::Raw(alg_none_token()))
            .expect(401, "auth.invalid_token"),
        Case::new("token from another issuer", "POST", append)
            .json(&json!({"expected_version": 0, "events": [valid_event]}))
            .auth(Auth::Raw(wrong_issuer))
            .expect(401, "auth.invalid_token"),
        Case::new("garbage bearer", "GET", "/api/v1/head")
            .auth(Auth::Raw("abc.def".into()))
            .expect(401, "auth.invalid_token"),
        Case::new("user token on internal endpoint", "POST", append)
            .json(&json!({"expected_version": 0, "events": [valid_event]}))
            .auth(Auth::Raw(user.clone()))
            .expect(403, "auth.service_token_required"),
        Case::new("user token on read", "GET", "/api/v1/events")
            .auth(Auth::Raw(user))
            .expect(403, "auth.service_token_required"),
        Case::new("negative after", "GET", "/api/v1/events?after=-1")
            .expect(400, "request.invalid_parameter"),
        Case::new("after beyond u64", "GET", "/api/v1/events?after=99999999999999999999999")
            .expect(400, "request.invalid_parameter"),
        Case::new("after 2^63", "GET", "/api/v1/events?after=9223372036854775808")
            .expect(400, "request.invalid_parameter"),
        Case::new("after not a number", "GET", "/api/v1/events?after=abc")
            .expect(400, "request.invalid_parameter"),
        Case::new("limit 0", "GET", "/api/v1/events?limit=0")
            .expect(400, "request.invalid_parameter"),
        Case::new("limit 1001", "GET", "/api/v1/events?limit=1001")
            .expect(400, "request.invalid_parameter"),
        Case::new("negative limit", "GET", "/api/v1/events?limit=-5")
            .expect(400, "request.invalid_parameter"),
        Case::new("wait_ms 30001", "GET", "/api/v1/events?wait_ms=30001")
            .expect(400, "request.invalid_parameter"),
        Case::new("correlation_id not a UUID", "GET", "/api/v1/events?correlation_id=x")
            .expect(400, "request.invalid_parameter"),
        Case::new("17 aggregate_type values", "GET", format!("/api/v1/events?{}", "aggregate_type=A&".repeat(17)))
            .expect(400, "request.invalid_parameter"),
        Case::new("empty event_type among two", "GET", "/api/v1/events?event_type=MediaUploaded&event_type=")
            .expect(400, "request.invalid_parameter"),
        Case::new("event_type with a control character on SSE", "GET", "/api/v1/events/stream?event_type=M%01")
            .expect(400, "request.invalid_parameter"),
        Case::new("negative from_version", "GET", "/api/v1/streams/Media/m1/events?from_version=-1")
            .expect(400, "request.invalid_parameter"),
        Case::new("aggregate_id with a control character on append", "POST", "/api/v1/streams/Media/m%01/events")
            .json(&json!({"expected_version": 0, "events": [new_event("X", json!({}))]}))
            .expect(400, "request.invalid_path"),
        Case::new("aggregate_type of 257 characters on append", "POST", format!("/api/v1/streams/{}/m1/events", "あ".repeat(257)))
            .json(&json!({"expected_version": 0, "events": [new_event("X", json!({}))]}))
            .expect(400, "request.invalid_path"),
        Case::new("aggregate_id with DEL on read", "GET", "/api/v1/streams/Media/m%7F/events")
            .expect(400, "request.invalid_path"),
        Case::new("aggregate_id with a C1 control on snapshot", "GET", "/api/v1/streams/Media/m%C2%85/snapshot")
            .expect(400, "request.invalid_path"),
        Case::new("SSE with non-numeric Last-Event-ID", "GET", "/api/v1/events/stream")
            .header("Last-Event-ID", "abc")
            .expect(400, "request.invalid_parameter"),
        Case::new("snapshot with unknown field", "PUT", "/api/v1/streams/Media/m1/snapshot")
            .json(&json!({"aggregate": {}, "current_sequence": 0, "current_snapshot": 1, "expected_snapshot": null, "x": 1}))
            .expect(400, "request.invalid_body"),
        Case::new("commit with negative snapshot version", "POST", "/api/v1/streams/Media/m1/commit")
            .json(&json!({"expected_version": 0, "events": [], "snapshot": {"aggregate": {}, "current_sequence": 0, "current_snapshot": -1, "expected_snapshot": null}}))
            .expect(400, "request.invalid_body"),
        Case::new("commit with no events and no snapshot", "POST", "/api/v1/streams/Media/m1/commit")
            .json(&json!({"expected_version": 0, "events": [], "snapshot": null}))
            .expect(400, "eventstore.invalid_batch"),
        Case::new("unknown path", "GET", "/api/v1/nope")
            .expect(404, "request.not_found"),
        Case::new("wrong method", "DELETE", "/api/v1/head")
            .expect(405, "request.method_not_allowed"),
        Case::new("stale expected_version", "POST", append)
            .json(&json!({"expected_version": 7, "events": [valid_event]}))
            .expect(409, "eventstore.version_conflict"),
        Case::new("retry of stored id with changed data", "POST", append)
            .json(&json!({"expected_version": 0, "events": [{"id": stored_id, "event_type": "Changed", "event_version": "1.0", "data": {}}]}))
            .expect(409, "eventstore.duplicate_event_id"),
    ]
}

crate::on_both_backends! {
    async fn bad_inputs_return_problem_json_with_right_status_and_code_and_leave_log_unchanged(backend) {
        let mut store = TestStore::start_on(backend).await;
        // 既存のイベントを 1 件置いておく (版の衝突と ID の重複の確認用)。
        let stored = new_event("MediaUploaded", json!({}));
        let (status, _) = store
            .append("Media", "m1", 0, std::slice::from_ref(&stored))
            .await;
        assert_eq!(status, 201);
        let head_before = store.head().await;
        let log_before = store.whole_log().await;
        let mut failures = Vec::new();
        for case in cases(&store.keys, &stored["id"]) {
            let method =
                reqwest::Method::from_bytes(case.method.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            let mut request = store.client.request(method, store.url(&case.path));
            request = match &case.auth {
                Auth::Service => request.bearer_auth(&store.token),
                Auth::None => request,
                Auth::Raw(token) => request.bearer_auth(token),
            };
            for (name, value) in &case.headers {
                request = request.header(*name, value);
            }
            if let Some(content_type) = case.content_type {
                request = request.header("Content-Type", content_type);
            }
            if let Some(body) = case.body.clone() {
                request = request.body(body);
            }
            let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let text = response.text().await.unwrap_or_default();
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let ok = status == case.status
                && content_type == "application/problem+json"
                && body["code"] == case.code
                && body["status"] == case.status
                && body["type"] == format!("urn:mediahub:problem:{}", case.code)
                && body["title"].is_string()
                && body["detail"].is_string()
                && !text.contains("sqlx")
                && !text.contains("SELECT")
                && !text.contains("INSERT");
            if !ok {
                failures.push(format!(
                    "{}: 期待 {} {}, 実際 {status} {content_type} {text}",
                    case.name, case.status, case.code
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "失敗したケース:\n{}",
            failures.join("\n")
        );
        assert_eq!(store.head().await, head_before, "ログの先頭は変わらない");
        assert_eq!(
            store.whole_log().await,
            log_before,
            "ログの中身も変わらない"
        );
        store.stop().await;
    }
}
