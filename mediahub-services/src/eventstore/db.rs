//! SQLite の接続と読み取りの問い合わせ。
//!
//! 書き込みは [`super::writer`] の 1 本のタスクだけが、専用の接続で行います。
//! 読み取りはここにある関数が読み取り用の接続プール (WAL なので書き込みと並行に読めます)
//! から行います。

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use mediahub_core::envelope::{Envelope, EventMetadata};
use mediahub_core::ids::EventId;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};
use uuid::Uuid;

use super::error::StoreError;

/// 集約の型・ID の最大の長さ (バイト)。
pub const MAX_NAME_LEN: usize = 256;

/// `events` から読む列 (この順で [`row_to_envelope`] が読みます)。
pub(crate) const EVENT_COLUMNS: &str = "position, aggregate_type, aggregate_id, sequence, \
     event_type, event_version, payload, metadata, event_id, created_at";

/// コミットの耐久性 (SQLite の `synchronous`)。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Durability {
    /// コミットごとに WAL を fsync します。電源断でもコミット済みのイベントは失われません (既定)。
    #[default]
    Full,
    /// fsync をチェックポイント時にまとめます。プロセスが落ちても失われませんが、
    /// OS ごと落ちると直前のコミットが失われることがあります。速さ優先の開発用です。
    Normal,
}

/// ストリーム (集約の型と ID の組)。
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    /// 集約の型 (例: `Media`)。
    pub aggregate_type: String,
    /// 集約 ID。
    pub aggregate_id: String,
}

fn validate_name(what: &str, value: &str) -> Result<(), StoreError> {
    if value.is_empty()
        || value.chars().count() > MAX_NAME_LEN
        || value.chars().any(char::is_control)
    {
        return Err(StoreError::InvalidStream(format!(
            "{what} は 1〜{MAX_NAME_LEN} 文字の、制御文字を含まない文字列にしてください"
        )));
    }
    Ok(())
}

impl StreamKey {
    /// 集約の型と ID からストリームを作ります。
    ///
    /// # エラー
    /// どちらかが空・長すぎる・制御文字を含むなら [`StoreError::InvalidStream`]。
    pub fn new(
        aggregate_type: impl Into<String>,
        aggregate_id: impl Into<String>,
    ) -> Result<Self, StoreError> {
        let key = Self {
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.into(),
        };
        validate_name("aggregate_type", &key.aggregate_type)?;
        validate_name("aggregate_id", &key.aggregate_id)?;
        Ok(key)
    }
}

impl std::fmt::Display for StreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.aggregate_type, self.aggregate_id)
    }
}

/// グローバルログの絞り込み条件 (指定したものすべてに一致するイベントだけを返します)。
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// 集約の型。
    pub aggregate_type: Option<String>,
    /// 集約 ID。
    pub aggregate_id: Option<String>,
    /// 相関 ID。
    pub correlation_id: Option<Uuid>,
    /// ユーザー ID。
    pub user_id: Option<Uuid>,
}

/// 保存されたスナップショット。
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSnapshot {
    /// 集約の状態 (JSON)。
    pub aggregate: Value,
    /// スナップショットに含まれる最後のイベントの版。
    pub current_sequence: u64,
    /// スナップショット自身の版。
    pub current_snapshot: u64,
}

/// `u64` を SQLite の整数に変換します。
///
/// # エラー
/// `i64::MAX` を超えるなら [`StoreError::InvalidBatch`]。
pub fn to_db_int(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::InvalidBatch(format!("値 {value} は大きすぎます")))
}

fn from_db_int(value: i64, column: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} が負です: {value}")))
}

/// 保存時刻の文字列表現 (RFC 3339、UTC、マイクロ秒)。
#[must_use]
pub fn format_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// 現在時刻をマイクロ秒に切り詰めて返します (保存して読み戻しても同じ値になるように)。
#[must_use]
pub fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// `events` の 1 行をエンベロープにします。
///
/// # エラー
/// 列の値が読めなければ [`StoreError::Corrupt`] または [`StoreError::Database`]。
pub fn row_to_envelope(row: &SqliteRow) -> Result<Envelope, StoreError> {
    let payload: String = row.try_get("payload")?;
    let metadata: String = row.try_get("metadata")?;
    let event_id: String = row.try_get("event_id")?;
    let created_at: String = row.try_get("created_at")?;
    let data: Value =
        serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt(format!("payload: {e}")))?;
    let metadata_json: Value = serde_json::from_str(&metadata)
        .map_err(|e| StoreError::Corrupt(format!("metadata: {e}")))?;
    let metadata = EventMetadata::from_json(&metadata_json)
        .map_err(|e| StoreError::Corrupt(format!("metadata: {e}")))?;
    let id =
        EventId::from_str(&event_id).map_err(|e| StoreError::Corrupt(format!("event_id: {e}")))?;
    let created_at = DateTime::parse_from_rfc3339(&created_at)
        .map_err(|e| StoreError::Corrupt(format!("created_at: {e}")))?
        .with_timezone(&Utc);
    Ok(Envelope {
        id,
        position: from_db_int(row.try_get("position")?, "position")?,
        aggregate_id: row.try_get("aggregate_id")?,
        aggregate_type: row.try_get("aggregate_type")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        data,
        version: from_db_int(row.try_get("sequence")?, "sequence")?,
        created_at,
        metadata,
    })
}

fn base_options(path: &Path, durability: Durability) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        })
        .busy_timeout(Duration::from_secs(5))
        .disable_statement_logging()
}

/// 書き込み用の接続を開き (ファイルが無ければ作り)、マイグレーションを適用します。
///
/// # エラー
/// ディレクトリが作れない・開けない・マイグレーションに失敗したら [`StoreError`]。
pub async fn open_writer(
    path: &Path,
    durability: Durability,
) -> Result<SqliteConnection, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await?;
    }
    let mut conn = base_options(path, durability)
        .create_if_missing(true)
        .connect()
        .await?;
    sqlx::migrate!("./migrations/eventstore")
        .run(&mut conn)
        .await?;
    Ok(conn)
}

/// 読み取り用の接続プールを開きます (書き込み用の接続を先に開いておいてください)。
///
/// # エラー
/// 開けなければ [`StoreError::Database`]。
pub async fn open_reader(
    path: &Path,
    durability: Durability,
    max_connections: u32,
) -> Result<SqlitePool, StoreError> {
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .connect_with(base_options(path, durability).read_only(true))
        .await?;
    Ok(pool)
}

/// ログの先頭 (最大の位置、空なら 0) を読みます。
///
/// # エラー
/// 読めなければ [`StoreError`]。
pub async fn read_head(conn: &mut SqliteConnection) -> Result<u64, StoreError> {
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
        .fetch_one(&mut *conn)
        .await?;
    from_db_int(head, "position")
}

/// ストリームの現在の版 (空なら 0) を読みます。
///
/// # エラー
/// 読めなければ [`StoreError`]。
pub async fn stream_version(
    conn: &mut SqliteConnection,
    key: &StreamKey,
) -> Result<u64, StoreError> {
    let version: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(sequence), 0) FROM events WHERE aggregate_type = ? AND aggregate_id = ?",
    )
    .bind(&key.aggregate_type)
    .bind(&key.aggregate_id)
    .fetch_one(&mut *conn)
    .await?;
    from_db_int(version, "sequence")
}

/// ストリームのイベントのうち、版が `from_version` より大きいものを版の順に読みます。
///
/// # エラー
/// 読めなければ [`StoreError`]。
pub async fn read_stream(
    pool: &SqlitePool,
    key: &StreamKey,
    from_version: u64,
) -> Result<Vec<Envelope>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events \
         WHERE aggregate_type = ? AND aggregate_id = ? AND sequence > ? ORDER BY sequence"
    );
    let rows = sqlx::query(&sql)
        .bind(&key.aggregate_type)
        .bind(&key.aggregate_id)
        .bind(to_db_int(from_version)?)
        .fetch_all(pool)
        .await?;
    rows.iter().map(row_to_envelope).collect()
}

/// グローバルログから、位置が `after` より大きく `up_to` 以下で、絞り込み条件に一致する
/// イベントを位置の順に最大 `limit` 件読みます。
///
/// `up_to` には「コミット済みと分かっている先頭」を渡します。
///
/// # エラー
/// 読めなければ [`StoreError`]。
pub async fn read_log(
    pool: &SqlitePool,
    filter: &LogFilter,
    after: u64,
    up_to: u64,
    limit: u32,
) -> Result<Vec<Envelope>, StoreError> {
    read_window(pool, filter, after, up_to, limit, Order::OldestFirst).await
}

/// 位置 `(after, up_to]` のうち絞り込みに一致するイベントの **新しい方から** 最大 `limit` 件を、
/// 位置の順 (古い順) に並べて返します (ログを後ろへページ送りするため)。
///
/// # エラー
/// 読めなければ [`StoreError`]。
pub async fn read_log_newest(
    pool: &SqlitePool,
    filter: &LogFilter,
    after: u64,
    up_to: u64,
    limit: u32,
) -> Result<Vec<Envelope>, StoreError> {
    let mut events = read_window(pool, filter, after, up_to, limit, Order::NewestFirst).await?;
    events.reverse();
    Ok(events)
}

/// 読む向き。
#[derive(Debug, Clone, Copy)]
enum Order {
    OldestFirst,
    NewestFirst,
}

async fn read_window(
    pool: &SqlitePool,
    filter: &LogFilter,
    after: u64,
    up_to: u64,
    limit: u32,
    order: Order,
) -> Result<Vec<Envelope>, StoreError> {
    if after >= up_to || limit == 0 {
        return Ok(Vec::new());
    }
    let mut sql =
        format!("SELECT {EVENT_COLUMNS} FROM events WHERE position > ? AND position <= ?");
    if filter.aggregate_type.is_some() {
        sql.push_str(" AND aggregate_type = ?");
    }
    if filter.aggregate_id.is_some() {
        sql.push_str(" AND aggregate_id = ?");
    }
    if filter.correlation_id.is_some() {
        sql.push_str(" AND correlation_id = ?");
    }
    if filter.user_id.is_some() {
        sql.push_str(" AND user_id = ?");
    }
    sql.push_str(match order {
        Order::OldestFirst => " ORDER BY position LIMIT ?",
        Order::NewestFirst => " ORDER BY position DESC LIMIT ?",
    });
    let mut query = sqlx::query(&sql)
        .bind(to_db_int(after)?)
        .bind(to_db_int(up_to)?);
    if let Some(value) = &filter.aggregate_type {
        query = query.bind(value);
    }
    if let Some(value) = &filter.aggregate_id {
        query = query.bind(value);
    }
    if let Some(value) = &filter.correlation_id {
        query = query.bind(value.to_string());
    }
    if let Some(value) = &filter.user_id {
        query = query.bind(value.to_string());
    }
    let rows = query.bind(i64::from(limit)).fetch_all(pool).await?;
    rows.iter().map(row_to_envelope).collect()
}

/// スナップショットを読みます。
///
/// # エラー
/// 読めなければ [`StoreError`]。
pub async fn read_snapshot(
    pool: &SqlitePool,
    key: &StreamKey,
) -> Result<Option<StoredSnapshot>, StoreError> {
    let row = sqlx::query(
        "SELECT last_sequence, current_snapshot, payload FROM snapshots \
         WHERE aggregate_type = ? AND aggregate_id = ?",
    )
    .bind(&key.aggregate_type)
    .bind(&key.aggregate_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let payload: String = row.try_get("payload")?;
    Ok(Some(StoredSnapshot {
        aggregate: serde_json::from_str(&payload)
            .map_err(|e| StoreError::Corrupt(format!("snapshot payload: {e}")))?,
        current_sequence: from_db_int(row.try_get("last_sequence")?, "last_sequence")?,
        current_snapshot: from_db_int(row.try_get("current_snapshot")?, "current_snapshot")?,
    }))
}

/// 接続を閉じます (WAL のチェックポイントを含みます)。
///
/// # エラー
/// 閉じられなければ [`StoreError::Database`]。
pub async fn close_writer(conn: SqliteConnection) -> Result<(), StoreError> {
    conn.close().await?;
    Ok(())
}
