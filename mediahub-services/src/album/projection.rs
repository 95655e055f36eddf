//! 射影: Album と Media のイベントを album サービスの読みモデルに反映するハンドラ。
//!
//! - Album のイベント → `albums` と `album_media`
//! - Media のイベント → `media_owners` (メディアの所有者と状態。album サービス自身の射影)
//! - `MediaDeleted` / `MediaInvalidated` → そのメディアを持つすべてのアルバムについて
//!   `pending_removals` に「外す予定」を記録します。削除済みのメディアが後から追加された
//!   (射影が遅れていた間の追加) ときも同じく記録します。
//!
//! 予定の実行 (`RemoveMedia` コマンド) は、ここではなく [`super::reactor`] がコミットの後に
//! 行います。射影のトランザクションの中で HTTP を呼ぶと、失敗や再試行のたびに読みモデルの
//! 更新全体が巻き戻り、しかも副作用は巻き戻せないためです。予定の行は読みモデルと同じ
//! トランザクションで書かれるので、「イベントは反映したのに予定が失われた」は起こりません。

use chrono::SecondsFormat;
use cqrs_es::Aggregate;
use mediahub_core::album::{Album, AlbumEvent};
use mediahub_core::envelope::Envelope;
use mediahub_core::ids::MediaId;
use mediahub_core::media::{Media, MediaEvent, MediaStatus};
use sqlx::SqliteConnection;

use crate::consumer::{EventFilter, EventHandler, HandlerError};

/// album サービスの射影 (購読者名は [`CONSUMER_NAME`])。
#[derive(Debug, Clone, Copy, Default)]
pub struct AlbumProjection;

/// 購読者の名前 (チェックポイント表のキー)。
pub const CONSUMER_NAME: &str = "album";

/// 射影がイベントを読めなかった理由。
#[derive(Debug, thiserror::Error)]
enum ProjectionError {
    #[error("メディアの集約 ID {0:?} が UUID ではありません")]
    MediaId(String),
    #[error("値 {0} は SQLite の整数に収まりません")]
    OutOfRange(u64),
}

fn db_int(value: u64) -> Result<i64, HandlerError> {
    i64::try_from(value).map_err(|_| HandlerError::other(ProjectionError::OutOfRange(value)))
}

/// イベントの位置・版・時刻・原因の情報。
struct Stamp<'a> {
    event: &'a Envelope,
    at: String,
    position: i64,
    version: i64,
}

impl<'a> Stamp<'a> {
    fn of(event: &'a Envelope) -> Result<Self, HandlerError> {
        Ok(Self {
            event,
            at: event
                .created_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            position: db_int(event.position)?,
            version: db_int(event.version)?,
        })
    }
}

impl EventHandler for AlbumProjection {
    async fn handle(
        &self,
        tx: &mut SqliteConnection,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        let stamp = Stamp::of(event)?;
        match event.aggregate_type.as_str() {
            Album::TYPE => apply_album(tx, &stamp, event.decode()?).await,
            Media::TYPE => {
                let media_id: MediaId = event.aggregate_id.parse().map_err(|_| {
                    HandlerError::other(ProjectionError::MediaId(event.aggregate_id.clone()))
                })?;
                apply_media(tx, &stamp, media_id, event.decode()?).await
            }
            _ => Ok(()),
        }
    }

    async fn reset(&self, tx: &mut SqliteConnection) -> Result<(), HandlerError> {
        for table in ["pending_removals", "album_media", "albums", "media_owners"] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }

    fn filter(&self) -> EventFilter {
        EventFilter::aggregate_types([Album::TYPE, Media::TYPE])
    }
}

async fn touch(tx: &mut SqliteConnection, stamp: &Stamp<'_>) -> Result<(), HandlerError> {
    sqlx::query("UPDATE albums SET updated_at = ?, version = ? WHERE id = ?")
        .bind(&stamp.at)
        .bind(stamp.version)
        .bind(&stamp.event.aggregate_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn apply_album(
    tx: &mut SqliteConnection,
    stamp: &Stamp<'_>,
    event: AlbumEvent,
) -> Result<(), HandlerError> {
    let album_id = stamp.event.aggregate_id.as_str();
    match event {
        AlbumEvent::AlbumCreated {
            owner_id,
            name,
            is_default,
            ..
        } => {
            sqlx::query(
                "INSERT INTO albums
                    (id, owner_id, name, is_default, created_at, updated_at, version, created_position)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(album_id)
            .bind(owner_id.to_string())
            .bind(name)
            .bind(is_default)
            .bind(&stamp.at)
            .bind(&stamp.at)
            .bind(stamp.version)
            .bind(stamp.position)
            .execute(&mut *tx)
            .await?;
        }
        AlbumEvent::AlbumRenamed { name } => {
            // 名前と `touch` の 2 列を 1 つの文で (文ごとに SQLite の接続スレッドとの往復が 1 回)。
            sqlx::query("UPDATE albums SET name = ?, updated_at = ?, version = ? WHERE id = ?")
                .bind(name)
                .bind(&stamp.at)
                .bind(stamp.version)
                .bind(album_id)
                .execute(&mut *tx)
                .await?;
        }
        AlbumEvent::AlbumDeleted => {
            // album_media は外部キーの ON DELETE CASCADE で一緒に消えます。
            sqlx::query("DELETE FROM albums WHERE id = ?")
                .bind(album_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM pending_removals WHERE album_id = ?")
                .bind(album_id)
                .execute(&mut *tx)
                .await?;
        }
        AlbumEvent::MediaAddedToAlbum { media_id } => {
            sqlx::query(
                "INSERT INTO album_media (album_id, media_id, added_at, position)
                 SELECT id, ?, ?, ? FROM albums WHERE id = ?
                 ON CONFLICT (album_id, media_id) DO NOTHING",
            )
            .bind(media_id.to_string())
            .bind(&stamp.at)
            .bind(stamp.position)
            .bind(album_id)
            .execute(&mut *tx)
            .await?;
            touch(tx, stamp).await?;
            // 射影が MediaDeleted を反映する前に受け付けた追加なら、すぐに外す予定を記録します。
            schedule_removals(tx, stamp, media_id, Some(album_id)).await?;
        }
        AlbumEvent::MediaRemovedFromAlbum { media_id, .. } => {
            for table in ["album_media", "pending_removals"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE album_id = ? AND media_id = ?"
                ))
                .bind(album_id)
                .bind(media_id.to_string())
                .execute(&mut *tx)
                .await?;
            }
            touch(tx, stamp).await?;
        }
    }
    Ok(())
}

async fn apply_media(
    tx: &mut SqliteConnection,
    stamp: &Stamp<'_>,
    media_id: MediaId,
    event: MediaEvent,
) -> Result<(), HandlerError> {
    let status = match event {
        MediaEvent::MediaUploaded { owner_id, .. } => {
            sqlx::query(
                "INSERT INTO media_owners (media_id, owner_id, status, position)
                 VALUES (?, ?, ?, ?)
                 ON CONFLICT (media_id) DO NOTHING",
            )
            .bind(media_id.to_string())
            .bind(owner_id.to_string())
            .bind(MediaStatus::Uploaded.as_str())
            .bind(stamp.position)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        MediaEvent::MediaProcessed { .. } => MediaStatus::Processed,
        MediaEvent::MediaProcessingFailed { .. } => MediaStatus::Failed,
        MediaEvent::MediaDeleted { .. } => MediaStatus::Deleted,
        MediaEvent::MediaInvalidated { .. } => MediaStatus::Invalidated,
    };
    sqlx::query("UPDATE media_owners SET status = ?, position = ? WHERE media_id = ?")
        .bind(status.as_str())
        .bind(stamp.position)
        .bind(media_id.to_string())
        .execute(&mut *tx)
        .await?;
    schedule_removals(tx, stamp, media_id, None).await
}

/// メディアが削除・無効化済みなら、それを持つアルバム (`album_id` を指定すればそのアルバムだけ)
/// について外す予定を記録します。既に予定があれば何もしません。
async fn schedule_removals(
    tx: &mut SqliteConnection,
    stamp: &Stamp<'_>,
    media_id: MediaId,
    album_id: Option<&str>,
) -> Result<(), HandlerError> {
    let metadata = &stamp.event.metadata;
    sqlx::query(
        "INSERT INTO pending_removals
            (album_id, media_id, owner_id, cause_event_id, cause_position, correlation_id, user_id)
         SELECT m.album_id, m.media_id, a.owner_id, ?, ?, ?, ?
         FROM album_media m
         JOIN albums a ON a.id = m.album_id
         JOIN media_owners o ON o.media_id = m.media_id
         WHERE m.media_id = ? AND o.status IN (?, ?) AND (? IS NULL OR m.album_id = ?)
         ON CONFLICT (album_id, media_id) DO NOTHING",
    )
    .bind(stamp.event.id.to_string())
    .bind(stamp.position)
    .bind(metadata.correlation_id.map(|c| c.to_string()))
    .bind(metadata.user_id.map(|u| u.to_string()))
    .bind(media_id.to_string())
    .bind(MediaStatus::Deleted.as_str())
    .bind(MediaStatus::Invalidated.as_str())
    .bind(album_id)
    .bind(album_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
