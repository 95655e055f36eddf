//! media-command のエラーと、その problem+json への対応。

use crate::platform::problem::Problem;
use crate::platform::server::ServerError;
use crate::store_client::StoreClientError;

/// media-command 固有の、安定したエラーコード。
pub mod codes {
    /// メディアが無い、または他人のもの (404)。
    pub const NOT_FOUND: &str = "media.not_found";
    /// サムネイルがまだ無い (処理前・処理失敗) (404)。
    pub const THUMBNAIL_NOT_FOUND: &str = "media.thumbnail_not_found";
    /// ファイルが上限より大きい (413)。本体に `max_bytes` が入ります。
    pub const TOO_LARGE: &str = "media.too_large";
    /// 形式が許可リストに無い、または申告された形式と中身が食い違う (415)。
    pub const UNSUPPORTED_TYPE: &str = "media.unsupported_type";
    /// マルチパートに `file` フィールドが無い (400)。
    pub const MISSING_FILE: &str = "media.missing_file";
    /// `file` フィールドが空 (400)。
    pub const EMPTY_FILE: &str = "media.empty_file";
    /// `X-Fault-Inject` の値が `process` / `album` / `notification` のいずれでもない (400)。
    pub const INVALID_FAULT_INJECT: &str = "media.invalid_fault_inject";
    /// `X-Correlation-ID` / `X-Causation-ID` が UUID として読めない (400)。
    pub const INVALID_TRACE_HEADER: &str = "media.invalid_trace_header";
    /// 操作するユーザーが決まらない (サービス用トークンで `X-User-ID` が無い) (403)。
    pub const USER_REQUIRED: &str = crate::platform::problem::codes::USER_REQUIRED;
    /// 現在の状態ではその操作ができない (削除済みのメディアの処理など) (409)。
    pub const INVALID_STATE: &str = "media.invalid_state";
}

/// media-command を起動できなかった理由。
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// 保存先のディレクトリを用意できない。
    #[error("保存先 {path} を用意できません: {source}")]
    Storage {
        /// ディレクトリ。
        path: String,
        /// 元のエラー。
        #[source]
        source: std::io::Error,
    },
    /// イベントストアのクライアントを作れない (URL が不正など)。
    #[error("イベントストアのクライアントを作れません: {0}")]
    Client(#[from] StoreClientError),
    /// サーバーのエラー。
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// ドメインエラーを problem+json にします (全サービス共通の写し方。コードは `mediahub-core` が決めます)。
pub use crate::store_client::domain_problem;

/// 「メディアが見つかりません」(404)。他人のメディアにも同じ答えを返します。
#[must_use]
pub fn not_found() -> Problem {
    Problem::not_found(codes::NOT_FOUND, "メディアが見つかりません")
}

/// ファイルの入出力エラー (500、詳細はログにだけ出します)。
#[must_use]
pub fn storage_problem(err: &std::io::Error) -> Problem {
    Problem::internal("media-command storage", err)
}

#[cfg(test)]
mod tests {
    use mediahub_core::media::{MediaError, PolicyViolation};
    use poem::http::StatusCode;

    use super::*;

    #[test]
    fn type_mismatch_is_415_unsupported_type_and_not_found_is_404() {
        let mismatch = MediaError::Policy(PolicyViolation::TypeMismatch {
            declared: "image/jpeg".into(),
            detected: "image/png".into(),
        });
        let problem = domain_problem(&mismatch);
        assert_eq!(problem.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(problem.code(), codes::UNSUPPORTED_TYPE);
        assert_eq!(
            domain_problem(&MediaError::AlreadyDeleted).code(),
            codes::NOT_FOUND
        );
        assert_eq!(
            domain_problem(&MediaError::Policy(PolicyViolation::Empty)).status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn invalid_state_is_409() {
        assert_eq!(
            domain_problem(&MediaError::InvalidState {
                status: "deleted",
                action: "complete processing"
            })
            .status(),
            StatusCode::CONFLICT
        );
    }
}
