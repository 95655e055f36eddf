//! ゲートウェイのアプリケーションの組み立て (経路の選択、CORS、文書)。
//!
//! 要求は外側から次の順に通ります:
//!
//! 1. リクエスト ID ([`RequestIdMiddleware`]) と problem+json への変換 ([`ProblemMiddleware`])
//! 2. CORS ([`cors`]): 許可したオリジン以外のクロスオリジン要求は 403 problem+json で、
//!    `Access-Control-Allow-Origin` は付きません
//! 3. [`GatewayEndpoint`]: パスの安全検査 (400) → `/openapi.json`・`/swagger` →
//!    経路表に一致すれば上流へ中継 ([`Proxy`])、パスだけ一致すれば 405 →
//!    それ以外はゲートウェイ自身のエンドポイント (無ければ 404)

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::middleware::Cors;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response};

use super::error::codes as gateway_codes;
use super::proxy::{CORRELATION_ID_HEADER, Proxy};
use super::routes::{self, Lookup};
use crate::platform::openapi::DocumentPages;
use crate::platform::problem::{Problem, ProblemMiddleware, codes};
use crate::platform::telemetry::{REQUEST_ID_HEADER, RequestId, RequestIdMiddleware};

/// CORS で許可する要求ヘッダー。
pub const CORS_ALLOW_HEADERS: [&str; 8] = [
    "Authorization",
    "Content-Type",
    "Last-Event-ID",
    "X-Fault-Inject",
    "X-Saga-Pace-Ms",
    "X-Correlation-ID",
    "If-Match",
    "Idempotency-Key",
];

/// 許可したオリジンだけに応える CORS の設定を作ります。
#[must_use]
pub fn cors(origins: &[String]) -> Cors {
    Cors::new()
        .allow_origins(origins.iter().map(String::as_str))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(CORS_ALLOW_HEADERS)
        .expose_headers([REQUEST_ID_HEADER, CORRELATION_ID_HEADER, "ETag"])
        .max_age(600)
}

/// 経路を選ぶエンドポイント。
pub struct GatewayEndpoint<E> {
    proxy: Proxy,
    inner: E,
    pages: DocumentPages,
}

fn method_not_allowed(pattern: &str) -> Response {
    let mut response = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        "このパスはそのメソッドに対応していません",
    )
    .into_response();
    if let Ok(allow) = HeaderValue::from_str(&routes::allowed_methods(pattern)) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

impl<E: Endpoint> Endpoint for GatewayEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        routes::check_path(req.uri().path()).map_err(Problem::from)?;
        let path = req.uri().path();
        if req.method() == Method::GET && path == "/openapi.json" {
            return Ok(self.pages.json_response());
        }
        if req.method() == Method::GET && (path == "/swagger" || path == "/swagger/") {
            return Ok(self.pages.swagger_response());
        }
        match routes::lookup(req.method(), path) {
            Lookup::Found(rule) => Ok(self.proxy.forward(rule, req).await?),
            Lookup::MethodNotAllowed(pattern) => Ok(method_not_allowed(pattern)),
            Lookup::NotRouted => {
                // 内側のアプリ (build_app) のリクエスト ID を外側と揃えます。
                let id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
                if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                    req.headers_mut().insert(REQUEST_ID_HEADER, value);
                }
                accept_empty_dev_token_body(&mut req);
                Ok(self.inner.call(req).await?.into_response())
            }
        }
    }
}

/// `POST /auth/dev-token` は本体を省略できる (`curl -X POST` だけで使える) ので、本体も
/// `Content-Type` も無い要求には `application/json` を補います (空の本体は「指定なし」)。
fn accept_empty_dev_token_body(req: &mut Request) {
    let headers = req.headers();
    let empty = !headers.contains_key(header::TRANSFER_ENCODING)
        && headers
            .get(header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0");
    if req.method() == Method::POST
        && req.uri().path() == "/auth/dev-token"
        && !headers.contains_key(header::CONTENT_TYPE)
        && empty
    {
        req.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
}

/// 内側のアプリ (ゲートウェイ自身の API) から 1 つのパスを GET して本文を読みます。
async fn fetch_inner<E: Endpoint>(inner: &E, path: &str) -> Result<String, String> {
    let response = inner
        .call(Request::builder().uri_str(path).finish())
        .await
        .map_err(|e| e.to_string())?
        .into_response();
    response
        .into_body()
        .into_string()
        .await
        .map_err(|e| e.to_string())
}

/// ゲートウェイのアプリケーションを組み立てます。
///
/// `inner` はゲートウェイ自身の API を `build_app` で組み立てたものです。その `/openapi.json` に
/// 経路表のパスを足した文書を `/openapi.json` と `/swagger` で返します。
///
/// # エラー
/// 内側の文書が読めなければ、その理由の文字列。
pub async fn build<E>(
    inner: E,
    proxy: Proxy,
    origins: &[String],
) -> Result<impl Endpoint<Output = Response> + 'static, String>
where
    E: Endpoint + 'static,
{
    let own_spec = fetch_inner(&inner, "/openapi.json").await?;
    let own_swagger = fetch_inner(&inner, "/swagger/").await?;
    let document = super::openapi::document(&own_spec, super::openapi::upstream_spec)
        .map_err(|e| e.to_string())?;
    let merged = serde_json::to_string(&document).map_err(|e| e.to_string())?;
    let endpoint = GatewayEndpoint {
        proxy,
        inner,
        pages: DocumentPages::new(merged, &own_swagger, &own_spec),
    };
    Ok(endpoint
        .with(cors(origins))
        .catch_error(|_: poem::error::CorsError| async move {
            Problem::forbidden(
                gateway_codes::CORS_REJECTED,
                "このオリジンからの要求は許可されていません",
            )
            .into_response()
        })
        .with(ProblemMiddleware)
        .with(RequestIdMiddleware)
        .map_to_response())
}
