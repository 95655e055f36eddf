//! 読みモデル (album サービス自身の SQLite) の読み取りと、削除予定表の操作。
//!
//! 書き込み (イベントの反映) は [`super::projection`] が行います。表の定義は
//! `migrations/album/` にあります。

use std::path::Path;

use chrono::{DateTime, Utc};
use mediahub_core::ids::{AlbumId, MediaId, UserId};
use mediahub_core::media::MediaStatus;
use sqlx::SqlitePool;
use uuid::Uuid;

use super::view::{AlbumMediaItem, AlbumView};

/// 読みモデルの操作のエラー。
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite の操作が失敗した。
    #[error("読みモデルの操作に失敗しました: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// マイグレーションが失敗した。
    #[error("読みモデルのマイグレーションに失敗しました: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// ディレクトリを作れなかった。
    #[error("データベースのディレクトリを作れません: {0}")]
    Io(#[from] std::io::Error),
    /// 保存されている値が読めない。
    #[error("読みモデルの {column} の値 {value:?} が読めません")]
    Corrupt {
        /// 列の名前。
        column: &'static str,
        /// 保存されていた値。
        value: String,
    },
}

/// 読みモデルのファイルを (なければディレクトリごと) 作って開き、マイグレーションを適用します。
///
/// # エラー
/// 開けない・マイグレーションに失敗したら [`DbError`]。
pub async fn open(path: &Path) -> Result<SqlitePool, DbError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await?;
    }
    let pool = crate::consumer::open_database(path).await?;
    sqlx::migrate!("./migrations/album").run(&pool).await?;
    Ok(pool)
}

fn uuid(column: &'static str, value: &str) -> Result<Uuid, DbError> {
    Uuid::parse_str(value).map_err(|_| DbError::Corrupt {
        column,
        value: value.to_owned(),
    })
}

fn time(column: &'static str, value: &str) -> Result<DateTime<Utc>, DbError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| DbError::Corrupt {
            column,
            value: value.to_owned(),
        })
}

fn unsigned(column: &'static str, value: i64) -> Result<u64, DbError> {
    u64::try_from(value).map_err(|_| DbError::Corrupt {
        column,
        value: value.to_string(),
    })
}

#[derive(sqlx::FromRow)]
struct AlbumRow {
    id: String,
    owner_id: String,
    name: String,
    is_default: bool,
    media_count: i64,
    created_at: String,
    updated_at: String,
    version: i64,
}

impl AlbumRow {
    fn into_view(self) -> Result<AlbumView, DbError> {
        Ok(AlbumView {
            id: uuid("albums.id", &self.id)?,
            owner_id: uuid("albums.owner_id", &self.owner_id)?,
            name: self.name,
            is_default: self.is_default,
            media_count: unsigned("media_count", self.media_count)?,
            created_at: time("albums.created_at", &self.created_at)?,
            updated_at: time("albums.updated_at", &self.updated_at)?,
            version: unsigned("albums.version", self.version)?,
        })
    }
}

const ALBUM_COLUMNS: &str = "SELECT a.id, a.owner_id, a.name, a.is_default,
        (SELECT COUNT(*) FROM album_media m WHERE m.album_id = a.id) AS media_count,
        a.created_at, a.updated_at, a.version
    FROM albums a";

/// ユーザーのアルバムの一覧 (デフォルトアルバムが先頭、ほかは作成順)。
///
/// # エラー
/// 読めなければ [`DbError`]。
pub async fn list_albums(pool: &SqlitePool, owner: UserId) -> Result<Vec<AlbumView>, DbError> {
    let rows: Vec<AlbumRow> = sqlx::query_as(&format!(
        "{ALBUM_COLUMNS} WHERE a.owner_id = ? ORDER BY a.is_default DESC, a.created_position"
    ))
    .bind(owner.to_string())
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(AlbumRow::into_view).collect()
}

/// ユーザーのアルバム 1 件 (無い・削除済み・他人のものなら `None`)。
///
/// # エラー
/// 読めなければ [`DbError`]。
pub async fn owned_album(
    pool: &SqlitePool,
    owner: UserId,
    album: AlbumId,
) -> Result<Option<AlbumView>, DbError> {
    let row: Option<AlbumRow> = sqlx::query_as(&format!(
        "{ALBUM_COLUMNS} WHERE a.id = ? AND a.owner_id = ?"
    ))
    .bind(album.to_string())
    .bind(owner.to_string())
    .fetch_optional(pool)
    .await?;
    row.map(AlbumRow::into_view).transpose()
}

/// アルバムに入っているメディア (新しく追加されたものが先頭)。
///
/// # エラー
/// 読めなければ [`DbError`]。
pub async fn album_media(
    pool: &SqlitePool,
    album: AlbumId,
) -> Result<Vec<AlbumMediaItem>, DbError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT media_id, added_at, position FROM album_media WHERE album_id = ?
         ORDER BY position DESC",
    )
    .bind(album.to_string())
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(media_id, added_at, position)| {
            Ok(AlbumMediaItem {
                media_id: uuid("album_media.media_id", &media_id)?,
                added_at: time("album_media.added_at", &added_at)?,
                position: unsigned("album_media.position", position)?,
            })
        })
        .collect()
}

/// album サービスの射影が知っている、メディアの所有者と状態。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaOwnership {
    /// 所有者。
    pub owner: UserId,
    /// 状態。
    pub status: MediaStatus,
}

impl MediaOwnership {
    /// アルバムに加えられる (削除も無効化もされていない) か。
    #[must_use]
    pub fn is_live(&self) -> bool {
        !matches!(self.status, MediaStatus::Deleted | MediaStatus::Invalidated)
    }
}

/// 読みモデルに保存する状態の名前を [`MediaStatus`] に戻します。
pub(crate) fn parse_status(value: &str) -> Option<MediaStatus> {
    [
        MediaStatus::Uploaded,
        MediaStatus::Processed,
        MediaStatus::Failed,
        MediaStatus::Deleted,
        MediaStatus::Invalidated,
    ]
    .into_iter()
    .find(|s| s.as_str() == value)
}

/// メディアの所有者と状態 (射影が知らなければ `None`)。
///
/// # エラー
/// 読めなければ [`DbError`]。
pub async fn media_ownership(
    pool: &SqlitePool,
    media: MediaId,
) -> Result<Option<MediaOwnership>, DbError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT owner_id, status FROM media_owners WHERE media_id = ?")
            .bind(media.to_string())
            .fetch_optional(pool)
            .await?;
    let Some((owner, status)) = row else {
        return Ok(None);
    };
    let status = parse_status(&status).ok_or(DbError::Corrupt {
        column: "media_owners.status",
        value: status,
    })?;
    Ok(Some(MediaOwnership {
        owner: UserId::from_uuid(uuid("media_owners.owner_id", &owner)?),
        status,
    }))
}

/// 実行待ちの「メディア削除に伴うアルバムからの除去」1 件。
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRemoval {
    /// アルバム。
    pub album_id: AlbumId,
    /// 外すメディア。
    pub media_id: MediaId,
    /// アルバムの所有者。
    pub owner_id: UserId,
    /// 原因のイベント (`MediaDeleted` / `MediaInvalidated`、または削除後に届いた追加) の ID。
    pub cause_event_id: Uuid,
    /// 原因のイベントの相関 ID。
    pub correlation_id: Option<Uuid>,
    /// 原因のイベントを起こしたユーザー。
    pub user_id: Option<UserId>,
}

type PendingRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn pending_from_row(row: PendingRow) -> Result<PendingRemoval, DbError> {
    let (album, media, owner, cause, correlation, user) = row;
    let optional = |column, value: Option<String>| value.map(|v| uuid(column, &v)).transpose();
    Ok(PendingRemoval {
        album_id: AlbumId::from_uuid(uuid("pending_removals.album_id", &album)?),
        media_id: MediaId::from_uuid(uuid("pending_removals.media_id", &media)?),
        owner_id: UserId::from_uuid(uuid("pending_removals.owner_id", &owner)?),
        cause_event_id: uuid("pending_removals.cause_event_id", &cause)?,
        correlation_id: optional("pending_removals.correlation_id", correlation)?,
        user_id: optional("pending_removals.user_id", user)?.map(UserId::from_uuid),
    })
}

/// 実行待ちの除去を、原因のイベントの順に最大 `limit` 件読みます。
///
/// # エラー
/// 読めなければ [`DbError`]。
pub async fn pending_removals(
    pool: &SqlitePool,
    limit: u32,
) -> Result<Vec<PendingRemoval>, DbError> {
    let rows: Vec<PendingRow> = sqlx::query_as(
        "SELECT album_id, media_id, owner_id, cause_event_id, correlation_id, user_id
         FROM pending_removals ORDER BY cause_position, album_id LIMIT ?",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(pending_from_row).collect()
}

/// 実行の済んだ除去を表から消します。
///
/// # エラー
/// 書けなければ [`DbError`]。
pub async fn delete_pending(
    pool: &SqlitePool,
    album: AlbumId,
    media: MediaId,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM pending_removals WHERE album_id = ? AND media_id = ?")
        .bind(album.to_string())
        .bind(media.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_status_name_parses_back_and_unknown_is_none() {
        for status in [
            MediaStatus::Uploaded,
            MediaStatus::Processed,
            MediaStatus::Failed,
            MediaStatus::Deleted,
            MediaStatus::Invalidated,
        ] {
            assert_eq!(parse_status(status.as_str()), Some(status));
        }
        assert_eq!(parse_status("gone"), None);
    }

    #[test]
    fn only_deleted_and_invalidated_media_are_not_live() {
        let owner = UserId::new_random();
        let live = |status| MediaOwnership { owner, status }.is_live();
        assert!(live(MediaStatus::Uploaded) && live(MediaStatus::Processed));
        assert!(live(MediaStatus::Failed));
        assert!(!live(MediaStatus::Deleted) && !live(MediaStatus::Invalidated));
    }

    #[test]
    fn corrupt_values_are_reported_with_their_column() {
        assert!(matches!(
            uuid("c", "nope"),
            Err(DbError::Corrupt { column: "c", .. })
        ));
        assert!(time("t", "yesterday").is_err());
        assert!(unsigned("u", -1).is_err());
    }
}
