//! RFC 9457 `application/problem+json` によるエラー応答。
//!
//! すべてのサービスは、失敗をこのモジュールの [`Problem`] で返します。本体は次の形です。
//!
//! ```json
//! {
//!   "type": "urn:mediahub:problem:eventstore.version_conflict",
//!   "title": "Conflict",
//!   "status": 409,
//!   "detail": "ストリーム Media/42 の現在の版は 3 ですが、期待された版は 2 でした",
//!   "code": "eventstore.version_conflict",
//!   "instance": "/api/v1/streams/Media/42/events",
//!   "current_version": 3
//! }
//! ```
//!
//! - `code` は機械が読むための **安定した** 識別子です (例: `auth.invalid_token`)。
//!   クライアントは文言ではなく `code` で分岐してください。既知の値は [`codes`] にあります。
//! - `type` は `urn:mediahub:problem:<code>` です。
//! - 追加のフィールド (拡張メンバー) は [`Problem::with_extension`] で足せます。
//! - スタックトレースや SQL などの内部情報は決して入れません。内部エラーは
//!   [`Problem::internal`] でログにだけ詳細を出し、応答は汎用の文言にします。
//!
//! poem や poem-openapi 自身が返すエラー (JSON の構文誤り、型違い、クエリの解析失敗、
//! 存在しないパス、大きすぎる本体など) も、[`ProblemMiddleware`] が problem+json に変換します。

use std::fmt;

use poem::error::{
    MethodNotAllowedError, NotFoundError, ParseJsonError, ParsePathError as PoemParsePathError,
    ParseQueryError, ReadBodyError, SizedLimitError,
};
use poem::http::StatusCode;
use poem::http::header::CONTENT_TYPE;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseMultipartError, ParseParamError, ParsePathError,
    ParseRequestPayloadError,
};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};
use serde_json::{Map, Value};

/// problem+json のメディアタイプ。
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// `type` フィールドの接頭辞。後ろに `code` が続きます。
pub const PROBLEM_TYPE_PREFIX: &str = "urn:mediahub:problem:";

/// 全サービスで共通の、安定したエラーコード。
///
/// サービス固有のコード (例: `eventstore.version_conflict`) は各サービスのモジュールにあります。
pub mod codes {
    /// リクエスト本体が JSON として読めない、型が違う、未知のフィールドがある。
    pub const INVALID_BODY: &str = "request.invalid_body";
    /// クエリやヘッダーのパラメーターが読めない、または範囲外 (負の数や上限超えなど)。
    pub const INVALID_PARAMETER: &str = "request.invalid_parameter";
    /// パスパラメーターが読めない、または範囲外。
    pub const INVALID_PATH: &str = "request.invalid_path";
    /// `Content-Type` が対応していない、または無い。
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "request.unsupported_media_type";
    /// リクエスト本体が上限より大きい。
    pub const PAYLOAD_TOO_LARGE: &str = "request.payload_too_large";
    /// パスに対応する資源が無い。
    pub const NOT_FOUND: &str = "request.not_found";
    /// パスはあるがメソッドが違う。
    pub const METHOD_NOT_ALLOWED: &str = "request.method_not_allowed";
    /// その他のリクエストの誤り。
    pub const BAD_REQUEST: &str = "request.bad_request";
    /// `Authorization: Bearer` が無い。
    pub const MISSING_TOKEN: &str = "auth.missing_token";
    /// トークンの署名・アルゴリズム・発行者・対象者・形式のいずれかが不正。
    pub const INVALID_TOKEN: &str = "auth.invalid_token";
    /// トークンの有効期限が切れている。
    pub const TOKEN_EXPIRED: &str = "auth.token_expired";
    /// サービス用トークンが必要な内部エンドポイントに、ユーザー用トークンで来た。
    pub const SERVICE_TOKEN_REQUIRED: &str = "auth.service_token_required";
    /// ユーザー用トークンと一緒に `X-User-ID` が送られた (サービス用トークンでのみ有効)。
    pub const USER_ID_HEADER_FORBIDDEN: &str = "auth.user_id_header_forbidden";
    /// `X-User-ID` がユーザー ID (UUID) として読めない。
    pub const INVALID_USER_ID_HEADER: &str = "auth.invalid_user_id_header";
    /// サーバー内部のエラー (詳細はログにだけ出ます)。
    pub const INTERNAL: &str = "internal.error";
    /// サービスが停止中、または準備ができていない。
    pub const UNAVAILABLE: &str = "service.unavailable";
    /// `If-Match` の版が集約の現在の版と違う (412)。本体に `expected_version` と `current_version`。
    pub const PRECONDITION_FAILED: &str = "precondition_failed";
    /// 誰として操作するかが決まらない (サービス用トークンで `X-User-ID` が無い) (403)。
    pub const USER_REQUIRED: &str = "auth.user_required";
    /// 別のインスタンスによる同じ集約への更新が、再試行の期限まで続いた (409)。
    pub const CONFLICT: &str = "conflict";
    /// イベントストアに届かない (503、時間をおけば通る見込みがある)。
    pub const STORE_UNAVAILABLE: &str = "store_unavailable";
}

/// RFC 9457 の問題詳細 (problem details)。失敗したリクエストへの応答です。
///
/// poem の [`poem::error::ResponseError`] を実装しているので、ハンドラーから
/// `Err(problem)` として返せます。poem-openapi の [`ApiResponse`] も実装しているので、
/// `Result<Json<T>, Problem>` のように OpenAPI の応答型としても使えます。
#[derive(Debug, Clone, PartialEq)]
pub struct Problem(Box<ProblemData>);

/// [`Problem`] の中身 (`Result` を小さく保つため箱に入れています)。
#[derive(Debug, Clone, PartialEq)]
struct ProblemData {
    status: StatusCode,
    code: String,
    title: String,
    detail: String,
    instance: Option<String>,
    extensions: Map<String, Value>,
}

impl Problem {
    /// 状態コード・コード・説明文から作ります。`title` は状態コードの標準の名前になります。
    #[must_use]
    pub fn new(status: StatusCode, code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self(Box::new(ProblemData {
            status,
            code: code.into(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            detail: detail.into(),
            instance: None,
            extensions: Map::new(),
        }))
    }

    /// 400 Bad Request を作ります。
    #[must_use]
    pub fn bad_request(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 401 Unauthorized を作ります。
    #[must_use]
    pub fn unauthorized(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    /// 403 Forbidden を作ります。
    #[must_use]
    pub fn forbidden(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    /// 404 Not Found を作ります。
    #[must_use]
    pub fn not_found(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// 409 Conflict を作ります。
    #[must_use]
    pub fn conflict(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 503 Service Unavailable を作ります。
    #[must_use]
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, codes::UNAVAILABLE, detail)
    }

    /// 500 Internal Server Error を作ります。
    ///
    /// `source` の内容は `tracing` のエラーログにだけ出し、応答には入れません
    /// (SQL やファイルパスなどの内部情報を外に漏らさないため)。
    #[must_use]
    pub fn internal(context: &str, source: &dyn std::error::Error) -> Self {
        tracing::error!(context, error = %source, "内部エラー");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "サーバー内部でエラーが起きました。時間をおいて再試行してください",
        )
    }

    /// 拡張メンバー (例: `current_version`) を足したコピーを返します。
    ///
    /// 標準のメンバー名 (`type` など) と同じ名前は無視されます。
    #[must_use]
    pub fn with_extension(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        let key = key.into();
        if !matches!(
            key.as_str(),
            "type" | "title" | "status" | "detail" | "code" | "instance"
        ) {
            self.0.extensions.insert(key, value.into());
        }
        self
    }

    /// `instance` (問題が起きたリクエストのパスなど) を設定したコピーを返します。
    #[must_use]
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.0.instance = Some(instance.into());
        self
    }

    /// HTTP 状態コード。
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// 安定したエラーコード。
    #[must_use]
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// 人が読むための説明文。
    #[must_use]
    pub fn detail(&self) -> &str {
        &self.0.detail
    }

    /// `instance` メンバー。
    #[must_use]
    pub fn instance(&self) -> Option<&str> {
        self.0.instance.as_deref()
    }

    /// 拡張メンバーの値。
    #[must_use]
    pub fn extension(&self, key: &str) -> Option<&Value> {
        self.0.extensions.get(key)
    }

    /// problem+json の本体 (JSON 値) を返します。
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            Value::String(format!("{PROBLEM_TYPE_PREFIX}{}", self.0.code)),
        );
        body.insert("title".into(), Value::String(self.0.title.clone()));
        body.insert("status".into(), Value::from(self.0.status.as_u16()));
        body.insert("detail".into(), Value::String(self.0.detail.clone()));
        body.insert("code".into(), Value::String(self.0.code.clone()));
        if let Some(instance) = &self.0.instance {
            body.insert("instance".into(), Value::String(instance.clone()));
        }
        for (key, value) in &self.0.extensions {
            body.insert(key.clone(), value.clone());
        }
        Value::Object(body)
    }

    /// poem のエラーを problem に変換します。
    ///
    /// すでに [`Problem`] ならそのまま返します。poem / poem-openapi の既知のエラーは
    /// 対応する安定コードにし、それ以外は状態コードから汎用のコードを選びます。
    /// 5xx の場合は内部の文言を応答に入れず、ログにだけ出します。
    #[must_use]
    pub fn from_poem_error(err: &poem::Error) -> Self {
        if let Some(problem) = err.downcast_ref::<Problem>() {
            return problem.clone();
        }
        let status = err.status();
        let client_message = || err.to_string();
        if err.is::<ParseRequestPayloadError>() || err.is::<ParseJsonError>() {
            if let Some(
                ParseJsonError::InvalidContentType(_) | ParseJsonError::ContentTypeRequired,
            ) = err.downcast_ref::<ParseJsonError>()
            {
                return Self::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    codes::UNSUPPORTED_MEDIA_TYPE,
                    client_message(),
                );
            }
            return Self::bad_request(codes::INVALID_BODY, client_message());
        }
        if err.is::<ParseMultipartError>() {
            return Self::bad_request(codes::INVALID_BODY, client_message());
        }
        if let Some(param) = err.downcast_ref::<ParseParamError>() {
            return Self::bad_request(codes::INVALID_PARAMETER, param.to_string());
        }
        if err.is::<ParseQueryError>() {
            return Self::bad_request(codes::INVALID_PARAMETER, client_message());
        }
        if err.is::<ParsePathError>() || err.is::<PoemParsePathError>() {
            return Self::bad_request(codes::INVALID_PATH, client_message());
        }
        if err.is::<ContentTypeError>() {
            return Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::UNSUPPORTED_MEDIA_TYPE,
                client_message(),
            );
        }
        if err.is::<AuthorizationError>() {
            return Self::unauthorized(
                codes::MISSING_TOKEN,
                "Authorization: Bearer <JWT> ヘッダーが必要です",
            );
        }
        if err.is::<NotFoundError>() {
            return Self::not_found(codes::NOT_FOUND, "指定されたパスは存在しません");
        }
        if err.is::<MethodNotAllowedError>() {
            return Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                codes::METHOD_NOT_ALLOWED,
                "このパスはそのメソッドに対応していません",
            );
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE
            || matches!(
                err.downcast_ref::<ReadBodyError>(),
                Some(ReadBodyError::PayloadTooLarge)
            )
            || matches!(
                err.downcast_ref::<SizedLimitError>(),
                Some(SizedLimitError::PayloadTooLarge)
            )
        {
            return Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::PAYLOAD_TOO_LARGE,
                "リクエスト本体が上限を超えています",
            );
        }
        if status.is_server_error() {
            tracing::error!(error = %err, status = status.as_u16(), "内部エラー");
            return Self::new(
                status,
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    codes::UNAVAILABLE
                } else {
                    codes::INTERNAL
                },
                "サーバー内部でエラーが起きました。時間をおいて再試行してください",
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            return Self::unauthorized(codes::INVALID_TOKEN, "認証に失敗しました");
        }
        if status == StatusCode::NOT_FOUND {
            return Self::not_found(codes::NOT_FOUND, "指定された資源は存在しません");
        }
        Self::new(status, codes::BAD_REQUEST, client_message())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.0.code,
            self.0.status.as_u16(),
            self.0.detail
        )
    }
}

impl std::error::Error for Problem {}

impl poem::error::ResponseError for Problem {
    fn status(&self) -> StatusCode {
        self.0.status
    }

    fn as_response(&self) -> Response
    where
        Self: std::error::Error + Send + Sync + 'static,
    {
        Response::builder()
            .status(self.0.status)
            .header(CONTENT_TYPE, PROBLEM_CONTENT_TYPE)
            .body(self.to_json().to_string())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}

/// OpenAPI 文書に載せるための problem+json のスキーマ (ドキュメント専用)。
#[derive(Debug, Clone, Object)]
#[oai(rename = "Problem")]
pub struct ProblemSchema {
    /// 問題の種類を表す URI (`urn:mediahub:problem:<code>`)。
    #[oai(rename = "type")]
    pub type_: String,
    /// 状態コードの標準の名前。
    pub title: String,
    /// HTTP 状態コード。
    pub status: u16,
    /// 人が読むための説明文。
    pub detail: String,
    /// 機械が読むための安定したエラーコード (例: `eventstore.version_conflict`)。
    pub code: String,
    /// 問題が起きたリクエストのパス。
    #[oai(nullable)]
    pub instance: Option<String>,
    /// (`eventstore.version_conflict` のみ) ストリームの現在の版。
    #[oai(nullable)]
    pub current_version: Option<u64>,
}

impl ApiResponse for Problem {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "エラー (RFC 9457 problem+json)",
                status: None,
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: PROBLEM_CONTENT_TYPE,
                    schema: ProblemSchema::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        ProblemSchema::register(registry);
    }
}

/// すべてのエラーを problem+json に変換するミドルウェア。
///
/// ハンドラーが返した [`Problem`] はそのまま、poem / poem-openapi の解析エラーなどは
/// [`Problem::from_poem_error`] で変換し、`instance` にリクエストのパスを入れます。
/// エラーを返さずに 4xx/5xx の応答を返したエンドポイントはそのまま通します。
#[derive(Debug, Clone, Copy, Default)]
pub struct ProblemMiddleware;

impl<E: Endpoint> Middleware<E> for ProblemMiddleware {
    type Output = ProblemEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        ProblemEndpoint { inner: ep }
    }
}

/// [`ProblemMiddleware`] が包んだエンドポイント。
#[derive(Debug)]
pub struct ProblemEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for ProblemEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Self::Output> {
        let path = req.uri().path().to_owned();
        match self.inner.call(req).await {
            Ok(output) => Ok(output.into_response()),
            Err(err) => {
                let problem = Problem::from_poem_error(&err);
                let problem = if problem.instance().is_none() {
                    problem.with_instance(path)
                } else {
                    problem
                };
                Ok(problem.into_response())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_with_extension_serializes_all_members_and_type_from_code() {
        let problem = Problem::conflict("eventstore.version_conflict", "版が違います")
            .with_extension("current_version", 3_u64)
            .with_extension("type", "ignored")
            .with_instance("/x");
        let json = problem.to_json();
        assert_eq!(
            json["type"],
            "urn:mediahub:problem:eventstore.version_conflict"
        );
        assert_eq!(json["status"], 409);
        assert_eq!(json["title"], "Conflict");
        assert_eq!(json["code"], "eventstore.version_conflict");
        assert_eq!(json["current_version"], 3);
        assert_eq!(json["instance"], "/x");
    }

    #[test]
    fn poem_not_found_error_becomes_404_problem_with_stable_code() {
        let err = poem::Error::from(NotFoundError);
        let problem = Problem::from_poem_error(&err);
        assert_eq!(problem.status(), StatusCode::NOT_FOUND);
        assert_eq!(problem.code(), codes::NOT_FOUND);
    }

    #[test]
    fn internal_poem_error_becomes_500_problem_without_internal_message() {
        let err =
            poem::Error::from_string("SELECT * FROM secret", StatusCode::INTERNAL_SERVER_ERROR);
        let problem = Problem::from_poem_error(&err);
        assert_eq!(problem.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!problem.to_json().to_string().contains("SELECT"));
    }

    #[test]
    fn problem_inside_poem_error_round_trips_unchanged() {
        let original = Problem::forbidden(codes::SERVICE_TOKEN_REQUIRED, "x");
        let err = poem::Error::from(original.clone());
        assert_eq!(Problem::from_poem_error(&err), original);
    }
}
