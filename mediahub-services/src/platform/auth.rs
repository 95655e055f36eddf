//! JWT (HS256) の発行と検証 ([アーキテクチャ §10](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#10-セキュリティの概要))。
//!
//! - 秘密鍵は 32 バイト以上が必須で、組み込みの既定値はありません ([`JwtKeys::from_secret`])。
//! - 検証するのは **アルゴリズム (HS256 のみ)**・**発行者 `mediahub`**・**対象者 `mediahub`**・
//!   **有効期限**、そして `exp`/`iat`/`iss`/`aud`/`sub` の存在です。`alg: none` や
//!   別の秘密鍵で署名されたトークンは拒否されます。
//! - ユーザー用トークンは `sub` と `user_id` にユーザー ID を持ち、ロールは [`Role::User`]。
//!   サービス用トークンは `sub = "service:<名前>"`、ロールは [`Role::Service`] です。
//! - `X-User-ID` ヘッダーは **有効なサービス用トークンと一緒のときだけ** 採用します
//!   ([`acting_user`])。
//!
//! poem-openapi のハンドラーでは、引数に [`ServiceAuth`] (サービス用トークン必須) または
//! [`BearerAuth`] (有効なトークンなら何でも) を書くだけで検証済みのクレームを受け取れます。
//! どちらも検証鍵をリクエストのデータ (`poem::EndpointExt::data`) から取り出すので、
//! アプリケーションに `.data(keys)` を付けておいてください
//! ([`crate::platform::server::build_app`] が付けます)。

use std::fmt;

use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mediahub_core::ids::UserId;
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use serde::{Deserialize, Serialize};

use crate::platform::problem::{Problem, codes};

/// 発行者 (`iss`) と対象者 (`aud`) に入れる値。
pub const ISSUER: &str = "mediahub";
/// 対象者 (`aud`) に入れる値。
pub const AUDIENCE: &str = "mediahub";
/// 秘密鍵の最小の長さ (バイト)。
pub const MIN_SECRET_LEN: usize = 32;
/// トークンの有効期間 (秒)。
pub const TOKEN_TTL_SECS: u64 = 3600;
/// サービス用トークンの `sub` の接頭辞。
pub const SERVICE_SUBJECT_PREFIX: &str = "service:";
/// 代理で操作するユーザーを示すヘッダーの名前。
pub const USER_ID_HEADER: &str = "X-User-ID";
/// 時計のずれとして許す秒数。
const LEEWAY_SECS: u64 = 5;

/// 認証・認可のエラー。
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// 秘密鍵が短すぎる。
    #[error("JWT の秘密鍵は {MIN_SECRET_LEN} バイト以上が必要です (渡されたのは {len} バイト)")]
    SecretTooShort {
        /// 渡された秘密鍵の長さ。
        len: usize,
    },
    /// トークンの有効期限が切れている。
    #[error("トークンの有効期限が切れています")]
    Expired,
    /// トークンが不正 (署名・アルゴリズム・発行者・対象者・形式・必須クレームのいずれか)。
    #[error("トークンが不正です: {0}")]
    InvalidToken(String),
    /// サービス用トークンが必要なところにユーザー用トークンが来た。
    #[error("この操作にはサービス用トークンが必要です")]
    ServiceTokenRequired,
    /// ユーザー用トークンと一緒に `X-User-ID` が送られた。
    #[error("X-User-ID ヘッダーはサービス用トークンと一緒のときだけ使えます")]
    UserIdHeaderForbidden,
    /// `X-User-ID` やクレームの `user_id` が UUID として読めない。
    #[error("ユーザー ID が UUID として読めません: {0}")]
    InvalidUserId(String),
    /// トークンを作れなかった。
    #[error("トークンを作れませんでした: {0}")]
    Encode(#[source] jsonwebtoken::errors::Error),
    /// 時計の値が異常 (1970 年より前など)。
    #[error("システム時計の値が異常です")]
    Clock,
}

impl From<AuthError> for Problem {
    fn from(err: AuthError) -> Self {
        match &err {
            AuthError::Expired => Problem::unauthorized(codes::TOKEN_EXPIRED, err.to_string()),
            AuthError::InvalidToken(_) => {
                Problem::unauthorized(codes::INVALID_TOKEN, "トークンが不正です")
            }
            AuthError::ServiceTokenRequired => {
                Problem::forbidden(codes::SERVICE_TOKEN_REQUIRED, err.to_string())
            }
            AuthError::UserIdHeaderForbidden => {
                Problem::forbidden(codes::USER_ID_HEADER_FORBIDDEN, err.to_string())
            }
            AuthError::InvalidUserId(_) => {
                Problem::bad_request(codes::INVALID_USER_ID_HEADER, err.to_string())
            }
            AuthError::SecretTooShort { .. } | AuthError::Encode(_) | AuthError::Clock => {
                Problem::internal("auth", &err)
            }
        }
    }
}

impl From<AuthError> for poem::Error {
    fn from(err: AuthError) -> Self {
        Problem::from(err).into()
    }
}

/// トークンの持ち主の種類。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// ブラウザーなどから来るエンドユーザー。
    User,
    /// サービス間の呼び出し (内部エンドポイントはこのロールだけが使えます)。
    Service,
}

/// JWT のクレーム。
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// 主体。ユーザーならユーザー ID、サービスなら `service:<名前>`。
    pub sub: String,
    /// ユーザー ID (ユーザー用トークンのみ)。
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// 発行者 (`mediahub`)。
    pub iss: String,
    /// 対象者 (`mediahub`)。
    pub aud: String,
    /// 有効期限 (UNIX 秒)。
    pub exp: u64,
    /// 発行時刻 (UNIX 秒)。
    pub iat: u64,
    /// ロール。
    pub role: Role,
}

impl Claims {
    /// サービス用トークンのクレームなら `true`。
    #[must_use]
    pub fn is_service(&self) -> bool {
        self.role == Role::Service
    }

    /// サービス用トークンならサービス名 (`sub` の `service:` より後ろ) を返します。
    #[must_use]
    pub fn service_name(&self) -> Option<&str> {
        if self.is_service() {
            self.sub.strip_prefix(SERVICE_SUBJECT_PREFIX)
        } else {
            None
        }
    }

    /// ユーザー用トークンならユーザー ID を返します。
    ///
    /// # エラー
    /// `user_id` (無ければ `sub`) が UUID として読めなければ [`AuthError::InvalidUserId`]。
    pub fn user(&self) -> Result<Option<UserId>, AuthError> {
        if self.role != Role::User {
            return Ok(None);
        }
        let raw = self.user_id.as_deref().unwrap_or(&self.sub);
        raw.parse::<UserId>()
            .map(Some)
            .map_err(|_| AuthError::InvalidUserId(raw.to_owned()))
    }
}

/// JWT の署名鍵と検証鍵 (HS256)。
///
/// 状態として各サービスに渡して使います (グローバルには置きません)。
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys").finish_non_exhaustive()
    }
}

fn now_secs() -> Result<u64, AuthError> {
    u64::try_from(Utc::now().timestamp()).map_err(|_| AuthError::Clock)
}

impl JwtKeys {
    /// 共有の秘密鍵から鍵を作ります。
    ///
    /// # エラー
    /// 秘密鍵が [`MIN_SECRET_LEN`] バイトより短ければ [`AuthError::SecretTooShort`]。
    pub fn from_secret(secret: &[u8]) -> Result<Self, AuthError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(AuthError::SecretTooShort { len: secret.len() });
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.leeway = LEEWAY_SECS;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// 任意のクレームに署名します (テストで期限切れのトークンを作るときなどに使います)。
    ///
    /// # エラー
    /// 署名に失敗すれば [`AuthError::Encode`]。
    pub fn encode_claims(&self, claims: &Claims) -> Result<String, AuthError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(AuthError::Encode)
    }

    /// ユーザー用トークン (有効期間 1 時間) を発行します。
    ///
    /// # エラー
    /// 署名に失敗すれば [`AuthError::Encode`]。
    pub fn issue_user_token(&self, user_id: UserId) -> Result<String, AuthError> {
        let now = now_secs()?;
        self.encode_claims(&Claims {
            sub: user_id.to_string(),
            user_id: Some(user_id.to_string()),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            exp: now + TOKEN_TTL_SECS,
            iat: now,
            role: Role::User,
        })
    }

    /// サービス用トークン (有効期間 1 時間、`sub = "service:<名前>"`) を発行します。
    ///
    /// サービスは共有の秘密鍵を持っているので、期限が近づいたら自分で作り直してください。
    ///
    /// # エラー
    /// 署名に失敗すれば [`AuthError::Encode`]。
    pub fn issue_service_token(&self, service_name: &str) -> Result<String, AuthError> {
        let now = now_secs()?;
        self.encode_claims(&Claims {
            sub: format!("{SERVICE_SUBJECT_PREFIX}{service_name}"),
            user_id: None,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            exp: now + TOKEN_TTL_SECS,
            iat: now,
            role: Role::Service,
        })
    }

    /// トークンを検証してクレームを返します。
    ///
    /// # エラー
    /// 期限切れなら [`AuthError::Expired`]、それ以外の不正は [`AuthError::InvalidToken`]。
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(err) => match err.kind() {
                ErrorKind::ExpiredSignature => Err(AuthError::Expired),
                _ => Err(AuthError::InvalidToken(err.to_string())),
            },
        }
    }
}

/// サービス用トークンであることを要求します。
///
/// # エラー
/// ユーザー用トークンなら [`AuthError::ServiceTokenRequired`] (HTTP では 403)。
pub fn require_service(claims: &Claims) -> Result<(), AuthError> {
    if claims.is_service() {
        Ok(())
    } else {
        Err(AuthError::ServiceTokenRequired)
    }
}

/// この要求が「誰として」行われているかを決めます。
///
/// - サービス用トークン: `X-User-ID` があればそのユーザー、無ければ `None` (システム起因)。
/// - ユーザー用トークン: トークンのユーザー。`X-User-ID` は使えません
///   (送られてきたら [`AuthError::UserIdHeaderForbidden`])。
///
/// # エラー
/// `X-User-ID` が UUID でなければ [`AuthError::InvalidUserId`]、ユーザー用トークンと一緒なら
/// [`AuthError::UserIdHeaderForbidden`]。
pub fn acting_user(
    claims: &Claims,
    x_user_id_header: Option<&str>,
) -> Result<Option<UserId>, AuthError> {
    match (claims.role, x_user_id_header) {
        (Role::Service, Some(raw)) => raw
            .trim()
            .parse::<UserId>()
            .map(Some)
            .map_err(|_| AuthError::InvalidUserId(raw.to_owned())),
        (Role::Service, None) => Ok(None),
        (Role::User, Some(_)) => Err(AuthError::UserIdHeaderForbidden),
        (Role::User, None) => claims.user(),
    }
}

/// 要求の `Authorization: Bearer` を取り出して検証します (型付きの取り出しの共通部分)。
///
/// # エラー
/// トークンが無い・不正・期限切れなら 401 の problem。
pub fn verify_bearer(req: &Request) -> poem::Result<Claims> {
    let bearer = <Bearer as poem_openapi::auth::BearerAuthorization>::from_request(req)?;
    verify_from_request(req, &bearer)
}

fn verify_from_request(req: &Request, bearer: &Bearer) -> poem::Result<Claims> {
    let Some(keys) = req.data::<JwtKeys>() else {
        tracing::error!("JwtKeys がリクエストのデータにありません (build_app の設定漏れ)");
        return Err(Problem::unavailable("認証の設定がありません").into());
    };
    Ok(keys.verify(&bearer.token)?)
}

async fn check_any_bearer(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    verify_from_request(req, &bearer)
}

async fn check_service_bearer(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    let claims = verify_from_request(req, &bearer)?;
    require_service(&claims)?;
    Ok(claims)
}

/// 有効なトークン (ユーザー用・サービス用のどちらでも) を要求するセキュリティスキーム。
///
/// 中身は検証済みのクレームです。
#[derive(Debug, SecurityScheme)]
#[oai(
    rename = "BearerToken",
    ty = "bearer",
    bearer_format = "JWT",
    checker = "check_any_bearer"
)]
pub struct BearerAuth(pub Claims);

/// サービス用トークンを要求するセキュリティスキーム (内部エンドポイント用)。
///
/// ユーザー用トークンなら 403 (`auth.service_token_required`)、トークンが無ければ 401
/// (`auth.missing_token`)、不正なら 401 (`auth.invalid_token` / `auth.token_expired`)。
#[derive(Debug, SecurityScheme)]
#[oai(
    rename = "ServiceToken",
    ty = "bearer",
    bearer_format = "JWT",
    checker = "check_service_bearer"
)]
pub struct ServiceAuth(pub Claims);

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> JwtKeys {
        JwtKeys::from_secret(SECRET).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn secret_of_31_bytes_is_rejected_with_its_length() {
        let err = JwtKeys::from_secret(&SECRET[..31]).err();
        assert!(matches!(err, Some(AuthError::SecretTooShort { len: 31 })));
    }

    #[test]
    fn user_token_verifies_to_user_role_with_same_user_id() {
        let keys = keys();
        let user = UserId::new_random();
        let token = keys
            .issue_user_token(user)
            .unwrap_or_else(|e| panic!("{e}"));
        let claims = keys.verify(&token).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(claims.role, Role::User);
        assert_eq!(claims.user().ok().flatten(), Some(user));
        assert_eq!(claims.exp - claims.iat, TOKEN_TTL_SECS);
    }

    #[test]
    fn service_token_verifies_to_service_role_with_prefixed_subject() {
        let keys = keys();
        let token = keys
            .issue_service_token("saga")
            .unwrap_or_else(|e| panic!("{e}"));
        let claims = keys.verify(&token).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(claims.sub, "service:saga");
        assert_eq!(claims.service_name(), Some("saga"));
        assert!(require_service(&claims).is_ok());
    }

    #[test]
    fn token_signed_with_other_secret_is_invalid() {
        let other = JwtKeys::from_secret(b"ffffffffffffffffffffffffffffffffff")
            .unwrap_or_else(|e| panic!("{e}"));
        let token = other
            .issue_service_token("x")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            keys().verify(&token),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn token_expired_an_hour_ago_is_expired() {
        let keys = keys();
        let now = now_secs().unwrap_or_else(|e| panic!("{e}"));
        let token = keys
            .encode_claims(&Claims {
                sub: "service:x".into(),
                user_id: None,
                iss: ISSUER.into(),
                aud: AUDIENCE.into(),
                exp: now - 3600,
                iat: now - 7200,
                role: Role::Service,
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(keys.verify(&token), Err(AuthError::Expired)));
    }

    #[test]
    fn token_with_wrong_issuer_or_audience_is_invalid() {
        let keys = keys();
        let now = now_secs().unwrap_or_else(|e| panic!("{e}"));
        let base = Claims {
            sub: "service:x".into(),
            user_id: None,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            exp: now + 60,
            iat: now,
            role: Role::Service,
        };
        for claims in [
            Claims {
                iss: "evil".into(),
                ..base.clone()
            },
            Claims {
                aud: "other".into(),
                ..base.clone()
            },
        ] {
            let token = keys
                .encode_claims(&claims)
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(matches!(
                keys.verify(&token),
                Err(AuthError::InvalidToken(_))
            ));
        }
    }

    #[test]
    fn alg_none_token_is_invalid() {
        // {"alg":"none","typ":"JWT"} . {"sub":"service:x",...} . (署名なし)
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        let payload = "eyJzdWIiOiJzZXJ2aWNlOngiLCJpc3MiOiJtZWRpYWh1YiIsImF1ZCI6Im1lZGlhaHViIiwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjE3MDAwMDAwMDAsInJvbGUiOiJzZXJ2aWNlIn0";
        let token = format!("{header}.{payload}.");
        assert!(matches!(
            keys().verify(&token),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn user_claims_fail_require_service() {
        let claims = Claims {
            sub: UserId::new_random().to_string(),
            user_id: None,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            exp: 1,
            iat: 0,
            role: Role::User,
        };
        assert!(matches!(
            require_service(&claims),
            Err(AuthError::ServiceTokenRequired)
        ));
    }

    #[test]
    fn acting_user_honours_header_only_with_service_token() {
        let user = UserId::new_random();
        let service = Claims {
            sub: "service:saga".into(),
            user_id: None,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            exp: 1,
            iat: 0,
            role: Role::Service,
        };
        let header = user.to_string();
        assert_eq!(
            acting_user(&service, Some(&header)).ok().flatten(),
            Some(user)
        );
        assert_eq!(acting_user(&service, None).ok().flatten(), None);
        assert!(matches!(
            acting_user(&service, Some("nope")),
            Err(AuthError::InvalidUserId(_))
        ));
        let token_user = UserId::new_random();
        let user_claims = Claims {
            sub: token_user.to_string(),
            user_id: Some(token_user.to_string()),
            role: Role::User,
            ..service
        };
        assert!(matches!(
            acting_user(&user_claims, Some(&header)),
            Err(AuthError::UserIdHeaderForbidden)
        ));
        assert_eq!(
            acting_user(&user_claims, None).ok().flatten(),
            Some(token_user)
        );
    }
}
