//! 内部 API (`/internal/v1/…`、サービス用トークンのみ): 読みモデルの作り直しと進み具合。

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{OpenApi, Tags};

use super::error::QueryError;
use super::state::QueryState;
use crate::consumer::{ProjectionStatus, RebuildResult, projection_status};
use crate::platform::auth::ServiceAuth;
use crate::platform::problem::Problem;

/// 内部 API。
#[derive(Debug, Clone)]
pub struct InternalApi {
    state: Arc<QueryState>,
}

impl InternalApi {
    /// 共有の状態から作ります。
    #[must_use]
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

#[derive(Debug, Tags)]
enum InternalTags {
    /// サービス間の内部操作 (サービス用トークンのみ)
    Internal,
}

#[OpenApi(prefix_path = "/internal/v1")]
impl InternalApi {
    /// 読みモデルを作り直します (サービス用トークンのみ)。
    ///
    /// 読みモデルとチェックポイントを空にして、イベントストアのログを位置 0 から再生します。
    /// 終わった時点のチェックポイントと、再生した Media のイベントの数を返します。
    #[oai(path = "/rebuild", method = "post", tag = "InternalTags::Internal")]
    async fn rebuild(&self, _auth: ServiceAuth) -> Result<Json<RebuildResult>, Problem> {
        let progress = self
            .state
            .consumer
            .rebuild(|_| {})
            .await
            .map_err(QueryError::from)?;
        tracing::info!(
            position = progress.position,
            events = progress.applied,
            "読みモデルを作り直しました"
        );
        Ok(Json(progress.into()))
    }

    /// 読みモデルの進み具合 (チェックポイント・ログの先頭・遅れ)。UI のプロジェクションパネル用。
    #[oai(path = "/projection", method = "get", tag = "InternalTags::Internal")]
    async fn projection(&self, _auth: ServiceAuth) -> Result<Json<ProjectionStatus>, Problem> {
        Ok(Json(projection_status(&self.state.consumer).await?))
    }
}
