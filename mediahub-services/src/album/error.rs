//! album サービスのエラーコードと、problem+json への対応。

use mediahub_core::album::AlbumError as AlbumRuleError;
use poem::http::StatusCode;

use crate::platform::problem::Problem;

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
    pub const USER_REQUIRED: &str = "auth.user_required";
    /// `Idempotency-Key` ヘッダーが長すぎるか制御文字を含む (400)。
    pub const INVALID_IDEMPOTENCY_KEY: &str = "request.invalid_idempotency_key";
}

/// アルバム集約の業務ルール違反を problem にします。
#[must_use]
pub fn rule_problem(err: &AlbumRuleError) -> Problem {
    let detail = err.to_string();
    match err {
        AlbumRuleError::NotFound => Problem::not_found(codes::ALBUM_NOT_FOUND, detail),
        AlbumRuleError::AlreadyExists => Problem::conflict(codes::ALREADY_EXISTS, detail),
        AlbumRuleError::InvalidName => Problem::bad_request(codes::INVALID_NAME, detail),
        AlbumRuleError::CannotDeleteDefault => {
            Problem::conflict(codes::DEFAULT_NOT_DELETABLE, detail)
        }
        AlbumRuleError::MediaNotFound => Problem::not_found(codes::MEDIA_NOT_FOUND, detail),
        AlbumRuleError::MediaNotInAlbum => Problem::not_found(codes::MEDIA_NOT_IN_ALBUM, detail),
    }
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
    Problem::not_found(
        codes::MEDIA_NOT_FOUND,
        AlbumRuleError::MediaNotFound.to_string(),
    )
}

/// アルバムが見つからない 404。
#[must_use]
pub fn album_not_found() -> Problem {
    Problem::not_found(codes::ALBUM_NOT_FOUND, AlbumRuleError::NotFound.to_string())
}

#[cfg(test)]
mod tests {
    use crate::consumer::WaitError;
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_rule_error_maps_to_contract_status_and_code() {
        let cases = [
            (AlbumRuleError::NotFound, 404, codes::ALBUM_NOT_FOUND),
            (AlbumRuleError::AlreadyExists, 409, codes::ALREADY_EXISTS),
            (AlbumRuleError::InvalidName, 400, codes::INVALID_NAME),
            (
                AlbumRuleError::CannotDeleteDefault,
                409,
                codes::DEFAULT_NOT_DELETABLE,
            ),
            (AlbumRuleError::MediaNotFound, 404, codes::MEDIA_NOT_FOUND),
            (
                AlbumRuleError::MediaNotInAlbum,
                404,
                codes::MEDIA_NOT_IN_ALBUM,
            ),
        ];
        for (err, status, code) in cases {
            let problem = rule_problem(&err);
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
