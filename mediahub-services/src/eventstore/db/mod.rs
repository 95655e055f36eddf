//! イベントストアの保存先: 2 つの実装 ([`sqlite`] と [`postgres`]) と、その共通の約束。
//!
//! HTTP の層 ([`super::api`]、[`super::log`]) と書き込みタスク ([`super::writer`]) は、
//! どちらの実装の上で動いているかを知りません。約束は 2 つのトレイトです。
//!
//! - [`EventReads`]: 読み取り (ストリーム、スナップショット、グローバルログの窓)。
//!   プロセスの中の [`Reader`] がどちらかの実装を持ち、ハンドラーはそれを呼びます。
//! - [`WriteConnection`]: 書き込みタスクだけが持つ 1 本の接続での、トランザクションの部品
//!   (始める、版と ID を調べる、まとめて挿入する、コミットする)。グループコミットの手順
//!   そのもの ([`super::writer`]) は 1 つで、両方の実装で同じです。
//!
//! どちらの実装でも、位置 (`position`) は **コミットの順に 1 から隙間なく** 並びます。
//! SQLite では書き込み手がプロセスに 1 人なので単純なカウンターで足ります。PostgreSQL では
//! 複数のイベントストアのプロセスが同じデータベースに書くので、トランザクションの初めに
//! 勧告ロック (advisory lock) を取り、ロックの中でログの先頭を読み直してから位置を割り当てます
//! (詳しくは [`postgres`])。

pub mod postgres;
pub mod recent;
pub mod sqlite;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use mediahub_core::envelope::{Envelope, EventMetadata};
use mediahub_core::ids::EventId;
use serde_json::Value;
use tokio::sync::watch;
use uuid::Uuid;

use super::error::StoreError;

/// 集約の型・ID の最大の長さ (バイト)。
pub const MAX_NAME_LEN: usize = 256;

/// `events` から読む列 (この順で [`row_to_envelope`] が読みます)。
pub(crate) const EVENT_COLUMNS: &str = "position, aggregate_type, aggregate_id, sequence, \
     event_type, event_version, payload, metadata, event_id, created_at";

/// コミットの耐久性 (SQLite の `synchronous`、PostgreSQL の `synchronous_commit`)。
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

/// 集約の型・ID として使える文字列か (1〜[`MAX_NAME_LEN`] 文字で、制御文字を含まない)。
///
/// 規則はここ一か所です。[`StreamKey::new`]、パスの [`super::view::StreamName`]、
/// グローバルログの絞り込みのクエリがこれで確かめます。
#[must_use]
pub fn is_valid_name(value: &str) -> bool {
    !value.is_empty()
        && value.chars().count() <= MAX_NAME_LEN
        && !value.chars().any(char::is_control)
}

fn validate_name(what: &str, value: &str) -> Result<(), StoreError> {
    if !is_valid_name(value) {
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

/// 一つの絞り込みに並べられる値の数の上限 (`aggregate_type` と `event_type`)。
pub const MAX_FILTER_VALUES: usize = 16;

/// グローバルログの絞り込み条件 (指定したものすべてに一致するイベントだけを返します)。
///
/// `aggregate_types` と `event_types` は「どれか一つに一致」です (空なら絞り込みません)。
/// 購読者は自分が反応するイベントだけをサーバーで選ばせ、関係のないコミットでは起こされずに済みます。
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// 集約の型 (どれか一つに一致。最大 [`MAX_FILTER_VALUES`] 個)。
    pub aggregate_types: Vec<String>,
    /// イベントの型 (どれか一つに一致。最大 [`MAX_FILTER_VALUES`] 個)。
    pub event_types: Vec<String>,
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

pub(crate) fn from_db_int(value: i64, column: &str) -> Result<u64, StoreError> {
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

/// `events` の 1 行 (列は [`EVENT_COLUMNS`] の順)。両方の実装が同じ列の型 (整数と文字列) で読みます。
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    position: i64,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: String,
    metadata: String,
    event_id: String,
    created_at: String,
}

impl EventRow {
    /// 行をエンベロープにします。
    ///
    /// # エラー
    /// 列の値が読めなければ [`StoreError::Corrupt`]。
    pub(crate) fn into_envelope(self) -> Result<Envelope, StoreError> {
        let data: Value = serde_json::from_str(&self.payload)
            .map_err(|e| StoreError::Corrupt(format!("payload: {e}")))?;
        let metadata_json: Value = serde_json::from_str(&self.metadata)
            .map_err(|e| StoreError::Corrupt(format!("metadata: {e}")))?;
        let metadata = EventMetadata::from_json(&metadata_json)
            .map_err(|e| StoreError::Corrupt(format!("metadata: {e}")))?;
        let id = EventId::from_str(&self.event_id)
            .map_err(|e| StoreError::Corrupt(format!("event_id: {e}")))?;
        let created_at = DateTime::parse_from_rfc3339(&self.created_at)
            .map_err(|e| StoreError::Corrupt(format!("created_at: {e}")))?
            .with_timezone(&Utc);
        Ok(Envelope {
            id,
            position: from_db_int(self.position, "position")?,
            aggregate_id: self.aggregate_id,
            aggregate_type: self.aggregate_type,
            event_type: self.event_type,
            event_version: self.event_version,
            data,
            version: from_db_int(self.sequence, "sequence")?,
            created_at,
            metadata,
        })
    }
}

/// 行の一覧をエンベロープの一覧にします。
pub(crate) fn envelopes(rows: Vec<EventRow>) -> Result<Vec<Envelope>, StoreError> {
    rows.into_iter().map(EventRow::into_envelope).collect()
}

/// `snapshots` の 1 行。
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SnapshotRow {
    last_sequence: i64,
    current_snapshot: i64,
    payload: String,
}

impl SnapshotRow {
    /// 行をスナップショットにします。
    ///
    /// # エラー
    /// 列の値が読めなければ [`StoreError::Corrupt`]。
    pub(crate) fn into_snapshot(self) -> Result<StoredSnapshot, StoreError> {
        Ok(StoredSnapshot {
            aggregate: serde_json::from_str(&self.payload)
                .map_err(|e| StoreError::Corrupt(format!("snapshot payload: {e}")))?,
            current_sequence: from_db_int(self.last_sequence, "last_sequence")?,
            current_snapshot: from_db_int(self.current_snapshot, "current_snapshot")?,
        })
    }
}

/// 書き込むイベント 1 件の列の値 (挿入する順)。両方の実装がこの順で束縛します。
#[derive(Debug)]
pub struct EventValues {
    /// グローバルログ上の位置。
    pub position: i64,
    /// 集約の型。
    pub aggregate_type: String,
    /// 集約 ID。
    pub aggregate_id: String,
    /// ストリームの中の版。
    pub sequence: i64,
    /// イベント型名。
    pub event_type: String,
    /// イベントのスキーマの版。
    pub event_version: String,
    /// 本文 (JSON の文字列)。
    pub payload: String,
    /// メタデータ (JSON の文字列)。
    pub metadata: String,
    /// イベント ID。
    pub event_id: String,
    /// 保存時刻 (RFC 3339)。
    pub created_at: String,
    /// 相関 ID (絞り込み用の列)。
    pub correlation_id: Option<String>,
    /// 因果 ID (絞り込み用の列)。
    pub causation_id: Option<String>,
    /// ユーザー ID (絞り込み用の列)。
    pub user_id: Option<String>,
}

/// INSERT の 1 行分のパラメーターを [`INSERT_COLUMNS`] の順に割り当てます (SQLite と PostgreSQL で共通)。
pub(crate) fn bind_event_row<'q, DB>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    row: &'q EventValues,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(row.position)
        .bind(row.aggregate_type.as_str())
        .bind(row.aggregate_id.as_str())
        .bind(row.sequence)
        .bind(row.event_type.as_str())
        .bind(row.event_version.as_str())
        .bind(row.payload.as_str())
        .bind(row.metadata.as_str())
        .bind(row.event_id.as_str())
        .bind(row.created_at.as_str())
        .bind(row.correlation_id.as_deref())
        .bind(row.causation_id.as_deref())
        .bind(row.user_id.as_deref())
}

impl EventValues {
    /// エンベロープから列の値を作ります。
    ///
    /// # エラー
    /// 位置か版が `i64` に収まらなければ [`StoreError::InvalidBatch`]。
    pub fn of(envelope: &Envelope) -> Result<Self, StoreError> {
        let metadata = &envelope.metadata;
        Ok(Self {
            position: to_db_int(envelope.position)?,
            aggregate_type: envelope.aggregate_type.clone(),
            aggregate_id: envelope.aggregate_id.clone(),
            sequence: to_db_int(envelope.version)?,
            event_type: envelope.event_type.clone(),
            event_version: envelope.event_version.clone(),
            payload: envelope.data.to_string(),
            metadata: metadata.to_json().to_string(),
            event_id: envelope.id.to_string(),
            created_at: format_time(&envelope.created_at),
            correlation_id: metadata.correlation_id.map(|id| id.to_string()),
            causation_id: metadata.causation_id.map(|id| id.to_string()),
            user_id: metadata.user_id.map(|id| id.to_string()),
        })
    }
}

/// `INSERT INTO events` の列 (この順で [`EventValues`] を束縛します)。
pub(crate) const INSERT_COLUMNS: &str = "position, aggregate_type, aggregate_id, sequence, \
     event_type, event_version, payload, metadata, event_id, created_at, \
     correlation_id, causation_id, user_id";
/// `INSERT INTO events` の 1 行の列の数。
pub(crate) const INSERT_WIDTH: usize = 13;
/// 一度に束ねる行の数の候補 (準備済みの文を使い回せるよう、この大きさに分けて INSERT します)。
pub(crate) const INSERT_CHUNKS: [usize; 10] = [500, 256, 128, 64, 32, 16, 8, 4, 2, 1];
/// 1 つの問い合わせに入れるパラメーターの塊の大きさ (ID の存在確認・版の読み取り)。
pub(crate) const LOOKUP_CHUNK: usize = 200;

/// SQL のパラメーターの書き方 (SQLite は `?`、PostgreSQL は `$1, $2, …`)。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholder {
    /// `?`
    Question,
    /// `$n`
    Numbered,
}

impl Placeholder {
    /// `?` で書いた SQL を、この書き方に直します (SQL の文字列リテラルに `?` を書かないこと)。
    #[must_use]
    pub(crate) fn rewrite(self, sql: &str) -> String {
        match self {
            Placeholder::Question => sql.to_owned(),
            Placeholder::Numbered => {
                let mut out = String::with_capacity(sql.len() + 16);
                let mut n = 0;
                for c in sql.chars() {
                    if c == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

/// 何行かをまとめて挿入する INSERT 文 (行数ごとに 1 つ)。
#[derive(Debug)]
pub(crate) struct InsertStatements {
    by_rows: Vec<(usize, String)>,
}

impl InsertStatements {
    /// パラメーターの書き方に合わせて文を作ります。
    #[must_use]
    pub(crate) fn new(placeholder: Placeholder) -> Self {
        let row = format!("({})", vec!["?"; INSERT_WIDTH].join(", "));
        let by_rows = INSERT_CHUNKS
            .iter()
            .map(|&rows| {
                let values = vec![row.as_str(); rows].join(", ");
                let sql = format!("INSERT INTO events ({INSERT_COLUMNS}) VALUES {values}");
                (rows, placeholder.rewrite(&sql))
            })
            .collect();
        Self { by_rows }
    }

    /// `remaining` 行のうち、次に 1 つの文で入れる行数とその文。
    pub(crate) fn next_chunk(&self, remaining: usize) -> Option<(usize, &str)> {
        self.by_rows
            .iter()
            .find(|(rows, _)| *rows <= remaining)
            .map(|(rows, sql)| (*rows, sql.as_str()))
    }
}

/// ストリームの現在の版を読む SQL (`?` が `wanted` の行の数 × 2 個)。
///
/// 各ストリームの最大の版は (aggregate_type, aggregate_id, sequence) の一意索引を
/// 1 回たどるだけで求まります (相関サブクエリ。OR で並べると全件走査になり得ます)。
pub(crate) fn versions_sql(streams: usize) -> String {
    let rows = vec!["(?, ?)"; streams].join(", ");
    format!(
        "WITH wanted (t, i) AS (VALUES {rows}) \
         SELECT t AS aggregate_type, i AS aggregate_id, \
         (SELECT MAX(sequence) FROM events WHERE aggregate_type = wanted.t AND aggregate_id = wanted.i) AS version \
         FROM wanted"
    )
}

/// 保存済みのイベント ID を調べる SQL (`?` が `ids` 個)。
pub(crate) fn existing_ids_sql(ids: usize) -> String {
    let marks = vec!["?"; ids].join(", ");
    format!("SELECT event_id FROM events WHERE event_id IN ({marks})")
}

/// ストリームを版の順に読む SQL。
pub(crate) const READ_STREAM_SQL: &str = "SELECT position, aggregate_type, aggregate_id, sequence, \
     event_type, event_version, payload, metadata, event_id, created_at FROM events \
     WHERE aggregate_type = ? AND aggregate_id = ? AND sequence > ? ORDER BY sequence";
/// スナップショットを読む SQL。
pub(crate) const READ_SNAPSHOT_SQL: &str = "SELECT last_sequence, current_snapshot, payload \
     FROM snapshots WHERE aggregate_type = ? AND aggregate_id = ?";
/// スナップショットの版だけを読む SQL。
pub(crate) const SNAPSHOT_VERSION_SQL: &str =
    "SELECT current_snapshot FROM snapshots WHERE aggregate_type = ? AND aggregate_id = ?";
/// イベント ID で 1 件読む SQL。
pub(crate) const EVENT_BY_ID_SQL: &str = "SELECT position, aggregate_type, aggregate_id, sequence, \
     event_type, event_version, payload, metadata, event_id, created_at FROM events WHERE event_id = ?";
/// まだ無いスナップショットを書く SQL (あれば何もしない)。
pub(crate) const INSERT_SNAPSHOT_SQL: &str = "INSERT INTO snapshots \
     (aggregate_type, aggregate_id, last_sequence, current_snapshot, payload) \
     VALUES (?, ?, ?, ?, ?) ON CONFLICT (aggregate_type, aggregate_id) DO NOTHING";
/// 期待した版のスナップショットを書き換える SQL。
pub(crate) const UPDATE_SNAPSHOT_SQL: &str = "UPDATE snapshots \
     SET last_sequence = ?, current_snapshot = ?, payload = ? \
     WHERE aggregate_type = ? AND aggregate_id = ? AND current_snapshot = ?";

/// ログを読む向き。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// 古い順 (位置の小さい方から)。
    OldestFirst,
    /// 新しい順 (位置の大きい方から)。
    NewestFirst,
}

impl LogFilter {
    /// イベントが絞り込みに一致するか ([`window_sql`] の条件と同じ。メモリの窓
    /// [`recent::RecentEvents`] が使います)。
    #[must_use]
    pub fn matches(&self, event: &Envelope) -> bool {
        let any_of =
            |values: &[String], value: &str| values.is_empty() || values.iter().any(|v| v == value);
        any_of(&self.aggregate_types, &event.aggregate_type)
            && any_of(&self.event_types, &event.event_type)
            && self
                .aggregate_id
                .as_ref()
                .is_none_or(|id| *id == event.aggregate_id)
            && self
                .correlation_id
                .is_none_or(|id| event.metadata.correlation_id.map(|c| c.as_uuid()) == Some(id))
            && self
                .user_id
                .is_none_or(|id| event.metadata.user_id.map(|u| u.as_uuid()) == Some(id))
    }
}

/// ログの窓 `(after, up_to]` を読む SQL (絞り込みの `?` が続き、最後が `LIMIT ?`)。
pub(crate) fn window_sql(filter: &LogFilter, order: Order) -> String {
    let mut sql =
        format!("SELECT {EVENT_COLUMNS} FROM events WHERE position > ? AND position <= ?");
    // 型が一つなら索引 (aggregate_type, position) を位置の順にたどります。複数の型を索引で集めると
    // 位置の順に並べ直す一時 B 木が要り、先頭から追いつくページ読みが件数の 2 乗になるので、
    // `|| ''` で索引を外して位置の順に走査させます (SQLite と PostgreSQL のどちらでも書ける形)。
    let aggregate_type = match filter.aggregate_types.len() {
        1 => "aggregate_type",
        _ => "aggregate_type || ''",
    };
    push_any_of(&mut sql, aggregate_type, filter.aggregate_types.len());
    push_any_of(&mut sql, "event_type", filter.event_types.len());
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
    sql
}

/// 「`column` が `count` 個の値のどれか」の条件を足します (0 個なら何も足しません)。
fn push_any_of(sql: &mut String, column: &str, count: usize) {
    match count {
        0 => {}
        1 => {
            sql.push_str(" AND ");
            sql.push_str(column);
            sql.push_str(" = ?");
        }
        n => {
            sql.push_str(" AND ");
            sql.push_str(column);
            sql.push_str(" IN (?");
            sql.push_str(&", ?".repeat(n - 1));
            sql.push(')');
        }
    }
}

/// 絞り込みの値 ([`window_sql`] の `?` の順)。
pub(crate) fn filter_values(filter: &LogFilter) -> Vec<String> {
    let mut values = Vec::new();
    values.extend(filter.aggregate_types.iter().cloned());
    values.extend(filter.event_types.iter().cloned());
    values.extend(filter.aggregate_id.clone());
    values.extend(filter.correlation_id.map(|id| id.to_string()));
    values.extend(filter.user_id.map(|id| id.to_string()));
    values
}

/// 読み取りの約束。実装は [`sqlite::SqliteReads`] と [`postgres::PgReads`]。
pub trait EventReads: Send + Sync {
    /// ストリームのイベントのうち、版が `from_version` より大きいものを版の順に読みます。
    fn read_stream(
        &self,
        key: &StreamKey,
        from_version: u64,
    ) -> impl Future<Output = Result<Vec<Envelope>, StoreError>> + Send;

    /// スナップショットを読みます。
    fn read_snapshot(
        &self,
        key: &StreamKey,
    ) -> impl Future<Output = Result<Option<StoredSnapshot>, StoreError>> + Send;

    /// 位置 `(after, up_to]` のうち絞り込みに一致するイベントを、`order` の側から最大 `limit` 件
    /// 読みます (返す順も `order` のまま)。
    fn read_window(
        &self,
        filter: &LogFilter,
        after: u64,
        up_to: u64,
        limit: u32,
        order: Order,
    ) -> impl Future<Output = Result<Vec<Envelope>, StoreError>> + Send;

    /// 読み取り用の接続を閉じます。
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// 束のトランザクションを始めた時点で分かっていること ([`WriteConnection::begin_batch`])。
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchStart {
    /// このトランザクションから見たログの先頭 ([`WriteConnection::begin`])。
    pub head: u64,
    /// 束のストリームの今の版 (無いストリームは入りません)。
    pub versions: HashMap<StreamKey, u64>,
    /// 束のイベント ID のうち、すでに保存されているもの。
    pub existing: HashSet<String>,
}

/// 書き込みタスクだけが持つ 1 本の接続での、トランザクションの部品。
/// 実装は [`sqlite::SqliteWriter`] と [`postgres::PgWriter`]。
///
/// 書き込みタスクは 1 回のコミットで `begin_batch` (= `begin` → `stream_versions` →
/// `existing_ids`) → (必要なら `event_by_id` と `write_snapshot`) → `insert_and_commit`
/// (= `insert_events` → `commit`) の順に呼び、失敗したら `rollback` を呼びます。
/// 書き手が自分だけの実装 ([`WriteConnection::sole_writer`]) では、覚えた版で決まる束を
/// `begin_insert_and_commit` の 1 回で書きます。
/// 2 つのまとめ役は、文をまとめて送れる実装が往復を減らすためにあります
/// (SQLite は接続のスレッドへの受け渡しが 1 文ごとに 1 回。既定は部品を順に呼ぶだけ)。
pub trait WriteConnection: Send + 'static {
    /// トランザクションを始め、**このトランザクションから見たログの先頭** を返します。
    /// 位置はその次から割り当てます。`known_head` はこのプロセスが知っている先頭です
    /// (書き手が自分だけの実装はそのまま返します)。
    fn begin(&mut self, known_head: u64) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// ストリームの現在の版をまとめて読みます (無いストリームは結果に入りません)。
    fn stream_versions(
        &mut self,
        streams: &[&StreamKey],
    ) -> impl Future<Output = Result<HashMap<StreamKey, u64>, StoreError>> + Send;

    /// イベント ID のうち、すでに保存されているものを返します。
    fn existing_ids(
        &mut self,
        ids: &[String],
    ) -> impl Future<Output = Result<HashSet<String>, StoreError>> + Send;

    /// イベント ID で保存済みのイベントを読みます。
    fn event_by_id(
        &mut self,
        id: EventId,
    ) -> impl Future<Output = Result<Option<Envelope>, StoreError>> + Send;

    /// スナップショットの今の版を読みます (無ければ `None`)。
    fn snapshot_version(
        &mut self,
        stream: &StreamKey,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// スナップショットを条件つきで書き、変わった行の数 (0 か 1) を返します。
    /// `expected` が `None` なら「まだ無いときだけ作る」、`Some(v)` なら「今の版が `v` のときだけ書き換える」。
    fn put_snapshot(
        &mut self,
        stream: &StreamKey,
        sequence: i64,
        version: i64,
        expected: Option<i64>,
        payload: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// イベントの行をまとめて挿入します。
    fn insert_events(
        &mut self,
        rows: &[EventValues],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// コミットします。`head` はコミット後のログの先頭です (ほかのプロセスに知らせる実装があります)。
    fn commit(&mut self, head: u64) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// ロールバックします (失敗はログに残すだけです)。
    fn rollback(&mut self) -> impl Future<Output = ()> + Send;

    /// 接続を閉じます。
    fn close(self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// トランザクションを始め、束のストリームの版と保存済みの ID を読みます。
    /// 読み取りに失敗したときは、始めたトランザクションを巻き戻してから返します。
    fn begin_batch(
        &mut self,
        known_head: u64,
        streams: &[&StreamKey],
        ids: &[String],
    ) -> impl Future<Output = Result<BatchStart, StoreError>> + Send {
        begin_in_steps(self, known_head, streams, ids)
    }

    /// 書き手がこの接続 (このプロセスの書き込みタスク) だけの保存先なら `true` です (SQLite)。
    ///
    /// そのとき書き込みタスクはストリームの版を覚えておき、覚えた版で決まる束は版と ID の
    /// 読み取りを省いて [`WriteConnection::begin_insert_and_commit`] で書きます。既定は `false`
    /// (PostgreSQL はほかのプロセスも書くので、毎回 [`WriteConnection::begin_batch`] で読みます)。
    fn sole_writer(&self) -> bool {
        false
    }

    /// コミットした直後のイベントを位置の順に受け取ります (ログの先頭を進める **前に** 呼ばれます)。
    ///
    /// 既定は何もしません。書き手が自分だけの SQLite は、読み取り役と共有する
    /// [`recent::RecentEvents`] に入れ、ログの末尾の読み取りをデータベースに行かずに答えます。
    fn committed<'a>(&self, _events: impl Iterator<Item = &'a Envelope>) {}

    /// 読み取りをせずにトランザクションを始め、イベントの行を挿入してコミットします
    /// (`known_head` は [`WriteConnection::begin`] と、`head` は [`WriteConnection::commit`] と同じ)。
    /// 失敗したら呼び出し側が `rollback` を呼びます。
    ///
    /// 書き込みタスクは [`WriteConnection::sole_writer`] が `true` の実装でだけ呼びます。
    /// 既定は部品を順に呼ぶだけで、文をまとめて送れる実装 (SQLite) は行が 1 つの文に入れば往復を 1 回にします。
    fn begin_insert_and_commit(
        &mut self,
        known_head: u64,
        rows: &[EventValues],
        head: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            self.begin(known_head).await?;
            self.insert_and_commit(rows, head).await
        }
    }

    /// イベントの行を挿入してコミットします。失敗したら呼び出し側が `rollback` を呼びます。
    fn insert_and_commit(
        &mut self,
        rows: &[EventValues],
        head: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            self.insert_events(rows).await?;
            self.commit(head).await
        }
    }
}

/// [`WriteConnection::begin_batch`] を部品の呼び出しで行います (既定の実装)。
///
/// # エラー
/// 始められない・読めなければ [`StoreError`] (読めなかったときは巻き戻し済み)。
pub(crate) async fn begin_in_steps<C: WriteConnection + ?Sized>(
    conn: &mut C,
    known_head: u64,
    streams: &[&StreamKey],
    ids: &[String],
) -> Result<BatchStart, StoreError> {
    let head = conn.begin(known_head).await?;
    let looked_up = match conn.stream_versions(streams).await {
        Ok(versions) => conn
            .existing_ids(ids)
            .await
            .map(|existing| (versions, existing)),
        Err(err) => Err(err),
    };
    match looked_up {
        Ok((versions, existing)) => Ok(BatchStart {
            head,
            versions,
            existing,
        }),
        Err(err) => {
            conn.rollback().await;
            Err(err)
        }
    }
}

/// プロセスが持つ読み取り役 (どちらかの実装)。HTTP の層はこれだけを使います。
#[derive(Debug, Clone)]
pub enum Reader {
    /// SQLite。
    Sqlite(sqlite::SqliteReads),
    /// PostgreSQL。
    Postgres(postgres::PgReads),
}

impl Reader {
    /// ストリームを読みます ([`EventReads::read_stream`])。
    ///
    /// # エラー
    /// 読めなければ [`StoreError`]。
    pub async fn read_stream(
        &self,
        key: &StreamKey,
        from_version: u64,
    ) -> Result<Vec<Envelope>, StoreError> {
        match self {
            Reader::Sqlite(reads) => reads.read_stream(key, from_version).await,
            Reader::Postgres(reads) => reads.read_stream(key, from_version).await,
        }
    }

    /// スナップショットを読みます ([`EventReads::read_snapshot`])。
    ///
    /// # エラー
    /// 読めなければ [`StoreError`]。
    pub async fn read_snapshot(
        &self,
        key: &StreamKey,
    ) -> Result<Option<StoredSnapshot>, StoreError> {
        match self {
            Reader::Sqlite(reads) => reads.read_snapshot(key).await,
            Reader::Postgres(reads) => reads.read_snapshot(key).await,
        }
    }

    /// 位置が `after` より大きく `up_to` 以下で絞り込みに一致するイベントを、位置の順に最大
    /// `limit` 件読みます。`up_to` には「コミット済みと分かっている先頭」を渡します。
    ///
    /// # エラー
    /// 読めなければ [`StoreError`]。
    pub async fn read_log(
        &self,
        filter: &LogFilter,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Result<Vec<Envelope>, StoreError> {
        self.window(filter, after, up_to, limit, Order::OldestFirst)
            .await
    }

    /// 位置 `(after, up_to]` のうち絞り込みに一致するイベントの **新しい方から** 最大 `limit` 件を、
    /// 位置の順 (古い順) に並べて返します (ログを後ろへページ送りするため)。
    ///
    /// # エラー
    /// 読めなければ [`StoreError`]。
    pub async fn read_log_newest(
        &self,
        filter: &LogFilter,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Result<Vec<Envelope>, StoreError> {
        let mut events = self
            .window(filter, after, up_to, limit, Order::NewestFirst)
            .await?;
        events.reverse();
        Ok(events)
    }

    async fn window(
        &self,
        filter: &LogFilter,
        after: u64,
        up_to: u64,
        limit: u32,
        order: Order,
    ) -> Result<Vec<Envelope>, StoreError> {
        if after >= up_to || limit == 0 {
            return Ok(Vec::new());
        }
        match self {
            Reader::Sqlite(reads) => reads.read_window(filter, after, up_to, limit, order).await,
            Reader::Postgres(reads) => reads.read_window(filter, after, up_to, limit, order).await,
        }
    }

    /// 読み取り用の接続を閉じます。
    pub async fn close(&self) {
        match self {
            Reader::Sqlite(reads) => reads.close().await,
            Reader::Postgres(reads) => reads.close().await,
        }
    }
}

/// イベントの保存先 (`--database` の値)。`postgres://` か `postgresql://` で始まれば PostgreSQL、
/// `sqlite://` で始まるか、それ以外はファイルのパスとして SQLite です。
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// SQLite のファイル。
    Sqlite(PathBuf),
    /// PostgreSQL の接続 URL。
    Postgres(String),
}

impl StoreLocation {
    /// 値を読みます (失敗しません。空でない文字列はどれもどちらかになります)。
    #[must_use]
    pub fn parse(value: &str) -> Self {
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            StoreLocation::Postgres(value.to_owned())
        } else {
            let path = value.strip_prefix("sqlite://").unwrap_or(value);
            StoreLocation::Sqlite(PathBuf::from(path))
        }
    }
}

impl FromStr for StoreLocation {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(value))
    }
}

impl From<PathBuf> for StoreLocation {
    fn from(path: PathBuf) -> Self {
        StoreLocation::Sqlite(path)
    }
}

impl From<&Path> for StoreLocation {
    fn from(path: &Path) -> Self {
        StoreLocation::Sqlite(path.to_path_buf())
    }
}

impl From<&PathBuf> for StoreLocation {
    fn from(path: &PathBuf) -> Self {
        StoreLocation::Sqlite(path.clone())
    }
}

impl From<&str> for StoreLocation {
    fn from(value: &str) -> Self {
        Self::parse(value)
    }
}

impl From<String> for StoreLocation {
    fn from(value: String) -> Self {
        Self::parse(&value)
    }
}

/// ログに出す形。PostgreSQL の URL のパスワードは `***` に伏せます。
impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => match url::Url::parse(url) {
                Ok(mut parsed) if parsed.password().is_some() => {
                    // パスワードを伏せられない URL (ありえない) はそのまま出さず、伏せた旨だけ出します。
                    if parsed.set_password(Some("***")).is_err() {
                        return f.write_str("postgres://(伏せました)");
                    }
                    write!(f, "{parsed}")
                }
                _ => f.write_str(url),
            },
        }
    }
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreLocation({self})")
    }
}

/// ログの先頭を、今より大きいときだけ進めます (自分のコミットと通知のどちらが先に来ても戻りません)。
pub fn advance_head(head: &watch::Sender<u64>, new_head: u64) {
    head.send_if_modified(|current| {
        if new_head > *current {
            *current = new_head;
            true
        } else {
            false
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(aggregate_types: &[&str], event_types: &[&str]) -> LogFilter {
        LogFilter {
            aggregate_types: aggregate_types.iter().map(|t| (*t).to_owned()).collect(),
            event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
            ..LogFilter::default()
        }
    }

    #[test]
    fn window_sql_with_one_aggregate_type_compares_the_indexed_column() {
        let sql = window_sql(&filter(&["Album"], &[]), Order::OldestFirst);
        assert!(
            sql.ends_with("position <= ? AND aggregate_type = ? ORDER BY position LIMIT ?"),
            "{sql}"
        );
    }

    #[test]
    fn window_sql_with_two_aggregate_types_and_three_event_types_lists_them_off_the_index() {
        let sql = window_sql(
            &filter(&["Album", "Media"], &["A", "B", "C"]),
            Order::NewestFirst,
        );
        assert!(
            sql.ends_with(
                "AND aggregate_type || '' IN (?, ?) AND event_type IN (?, ?, ?) \
                 ORDER BY position DESC LIMIT ?"
            ),
            "{sql}"
        );
        assert_eq!(
            filter_values(&filter(&["Album", "Media"], &["A", "B", "C"])),
            ["Album", "Media", "A", "B", "C"]
        );
    }
}
