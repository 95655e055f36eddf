//! ドメインサービス (media-command、media-query、album、notification、saga、gateway) の
//! 結合テストで共有する補助。
//!
//! 本物のイベントストアを一時ディレクトリの上でポート 0 に起動し ([`Store`])、
//! 本物の HTTP で呼びます ([`Caller`])。モックはありません。

use std::time::Duration;

use mediahub_core::ids::UserId;
use mediahub_services::platform::auth::JwtKeys;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

pub use super::common::{status_and_json, wait_until};
pub use super::store_client::{Store, keys};

/// テストで使う待ち合わせの期限 (遅い CI でも余裕のある長さ)。
pub const DEADLINE: Duration = Duration::from_secs(20);

/// ユーザー用トークン。
pub fn user_token(keys: &JwtKeys, user: UserId) -> String {
    keys.issue_user_token(user)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// サービス用トークン。
pub fn service_token(keys: &JwtKeys, service: &str) -> String {
    keys.issue_service_token(service)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// あるベース URL を、あるトークンで呼ぶ人。
#[derive(Clone)]
pub struct Caller {
    /// HTTP クライアント。
    pub http: reqwest::Client,
    /// `http://127.0.0.1:port` の形のベース URL。
    pub base_url: String,
    /// Bearer トークン (無ければ Authorization を付けない)。
    pub token: Option<String>,
}

impl Caller {
    /// トークンつきの呼び手。
    pub fn new(base_url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            http: mediahub_services::platform::http_client::builder()
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
            base_url: base_url.into(),
            token: Some(token.into()),
        }
    }

    /// トークンなしの呼び手。
    pub fn anonymous(base_url: impl Into<String>) -> Self {
        Self {
            http: mediahub_services::platform::http_client::builder()
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
            base_url: base_url.into(),
            token: None,
        }
    }

    /// 要求を組み立てます (トークンがあれば Bearer で付けます)。
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// 組み立てた要求を送り、状態コードと JSON を返します。
    pub async fn send(&self, builder: RequestBuilder) -> (u16, Value) {
        status_and_json(builder.send().await.unwrap_or_else(|e| panic!("{e}"))).await
    }

    /// GET を送ります。
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.request(Method::GET, path)).await
    }

    /// JSON 本体つきの POST。
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// JSON 本体つきの PUT。
    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.request(Method::PUT, path).json(body)).await
    }

    /// JSON 本体つきの PATCH。
    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.request(Method::PATCH, path).json(body))
            .await
    }

    /// DELETE を送ります。
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.request(Method::DELETE, path)).await
    }
}

/// `testdata/` の下のファイルの中身。
pub fn testdata(relative: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
