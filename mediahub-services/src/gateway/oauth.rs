//! OAuth2 (認可コードフロー + PKCE S256) のプロバイダ設定とクライアント。
//!
//! - [`OAuthProvider`] は 1 つのプロバイダ (GitHub または Google) の設定です。URL はすべて
//!   差し替えられるので、テストは偽のプロバイダを指せます。
//! - [`OAuthClients`] は起動時に組み立てた `oauth2` のクライアント (認可 URL・トークン URL・
//!   **正確な** `redirect_uri = {public_url}/auth/{provider}/callback` を設定済み) です。
//! - `oauth2` 5 の HTTP は [`OAuthHttp`] (このプロジェクトの reqwest を包んだもの) で行います。
//!   リダイレクトは追いません (トークンエンドポイントの応答を別のホストに渡さないため)。

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use url::Url;

use super::error::{OAuthConfigError, RequestError};
use super::profile::{self, Profile};

/// 対応しているログインプロバイダ。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// GitHub (プロフィールと、主で検証済みのメールアドレス)。
    GitHub,
    /// Google (OpenID Connect の userinfo)。
    Google,
}

impl ProviderKind {
    /// すべてのプロバイダ。
    pub const ALL: [Self; 2] = [Self::GitHub, Self::Google];

    /// URL とイベントに使う名前 (`github` / `google`)。
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::GitHub => "github",
            Self::Google => "google",
        }
    }

    /// 名前から探します。
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    const fn scopes(self) -> &'static [&'static str] {
        match self {
            Self::GitHub => &["read:user", "user:email"],
            Self::Google => &["openid", "email", "profile"],
        }
    }
}

/// GitHub の既定の認可 URL。
pub const GITHUB_AUTH_URL: &str = "https://github.com/login/oauth/authorize";
/// GitHub の既定のトークン URL。
pub const GITHUB_TOKEN_URL: &str = "https://github.com/login/oauth/access_token";
/// GitHub の既定の API のベース URL。
pub const GITHUB_API_URL: &str = "https://api.github.com";
/// Google の既定の認可 URL。
pub const GOOGLE_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// Google の既定のトークン URL。
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Google の既定の userinfo (OpenID Connect) URL。
pub const GOOGLE_USERINFO_URL: &str = "https://openidconnect.googleapis.com/v1/userinfo";

/// 1 つのプロバイダの設定。
#[derive(Clone)]
pub struct OAuthProvider {
    /// クライアント ID。
    pub client_id: String,
    /// クライアントシークレット (ログや `Debug` には出しません)。
    pub client_secret: String,
    /// 認可エンドポイント。
    pub auth_url: String,
    /// トークンエンドポイント。
    pub token_url: String,
    /// GitHub では API のベース URL (`{api}/user`, `{api}/user/emails`)、
    /// Google では userinfo エンドポイントそのもの。
    pub api_url: String,
}

impl fmt::Debug for OAuthProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthProvider")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<伏せ字>")
            .field("auth_url", &self.auth_url)
            .field("token_url", &self.token_url)
            .field("api_url", &self.api_url)
            .finish()
    }
}

impl OAuthProvider {
    /// GitHub の本物の URL で作ります。
    #[must_use]
    pub fn github(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            auth_url: GITHUB_AUTH_URL.to_owned(),
            token_url: GITHUB_TOKEN_URL.to_owned(),
            api_url: GITHUB_API_URL.to_owned(),
        }
    }

    /// Google の本物の URL で作ります。
    #[must_use]
    pub fn google(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            auth_url: GOOGLE_AUTH_URL.to_owned(),
            token_url: GOOGLE_TOKEN_URL.to_owned(),
            api_url: GOOGLE_USERINFO_URL.to_owned(),
        }
    }

    /// 3 つの URL を差し替えたコピーを返します (テストの偽プロバイダ用)。
    #[must_use]
    pub fn urls(
        mut self,
        auth_url: impl Into<String>,
        token_url: impl Into<String>,
        api_url: impl Into<String>,
    ) -> Self {
        self.auth_url = auth_url.into();
        self.token_url = token_url.into();
        self.api_url = api_url.into();
        self
    }
}

type ConfiguredClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// 起動時に組み立てた 1 つのプロバイダのクライアント。
#[derive(Debug, Clone)]
struct ProviderClient {
    kind: ProviderKind,
    client: ConfiguredClient,
    api_url: Url,
}

/// `oauth2` 5 の非同期 HTTP クライアント (reqwest を包んだもの。リダイレクトは追いません)。
#[derive(Debug, Clone)]
pub struct OAuthHttp {
    http: reqwest::Client,
}

/// [`OAuthHttp`] の通信エラー。
#[derive(Debug, thiserror::Error)]
pub enum OAuthHttpError {
    /// 要求を組み立てられない、または送れない。
    #[error("HTTP 通信に失敗しました: {0}")]
    Http(#[from] reqwest::Error),
    /// 応答を組み立てられない。
    #[error("応答を読めません: {0}")]
    Response(#[from] poem::http::Error),
}

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = OAuthHttpError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = self.http.execute(request).await?;
            let mut builder = poem::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await?;
            Ok(builder.body(body.to_vec())?)
        })
    }
}

/// エラーとその原因をすべて `: ` でつないだ文字列 (`oauth2` のエラーは原因の側に詳細があるため)。
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// 認可 URL と、ブラウザーに結び付けて保存する値。
#[derive(Debug)]
pub struct AuthorizeStart {
    /// リダイレクト先 (プロバイダの認可画面)。
    pub url: Url,
    /// CSRF 対策の `state`。
    pub state: String,
    /// PKCE の verifier。
    pub verifier: String,
}

/// 有効なプロバイダのクライアントの集まり。
#[derive(Debug, Clone)]
pub struct OAuthClients {
    providers: Vec<ProviderClient>,
    http: OAuthHttp,
}

fn parse_url(
    kind: ProviderKind,
    field: &'static str,
    value: &str,
) -> Result<Url, OAuthConfigError> {
    Url::parse(value).map_err(|_| OAuthConfigError::InvalidUrl {
        provider: kind.name(),
        field,
        value: value.to_owned(),
    })
}

impl OAuthClients {
    /// 設定からクライアントを組み立てます。`redirect_uri` は
    /// `{public_url}/auth/{provider}/callback` です。
    ///
    /// # エラー
    /// URL が不正なら [`OAuthConfigError`]。
    pub fn new(
        public_url: &str,
        configured: &[(ProviderKind, &OAuthProvider)],
        timeout: Duration,
    ) -> Result<Self, OAuthConfigError> {
        let mut providers = Vec::new();
        for (kind, provider) in configured {
            let kind = *kind;
            let redirect = format!(
                "{}/auth/{}/callback",
                public_url.trim_end_matches('/'),
                kind.name()
            );
            let auth = parse_url(kind, "auth_url", &provider.auth_url)?;
            let token = parse_url(kind, "token_url", &provider.token_url)?;
            let redirect = parse_url(kind, "public_url", &redirect)?;
            let api_url = parse_url(kind, "api_url", &provider.api_url)?;
            let client = BasicClient::new(ClientId::new(provider.client_id.clone()))
                .set_client_secret(ClientSecret::new(provider.client_secret.clone()))
                .set_auth_uri(AuthUrl::from_url(auth))
                .set_token_uri(TokenUrl::from_url(token))
                .set_redirect_uri(RedirectUrl::from_url(redirect));
            providers.push(ProviderClient {
                kind,
                client,
                api_url,
            });
        }
        let http = crate::platform::http_client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .build()?;
        Ok(Self {
            providers,
            http: OAuthHttp { http },
        })
    }

    /// 有効なプロバイダの名前 (設定順)。
    #[must_use]
    pub fn enabled(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.kind.name()).collect()
    }

    fn provider(&self, kind: ProviderKind) -> Result<&ProviderClient, RequestError> {
        self.providers
            .iter()
            .find(|p| p.kind == kind)
            .ok_or_else(|| RequestError::ProviderDisabled(kind.name().to_owned()))
    }

    /// 認可 URL を作ります (ランダムな `state`、PKCE S256 の challenge、スコープ付き)。
    ///
    /// # エラー
    /// プロバイダが無効なら [`RequestError::ProviderDisabled`]。
    pub fn authorize(&self, kind: ProviderKind) -> Result<AuthorizeStart, RequestError> {
        let provider = self.provider(kind)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = provider
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(kind.scopes().iter().map(|s| Scope::new((*s).to_owned())))
            .set_pkce_challenge(challenge)
            .url();
        Ok(AuthorizeStart {
            url,
            state: state.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// 認可コードを verifier と一緒にアクセストークンに交換し、プロフィールを取ります。
    ///
    /// # エラー
    /// プロバイダが無効なら [`RequestError::ProviderDisabled`]、交換や取得に失敗すれば
    /// [`RequestError::OAuthProvider`]。
    pub async fn exchange(
        &self,
        kind: ProviderKind,
        code: String,
        verifier: String,
    ) -> Result<Profile, RequestError> {
        let provider = self.provider(kind)?;
        let token = provider
            .client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| RequestError::OAuthProvider(format!("トークンの交換: {}", chain(&e))))?;
        let access_token = token.access_token().secret();
        match kind {
            ProviderKind::GitHub => {
                profile::github(&self.http.http, &provider.api_url, access_token).await
            }
            ProviderKind::Google => {
                profile::google(&self.http.http, &provider.api_url, access_token).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clients() -> OAuthClients {
        let github = OAuthProvider::github("gh-id", "gh-secret");
        OAuthClients::new(
            "http://gw.test/",
            &[(ProviderKind::GitHub, &github)],
            Duration::from_secs(1),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// 本物の GitHub / Google は https なので、HTTP クライアントに TLS が入っていることを確かめます。
    /// TLS の無いクライアントは https の URL を送る前に「組み立ての誤り」で拒みますが、TLS が
    /// あれば接続して TLS の握手を試み、平文しか話さない相手に失敗します。
    #[tokio::test]
    async fn https_provider_url_is_attempted_over_tls_not_rejected_as_unsupported_scheme() {
        use tokio::io::AsyncWriteExt;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let plain = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap_or_else(|e| panic!("{e}"));
            socket
                .write_all(b"HTTP/1.1 200 OK\r\n\r\nnot tls")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        });
        let err = clients()
            .http
            .http
            .get(format!("https://{addr}/login/oauth/access_token"))
            .send()
            .await
            .err()
            .unwrap_or_else(|| panic!("平文の相手との TLS が成功するはずがありません"));
        assert!(!err.is_builder(), "TLS が無く https を送れません: {err:?}");
        assert!(err.is_connect(), "TLS の握手で失敗するはず: {err:?}");
        plain.await.unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn authorize_url_carries_state_s256_challenge_scopes_and_exact_redirect_uri() {
        let start = clients()
            .authorize(ProviderKind::GitHub)
            .unwrap_or_else(|e| panic!("{e}"));
        let pairs: std::collections::HashMap<_, _> = start.url.query_pairs().into_owned().collect();
        assert_eq!(pairs["state"], start.state);
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert_eq!(
            pairs["code_challenge"],
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(start.verifier))
                .as_str()
        );
        assert_eq!(pairs["redirect_uri"], "http://gw.test/auth/github/callback");
        assert_eq!(pairs["client_id"], "gh-id");
        assert_eq!(pairs["scope"], "read:user user:email");
    }

    #[test]
    fn unconfigured_provider_is_disabled_and_debug_hides_secret() {
        assert!(matches!(
            clients().authorize(ProviderKind::Google),
            Err(RequestError::ProviderDisabled(_))
        ));
        let shown = format!("{:?}", OAuthProvider::google("id", "very-secret"));
        assert!(!shown.contains("very-secret"));
        assert_eq!(ProviderKind::parse("google"), Some(ProviderKind::Google));
        assert_eq!(ProviderKind::parse("twitter"), None);
    }

    #[test]
    fn bad_provider_url_is_reported_with_field_name() {
        let broken = OAuthProvider::google("id", "s").urls("not a url", "http://t", "http://u");
        let err = OAuthClients::new(
            "http://gw.test",
            &[(ProviderKind::Google, &broken)],
            Duration::from_secs(1),
        )
        .err();
        assert!(matches!(
            err,
            Some(OAuthConfigError::InvalidUrl {
                field: "auth_url",
                ..
            })
        ));
    }
}
