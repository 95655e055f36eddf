//! gateway (8080) のテスト: 認証、OAuth2、中継、セキュリティの表。

mod auth;
mod oauth;
mod proxy;
mod security;
