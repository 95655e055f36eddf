//! プロバイダからのプロフィールの取得 (GitHub の REST API と Google の OpenID Connect userinfo)。

use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::error::RequestError;

/// GitHub が要求する `User-Agent`。
const USER_AGENT: &str = "mediahub-gateway";

async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    access_token: &str,
    what: &str,
) -> Result<T, RequestError> {
    let response = http
        .get(url)
        .bearer_auth(access_token)
        .header(reqwest::header::ACCEPT, "application/json")
        .header(reqwest::header::USER_AGENT, USER_AGENT)
        .send()
        .await
        .map_err(|e| RequestError::OAuthProvider(format!("{what}: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(RequestError::OAuthProvider(format!(
            "{what}: 状態 {status}"
        )));
    }
    response
        .json::<T>()
        .await
        .map_err(|e| RequestError::OAuthProvider(format!("{what}: {e}")))
}

#[derive(Debug, Deserialize)]
struct GitHubUser {
    id: u64,
    login: String,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GitHubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

/// プロバイダから得た利用者のプロフィール。
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// プロバイダ上の利用者 ID (GitHub の数値 ID、Google の `sub`)。
    pub provider_user_id: String,
    /// 検証済みのメールアドレス (無ければ `None`)。
    pub email: Option<String>,
    /// 表示名。
    pub display_name: String,
}

/// GitHub: `GET {api}/user` と `GET {api}/user/emails` (主で検証済みのメールだけを採用)。
///
/// # エラー
/// 取得に失敗すれば [`RequestError::OAuthProvider`]。
pub async fn github(
    http: &reqwest::Client,
    api: &Url,
    access_token: &str,
) -> Result<Profile, RequestError> {
    let base = api.as_str().trim_end_matches('/');
    let user: GitHubUser =
        get_json(http, &format!("{base}/user"), access_token, "GitHub /user").await?;
    let emails: Vec<GitHubEmail> = get_json(
        http,
        &format!("{base}/user/emails"),
        access_token,
        "GitHub /user/emails",
    )
    .await?;
    let email = emails
        .into_iter()
        .find(|e| e.primary && e.verified)
        .map(|e| e.email);
    let display_name = user
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(user.login);
    Ok(Profile {
        provider_user_id: user.id.to_string(),
        email,
        display_name,
    })
}

#[derive(Debug, Deserialize)]
struct GoogleUserInfo {
    sub: String,
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    name: Option<String>,
}

/// Google: OpenID Connect の userinfo (`email_verified` が真のときだけメールを採用)。
///
/// # エラー
/// 取得に失敗すれば [`RequestError::OAuthProvider`]。
pub async fn google(
    http: &reqwest::Client,
    userinfo: &Url,
    access_token: &str,
) -> Result<Profile, RequestError> {
    let info: GoogleUserInfo =
        get_json(http, userinfo.as_str(), access_token, "Google userinfo").await?;
    if info.sub.trim().is_empty() {
        return Err(RequestError::OAuthProvider(
            "Google userinfo: sub が空です".into(),
        ));
    }
    let email = info.email.filter(|_| info.email_verified);
    let display_name = info
        .name
        .filter(|n| !n.trim().is_empty())
        .or_else(|| email.clone())
        .unwrap_or_else(|| info.sub.clone());
    Ok(Profile {
        provider_user_id: info.sub,
        email,
        display_name,
    })
}
