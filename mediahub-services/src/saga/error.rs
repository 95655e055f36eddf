//! saga サービスのエラーと、その problem+json への対応。

use super::participants::ParticipantsError;
use crate::consumer::{ConsumerError, WaitError};
use crate::platform::problem::Problem;
use crate::platform::server::ServerError;
use crate::store_client::StoreClientError;

/// saga サービス固有の、安定したエラーコード。
pub mod codes {
    /// Saga が無い、または呼び出し側のものではない (404)。
    pub const NOT_FOUND: &str = "saga.not_found";
    /// 読みモデルが `min_position` まで追いつかなかった (503)。`min_position` と `reached` が付きます。
    pub const NOT_CAUGHT_UP: &str = crate::consumer::NOT_CAUGHT_UP;
    /// 誰として読むのかが決まらない (サービス用トークンで `X-User-ID` が無い) (403)。
    pub const USER_REQUIRED: &str = crate::platform::problem::codes::USER_REQUIRED;
    /// イベントストアを読めなかった (503)。
    pub const STORE_UNAVAILABLE: &str = "saga.store_unavailable";
}

/// saga サービスを起動できなかった理由。
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// データベースを開けなかった。
    #[error("saga のデータベースを開けません: {0}")]
    Database(#[from] sqlx::Error),
    /// 読みモデルのマイグレーションに失敗した。
    #[error("saga の読みモデルのマイグレーションに失敗しました: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// データベースのディレクトリを作れなかった。
    #[error("saga のデータベースのディレクトリを作れません: {0}")]
    Io(#[from] std::io::Error),
    /// イベントストアのクライアントを作れなかった (URL が不正など)。
    #[error(transparent)]
    Store(#[from] StoreClientError),
    /// 参加者の URL が不正。
    #[error(transparent)]
    Participants(#[from] ParticipantsError),
    /// 購読者を開けなかった。
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    /// サーバーのエラー。
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// API の処理で起こるエラー。
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Saga が無い、または呼び出し側のものではない。
    #[error("Saga が見つかりません")]
    NotFound,
    /// `min_position` まで待ちきれなかった (時間切れ、またはログにまだ無い位置)。
    #[error(transparent)]
    NotCaughtUp(#[from] WaitError),
    /// 誰として読むのかが決まらない。
    #[error("ユーザーとして呼び出してください (サービス用トークンなら X-User-ID が必要です)")]
    UserRequired,
    /// 読みモデルのデータベースのエラー。
    #[error("読みモデルのデータベースのエラー: {0}")]
    Database(#[from] sqlx::Error),
    /// イベントストアを読めなかった。
    #[error("イベントストアを読めません: {0}")]
    Store(#[from] StoreClientError),
}

impl From<ApiError> for Problem {
    fn from(err: ApiError) -> Self {
        match &err {
            ApiError::NotFound => Problem::not_found(codes::NOT_FOUND, err.to_string()),
            ApiError::NotCaughtUp(wait) => crate::consumer::wait_problem(wait),
            ApiError::UserRequired => Problem::forbidden(codes::USER_REQUIRED, err.to_string()),
            ApiError::Store(_) => {
                tracing::warn!(error = %err, "イベントストアを読めません");
                Problem::new(
                    poem::http::StatusCode::SERVICE_UNAVAILABLE,
                    codes::STORE_UNAVAILABLE,
                    "イベントストアを読めません。時間をおいて再試行してください",
                )
            }
            ApiError::Database(_) => Problem::internal("saga", &err),
        }
    }
}

impl From<ApiError> for poem::Error {
    fn from(err: ApiError) -> Self {
        Problem::from(err).into()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn wait_timeout_becomes_503_not_caught_up_with_positions() {
        let err = ApiError::from(WaitError::Timeout {
            min_position: 9,
            reached: 4,
            timeout: Duration::from_millis(1),
        });
        let problem = Problem::from(err);
        assert_eq!(problem.status().as_u16(), 503);
        assert_eq!(problem.code(), codes::NOT_CAUGHT_UP);
        assert_eq!(problem.extension("min_position"), Some(&9.into()));
        assert_eq!(problem.extension("reached"), Some(&4.into()));
    }

    #[test]
    fn not_found_is_404_and_user_required_is_403() {
        assert_eq!(Problem::from(ApiError::NotFound).status().as_u16(), 404);
        let problem = Problem::from(ApiError::UserRequired);
        assert_eq!(problem.status().as_u16(), 403);
        assert_eq!(problem.code(), codes::USER_REQUIRED);
    }
}
