//! media-query のエラーと、その problem+json への対応。

use poem::http::StatusCode;

use crate::consumer::{ConsumerError, WaitError};
use crate::platform::problem::{Problem, codes as common_codes};
use crate::platform::server::ServerError;
use crate::store_client::StoreClientError;

/// media-query 固有の、安定したエラーコード。
pub mod codes {
    /// メディアが無い、または呼び出したユーザーのものではない (404)。
    pub const MEDIA_NOT_FOUND: &str = "media.not_found";
    /// 読みモデルが時間内に `min_position` まで進まなかった (503)。
    /// 本体に `min_position` と `reached` が入ります。
    pub const NOT_CAUGHT_UP: &str = crate::consumer::NOT_CAUGHT_UP;
    /// 誰として読むのかが決まらない (サービス用トークンで `X-User-ID` が無い) (403)。
    pub const USER_REQUIRED: &str = crate::platform::problem::codes::USER_REQUIRED;
}

/// media-query を起動できなかった理由。
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// 読みモデルのデータベースを開けなかった。
    #[error("読みモデルのデータベースを開けません: {0}")]
    Database(#[from] sqlx::Error),
    /// マイグレーションに失敗した。
    #[error("読みモデルのマイグレーションに失敗しました: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// ディレクトリを作れなかった。
    #[error("ファイルの入出力エラー: {0}")]
    Io(#[from] std::io::Error),
    /// イベントストアのクライアントを作れなかった (URL が不正など)。
    #[error("イベントストアのクライアントを作れません: {0}")]
    Client(#[from] StoreClientError),
    /// 購読ランナーを開けなかった。
    #[error("購読ランナーを開けません: {0}")]
    Consumer(#[from] ConsumerError),
    /// サーバーのエラー。
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// クエリの処理で起こるエラー。
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// メディアが無い (他人のメディアも同じ扱い)。
    #[error("メディアが見つかりません")]
    NotFound,
    /// クエリのパラメーターが不正。
    #[error("{name}: {detail}")]
    InvalidParameter {
        /// パラメーター名。
        name: &'static str,
        /// 何が悪いか。
        detail: String,
    },
    /// `min_position` まで待ちきれなかった (時間切れ、またはログにまだ無い位置)。
    #[error(transparent)]
    NotCaughtUp(#[from] WaitError),
    /// 誰として読むのかが決まらない。
    #[error("ユーザーとして呼んでください (サービス用トークンなら X-User-ID が必要です)")]
    UserRequired,
    /// 読みモデルのデータベースのエラー。
    #[error("読みモデルを読めません: {0}")]
    Database(#[from] sqlx::Error),
    /// 読みモデルの行が読めない。
    #[error("読みモデルの行が壊れています: {0}")]
    Corrupt(String),
    /// イベントストアを読めなかった。
    #[error("イベントストアを読めません: {0}")]
    Store(#[from] StoreClientError),
    /// イベントの本体が読めなかった。
    #[error(transparent)]
    Envelope(#[from] mediahub_core::envelope::EnvelopeError),
}

impl QueryError {
    /// パラメーターの誤りを作ります。
    #[must_use]
    pub fn invalid(name: &'static str, detail: impl Into<String>) -> Self {
        Self::InvalidParameter {
            name,
            detail: detail.into(),
        }
    }
}

fn store_problem(err: &QueryError) -> Problem {
    tracing::warn!(error = %err, "イベントストアを読めません");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        common_codes::UNAVAILABLE,
        "イベントストアに届きません。時間をおいて再試行してください",
    )
}

impl From<QueryError> for Problem {
    fn from(err: QueryError) -> Self {
        match &err {
            QueryError::NotFound => Problem::not_found(codes::MEDIA_NOT_FOUND, err.to_string()),
            QueryError::InvalidParameter { .. } => {
                Problem::bad_request(common_codes::INVALID_PARAMETER, err.to_string())
            }
            QueryError::NotCaughtUp(wait) => crate::consumer::wait_problem(wait),
            QueryError::UserRequired => Problem::forbidden(codes::USER_REQUIRED, err.to_string()),
            QueryError::Store(_) => store_problem(&err),
            QueryError::Database(_) | QueryError::Corrupt(_) | QueryError::Envelope(_) => {
                Problem::internal("media-query", &err)
            }
        }
    }
}

impl From<QueryError> for poem::Error {
    fn from(err: QueryError) -> Self {
        Problem::from(err).into()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn wait_timeout_becomes_503_not_caught_up_with_min_position_and_reached() {
        let problem = Problem::from(QueryError::from(WaitError::Timeout {
            min_position: 9,
            reached: 4,
            timeout: Duration::from_millis(1),
        }));
        assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(problem.code(), codes::NOT_CAUGHT_UP);
        assert_eq!(problem.extension("min_position"), Some(&9.into()));
        assert_eq!(problem.extension("reached"), Some(&4.into()));
    }

    #[test]
    fn stopped_consumer_is_also_not_caught_up_and_user_required_is_403() {
        let stopped = Problem::from(QueryError::from(WaitError::Stopped {
            min_position: 2,
            reached: 1,
        }));
        assert_eq!(stopped.code(), codes::NOT_CAUGHT_UP);
        let user = Problem::from(QueryError::UserRequired);
        assert_eq!(user.status(), StatusCode::FORBIDDEN);
        assert_eq!(user.code(), codes::USER_REQUIRED);
    }

    #[test]
    fn database_and_corrupt_errors_are_500_without_details() {
        for err in [
            QueryError::Corrupt("x".into()),
            QueryError::Database(sqlx::Error::RowNotFound),
        ] {
            let problem = Problem::from(err);
            assert_eq!(problem.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert!(!problem.detail().contains("RowNotFound"));
        }
    }

    #[test]
    fn store_errors_are_503_service_unavailable() {
        let err = QueryError::Store(StoreClientError::InvalidUrl("x".into()));
        let problem = Problem::from(err);
        assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(problem.code(), common_codes::UNAVAILABLE);
    }
}
