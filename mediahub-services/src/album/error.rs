//! album サービスのエラーコードと、problem+json への対応。

use mediahub_core::album;
use poem::http::StatusCode;

use super::db::DbError;
use crate::consumer::ConsumerError;
use crate::platform::problem::Problem;
use crate::platform::server::ServerError;
use crate::store_client::{StoreClientError, domain_problem};

/// album サービスを起動できなかった理由。
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// イベントストアのクライアントを作れなかった (URL が不正など)。
    #[error("イベントストアのクライアントを作れません: {0}")]
    Client(#[from] StoreClientError),
    /// 読みモデルを開けなかった。
    #[error(transparent)]
    Database(#[from] DbError),
    /// 購読ランナーを開けなかった。
    #[error("購読ランナーを開けません: {0}")]
    Consumer(#[from] ConsumerError),
    /// サーバーのエラー (アドレスを束縛できないなど)。
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// 読みモデルのエラーを 500 にします (詳細はログにだけ出します)。
#[must_use]
pub fn db_problem(err: DbError) -> Problem {
    Problem::internal("album.read_model", &err)
}

/// album サービス固有の、安定したエラーコード。
pub mod codes {
    /// アルバムが無い、削除済み、または他人のもの (404)。
    pub const ALBUM_NOT_FOUND: &str = "album.not_found";
    /// アルバム名が空 (空白だけを含む) か 100 文字を超えるか制御文字を含む (400)。
    pub const INVALID_NAME: &str = "album.invalid_name";
    /// デフォルトアルバムは削除できない (409)。
    pub const DEFAULT_NOT_DELETABLE: &str = "album.default_not_deletable";
    /// 同じ ID で別の内容のアルバムが既にある (409)。
    pub const ALREADY_EXISTS: &str = "album.already_exists";
    /// メディアがそのアルバムに入っていない (404)。
    pub const MEDIA_NOT_IN_ALBUM: &str = "album.media_not_in_album";
    /// メディアが無い、削除・無効化済み、または他人のもの (404)。
    pub const MEDIA_NOT_FOUND: &str = "media.not_found";
    /// 開発用の障害注入で失敗させた (503)。
    pub const FAULT_INJECTED: &str = "fault.injected";
    /// 読みモデルが `min_position` に時間内に届かなかった (503)。本体に `min_position` と `reached`。
    pub const NOT_CAUGHT_UP: &str = crate::consumer::NOT_CAUGHT_UP;
    /// 誰として操作するかが決まらない (サービス用トークンで `X-User-ID` が無い) (403)。
    pub const USER_REQUIRED: &str = crate::platform::problem::codes::USER_REQUIRED;
    /// `Idempotency-Key` ヘッダーが長すぎるか制御文字を含む (400)。
    pub const INVALID_IDEMPOTENCY_KEY: &str = "request.invalid_idempotency_key";
}

/// `min_position` を待ちきれなかったことを problem にします (読み側で共通の形)。
pub use crate::consumer::wait_problem;

/// 障害注入の 503。
#[must_use]
pub fn fault_injected() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::FAULT_INJECTED,
        "障害注入により album のステップを失敗させました (fault inject: album)",
    )
}

/// メディアが見つからない 404。
#[must_use]
pub fn media_not_found() -> Problem {
    domain_problem(&album::AlbumError::MediaNotFound)
}

/// アルバムが見つからない 404。
#[must_use]
pub fn album_not_found() -> Problem {
    domain_problem(&album::AlbumError::NotFound)
}

#[cfg(test)]
mod tests {
    use crate::consumer::WaitError;
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_rule_error_through_domain_problem_maps_to_contract_status_and_code() {
        let cases = [
            (album::AlbumError::NotFound, 404, codes::ALBUM_NOT_FOUND),
            (album::AlbumError::AlreadyExists, 409, codes::ALREADY_EXISTS),
            (album::AlbumError::InvalidName, 400, codes::INVALID_NAME),
            (
                album::AlbumError::CannotDeleteDefault,
                409,
                codes::DEFAULT_NOT_DELETABLE,
            ),
            (
                album::AlbumError::MediaNotFound,
                404,
                codes::MEDIA_NOT_FOUND,
            ),
            (
                album::AlbumError::MediaNotInAlbum,
                404,
                codes::MEDIA_NOT_IN_ALBUM,
            ),
        ];
        for (err, status, code) in cases {
            let problem = domain_problem(&err);
            assert_eq!((problem.status().as_u16(), problem.code()), (status, code));
        }
    }

    #[test]
    fn wait_timeout_becomes_503_with_min_position_and_reached() {
        let problem = wait_problem(&WaitError::Timeout {
            min_position: 9,
            reached: 4,
            timeout: Duration::from_millis(1),
        });
        assert_eq!(problem.status().as_u16(), 503);
        assert_eq!(problem.code(), codes::NOT_CAUGHT_UP);
        assert_eq!(problem.extension("min_position"), Some(&9.into()));
        assert_eq!(problem.extension("reached"), Some(&4.into()));
        let stopped = wait_problem(&WaitError::Stopped {
            min_position: 2,
            reached: 1,
        });
        assert_eq!(stopped.extension("reached"), Some(&1.into()));
    }
}
