//! アルバムサービス (ポート 8083)。
//!
//! - **書き込み側**: アルバム集約 ([`mediahub_core::album`]) へのコマンドを、中央のイベントストアの
//!   上の [`AlbumCommands`] (共通の [`AggregateCommands`](crate::store_client::AggregateCommands)) で実行します。応答の `position` は
//!   最後に書いたイベントのグローバル位置です (read-your-writes)。
//! - **読み取り側**: 購読ランナー ([`crate::consumer::Consumer`]) が Album と Media のイベントを
//!   自分の SQLite に反映します ([`projection`])。メディアの所有者もこの射影で知るので、
//!   media-command を同期的に呼ぶことはありません。
//! - **リアクター**: `MediaDeleted` / `MediaInvalidated` を見た射影が記録した予定を、コミットの後に
//!   [`reactor`] が `RemoveMedia { reason: MediaDeleted }` として実行します。
//! - **内部 API**: Saga のアルバム追加ステップ (デフォルトアルバムを必要なら作って追加) と
//!   読みモデルの作り直し ([`internal`])。
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::album::{AlbumConfig, start};
//! use mediahub_services::platform::auth::JwtKeys;
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = AlbumConfig::new("http://127.0.0.1:8084", "./data/album.db", keys)
//!     .listen("127.0.0.1:0");
//! let service = start(config).await?;
//! println!("{} (射影の位置 {})", service.base_url(), service.position());
//! service.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod config;
pub mod db;
pub mod error;
pub mod internal;
pub mod projection;
pub mod reactor;
pub mod service;
pub mod state;
pub mod view;

pub use self::api::AlbumApi;
pub use self::config::{
    AlbumArgs, AlbumConfig, AlbumService, DEFAULT_DATABASE, DEFAULT_EVENTSTORE_URL, DEFAULT_LISTEN,
};
pub use self::db::DbError;
pub use self::error::{StartError, codes};
pub use self::internal::InternalApi;
pub use self::projection::{AlbumProjection, CONSUMER_NAME};
pub use self::reactor::RemovalReactor;
pub use self::service::{AlbumHandle, AlbumReadSide, SERVICE_INFO, openapi_spec, start};
pub use self::state::{AlbumCommands, AlbumState};
pub use crate::consumer::DEFAULT_READ_WAIT;
