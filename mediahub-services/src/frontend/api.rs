//! フロントエンドの経路: UI のファイル (`/`・`/*path`)、`runtime-config.js`、`/health`・`/ready`。
//! どの応答にも Content-Security-Policy などの安全のためのヘッダーを付けます。

use std::sync::Arc;

use poem::http::header;
use poem::web::{Data, Json};
use poem::{Endpoint, EndpointExt, Request, Response, Route, get, handler};

use super::assets::{self, AssetError, RUNTIME_CONFIG_PATH};
use super::config::SERVICE_NAME;
use super::state::FrontendState;
use crate::platform::problem::{Problem, ProblemMiddleware, codes};
use crate::platform::telemetry::RequestIdMiddleware;

/// URL からオリジン (`scheme://host:port`) を取り出します。読めなければ `None`。
fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    match parsed.origin() {
        url::Origin::Tuple(..) => Some(parsed.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// UI に付ける Content-Security-Policy。スクリプトは自分のオリジンからだけ、通信は
/// 自分とゲートウェイにだけ許します。画像と動画は、認可つきで取得して作る `blob:` の URL でも
/// 表示できます (`media-src` が無いと動画の原本が再生できません)。
pub(super) fn content_security_policy(gateway_url: &str) -> String {
    let connect = origin_of(gateway_url)
        .map(|origin| format!(" {origin}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'{connect}; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'self'"
    )
}

fn asset_problem(err: &AssetError) -> Problem {
    match err {
        AssetError::InvalidPath(_) => Problem::bad_request(codes::INVALID_PATH, err.to_string()),
        AssetError::UnsupportedExtension(_) => {
            Problem::not_found(codes::NOT_FOUND, err.to_string())
        }
    }
}

fn with_headers(
    state: &FrontendState,
    content_type: &str,
    body: impl Into<poem::Body>,
) -> Response {
    Response::builder()
        .content_type(content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_FRAME_OPTIONS, "DENY")
        .header(
            header::CONTENT_SECURITY_POLICY,
            state.content_security_policy.as_str(),
        )
        .body(body)
}

#[handler]
async fn asset(req: &Request, state: Data<&Arc<FrontendState>>) -> Result<Response, Problem> {
    let path = req.uri().path();
    if path.trim_start_matches('/') == RUNTIME_CONFIG_PATH {
        return Ok(with_headers(
            &state,
            "text/javascript; charset=utf-8",
            state.runtime_config.clone(),
        ));
    }
    let (file, content_type) =
        assets::resolve(&state.web_dir, path).map_err(|err| asset_problem(&err))?;
    let bytes = match tokio::fs::read(&file).await {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(Problem::not_found(
                codes::NOT_FOUND,
                format!("ファイルがありません: {path}"),
            ));
        }
        Err(err) => return Err(Problem::internal("UI のファイルを読めません", &err)),
    };
    if file.file_name().is_some_and(|name| name == "index.html") {
        let html = String::from_utf8_lossy(&bytes);
        return Ok(with_headers(
            &state,
            content_type,
            assets::inject_runtime_config(&html),
        ));
    }
    Ok(with_headers(&state, content_type, bytes))
}

/// `/health` と `/ready` の本体 (ほかのサービスの `HealthApi` と同じ形)。
fn health_status(status: &str) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": status, "service": SERVICE_NAME }))
}

#[handler]
fn health() -> Json<serde_json::Value> {
    health_status("ok")
}

#[handler]
fn ready(state: Data<&Arc<FrontendState>>) -> Result<Json<serde_json::Value>, Problem> {
    if state.readiness.is_ready() {
        Ok(health_status("ready"))
    } else {
        Err(Problem::unavailable("サービスはまだ準備ができていません"))
    }
}

pub(super) fn routes(state: Arc<FrontendState>) -> impl Endpoint<Output = Response> + 'static {
    Route::new()
        .at("/health", get(health))
        .at("/ready", get(ready))
        .at("/", get(asset))
        .at("/*path", get(asset))
        .data(state)
        .with(ProblemMiddleware)
        .with(RequestIdMiddleware)
        .map_to_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_allows_connecting_to_gateway_origin_only_besides_self() {
        let csp = content_security_policy("http://127.0.0.1:8080/some/path");
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:8080;"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self';"), "{csp}");
    }

    #[test]
    fn csp_of_unparsable_gateway_url_allows_self_only() {
        let csp = content_security_policy("not a url");
        assert!(csp.contains("connect-src 'self';"), "{csp}");
    }
}
