//! OAuth2 プロバイダーのコマンドライン引数と環境変数 (`gateway` と `mediahub run` が共有)。
//!
//! クライアント ID とシークレットの **両方** が空でないプロバイダーだけが有効になります。
//! 認可・トークン・API の URL は既定で本物の GitHub / Google を指し、テストや社内の
//! 互換サーバーに向けたいときだけ変えます。

use super::oauth::{
    GITHUB_API_URL, GITHUB_AUTH_URL, GITHUB_TOKEN_URL, GOOGLE_AUTH_URL, GOOGLE_TOKEN_URL,
    GOOGLE_USERINFO_URL, OAuthProvider,
};

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
