//! ゲートウェイ (ポート 8080、[アーキテクチャ §1](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#1-全体像)、[アーキテクチャ §10](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#10-セキュリティの概要)): システムへの唯一の入口。
//!
//! - **ログイン**: GitHub と Google の OAuth2 (認可コード + PKCE S256、ブラウザーに結び付けた
//!   `state`、正確な `redirect_uri`)。成功したら JWT (HS256、1 時間) を発行し、
//!   フロントエンドへ `#token=<JWT>` (URL のフラグメントだけ) でリダイレクトします。
//!   初回ログインで `UserRegistered` を追記します ([`users`])。開発用ログイン
//!   (`POST /auth/dev-token`) は設定で有効にしたときだけ使えます。
//! - **中継**: 経路表 ([`routes::ROUTES`]) にある公開パスだけを上流のサービスへ流したまま
//!   中継します ([`proxy`])。ユーザー用 JWT を先に検証し、クライアントの `X-User-ID` と
//!   ホップバイホップのヘッダーを取り除き、リクエスト ID と相関 ID を付けます。
//!   `/internal/...` は決して中継しません。
//! - **CORS**: 設定したフロントエンドのオリジンだけを許可します ([`app::cors`])。
//! - **文書**: `/openapi.json` と `/swagger` が公開 API 全体を 1 か所で説明します ([`openapi`])。
//!
//! 形は全サービス共通の **config → state → routes → run** です:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::gateway::{GatewayConfig, start};
//! use mediahub_services::platform::auth::JwtKeys;
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = GatewayConfig::new("./data/gateway.db", keys)
//!     .listen("127.0.0.1:0")
//!     .dev_login(true);
//! let gateway = start(config).await?;
//! println!("{}", gateway.base_url());
//! gateway.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod app;
pub mod config;
pub mod db;
pub mod error;
pub mod lab;
pub mod oauth;
pub mod openapi;
pub mod pending;
pub mod profile;
pub mod proxy;
pub mod routes;
pub mod service;
pub mod state;
pub mod users;
pub mod view;

pub use self::api::GatewayApi;
pub use self::config::{
    DEFAULT_DATABASE, DEFAULT_FRONTEND_URL, DEFAULT_LISTEN, DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_PUBLIC_URL, DEFAULT_UPLOAD_TIMEOUT, DEFAULT_UPSTREAM_TIMEOUT, GatewayArgs,
    GatewayConfig, MULTIPART_OVERHEAD_BYTES, OAuthArgs,
};
pub use self::error::{OAuthConfigError, RequestError, StartError, codes};
pub use self::lab::{LabAction, LabApi, LabControl, LabFailure, LabRequest, LabService, LabState};
pub use self::oauth::{OAuthClients, OAuthProvider, ProviderKind};
pub use self::profile::Profile;
pub use self::proxy::{Proxy, ProxySettings, UpstreamUrls};
pub use self::routes::{ROUTES, RouteKind, RouteRule, Upstream};
pub use self::service::{GatewayHandle, SERVICE_INFO, start, start_on};
pub use self::state::GatewayState;
