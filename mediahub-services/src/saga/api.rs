//! saga サービスの HTTP API。
//!
//! - `GET /api/v1/sagas?limit&cursor&status&q&min_position` — 呼び出し側の Saga の一覧 (新しい順、ページ送り)
//! - `GET /api/v1/sagas/{id}?min_position` — 要約 + タイムライン (`steps`) + Saga のイベント (`events`)
//! - `POST /internal/v1/rebuild` — 読みモデルの作り直し (サービス用トークンのみ)
//!
//! 他人の Saga は 404 です (存在を漏らしません)。

use std::sync::Arc;

use cqrs_es::Aggregate;
use mediahub_core::saga::MediaUploadSaga;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{OpenApi, Tags};
use uuid::Uuid;

use super::db;
use super::error::ApiError;
use super::state::ApiState;
use super::view::{SagaDetail, SagaList, SagaStepView};
use crate::platform::paging::parse_cursor;
use crate::platform::problem::{Problem, codes};
use crate::platform::request::ActingUser;
use crate::platform::schema::{ApiEnvelope, LogPosition};

/// 一覧の既定の件数。
pub const DEFAULT_LIMIT: u32 = 20;

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
}

impl SagaApi {
    /// 読みモデルが `min_position` に届くまで待ちます。
    async fn caught_up(&self, min_position: Option<u64>) -> Result<(), Problem> {
        self.state
            .view
            .waiter()
            .wait(min_position, self.state.read_wait)
            .await
            .map_err(ApiError::from)?;
        Ok(())
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
    async fn list(
        &self,
        user: ActingUser,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
        #[oai(validator(
            pattern = "^(3[0-9]){1,18}3a(3[0-9]|6[1-6]){8}2d(3[0-9]|6[1-6]){4}2d(3[0-9]|6[1-6]){4}2d(3[0-9]|6[1-6]){4}2d(3[0-9]|6[1-6]){12}$"
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
        self.caught_up(min_position.0.map(u64::from)).await?;
        let user = user.user;
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
        user: ActingUser,
        id: Path<Uuid>,
        min_position: Query<Option<LogPosition>>,
    ) -> Result<Json<SagaDetail>, Problem> {
        self.caught_up(min_position.0.map(u64::from)).await?;
        let user = user.user;
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
}
