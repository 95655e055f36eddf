//! 読み側のサービスが共有する内部 API ([`ProjectionApi`]): 読みモデルの作り直し
//! (`POST /internal/v1/rebuild`) と進み具合 (`GET /internal/v1/projection`)。サービス用トークンのみ。
//!
//! album・media-query・notification・saga はこれを自分の API と並べて組み立てます
//! (`build_app((AlbumApi, InternalApi, ProjectionApi::new(consumer)), …)`)。

use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{OpenApi, Tags};

use super::handler::EventHandler;
use super::runner::{Consumer, ConsumerError};
use super::status::{ProjectionStatus, RebuildResult, projection_status};
use crate::platform::auth::ServiceAuth;
use crate::platform::problem::{Problem, codes};

/// 作り直しの失敗を problem+json にします: イベントストアに届かなければ 503 `store_unavailable`
/// (そこまでの状態は整合しており、ランナーが続きを処理します)、ほかは 500。
#[must_use]
pub fn rebuild_problem(err: &ConsumerError) -> Problem {
    match err {
        ConsumerError::Store(_) => {
            tracing::warn!(error = %err, "作り直しの途中でイベントストアを読めませんでした");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::STORE_UNAVAILABLE,
                "イベントストアを読めません。時間をおいて再試行してください",
            )
        }
        _ => Problem::internal("rebuild", err),
    }
}

/// 読みモデルの内部 API。
#[derive(Debug)]
pub struct ProjectionApi<H> {
    consumer: Consumer<H>,
}

impl<H> ProjectionApi<H> {
    /// 読みモデルを作る購読ランナーから作ります。
    #[must_use]
    pub fn new(consumer: Consumer<H>) -> Self {
        Self { consumer }
    }
}

#[derive(Debug, Tags)]
enum ProjectionTags {
    /// 読みモデル (作り直しと進み具合、サービス用トークンのみ)
    Projection,
}

#[OpenApi(prefix_path = "/internal/v1")]
impl<H: EventHandler> ProjectionApi<H> {
    /// 読みモデルを作り直します: 読みモデルとチェックポイントを空にして、イベントストアのログを
    /// 位置 0 から再生します。終わった時点のチェックポイントと、反映したイベントの数を返します。
    #[oai(path = "/rebuild", method = "post", tag = "ProjectionTags::Projection")]
    async fn rebuild(&self, _auth: ServiceAuth) -> Result<Json<RebuildResult>, Problem> {
        let progress = self
            .consumer
            .rebuild(|_| {})
            .await
            .map_err(|err| rebuild_problem(&err))?;
        tracing::info!(
            position = progress.position,
            events = progress.applied,
            "読みモデルを作り直しました"
        );
        Ok(Json(progress.into()))
    }

    /// 読みモデルの進み具合 (チェックポイント・ログの先頭・遅れ)。UI のプロジェクションパネル用。
    #[oai(
        path = "/projection",
        method = "get",
        tag = "ProjectionTags::Projection"
    )]
    async fn projection(&self, _auth: ServiceAuth) -> Result<Json<ProjectionStatus>, Problem> {
        Ok(Json(projection_status(&self.consumer).await?))
    }
}
