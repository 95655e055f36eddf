//! saga サービスの HTTP API。
//!
//! - `GET /api/v1/sagas?limit&cursor&status&q&min_position` — 呼び出し側の Saga の一覧 (新しい順、ページ送り)
//! - `GET /api/v1/sagas/{id}?min_position` — 要約 + タイムライン (`steps`) + Saga のイベント (`events`)
//! - `POST /internal/v1/rebuild` — 読みモデルの作り直し (サービス用トークンのみ)
//!
//! 他人の Saga は 404 です (存在を漏らしません)。

use std::sync::Arc;
use std::time::Duration;

use cqrs_es::Aggregate;
use mediahub_core::ids::UserId;
use mediahub_core::saga::MediaUploadSaga;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use sqlx::SqlitePool;
use uuid::Uuid;

use super::db::{self, StepRow};
use super::error::ApiError;
use super::projection::SagaView;
use crate::consumer::{Consumer, ProjectionStatus, RebuildResult, projection_status};
use crate::platform::auth::{BearerAuth, ServiceAuth, acting_user};
use crate::platform::paging::parse_cursor;
use crate::platform::problem::{Problem, codes};
use crate::platform::schema::ApiEnvelope;
use crate::platform::schema::LogPosition;
use crate::store_client::EventStoreClient;

/// 一覧の既定の件数。
pub const DEFAULT_LIMIT: u32 = 20;

/// API が共有する状態。
#[derive(Debug)]
pub struct ApiState {
    /// 読みモデルのデータベース。
    pub pool: SqlitePool,
    /// 読みモデルを作る購読者 (`min_position` の待ち合わせと作り直しに使います)。
    pub view: Consumer<SagaView>,
    /// Saga のイベントを読むためのイベントストアのクライアント。
    pub client: EventStoreClient,
    /// `min_position` を待つ最長の時間。
    pub read_wait: Duration,
}

/// saga サービスの API。
#[derive(Debug, Clone)]
pub struct SagaApi {
    state: Arc<ApiState>,
}

impl SagaApi {
    /// 共有の状態から API を作ります。
    #[must_use]
    pub fn new(state: Arc<ApiState>) -> Self {
        Self { state }
    }
}

#[derive(Debug, Tags)]
enum ApiTags {
    /// メディアアップロード Saga の経過
    Sagas,
    /// サービス間の内部 API
    Internal,
}

/// Saga の要約 (読みモデルの `sagas` の行でもあります)。
#[derive(Debug, Clone, PartialEq, Eq, Object, sqlx::FromRow)]
pub struct SagaSummary {
    /// Saga ID (メディア ID から決定的に導出)。
    pub id: String,
    /// 対象のメディア。
    pub media_id: String,
    /// 所有者。
    pub owner_id: String,
    /// 表示用ファイル名。
    pub filename: String,
    /// 状態: `running`・`compensating`・`completed`・`compensated`・`failed`。
    pub status: String,
    /// 実行中のステップ (終端なら `null`)。
    #[oai(nullable)]
    pub current_step: Option<String>,
    /// 最後に始めた試行の番号。
    pub attempt: u32,
    /// 実行中のステップの次の試行の予定時刻 (RFC 3339。再試行のバックオフとスローモーションの
    /// 間を含む。終端なら `null`)。
    #[oai(nullable)]
    pub next_attempt_at: Option<String>,
    /// アップロード時に注入した障害 (`process`・`album`・`notification`。無ければ `null`)。
    #[oai(nullable)]
    pub fault: Option<String>,
    /// 相関 ID (アップロード 1 回に共通)。
    #[oai(nullable)]
    pub correlation_id: Option<String>,
    /// 開始時刻 (RFC 3339)。
    pub created_at: String,
    /// 最終更新時刻 (RFC 3339)。
    pub updated_at: String,
    /// 補償・失敗の理由。
    #[oai(nullable)]
    pub failure_reason: Option<String>,
}

/// タイムラインの 1 項目。
#[derive(Debug, Clone, Object)]
pub struct SagaStepView {
    /// ステップ (`process_media`・`add_to_album`・`notify`・`delete_uploaded_file`・`invalidate_media`)。
    pub step: String,
    /// 試行の番号。
    pub attempt: u32,
    /// 結果: `started`・`retrying`・`succeeded`・`failed`・`compensation_started`。
    pub outcome: String,
    /// 理由 (失敗と補償開始のとき)。
    #[oai(nullable)]
    pub reason: Option<String>,
    /// 時刻 (RFC 3339)。
    pub at: String,
    /// 元になった Saga のイベントのグローバル位置。
    pub position: u64,
}

/// Saga の詳細。
#[derive(Debug, Clone, Object)]
pub struct SagaDetail {
    /// 要約。
    #[oai(flatten)]
    pub summary: SagaSummary,
    /// タイムライン (位置の順)。
    pub steps: Vec<SagaStepView>,
    /// Saga のストリームのイベント (版の順)。
    pub events: Vec<ApiEnvelope>,
}

/// Saga の一覧 (1 ページ)。
#[derive(Debug, Clone, Object)]
pub struct SagaList {
    /// Saga (新しい順)。
    pub items: Vec<SagaSummary>,
    /// 次のページのカーソル (`cursor` に渡す)。最後のページなら `null`。
    #[oai(nullable)]
    pub next_cursor: Option<String>,
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

impl SagaApi {
    /// 誰として読むかを決め、`min_position` まで読みモデルを待ちます。
    async fn reader(
        &self,
        auth: &BearerAuth,
        x_user_id: Option<&str>,
        min_position: Option<u64>,
    ) -> Result<UserId, Problem> {
        let user = acting_user(&auth.0, x_user_id)?.ok_or(ApiError::UserRequired)?;
        self.state
            .view
            .waiter()
            .wait(min_position, self.state.read_wait)
            .await
            .map_err(ApiError::from)?;
        Ok(user)
    }
}

#[OpenApi]
impl SagaApi {
    /// 呼び出し側の Saga を新しい順に 1 ページ返します。
    ///
    /// - `limit`: 1〜100 (既定 20)。`cursor`: 前の応答の `next_cursor` (読めなければ 400)。
    /// - `status`: `running`・`compensating`・`completed`・`compensated`・`failed` のどれか。
    /// - `q`: ファイル名の部分一致、または Saga ID・メディア ID の前方一致 (短い ID でも探せます)。
    /// - `min_position`: 読みモデルがその位置に届くまで (最長で設定の時間) 待ちます。届かなければ
    ///   503 (`read_model.not_caught_up`)。
    #[oai(path = "/api/v1/sagas", method = "get", tag = "ApiTags::Sagas")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        #[oai(name = "X-User-ID")] x_user_id: Header<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
        #[oai(validator(
            pattern = "^(3[0-9]){1,19}3a(3[0-9]|6[1-6]){8}2d(3[0-9]|6[1-6]){4}2d(3[0-9]|6[1-6]){4}2d(3[0-9]|6[1-6]){4}2d(3[0-9]|6[1-6]){12}$"
        ))]
        cursor: Query<Option<String>>,
        #[oai(validator(pattern = "^(running|compensating|completed|compensated|failed)$"))]
        status: Query<Option<String>>,
        #[oai(validator(max_length = 200))] q: Query<Option<String>>,
        min_position: Query<Option<LogPosition>>,
    ) -> Result<Json<SagaList>, Problem> {
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
        if !(1..=db::MAX_LIST_LIMIT).contains(&limit) {
            return Err(Problem::bad_request(
                codes::INVALID_PARAMETER,
                format!("limit: 1〜{} にしてください", db::MAX_LIST_LIMIT),
            ));
        }
        let user = self
            .reader(&auth, x_user_id.0.as_deref(), min_position.0.map(u64::from))
            .await?;
        let filter = db::ListFilter {
            status: status.0,
            query: q.0,
            after: parse_cursor(cursor.0.as_deref())?,
            limit,
        };
        let (items, next) = db::list_for_owner(&self.state.pool, &user.to_string(), &filter)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(SagaList {
            items,
            next_cursor: next.map(|c| c.encode()),
        }))
    }

    /// Saga の要約・タイムライン・イベントを返します。他人の Saga や無い Saga は 404 (`saga.not_found`)。
    #[oai(path = "/api/v1/sagas/:id", method = "get", tag = "ApiTags::Sagas")]
    async fn detail(
        &self,
        auth: BearerAuth,
        #[oai(name = "X-User-ID")] x_user_id: Header<Option<String>>,
        id: Path<Uuid>,
        min_position: Query<Option<LogPosition>>,
    ) -> Result<Json<SagaDetail>, Problem> {
        let user = self
            .reader(&auth, x_user_id.0.as_deref(), min_position.0.map(u64::from))
            .await?;
        let saga_id = id.0.to_string();
        // 要約とタイムラインは一つの読み取りトランザクションで読みます (同じ時点の姿)。
        let mut tx = self.state.pool.begin().await.map_err(ApiError::from)?;
        let row = db::find(&mut tx, &saga_id)
            .await
            .map_err(ApiError::from)?
            .filter(|row| row.owner_id == user.to_string())
            .ok_or(ApiError::NotFound)?;
        let steps = db::steps(&mut tx, &saga_id).await.map_err(ApiError::from)?;
        tx.commit().await.map_err(ApiError::from)?;
        let events = self
            .state
            .client
            .read_stream(MediaUploadSaga::TYPE, &saga_id, 0)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(SagaDetail {
            summary: row,
            steps: steps.into_iter().map(SagaStepView::from).collect(),
            events: events.into_iter().map(ApiEnvelope).collect(),
        }))
    }

    /// 読みモデルを位置 0 から作り直します (サービス用トークンのみ)。
    #[oai(
        path = "/internal/v1/rebuild",
        method = "post",
        tag = "ApiTags::Internal"
    )]
    async fn rebuild(&self, _auth: ServiceAuth) -> Result<Json<RebuildResult>, Problem> {
        let progress = self
            .state
            .view
            .rebuild(|_| {})
            .await
            .map_err(ApiError::from)?;
        Ok(Json(progress.into()))
    }

    /// 読みモデルの進み具合 (チェックポイント・ログの先頭・遅れ)。UI のプロジェクションパネル用。
    #[oai(
        path = "/internal/v1/projection",
        method = "get",
        tag = "ApiTags::Internal"
    )]
    async fn projection(&self, _auth: ServiceAuth) -> Result<Json<ProjectionStatus>, Problem> {
        Ok(Json(projection_status(&self.state.view).await?))
    }
}
