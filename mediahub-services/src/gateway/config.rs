//! ゲートウェイの設定 ([`GatewayConfig`])、バイナリ `gateway` の引数 ([`GatewayArgs`])、
//! OAuth2 プロバイダーの引数と環境変数 ([`OAuthArgs`]、`gateway` と `mediahub run` が共有)。
//!
//! クライアント ID とシークレットの **両方** が空でないプロバイダーだけが有効になります。
//! 認可・トークン・API の URL は既定で本物の GitHub / Google を指し、テストや社内の
//! 互換サーバーに向けたいときだけ変えます。

use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use super::error::StartError;
use super::lab::LabControl;
use super::proxy::UpstreamUrls;
use crate::platform::auth::JwtKeys;
use crate::platform::config::AuthArgs;
use crate::platform::server::DEFAULT_GRACE;
use crate::platform::service::ArgsError;

use super::oauth::{
    GITHUB_API_URL, GITHUB_AUTH_URL, GITHUB_TOKEN_URL, GOOGLE_AUTH_URL, GOOGLE_TOKEN_URL,
    GOOGLE_USERINFO_URL, OAuthProvider,
};

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// 既定のデータベースファイル (ユーザー索引)。
pub const DEFAULT_DATABASE: &str = "./data/gateway.db";
/// 既定の公開 URL (`redirect_uri` の元)。
pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:8080";
/// 既定のフロントエンドの URL。
pub const DEFAULT_FRONTEND_URL: &str = "http://localhost:3000";
/// 既定のアップロードの上限 (50 MB、コアの既定と同じ)。
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = mediahub_core::media::DEFAULT_MAX_UPLOAD_BYTES;
/// アップロードの上限に足す multipart の枠 (境界やヘッダー) の余裕 (1 MiB)。
pub const MULTIPART_OVERHEAD_BYTES: u64 = 1024 * 1024;
/// 既定の上流の応答待ち時間 (応答ヘッダーまで)。
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// 既定のアップロードの応答待ち時間 (本体を送り終えて応答ヘッダーが来るまで)。
pub const DEFAULT_UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);
/// ゲートウェイの設定。
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// 待ち受けアドレス (テストでは `127.0.0.1:0`)。
    pub listen: String,
    /// 外から見たゲートウェイの URL。`redirect_uri` は `{public_url}/auth/{provider}/callback`。
    pub public_url: String,
    /// フロントエンドの URL (ログイン後のリダイレクト先、CORS で許可するオリジン)。
    pub frontend_url: String,
    /// CORS で追加で許可するオリジン。
    pub extra_origins: Vec<String>,
    /// イベントストアの URL。
    pub eventstore_url: String,
    /// media-command の URL。
    pub media_command_url: String,
    /// media-query の URL。
    pub media_query_url: String,
    /// album の URL。
    pub album_url: String,
    /// notification の URL。
    pub notification_url: String,
    /// saga の URL。
    pub saga_url: String,
    /// JWT の鍵。
    pub keys: JwtKeys,
    /// GitHub (無ければ無効)。
    pub github: Option<OAuthProvider>,
    /// Google (無ければ無効)。
    pub google: Option<OAuthProvider>,
    /// 開発用ログインを有効にするか (既定 `false`)。
    pub dev_login: bool,
    /// アップロードの上限 (バイト)。中継する本体の上限はこれに
    /// [`MULTIPART_OVERHEAD_BYTES`] を足したもの。
    pub max_upload_bytes: u64,
    /// ユーザー索引の SQLite ファイル。
    pub database: PathBuf,
    /// 上流の応答待ち時間 (応答ヘッダーまで。SSE には適用しません)。
    pub upstream_timeout: Duration,
    /// アップロードの応答待ち時間。
    pub upload_timeout: Duration,
    /// グレースフルシャットダウンの猶予。
    pub grace: Duration,
    /// 学習用にサービスを止める・起こす窓口 (`make run` の開発モードだけ。既定 `None`)。
    pub lab_controls: Option<LabControl>,
    /// サービスの地図で UI (frontend) の状態を確かめる URL (既定 `None` = `unknown`)。
    pub frontend_probe_url: Option<String>,
}

impl GatewayConfig {
    /// データベースファイルと JWT の鍵から、ほかは既定値 (各サービスの既定のポート、
    /// OAuth2 なし、開発用ログインなし) で設定を作ります。
    #[must_use]
    pub fn new(database: impl AsRef<Path>, keys: JwtKeys) -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            public_url: DEFAULT_PUBLIC_URL.to_owned(),
            frontend_url: DEFAULT_FRONTEND_URL.to_owned(),
            extra_origins: Vec::new(),
            eventstore_url: "http://127.0.0.1:8084".to_owned(),
            media_command_url: "http://127.0.0.1:8081".to_owned(),
            media_query_url: "http://127.0.0.1:8082".to_owned(),
            album_url: "http://127.0.0.1:8083".to_owned(),
            notification_url: "http://127.0.0.1:8086".to_owned(),
            saga_url: "http://127.0.0.1:8085".to_owned(),
            keys,
            github: None,
            google: None,
            dev_login: false,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            database: database.as_ref().to_path_buf(),
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            upload_timeout: DEFAULT_UPLOAD_TIMEOUT,
            grace: DEFAULT_GRACE,
            lab_controls: None,
            frontend_probe_url: None,
        }
    }

    /// 学習用にサービスを止める・起こす窓口を渡したコピーを返します ([`lab`])。
    #[must_use]
    pub fn lab_controls(mut self, controls: Option<LabControl>) -> Self {
        self.lab_controls = controls;
        self
    }

    /// サービスの地図で UI の状態を確かめる URL を変えたコピーを返します。
    #[must_use]
    pub fn frontend_probe_url(mut self, url: impl Into<String>) -> Self {
        self.frontend_probe_url = Some(url.into());
        self
    }

    /// 待ち受けアドレスを変えたコピーを返します。
    #[must_use]
    pub fn listen(mut self, listen: impl Into<String>) -> Self {
        self.listen = listen.into();
        self
    }

    /// 公開 URL を変えたコピーを返します。
    #[must_use]
    pub fn public_url(mut self, public_url: impl Into<String>) -> Self {
        self.public_url = public_url.into();
        self
    }

    /// フロントエンドの URL を変えたコピーを返します。
    #[must_use]
    pub fn frontend_url(mut self, frontend_url: impl Into<String>) -> Self {
        self.frontend_url = frontend_url.into();
        self
    }

    /// CORS で追加で許可するオリジンを設定したコピーを返します。
    #[must_use]
    pub fn extra_origins(mut self, origins: Vec<String>) -> Self {
        self.extra_origins = origins;
        self
    }

    /// イベントストアの URL を変えたコピーを返します。
    #[must_use]
    pub fn eventstore_url(mut self, url: impl Into<String>) -> Self {
        self.eventstore_url = url.into();
        self
    }

    /// 5 つのドメインサービスの URL をまとめて変えたコピーを返します。
    #[must_use]
    pub fn service_urls(mut self, urls: &UpstreamUrls) -> Self {
        self.media_command_url.clone_from(&urls.media_command);
        self.media_query_url.clone_from(&urls.media_query);
        self.album_url.clone_from(&urls.album);
        self.notification_url.clone_from(&urls.notification);
        self.saga_url.clone_from(&urls.saga);
        self.eventstore_url.clone_from(&urls.eventstore);
        self
    }

    /// GitHub を設定したコピーを返します。
    #[must_use]
    pub fn github(mut self, provider: Option<OAuthProvider>) -> Self {
        self.github = provider;
        self
    }

    /// Google を設定したコピーを返します。
    #[must_use]
    pub fn google(mut self, provider: Option<OAuthProvider>) -> Self {
        self.google = provider;
        self
    }

    /// 開発用ログインの有効・無効を変えたコピーを返します。
    #[must_use]
    pub fn dev_login(mut self, enabled: bool) -> Self {
        self.dev_login = enabled;
        self
    }

    /// アップロードの上限を変えたコピーを返します。
    #[must_use]
    pub fn max_upload_bytes(mut self, bytes: u64) -> Self {
        self.max_upload_bytes = bytes;
        self
    }

    /// 上流の応答待ち時間を変えたコピーを返します。
    #[must_use]
    pub fn upstream_timeout(mut self, timeout: Duration) -> Self {
        self.upstream_timeout = timeout;
        self
    }

    /// アップロードの応答待ち時間を変えたコピーを返します。
    #[must_use]
    pub fn upload_timeout(mut self, timeout: Duration) -> Self {
        self.upload_timeout = timeout;
        self
    }

    /// 現在の上流の URL。
    #[must_use]
    pub fn upstream_urls(&self) -> UpstreamUrls {
        UpstreamUrls {
            media_command: self.media_command_url.clone(),
            media_query: self.media_query_url.clone(),
            album: self.album_url.clone(),
            eventstore: self.eventstore_url.clone(),
            saga: self.saga_url.clone(),
            notification: self.notification_url.clone(),
        }
    }

    /// CORS で許可するオリジン (フロントエンド、追加分、ゲートウェイ自身の公開 URL)。
    ///
    /// # エラー
    /// URL が読めなければ [`StartError::InvalidUrl`]。
    pub fn allowed_origins(&self) -> Result<Vec<String>, StartError> {
        let mut origins = Vec::new();
        let candidates = [
            ("frontend_url", &self.frontend_url),
            ("public_url", &self.public_url),
        ]
        .into_iter()
        .chain(self.extra_origins.iter().map(|o| ("extra_origins", o)));
        for (field, value) in candidates {
            let origin = origin_of(field, value)?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(origins)
    }

    pub(super) fn check_urls(&self) -> Result<(), StartError> {
        for (field, value) in [
            ("eventstore_url", &self.eventstore_url),
            ("media_command_url", &self.media_command_url),
            ("media_query_url", &self.media_query_url),
            ("album_url", &self.album_url),
            ("notification_url", &self.notification_url),
            ("saga_url", &self.saga_url),
        ] {
            origin_of(field, value)?;
        }
        Ok(())
    }
}

fn origin_of(field: &'static str, value: &str) -> Result<String, StartError> {
    let invalid = || StartError::InvalidUrl {
        field,
        value: value.to_owned(),
    };
    let url = Url::parse(value).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid());
    }
    Ok(url.origin().ascii_serialization())
}

/// GitHub と Google の OAuth2 の設定。
#[derive(Clone, clap::Args)]
pub struct OAuthArgs {
    /// GitHub OAuth App のクライアント ID (シークレットと両方あれば GitHub ログインが有効)。
    #[arg(long, env = "GITHUB_CLIENT_ID")]
    pub github_client_id: Option<String>,

    /// GitHub OAuth App のクライアントシークレット。
    #[arg(long, env = "GITHUB_CLIENT_SECRET", hide_env_values = true)]
    pub github_client_secret: Option<String>,

    /// GitHub の認可 URL。
    #[arg(long, env = "GITHUB_AUTH_URL", default_value = GITHUB_AUTH_URL)]
    pub github_auth_url: String,

    /// GitHub のトークン URL。
    #[arg(long, env = "GITHUB_TOKEN_URL", default_value = GITHUB_TOKEN_URL)]
    pub github_token_url: String,

    /// GitHub の API のベース URL。
    #[arg(long, env = "GITHUB_API_URL", default_value = GITHUB_API_URL)]
    pub github_api_url: String,

    /// Google OAuth クライアントの ID (シークレットと両方あれば Google ログインが有効)。
    #[arg(long, env = "GOOGLE_CLIENT_ID")]
    pub google_client_id: Option<String>,

    /// Google OAuth クライアントのシークレット。
    #[arg(long, env = "GOOGLE_CLIENT_SECRET", hide_env_values = true)]
    pub google_client_secret: Option<String>,

    /// Google の認可 URL。
    #[arg(long, env = "GOOGLE_AUTH_URL", default_value = GOOGLE_AUTH_URL)]
    pub google_auth_url: String,

    /// Google のトークン URL。
    #[arg(long, env = "GOOGLE_TOKEN_URL", default_value = GOOGLE_TOKEN_URL)]
    pub google_token_url: String,

    /// Google の OpenID Connect userinfo URL。
    #[arg(long, env = "GOOGLE_USERINFO_URL", default_value = GOOGLE_USERINFO_URL)]
    pub google_userinfo_url: String,
}

impl std::fmt::Debug for OAuthArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthArgs")
            .field("github_client_id", &self.github_client_id)
            .field("github_client_secret", &"<伏せ字>")
            .field("google_client_id", &self.google_client_id)
            .field("google_client_secret", &"<伏せ字>")
            .finish_non_exhaustive()
    }
}

/// ID とシークレットの両方が空でなければプロバイダーの設定を作ります。
fn provider(
    id: Option<&String>,
    secret: Option<&String>,
    make: fn(String, String) -> OAuthProvider,
    urls: (&str, &str, &str),
) -> Option<OAuthProvider> {
    let id = id.filter(|v| !v.trim().is_empty())?;
    let secret = secret.filter(|v| !v.trim().is_empty())?;
    Some(make(id.clone(), secret.clone()).urls(urls.0, urls.1, urls.2))
}

impl OAuthArgs {
    /// 有効なプロバイダー (GitHub, Google)。設定の無いほうは `None`。
    #[must_use]
    pub fn providers(&self) -> (Option<OAuthProvider>, Option<OAuthProvider>) {
        let github = provider(
            self.github_client_id.as_ref(),
            self.github_client_secret.as_ref(),
            OAuthProvider::github,
            (
                &self.github_auth_url,
                &self.github_token_url,
                &self.github_api_url,
            ),
        );
        let google = provider(
            self.google_client_id.as_ref(),
            self.google_client_secret.as_ref(),
            OAuthProvider::google,
            (
                &self.google_auth_url,
                &self.google_token_url,
                &self.google_userinfo_url,
            ),
        );
        (github, google)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        oauth: OAuthArgs,
    }

    #[test]
    fn provider_with_both_id_and_secret_is_enabled_and_without_secret_is_not() {
        let cli = Cli::parse_from([
            "x",
            "--github-client-id",
            "id",
            "--github-client-secret",
            "secret",
            "--google-client-id",
            "only-id",
        ]);
        let (github, google) = cli.oauth.providers();
        assert_eq!(github.map(|p| p.client_id), Some("id".to_owned()));
        assert!(google.is_none());
    }

    #[test]
    fn blank_id_disables_the_provider() {
        let cli = Cli::parse_from([
            "x",
            "--github-client-id",
            " ",
            "--github-client-secret",
            "secret",
        ]);
        assert!(cli.oauth.providers().0.is_none());
    }
}

/// MediaHub のゲートウェイ: OAuth2 (GitHub / Google) ログイン、JWT の発行、公開 API の中継、CORS。
#[derive(Debug, clap::Parser)]
#[command(name = "gateway", version)]
pub struct GatewayArgs {
    /// 待ち受けアドレス (例: 127.0.0.1:8080、0.0.0.0:8080)。
    #[arg(long, env = "GATEWAY_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// 外から見たゲートウェイの URL。OAuth2 の redirect_uri は {これ}/auth/{provider}/callback です。
    #[arg(long, env = "GATEWAY_PUBLIC_URL", default_value = DEFAULT_PUBLIC_URL)]
    pub public_url: String,

    /// フロントエンドの URL (ログイン後のリダイレクト先、CORS で許可するオリジン)。
    #[arg(long, env = "FRONTEND_URL", default_value = DEFAULT_FRONTEND_URL)]
    pub frontend_url: String,

    /// CORS で追加で許可するオリジン (カンマ区切り)。
    #[arg(long, env = "GATEWAY_EXTRA_ORIGINS", value_delimiter = ',')]
    pub extra_origins: Vec<String>,

    /// ユーザー索引の SQLite ファイル。無ければディレクトリごと作ります。
    #[arg(long, env = "GATEWAY_DATABASE", default_value = DEFAULT_DATABASE)]
    pub database: PathBuf,

    /// 開発用ログイン (POST /auth/dev-token) を有効にします。誰でもどのユーザーにもなれるので、
    /// 手元の開発以外では有効にしないでください。
    #[arg(long, env = "DEV_LOGIN", default_value_t = false)]
    pub dev_login: bool,

    /// アップロードの上限 (バイト)。
    #[arg(long, env = "GATEWAY_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: u64,

    /// 上流の応答待ち時間 (秒、応答ヘッダーまで。SSE には適用しません)。
    #[arg(long, env = "GATEWAY_UPSTREAM_TIMEOUT_SECS", default_value_t = 30)]
    pub upstream_timeout_secs: u64,

    /// イベントストアの URL。
    #[arg(long, env = "EVENTSTORE_URL", default_value = "http://127.0.0.1:8084")]
    pub eventstore_url: String,

    /// media-command の URL。
    #[arg(
        long,
        env = "MEDIA_COMMAND_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub media_command_url: String,

    /// media-query の URL。
    #[arg(long, env = "MEDIA_QUERY_URL", default_value = "http://127.0.0.1:8082")]
    pub media_query_url: String,

    /// album の URL。
    #[arg(long, env = "ALBUM_URL", default_value = "http://127.0.0.1:8083")]
    pub album_url: String,

    /// notification の URL。
    #[arg(
        long,
        env = "NOTIFICATION_URL",
        default_value = "http://127.0.0.1:8086"
    )]
    pub notification_url: String,

    /// saga の URL。
    #[arg(long, env = "SAGA_URL", default_value = "http://127.0.0.1:8085")]
    pub saga_url: String,

    /// OAuth2 プロバイダーの設定。
    #[command(flatten)]
    pub oauth: OAuthArgs,

    /// JWT の設定。
    #[command(flatten)]
    pub auth: AuthArgs,
}

impl GatewayArgs {
    /// 引数から設定を作ります。
    ///
    /// # エラー
    /// `JWT_SECRET` が使えなければ [`ArgsError`]。
    pub fn into_config(&self) -> Result<GatewayConfig, ArgsError> {
        let keys = self.auth.keys()?;
        let (github, google) = self.oauth.providers();
        Ok(GatewayConfig::new(&self.database, keys)
            .listen(self.listen.clone())
            .public_url(self.public_url.clone())
            .frontend_url(self.frontend_url.clone())
            .extra_origins(self.extra_origins.clone())
            .service_urls(&UpstreamUrls {
                media_command: self.media_command_url.clone(),
                media_query: self.media_query_url.clone(),
                album: self.album_url.clone(),
                eventstore: self.eventstore_url.clone(),
                saga: self.saga_url.clone(),
                notification: self.notification_url.clone(),
            })
            .github(github)
            .google(google)
            .dev_login(self.dev_login)
            .max_upload_bytes(self.max_upload_bytes)
            .upstream_timeout(Duration::from_secs(self.upstream_timeout_secs.max(1))))
    }
}
