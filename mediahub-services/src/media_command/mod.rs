//! media-command サービス (ポート 8081、[アーキテクチャ §1](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#1-全体像)、[アーキテクチャ §8](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#8-メディアアップロード-saga)、[アーキテクチャ §10](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#10-セキュリティの概要)): メディアの書き込み側。
//!
//! - **アップロード** (`POST /api/v1/media`): マルチパートの `file` を流したままディスクに書き、
//!   サイズ上限・マジックバイトを確かめてから `MediaUploaded` を記録します ([`upload`])。
//! - **削除・ファイル取得** (`/api/v1/media/{id}`…): 所有者だけ ([`api`])。
//! - **処理と補償** (`/internal/v1/media/{id}/…`、サービス用トークン): Saga から呼ばれ、
//!   サムネイルを作る (`MediaProcessed` / `MediaProcessingFailed`)、ファイルを消す
//!   (`MediaDeleted`、理由 compensation)、無効化する (`MediaInvalidated`) ([`internal`])。
//!
//! 状態はすべてイベントストアにあります。コマンドは `CqrsFramework` を
//! [`RemoteEventRepository`](crate::store_client::RemoteEventRepository) の上で実行し
//! ([`commands`])、所有者の確認も集約をイベントから組み立てて行います (読み取りモデルは持ちません)。
//! ファイルは `storage_dir` の下にメディア ID だけから作ったパスで置きます ([`storage`])。
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::media_command::{MediaCommandConfig, start};
//! use mediahub_services::platform::auth::JwtKeys;
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = MediaCommandConfig::new("http://127.0.0.1:8084", "./data/media", keys)
//!     .listen("127.0.0.1:0")
//!     .fault_injection(true);
//! let service = start(config).await?;
//! println!("{}", service.base_url());
//! service.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod commands;
pub mod config;
pub mod error;
pub mod internal;
pub mod processing;
pub mod service;
pub mod state;
pub mod storage;
pub mod upload;
pub mod video;
pub mod view;

pub use self::api::MediaApi;
pub use self::commands::MediaCommands;
pub use self::config::{
    DEFAULT_EVENTSTORE_URL, DEFAULT_LISTEN, DEFAULT_STORAGE_DIR, MediaCommandArgs,
    MediaCommandConfig,
};
pub use self::error::{StartError, codes};
pub use self::internal::InternalApi;
pub use self::service::{MediaCommandHandle, SERVICE_INFO, SERVICE_NAME, openapi_spec, start};
pub use self::state::{MediaCommandState, SharedState};
pub use self::storage::Storage;
pub use self::upload::UploadApi;
