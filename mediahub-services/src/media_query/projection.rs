//! Media 集約のイベントから読みモデル (`media` 表と全文検索の索引) を作るプロジェクション。
//!
//! 購読ランナー ([`crate::consumer::Consumer`]) が、Media のイベントを位置の順に
//! [`MediaProjection::handle`] へ渡します。書き込みはランナーのトランザクションの中で行われ、
//! 同じトランザクションでチェックポイントが進むので、反映は **ちょうど一回** です。
//!
//! それでも同じイベントをもう一度渡されても壊れないように (冪等)、
//!
//! - `MediaUploaded` は「同じ ID の行が無ければ作る」(`ON CONFLICT DO NOTHING`)、
//! - それ以外は「行の版がイベントの版より小さいときだけ更新する」(版の番人)
//!
//! にしています。全文検索の索引 (`media_fts`) は `media` のトリガーが同期させます。
//!
//! | イベント | 読みモデルの変化 |
//! |---|---|
//! | `MediaUploaded` | 行を作る (`uploaded`) |
//! | `MediaProcessed` | 幅・高さ・長さ・サムネイルあり (`processed`) |
//! | `MediaProcessingFailed` | 理由 (`failed`) |
//! | `MediaDeleted` | `deleted` (行は残し、一覧では既定で隠す) |
//! | `MediaInvalidated` | 理由 (`invalidated`) |

use chrono::{DateTime, SecondsFormat, Utc};
use mediahub_core::envelope::Envelope;
use mediahub_core::media::{MediaEvent, MediaStatus};
use sqlx::SqliteConnection;

use crate::consumer::{EventFilter, EventHandler, HandlerError};

/// 購読者の名前 (チェックポイント表の `consumer`)。
pub const CONSUMER_NAME: &str = "media-query";

/// 読みモデルに書く時刻の形 (RFC 3339、UTC、マイクロ秒)。
fn format_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn to_db(value: u64) -> Result<i64, HandlerError> {
    i64::try_from(value).map_err(HandlerError::other)
}

/// `MediaUploaded` 以外のイベントが行に加える変化。`None` の列は変えません。
#[derive(Debug, Default)]
struct Patch {
    status: Option<MediaStatus>,
    width: Option<u32>,
    height: Option<u32>,
    duration_ms: Option<u64>,
    has_thumbnail: bool,
    failure_reason: Option<String>,
}

impl Patch {
    fn of(event: MediaEvent) -> Self {
        match event {
            MediaEvent::MediaUploaded { .. } => Self::default(),
            MediaEvent::MediaProcessed {
                width,
                height,
                duration_ms,
                ..
            } => Self {
                status: Some(MediaStatus::Processed),
                width: Some(width),
                height: Some(height),
                duration_ms,
                has_thumbnail: true,
                failure_reason: None,
            },
            MediaEvent::MediaProcessingFailed { reason } => Self {
                status: Some(MediaStatus::Failed),
                failure_reason: Some(reason),
                ..Self::default()
            },
            MediaEvent::MediaDeleted { .. } => Self {
                status: Some(MediaStatus::Deleted),
                ..Self::default()
            },
            MediaEvent::MediaInvalidated { reason } => Self {
                status: Some(MediaStatus::Invalidated),
                failure_reason: Some(reason),
                ..Self::default()
            },
        }
    }
}

/// Media のイベントを `media` 表に反映するプロジェクション。
#[derive(Debug, Clone, Copy, Default)]
pub struct MediaProjection;

impl MediaProjection {
    async fn insert_uploaded(
        tx: &mut SqliteConnection,
        event: &Envelope,
        uploaded: MediaEvent,
    ) -> Result<(), HandlerError> {
        let MediaEvent::MediaUploaded {
            media_id,
            owner_id,
            filename,
            content_type,
            size_bytes,
            sha256,
            kind,
            ..
        } = uploaded
        else {
            return Ok(());
        };
        let at = format_time(&event.created_at);
        let position = to_db(event.position)?;
        sqlx::query(
            "INSERT INTO media (id, owner_id, filename, content_type, kind, size, sha256, status,
                                version, position, created_position, correlation_id,
                                created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(media_id.to_string())
        .bind(owner_id.to_string())
        .bind(filename)
        .bind(content_type)
        .bind(kind.as_str())
        .bind(to_db(size_bytes)?)
        .bind(sha256)
        .bind(MediaStatus::Uploaded.as_str())
        .bind(to_db(event.version)?)
        .bind(position)
        .bind(position)
        .bind(event.metadata.correlation_id.map(|c| c.to_string()))
        .bind(&at)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn update(
        tx: &mut SqliteConnection,
        event: &Envelope,
        patch: Patch,
    ) -> Result<(), HandlerError> {
        let version = to_db(event.version)?;
        let result = sqlx::query(
            "UPDATE media SET
                status = COALESCE(?, status),
                width = COALESCE(?, width),
                height = COALESCE(?, height),
                duration_ms = COALESCE(?, duration_ms),
                has_thumbnail = MAX(has_thumbnail, ?),
                failure_reason = COALESCE(?, failure_reason),
                version = ?, position = ?, updated_at = ?
             WHERE id = ? AND version < ?",
        )
        .bind(patch.status.map(MediaStatus::as_str))
        .bind(patch.width)
        .bind(patch.height)
        .bind(patch.duration_ms.map(to_db).transpose()?)
        .bind(patch.has_thumbnail)
        .bind(patch.failure_reason)
        .bind(version)
        .bind(to_db(event.position)?)
        .bind(format_time(&event.created_at))
        .bind(&event.aggregate_id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() == 0 {
            tracing::debug!(
                media_id = event.aggregate_id.as_str(),
                version = event.version,
                "反映済み (または MediaUploaded の無い) イベントなので何もしません"
            );
        }
        Ok(())
    }
}

impl EventHandler for MediaProjection {
    async fn handle(
        &self,
        tx: &mut SqliteConnection,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        let decoded: MediaEvent = event.decode()?;
        if matches!(decoded, MediaEvent::MediaUploaded { .. }) {
            Self::insert_uploaded(tx, event, decoded).await
        } else {
            Self::update(tx, event, Patch::of(decoded)).await
        }
    }

    async fn reset(&self, tx: &mut SqliteConnection) -> Result<(), HandlerError> {
        // 削除のトリガーが全文検索の索引からも消します。
        sqlx::query("DELETE FROM media").execute(&mut *tx).await?;
        Ok(())
    }

    fn filter(&self) -> EventFilter {
        EventFilter::aggregate_types(["Media"])
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use mediahub_core::envelope::{EventMetadata, NewEvent};
    use mediahub_core::ids::{CorrelationId, EventId, MediaId, UserId};
    use mediahub_core::media::{DeletionReason, MediaKind};
    use sqlx::SqlitePool;
    use tempfile::TempDir;

    use super::*;
    use crate::media_query::db::{self, ListFilter};
    use crate::media_query::search::match_expression;

    struct Fixture {
        _dir: TempDir,
        pool: SqlitePool,
        owner: UserId,
        media: MediaId,
        position: u64,
        version: u64,
    }

    impl Fixture {
        async fn new() -> Self {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let pool = db::open(&dir.path().join("nested/read.db"))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            Self {
                _dir: dir,
                pool,
                owner: UserId::new_random(),
                media: MediaId::new_random(),
                position: 0,
                version: 0,
            }
        }

        fn envelope(&mut self, event: &MediaEvent) -> Envelope {
            self.position += 1;
            self.version += 1;
            let new = NewEvent::from_domain(
                event,
                EventId::new_random(),
                EventMetadata::correlated(CorrelationId::new_random()),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            Envelope {
                id: new.id,
                position: self.position,
                aggregate_id: self.media.to_string(),
                aggregate_type: "Media".into(),
                event_type: new.event_type,
                event_version: new.event_version,
                data: new.data,
                version: self.version,
                created_at: Utc::now(),
                metadata: new.metadata,
            }
        }

        fn uploaded(&self, filename: &str) -> MediaEvent {
            MediaEvent::MediaUploaded {
                media_id: self.media,
                owner_id: self.owner,
                filename: filename.into(),
                content_type: "image/jpeg".into(),
                size_bytes: 10,
                sha256: "ab".repeat(32),
                kind: MediaKind::Image,
                storage_key: "k".into(),
            }
        }

        async fn apply(&self, envelope: &Envelope) {
            let mut tx = self.pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
            MediaProjection
                .handle(&mut tx, envelope)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
        }

        async fn count(&self, sql: &str) -> i64 {
            let (count,): (i64,) = sqlx::query_as(sql)
                .fetch_one(&self.pool)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            count
        }

        async fn view(&self) -> Option<crate::media_query::MediaView> {
            db::get(&self.pool, self.owner, self.media)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }

        async fn search(&self, q: &str) -> usize {
            let filter = ListFilter {
                matching: match_expression(q),
                limit: 10,
                ..ListFilter::default()
            };
            db::list(&self.pool, self.owner, &filter)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .0
                .len()
        }
    }

    #[tokio::test]
    async fn reapplying_every_event_twice_leaves_the_same_single_row() {
        let mut f = Fixture::new().await;
        let events = [
            f.uploaded("sunset.jpg"),
            MediaEvent::MediaProcessed {
                thumbnail_key: "t".into(),
                width: 640,
                height: 427,
                duration_ms: None,
            },
            MediaEvent::MediaDeleted {
                reason: DeletionReason::User,
            },
        ];
        let envelopes: Vec<Envelope> = events.iter().map(|e| f.envelope(e)).collect();
        for envelope in envelopes.iter().chain(envelopes.iter()) {
            f.apply(envelope).await;
        }
        let view = f.view().await.unwrap_or_else(|| panic!("行が無い"));
        assert_eq!(
            (view.status.as_str(), view.version, view.width, view.height),
            ("deleted", 3, Some(640), Some(427))
        );
        assert_eq!(view.position, 3);
        // 古い版 (2) をもう一度渡しても状態は戻らない。
        f.apply(&envelopes[1]).await;
        assert_eq!(f.view().await.map(|v| v.status), Some("deleted".into()));
        assert_eq!(f.count("SELECT COUNT(*) FROM media").await, 1);
    }

    #[tokio::test]
    async fn fts_index_follows_insert_and_reset_and_hostile_queries_do_not_error() {
        let mut f = Fixture::new().await;
        let uploaded = f.uploaded("sunset-640x427.jpg");
        let envelope = f.envelope(&uploaded);
        f.apply(&envelope).await;
        assert_eq!(f.search("sun").await, 1);
        assert_eq!(f.search("640x").await, 1);
        assert_eq!(f.search("moon").await, 0);
        for hostile in ["\"", "*", "OR", "sun\" OR \"x", "NEAR(sun", "a:b", "^sun"] {
            f.search(hostile).await;
        }
        let mut tx = f.pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
        MediaProjection
            .reset(&mut tx)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.search("sun").await, 0);
        let indexed = "SELECT COUNT(*) FROM media_fts WHERE media_fts MATCH '\"sun\"*'";
        assert_eq!(f.count(indexed).await, 0);
    }

    #[tokio::test]
    async fn failed_then_invalidated_keep_latest_reason_and_no_thumbnail() {
        let mut f = Fixture::new().await;
        let events = [
            f.uploaded("x.jpg"),
            MediaEvent::MediaProcessingFailed {
                reason: "壊れています".into(),
            },
            MediaEvent::MediaInvalidated {
                reason: "アルバムに追加できません".into(),
            },
        ];
        for event in &events {
            let envelope = f.envelope(event);
            f.apply(&envelope).await;
        }
        let view = f.view().await.unwrap_or_else(|| panic!("行が無い"));
        assert_eq!(view.status, "invalidated");
        assert_eq!(
            view.failure_reason.as_deref(),
            Some("アルバムに追加できません")
        );
        assert_eq!(view.thumbnail_url, None);
        assert!(
            db::get(&f.pool, UserId::new_random(), f.media)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none()
        );
    }
}
