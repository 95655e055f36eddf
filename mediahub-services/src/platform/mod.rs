//! 全サービス共通の部品 (プラットフォーム)。
//!
//! どのサービスも同じ形 **config → state → routes → run** で書けるように、次の部品を提供します。
//!
//! - [`auth`]: JWT (HS256) の発行と検証、poem-openapi のセキュリティスキーム、
//!   サービスロールの要求、`X-User-ID` の扱い
//! - [`problem`]: RFC 9457 `application/problem+json` のエラー応答と、
//!   poem / poem-openapi 自身のエラーを problem+json に変換するミドルウェア
//! - [`telemetry`]: `tracing` の初期化とリクエスト ID ミドルウェア
//! - [`server`]: リスナーの束縛、`/health`・`/ready`・`/openapi.json`・`/swagger` を含む
//!   アプリケーションの組み立て、グレースフルシャットダウン付きの起動と停止
//! - [`request`]: 型付きの取り出し [`request::ActingUser`] と [`request::CommandContext`]
//!   (利用者・相関 ID・因果 ID・冪等性キー。ヘッダーは OpenAPI 文書に載ります)
//! - [`metadata`]: 要求のヘッダー (相関 ID・因果 ID・冪等性キー) からイベントのメタデータを作る
//! - [`config`]: clap で共有する設定項目 (JWT 秘密鍵など)
//! - [`http_client`]: サービス間の呼び出し用の HTTP クライアント (https の相手がいるときだけ TLS のルート証明書を読む)
//! - [`openapi`]: 状態なしで API 型から文書を作る [`openapi::SpecOnly`] と、405 に `Allow` を付けるミドルウェア
//! - [`paging`]: `next_cursor` / `cursor` による一覧のページ送りのカーソル
//! - [`schema`]: `mediahub-core` のエンベロープ型を poem-openapi で扱うためのラッパー
//! - [`service`]: どのサービスも同じ形の起動 ([`service::Launch`])・取っ手 ([`service::ServiceHandle`])・
//!   バイナリの入口 ([`service::run_service`])
//! - [`cli`]: サービスのバイナリの `main` に共通する部品 (失敗の表示、待ち受けの一行、
//!   シグナルで止まるまでの実行と終了コード)

pub mod auth;
pub mod cli;
pub mod concurrency;
pub mod config;
pub mod http_client;
pub mod metadata;
pub mod openapi;
pub mod paging;
pub mod problem;
pub mod request;
pub mod schema;
pub mod server;
pub mod service;
pub mod telemetry;
