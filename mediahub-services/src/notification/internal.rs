//! 通知サービスの内部 API (`/internal/v1`)。サービス用トークンだけが使えます (ゲートウェイは通しません)。

use std::sync::Arc;

use mediahub_core::ids::{MediaId, NotificationId, SagaId, UserId};
use poem_openapi::payload::Json;
use poem_openapi::{OpenApi, Tags};

use super::api::PositionBody;
use super::error::ApiError;
use super::state::{NotificationState, SendNotification};
use super::view::SendNotificationBody;
use crate::platform::auth::ServiceAuth;
use crate::platform::problem::Problem;
use crate::platform::request::CommandContext;

#[derive(Debug, Tags)]
enum InternalTags {
    /// サービス間の呼び出し (サービス用トークンのみ)
    Internal,
}

/// 通知サービスの内部 API。
#[derive(Debug, Clone)]
pub struct InternalApi {
    state: Arc<NotificationState>,
}

impl InternalApi {
    /// 共有の状態から API を作ります。
    #[must_use]
    pub fn new(state: Arc<NotificationState>) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/internal/v1")]
impl InternalApi {
    /// 通知を送ります (Saga の最後のステップ)。冪等: 同じ `notification_id` と宛先で何度呼んでも
    /// `NotificationSent` は一つだけで、二度目からは `position: 0` です。
    ///
    /// 同じ ID が別の宛先に送られていれば 409 `notification.already_exists`、本文が空なら
    /// 400 `notification.empty_message`。`inject_fault: true` なら 503 `fault.injected` で、
    /// 何も書きません。
    #[oai(
        path = "/notifications",
        method = "post",
        tag = "InternalTags::Internal"
    )]
    async fn send(
        &self,
        ctx: CommandContext<ServiceAuth>,
        body: Json<SendNotificationBody>,
    ) -> Result<Json<PositionBody>, Problem> {
        let body = body.0;
        if body.inject_fault {
            return Err(ApiError::FaultInjected.into());
        }
        let metadata = ctx.metadata();
        let request = SendNotification {
            notification_id: NotificationId::from_uuid(body.notification_id),
            user_id: UserId::from_uuid(body.user_id),
            kind: body.kind,
            message: body.message,
            media_id: body.media_id.map(MediaId::from_uuid),
            saga_id: body.saga_id.map(SagaId::from_uuid),
        };
        let position = self.state.send(request, &metadata).await?;
        Ok(Json(PositionBody { position }))
    }
}
