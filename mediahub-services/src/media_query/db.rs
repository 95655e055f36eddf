//! 読みモデルの SQLite: 開く (マイグレーション) ことと、一覧・詳細の読み取り。
//!
//! 書き込みは [`super::projection`] が購読ランナーのトランザクションの中で行います。

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use mediahub_core::ids::{MediaId, UserId};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use super::error::QueryError;
use super::view::{MediaView, thumbnail_url};
use crate::consumer::open_database;
use crate::platform::paging::Cursor;

/// `media` から読む列 (この順で [`row_to_view`] が読みます)。
const VIEW_COLUMNS: &str = "id, owner_id, filename, content_type, kind, size, sha256, status, \
     width, height, duration_ms, has_thumbnail, failure_reason, version, position, \
     created_position, correlation_id, created_at, updated_at";

/// 読みモデルの SQLite を開き (無ければディレクトリごと作り)、マイグレーションを適用します。
///
/// # エラー
/// ディレクトリが作れない・開けない・マイグレーションに失敗したら [`super::error::StartError`]。
pub async fn open(path: &Path) -> Result<SqlitePool, super::error::StartError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await?;
    }
    let pool = open_database(path).await?;
    sqlx::migrate!("./migrations/media-query")
        .run(&pool)
        .await?;
    Ok(pool)
}

/// 一覧の絞り込み条件。
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// `image` / `video` (省略ですべて)。
    pub kind: Option<String>,
    /// 状態 (省略なら `deleted` 以外すべて)。
    pub status: Option<String>,
    /// FTS5 の `MATCH` 式 ([`super::search::match_expression`] で作ったもの)。
    pub matching: Option<String>,
    /// このカーソルより後ろ (古い側) から。
    pub after: Option<Cursor>,
    /// 最大件数。
    pub limit: u32,
}

fn to_db(value: u64) -> Result<i64, QueryError> {
    i64::try_from(value).map_err(|_| QueryError::invalid("position", "値が大きすぎます"))
}

fn to_u64(value: i64, column: &str) -> Result<u64, QueryError> {
    u64::try_from(value).map_err(|_| QueryError::Corrupt(format!("{column} が負です: {value}")))
}

fn to_u32(value: Option<i64>, column: &str) -> Result<Option<u32>, QueryError> {
    value
        .map(|v| {
            u32::try_from(v).map_err(|_| QueryError::Corrupt(format!("{column} が範囲外: {v}")))
        })
        .transpose()
}

fn parse<T: FromStr>(text: &str, column: &str) -> Result<T, QueryError> {
    text.parse()
        .map_err(|_| QueryError::Corrupt(format!("{column} が読めません: {text}")))
}

fn parse_time(text: &str, column: &str) -> Result<DateTime<Utc>, QueryError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| QueryError::Corrupt(format!("{column} が読めません: {text}")))
}

/// `media` の 1 行を [`MediaView`] と、その並びのキー ([`Cursor`]) にします。
fn row_to_view(row: &SqliteRow) -> Result<(MediaView, Cursor), QueryError> {
    let id: MediaId = parse(row.try_get::<&str, _>("id")?, "id")?;
    let has_thumbnail: bool = row.try_get("has_thumbnail")?;
    let correlation_id: Option<String> = row.try_get("correlation_id")?;
    let view = MediaView {
        id: id.as_uuid(),
        owner_id: parse::<Uuid>(row.try_get::<&str, _>("owner_id")?, "owner_id")?,
        filename: row.try_get("filename")?,
        content_type: row.try_get("content_type")?,
        kind: row.try_get("kind")?,
        size: to_u64(row.try_get("size")?, "size")?,
        sha256: row.try_get("sha256")?,
        status: row.try_get("status")?,
        width: to_u32(row.try_get("width")?, "width")?,
        height: to_u32(row.try_get("height")?, "height")?,
        duration_ms: row
            .try_get::<Option<i64>, _>("duration_ms")?
            .map(|v| to_u64(v, "duration_ms"))
            .transpose()?,
        thumbnail_url: has_thumbnail.then(|| thumbnail_url(id)),
        failure_reason: row.try_get("failure_reason")?,
        version: to_u64(row.try_get("version")?, "version")?,
        position: to_u64(row.try_get("position")?, "position")?,
        correlation_id: correlation_id
            .map(|c| parse::<Uuid>(&c, "correlation_id"))
            .transpose()?,
        created_at: parse_time(row.try_get("created_at")?, "created_at")?,
        updated_at: parse_time(row.try_get("updated_at")?, "updated_at")?,
    };
    let cursor = Cursor {
        position: to_u64(row.try_get("created_position")?, "created_position")?,
        id: id.as_uuid(),
    };
    Ok((view, cursor))
}

/// `owner` のメディアの一覧を、新しいアップロードから順に 1 ページ読みます。
/// 続きがあれば次のページのカーソルも返します。
///
/// # エラー
/// 読めなければ [`QueryError`]。
pub async fn list(
    pool: &SqlitePool,
    owner: UserId,
    filter: &ListFilter,
) -> Result<(Vec<MediaView>, Option<Cursor>), QueryError> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM media
         WHERE owner_id = ?1
           AND (?2 IS NULL OR kind = ?2)
           AND ((?3 IS NULL AND status <> 'deleted') OR ?3 = 'all' OR status = ?3)
           AND (?4 IS NULL OR pk IN (SELECT rowid FROM media_fts WHERE media_fts MATCH ?4))
           AND (?5 IS NULL OR created_position < ?5 OR (created_position = ?5 AND id < ?6))
         ORDER BY created_position DESC, id DESC
         LIMIT ?7"
    );
    let after_position = filter.after.map(|c| to_db(c.position)).transpose()?;
    let rows = sqlx::query(&sql)
        .bind(owner.to_string())
        .bind(filter.kind.as_deref())
        .bind(filter.status.as_deref())
        .bind(filter.matching.as_deref())
        .bind(after_position)
        .bind(filter.after.map(|c| c.id.to_string()))
        .bind(i64::from(filter.limit) + 1)
        .fetch_all(pool)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    let mut last = None;
    for row in rows.iter().take(filter.limit as usize) {
        let (view, cursor) = row_to_view(row)?;
        items.push(view);
        last = Some(cursor);
    }
    let next = if rows.len() > filter.limit as usize {
        last
    } else {
        None
    };
    Ok((items, next))
}

/// `owner` のメディア `id` を読みます。無い・他人のものなら `None`。
///
/// # エラー
/// 読めなければ [`QueryError`]。
pub async fn get(
    pool: &SqlitePool,
    owner: UserId,
    id: MediaId,
) -> Result<Option<MediaView>, QueryError> {
    let sql = format!("SELECT {VIEW_COLUMNS} FROM media WHERE id = ? AND owner_id = ?");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .bind(owner.to_string())
        .fetch_optional(pool)
        .await?;
    row.as_ref()
        .map(|row| row_to_view(row).map(|(view, _)| view))
        .transpose()
}
