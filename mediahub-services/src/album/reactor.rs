//! リアクター: 射影が記録した「メディア削除に伴うアルバムからの除去」の予定を実行します。
//!
//! 射影 ([`super::projection`]) は `MediaDeleted` / `MediaInvalidated` を見ると、読みモデルと
//! **同じトランザクションで** `pending_removals` に予定を書きます。このタスクはチェックポイントが
//! 進むたび (= 射影のコミットの後) と起動時に予定を読み、アルバムごとに
//! `RemoveMedia { reason: MediaDeleted }` を実行し、成功したら行を消します。
//!
//! - 副作用 (イベントストアへの追記) がトランザクションの外にあるので、射影の再試行が
//!   副作用を繰り返すことはありません。
//! - コマンドと行の削除の間で落ちても、再起動でもう一度実行するだけです。`RemoveMedia`
//!   (理由 `MediaDeleted`) は冪等なので二度目は何も書きません (少なくとも一回)。
//! - 一時的な失敗 (イベントストアが落ちている) は行を残し、待ち時間を延ばしながら再試行します。

use std::sync::Arc;
use std::time::Duration;

use mediahub_core::album::{AlbumCommand, RemovalReason};
use mediahub_core::envelope::EventMetadata;
use mediahub_core::ids::CorrelationId;
use sqlx::SqlitePool;
use tokio::sync::watch;

use super::db::{self, DbError, PendingRemoval};
use super::state::AlbumCommands;
use crate::platform::server::Shutdown;
use crate::store_client::CommandError;

/// 1 回に読む予定の件数。
const BATCH: u32 = 100;
/// 失敗後の最初の待ち時間。
const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
/// 失敗後の待ち時間の上限。
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// 1 回の実行の結果。
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// 実行して行を消した件数。
    pub done: u64,
    /// 一時的に失敗して残した件数。
    pub failed: u64,
}

/// 予定を実行するリアクター。
#[derive(Debug, Clone)]
pub struct RemovalReactor {
    pool: SqlitePool,
    commands: Arc<AlbumCommands>,
}

impl RemovalReactor {
    /// 読みモデルとコマンドの窓口から作ります。
    #[must_use]
    pub fn new(pool: SqlitePool, commands: Arc<AlbumCommands>) -> Self {
        Self { pool, commands }
    }

    /// いまある予定をすべて実行します。
    ///
    /// # エラー
    /// 予定の表を読み書きできなければ [`DbError`]。
    pub async fn drain(&self) -> Result<DrainReport, DbError> {
        let mut report = DrainReport::default();
        loop {
            let batch = db::pending_removals(&self.pool, BATCH).await?;
            let full = batch.len() >= BATCH as usize;
            let mut progressed = false;
            for removal in batch {
                if self.execute(&removal).await {
                    db::delete_pending(&self.pool, removal.album_id, removal.media_id).await?;
                    report.done += 1;
                    progressed = true;
                } else {
                    report.failed += 1;
                }
            }
            if !full || !progressed {
                return Ok(report);
            }
        }
    }

    /// 1 件を実行します。行を消してよければ `true`。
    async fn execute(&self, removal: &PendingRemoval) -> bool {
        let mut metadata = EventMetadata::correlated(
            removal
                .correlation_id
                .map_or_else(CorrelationId::new_time_ordered, CorrelationId::from_uuid),
        )
        .caused_by(removal.cause_event_id);
        metadata.user_id = removal.user_id;
        let command = AlbumCommand::RemoveMedia {
            requested_by: removal.owner_id,
            media_id: removal.media_id,
            reason: RemovalReason::MediaDeleted,
        };
        match self
            .commands
            .execute(
                &removal.album_id.to_string(),
                None,
                || command.clone(),
                &metadata,
            )
            .await
        {
            Ok(outcome) => {
                let position = outcome.position();
                tracing::info!(
                    album_id = %removal.album_id,
                    media_id = %removal.media_id,
                    position,
                    "削除されたメディアをアルバムから外しました"
                );
                true
            }
            Err(CommandError::Rule(rule)) => {
                // 理由 MediaDeleted の除去は業務ルールで拒否されない。万一拒否されても、
                // 再試行しても結果は同じなので記録して予定を消します。
                tracing::error!(
                    album_id = %removal.album_id,
                    media_id = %removal.media_id,
                    error = %rule,
                    "メディアの除去が拒否されました。予定を破棄します"
                );
                true
            }
            Err(error) => {
                tracing::warn!(
                    album_id = %removal.album_id,
                    media_id = %removal.media_id,
                    %error,
                    "メディアの除去に失敗しました。後で再試行します"
                );
                false
            }
        }
    }

    /// 停止の合図まで、起動時とチェックポイントが進むたびに予定を実行し続けます。
    /// 失敗があれば、待ち時間を延ばしながら (チェックポイントが進まなくても) 再試行します。
    pub async fn run(self, mut positions: watch::Receiver<u64>, shutdown: Shutdown) {
        let mut backoff: Option<Duration> = None;
        loop {
            positions.borrow_and_update();
            let failed = match self.drain().await {
                Ok(report) => report.failed > 0,
                Err(error) => {
                    tracing::warn!(%error, "除去の予定を読めません。後で再試行します");
                    true
                }
            };
            backoff = failed
                .then(|| backoff.map_or(INITIAL_BACKOFF, |d| d.saturating_mul(2).min(MAX_BACKOFF)));
            let retry = async {
                match backoff {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = shutdown.wait() => return,
                changed = positions.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = retry => {}
            }
        }
    }
}
