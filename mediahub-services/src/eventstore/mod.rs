//! イベントストアサービス (ポート 8084、[アーキテクチャ §6](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#6-イベントストアとグローバルログ))。
//!
//! すべての状態変化 (イベント) を保存する中央のストアです。
//!
//! - **ストリーム**: 集約 (`aggregate_type` と `aggregate_id` の組) ごとのイベント列。
//!   版 (`version`) は 1, 2, 3 … と隙間なく並びます。追記は **楽観的並行性制御** で、
//!   呼び出し側が期待する版と現在の版が違えば 409 になり、何も書かれません。
//! - **グローバルログ**: すべてのイベントをコミット順に並べた 1 本の列。位置 (`position`) は
//!   1 から隙間なく増えます。プロジェクションやリアクターはこれを先頭から順に読みます。
//! - **購読**: ロングポーリング (`wait_ms`) と Server-Sent Events。どちらもコミットの瞬間に
//!   起こされるので、ポーリング間隔はありません。
//!
//! 保存先は SQLite (WAL) で、`events` / `snapshots` テーブルは sqlite-es と同じ列名です
//! (sqlite-es の `SqliteEventRepository` でそのまま読めます)。書き込みは 1 本の書き込みタスクが
//! グループコミットで行います ([`writer`])。
//!
//! 形は全サービス共通の **config → state → routes → run** です:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::eventstore::{EventStoreConfig, start};
//! use mediahub_services::platform::auth::JwtKeys;
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = EventStoreConfig::new("./data/eventstore.db", keys).listen("127.0.0.1:0");
//! let service = start(config).await?;
//! println!("{}", service.base_url());
//! service.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod config;
pub mod db;
pub mod error;
pub mod log;
pub mod service;
pub mod state;
pub mod view;
pub mod writer;

pub use self::api::EventStoreApi;
pub use self::config::{DEFAULT_DATABASE, DEFAULT_LISTEN, EventStoreArgs, EventStoreConfig};
pub use self::db::{Durability, LogFilter, StoreLocation, StreamKey};
pub use self::error::{StartError, StoreError, codes};
pub use self::service::{EventStoreHandle, SERVICE_INFO, openapi_spec, start};
pub use self::state::StoreState;
pub use self::writer::{AppendOutcome, AppendRequest, SnapshotWrite, WriterHandle};
