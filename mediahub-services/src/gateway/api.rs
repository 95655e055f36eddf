//! ゲートウェイ自身のエンドポイント (ログインと `/api/v1/me`)。
//!
//! | メソッド | パス | 成功 | 失敗 |
//! |---|---|---|---|
//! | GET | `/auth/providers` | 200 `{providers, dev_login}` | なし |
//! | POST | `/auth/dev-token` | 200 `{token, user_id}` | 404 (無効)、400 (`login` が不正) |
//! | GET | `/auth/{provider}/login` | 302 → プロバイダ (クッキーを設定) | 404 (無効・未知のプロバイダ) |
//! | GET | `/auth/{provider}/callback` | 302 → `{FRONTEND_URL}/#token=<JWT>` | 400 (`state` の不一致など)、502 (プロバイダの失敗) |
//! | GET | `/api/v1/me` | 200 `{id, email, display_name, provider}` | 401、403 (サービス用トークン)、404 |

use std::sync::Arc;

use poem::Request;
use poem::http::header;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, Tags};

use super::error::RequestError;
use super::oauth::ProviderKind;
use super::pending::PendingLogin;
use super::state::GatewayState;
use super::users::Identity;
use super::view::{DevTokenBody, DevTokenRequest, MeBody, ProvidersBody};
use crate::platform::auth::BearerAuth;
use crate::platform::problem::Problem;
use crate::platform::schema::StrictString;

/// ログイン途中の状態を指すクッキーの名前。
pub const LOGIN_COOKIE: &str = "mediahub_oauth";
/// ログイン途中の状態の有効期間 (秒)。
pub const LOGIN_TTL_SECS: u64 = 600;
/// 開発用ログインのプロバイダ名。
pub const DEV_PROVIDER: &str = "dev";
/// 開発用ログインの既定の `login`。
pub const DEFAULT_DEV_LOGIN: &str = "dev";
/// `login` の最大の長さ。
const MAX_LOGIN_LEN: usize = 64;

/// ゲートウェイ自身の API。
#[derive(Debug, Clone)]
pub struct GatewayApi {
    state: Arc<GatewayState>,
}

impl GatewayApi {
    /// 共有の状態から作ります。
    #[must_use]
    pub fn new(state: Arc<GatewayState>) -> Self {
        Self { state }
    }
}

#[derive(Debug, Tags)]
enum ApiTags {
    /// ログイン (OAuth2 と開発用ログイン)
    Auth,
    /// ログイン中のユーザー
    Me,
}

/// リダイレクト応答。
#[derive(Debug, ApiResponse)]
pub enum Redirect {
    /// リダイレクトします。
    #[oai(status = 302)]
    Found(
        /// 行き先。
        #[oai(header = "Location")]
        String,
        /// ログイン途中の状態のクッキー (設定または消去)。
        #[oai(header = "Set-Cookie")]
        String,
        /// キャッシュさせない。
        #[oai(header = "Cache-Control")]
        String,
    ),
}

fn redirect(location: String, cookie: String) -> Redirect {
    Redirect::Found(location, cookie, "no-store".to_owned())
}

/// 要求の `Cookie` ヘッダーからログイン途中の状態の ID を取り出します。
fn login_cookie(req: &Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == LOGIN_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

fn valid_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= MAX_LOGIN_LEN
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl GatewayApi {
    fn provider(&self, name: &str) -> Result<ProviderKind, RequestError> {
        ProviderKind::parse(name).ok_or_else(|| RequestError::ProviderDisabled(name.to_owned()))
    }

    fn cookie(&self, value: &str, max_age: u64) -> String {
        let secure = if self.state.secure_cookie {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{LOGIN_COOKIE}={value}; Path=/auth; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
        )
    }

    /// コールバックの `state` を確かめ、PKCE の verifier を返します。
    fn check_state(
        &self,
        kind: ProviderKind,
        cookie: Option<&str>,
        state: Option<&str>,
    ) -> Result<String, RequestError> {
        // 取り出した時点で消えるので、同じ状態は二度使えません。
        let pending = cookie
            .and_then(|id| self.state.pending.take(id))
            .ok_or(RequestError::InvalidState)?;
        let state = state.ok_or(RequestError::InvalidState)?;
        if pending.provider != kind || pending.state != state {
            return Err(RequestError::InvalidState);
        }
        Ok(pending.verifier)
    }
}

#[OpenApi]
impl GatewayApi {
    /// 使えるログイン方法の一覧 (認証不要)。
    #[oai(path = "/auth/providers", method = "get", tag = "ApiTags::Auth")]
    async fn providers(&self) -> Json<ProvidersBody> {
        Json(ProvidersBody {
            providers: self
                .state
                .oauth
                .enabled()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            dev_login: self.state.dev_login,
        })
    }

    /// 開発用ログイン: `login` (省略時 `dev`) のユーザーとしてトークンを発行します。
    ///
    /// 開発用ログインが有効なときだけ使えます (無効なら 404)。初回はユーザーを登録します
    /// (`UserRegistered`)。ユーザー ID は `UserId::for_identity("dev", login)` です。
    #[oai(path = "/auth/dev-token", method = "post", tag = "ApiTags::Auth")]
    async fn dev_token(
        &self,
        body: Json<Option<DevTokenRequest>>,
    ) -> Result<Json<DevTokenBody>, Problem> {
        if !self.state.dev_login {
            return Err(RequestError::DevLoginDisabled.into());
        }
        let login = body
            .0
            .and_then(|b| b.login)
            .map(StrictString::into_inner)
            .unwrap_or_else(|| DEFAULT_DEV_LOGIN.to_owned());
        if !valid_login(&login) {
            return Err(RequestError::InvalidLogin.into());
        }
        let user_id = self
            .state
            .users
            .register(Identity {
                provider: DEV_PROVIDER.to_owned(),
                provider_user_id: login.clone(),
                email: None,
                display_name: login,
            })
            .await?;
        let token = self.state.keys.issue_user_token(user_id)?;
        Ok(Json(DevTokenBody {
            token,
            user_id: user_id.as_uuid(),
        }))
    }

    /// OAuth2 ログインを始めます: プロバイダの認可画面へ 302 でリダイレクトします。
    ///
    /// ランダムな `state` と PKCE (S256) の verifier をゲートウェイに保存し、それを指す
    /// ランダムな ID を HttpOnly・SameSite=Lax・Path=/auth のクッキーで渡します (有効期間 10 分)。
    /// 無効・未知のプロバイダは 404。
    #[oai(path = "/auth/:provider/login", method = "get", tag = "ApiTags::Auth")]
    async fn login(
        &self,
        #[oai(validator(pattern = "^[a-z0-9_-]{1,32}$"))] provider: Path<String>,
    ) -> Result<Redirect, Problem> {
        let kind = self.provider(&provider.0)?;
        let start = self.state.oauth.authorize(kind)?;
        let id = self.state.pending.insert(PendingLogin {
            provider: kind,
            state: start.state,
            verifier: start.verifier,
        });
        Ok(redirect(
            start.url.to_string(),
            self.cookie(&id, LOGIN_TTL_SECS),
        ))
    }

    /// OAuth2 のコールバック: `state` を確かめ、認可コードを verifier と一緒に交換し、
    /// プロフィールを取り、初回ならユーザーを登録して、`{FRONTEND_URL}/#token=<JWT>` へ
    /// 302 でリダイレクトします (トークンは URL のフラグメントだけに入れます)。
    ///
    /// `state` が無い・一致しない・期限切れ・使用済みなら 400 (`gateway.invalid_oauth_state`)
    /// で、何も登録しません。
    #[oai(
        path = "/auth/:provider/callback",
        method = "get",
        tag = "ApiTags::Auth"
    )]
    async fn callback(
        &self,
        #[oai(validator(pattern = "^[a-z0-9_-]{1,32}$"))] provider: Path<String>,
        code: Query<Option<String>>,
        state: Query<Option<String>>,
        error: Query<Option<String>>,
        req: &Request,
    ) -> Result<Redirect, Problem> {
        let kind = self.provider(&provider.0)?;
        self.state
            .oauth
            .enabled()
            .contains(&kind.name())
            .then_some(())
            .ok_or_else(|| RequestError::ProviderDisabled(kind.name().to_owned()))?;
        let verifier = self.check_state(kind, login_cookie(req).as_deref(), state.0.as_deref())?;
        if let Some(error) = error.0 {
            return Err(RequestError::OAuthDenied(error).into());
        }
        let code = code
            .0
            .filter(|c| !c.is_empty())
            .ok_or_else(|| RequestError::OAuthDenied("code がありません".into()))?;
        let profile = self.state.oauth.exchange(kind, code, verifier).await?;
        let user_id = self
            .state
            .users
            .register(Identity {
                provider: kind.name().to_owned(),
                provider_user_id: profile.provider_user_id,
                email: profile.email,
                display_name: profile.display_name,
            })
            .await?;
        let token = self.state.keys.issue_user_token(user_id)?;
        tracing::info!(provider = kind.name(), %user_id, "ログインしました");
        let location = format!(
            "{}/#token={token}",
            self.state.frontend_url.trim_end_matches('/')
        );
        Ok(redirect(location, self.cookie("", 0)))
    }

    /// ログイン中のユーザー (ユーザー用トークンが必要)。
    #[oai(path = "/api/v1/me", method = "get", tag = "ApiTags::Me")]
    async fn me(&self, auth: BearerAuth) -> Result<Json<MeBody>, Problem> {
        let user_id = auth.0.user()?.ok_or(RequestError::UserTokenRequired)?;
        let record = self.state.users.me(user_id).await?;
        Ok(Json(MeBody {
            id: record.id.as_uuid(),
            email: record.email,
            display_name: record.display_name,
            provider: record.provider,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_names_allow_alnum_dash_underscore_dot_up_to_64() {
        assert!(valid_login("alice"));
        assert!(valid_login("a.b-c_d9"));
        assert!(!valid_login(""));
        assert!(!valid_login("a b"));
        assert!(!valid_login("ä"));
        assert!(!valid_login(&"x".repeat(65)));
    }
}
