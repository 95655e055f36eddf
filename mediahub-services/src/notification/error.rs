//! 通知サービスのリクエスト処理のエラーと、その problem+json への対応。

use cqrs_es::AggregateError;
use mediahub_core::error::{DomainError, ErrorKind};
use mediahub_core::notification::NotificationError as CoreNotificationError;
use poem::http::StatusCode;

use crate::consumer::{ConsumerError, WaitError};
use crate::platform::auth::AuthError;
use crate::platform::metadata::MetadataError;
use crate::platform::problem::{Problem, codes as common_codes};

/// 通知サービス固有の、安定したエラーコード。
///
/// 業務ルール違反のコード (`notification.not_found`・`notification.already_exists`・
/// `notification.empty_message`) は `mediahub-core` の [`CoreNotificationError`] が決めます。
pub mod codes {
    /// 障害注入 (`inject_fault: true`) で失敗させた (503、何も書いていない)。
    pub const FAULT_INJECTED: &str = "fault.injected";
    /// `min_position` まで読みモデルが時間内に追いつかなかった (503)。
    /// 拡張メンバー `min_position` と `reached` が付きます。
    pub const READ_MODEL_NOT_CAUGHT_UP: &str = crate::consumer::NOT_CAUGHT_UP;
    /// 同じ通知への同時更新が再試行の上限まで衝突し続けた (503、再試行してよい)。
    pub const BUSY: &str = "notification.busy";
    /// サービス用トークンに `X-User-ID` が無く、誰として操作するか決まらない (403)。
    pub const ACTING_USER_REQUIRED: &str = "auth.acting_user_required";
    /// イベントストアに届かない、または一時的に使えない (503、再試行してよい)。
    pub const EVENT_STORE_UNAVAILABLE: &str = "notification.event_store_unavailable";
}

/// 通知サービスのリクエスト処理のエラー。
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// コマンドが失敗した (業務ルール違反・衝突・イベントストアの失敗)。
    #[error(transparent)]
    Command(#[from] AggregateError<CoreNotificationError>),
    /// 読みモデルのデータベース操作に失敗した。
    #[error("読みモデルのデータベース操作に失敗しました: {0}")]
    Database(#[from] sqlx::Error),
    /// 読みモデルに保存されている行が読めない。
    #[error("読みモデルの行が読めません: {0}")]
    Corrupt(String),
    /// `min_position` まで読みモデルが追いつかなかった。
    #[error(transparent)]
    NotCaughtUp(#[from] WaitError),
    /// 障害注入で失敗させた。
    #[error("障害注入により通知を送りませんでした (fault injected: notification)")]
    FaultInjected,
    /// 読みモデルの作り直しに失敗した。
    #[error("読みモデルの作り直しに失敗しました: {0}")]
    Rebuild(#[from] ConsumerError),
    /// 認証・認可の失敗。
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// 誰として操作するか決まらない (サービス用トークンに `X-User-ID` が無い)。
    #[error("サービス用トークンで公開 API を呼ぶときは X-User-ID ヘッダーが必要です")]
    ActingUserRequired,
    /// クエリのパラメーターが範囲外。
    #[error("{0}")]
    InvalidParameter(String),
    /// 要求のヘッダーからイベントのメタデータを作れない (`Idempotency-Key` が不正)。
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

fn domain_problem(err: &CoreNotificationError) -> Problem {
    let status = match err.kind() {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
    };
    Problem::new(status, err.code(), err.to_string())
}

fn command_problem(err: &AggregateError<CoreNotificationError>) -> Problem {
    match err {
        AggregateError::UserError(domain) => domain_problem(domain),
        AggregateError::AggregateConflict => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::BUSY,
            "同じ通知への同時更新が続いています。時間をおいて再試行してください",
        ),
        AggregateError::DatabaseConnectionError(source) => {
            tracing::warn!(error = %source, "イベントストアに届きません");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::EVENT_STORE_UNAVAILABLE,
                "イベントストアに届きません。時間をおいて再試行してください",
            )
        }
        AggregateError::DeserializationError(_) | AggregateError::UnexpectedError(_) => {
            Problem::internal("notification.command", err)
        }
    }
}

impl From<ApiError> for Problem {
    fn from(err: ApiError) -> Self {
        let detail = err.to_string();
        match err {
            ApiError::Command(command) => command_problem(&command),
            ApiError::NotCaughtUp(wait) => crate::consumer::wait_problem(&wait),
            ApiError::FaultInjected => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::FAULT_INJECTED,
                detail,
            ),
            ApiError::Rebuild(ConsumerError::Store(store)) if store.is_transient() => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::EVENT_STORE_UNAVAILABLE,
                detail,
            ),
            ApiError::Auth(auth) => Problem::from(auth),
            ApiError::ActingUserRequired => Problem::forbidden(codes::ACTING_USER_REQUIRED, detail),
            ApiError::InvalidParameter(detail) => {
                Problem::bad_request(common_codes::INVALID_PARAMETER, detail)
            }
            ApiError::Metadata(metadata) => Problem::from(metadata),
            err @ (ApiError::Database(_) | ApiError::Corrupt(_) | ApiError::Rebuild(_)) => {
                Problem::internal("notification", &err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn domain_not_found_becomes_404_with_domain_code() {
        let problem = Problem::from(ApiError::Command(AggregateError::UserError(
            CoreNotificationError::NotFound,
        )));
        assert_eq!(problem.status(), StatusCode::NOT_FOUND);
        assert_eq!(problem.code(), "notification.not_found");
    }

    #[test]
    fn empty_message_is_400_and_already_exists_is_409() {
        let empty = Problem::from(ApiError::Command(AggregateError::UserError(
            CoreNotificationError::EmptyMessage,
        )));
        assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
        let exists = Problem::from(ApiError::Command(AggregateError::UserError(
            CoreNotificationError::AlreadyExists,
        )));
        assert_eq!(exists.status(), StatusCode::CONFLICT);
    }

    #[test]
    fn conflict_and_unreachable_store_are_503_and_unexpected_is_500() {
        let conflict = Problem::from(ApiError::Command(AggregateError::AggregateConflict));
        assert_eq!(conflict.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(conflict.code(), codes::BUSY);
        let io = std::io::Error::other("connection refused");
        let down = Problem::from(ApiError::Command(AggregateError::DatabaseConnectionError(
            Box::new(io),
        )));
        assert_eq!(down.code(), codes::EVENT_STORE_UNAVAILABLE);
        let unexpected = Problem::from(ApiError::Command(AggregateError::UnexpectedError(
            Box::new(std::io::Error::other("boom")),
        )));
        assert_eq!(unexpected.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!unexpected.to_json().to_string().contains("boom"));
    }

    #[test]
    fn wait_timeout_becomes_503_with_min_position_and_reached() {
        let problem = Problem::from(ApiError::NotCaughtUp(WaitError::Timeout {
            min_position: 9,
            reached: 4,
            timeout: Duration::from_millis(10),
        }));
        assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(problem.code(), codes::READ_MODEL_NOT_CAUGHT_UP);
        assert_eq!(problem.extension("min_position"), Some(&9.into()));
        assert_eq!(problem.extension("reached"), Some(&4.into()));
        let stopped = Problem::from(ApiError::NotCaughtUp(WaitError::Stopped {
            min_position: 2,
            reached: 1,
        }));
        assert_eq!(stopped.extension("reached"), Some(&1.into()));
    }

    #[test]
    fn auth_errors_map_to_forbidden_bad_request_or_unauthorized() {
        let forbidden = Problem::from(ApiError::Auth(AuthError::UserIdHeaderForbidden));
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
        let invalid = Problem::from(ApiError::Auth(AuthError::InvalidUserId("x".into())));
        assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
        let other = Problem::from(ApiError::Auth(AuthError::Expired));
        assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
        let acting = Problem::from(ApiError::ActingUserRequired);
        assert_eq!(acting.code(), codes::ACTING_USER_REQUIRED);
    }

    #[test]
    fn database_and_corrupt_rows_are_500_without_details() {
        let problem = Problem::from(ApiError::Corrupt("secret column".into()));
        assert_eq!(problem.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!problem.to_json().to_string().contains("secret"));
        let fault = Problem::from(ApiError::FaultInjected);
        assert_eq!(fault.code(), codes::FAULT_INJECTED);
    }
}
