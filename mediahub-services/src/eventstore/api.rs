//! イベントストアの HTTP API (`/api/v1`)。すべての操作にサービス用トークンが必要です。
//!
//! 一覧は `docs/eventstore-api.md` にあります。

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use mediahub_core::envelope::Envelope;
use poem::web::sse::Event;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{EventStream, Json};
use poem_openapi::registry::MetaSchema;
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use serde_json::Value;
use sqlx::SqlitePool;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::db::{self, LogFilter, StreamKey};
use super::error::StoreError;
use super::writer::{self, AppendOutcome, AppendRequest, SnapshotWrite, WriterHandle};
use crate::platform::auth::ServiceAuth;
use crate::platform::problem::{Problem, codes};
use crate::platform::schema::LogPosition;
use crate::platform::schema::{ApiEnvelope, ApiNewEvent, inline_schema_type};
use crate::platform::server::Shutdown;

/// グローバルログの 1 ページの既定の件数。
pub const DEFAULT_LIMIT: u64 = 100;
/// グローバルログの 1 ページの最大の件数。
pub const MAX_LIMIT: u64 = 1000;
/// ロングポーリングで待てる最大のミリ秒。
pub const MAX_WAIT_MS: u64 = 30_000;
/// SSE の 1 回の読み取りの件数。
const SSE_PAGE: u32 = 1000;
/// SSE のキープアライブ (コメント行) の間隔。
const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// API が共有する状態。
#[derive(Debug)]
pub struct StoreState {
    /// 読み取り用の接続プール。
    pub reader: SqlitePool,
    /// 書き込みタスクへの窓口。
    pub writer: WriterHandle,
    /// コミット済みのログの先頭 (書き込みタスクがコミットのたびに更新します)。
    pub head: watch::Receiver<u64>,
    /// 停止の合図 (ロングポーリングと SSE はこれで終わります)。
    pub shutdown: Shutdown,
    /// いまコミットを待っているロングポーリングと SSE の数。
    waiters: AtomicUsize,
}

/// 待っている間だけ [`StoreState::waiters`] を 1 増やしておく見張り。
struct WaitGuard<'a>(&'a AtomicUsize);

impl<'a> WaitGuard<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// イベントストアの API。
#[derive(Debug, Clone)]
pub struct EventStoreApi {
    state: Arc<StoreState>,
}

impl EventStoreApi {
    /// 共有の状態から API を作ります。
    #[must_use]
    pub fn new(state: Arc<StoreState>) -> Self {
        Self { state }
    }
}

#[derive(Debug, Tags)]
enum ApiTags {
    /// 集約ごとのストリーム (追記・読み取り・スナップショット)
    Streams,
    /// グローバルログ (ページ読み・ロングポーリング・SSE)
    Log,
}

/// 追記の本体。
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct AppendBody {
    /// 呼び出し側が期待するストリームの現在の版 (新しいストリームなら 0)。
    pub expected_version: u64,
    /// 追記するイベント (1〜1000 件)。
    pub events: Vec<ApiNewEvent>,
}

/// スナップショットに書く集約の状態 (任意の JSON。フィールドは省略できません)。
///
/// `serde_json::Value` のままだと、フィールドが無いときに `null` として受け付けてしまい、
/// 文書 (必須) と振る舞いが食い違うため、省略を 400 にする型で受け取ります。
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateState(pub Value);

inline_schema_type!(
    AggregateState,
    "AggregateState",
    MetaSchema {
        description: Some("集約の状態 (任意の JSON)"),
        ..MetaSchema::ANY
    }
);

impl ParseFromJSON for AggregateState {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        value
            .map(Self)
            .ok_or_else(|| ParseError::custom("aggregate (集約の状態) は省略できません"))
    }
}

impl ToJSON for AggregateState {
    fn to_json(&self) -> Option<Value> {
        Some(self.0.clone())
    }
}

/// スナップショットの書き込みの本体。
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct SnapshotWriteBody {
    /// 集約の状態 (任意の JSON)。
    pub aggregate: AggregateState,
    /// スナップショットに含まれる最後のイベントの版。
    pub current_sequence: u64,
    /// 新しいスナップショットの版。
    pub current_snapshot: u64,
    /// 今あるスナップショットの版として期待する値 (`null` は「まだ無い」)。
    #[oai(nullable)]
    pub expected_snapshot: Option<u64>,
}

/// イベントとスナップショットを 1 つのトランザクションで書く本体。
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct CommitBody {
    /// 呼び出し側が期待するストリームの現在の版。
    pub expected_version: u64,
    /// 追記するイベント (0〜1000 件。0 件ならスナップショットが必須)。
    pub events: Vec<ApiNewEvent>,
    /// 同じトランザクションで書くスナップショット (省略可)。
    #[oai(nullable)]
    pub snapshot: Option<SnapshotWriteBody>,
}

/// 追記の結果。
#[derive(Debug, Clone, Object)]
pub struct AppendResult {
    /// 保存されたイベント。
    pub events: Vec<ApiEnvelope>,
    /// 最後のイベントの位置 (イベントが無ければ 0)。
    pub last_position: u64,
    /// ストリームの最後の版。
    pub last_version: u64,
}

/// 追記の応答。
#[derive(Debug, ApiResponse)]
pub enum AppendResponse {
    /// 追記した。
    #[oai(status = 201)]
    Created(Json<AppendResult>),
    /// 同じイベントがすでに保存されていた (冪等な再送)。何も書いていない。
    #[oai(status = 200)]
    AlreadyStored(Json<AppendResult>),
}

/// イベントの一覧。
#[derive(Debug, Clone, Object)]
pub struct EventList {
    /// イベント (版の順)。
    pub events: Vec<ApiEnvelope>,
}

/// グローバルログの 1 ページ。
#[derive(Debug, Clone, Object)]
pub struct LogPage {
    /// イベント (位置の順)。
    pub events: Vec<ApiEnvelope>,
    /// ログ全体の最大の位置。
    pub head: u64,
}

/// ログの先頭。
#[derive(Debug, Clone, Object)]
pub struct HeadBody {
    /// ログ全体の最大の位置 (空なら 0)。
    pub head: u64,
}

/// 保存されたスナップショット。
#[derive(Debug, Clone, Object)]
pub struct SnapshotBody {
    /// 集約の状態。
    pub aggregate: Value,
    /// スナップショットに含まれる最後のイベントの版。
    pub current_sequence: u64,
    /// スナップショットの版。
    pub current_snapshot: u64,
}

/// スナップショットの書き込みの応答。
#[derive(Debug, ApiResponse)]
pub enum PutSnapshotResponse {
    /// 書いた。
    #[oai(status = 204)]
    Stored,
}

fn result_of(outcome: AppendOutcome) -> AppendResponse {
    let idempotent = outcome.idempotent;
    let body = Json(AppendResult {
        events: outcome.events.into_iter().map(ApiEnvelope).collect(),
        last_position: outcome.last_position,
        last_version: outcome.last_version,
    });
    if idempotent {
        AppendResponse::AlreadyStored(body)
    } else {
        AppendResponse::Created(body)
    }
}

fn snapshot_write(body: SnapshotWriteBody) -> SnapshotWrite {
    SnapshotWrite {
        aggregate: body.aggregate.0,
        current_sequence: body.current_sequence,
        current_snapshot: body.current_snapshot,
        expected_snapshot: body.expected_snapshot,
    }
}

fn invalid_parameter(name: &str, detail: &str) -> Problem {
    Problem::bad_request(codes::INVALID_PARAMETER, format!("{name}: {detail}"))
}

fn check_name(name: &str, value: Option<String>) -> Result<Option<String>, Problem> {
    match value {
        Some(v)
            if v.is_empty()
                || v.chars().count() > db::MAX_NAME_LEN
                || v.chars().any(char::is_control) =>
        {
            Err(invalid_parameter(
                name,
                "空・長すぎる・制御文字を含む値は使えません",
            ))
        }
        other => Ok(other),
    }
}

/// グローバルログのクエリ (フィルターと開始位置) を検査済みの形にします。
fn log_query(
    after: Option<LogPosition>,
    aggregate_type: Option<String>,
    aggregate_id: Option<String>,
    correlation_id: Option<Uuid>,
    user_id: Option<Uuid>,
) -> Result<(u64, LogFilter), Problem> {
    // 範囲 (0〜MAX_LOG_POSITION、SQLite の整数に収まる) は LogPosition が読むときに確かめ済み。
    let after = after.map_or(0, u64::from);
    let filter = LogFilter {
        aggregate_type: check_name("aggregate_type", aggregate_type)?,
        aggregate_id: check_name("aggregate_id", aggregate_id)?,
        correlation_id,
        user_id,
    };
    Ok((after, filter))
}

impl StoreState {
    /// 状態を組み立てます。
    #[must_use]
    pub fn new(
        reader: SqlitePool,
        writer: WriterHandle,
        head: watch::Receiver<u64>,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            reader,
            writer,
            head,
            shutdown,
            waiters: AtomicUsize::new(0),
        }
    }

    /// いまコミットを待って止まっているロングポーリングと SSE の数 (観測とテスト用)。
    #[must_use]
    pub fn waiters(&self) -> usize {
        self.waiters.load(Ordering::SeqCst)
    }

    /// グローバルログを読みます。`wait` が 0 でなく一致するイベントがまだ無ければ、
    /// 一致するイベントがコミットされるか、時間切れか、停止が始まるまで待ちます。
    ///
    /// `wake_on_progress` が `true` なら、一致するイベントが無くてもログの先頭 (head) が進んだ
    /// 時点で空の一覧と新しい head を返します。絞り込みつきの購読者が、関係のないイベントの
    /// 分もチェックポイントを進める (read-your-writes の `min_position` に届く) ためです。
    ///
    /// # エラー
    /// 読み取りに失敗すれば [`StoreError`]。
    pub async fn poll_log(
        &self,
        filter: &LogFilter,
        after: u64,
        limit: u32,
        wait: Duration,
        wake_on_progress: bool,
    ) -> Result<(Vec<Envelope>, u64), StoreError> {
        let mut head_rx = self.head.clone();
        let deadline = Instant::now() + wait;
        let mut cursor = after;
        loop {
            let head = *head_rx.borrow_and_update();
            let events = db::read_log(&self.reader, filter, cursor, head, limit).await?;
            if !events.is_empty() || wait.is_zero() || (wake_on_progress && head > after) {
                return Ok((events, head));
            }
            // (cursor, head] には一致するイベントが無いと分かったので、次はその先だけを読みます。
            cursor = cursor.max(head);
            let _waiting = WaitGuard::enter(&self.waiters);
            tokio::select! {
                changed = head_rx.changed() => {
                    if changed.is_err() {
                        return Ok((Vec::new(), head));
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    return Ok((Vec::new(), *head_rx.borrow()));
                }
                () = self.shutdown.wait() => {
                    return Ok((Vec::new(), head));
                }
            }
        }
    }

    /// `after` より後の、絞り込み条件に一致するイベントを順に流し続けるストリームを作ります。
    /// 停止が始まるか読み取りに失敗すると終わります。
    #[must_use]
    pub fn live_stream(
        self: Arc<Self>,
        filter: LogFilter,
        after: u64,
    ) -> BoxStream<'static, Envelope> {
        struct Cursor {
            state: Arc<StoreState>,
            filter: LogFilter,
            after: u64,
            buffer: VecDeque<Envelope>,
            head_rx: watch::Receiver<u64>,
        }
        let head_rx = self.head.clone();
        let cursor = Cursor {
            state: self,
            filter,
            after,
            buffer: VecDeque::new(),
            head_rx,
        };
        futures::stream::unfold(cursor, |mut cursor| async move {
            loop {
                if let Some(event) = cursor.buffer.pop_front() {
                    return Some((event, cursor));
                }
                if cursor.state.shutdown.is_triggered() {
                    return None;
                }
                let head = *cursor.head_rx.borrow_and_update();
                if head > cursor.after {
                    let page = db::read_log(
                        &cursor.state.reader,
                        &cursor.filter,
                        cursor.after,
                        head,
                        SSE_PAGE,
                    )
                    .await;
                    match page {
                        Ok(events) => {
                            let full = events.len() >= SSE_PAGE as usize;
                            cursor.after = match events.last() {
                                Some(last) if full => last.position,
                                _ => head,
                            };
                            cursor.buffer.extend(events);
                            continue;
                        }
                        Err(err) => {
                            tracing::error!(error = %err, "SSE の読み取りに失敗しました");
                            return None;
                        }
                    }
                }
                let _waiting = WaitGuard::enter(&cursor.state.waiters);
                tokio::select! {
                    changed = cursor.head_rx.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                    () = cursor.state.shutdown.wait() => return None,
                }
            }
        })
        .boxed()
    }
}

fn stream_key(aggregate_type: String, aggregate_id: String) -> Result<StreamKey, Problem> {
    StreamKey::new(aggregate_type, aggregate_id)
        .map_err(|e| Problem::bad_request(codes::INVALID_PATH, e.to_string()))
}

impl EventStoreApi {
    /// 追記 (`/events`) と追記＋スナップショット (`/commit`) に共通の処理: 検証して書き込み役に渡します。
    async fn submit(&self, request: AppendRequest) -> Result<AppendResponse, Problem> {
        writer::validate(&request)?;
        let outcome = self.state.writer.append(request).await?;
        Ok(result_of(outcome))
    }
}

#[OpenApi(prefix_path = "/api/v1")]
impl EventStoreApi {
    /// ストリームにイベントを追記します (楽観的並行性制御)。
    ///
    /// `expected_version` がストリームの現在の版と違えば 409 (`eventstore.version_conflict`、
    /// 本体に `current_version`) で、何も書きません。1 回の追記は全部書かれるか何も書かれないかの
    /// どちらかです。すべてのイベント ID が同じ内容ですでに保存されていれば (以前の追記の再送)、
    /// 200 で保存済みのイベントを返します。同じ ID が別の内容・別のストリームにあれば 409
    /// (`eventstore.duplicate_event_id`)。
    #[oai(
        path = "/streams/:aggregate_type/:aggregate_id/events",
        method = "post",
        tag = "ApiTags::Streams"
    )]
    async fn append(
        &self,
        _auth: ServiceAuth,
        /// 集約の型 (1〜256 文字、制御文字なし)。
        #[oai(validator(pattern = r"^[^\x00-\x1F\x7F-\x9F]{1,256}$"))]
        aggregate_type: Path<String>,
        /// 集約 ID (1〜256 文字、制御文字なし)。
        #[oai(validator(pattern = r"^[^\x00-\x1F\x7F-\x9F]{1,256}$"))]
        aggregate_id: Path<String>,
        body: Json<AppendBody>,
    ) -> Result<AppendResponse, Problem> {
        let body = body.0;
        self.submit(AppendRequest {
            stream: stream_key(aggregate_type.0, aggregate_id.0)?,
            expected_version: body.expected_version,
            events: body.events.into_iter().map(|e| e.0).collect(),
            snapshot: None,
        })
        .await
    }

    /// ストリームのイベントを版の順に読みます (`from_version` より後、既定は 0 = すべて)。
    ///
    /// 存在しないストリームは空の一覧です。
    #[oai(
        path = "/streams/:aggregate_type/:aggregate_id/events",
        method = "get",
        tag = "ApiTags::Streams"
    )]
    async fn read_stream(
        &self,
        _auth: ServiceAuth,
        /// 集約の型 (1〜256 文字、制御文字なし)。
        #[oai(validator(pattern = r"^[^\x00-\x1F\x7F-\x9F]{1,256}$"))]
        aggregate_type: Path<String>,
        /// 集約 ID (1〜256 文字、制御文字なし)。
        #[oai(validator(pattern = r"^[^\x00-\x1F\x7F-\x9F]{1,256}$"))]
        aggregate_id: Path<String>,
        from_version: Query<Option<LogPosition>>,
    ) -> Result<Json<EventList>, Problem> {
        let stream = stream_key(aggregate_type.0, aggregate_id.0)?;
        let from_version = from_version.0.map_or(0, u64::from);
        let events = db::read_stream(&self.state.reader, &stream, from_version).await?;
        Ok(Json(EventList {
            events: events.into_iter().map(ApiEnvelope).collect(),
        }))
    }

    /// ストリームのスナップショットを読みます。無ければ 404 (`eventstore.snapshot_not_found`)。
    #[oai(
        path = "/streams/:aggregate_type/:aggregate_id/snapshot",
        method = "get",
        tag = "ApiTags::Streams"
    )]
    async fn get_snapshot(
        &self,
        _auth: ServiceAuth,
        /// 集約の型 (1〜256 文字、制御文字なし)。
        #[oai(validator(pattern = r"^[^\x00-\x1F\x7F-\x9F]{1,256}$"))]
        aggregate_type: Path<String>,
        /// 集約 ID (1〜256 文字、制御文字なし)。
        #[oai(validator(pattern = r"^[^\x00-\x1F\x7F-\x9F]{1,256}$"))]
        aggregate_id: Path<String>,
    ) -> Result<Json<SnapshotBody>, Problem> {
        let stream = stream_key(aggregate_type.0, aggregate_id.0)?;
        let snapshot = db::read_snapshot(&self.state.reader, &stream)
            .await?
            .ok_or(StoreError::SnapshotNotFound)?;
        Ok(Json(SnapshotBody {
            aggregate: snapshot.aggregate,
            current_sequence: snapshot.current_sequence,
            current_snapshot: snapshot.current_snapshot,
        }))
    }

    /// スナップショットを書きます。
    ///
    /// `expected_snapshot` が `null` なら「まだ無い」ことを、数なら今の版がそれであることを
    /// 期待します。違えば 409 (`eventstore.snapshot_conflict`)。
    #[oai(
        path = "/streams/:aggregate_type/:aggregate_id/snapshot",
        method = "put",
        tag = "ApiTags::Streams"
    )]
    async fn put_snapshot(
        &self,
        _auth: ServiceAuth,
        /// 集約の型 (1〜256 文字、制御文字なし)。
        #[oai(validator(pattern = r"^[^\x00-\x1F\x7F-\x9F]{1,256}$"))]
        aggregate_type: Path<String>,
        /// 集約 ID (1〜256 文字、制御文字なし)。
        #[oai(validator(pattern = r"^[^\x00-\x1F\x7F-\x9F]{1,256}$"))]
        aggregate_id: Path<String>,
        body: Json<SnapshotWriteBody>,
    ) -> Result<PutSnapshotResponse, Problem> {
        let stream = stream_key(aggregate_type.0, aggregate_id.0)?;
        self.state
            .writer
            .put_snapshot(stream, snapshot_write(body.0))
            .await?;
        Ok(PutSnapshotResponse::Stored)
    }

    /// イベントの追記とスナップショットの更新を 1 つのトランザクションで行います
    /// (`cqrs-es` の `persist(events, snapshot_update)` に当たります)。
    ///
    /// 応答とエラーは追記と同じで、スナップショットの版が違えば 409
    /// (`eventstore.snapshot_conflict`) で、イベントも書きません。
    #[oai(
        path = "/streams/:aggregate_type/:aggregate_id/commit",
        method = "post",
        tag = "ApiTags::Streams"
    )]
    async fn commit(
        &self,
        _auth: ServiceAuth,
        /// 集約の型 (1〜256 文字、制御文字なし)。
        #[oai(validator(pattern = r"^[^\x00-\x1F\x7F-\x9F]{1,256}$"))]
        aggregate_type: Path<String>,
        /// 集約 ID (1〜256 文字、制御文字なし)。
        #[oai(validator(pattern = r"^[^\x00-\x1F\x7F-\x9F]{1,256}$"))]
        aggregate_id: Path<String>,
        body: Json<CommitBody>,
    ) -> Result<AppendResponse, Problem> {
        let body = body.0;
        self.submit(AppendRequest {
            stream: stream_key(aggregate_type.0, aggregate_id.0)?,
            expected_version: body.expected_version,
            events: body.events.into_iter().map(|e| e.0).collect(),
            snapshot: body.snapshot.map(snapshot_write),
        })
        .await
    }

    /// グローバルログを位置の順に読みます (ページ読みとロングポーリング)。
    ///
    /// `after` より後 (既定 0)、指定したすべての絞り込みに一致するイベントを最大 `limit` 件
    /// (既定 100、最大 1000) 返します。`wait_ms` (最大 30000) を付けると、一致するイベントが
    /// まだ無いときは、コミットされた瞬間に答えます (時間切れなら空の一覧)。
    /// `progress=true` を付けると、一致しないイベントのコミットでも (ログの先頭が `after` より
    /// 先に進めば) 空の一覧と新しい `head` で答えます。絞り込みつきの購読者がチェックポイントを
    /// `head` まで進めるために使います。
    ///
    /// `before` を付けると後ろ向きに読みます: 位置が `before` より前 (と `after` より後) の一致する
    /// イベントのうち **新しい方から** `limit` 件を、位置の順に返します (`wait_ms` は使いません)。
    /// 返った最初のイベントの位置を次の `before` に渡せば、さらに古いページが読めます。
    #[oai(path = "/events", method = "get", tag = "ApiTags::Log")]
    #[allow(clippy::too_many_arguments)]
    async fn read_log(
        &self,
        _auth: ServiceAuth,
        after: Query<Option<LogPosition>>,
        before: Query<Option<LogPosition>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] limit: Query<Option<u64>>,
        #[oai(validator(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x1F\x7F-\x9F]+$"
        ))]
        aggregate_type: Query<Option<String>>,
        #[oai(validator(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x1F\x7F-\x9F]+$"
        ))]
        aggregate_id: Query<Option<String>>,
        correlation_id: Query<Option<Uuid>>,
        user_id: Query<Option<Uuid>>,
        #[oai(validator(minimum(value = "0"), maximum(value = "30000")))] wait_ms: Query<
            Option<u64>,
        >,
        progress: Query<Option<bool>>,
    ) -> Result<Json<LogPage>, Problem> {
        let (after, filter) = log_query(
            after.0,
            aggregate_type.0,
            aggregate_id.0,
            correlation_id.0,
            user_id.0,
        )?;
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid_parameter(
                "limit",
                &format!("1〜{MAX_LIMIT} にしてください"),
            ));
        }
        let wait_ms = wait_ms.0.unwrap_or(0);
        if wait_ms > MAX_WAIT_MS {
            return Err(invalid_parameter(
                "wait_ms",
                &format!("0〜{MAX_WAIT_MS} にしてください"),
            ));
        }
        let limit = u32::try_from(limit).unwrap_or(1000);
        if let Some(before) = before.0.map(u64::from) {
            let head = *self.state.head.borrow();
            let up_to = before.saturating_sub(1).min(head);
            let events =
                db::read_log_newest(&self.state.reader, &filter, after, up_to, limit).await?;
            return Ok(Json(LogPage {
                events: events.into_iter().map(ApiEnvelope).collect(),
                head,
            }));
        }
        let (events, head) = self
            .state
            .poll_log(
                &filter,
                after,
                limit,
                Duration::from_millis(wait_ms),
                progress.0.unwrap_or(false),
            )
            .await?;
        Ok(Json(LogPage {
            events: events.into_iter().map(ApiEnvelope).collect(),
            head,
        }))
    }

    /// グローバルログを Server-Sent Events で流します (ブラウザー向け)。
    ///
    /// 各イベントは `id: <位置>`、`event: <イベント型名>`、`data: <エンベロープの JSON>` で、
    /// 位置の順に、コミットされたらすぐ届きます。再接続時の `Last-Event-ID` ヘッダーは
    /// `after` より優先されます。
    #[oai(path = "/events/stream", method = "get", tag = "ApiTags::Log")]
    #[allow(clippy::too_many_arguments)]
    async fn stream_log(
        &self,
        _auth: ServiceAuth,
        after: Query<Option<LogPosition>>,
        #[oai(validator(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x1F\x7F-\x9F]+$"
        ))]
        aggregate_type: Query<Option<String>>,
        #[oai(validator(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x1F\x7F-\x9F]+$"
        ))]
        aggregate_id: Query<Option<String>>,
        correlation_id: Query<Option<Uuid>>,
        user_id: Query<Option<Uuid>>,
        #[oai(name = "Last-Event-ID")] last_event_id: Header<Option<LogPosition>>,
    ) -> Result<EventStream<BoxStream<'static, ApiEnvelope>>, Problem> {
        let after = last_event_id.0.or(after.0);
        let (after, filter) = log_query(
            after,
            aggregate_type.0,
            aggregate_id.0,
            correlation_id.0,
            user_id.0,
        )?;
        let stream = Arc::clone(&self.state)
            .live_stream(filter, after)
            .map(ApiEnvelope)
            .boxed();
        Ok(EventStream::new(stream)
            .keep_alive(SSE_KEEP_ALIVE)
            .to_event(|envelope: ApiEnvelope| {
                let position = envelope.0.position.to_string();
                let event_type = envelope.0.event_type.clone();
                Event::message(envelope.to_json_string())
                    .id(position)
                    .event_type(event_type)
            }))
    }

    /// ログの先頭 (最大の位置、空なら 0) を返します。
    #[oai(path = "/head", method = "get", tag = "ApiTags::Log")]
    async fn head(&self, _auth: ServiceAuth) -> Result<Json<HeadBody>, Problem> {
        // 失敗しない操作ですが、認証の失敗 (401/403 の problem+json) を文書に載せるため Result で返します。
        Ok(Json(HeadBody {
            head: *self.state.head.borrow(),
        }))
    }
}
