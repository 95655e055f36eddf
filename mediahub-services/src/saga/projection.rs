//! Saga の読みモデルを作るプロジェクション [`SagaView`]。
//!
//! `Saga` 集約のイベントだけを購読し、`sagas` (要約) と `saga_steps` (タイムライン) に反映します。
//! タイムラインの `outcome` は次のとおりです。
//!
//! | イベント | outcome |
//! |---|---|
//! | `SagaStepStarted` (試行 1) | `started` |
//! | `SagaStepStarted` (試行 2 以降) | `retrying` |
//! | `SagaStepSucceeded` (成功) | `succeeded` |
//! | `SagaStepFailed` | `failed` (理由つき) |
//! | `SagaCompensationStarted` | `compensation_started` (失敗した前進ステップと理由) |
//!
//! 終端イベント (`SagaCompleted`・`SagaCompensated`・`SagaFailed`) は要約の `status` だけを変えます。

use mediahub_core::envelope::Envelope;
use mediahub_core::saga::{SagaEvent, SagaStatus};
use sqlx::SqliteConnection;

use super::db::{self, NewStep, SummaryUpdate};
use super::view::SagaSummary;
use crate::consumer::{EventFilter, EventHandler, HandlerError};

/// 通知だけが届かなかった完了のときに `failure_reason` に入れる文言。
pub const NOTIFICATION_FAILED_REASON: &str = "通知を届けられませんでした";

/// Saga の読みモデルを作るプロジェクション。
#[derive(Debug, Clone, Copy, Default)]
pub struct SagaView;

fn to_db(value: u64) -> Result<i64, HandlerError> {
    i64::try_from(value).map_err(HandlerError::other)
}

impl EventHandler for SagaView {
    async fn handle(
        &self,
        tx: &mut SqliteConnection,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        let saga_id = event.aggregate_id.as_str();
        let (version, position) = (to_db(event.version)?, to_db(event.position)?);
        let at = event.created_at;
        let step = |step: &'static str, attempt, outcome, reason| NewStep {
            saga_id,
            step,
            attempt,
            outcome,
            reason,
            at,
            position,
        };
        let update = match event.decode::<SagaEvent>()? {
            SagaEvent::SagaStarted {
                media_id,
                owner_id,
                filename,
                fault,
                ..
            } => {
                let created_at = db::timestamp(at);
                let row = SagaSummary {
                    id: saga_id.to_owned(),
                    media_id: media_id.to_string(),
                    owner_id: owner_id.to_string(),
                    filename,
                    status: SagaStatus::Running.as_str().to_owned(),
                    current_step: None,
                    attempt: 0,
                    next_attempt_at: None,
                    fault: fault.map(|f| f.as_str().to_owned()),
                    correlation_id: event.metadata.correlation_id.map(|c| c.to_string()),
                    created_at: created_at.clone(),
                    updated_at: created_at,
                    failure_reason: None,
                };
                db::insert_saga(tx, &row, version, position).await?;
                return Ok(());
            }
            SagaEvent::SagaStepStarted {
                step: s,
                attempt,
                delay_ms,
            } => {
                let outcome = if attempt > 1 { "retrying" } else { "started" };
                db::insert_step(tx, step(s.as_str(), Some(attempt), outcome, None)).await?;
                // 次の試行の予定時刻 = 始めた時刻 + 送る前に待つ時間 (バックオフ + スローモーション)
                let delay =
                    chrono::Duration::milliseconds(i64::try_from(delay_ms).unwrap_or(i64::MAX));
                let next_attempt_at = db::timestamp(at.checked_add_signed(delay).unwrap_or(at));
                let update = SummaryUpdate {
                    current_step: Some(Some(s.as_str())),
                    next_attempt_at: Some(&next_attempt_at),
                    attempt: Some(attempt),
                    ..SummaryUpdate::default()
                };
                db::update_saga(tx, saga_id, update, at, version, position).await?;
                return Ok(());
            }
            SagaEvent::SagaStepSucceeded { step: s, attempt } => {
                db::insert_step(tx, step(s.as_str(), Some(attempt), "succeeded", None)).await?;
                SummaryUpdate::default()
            }
            SagaEvent::SagaStepFailed {
                step: s,
                attempt,
                reason,
                ..
            } => {
                db::insert_step(tx, step(s.as_str(), Some(attempt), "failed", Some(&reason)))
                    .await?;
                SummaryUpdate::default()
            }
            SagaEvent::SagaCompensationStarted {
                failed_step,
                reason,
                ..
            } => {
                let entry = step(
                    failed_step.as_str(),
                    None,
                    "compensation_started",
                    Some(&reason),
                );
                db::insert_step(tx, entry).await?;
                let update = SummaryUpdate {
                    status: Some(SagaStatus::Compensating.as_str()),
                    failure_reason: Some(&reason),
                    ..SummaryUpdate::default()
                };
                db::update_saga(tx, saga_id, update, at, version, position).await?;
                return Ok(());
            }
            SagaEvent::SagaCompleted {
                notification_failed,
            } => SummaryUpdate {
                status: Some(SagaStatus::Completed.as_str()),
                current_step: Some(None),
                failure_reason: notification_failed.then_some(NOTIFICATION_FAILED_REASON),
                ..SummaryUpdate::default()
            },
            SagaEvent::SagaCompensated { .. } => SummaryUpdate {
                status: Some(SagaStatus::Compensated.as_str()),
                current_step: Some(None),
                ..SummaryUpdate::default()
            },
            SagaEvent::SagaFailed { reason } => {
                let update = SummaryUpdate {
                    status: Some(SagaStatus::Failed.as_str()),
                    current_step: Some(None),
                    failure_reason: Some(&reason),
                    ..SummaryUpdate::default()
                };
                db::update_saga(tx, saga_id, update, at, version, position).await?;
                return Ok(());
            }
        };
        db::update_saga(tx, saga_id, update, at, version, position).await?;
        Ok(())
    }

    async fn reset(&self, tx: &mut SqliteConnection) -> Result<(), HandlerError> {
        db::reset(tx).await?;
        Ok(())
    }

    fn filter(&self) -> EventFilter {
        EventFilter::aggregate_types(["Saga"])
    }
}
