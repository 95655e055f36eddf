//! ゲートウェイ自身の API の要求と応答の本体。

use poem_openapi::Object;
use uuid::Uuid;

use crate::platform::schema::StrictString;

/// 使えるログイン方法。
#[derive(Debug, Clone, Object)]
pub struct ProvidersBody {
    /// 有効な OAuth2 プロバイダ (`github`, `google`)。
    pub providers: Vec<String>,
    /// 開発用ログイン (`POST /auth/dev-token`) が有効か。
    pub dev_login: bool,
}

/// 開発用ログインの要求。
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct DevTokenRequest {
    /// ログイン名 (1〜64 文字の英数字・`-`・`_`・`.`、省略時は `dev`)。違う名前は違うユーザーです。
    #[oai(nullable, validator(pattern = "^[A-Za-z0-9._-]{1,64}$"))]
    pub login: Option<StrictString>,
}

/// 開発用ログインの結果。
#[derive(Debug, Clone, Object)]
pub struct DevTokenBody {
    /// ユーザー用 JWT (有効期間 1 時間)。
    pub token: String,
    /// ユーザー ID。
    pub user_id: Uuid,
}

/// ログイン中のユーザー。
#[derive(Debug, Clone, Object)]
pub struct MeBody {
    /// ユーザー ID。
    pub id: Uuid,
    /// 検証済みのメールアドレス。
    #[oai(nullable)]
    pub email: Option<String>,
    /// 表示名。
    pub display_name: String,
    /// ID プロバイダ (`github`, `google`, `dev`)。
    pub provider: String,
}
