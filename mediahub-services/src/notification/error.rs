//! 通知サービスのリクエスト処理のエラーと、その problem+json への対応。

use mediahub_core::notification::NotificationError as CoreNotificationError;
use poem::http::StatusCode;

use crate::consumer::{ConsumerError, WaitError};
use crate::platform::auth::AuthError;
use crate::platform::metadata::MetadataError;
use crate::platform::problem::{Problem, codes as common_codes};
use crate::platform::server::ServerError;
use crate::store_client::{CommandError, StoreClientError};

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
    /// サービス用トークンに `X-User-ID` が無く、誰として操作するか決まらない (403)。
    pub const USER_REQUIRED: &str = crate::platform::problem::codes::USER_REQUIRED;
}

/// 通知サービスを起動できなかった理由。
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// イベントストアのクライアントを作れない (URL が不正など)。
    #[error("イベントストアのクライアントを作れません: {0}")]
    Store(#[from] StoreClientError),
    /// データベースのディレクトリを作れない。
    #[error("データベースのディレクトリを作れません: {0}")]
    Io(#[from] std::io::Error),
    /// 読みモデルのデータベースを開けない。
    #[error("読みモデルのデータベースを開けません: {0}")]
    Database(#[from] sqlx::Error),
    /// 読みモデルのマイグレーションに失敗した。
    #[error("読みモデルのマイグレーションに失敗しました: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// 購読ランナーを開けない。
    #[error("購読ランナーを開けません: {0}")]
    Consumer(#[from] ConsumerError),
    /// サーバーのエラー。
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// 通知サービスのリクエスト処理のエラー。
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// コマンドが失敗した (業務ルール違反・衝突・イベントストアの失敗)。
    #[error(transparent)]
    Command(#[from] CommandError<CoreNotificationError>),
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

impl From<ApiError> for Problem {
    fn from(err: ApiError) -> Self {
        let detail = err.to_string();
        match err {
            ApiError::Command(command) => command.problem(),
            ApiError::NotCaughtUp(wait) => crate::consumer::wait_problem(&wait),
            ApiError::FaultInjected => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::FAULT_INJECTED,
                detail,
            ),
            ApiError::Auth(auth) => Problem::from(auth),
            ApiError::ActingUserRequired => Problem::forbidden(codes::USER_REQUIRED, detail),
            ApiError::InvalidParameter(detail) => {
                Problem::bad_request(common_codes::INVALID_PARAMETER, detail)
            }
            ApiError::Metadata(metadata) => Problem::from(metadata),
            err @ (ApiError::Database(_) | ApiError::Corrupt(_)) => {
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
        let problem = Problem::from(ApiError::Command(CommandError::Rule(
            CoreNotificationError::NotFound,
        )));
        assert_eq!(problem.status(), StatusCode::NOT_FOUND);
        assert_eq!(problem.code(), "notification.not_found");
    }

    #[test]
    fn empty_message_is_400_and_already_exists_is_409() {
        let empty = Problem::from(ApiError::Command(CommandError::Rule(
            CoreNotificationError::EmptyMessage,
        )));
        assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
        let exists = Problem::from(ApiError::Command(CommandError::Rule(
            CoreNotificationError::AlreadyExists,
        )));
        assert_eq!(exists.status(), StatusCode::CONFLICT);
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
        assert_eq!(acting.code(), codes::USER_REQUIRED);
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
