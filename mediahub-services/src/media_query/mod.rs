//! media-query サービス (ポート 8082、[アーキテクチャ §1](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#1-全体像)、[アーキテクチャ §7](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#7-コンシューマチェックポイントread-your-writes)): メディアの読み取り側 (CQRS の Q)。
//!
//! イベントストアのグローバルログから Media 集約のイベントだけを購読し
//! ([`crate::consumer::Consumer`])、自分専用の SQLite の読みモデルを作ります
//! ([`projection::MediaProjection`])。読みモデルへの書き込みとチェックポイントは同じ
//! トランザクションでコミットされるので、反映はちょうど一回です。
//!
//! - `GET /api/v1/media` — 自分のメディアの一覧 (新しい順、カーソル、`kind`・`status`・
//!   ファイル名の全文検索 `q`)
//! - `GET /api/v1/media/{id}` — 1 件
//! - `GET /api/v1/media/{id}/history` — イベントストアのイベントをコアの集約で畳み込んだ、
//!   各版の時点の状態 (タイムトラベル)
//! - `POST /internal/v1/rebuild` — 読みモデルを位置 0 から作り直す (サービス用トークン)
//!
//! 一覧と詳細は `min_position` を受け付け、読みモデルがその位置に届くまで (最長
//! [`MediaQueryConfig::read_wait`]) 待ちます (read-your-writes)。
//!
//! `/ready` は、起動した時点のログの先頭まで一度追いついてから 200 になります
//! (イベントストアに届かない間は 503 のままで、届けばすぐ追いつきます)。
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::media_query::{MediaQueryConfig, start};
//! use mediahub_services::platform::auth::JwtKeys;
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = MediaQueryConfig::new("http://127.0.0.1:8084", "./data/media-query.db", keys)
//!     .listen("127.0.0.1:0");
//! let service = start(config).await?;
//! println!("{} (位置 {})", service.base_url(), service.position());
//! service.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod config;
pub mod db;
pub mod error;
pub mod history;
pub mod internal;
pub mod projection;
pub mod search;
pub mod service;
pub mod state;
pub mod view;

pub use self::api::MediaQueryApi;
pub use self::config::{
    DEFAULT_DATABASE, DEFAULT_EVENTSTORE_URL, DEFAULT_LISTEN, MediaQueryArgs, MediaQueryConfig,
    MediaQueryService,
};
pub use self::error::{QueryError, StartError, codes};
pub use self::history::{HistoryEntry, MediaHistory};
pub use self::internal::InternalApi;
pub use self::projection::{CONSUMER_NAME, MediaProjection};
pub use self::service::{MediaQueryHandle, SERVICE_INFO, openapi_spec, start};
pub use self::state::QueryState;
pub use self::view::{MediaPage, MediaView};
pub use crate::consumer::DEFAULT_READ_WAIT;
