//! MediaHub のサービス層。
//!
//! `mediahub-core` の純粋なドメインを、SQLite のイベントストアと HTTP (poem + poem-openapi)
//! につなぐ薄いシェルです。すべてのサービスは同じ形をしています:
//! **config → state → routes → run**。
//!
//! - [`platform`] — 全サービス共通の部品 (JWT 検証、problem+json、ログ、起動と停止)
//! - [`eventstore`] — イベントストアサービス (ポート 8084)
//! - [`store_client`] — イベントストアへの HTTP クライアントと `cqrs-es` のリポジトリ実装
//! - [`consumer`] — プロジェクション / リアクター共通の購読ランナー

pub mod consumer;
pub mod eventstore;
pub mod platform;
pub mod store_client;
