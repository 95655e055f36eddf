//! ドメインエラーの共通の分類。
//!
//! 各集約は自分のエラー型 (`thiserror`) を持ちますが、サービス層が HTTP の状態コードと
//! problem+json の `code` に一様に写せるよう、すべてのエラーが [`DomainError`] を実装します。

/// エラーの大分類。サービス層はこれを HTTP 状態コードに写します。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// 対象が存在しない (他人の物も「存在しない」として扱います)。HTTP 404。
    NotFound,
    /// 現在の状態と矛盾する。HTTP 409。
    Conflict,
    /// 入力が不正。HTTP 422 / 400。
    Invalid,
    /// 大きすぎる。HTTP 413。
    TooLarge,
    /// 許可されていない形式。HTTP 415。
    UnsupportedMediaType,
}

/// すべてのドメインエラーが実装する共通インターフェース。
pub trait DomainError: std::error::Error {
    /// problem+json の `code` に使う、安定した機械向けの識別子 (例: `media.not_owner`)。
    fn code(&self) -> &'static str;
    /// エラーの大分類。
    fn kind(&self) -> ErrorKind;
}
