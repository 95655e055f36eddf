//! 内部 API (`/internal/v1/…`、サービス用トークンのみ): 読みモデルの作り直しと進み具合。

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{OpenApi, Tags};

use super::error::ApiError;
use super::state::ApiState;
use crate::consumer::{ProjectionStatus, RebuildResult, projection_status};
use crate::platform::auth::ServiceAuth;
use crate::platform::problem::Problem;

/// 内部 API。
#[derive(Debug, Clone)]
pub struct InternalApi {
    state: Arc<ApiState>,
}

impl InternalApi {
    /// 共有の状態から作ります。
    #[must_use]
    pub fn new(state: Arc<ApiState>) -> Self {
        Self { state }
    }
}

#[derive(Debug, Tags)]
enum InternalTags {
    /// サービス間の内部 API
    Internal,
}

#[OpenApi(prefix_path = "/internal/v1")]
impl InternalApi {
    /// 読みモデルを位置 0 から作り直します (サービス用トークンのみ)。
    #[oai(path = "/rebuild", method = "post", tag = "InternalTags::Internal")]
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
    #[oai(path = "/projection", method = "get", tag = "InternalTags::Internal")]
    async fn projection(&self, _auth: ServiceAuth) -> Result<Json<ProjectionStatus>, Problem> {
        Ok(Json(projection_status(&self.state.view).await?))
    }
}
