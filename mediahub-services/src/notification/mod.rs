//! 通知サービス (ポート 8086、[アーキテクチャ §1](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#1-全体像))。
//!
//! イベント駆動の通知です。Saga の最後のステップが内部 API で通知を送り、利用者は公開 API で
//! 自分の通知を読み、既読にし、Server-Sent Events で新しい通知をすぐに受け取ります。
//!
//! - **コマンド側**: [`NotificationCommands`] (共通の [`AggregateCommands`]) がコマンドを
//!   実行します。イベント (`NotificationSent` / `NotificationRead`) は中央のイベントストアに
//!   書かれ、応答はその位置 (`position`) を返します。通知 ID は Saga から決まるので、再送しても
//!   一通だけです (冪等)。
//! - **読み側**: 購読ランナー ([`crate::consumer::Consumer`]) が `Notification` のイベントを
//!   自分の SQLite の `notifications` 表 ([`projection`]) に反映します。クエリは `min_position`
//!   まで待てます (read-your-writes)。
//! - **ライブ配信**: プロジェクションがコミットするとチェックポイントの `watch` が進み、
//!   SSE の接続ごとにそのユーザーの新しい通知を読みモデルから読んで流します ([`stream`])。
//!
//! 形は全サービス共通の **config → state → routes → run** です:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::notification::{NotificationConfig, start};
//! use mediahub_services::platform::auth::JwtKeys;
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = NotificationConfig::new("http://127.0.0.1:8084", "./data/notification.db", keys)
//!     .listen("127.0.0.1:0");
//! let service = start(config).await?;
//! println!("{} (読みモデルの位置 {})", service.base_url(), service.position());
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
pub mod service;
pub mod state;
pub mod stream;
pub mod view;

pub use self::api::NotificationApi;
pub use self::config::{
    DEFAULT_DATABASE, DEFAULT_EVENTSTORE_URL, DEFAULT_LISTEN, NotificationArgs, NotificationConfig,
    NotificationService,
};
pub use self::error::{ApiError, StartError, codes};
pub use self::internal::InternalApi;
pub use self::projection::NotificationProjection;
pub use self::service::{NotificationHandle, SERVICE_INFO, SERVICE_NAME, openapi_spec, start};
pub use self::state::{NotificationCommands, NotificationState};
pub use self::view::{ApiNotificationKind, NotificationView};
pub use crate::consumer::DEFAULT_READ_WAIT;
