//! saga サービス (ポート 8085、[アーキテクチャ §7](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#7-コンシューマチェックポイントread-your-writes)、[アーキテクチャ §8](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#8-メディアアップロード-saga)): メディアアップロード Saga のオーケストレーター。
//!
//! Saga そのもの (状態・判断・再試行の方針) は `mediahub_core::saga` の純粋なコードです。
//! このサービスはそれを動かす殻で、四つの部品からできています。
//!
//! - **リアクター** ([`reactor`]): イベントストアのグローバルログを購読し (1 ページ 1 件)、
//!   Saga に関係するドメインイベントを `React(input)` として Saga 集約に実行します。
//!   チェックポイントはコマンドの **後で** コミットされるので、実行は「少なくとも一回」です。
//!   Saga の判断関数は重複・古い入力を無視するので、再配信されても Saga のイベントは増えません。
//! - **実行役** ([`executor`]): Saga の状態が変わるたびに「実行中の試行」の行動を参加者
//!   (media-command・album・notification) の内部 API に HTTP で送ります ([`participants`])。
//!   失敗は `StepAttemptFailed` として Saga に戻し、再試行か補償かは Saga が決めます。
//! - **読みモデル** ([`projection`]): `Saga` 集約のイベントから `sagas` と `saga_steps` を作ります。
//! - **API** ([`api`]): 自分の Saga の一覧と、タイムライン付きの詳細。
//!
//! 起動時には読みモデルを追いつかせ、終端でない Saga すべての実行中の試行をやり直します
//! (再起動の前に送りかけていた依頼の再駆動。受け手は冪等なので二重には実行されません)。
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::platform::auth::JwtKeys;
//! use mediahub_services::saga::{SagaConfig, start};
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = SagaConfig::new("./data/saga.db", keys)
//!     .eventstore_url("http://127.0.0.1:8084")
//!     .listen("127.0.0.1:0");
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
pub mod executor;
pub mod internal;
pub mod participants;
pub mod projection;
pub mod reactor;
pub mod runtime;
pub mod service;
pub mod state;
pub mod view;

pub use self::api::SagaApi;
pub use self::config::{
    DEFAULT_ALBUM_URL, DEFAULT_DATABASE, DEFAULT_EVENTSTORE_URL, DEFAULT_LISTEN,
    DEFAULT_MEDIA_COMMAND_URL, DEFAULT_NOTIFICATION_URL, SagaArgs, SagaConfig, SagaPolicyArgs,
    SagaPolicyArgsError, SagaService,
};
pub use self::error::{ApiError, StartError, codes};
pub use self::internal::InternalApi;
pub use self::participants::ParticipantsError;
pub use self::projection::SagaView;
pub use self::reactor::SagaReactor;
pub use self::service::{
    REACTOR_NAME, SERVICE_INFO, SagaHandle, SagaParts, VIEW_NAME, openapi_spec, start,
};
pub use self::state::ApiState;
pub use self::view::{SagaDetail, SagaList, SagaStepView, SagaSummary};
pub use crate::consumer::DEFAULT_READ_WAIT;
