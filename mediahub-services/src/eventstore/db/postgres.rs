//! PostgreSQL の実装 (一台を超えるとき)。
//!
//! 同じデータベースに **いくつものイベントストアのプロセス** が同時に書けます。各プロセスの
//! 書き込みタスクはこれまでどおりグループコミットし、位置は次のように割り当てます。
//!
//! 1. `BEGIN` の直後に `pg_advisory_xact_lock(`[`POSITION_LOCK`]`)` を取ります。同じロックを
//!    持てるのは同時に 1 つのトランザクションだけで、ロックはコミット (かロールバック) の後で外れます。
//! 2. ロックを取った **後の別の文** で `MAX(position)` を読みます。READ COMMITTED では文ごとに
//!    新しいスナップショットを取るので、前にロックを持っていたトランザクションのコミットが必ず
//!    見えます (同じ文でロックと MAX を読むと、ロックを待つ前のスナップショットで読んでしまいます)。
//! 3. その続きから位置を割り当てて挿入し、`pg_notify` でほかのプロセスに新しい先頭を知らせて
//!    コミットします。通知はコミットの後に、コミットの順に届きます。
//!
//! こうして位置は **コミットの順に 1 から隙間なく** 並び、購読者が位置 `p` を読めたなら `p` より
//! 前はすべてコミット済みです。各プロセスは [`spawn_listener`] で `LISTEN` し、ほかのプロセスの
//! コミットでもロングポーリングと SSE を起こします (ポーリング間隔はありません)。

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use mediahub_core::envelope::Envelope;
use mediahub_core::ids::EventId;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, Row};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{
    Durability, EVENT_BY_ID_SQL, EventReads, EventRow, EventValues, INSERT_SNAPSHOT_SQL,
    InsertStatements, LOOKUP_CHUNK, LogFilter, Order, Placeholder, READ_SNAPSHOT_SQL,
    READ_STREAM_SQL, SNAPSHOT_VERSION_SQL, SnapshotRow, StoredSnapshot, StreamKey,
    UPDATE_SNAPSHOT_SQL, WriteConnection, advance_head, bind_event_row, envelopes,
    existing_ids_sql, filter_values, from_db_int, to_db_int, versions_sql, window_sql,
};
use crate::eventstore::error::StoreError;
use crate::platform::server::Shutdown;

/// 位置の割り当てを直列にする勧告ロックの鍵 (`'MHpos'` の 5 バイトを整数にしたもの)。
pub const POSITION_LOCK: i64 = 0x004d_4870_6f73;
/// コミットを知らせるチャネル (`NOTIFY` の名前。本文は新しいログの先頭)。
pub const NOTIFY_CHANNEL: &str = "mediahub_events";
/// 書き込み用の接続がトランザクションの途中で黙っていてよい最長の時間 (超えたら PostgreSQL が切る)。
pub const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(10);
/// 起動のときにデータベースが立ち上がるのを待つ最長の時間。
pub const STARTUP_WAIT: Duration = Duration::from_secs(60);
/// 起動のときにつなぎ直すまでの間隔。
const STARTUP_RETRY: Duration = Duration::from_millis(500);
/// 通知の受け手がつながらなかったときに、つなぎ直すまで待つ時間。
const LISTENER_RETRY: Duration = Duration::from_secs(1);

const HEAD_SQL: &str = "SELECT COALESCE(MAX(position), 0) FROM events";

fn options(url: &str) -> Result<PgConnectOptions, StoreError> {
    Ok(PgConnectOptions::from_str(url)?
        .application_name("mediahub-eventstore")
        .disable_statement_logging())
}

/// `?` で書いた SQL を PostgreSQL の `$n` に直します。
fn pg(sql: &str) -> String {
    Placeholder::Numbered.rewrite(sql)
}

/// 書き込み用の接続を開き、マイグレーションを適用します (マイグレーションは sqlx が勧告ロックで
/// 直列にするので、いくつものプロセスが同時に起動しても 1 回だけ適用されます)。
///
/// # エラー
/// つながらない・マイグレーションに失敗したら [`StoreError`]。
pub async fn open_writer(url: &str, durability: Durability) -> Result<PgWriter, StoreError> {
    let options = options(url)?;
    let mut conn = connect_at_startup(&options, durability).await?;
    sqlx::migrate!("./migrations/eventstore-postgres")
        .run(&mut conn)
        .await?;
    Ok(PgWriter {
        conn: Some(conn),
        options,
        durability,
        statements: InsertStatements::new(Placeholder::Numbered),
        sql: WriterSql::new(),
    })
}

async fn connect(
    options: &PgConnectOptions,
    durability: Durability,
) -> Result<PgConnection, StoreError> {
    let mut conn = options.connect().await?;
    // 止まった (一時停止・切断された) プロセスが位置のロックを持ったままにならないよう、
    // トランザクションの途中で黙ったままの接続は PostgreSQL に切らせます (ロールバックされ、ロックが外れる)。
    // 動いている書き込みタスクは文を続けて送るので、この時間を超えて黙ることはありません。
    sqlx::query(&format!(
        "SET idle_in_transaction_session_timeout = {}",
        IDLE_IN_TRANSACTION.as_millis()
    ))
    .execute(&mut conn)
    .await?;
    if durability == Durability::Normal {
        sqlx::query("SET synchronous_commit = off")
            .execute(&mut conn)
            .await?;
    }
    Ok(conn)
}

/// 起動のときの接続: データベースがまだ起動中 (コンテナを一緒に起動したときなど) なら、
/// [`STARTUP_WAIT`] まで待ってつなぎ直します。認証の失敗など、待っても変わらない失敗はすぐ返します。
async fn connect_at_startup(
    options: &PgConnectOptions,
    durability: Durability,
) -> Result<PgConnection, StoreError> {
    let deadline = tokio::time::Instant::now() + STARTUP_WAIT;
    loop {
        match connect(options, durability).await {
            Err(StoreError::Database(err))
                if not_up_yet(&err) && tokio::time::Instant::now() < deadline =>
            {
                tracing::warn!(error = %err, "PostgreSQL にまだつながりません。少し待ってつなぎ直します");
                tokio::time::sleep(STARTUP_RETRY).await;
            }
            other => return other,
        }
    }
}

/// データベースがまだ起動していない (待てばつながる) ときの失敗か。
fn not_up_yet(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        // 57P03 = cannot_connect_now (起動中・停止中)。
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

/// 読み取り用の接続プールを開きます。
///
/// # エラー
/// つながらなければ [`StoreError::Database`]。
pub async fn open_reader(url: &str, max_connections: u32) -> Result<PgReads, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .connect_with(options(url)?)
        .await?;
    Ok(PgReads {
        pool,
        sql: ReaderSql {
            stream: pg(READ_STREAM_SQL),
            snapshot: pg(READ_SNAPSHOT_SQL),
        },
    })
}

/// 読み取りの文 (`$n` に直したもの)。
#[derive(Debug, Clone)]
struct ReaderSql {
    stream: String,
    snapshot: String,
}

/// PostgreSQL の読み取り役 (接続プール)。
#[derive(Debug, Clone)]
pub struct PgReads {
    pool: PgPool,
    sql: ReaderSql,
}

impl PgReads {
    /// ログの先頭 (最大の位置、空なら 0) を読みます。
    ///
    /// # エラー
    /// 読めなければ [`StoreError`]。
    pub async fn read_head(&self) -> Result<u64, StoreError> {
        let head: i64 = sqlx::query_scalar(HEAD_SQL).fetch_one(&self.pool).await?;
        from_db_int(head, "position")
    }
}

impl EventReads for PgReads {
    async fn read_stream(
        &self,
        key: &StreamKey,
        from_version: u64,
    ) -> Result<Vec<Envelope>, StoreError> {
        let rows = sqlx::query_as::<_, EventRow>(&self.sql.stream)
            .bind(&key.aggregate_type)
            .bind(&key.aggregate_id)
            .bind(to_db_int(from_version)?)
            .fetch_all(&self.pool)
            .await?;
        envelopes(rows)
    }

    async fn read_snapshot(&self, key: &StreamKey) -> Result<Option<StoredSnapshot>, StoreError> {
        sqlx::query_as::<_, SnapshotRow>(&self.sql.snapshot)
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
        let sql = pg(&window_sql(filter, order));
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

/// 書き込みの文 (`$n` に直したもの)。
#[derive(Debug)]
struct WriterSql {
    event_by_id: String,
    snapshot_version: String,
    insert_snapshot: String,
    update_snapshot: String,
}

impl WriterSql {
    fn new() -> Self {
        Self {
            event_by_id: pg(EVENT_BY_ID_SQL),
            snapshot_version: pg(SNAPSHOT_VERSION_SQL),
            insert_snapshot: pg(INSERT_SNAPSHOT_SQL),
            update_snapshot: pg(UPDATE_SNAPSHOT_SQL),
        }
    }
}

/// PostgreSQL の書き込み用の接続。切れていれば次のトランザクションの初めにつなぎ直します。
#[derive(Debug)]
pub struct PgWriter {
    conn: Option<PgConnection>,
    options: PgConnectOptions,
    durability: Durability,
    statements: InsertStatements,
    sql: WriterSql,
}

impl PgWriter {
    fn conn(&mut self) -> Result<&mut PgConnection, StoreError> {
        self.conn.as_mut().ok_or(StoreError::Unavailable)
    }

    async fn exec(&mut self, sql: &str) -> Result<(), StoreError> {
        sqlx::query(sql).execute(self.conn()?).await?;
        Ok(())
    }

    async fn try_begin(&mut self) -> Result<u64, StoreError> {
        self.exec("BEGIN").await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(POSITION_LOCK)
            .execute(self.conn()?)
            .await?;
        // ロックを取った後の別の文で読むので、前のロックの持ち主のコミットが見えます。
        let head: i64 = sqlx::query_scalar(HEAD_SQL).fetch_one(self.conn()?).await?;
        from_db_int(head, "position")
    }
}

impl WriteConnection for PgWriter {
    async fn begin(&mut self, _known_head: u64) -> Result<u64, StoreError> {
        if self.conn.is_none() {
            self.conn = Some(connect(&self.options, self.durability).await?);
        }
        match self.try_begin().await {
            Ok(head) => Ok(head),
            Err(err) => {
                // 接続が切れている (データベースの再起動など) かもしれません。捨てて、次の
                // トランザクションでつなぎ直します。
                tracing::warn!(error = %err, "トランザクションを始められません。接続をつなぎ直します");
                if let Some(conn) = self.conn.take() {
                    let _closed = conn.close().await;
                }
                Err(err)
            }
        }
    }

    async fn stream_versions(
        &mut self,
        streams: &[&StreamKey],
    ) -> Result<HashMap<StreamKey, u64>, StoreError> {
        let mut versions = HashMap::with_capacity(streams.len());
        for chunk in streams.chunks(LOOKUP_CHUNK) {
            let sql = pg(&versions_sql(chunk.len()));
            let mut query = sqlx::query(&sql).persistent(false);
            for stream in chunk {
                query = query
                    .bind(stream.aggregate_type.as_str())
                    .bind(stream.aggregate_id.as_str());
            }
            for row in query.fetch_all(self.conn()?).await? {
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
            let sql = pg(&existing_ids_sql(chunk.len()));
            let mut query = sqlx::query_scalar::<_, String>(&sql).persistent(false);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            existing.extend(query.fetch_all(self.conn()?).await?);
        }
        Ok(existing)
    }

    async fn event_by_id(&mut self, id: EventId) -> Result<Option<Envelope>, StoreError> {
        let sql = self.sql.event_by_id.clone();
        sqlx::query_as::<_, EventRow>(&sql)
            .bind(id.to_string())
            .fetch_optional(self.conn()?)
            .await?
            .map(EventRow::into_envelope)
            .transpose()
    }

    async fn snapshot_version(&mut self, stream: &StreamKey) -> Result<Option<u64>, StoreError> {
        let sql = self.sql.snapshot_version.clone();
        let version: Option<i64> = sqlx::query_scalar(&sql)
            .bind(&stream.aggregate_type)
            .bind(&stream.aggregate_id)
            .fetch_optional(self.conn()?)
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
                let sql = self.sql.insert_snapshot.clone();
                sqlx::query(&sql)
                    .bind(&stream.aggregate_type)
                    .bind(&stream.aggregate_id)
                    .bind(sequence)
                    .bind(version)
                    .bind(payload)
                    .execute(self.conn()?)
                    .await?
            }
            Some(expected) => {
                let sql = self.sql.update_snapshot.clone();
                sqlx::query(&sql)
                    .bind(sequence)
                    .bind(version)
                    .bind(payload)
                    .bind(&stream.aggregate_type)
                    .bind(&stream.aggregate_id)
                    .bind(expected)
                    .execute(self.conn()?)
                    .await?
            }
        };
        Ok(done.rows_affected())
    }

    async fn insert_events(&mut self, rows: &[EventValues]) -> Result<(), StoreError> {
        let mut rest = rows;
        while let Some((count, sql)) = self.statements.next_chunk(rest.len()) {
            let sql = sql.to_owned();
            let (chunk, tail) = rest.split_at(count);
            let mut query = sqlx::query(&sql);
            for row in chunk {
                query = bind_event_row(query, row);
            }
            query.execute(self.conn()?).await?;
            rest = tail;
        }
        Ok(())
    }

    async fn commit(&mut self, head: u64) -> Result<(), StoreError> {
        // 通知はコミットの後に届きます (ロールバックすれば届きません)。
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(head.to_string())
            .execute(self.conn()?)
            .await?;
        self.exec("COMMIT").await
    }

    async fn rollback(&mut self) {
        if let Err(err) = self.exec("ROLLBACK").await {
            tracing::error!(error = %err, "ロールバックに失敗しました。接続をつなぎ直します");
            if let Some(conn) = self.conn.take() {
                let _closed = conn.close().await;
            }
        }
    }

    async fn close(self) -> Result<(), StoreError> {
        if let Some(conn) = self.conn {
            conn.close().await?;
        }
        Ok(())
    }
}

/// コミットの通知を `LISTEN` し始めます。戻ったときにはもう聞いているので、この後に読んだ
/// 先頭より後のコミットは必ず通知で届きます。
///
/// # エラー
/// つながらなければ [`StoreError::Database`]。
pub async fn listen(reads: &PgReads) -> Result<PgListener, StoreError> {
    let mut listener = PgListener::connect_with(&reads.pool).await?;
    listener.listen(NOTIFY_CHANNEL).await?;
    Ok(listener)
}

/// 通知を受けてログの先頭 (`head`) を進めるタスクを起動します。ほかのプロセスのコミットでも
/// このプロセスのロングポーリングと SSE が起きます。接続が切れたら、つなぎ直してから先頭を
/// 読み直します (切れている間の通知は届かないため)。停止の合図で終わります。
pub fn spawn_listener(
    mut listener: PgListener,
    reads: PgReads,
    head: watch::Sender<u64>,
    shutdown: Shutdown,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                () = shutdown.wait() => return,
            };
            match received {
                Ok(Some(notification)) => match notification.payload().parse::<u64>() {
                    Ok(new_head) => advance_head(&head, new_head),
                    Err(err) => tracing::warn!(
                        payload = notification.payload(),
                        error = %err,
                        "読めないコミットの通知を無視します"
                    ),
                },
                Ok(None) => {
                    tracing::warn!("通知の接続が切れました。つなぎ直して先頭を読み直します");
                    catch_up(&reads, &head).await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "通知を受け取れません。少し待ってつなぎ直します");
                    // 聞き始めてから先頭を読み直します (逆だと、その間のコミットを取りこぼします)。
                    loop {
                        tokio::select! {
                            () = tokio::time::sleep(LISTENER_RETRY) => {}
                            () = shutdown.wait() => return,
                        }
                        match listen(&reads).await {
                            Ok(fresh) => {
                                listener = fresh;
                                break;
                            }
                            Err(err) => {
                                tracing::warn!(error = %err, "通知の接続をつなぎ直せません")
                            }
                        }
                    }
                    catch_up(&reads, &head).await;
                }
            }
        }
    })
}

async fn catch_up(reads: &PgReads, head: &watch::Sender<u64>) {
    match reads.read_head().await {
        Ok(new_head) => advance_head(head, new_head),
        Err(err) => tracing::warn!(error = %err, "ログの先頭を読み直せませんでした"),
    }
}
