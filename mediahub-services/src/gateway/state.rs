//! ゲートウェイ自身の API が共有する状態 ([`GatewayState`])。

use super::oauth::OAuthClients;
use super::pending::PendingLogins;
use super::users::Users;
use crate::platform::auth::JwtKeys;

/// API が共有する状態。
#[derive(Debug)]
pub struct GatewayState {
    /// 有効な OAuth2 プロバイダ。
    pub oauth: OAuthClients,
    /// ログイン途中の状態。
    pub pending: PendingLogins,
    /// ユーザーの登録と検索。
    pub users: Users,
    /// JWT の鍵。
    pub keys: JwtKeys,
    /// フロントエンドの URL (ログイン後のリダイレクト先)。
    pub frontend_url: String,
    /// 開発用ログインが有効か。
    pub dev_login: bool,
    /// クッキーに `Secure` を付けるか (公開 URL が https のとき)。
    pub secure_cookie: bool,
}
