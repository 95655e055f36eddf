//! saga サービスの読みモデル (SQLite): `sagas` (Saga ごとの要約) と `saga_steps` (タイムライン)。
//!
//! 表は [`migrate`] が `migrations/saga/` のマイグレーションで作ります (ほかのサービスと同じ)。
//! 書き込みはプロジェクション ([`super::projection`]) だけが、購読ランナーのトランザクションの中で
//! 行います。時刻は RFC 3339 (UTC、マイクロ秒、`Z`) の文字列で保存します。

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{SqliteConnection, SqlitePool};

use super::view::{SagaStepView, SagaSummary};
use crate::platform::paging::Cursor;

/// 一覧で返す最大の件数。
pub const MAX_LIST_LIMIT: u32 = 100;

/// 要約 ([`SagaSummary`]) として読む列。
const SUMMARY_SELECT: &str =
    "SELECT id, media_id, owner_id, filename, status, current_step, attempt,
        next_attempt_at, fault, correlation_id, created_at, updated_at, failure_reason,
        started_position FROM sagas";

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
    /// 実行中のステップの次の試行の予定時刻 (`current_step` を変えるときだけ使い、
    /// `current_step` を空にするときは一緒に空にします)。
    pub next_attempt_at: Option<&'a str>,
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

/// 表を作り、足りない列を足します (`migrations/saga/`、`sqlx::migrate!`)。
///
/// # エラー
/// マイグレーションに失敗すれば `MigrateError`。
pub async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("./migrations/saga").run(pool).await
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
                            fault, correlation_id, created_at, updated_at, failure_reason,
                            version, position, started_position)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&row.id)
    .bind(&row.media_id)
    .bind(&row.owner_id)
    .bind(&row.filename)
    .bind(&row.status)
    .bind(&row.current_step)
    .bind(row.attempt)
    .bind(&row.fault)
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
            next_attempt_at = CASE WHEN ? THEN ? ELSE next_attempt_at END,
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
    .bind(set_step)
    .bind(step.and(update.next_attempt_at))
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

/// 一覧の絞り込みとページ。
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// 状態 (`running` など。`None` ならすべて)。
    pub status: Option<String>,
    /// 検索語: ファイル名の部分一致 (大文字小文字を区別しない)、または Saga ID・メディア ID の前方一致。
    pub query: Option<String>,
    /// 前のページの最後の行 (`None` なら最初のページ)。
    pub after: Option<Cursor>,
    /// 最大件数 (1〜[`MAX_LIST_LIMIT`])。
    pub limit: u32,
}

/// `LIKE` の特殊文字 (`%`・`_`・`\`) を文字どおりに扱うよう逃がします。
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// 所有者の Saga を新しい順 (開始位置の降順) に 1 ページ返します。続きがあれば次のページの
/// カーソルも返します。
///
/// # エラー
/// データベースの操作に失敗すれば `sqlx::Error`。
pub async fn list_for_owner(
    pool: &SqlitePool,
    owner_id: &str,
    filter: &ListFilter,
) -> Result<(Vec<SagaSummary>, Option<Cursor>), sqlx::Error> {
    let limit = filter.limit.clamp(1, MAX_LIST_LIMIT);
    let query = filter
        .query
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty());
    let contains = query.map(|q| format!("%{}%", like_escape(q)));
    let prefix = query.map(|q| format!("{}%", like_escape(&q.to_lowercase())));
    let after_position = filter
        .after
        .map(|c| i64::try_from(c.position).unwrap_or(i64::MAX));
    let rows: Vec<SagaRow> = sqlx::query_as(&format!(
        "{SUMMARY_SELECT}
         WHERE owner_id = ?1
           AND (?2 IS NULL OR status = ?2)
           AND (?3 IS NULL OR filename LIKE ?3 ESCAPE '\\'
                OR id LIKE ?4 ESCAPE '\\' OR media_id LIKE ?4 ESCAPE '\\')
           AND (?5 IS NULL OR started_position < ?5 OR (started_position = ?5 AND id < ?6))
         ORDER BY started_position DESC, id DESC
         LIMIT ?7"
    ))
    .bind(owner_id)
    .bind(filter.status.as_deref())
    .bind(contains)
    .bind(prefix)
    .bind(after_position)
    .bind(filter.after.map(|c| c.id.to_string()))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?;
    let more = rows.len() > limit as usize;
    let page: Vec<SagaRow> = rows.into_iter().take(limit as usize).collect();
    let next = page.last().filter(|_| more).and_then(SagaRow::cursor);
    Ok((page.into_iter().map(|r| r.summary).collect(), next))
}

/// 一覧の 1 行: 要約と並びのキー。
#[derive(Debug, sqlx::FromRow)]
struct SagaRow {
    #[sqlx(flatten)]
    summary: SagaSummary,
    started_position: i64,
}

impl SagaRow {
    fn cursor(&self) -> Option<Cursor> {
        Some(Cursor {
            position: u64::try_from(self.started_position).ok()?,
            id: self.summary.id.parse().ok()?,
        })
    }
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

fn to_u32(value: i64) -> u32 {
    u32::try_from(value).unwrap_or_default()
}

impl From<StepRow> for SagaStepView {
    fn from(row: StepRow) -> Self {
        Self {
            step: row.step,
            attempt: to_u32(row.attempt),
            outcome: row.outcome,
            reason: row.reason,
            at: row.at,
            position: u64::try_from(row.position).unwrap_or_default(),
        }
    }
}
