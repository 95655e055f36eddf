//! フロントエンドサービス (ポート 3000)。
//!
//! `web/` のデバッグ UI (HTML・CSS・JavaScript モジュール、ビルド手順なし) を配るだけの
//! 小さなサービスです。UI はゲートウェイだけを呼びます。ゲートウェイの URL は実行時に
//! `runtime-config.js` で渡すので、テストで一時的なポートを使っても UI を書き換える必要は
//! ありません ([`assets`])。
//!
//! 形はほかのサービスと同じです (`config.rs`・`state.rs`・`api.rs`・`error.rs`・`service.rs`)。
//! API を持たないので OpenAPI 文書はなく、`/health` と `/ready` だけを足します。データベースも
//! 持たないので `db.rs` はありません。
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::frontend::{FrontendConfig, start};
//!
//! let config = FrontendConfig::new("./web", "http://localhost:8080").listen("127.0.0.1:0");
//! let frontend = start(config).await?;
//! println!("{}", frontend.base_url());
//! frontend.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod assets;
pub mod config;
pub mod error;
pub mod service;
pub mod state;

pub use self::config::{
    DEFAULT_LISTEN, DEFAULT_WEB_DIR, FrontendArgs, FrontendConfig, SERVICE_NAME,
};
pub use self::error::StartError;
pub use self::service::{FrontendHandle, SERVICE_INFO, start, start_on};
pub use self::state::FrontendState;
