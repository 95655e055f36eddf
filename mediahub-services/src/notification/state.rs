//! API が共有する状態 [`NotificationState`] と、その上の操作 (コマンドとクエリ)。

use std::time::Duration;

use mediahub_core::envelope::EventMetadata;
use mediahub_core::ids::{MediaId, NotificationId, SagaId, UserId};
use mediahub_core::notification::NotificationCommand;
use sqlx::SqlitePool;
use tokio::sync::watch;

use super::db;
use super::error::ApiError;
use super::projection::NotificationProjection;
use super::view::{ApiNotificationKind, NotificationView};
use crate::consumer::Consumer;
use crate::platform::paging::Cursor;
use crate::platform::server::Shutdown;
use crate::platform::service::Checkpointed;
use crate::store_client::AggregateCommands;

/// 通知を送るコマンドの中身 (内部 API の本体から作ります)。
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendNotification {
    /// 通知 ID (Saga は `NotificationId::for_saga` で決めます)。
    pub notification_id: NotificationId,
    /// 宛先ユーザー。
    pub user_id: UserId,
    /// 種類。
    pub kind: ApiNotificationKind,
    /// 本文。
    pub message: String,
    /// 関係するメディア。
    pub media_id: Option<MediaId>,
    /// 送らせた Saga。
    pub saga_id: Option<SagaId>,
}

/// 「すべて既読にする」の結果。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkAllOutcome {
    /// 最後に書いたイベントの位置 (何も書かなければ 0)。
    pub position: u64,
    /// 既読にした件数。
    pub updated: u64,
}

/// 通知集約へのコマンドの窓口。
pub type NotificationCommands = AggregateCommands<mediahub_core::notification::Notification>;

/// API が共有する状態。
#[derive(Debug)]
pub struct NotificationState {
    pool: SqlitePool,
    consumer: Consumer<NotificationProjection>,
    commands: NotificationCommands,
    read_wait: Duration,
    shutdown: Shutdown,
}

impl NotificationState {
    /// 状態を組み立てます。
    #[must_use]
    pub fn new(
        pool: SqlitePool,
        consumer: Consumer<NotificationProjection>,
        commands: NotificationCommands,
        read_wait: Duration,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            pool,
            consumer,
            commands,
            read_wait,
            shutdown,
        }
    }

    /// 読みモデルのデータベース。
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// 読みモデルを作る購読ランナー。
    #[must_use]
    pub fn consumer(&self) -> &Consumer<NotificationProjection> {
        &self.consumer
    }

    /// 停止の合図。
    #[must_use]
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// 読みモデルのチェックポイントの変化を受け取る `watch`。
    #[must_use]
    pub fn positions(&self) -> watch::Receiver<u64> {
        self.consumer.subscribe()
    }

    /// `min_position` があれば、読みモデルがそこまで進むのを (最長 `read_wait`) 待ちます。
    ///
    /// # エラー
    /// 時間内に届かなければ [`ApiError::NotCaughtUp`]。
    pub async fn caught_up(&self, min_position: Option<u64>) -> Result<(), ApiError> {
        self.consumer
            .waiter()
            .wait(min_position, self.read_wait)
            .await?;
        Ok(())
    }

    /// ユーザーの通知を新しい順に最大 `limit` 件返します。
    ///
    /// # エラー
    /// [`ApiError`] (待ちの時間切れ、データベースの失敗)。
    pub async fn list(
        &self,
        user: UserId,
        after: Option<Cursor>,
        limit: u64,
        min_position: Option<u64>,
    ) -> Result<(Vec<NotificationView>, Option<Cursor>), ApiError> {
        self.caught_up(min_position).await?;
        let mut conn = self.pool.acquire().await?;
        // 1 件多く読み、続きがあるかを知る (位置は通知ごとに違うので位置だけで境目が決まる)
        let before = after.map(|c| c.position);
        let mut rows = db::newest(&mut conn, user.as_uuid(), false, before, limit + 1).await?;
        let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = rows.last().filter(|_| more).map(|last| Cursor {
            position: last.position,
            id: last.id,
        });
        Ok((rows, next))
    }

    /// ユーザーの未読の数と、未読の通知を新しい順に最大 `limit` 件返します
    /// (数と一覧は同じ時点の読みモデルから読みます)。
    ///
    /// # エラー
    /// [`ApiError`] (待ちの時間切れ、データベースの失敗)。
    pub async fn unread(
        &self,
        user: UserId,
        limit: u64,
        min_position: Option<u64>,
    ) -> Result<(u64, Vec<NotificationView>), ApiError> {
        self.caught_up(min_position).await?;
        let mut tx = self.pool.begin().await?;
        let count = db::unread_count(&mut tx, user.as_uuid()).await?;
        let rows = db::newest(&mut tx, user.as_uuid(), true, None, limit).await?;
        tx.commit().await?;
        Ok((count, rows))
    }

    /// 通知を送ります (同じ ID・同じ宛先で二度送っても一通だけ、二度目の位置は 0)。
    ///
    /// # エラー
    /// [`ApiError::Command`] (本文が空、同じ ID が別の宛先に送られている、ストアの失敗など)。
    pub async fn send(
        &self,
        request: SendNotification,
        metadata: &EventMetadata,
    ) -> Result<u64, ApiError> {
        let command = NotificationCommand::Send {
            notification_id: request.notification_id,
            user_id: request.user_id,
            kind: request.kind.into(),
            message: request.message,
            media_id: request.media_id,
            saga_id: request.saga_id,
        };
        Ok(self
            .commands
            .execute(
                &request.notification_id.to_string(),
                None,
                || command.clone(),
                metadata,
            )
            .await?
            .position())
    }

    /// 通知を既読にします (宛先本人のみ。既読なら位置 0)。
    ///
    /// # エラー
    /// 存在しない・他人宛てなら `notification.not_found` の [`ApiError::Command`]。
    pub async fn mark_read(
        &self,
        user: UserId,
        id: NotificationId,
        metadata: &EventMetadata,
    ) -> Result<u64, ApiError> {
        let command = NotificationCommand::MarkRead { requested_by: user };
        Ok(self
            .commands
            .execute(&id.to_string(), None, || command.clone(), metadata)
            .await?
            .position())
    }

    /// 読みモデル上の未読の通知すべてに既読のコマンドを実行します。
    ///
    /// # エラー
    /// [`ApiError`] (待ちの時間切れ、データベースやコマンドの失敗)。途中で失敗しても、
    /// それまでに既読にしたものは既読のままです (再実行すれば残りが既読になります)。
    pub async fn mark_all_read(
        &self,
        user: UserId,
        metadata: &EventMetadata,
        min_position: Option<u64>,
    ) -> Result<MarkAllOutcome, ApiError> {
        self.caught_up(min_position).await?;
        let ids = {
            let mut conn = self.pool.acquire().await?;
            db::unread_ids(&mut conn, user.as_uuid()).await?
        };
        let mut outcome = MarkAllOutcome {
            position: 0,
            updated: 0,
        };
        for id in ids {
            let position = self
                .mark_read(user, NotificationId::from_uuid(id), metadata)
                .await?;
            if position > 0 {
                outcome.position = outcome.position.max(position);
                outcome.updated += 1;
            }
        }
        Ok(outcome)
    }

    /// ユーザーの通知のうち `after` より後に送られたものを古い順に最大 `limit` 件返します。
    ///
    /// # エラー
    /// データベースの失敗は [`ApiError`]。
    pub async fn sent_after(
        &self,
        user: UserId,
        after: u64,
        limit: u64,
    ) -> Result<Vec<NotificationView>, ApiError> {
        let mut conn = self.pool.acquire().await?;
        db::sent_after(&mut conn, user.as_uuid(), after, limit).await
    }

    /// ユーザーに最後に送られた通知の位置 (無ければ 0)。
    ///
    /// # エラー
    /// データベースの失敗は [`ApiError`]。
    pub async fn latest_sent(&self, user: UserId) -> Result<u64, ApiError> {
        let mut conn = self.pool.acquire().await?;
        db::latest_sent(&mut conn, user.as_uuid()).await
    }
}

impl Checkpointed for NotificationState {
    fn checkpoint(&self) -> watch::Receiver<u64> {
        self.positions()
    }
}
