//! 上流への中継 (リバースプロキシ)。
//!
//! [`Proxy::forward`] は経路表 ([`super::routes::ROUTES`]) で選ばれた行について、次の順に処理します。
//!
//! 1. ユーザー用 JWT を検証します (無い・不正・期限切れは 401、サービス用トークンは 403)。
//! 2. `Content-Length` が上限を超えていれば、本体を読まずにすぐ 413 にします。
//! 3. 要求ヘッダーからホップバイホップのヘッダー・`Host`・`Cookie`・クライアントの `X-User-ID` を
//!    取り除き、`X-Request-Id` と `X-Correlation-ID` (無ければ新しく作る) を付けます。
//!    `Authorization` (ユーザーのトークン) はそのまま渡します。自分のイベントの経路だけは、
//!    ゲートウェイのサービス用トークンに差し替え、クエリの `user_id` を呼び出し元に強制します。
//! 4. 本体は **流したまま** 上流へ送ります (メモリにためません)。流れたバイト数を数え、
//!    上限を超えた時点で中継を打ち切って 413 にします。
//! 5. 上流の応答も流したまま返します (SSE も同じ)。接続できなければ 502
//!    (`upstream.unavailable`)、応答ヘッダーが時間内に来なければ 504 (`upstream.timeout`)。
//!    SSE の経路には時間制限はありません。

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use mediahub_core::ids::{CorrelationId, UserId};
use poem::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use poem::{Body, Request, Response};
use url::Url;
use uuid::Uuid;

use super::error::RequestError;
use super::routes::{RouteKind, RouteRule, Upstream};
use crate::platform::auth::JwtKeys;
use crate::platform::http_client;
use crate::platform::problem::{Problem, codes};
use crate::platform::server::Shutdown;
use crate::platform::telemetry::{REQUEST_ID_HEADER, RequestId};

/// 相関 ID のヘッダー名。
pub const CORRELATION_ID_HEADER: &str = "X-Correlation-ID";
/// ゲートウェイがイベントストアに名乗るサービス名 (サービス用トークンの `sub`)。
pub const GATEWAY_SERVICE_NAME: &str = "gateway";
/// イベントストアのロングポーリングの最大待ち時間 (ミリ秒)。
const MAX_WAIT_MS: u64 = 30_000;

/// ホップバイホップのヘッダー (RFC 9110 §7.6.1)。要求でも応答でも中継しません。
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// 要求から取り除くそのほかのヘッダー (`X-Request-Id` と `X-Correlation-ID` は付け直します)。
const NOT_FORWARDED: &[&str] = &[
    "host",
    "cookie",
    "x-user-id",
    "x-request-id",
    "x-correlation-id",
];

/// 上流のベース URL。
#[derive(Debug, Clone)]
pub struct UpstreamUrls {
    /// media-command のベース URL。
    pub media_command: String,
    /// media-query のベース URL。
    pub media_query: String,
    /// album のベース URL。
    pub album: String,
    /// eventstore のベース URL。
    pub eventstore: String,
    /// saga のベース URL。
    pub saga: String,
    /// notification のベース URL。
    pub notification: String,
}

impl UpstreamUrls {
    /// 上流のベース URL (末尾の `/` は除いたもの)。
    #[must_use]
    pub fn base(&self, upstream: Upstream) -> &str {
        let url = match upstream {
            Upstream::MediaCommand => &self.media_command,
            Upstream::MediaQuery => &self.media_query,
            Upstream::Album => &self.album,
            Upstream::EventStore => &self.eventstore,
            Upstream::Saga => &self.saga,
            Upstream::Notification => &self.notification,
        };
        url.trim_end_matches('/')
    }
}

/// 中継の設定と HTTP クライアント。
#[derive(Debug, Clone)]
pub struct Proxy {
    keys: JwtKeys,
    upstreams: UpstreamUrls,
    http: reqwest::Client,
    max_request_bytes: u64,
    upstream_timeout: Duration,
    upload_timeout: Duration,
    shutdown: Shutdown,
}

/// [`Proxy`] を作るための設定。
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// JWT の鍵。
    pub keys: JwtKeys,
    /// 上流のベース URL。
    pub upstreams: UpstreamUrls,
    /// 中継する要求本体の上限 (バイト)。
    pub max_request_bytes: u64,
    /// 普通の要求で応答ヘッダーを待つ最長時間。
    pub upstream_timeout: Duration,
    /// アップロードで応答ヘッダーを待つ最長時間。
    pub upload_timeout: Duration,
    /// 停止の合図 (流れている応答は停止で終わります)。
    pub shutdown: Shutdown,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// 要求の `Authorization: Bearer` をユーザー用トークンとして検証し、ユーザー ID を返します。
///
/// # エラー
/// 無ければ 401 (`auth.missing_token`)、不正なら 401、サービス用トークンなら 403
/// (`gateway.user_token_required`)。
pub fn authenticate_user(keys: &JwtKeys, headers: &HeaderMap) -> Result<UserId, Problem> {
    let Some(token) = bearer(headers) else {
        return Err(Problem::unauthorized(
            codes::MISSING_TOKEN,
            "Authorization: Bearer <JWT> ヘッダーが必要です",
        ));
    };
    let claims = keys.verify(token)?;
    claims
        .user()?
        .ok_or_else(|| RequestError::UserTokenRequired.into())
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || declared_length(headers).is_some_and(|n| n > 0)
}

/// `Connection` ヘッダーに並んだ名前 (これらもホップバイホップ)。
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect()
}

/// ホップバイホップのヘッダーと `extra` を除いてヘッダーを写します。
fn copy_headers(from: &HeaderMap, extra: &[&str]) -> HeaderMap {
    let listed = connection_listed(from);
    let mut to = HeaderMap::with_capacity(from.len());
    for (name, value) in from {
        let name_str = name.as_str();
        if HOP_BY_HOP.contains(&name_str) || extra.contains(&name_str) || listed.contains(name) {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
    to
}

/// 呼び出し元の `user_id` を強制したクエリ (ほかのパラメーターはそのまま)。
fn own_events_query(query: Option<&str>, user: UserId) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key != "user_id" {
            out.append_pair(&key, &value);
        }
    }
    out.append_pair("user_id", &user.to_string());
    out.finish()
}

fn wait_ms(query: Option<&str>) -> u64 {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "wait_ms")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(0)
        .min(MAX_WAIT_MS)
}

/// 文書に載せている要求ヘッダー (上流が値を読むもの)。
const DOCUMENTED_HEADERS: &[&str] = &[
    "Idempotency-Key",
    "If-Match",
    "X-Correlation-ID",
    "X-Causation-ID",
    "X-Fault-Inject",
    "X-Saga-Pace-Ms",
];

/// 文書に載せているヘッダーの値が表示できる ASCII でなければ 400 にします。
///
/// そうしないと上流 (poem-openapi) は読めない値を「ヘッダー無し」として扱い、壊れた
/// `Idempotency-Key` が黙って無視されてしまいます。
fn check_header_text(headers: &HeaderMap) -> Result<(), Problem> {
    for name in DOCUMENTED_HEADERS {
        for value in headers.get_all(*name) {
            if value.to_str().is_err() {
                return Err(Problem::bad_request(
                    codes::INVALID_PARAMETER,
                    format!("{name} は表示できる ASCII 文字だけにしてください"),
                ));
            }
        }
    }
    Ok(())
}

/// 要求の `X-Correlation-ID` (無ければ新しく作る)。
///
/// 新しく作る相関 ID は、イベント ID と同じ時刻順の UUID v7 です。イベントストアは相関 ID の
/// 索引 (`events_by_correlation`) を持つので、ランダムな v4 では追記ごとに索引のあちこちの
/// ページが汚れ、コミットで書くページが増えます (v7 なら新しい行は索引の末尾に並びます)。
/// UI は v7 の ID を先頭 8 文字と末尾 4 文字で見せるので、続けて作った相関 ID も見分けられます。
///
/// 文書どおり UUID でなければ 400 (`request.invalid_parameter`) で、何も中継しません
/// (黙って付け替えると、利用者の相関 ID でイベントを追えなくなるため)。
fn correlation_id(headers: &HeaderMap) -> Result<String, Problem> {
    let Some(value) = headers.get(CORRELATION_ID_HEADER) else {
        return Ok(CorrelationId::new_time_ordered().to_string());
    };
    value
        .to_str()
        .ok()
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .map(|id| id.to_string())
        .ok_or_else(|| {
            Problem::bad_request(
                codes::INVALID_PARAMETER,
                "X-Correlation-ID は UUID にしてください",
            )
        })
}

impl Proxy {
    /// 設定から作ります。
    ///
    /// # エラー
    /// HTTP クライアントを作れなければ `reqwest::Error`。
    pub fn new(settings: ProxySettings) -> Result<Self, reqwest::Error> {
        let http = http_client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            keys: settings.keys,
            upstreams: settings.upstreams,
            http,
            max_request_bytes: settings.max_request_bytes,
            upstream_timeout: settings.upstream_timeout,
            upload_timeout: settings.upload_timeout,
            shutdown: settings.shutdown,
        })
    }

    fn timeout(&self, kind: RouteKind, query: Option<&str>) -> Option<Duration> {
        match kind {
            RouteKind::Plain => Some(self.upstream_timeout),
            RouteKind::Upload => Some(self.upload_timeout),
            RouteKind::Stream | RouteKind::OwnEvents { stream: true } => None,
            RouteKind::OwnEvents { stream: false } => {
                Some(self.upstream_timeout + Duration::from_millis(wait_ms(query)))
            }
        }
    }

    /// 1 件の要求を上流へ中継し、応答を返します。
    ///
    /// # エラー
    /// 認証・大きさ・上流の失敗を [`Problem`] で返します。
    pub async fn forward(&self, rule: &RouteRule, mut req: Request) -> Result<Response, Problem> {
        let user = authenticate_user(&self.keys, req.headers())?;
        let too_large = RequestError::PayloadTooLarge {
            limit: self.max_request_bytes,
        };
        if declared_length(req.headers()).is_some_and(|n| n > self.max_request_bytes) {
            return Err(too_large.into());
        }
        let query = req.uri().query();
        let own_events = matches!(rule.kind, RouteKind::OwnEvents { .. });
        let query = if own_events {
            Some(own_events_query(query, user))
        } else {
            query.map(str::to_owned)
        };
        let mut target = format!("{}{}", self.upstreams.base(rule.upstream), req.uri().path());
        if let Some(query) = query.as_deref().filter(|q| !q.is_empty()) {
            target.push('?');
            target.push_str(query);
        }
        let url = Url::parse(&target).map_err(|_| RequestError::UpstreamUnavailable {
            upstream: rule.upstream.name(),
        })?;
        let timeout = self.timeout(rule.kind, query.as_deref());

        let mut headers = copy_headers(req.headers(), NOT_FORWARDED);
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map_or_else(|| Uuid::new_v4().to_string(), |id| id.0.clone());
        check_header_text(req.headers())?;
        let correlation = correlation_id(req.headers())?;
        for (name, value) in [
            (REQUEST_ID_HEADER, request_id.as_str()),
            (CORRELATION_ID_HEADER, correlation.as_str()),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
        if own_events {
            let token = self
                .keys
                .issue_service_token(GATEWAY_SERVICE_NAME)
                .map_err(Problem::from)?;
            if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
                headers.insert(header::AUTHORIZATION, value);
            }
        }

        let mut builder = self
            .http
            .request(req.method().clone(), url)
            .headers(headers);
        let exceeded = Arc::new(AtomicBool::new(false));
        if has_body(req.headers()) {
            let limit = self.max_request_bytes;
            let flag = Arc::clone(&exceeded);
            let mut seen = 0u64;
            let body = req.take_body().into_bytes_stream().map(move |chunk| {
                let chunk = chunk?;
                seen = seen.saturating_add(chunk.len() as u64);
                if seen > limit {
                    flag.store(true, Ordering::SeqCst);
                    return Err(std::io::Error::other("リクエスト本体が上限を超えました"));
                }
                Ok(chunk)
            });
            builder = builder.body(reqwest::Body::wrap_stream(body));
        }

        let upstream = rule.upstream.name();
        let sent = match timeout {
            Some(limit) => match tokio::time::timeout(limit, builder.send()).await {
                Ok(result) => result,
                Err(_elapsed) => return Err(RequestError::UpstreamTimeout { upstream }.into()),
            },
            None => builder.send().await,
        };
        let response = match sent {
            Ok(response) => response,
            Err(_) if exceeded.load(Ordering::SeqCst) => return Err(too_large.into()),
            Err(err) if err.is_timeout() => {
                return Err(RequestError::UpstreamTimeout { upstream }.into());
            }
            Err(err) => {
                tracing::warn!(upstream, error = %err, "上流への中継に失敗しました");
                return Err(RequestError::UpstreamUnavailable { upstream }.into());
            }
        };
        Ok(self.relay_response(response, &correlation))
    }

    fn relay_response(&self, upstream: reqwest::Response, correlation: &str) -> Response {
        let status = upstream.status();
        let mut headers = copy_headers(upstream.headers(), &[]);
        if !headers.contains_key(CORRELATION_ID_HEADER) {
            if let Ok(value) = HeaderValue::from_str(correlation) {
                headers.insert(CORRELATION_ID_HEADER, value);
            }
        }
        let shutdown = self.shutdown.clone();
        let stream = upstream
            .bytes_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other))
            .take_until(async move { shutdown.wait().await });
        let mut response = Response::builder()
            .status(status)
            .body(Body::from_bytes_stream(stream));
        *response.headers_mut() = headers;
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::auth::USER_ID_HEADER;

    #[test]
    fn own_events_query_replaces_client_user_id_and_keeps_other_params() {
        let me = UserId::new_random();
        let other = UserId::new_random();
        let query = own_events_query(Some(&format!("after=3&user_id={other}&limit=5")), me);
        assert_eq!(query, format!("after=3&limit=5&user_id={me}"));
        assert_eq!(own_events_query(None, me), format!("user_id={me}"));
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_not_copied() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("x-user-id", HeaderValue::from_static("someone"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/plain"));
        let copied = copy_headers(&headers, NOT_FORWARDED);
        assert_eq!(copied.len(), 1);
        assert!(copied.contains_key(header::ACCEPT));
        assert!(!copied.contains_key(USER_ID_HEADER));
    }

    #[test]
    fn given_correlation_id_is_kept_missing_is_new_time_ordered_uuid_and_non_uuid_is_400() {
        let mut headers = HeaderMap::new();
        let fresh = correlation_id(&headers).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(
            Uuid::parse_str(&fresh).map(|id| id.get_version_num()).ok(),
            Some(7)
        );
        let given = Uuid::new_v4().to_string();
        headers.insert(
            CORRELATION_ID_HEADER,
            HeaderValue::from_str(&given).unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(correlation_id(&headers).ok(), Some(given));
        headers.insert(CORRELATION_ID_HEADER, HeaderValue::from_static("nope"));
        let problem = correlation_id(&headers)
            .err()
            .unwrap_or_else(|| panic!("nope は拒否されるはず"));
        assert_eq!(problem.code(), codes::INVALID_PARAMETER);
    }

    #[test]
    fn wait_ms_is_capped_at_30_seconds() {
        assert_eq!(wait_ms(Some("wait_ms=999999")), MAX_WAIT_MS);
        assert_eq!(wait_ms(Some("after=1")), 0);
    }
}
