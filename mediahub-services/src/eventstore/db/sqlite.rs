//! SQLite の実装 (埋め込みの既定)。
//!
//! 書き込みは 1 本の書き込みタスクだけが専用の接続 ([`SqliteWriter`]) で行います。
//! `BEGIN IMMEDIATE` がファイルの書き込みロックを取るので、同じファイルに別のプロセスが
//! 同時に書くことはできません。位置は書き込みタスクが数えるカウンターで割り当てます。
//! 読み取りは読み取り専用の接続プール ([`SqliteReads`]) から行います (WAL なので書き込みと
//! 並行に読めます)。

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mediahub_core::envelope::Envelope;
use mediahub_core::ids::EventId;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

use super::recent::RecentEvents;
use super::{
    BatchStart, Durability, EVENT_BY_ID_SQL, EventReads, EventRow, EventValues,
    INSERT_SNAPSHOT_SQL, InsertStatements, LOOKUP_CHUNK, LogFilter, Order, Placeholder,
    READ_SNAPSHOT_SQL, READ_STREAM_SQL, SNAPSHOT_VERSION_SQL, SnapshotRow, StoredSnapshot,
    StreamKey, UPDATE_SNAPSHOT_SQL, WriteConnection, begin_in_steps, bind_event_row, envelopes,
    existing_ids_sql, filter_values, from_db_int, to_db_int, versions_sql, window_sql,
};
use crate::eventstore::error::StoreError;

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
pub async fn open_writer(path: &Path, durability: Durability) -> Result<SqliteWriter, StoreError> {
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
    Ok(SqliteWriter {
        conn,
        statements: InsertStatements::new(Placeholder::Question),
        recent: Arc::new(RecentEvents::default()),
    })
}

/// 読み取り用の接続プールを開きます (書き込み用の接続を先に開いておいてください)。
///
/// 接続を貸す前の確認 (`test_before_acquire`) はしません
/// ([`consumer::open_database`](crate::consumer::open_database) と同じ理由)。
///
/// # エラー
/// 開けなければ [`StoreError::Database`]。
pub async fn open_reader(
    path: &Path,
    durability: Durability,
    max_connections: u32,
) -> Result<SqliteReads, StoreError> {
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .test_before_acquire(false)
        .connect_with(base_options(path, durability).read_only(true))
        .await?;
    Ok(SqliteReads { pool, recent: None })
}

/// SQLite の読み取り役 (読み取り専用の接続プール)。
#[derive(Debug, Clone)]
pub struct SqliteReads {
    pool: SqlitePool,
    recent: Option<Arc<RecentEvents>>,
}

impl SqliteReads {
    /// 同じプロセスの書き込み用の接続 `writer` が入れる最近のイベントの窓から、ログの末尾を
    /// 読むようにします ([`RecentEvents`]。窓に無い範囲はこれまでどおりデータベースから読みます)。
    #[must_use]
    pub fn with_recent_of(mut self, writer: &SqliteWriter) -> Self {
        self.recent = Some(Arc::clone(&writer.recent));
        self
    }
}

impl EventReads for SqliteReads {
    async fn read_stream(
        &self,
        key: &StreamKey,
        from_version: u64,
    ) -> Result<Vec<Envelope>, StoreError> {
        let rows = sqlx::query_as::<_, EventRow>(READ_STREAM_SQL)
            .bind(&key.aggregate_type)
            .bind(&key.aggregate_id)
            .bind(to_db_int(from_version)?)
            .fetch_all(&self.pool)
            .await?;
        envelopes(rows)
    }

    async fn read_snapshot(&self, key: &StreamKey) -> Result<Option<StoredSnapshot>, StoreError> {
        sqlx::query_as::<_, SnapshotRow>(READ_SNAPSHOT_SQL)
            .bind(&key.aggregate_type)
            .bind(&key.aggregate_id)
            .fetch_optional(&self.pool)
            .await?
            .map(SnapshotRow::into_snapshot)
            .transpose()
    }

    async fn read_window(
        &self,
        filter: &LogFilter,
        after: u64,
        up_to: u64,
        limit: u32,
        order: Order,
    ) -> Result<Vec<Envelope>, StoreError> {
        if let Some(events) = self
            .recent
            .as_deref()
            .and_then(|recent| recent.window(filter, after, up_to, limit, order))
        {
            return Ok(events);
        }
        let sql = window_sql(filter, order);
        let mut query = sqlx::query_as::<_, EventRow>(&sql)
            .bind(to_db_int(after)?)
            .bind(to_db_int(up_to)?);
        for value in filter_values(filter) {
            query = query.bind(value);
        }
        let rows = query.bind(i64::from(limit)).fetch_all(&self.pool).await?;
        envelopes(rows)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// SQLite の書き込み用の接続。
#[derive(Debug)]
pub struct SqliteWriter {
    conn: SqliteConnection,
    statements: InsertStatements,
    /// コミットしたイベントを入れる窓 (読み取り役と共有。[`SqliteReads::with_recent_of`])。
    recent: Arc<RecentEvents>,
}

impl SqliteWriter {
    /// ログの先頭 (最大の位置、空なら 0) を読みます。
    ///
    /// # エラー
    /// 読めなければ [`StoreError`]。
    pub async fn read_head(&mut self) -> Result<u64, StoreError> {
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&mut self.conn)
            .await?;
        from_db_int(head, "position")
    }

    async fn exec(&mut self, sql: &str) -> Result<(), StoreError> {
        sqlx::query(sql).execute(&mut self.conn).await?;
        Ok(())
    }

    /// 行を塊ごとの INSERT で送り、最後の塊と同じ問い合わせで `COMMIT` します。`begin` なら
    /// 最初の塊の前に `BEGIN IMMEDIATE` を付けます (行が無ければ `BEGIN IMMEDIATE; COMMIT` か `COMMIT`)。
    async fn send_rows(&mut self, rows: &[EventValues], begin: bool) -> Result<(), StoreError> {
        let mut rest = rows;
        let mut prefix = if begin { "BEGIN IMMEDIATE; " } else { "" };
        while let Some((count, sql)) = self.statements.next_chunk(rest.len()) {
            let (chunk, tail) = rest.split_at(count);
            let suffix = if tail.is_empty() { "; COMMIT" } else { "" };
            let text = if prefix.is_empty() && suffix.is_empty() {
                Cow::Borrowed(sql)
            } else {
                Cow::Owned(format!("{prefix}{sql}{suffix}"))
            };
            let mut query = sqlx::query(&text);
            for row in chunk {
                query = bind_event_row(query, row);
            }
            query.execute(&mut self.conn).await?;
            if tail.is_empty() {
                return Ok(());
            }
            rest = tail;
            prefix = "";
        }
        self.exec(if begin {
            "BEGIN IMMEDIATE; COMMIT"
        } else {
            "COMMIT"
        })
        .await
    }
}

impl WriteConnection for SqliteWriter {
    async fn begin(&mut self, known_head: u64) -> Result<u64, StoreError> {
        // 書き手はこのタスクだけなので、知っている先頭がそのままファイルの先頭です。
        self.exec("BEGIN IMMEDIATE").await?;
        Ok(known_head)
    }

    async fn stream_versions(
        &mut self,
        streams: &[&StreamKey],
    ) -> Result<HashMap<StreamKey, u64>, StoreError> {
        let mut versions = HashMap::with_capacity(streams.len());
        for chunk in streams.chunks(LOOKUP_CHUNK) {
            let sql = versions_sql(chunk.len());
            let mut query = sqlx::query(&sql).persistent(false);
            for stream in chunk {
                query = query
                    .bind(stream.aggregate_type.as_str())
                    .bind(stream.aggregate_id.as_str());
            }
            for row in query.fetch_all(&mut self.conn).await? {
                let version: Option<i64> = row.try_get("version")?;
                if let Some(version) = version {
                    versions.insert(
                        StreamKey {
                            aggregate_type: row.try_get("aggregate_type")?,
                            aggregate_id: row.try_get("aggregate_id")?,
                        },
                        from_db_int(version, "sequence")?,
                    );
                }
            }
        }
        Ok(versions)
    }

    async fn existing_ids(&mut self, ids: &[String]) -> Result<HashSet<String>, StoreError> {
        let mut existing = HashSet::new();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let sql = existing_ids_sql(chunk.len());
            let mut query = sqlx::query_scalar::<_, String>(&sql).persistent(false);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            existing.extend(query.fetch_all(&mut self.conn).await?);
        }
        Ok(existing)
    }

    async fn event_by_id(&mut self, id: EventId) -> Result<Option<Envelope>, StoreError> {
        sqlx::query_as::<_, EventRow>(EVENT_BY_ID_SQL)
            .bind(id.to_string())
            .fetch_optional(&mut self.conn)
            .await?
            .map(EventRow::into_envelope)
            .transpose()
    }

    async fn snapshot_version(&mut self, stream: &StreamKey) -> Result<Option<u64>, StoreError> {
        let version: Option<i64> = sqlx::query_scalar(SNAPSHOT_VERSION_SQL)
            .bind(&stream.aggregate_type)
            .bind(&stream.aggregate_id)
            .fetch_optional(&mut self.conn)
            .await?;
        Ok(version.and_then(|v| u64::try_from(v).ok()))
    }

    async fn put_snapshot(
        &mut self,
        stream: &StreamKey,
        sequence: i64,
        version: i64,
        expected: Option<i64>,
        payload: &str,
    ) -> Result<u64, StoreError> {
        let done = match expected {
            None => {
                sqlx::query(INSERT_SNAPSHOT_SQL)
                    .bind(&stream.aggregate_type)
                    .bind(&stream.aggregate_id)
                    .bind(sequence)
                    .bind(version)
                    .bind(payload)
                    .execute(&mut self.conn)
                    .await?
            }
            Some(expected) => {
                sqlx::query(UPDATE_SNAPSHOT_SQL)
                    .bind(sequence)
                    .bind(version)
                    .bind(payload)
                    .bind(&stream.aggregate_type)
                    .bind(&stream.aggregate_id)
                    .bind(expected)
                    .execute(&mut self.conn)
                    .await?
            }
        };
        Ok(done.rows_affected())
    }

    async fn insert_events(&mut self, rows: &[EventValues]) -> Result<(), StoreError> {
        let mut rest = rows;
        while let Some((count, sql)) = self.statements.next_chunk(rest.len()) {
            let (chunk, tail) = rest.split_at(count);
            let mut query = sqlx::query(sql);
            for row in chunk {
                query = bind_event_row(query, row);
            }
            query.execute(&mut self.conn).await?;
            rest = tail;
        }
        Ok(())
    }

    async fn commit(&mut self, _head: u64) -> Result<(), StoreError> {
        self.exec("COMMIT").await
    }

    async fn rollback(&mut self) {
        if let Err(err) = self.exec("ROLLBACK").await {
            tracing::error!(error = %err, "ロールバックに失敗しました");
        }
    }

    async fn close(self) -> Result<(), StoreError> {
        // 最後の接続が閉じるときに WAL のチェックポイントを取り、WAL を畳みます。
        self.conn.close().await?;
        Ok(())
    }

    /// `BEGIN IMMEDIATE` と、版と ID の読み取りを 1 つの問い合わせで送ります
    /// (sqlx は複数の文を 1 回の受け渡しで順に実行し、パラメーターを前から順に割り当てます)。
    /// 塊に分けるほど大きい束や、追記の無い束は部品を順に呼びます。
    async fn begin_batch(
        &mut self,
        known_head: u64,
        streams: &[&StreamKey],
        ids: &[String],
    ) -> Result<BatchStart, StoreError> {
        if streams.is_empty() || streams.len() > LOOKUP_CHUNK || ids.len() > LOOKUP_CHUNK {
            return begin_in_steps(self, known_head, streams, ids).await;
        }
        let sql = begin_and_lookup_sql(streams.len(), ids.len());
        let mut query = sqlx::query(&sql).persistent(false);
        for stream in streams {
            query = query
                .bind(stream.aggregate_type.as_str())
                .bind(stream.aggregate_id.as_str());
        }
        for id in ids {
            query = query.bind(id.as_str());
        }
        let rows = match query.fetch_all(&mut self.conn).await {
            Ok(rows) => rows,
            Err(err) => {
                // BEGIN の後の読み取りで失敗したかもしれないので巻き戻します
                // (BEGIN そのものが失敗していれば、巻き戻しの失敗がログに残るだけです)。
                self.rollback().await;
                return Err(err.into());
            }
        };
        match lookup_rows(known_head, &rows) {
            Ok(start) => Ok(start),
            Err(err) => {
                // トランザクションは始まっているので、約束どおり巻き戻してから返します。
                self.rollback().await;
                Err(err)
            }
        }
    }

    fn sole_writer(&self) -> bool {
        // 書き込み用の接続はプロセスの書き込みタスクの 1 本だけです (DESIGN §4)。
        true
    }

    fn committed<'a>(&self, events: impl Iterator<Item = &'a Envelope>) {
        self.recent.push(events);
    }

    /// `BEGIN IMMEDIATE` を最初の塊の INSERT と、`COMMIT` を最後の塊と 1 つの問い合わせで送ります
    /// (行が 1 つの文に入れば、受け渡しは 1 回です)。
    async fn begin_insert_and_commit(
        &mut self,
        _known_head: u64,
        rows: &[EventValues],
        _head: u64,
    ) -> Result<(), StoreError> {
        self.send_rows(rows, true).await
    }

    /// 行の INSERT (塊ごとの文) の最後の塊と `COMMIT` を 1 つの問い合わせで送ります。
    ///
    /// 塊の文はどれも準備済みの文として使い回します (最後の塊と `COMMIT` の組も塊の大きさごとに
    /// 1 つ。全体を 1 つの文字列にすると行数ごとに別の文になり、大きな文を毎回準備し直します)。
    async fn insert_and_commit(
        &mut self,
        rows: &[EventValues],
        _head: u64,
    ) -> Result<(), StoreError> {
        self.send_rows(rows, false).await
    }
}

/// [`begin_and_lookup_sql`] の結果の行を、版と保存済みの ID に分けます。
fn lookup_rows(
    known_head: u64,
    rows: &[sqlx::sqlite::SqliteRow],
) -> Result<BatchStart, StoreError> {
    let mut start = BatchStart {
        head: known_head,
        ..BatchStart::default()
    };
    for row in rows {
        let kind: i64 = row.try_get("kind")?;
        if kind == LOOKUP_EVENT_ID {
            start.existing.insert(row.try_get("a")?);
        } else if let Some(version) = row.try_get::<Option<i64>, _>("version")? {
            start.versions.insert(
                StreamKey {
                    aggregate_type: row.try_get("a")?,
                    aggregate_id: row.try_get("b")?,
                },
                from_db_int(version, "sequence")?,
            );
        }
    }
    Ok(start)
}

/// [`begin_and_lookup_sql`] の行の種類: ストリームの版。
const LOOKUP_VERSION: i64 = 0;
/// [`begin_and_lookup_sql`] の行の種類: 保存済みのイベント ID。
const LOOKUP_EVENT_ID: i64 = 1;

/// `BEGIN IMMEDIATE` と、ストリームの版 (`kind` = 0、`a`・`b`・`version`) と保存済みの ID
/// (`kind` = 1、`a`) を 1 つの結果で読む SELECT (`?` がストリーム × 2 + ID の数)。
///
/// 版は [`versions_sql`] と同じく一意索引を 1 回たどる相関サブクエリ、ID は
/// [`existing_ids_sql`] と同じ `IN` です。
fn begin_and_lookup_sql(streams: usize, ids: usize) -> String {
    let rows = vec!["(?, ?)"; streams].join(", ");
    let marks = vec!["?"; ids].join(", ");
    format!(
        "BEGIN IMMEDIATE; \
         WITH wanted (t, i) AS (VALUES {rows}) \
         SELECT {LOOKUP_VERSION} AS kind, t AS a, i AS b, \
         (SELECT MAX(sequence) FROM events WHERE aggregate_type = wanted.t AND aggregate_id = wanted.i) AS version \
         FROM wanted \
         UNION ALL \
         SELECT {LOOKUP_EVENT_ID}, event_id, NULL, NULL FROM events WHERE event_id IN ({marks})"
    )
}
