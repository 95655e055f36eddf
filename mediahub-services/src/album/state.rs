//! 公開 API と内部 API が共有する状態 ([`AlbumState`])。

use std::sync::Arc;
use std::time::Duration;

use mediahub_core::album::AlbumCommand;
use mediahub_core::envelope::EventMetadata;
use mediahub_core::ids::AlbumId;
use sqlx::SqlitePool;

use super::projection::AlbumProjection;
use crate::consumer::{Consumer, PositionWaiter, wait_problem};
use crate::platform::problem::Problem;
use crate::store_client::{AggregateCommands, CommandOutcome};

/// アルバム集約へのコマンドの窓口。
pub type AlbumCommands = AggregateCommands<mediahub_core::album::Album>;

/// 公開 API と内部 API が共有する状態。
#[derive(Debug)]
pub struct AlbumState {
    /// 読みモデル。
    pub pool: SqlitePool,
    /// コマンドの窓口。
    pub commands: Arc<AlbumCommands>,
    /// 射影の購読ランナー。
    pub consumer: Consumer<AlbumProjection>,
    /// 射影のチェックポイント。
    pub positions: PositionWaiter,
    /// `min_position` を待つ最長の時間。
    pub read_wait: Duration,
}

impl AlbumState {
    /// 射影が `min_position` に届くまで (最長 `read_wait`) 待ちます。
    ///
    /// # エラー
    /// 届かなければ 503 `read_model.not_caught_up`。
    pub async fn caught_up(&self, min_position: Option<u64>) -> Result<(), Problem> {
        self.positions
            .wait(min_position, self.read_wait)
            .await
            .map(drop)
            .map_err(|e| wait_problem(&e))
    }

    /// コマンドを実行して結果 (位置と新しい版) を返します。
    ///
    /// `expected_version` が `Some` なら、アルバムの版がそれと同じときだけ実行します (`If-Match`)。
    ///
    /// # エラー
    /// [`CommandError::problem`](crate::store_client::CommandError::problem) の problem
    /// (業務ルール違反はその `code`、衝突や 412 は全サービス共通の形)。
    pub async fn execute(
        &self,
        album: AlbumId,
        expected_version: Option<u64>,
        command: AlbumCommand,
        metadata: &EventMetadata,
    ) -> Result<CommandOutcome, Problem> {
        self.commands
            .execute(
                &album.to_string(),
                expected_version,
                || command.clone(),
                metadata,
            )
            .await
            .map_err(|e| e.problem())
    }
}
