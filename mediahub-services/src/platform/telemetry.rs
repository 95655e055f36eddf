//! ログ (`tracing`) とリクエスト ID。
//!
//! - [`init_tracing`]: 環境変数 `RUST_LOG` (無ければ引数の既定値) でフィルターする
//!   `tracing` の購読者を設定します。バイナリの `main` で一度だけ呼びます。
//! - [`RequestIdMiddleware`]: `X-Request-Id` ヘッダーがあれば引き継ぎ、無ければ作ります。
//!   値はリクエストのスパンに入り、応答ヘッダーにも返されるので、ログとクライアントの
//!   報告を突き合わせられます。

use std::time::Instant;

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

/// リクエスト ID のヘッダー名。
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";
/// 引き継ぐリクエスト ID の最大の長さ。これより長い値や表示できない文字を含む値は捨てて作り直します。
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// ログ設定のエラー。
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// 既定のフィルター指定が読めない。
    #[error("ログのフィルター指定が読めません: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// 購読者がすでに設定されている。
    #[error("tracing の購読者はすでに設定されています: {0}")]
    AlreadySet(String),
}

/// `tracing` の購読者を設定します。
///
/// `RUST_LOG` があればそれを、無ければ `default_filter` (例: `"info,sqlx=warn"`) を使います。
///
/// # エラー
/// フィルター指定が読めなければ [`TelemetryError::Filter`]、すでに設定済みなら
/// [`TelemetryError::AlreadySet`]。
pub fn init_tracing(default_filter: &str) -> Result<(), TelemetryError> {
    let filter = match EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(_) => EnvFilter::try_new(default_filter)?,
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init()
        .map_err(|e| TelemetryError::AlreadySet(e.to_string()))
}

/// リクエスト ID。ハンドラーからは `req.extensions().get::<RequestId>()` で読めます。
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

fn accept_request_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let valid = !text.is_empty()
        && text.len() <= MAX_REQUEST_ID_LEN
        && text.bytes().all(|b| b.is_ascii_graphic());
    valid.then(|| text.to_owned())
}

/// リクエスト ID を付け、リクエストごとのスパンを作るミドルウェア。
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIdMiddleware;

impl<E: Endpoint> Middleware<E> for RequestIdMiddleware {
    type Output = RequestIdEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        RequestIdEndpoint { inner: ep }
    }
}

/// [`RequestIdMiddleware`] が包んだエンドポイント。
#[derive(Debug)]
pub struct RequestIdEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for RequestIdEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let id = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(accept_request_id)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        req.extensions_mut().insert(RequestId(id.clone()));
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            method = %req.method(),
            path = %req.uri().path(),
        );
        let started = Instant::now();
        let result = self.inner.call(req).instrument(span.clone()).await;
        let mut response = match result {
            Ok(output) => output.into_response(),
            Err(err) => err.into_response(),
        };
        span.in_scope(|| {
            tracing::debug!(
                status = response.status().as_u16(),
                elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                "応答"
            );
        });
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_with_spaces_or_too_long_is_not_accepted() {
        assert_eq!(
            accept_request_id(&HeaderValue::from_static("abc-123")),
            Some("abc-123".to_owned())
        );
        assert_eq!(accept_request_id(&HeaderValue::from_static("a b")), None);
        let long = "x".repeat(MAX_REQUEST_ID_LEN + 1);
        let value = HeaderValue::from_str(&long).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(accept_request_id(&value), None);
    }
}
