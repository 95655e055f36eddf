//! saga サービスの読みモデル (SQLite): `sagas` (Saga ごとの要約) と `saga_steps` (タイムライン)。
//!
//! 表は [`migrate`] が `CREATE TABLE IF NOT EXISTS` で作ります (チェックポイント表と同じやり方)。
//! 書き込みはプロジェクション ([`super::projection`]) だけが、購読ランナーのトランザクションの中で
//! 行います。時刻は RFC 3339 (UTC、マイクロ秒、`Z`) の文字列で保存します。

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{SqliteConnection, SqlitePool};

use super::api::SagaSummary;

/// 一覧で返す最大の件数。
pub const MAX_LIST_LIMIT: u32 = 100;

/// 要約 ([`SagaSummary`]) として読む列。
const SUMMARY_SELECT: &str =
    "SELECT id, media_id, owner_id, filename, status, current_step, attempt,
        correlation_id, created_at, updated_at, failure_reason FROM sagas";

/// `saga_steps` の 1 行 (タイムラインの 1 項目)。
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StepRow {
    /// ステップ (`process_media` など)。
    pub step: String,
    /// 試行の番号。
    pub attempt: i64,
    /// 結果 (`started`・`retrying`・`succeeded`・`failed`・`compensation_started`)。
    pub outcome: String,
    /// 理由 (失敗と補償開始のとき)。
    pub reason: Option<String>,
    /// 時刻。
    pub at: String,
    /// 元になったイベントの位置。
    pub position: i64,
}

/// タイムラインに足す項目。
#[derive(Debug, Clone, Copy)]
pub struct NewStep<'a> {
    /// Saga の ID。
    pub saga_id: &'a str,
    /// ステップ。
    pub step: &'a str,
    /// 試行の番号 (`None` なら Saga の今の試行番号)。
    pub attempt: Option<u32>,
    /// 結果。
    pub outcome: &'a str,
    /// 理由。
    pub reason: Option<&'a str>,
    /// 元になったイベントの時刻。
    pub at: DateTime<Utc>,
    /// 元になったイベントの位置。
    pub position: i64,
}

/// 要約の更新 (`None` の項目は変えません)。
#[derive(Debug, Clone, Copy, Default)]
pub struct SummaryUpdate<'a> {
    /// 新しい状態。
    pub status: Option<&'a str>,
    /// 実行中のステップ (`Some(None)` で空にする)。
    pub current_step: Option<Option<&'a str>>,
    /// 試行の番号。
    pub attempt: Option<u32>,
    /// 理由。
    pub failure_reason: Option<&'a str>,
}

/// 時刻を保存用の文字列にします。
#[must_use]
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// 表を (なければ) 作ります。
///
/// # エラー
/// データベースの操作に失敗すれば `sqlx::Error`。
pub async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    for sql in [
        "CREATE TABLE IF NOT EXISTS sagas (
            id               TEXT    PRIMARY KEY NOT NULL,
            media_id         TEXT    NOT NULL,
            owner_id         TEXT    NOT NULL,
            filename         TEXT    NOT NULL,
            status           TEXT    NOT NULL,
            current_step     TEXT,
            attempt          INTEGER NOT NULL DEFAULT 0,
            correlation_id   TEXT,
            created_at       TEXT    NOT NULL,
            updated_at       TEXT    NOT NULL,
            failure_reason   TEXT,
            version          INTEGER NOT NULL,
            position         INTEGER NOT NULL,
            started_position INTEGER NOT NULL
        )",
        "CREATE INDEX IF NOT EXISTS sagas_by_owner ON sagas (owner_id, started_position DESC)",
        "CREATE INDEX IF NOT EXISTS sagas_by_status ON sagas (status)",
        "CREATE TABLE IF NOT EXISTS saga_steps (
            saga_id  TEXT    NOT NULL,
            position INTEGER NOT NULL,
            step     TEXT    NOT NULL,
            attempt  INTEGER NOT NULL,
            outcome  TEXT    NOT NULL,
            reason   TEXT,
            at       TEXT    NOT NULL,
            PRIMARY KEY (saga_id, position)
        )",
    ] {
        sqlx::query(sql).execute(pool).await?;
    }
    Ok(())
}

/// 読みモデルを空にします (作り直しの最初)。
///
/// # エラー
/// データベースの操作に失敗すれば `sqlx::Error`。
pub async fn reset(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM saga_steps")
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM sagas").execute(&mut *conn).await?;
    Ok(())
}

/// 始まった Saga の行を作ります (同じ ID があれば何もしません)。
///
/// # エラー
/// データベースの操作に失敗すれば `sqlx::Error`。
pub async fn insert_saga(
    conn: &mut SqliteConnection,
    row: &SagaSummary,
    version: i64,
    position: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sagas (id, media_id, owner_id, filename, status, current_step, attempt,
                            correlation_id, created_at, updated_at, failure_reason, version,
                            position, started_position)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&row.id)
    .bind(&row.media_id)
    .bind(&row.owner_id)
    .bind(&row.filename)
    .bind(&row.status)
    .bind(&row.current_step)
    .bind(row.attempt)
    .bind(&row.correlation_id)
    .bind(&row.created_at)
    .bind(&row.updated_at)
    .bind(&row.failure_reason)
    .bind(version)
    .bind(position)
    .bind(position)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// 要約を更新し、最終更新時刻・版・位置を進めます。
///
/// # エラー
/// データベースの操作に失敗すれば `sqlx::Error`。
pub async fn update_saga(
    conn: &mut SqliteConnection,
    saga_id: &str,
    update: SummaryUpdate<'_>,
    at: DateTime<Utc>,
    version: i64,
    position: i64,
) -> Result<(), sqlx::Error> {
    let (set_step, step) = match update.current_step {
        Some(step) => (true, step),
        None => (false, None),
    };
    sqlx::query(
        "UPDATE sagas SET
            status         = COALESCE(?, status),
            current_step   = CASE WHEN ? THEN ? ELSE current_step END,
            attempt        = COALESCE(?, attempt),
            failure_reason = COALESCE(?, failure_reason),
            updated_at     = ?,
            version        = ?,
            position       = ?
         WHERE id = ?",
    )
    .bind(update.status)
    .bind(set_step)
    .bind(step)
    .bind(update.attempt)
    .bind(update.failure_reason)
    .bind(timestamp(at))
    .bind(version)
    .bind(position)
    .bind(saga_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// タイムラインに 1 項目足します。
///
/// # エラー
/// データベースの操作に失敗すれば `sqlx::Error`。
pub async fn insert_step(
    conn: &mut SqliteConnection,
    step: NewStep<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO saga_steps (saga_id, position, step, attempt, outcome, reason, at)
         VALUES (?, ?, ?,
                 COALESCE(?, (SELECT attempt FROM sagas WHERE id = ?), 0),
                 ?, ?, ?)
         ON CONFLICT (saga_id, position) DO NOTHING",
    )
    .bind(step.saga_id)
    .bind(step.position)
    .bind(step.step)
    .bind(step.attempt)
    .bind(step.saga_id)
    .bind(step.outcome)
    .bind(step.reason)
    .bind(timestamp(step.at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// 所有者の Saga を新しい順に最大 `limit` 件返します。
///
/// # エラー
/// データベースの操作に失敗すれば `sqlx::Error`。
pub async fn list_for_owner(
    pool: &SqlitePool,
    owner_id: &str,
    limit: u32,
) -> Result<Vec<SagaSummary>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SUMMARY_SELECT} WHERE owner_id = ? ORDER BY started_position DESC LIMIT ?"
    ))
    .bind(owner_id)
    .bind(limit.min(MAX_LIST_LIMIT))
    .fetch_all(pool)
    .await
}

/// Saga を 1 件返します (タイムラインと同じ読み取りトランザクションで読むため、接続を受け取ります)。
///
/// # エラー
/// データベースの操作に失敗すれば `sqlx::Error`。
pub async fn find(
    conn: &mut SqliteConnection,
    saga_id: &str,
) -> Result<Option<SagaSummary>, sqlx::Error> {
    sqlx::query_as(&format!("{SUMMARY_SELECT} WHERE id = ?"))
        .bind(saga_id)
        .fetch_optional(&mut *conn)
        .await
}

/// Saga のタイムラインを位置の順に返します。
///
/// # エラー
/// データベースの操作に失敗すれば `sqlx::Error`。
pub async fn steps(
    conn: &mut SqliteConnection,
    saga_id: &str,
) -> Result<Vec<StepRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT step, attempt, outcome, reason, at, position
         FROM saga_steps WHERE saga_id = ? ORDER BY position",
    )
    .bind(saga_id)
    .fetch_all(&mut *conn)
    .await
}

/// 終端でない (`running`・`compensating`) Saga の ID を古い順に返します (再起動後の再駆動用)。
///
/// # エラー
/// データベースの操作に失敗すれば `sqlx::Error`。
pub async fn unfinished(pool: &SqlitePool) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM sagas WHERE status IN ('running', 'compensating')
         ORDER BY started_position",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
