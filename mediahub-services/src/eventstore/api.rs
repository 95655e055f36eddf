//! イベントストアの HTTP API (`/api/v1`)。すべての操作にサービス用トークンが必要です。
//!
//! 一覧は `docs/eventstore-api.md` にあります。

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use poem::web::sse::Event;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{EventStream, Json};
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, OpenApi, Tags};

use super::db::StreamKey;
use super::error::StoreError;
use super::state::StoreState;
use super::view::{
    AppendBody, AppendResult, CommitBody, EventList, HeadBody, LogPage, LogSelection, SnapshotBody,
    SnapshotWriteBody, StreamName,
};
use super::writer::{self, AppendOutcome, AppendRequest, SnapshotWrite};
use crate::platform::auth::ServiceAuth;
use crate::platform::problem::{Problem, codes};
use crate::platform::request::Params;
use crate::platform::schema::{ApiEnvelope, LogPosition};

/// グローバルログの 1 ページの既定の件数。
pub const DEFAULT_LIMIT: u64 = 100;
/// グローバルログの 1 ページの最大の件数。
pub const MAX_LIMIT: u64 = 1000;
/// ロングポーリングで待てる最大のミリ秒。
pub const MAX_WAIT_MS: u64 = 30_000;
/// SSE のキープアライブ (コメント行) の間隔。
const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);

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

fn stream_key(aggregate_type: StreamName, aggregate_id: StreamName) -> Result<StreamKey, Problem> {
    StreamKey::new(aggregate_type.0, aggregate_id.0)
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
        aggregate_type: Path<StreamName>,
        /// 集約 ID (1〜256 文字、制御文字なし)。
        aggregate_id: Path<StreamName>,
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
        aggregate_type: Path<StreamName>,
        /// 集約 ID (1〜256 文字、制御文字なし)。
        aggregate_id: Path<StreamName>,
        from_version: Query<Option<LogPosition>>,
    ) -> Result<Json<EventList>, Problem> {
        let stream = stream_key(aggregate_type.0, aggregate_id.0)?;
        let from_version = from_version.0.map_or(0, u64::from);
        let events = self.state.reader.read_stream(&stream, from_version).await?;
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
        aggregate_type: Path<StreamName>,
        /// 集約 ID (1〜256 文字、制御文字なし)。
        aggregate_id: Path<StreamName>,
    ) -> Result<Json<SnapshotBody>, Problem> {
        let stream = stream_key(aggregate_type.0, aggregate_id.0)?;
        let snapshot = self
            .state
            .reader
            .read_snapshot(&stream)
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
        aggregate_type: Path<StreamName>,
        /// 集約 ID (1〜256 文字、制御文字なし)。
        aggregate_id: Path<StreamName>,
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
        aggregate_type: Path<StreamName>,
        /// 集約 ID (1〜256 文字、制御文字なし)。
        aggregate_id: Path<StreamName>,
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
    /// `head` まで進めるために使います。この「先頭が進んだだけ」の応答は要求を受けてから 25 ms
    /// 以降に返り、その間のコミットを 1 つにまとめます (一致するイベントはすぐに答えます)。
    ///
    /// `before` を付けると後ろ向きに読みます: 位置が `before` より前 (と `after` より後) の一致する
    /// イベントのうち **新しい方から** `limit` 件を、位置の順に返します (`wait_ms` は使いません)。
    /// 返った最初のイベントの位置を次の `before` に渡せば、さらに古いページが読めます。
    #[oai(path = "/events", method = "get", tag = "ApiTags::Log")]
    async fn read_log(
        &self,
        _auth: ServiceAuth,
        selection: Params<LogSelection>,
        before: Query<Option<LogPosition>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] limit: Query<Option<u64>>,
        #[oai(validator(minimum(value = "0"), maximum(value = "30000")))] wait_ms: Query<
            Option<u64>,
        >,
        progress: Query<Option<bool>>,
    ) -> Result<Json<LogPage>, Problem> {
        let LogSelection { after, filter } = selection.0;
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
            let events = self
                .state
                .reader
                .read_log_newest(&filter, after, up_to, limit)
                .await?;
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
    async fn stream_log(
        &self,
        _auth: ServiceAuth,
        selection: Params<LogSelection>,
        #[oai(name = "Last-Event-ID")] last_event_id: Header<Option<LogPosition>>,
    ) -> Result<EventStream<BoxStream<'static, ApiEnvelope>>, Problem> {
        let LogSelection { after, filter } = selection.0;
        let after = last_event_id.0.map_or(after, u64::from);
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
