//! ゲートウェイのエラーと、その problem+json への対応。

use poem::http::StatusCode;

use crate::consumer::ConsumerError;
use crate::platform::problem::{Problem, codes as common_codes};
use crate::platform::server::ServerError;
use crate::store_client::StoreClientError;

/// ゲートウェイ固有の、安定したエラーコード。
pub mod codes {
    /// パスに `..`・`%2e%2e`・`//`・符号化された区切り文字などが含まれている (400)。
    pub const UNSAFE_PATH: &str = "gateway.unsafe_path";
    /// 公開の API にはユーザー用トークンが必要 (サービス用トークンは外から使えない) (403)。
    pub const USER_TOKEN_REQUIRED: &str = "gateway.user_token_required";
    /// 許可していないオリジンからのクロスオリジン要求 (403)。
    pub const CORS_REJECTED: &str = "gateway.cors_rejected";
    /// 上流のサービスに接続できない、または応答が壊れていた (502)。
    pub const UPSTREAM_UNAVAILABLE: &str = "upstream.unavailable";
    /// 上流のサービスが時間内に応答しなかった (504)。
    pub const UPSTREAM_TIMEOUT: &str = "upstream.timeout";
    /// そのプロバイダは無効 (設定されていない) か、存在しない (404)。
    pub const PROVIDER_DISABLED: &str = "gateway.provider_disabled";
    /// 開発用ログインは無効 (404)。
    pub const DEV_LOGIN_DISABLED: &str = "gateway.dev_login_disabled";
    /// OAuth2 のコールバックの `state` が無い・一致しない・期限切れ (400)。
    pub const INVALID_STATE: &str = "gateway.invalid_oauth_state";
    /// プロバイダがエラーを返した (利用者が拒否したなど)、または `code` が無い (400)。
    pub const OAUTH_DENIED: &str = "gateway.oauth_denied";
    /// 認可コードの交換やプロフィールの取得に失敗した (502)。
    pub const OAUTH_PROVIDER_FAILED: &str = "gateway.oauth_provider_failed";
    /// 開発用ログインの `login` が不正 (400)。
    pub const INVALID_LOGIN: &str = "gateway.invalid_login";
    /// トークンのユーザーが登録されていない (404)。
    pub const USER_NOT_FOUND: &str = "gateway.user_not_found";
}

/// プロバイダの設定の誤り (起動時に検出します)。
#[derive(Debug, thiserror::Error)]
pub enum OAuthConfigError {
    /// URL が不正。
    #[error("{provider} の {field} が URL として不正です: {value}")]
    InvalidUrl {
        /// プロバイダ名。
        provider: &'static str,
        /// 設定項目。
        field: &'static str,
        /// 渡された値。
        value: String,
    },
    /// HTTP クライアントを作れない。
    #[error("HTTP クライアントを作れません: {0}")]
    Http(#[from] reqwest::Error),
}

/// ゲートウェイを起動できなかった理由。
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// 設定の URL が不正。
    #[error("{field} が URL として不正です: {value}")]
    InvalidUrl {
        /// 設定項目。
        field: &'static str,
        /// 渡された値。
        value: String,
    },
    /// OAuth2 の設定が不正。
    #[error(transparent)]
    OAuth(#[from] OAuthConfigError),
    /// HTTP クライアントを作れない。
    #[error("HTTP クライアントを作れません: {0}")]
    Http(#[from] reqwest::Error),
    /// イベントストアのクライアントを作れない。
    #[error("イベントストアのクライアントを作れません: {0}")]
    Store(#[from] StoreClientError),
    /// ユーザー索引のデータベースを開けない。
    #[error("ユーザー索引のデータベースを開けません: {0}")]
    Database(#[from] sqlx::Error),
    /// マイグレーションに失敗した。
    #[error("ユーザー索引のマイグレーションに失敗しました: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// 購読ランナーを開けない。
    #[error("ユーザー索引の購読者を開けません: {0}")]
    Consumer(#[from] ConsumerError),
    /// OpenAPI 文書を組み立てられない。
    #[error("OpenAPI 文書を組み立てられません: {0}")]
    Document(String),
    /// サーバーのエラー。
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// ゲートウェイの要求処理のエラー。
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// パスが安全でない。
    #[error("パスに使えない並び ({0}) が含まれています")]
    UnsafePath(&'static str),
    /// ユーザー用トークンが必要。
    #[error("公開の API にはユーザー用トークンが必要です")]
    UserTokenRequired,
    /// 上流に接続できない。
    #[error("上流のサービス {upstream} に接続できません")]
    UpstreamUnavailable {
        /// 上流の名前。
        upstream: &'static str,
    },
    /// 上流が時間内に応答しない。
    #[error("上流のサービス {upstream} が時間内に応答しませんでした")]
    UpstreamTimeout {
        /// 上流の名前。
        upstream: &'static str,
    },
    /// 要求本体が上限を超えた。
    #[error("リクエスト本体が上限 ({limit} バイト) を超えています")]
    PayloadTooLarge {
        /// 上限 (バイト)。
        limit: u64,
    },
    /// プロバイダが無効。
    #[error("ログインプロバイダ {0} は有効になっていません")]
    ProviderDisabled(String),
    /// 開発用ログインが無効。
    #[error("開発用ログインは無効です")]
    DevLoginDisabled,
    /// `state` が不正。
    #[error("OAuth2 の state が無いか一致しません。ログインをやり直してください")]
    InvalidState,
    /// プロバイダが拒否した。
    #[error("ログインが完了しませんでした: {0}")]
    OAuthDenied(String),
    /// プロバイダとの通信に失敗した。
    #[error("ログインプロバイダとの通信に失敗しました: {0}")]
    OAuthProvider(String),
    /// `login` が不正。
    #[error("login は 1〜64 文字の英数字・`-`・`_`・`.` にしてください")]
    InvalidLogin,
    /// ユーザーが登録されていない。
    #[error("ユーザーが見つかりません")]
    UserNotFound,
}

impl From<RequestError> for Problem {
    fn from(err: RequestError) -> Self {
        let detail = err.to_string();
        match &err {
            RequestError::UnsafePath(_) => Problem::bad_request(codes::UNSAFE_PATH, detail),
            RequestError::UserTokenRequired => {
                Problem::forbidden(codes::USER_TOKEN_REQUIRED, detail)
            }
            RequestError::UpstreamUnavailable { upstream } => {
                Problem::new(StatusCode::BAD_GATEWAY, codes::UPSTREAM_UNAVAILABLE, detail)
                    .with_extension("upstream", *upstream)
            }
            RequestError::UpstreamTimeout { upstream } => {
                Problem::new(StatusCode::GATEWAY_TIMEOUT, codes::UPSTREAM_TIMEOUT, detail)
                    .with_extension("upstream", *upstream)
            }
            RequestError::PayloadTooLarge { limit } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                common_codes::PAYLOAD_TOO_LARGE,
                detail,
            )
            .with_extension("limit", *limit),
            RequestError::ProviderDisabled(_) => {
                Problem::not_found(codes::PROVIDER_DISABLED, detail)
            }
            RequestError::DevLoginDisabled => Problem::not_found(codes::DEV_LOGIN_DISABLED, detail),
            RequestError::InvalidState => Problem::bad_request(codes::INVALID_STATE, detail),
            RequestError::OAuthDenied(_) => Problem::bad_request(codes::OAUTH_DENIED, detail),
            RequestError::OAuthProvider(_) => {
                tracing::warn!(error = %err, "OAuth2 プロバイダとの通信に失敗しました");
                Problem::new(
                    StatusCode::BAD_GATEWAY,
                    codes::OAUTH_PROVIDER_FAILED,
                    "ログインプロバイダとの通信に失敗しました。時間をおいてやり直してください",
                )
            }
            RequestError::InvalidLogin => Problem::bad_request(codes::INVALID_LOGIN, detail),
            RequestError::UserNotFound => Problem::not_found(codes::USER_NOT_FOUND, detail),
        }
    }
}

impl From<RequestError> for poem::Error {
    fn from(err: RequestError) -> Self {
        Problem::from(err).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_errors_map_to_502_and_504_with_upstream_extension() {
        let p = Problem::from(RequestError::UpstreamUnavailable { upstream: "album" });
        assert_eq!(p.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(p.code(), codes::UPSTREAM_UNAVAILABLE);
        assert_eq!(p.extension("upstream"), Some(&"album".into()));
        let p = Problem::from(RequestError::UpstreamTimeout { upstream: "saga" });
        assert_eq!(p.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(p.code(), codes::UPSTREAM_TIMEOUT);
    }

    #[test]
    fn oauth_provider_failure_hides_detail_from_client() {
        let p = Problem::from(RequestError::OAuthProvider("secret-ish detail".into()));
        assert_eq!(p.status(), StatusCode::BAD_GATEWAY);
        assert!(!p.detail().contains("secret-ish"));
    }
}
