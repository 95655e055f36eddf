//! `Notification` 集約のイベントから `notifications` 表 (読みモデル) を作るプロジェクション。
//!
//! | イベント | 読みモデルへの反映 |
//! |---|---|
//! | `NotificationSent` | 1 行追加 (未読、`created_at` = イベントの保存時刻、`position` = イベントの位置) |
//! | `NotificationRead` | その行を既読にし、`read_at` = イベントの保存時刻 |
//!
//! 時刻も位置もイベントから取るので、作り直し (`POST /internal/v1/rebuild`) の結果は
//! 動き続けていた読みモデルとまったく同じになります。

use mediahub_core::envelope::Envelope;
use mediahub_core::notification::{Notification, NotificationEvent};
use sqlx::SqliteConnection;

use super::db::{self, NewNotification};
use crate::consumer::{EventFilter, EventHandler, HandlerError};

/// 通知の読みモデルを作るプロジェクション (購読者名 [`NotificationProjection::NAME`])。
#[derive(Debug, Clone, Copy, Default)]
pub struct NotificationProjection;

impl NotificationProjection {
    /// 購読者 (チェックポイント) の名前。
    pub const NAME: &'static str = "notification";
}

impl EventHandler for NotificationProjection {
    async fn handle(
        &self,
        tx: &mut SqliteConnection,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        match event.decode::<NotificationEvent>()? {
            NotificationEvent::NotificationSent {
                notification_id,
                user_id,
                kind,
                message,
                media_id,
                saga_id,
            } => {
                let row = NewNotification {
                    id: notification_id.as_uuid(),
                    user_id: user_id.as_uuid(),
                    kind: kind.into(),
                    message: &message,
                    media_id: media_id.map(|id| id.as_uuid()),
                    saga_id: saga_id.map(|id| id.as_uuid()),
                    created_at: event.created_at,
                    position: i64::try_from(event.position).map_err(HandlerError::other)?,
                };
                db::insert_sent(tx, &row).await?;
            }
            NotificationEvent::NotificationRead => {
                db::mark_read(tx, &event.aggregate_id, &event.created_at).await?;
            }
        }
        Ok(())
    }

    async fn reset(&self, tx: &mut SqliteConnection) -> Result<(), HandlerError> {
        db::clear(tx).await?;
        Ok(())
    }

    fn filter(&self) -> EventFilter {
        EventFilter::aggregate_types([<Notification as cqrs_es::Aggregate>::TYPE])
    }
}
