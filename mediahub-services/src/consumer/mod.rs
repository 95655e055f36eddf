//! プロジェクションとリアクターが共通で使う購読ランナーと、読み側のサービスが共有する設定 ([`ReadSideConfig`])。
//!
//! 購読者 (コンシューマ) は名前と自分専用の SQLite を持ちます。ランナー [`Consumer`] は
//!
//! 1. その SQLite の `checkpoints` 表から、処理済みのグローバル位置を読み、
//! 2. イベントストアのグローバルログをその位置からロングポーリングで読み
//!    (決まった間隔のポーリングはしない。コミットされればすぐ起きる)、
//! 3. イベントを位置の順にハンドラ ([`EventHandler`]) へ渡し、
//! 4. ハンドラの書き込みと **同じトランザクションで** チェックポイントを進めてコミットします。
//!
//! これにより読みモデル (購読者のローカル状態) への反映は **ちょうど一回** になります。
//! ハンドラとコミットの間で落ちても、トランザクションごと消えて次の起動でやり直すだけです。
//! 外部に副作用を起こすリアクター (Saga) は同じランナーで **少なくとも一回** になり、
//! 呼び先のコマンドの冪等性に頼ります。
//!
//! 止まっていた購読者は起動すれば続きから追いつき、[`Consumer::rebuild`] で読みモデルを
//! 位置 0 から作り直せます。クエリ側は [`Consumer::subscribe`] と [`wait_for_position`] で
//! コマンドが返した位置 (`min_position`) まで読みモデルが進むのを待てます (read-your-writes)。
//!
//! ```no_run
//! # async fn demo(client: mediahub_services::store_client::EventStoreClient)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//!
//! use mediahub_core::envelope::Envelope;
//! use mediahub_services::consumer::{
//!     Consumer, ConsumerConfig, EventHandler, HandlerError, open_database, wait_for_position,
//! };
//! use mediahub_services::platform::server::Shutdown;
//! use sqlx::SqliteConnection;
//!
//! struct Projection;
//!
//! impl EventHandler for Projection {
//!     async fn handle(&self, tx: &mut SqliteConnection, e: &Envelope) -> Result<(), HandlerError> {
//!         sqlx::query("INSERT INTO seen (event_id) VALUES (?)")
//!             .bind(e.id.to_string())
//!             .execute(&mut *tx)
//!             .await?;
//!         Ok(())
//!     }
//!
//!     async fn reset(&self, tx: &mut SqliteConnection) -> Result<(), HandlerError> {
//!         sqlx::query("DELETE FROM seen").execute(&mut *tx).await?;
//!         Ok(())
//!     }
//! }
//!
//! let pool = open_database("./data/media-query.db".as_ref()).await?;
//! let consumer =
//!     Consumer::open("media-query", pool, client, Projection, ConsumerConfig::default()).await?;
//! let positions = consumer.subscribe(); // クエリのエンドポイントの状態に入れる
//! let shutdown = Shutdown::new();
//! let task = consumer.spawn({
//!     let shutdown = shutdown.clone();
//!     async move { shutdown.wait().await }
//! });
//! // クエリ: `min_position` まで (最長 2 秒) 待ってから読みモデルを読む
//! wait_for_position(positions.clone(), 42, Duration::from_secs(2)).await?;
//! shutdown.trigger();
//! task.await?;
//! # Ok(()) }
//! ```

mod api;
mod checkpoint;
mod handler;
mod read_side;
mod ready;
mod runner;
mod status;
#[cfg(test)]
pub(crate) mod test_log;
mod wait;

use std::path::Path;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use api::{ProjectionApi, rebuild_problem};
pub use handler::{EventFilter, EventHandler, HandlerError, PageError};
pub use read_side::{DEFAULT_READ_WAIT, ReadSideConfig, ReadSideService};
pub use ready::ready_after_catch_up;
pub use runner::{
    Consumer, ConsumerConfig, ConsumerError, MAX_LONG_POLL, MAX_PAGE_SIZE, RebuildProgress,
};
pub use status::{ProjectionStatus, RebuildResult, projection_status};
pub use wait::{NOT_CAUGHT_UP, PositionWaiter, WaitError, wait_for_position, wait_problem};

/// 購読者用の SQLite を開きます (なければ作成、WAL、`synchronous = NORMAL`、外部キー有効、
/// ロック待ち 5 秒)。
///
/// プールは接続を貸す前の確認 (`test_before_acquire`、sqlx の既定は有効) をしません。SQLite の
/// 確認は接続のスレッドとの空の往復で、手元のファイルへの接続は途中で切れないので、問い合わせごとに
/// 往復が 1 回増えるだけです (壊れた接続なら、その問い合わせがエラーになります)。
///
/// # エラー
/// 開けなければ `sqlx::Error`。
pub async fn open_database(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(4)
        .test_before_acquire(false)
        .connect_with(options)
        .await
}
