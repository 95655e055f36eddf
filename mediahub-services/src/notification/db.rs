//! 通知の読みモデル (`notifications` 表) の SQL。
//!
//! 書き込みはプロジェクション ([`super::projection`]) だけが、購読ランナーのトランザクションの中で
//! 行います。読み取りは API がプールから行います。

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::error::ApiError;
use super::view::{ApiNotificationKind, NotificationView};
use crate::eventstore::db::format_time;

/// 読み取る列 (この順で [`row_to_view`] が読みます)。
const COLUMNS: &str =
    "id, user_id, kind, message, media_id, saga_id, read, created_at, read_at, position";

/// 読みモデルの表を (なければ) 作ります。
///
/// # エラー
/// マイグレーションに失敗すれば `sqlx::migrate::MigrateError`。
pub async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("./migrations/notification").run(pool).await
}

/// 書き込む `NotificationSent` の内容。
#[derive(Debug, Clone)]
pub struct NewNotification<'a> {
    /// 通知 ID。
    pub id: Uuid,
    /// 宛先ユーザー。
    pub user_id: Uuid,
    /// 種類。
    pub kind: ApiNotificationKind,
    /// 本文。
    pub message: &'a str,
    /// 関係するメディア。
    pub media_id: Option<Uuid>,
    /// 送らせた Saga。
    pub saga_id: Option<Uuid>,
    /// 送られた時刻。
    pub created_at: DateTime<Utc>,
    /// `NotificationSent` のグローバル位置。
    pub position: i64,
}

fn corrupt(column: &str, detail: impl std::fmt::Display) -> ApiError {
    ApiError::Corrupt(format!("{column}: {detail}"))
}

fn uuid_column(row: &SqliteRow, column: &str) -> Result<Option<Uuid>, ApiError> {
    let raw: Option<String> = row.try_get(column)?;
    raw.map(|raw| Uuid::parse_str(&raw).map_err(|e| corrupt(column, e)))
        .transpose()
}

fn required_uuid(row: &SqliteRow, column: &str) -> Result<Uuid, ApiError> {
    uuid_column(row, column)?.ok_or_else(|| corrupt(column, "NULL"))
}

fn time_column(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    let raw: Option<String> = row.try_get(column)?;
    raw.map(|raw| {
        DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| corrupt(column, e))
    })
    .transpose()
}

fn position_column(row: &SqliteRow, column: &str) -> Result<u64, ApiError> {
    let raw: i64 = row.try_get(column)?;
    u64::try_from(raw).map_err(|e| corrupt(column, e))
}

fn row_to_view(row: &SqliteRow) -> Result<NotificationView, ApiError> {
    let kind: String = row.try_get("kind")?;
    Ok(NotificationView {
        id: required_uuid(row, "id")?,
        user_id: required_uuid(row, "user_id")?,
        kind: ApiNotificationKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        message: row.try_get("message")?,
        media_id: uuid_column(row, "media_id")?,
        saga_id: uuid_column(row, "saga_id")?,
        read: row.try_get("read")?,
        created_at: time_column(row, "created_at")?.ok_or_else(|| corrupt("created_at", "NULL"))?,
        read_at: time_column(row, "read_at")?,
        position: position_column(row, "position")?,
    })
}

fn rows_to_views(rows: &[SqliteRow]) -> Result<Vec<NotificationView>, ApiError> {
    rows.iter().map(row_to_view).collect()
}

fn db_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// `NotificationSent` を 1 行として書きます (同じ ID が既にあれば何もしません)。
///
/// # エラー
/// データベースの失敗。
pub async fn insert_sent(
    conn: &mut SqliteConnection,
    n: &NewNotification<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO notifications
            (id, user_id, kind, message, media_id, saga_id, read, created_at, read_at,
             position)
         VALUES (?, ?, ?, ?, ?, ?, 0, ?, NULL, ?)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(n.id.to_string())
    .bind(n.user_id.to_string())
    .bind(n.kind.as_str())
    .bind(n.message)
    .bind(n.media_id.map(|id| id.to_string()))
    .bind(n.saga_id.map(|id| id.to_string()))
    .bind(format_time(&n.created_at))
    .bind(n.position)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `NotificationRead` を反映します (既読にし、既読時刻を記録します)。
///
/// # エラー
/// データベースの失敗。
pub async fn mark_read(
    conn: &mut SqliteConnection,
    id: &str,
    read_at: &DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE notifications SET read = 1, read_at = ? WHERE id = ?")
        .bind(format_time(read_at))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// 読みモデルを空にします (作り直しの最初)。
///
/// # エラー
/// データベースの失敗。
pub async fn clear(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM notifications")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// ユーザーの通知を新しい順に最大 `limit` 件読みます (`unread_only` なら未読だけ)。
/// `before` があれば、その位置より前 (古い) の通知から読みます (ページ送り)。
///
/// # エラー
/// データベースの失敗や壊れた行は [`ApiError`]。
pub async fn newest(
    conn: &mut SqliteConnection,
    user_id: Uuid,
    unread_only: bool,
    before: Option<u64>,
    limit: u64,
) -> Result<Vec<NotificationView>, ApiError> {
    let unread = if unread_only { "AND read = 0" } else { "" };
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications
         WHERE user_id = ? {unread} AND (? IS NULL OR position < ?)
         ORDER BY position DESC LIMIT ?"
    );
    let before = before.map(db_int);
    let rows = sqlx::query(&sql)
        .bind(user_id.to_string())
        .bind(before)
        .bind(before)
        .bind(db_int(limit))
        .fetch_all(&mut *conn)
        .await?;
    rows_to_views(&rows)
}

/// ユーザーの未読の数。
///
/// # エラー
/// データベースの失敗。
pub async fn unread_count(conn: &mut SqliteConnection, user_id: Uuid) -> Result<u64, ApiError> {
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read = 0")
            .bind(user_id.to_string())
            .fetch_one(&mut *conn)
            .await?;
    u64::try_from(count).map_err(|e| corrupt("count", e))
}

/// ユーザーの未読の通知 ID をすべて、古い順に読みます。
///
/// # エラー
/// データベースの失敗や壊れた行は [`ApiError`]。
pub async fn unread_ids(conn: &mut SqliteConnection, user_id: Uuid) -> Result<Vec<Uuid>, ApiError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM notifications WHERE user_id = ? AND read = 0 ORDER BY position",
    )
    .bind(user_id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    ids.iter()
        .map(|id| Uuid::parse_str(id).map_err(|e| corrupt("id", e)))
        .collect()
}

/// ユーザーの通知のうち、送られた位置が `after` より後のものを古い順に最大 `limit` 件読みます
/// (SSE で届けるため)。
///
/// # エラー
/// データベースの失敗や壊れた行は [`ApiError`]。
pub async fn sent_after(
    conn: &mut SqliteConnection,
    user_id: Uuid,
    after: u64,
    limit: u64,
) -> Result<Vec<NotificationView>, ApiError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications WHERE user_id = ? AND position > ?
         ORDER BY position LIMIT ?"
    );
    let rows = sqlx::query(&sql)
        .bind(user_id.to_string())
        .bind(db_int(after))
        .bind(db_int(limit))
        .fetch_all(&mut *conn)
        .await?;
    rows_to_views(&rows)
}

/// ユーザーの通知のうち、最後に送られたものの位置 (無ければ 0)。
///
/// # エラー
/// データベースの失敗。
pub async fn latest_sent(conn: &mut SqliteConnection, user_id: Uuid) -> Result<u64, ApiError> {
    let latest: Option<i64> =
        sqlx::query_scalar("SELECT MAX(position) FROM notifications WHERE user_id = ?")
            .bind(user_id.to_string())
            .fetch_one(&mut *conn)
            .await?;
    u64::try_from(latest.unwrap_or(0)).map_err(|e| corrupt("position", e))
}
