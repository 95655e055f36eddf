//! 通知サービスの公開 API (`/api/v1/notifications`)。ユーザー用トークンで、自分の通知だけを扱います。
//!
//! サービス用トークン (ゲートウェイ) は `X-User-ID` でユーザーの代わりに呼べます。

use std::sync::Arc;
use std::time::Duration;

use mediahub_core::ids::NotificationId;
use poem::web::sse::Event;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{EventStream, Json};
use poem_openapi::types::ToJSON;
use poem_openapi::{Object, OpenApi, Tags};
use uuid::Uuid;

use super::error::ApiError;
use super::state::NotificationState;
use super::stream;
use super::view::NotificationView;
use crate::platform::paging::parse_cursor;
use crate::platform::problem::Problem;
use crate::platform::request::{ActingUser, CommandContext};
use crate::platform::schema::LogPosition;

/// 一覧の既定の件数。
pub const DEFAULT_LIMIT: u64 = 20;
/// 一覧の最大の件数。
pub const MAX_LIMIT: u64 = 100;
/// SSE のキープアライブ (コメント行) の間隔。
pub const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// SSE の `event:` の値。
pub const SSE_EVENT_TYPE: &str = "notification";

#[derive(Debug, Tags)]
enum ApiTags {
    /// 自分の通知 (一覧・未読・既読・ライブ配信)
    Notifications,
}

/// 通知の一覧。
#[derive(Debug, Clone, Object)]
pub struct NotificationList {
    /// 通知 (新しい順)。
    pub items: Vec<NotificationView>,
    /// 次のページのカーソル (`cursor` に渡す)。最後のページなら `null`。
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// 未読の通知。
#[derive(Debug, Clone, Object)]
pub struct UnreadNotifications {
    /// 未読の数 (`items` の件数ではなく全体の数)。
    pub count: u64,
    /// 未読の通知 (新しい順、最大 `limit` 件)。
    pub items: Vec<NotificationView>,
}

/// コマンドの結果 (read-your-writes 用の位置)。
#[derive(Debug, Clone, Object)]
pub struct PositionBody {
    /// 最後に書いたイベントのグローバル位置 (何も書かなかったら 0)。
    pub position: u64,
}

/// 「すべて既読にする」の結果。
#[derive(Debug, Clone, Object)]
pub struct ReadAllBody {
    /// 最後に書いたイベントのグローバル位置 (何も書かなかったら 0)。
    pub position: u64,
    /// 既読にした件数。
    pub updated: u64,
}

/// 通知サービスの公開 API。
#[derive(Debug, Clone)]
pub struct NotificationApi {
    state: Arc<NotificationState>,
}

impl NotificationApi {
    /// 共有の状態から API を作ります。
    #[must_use]
    pub fn new(state: Arc<NotificationState>) -> Self {
        Self { state }
    }
}

fn check_limit(limit: Option<u64>) -> Result<u64, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::InvalidParameter(format!(
            "limit: 1〜{MAX_LIMIT} にしてください"
        )))
    }
}

#[OpenApi(prefix_path = "/api/v1")]
impl NotificationApi {
    /// 自分の通知を新しい順に 1 ページ返します (`limit` 1〜100、既定 20。続きは `next_cursor` を
    /// `cursor` に渡す。読めないカーソルは 400)。
    ///
    /// `min_position` を付けると、読みモデルがその位置まで進むのを待ってから答えます
    /// (時間切れなら 503 `read_model.not_caught_up`)。
    #[oai(
        path = "/notifications",
        method = "get",
        tag = "ApiTags::Notifications"
    )]
    async fn list(
        &self,
        user: ActingUser,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u64>>,
        #[oai(validator(
            pattern = "^(3[0-9]){1,18}3a(3[0-9]|6[1-6]){8}2d(3[0-9]|6[1-6]){4}2d(3[0-9]|6[1-6]){4}2d(3[0-9]|6[1-6]){4}2d(3[0-9]|6[1-6]){12}$"
        ))]
        cursor: Query<Option<String>>,
        min_position: Query<Option<LogPosition>>,
    ) -> Result<Json<NotificationList>, Problem> {
        let user = user.user;
        let limit = check_limit(limit.0)?;
        let after = parse_cursor(cursor.0.as_deref())?;
        let (items, next) = self
            .state
            .list(user, after, limit, min_position.0.map(u64::from))
            .await?;
        Ok(Json(NotificationList {
            items,
            next_cursor: next.map(|c| c.encode()),
        }))
    }

    /// 自分の未読の数と、未読の通知 (新しい順、`limit` 1〜100、既定 20) を返します。
    #[oai(
        path = "/notifications/unread",
        method = "get",
        tag = "ApiTags::Notifications"
    )]
    async fn unread(
        &self,
        user: ActingUser,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u64>>,
        min_position: Query<Option<LogPosition>>,
    ) -> Result<Json<UnreadNotifications>, Problem> {
        let user = user.user;
        let limit = check_limit(limit.0)?;
        let (count, items) = self
            .state
            .unread(user, limit, min_position.0.map(u64::from))
            .await?;
        Ok(Json(UnreadNotifications { count, items }))
    }

    /// 通知を既読にします (宛先本人のみ。他人宛て・存在しない通知は 404
    /// `notification.not_found`)。既読の通知にもう一度呼ぶと `position: 0` です。
    #[oai(
        path = "/notifications/:id/read",
        method = "put",
        tag = "ApiTags::Notifications"
    )]
    async fn mark_read(
        &self,
        ctx: CommandContext,
        id: Path<Uuid>,
    ) -> Result<Json<PositionBody>, Problem> {
        let user = ctx.user()?;
        let metadata = ctx.metadata();
        let position = self
            .state
            .mark_read(user, NotificationId::from_uuid(id.0), &metadata)
            .await?;
        Ok(Json(PositionBody { position }))
    }

    /// 自分の未読の通知をすべて既読にします (読みモデル上の未読それぞれに既読のコマンドを実行)。
    ///
    /// `updated` は既読にした件数、`position` は最後に書いたイベントの位置です。`min_position`
    /// を付けると、読みモデルがその位置まで進んでから未読を集めます。
    #[oai(
        path = "/notifications/read-all",
        method = "put",
        tag = "ApiTags::Notifications"
    )]
    async fn mark_all_read(
        &self,
        ctx: CommandContext,
        min_position: Query<Option<LogPosition>>,
    ) -> Result<Json<ReadAllBody>, Problem> {
        let user = ctx.user()?;
        let metadata = ctx.metadata();
        let outcome = self
            .state
            .mark_all_read(user, &metadata, min_position.0.map(u64::from))
            .await?;
        Ok(Json(ReadAllBody {
            position: outcome.position,
            updated: outcome.updated,
        }))
    }

    /// 自分宛ての新しい通知を Server-Sent Events で流します。
    ///
    /// 通知ごとに `id: <位置>`、`event: notification`、`data: <NotificationView の JSON>`。
    /// 15 秒ごとにキープアライブのコメント行が届きます。再接続時に `Last-Event-ID` を送ると、
    /// その位置より後に送られた (見逃した) 通知を先に再生します。無ければ接続した後の通知だけです。
    #[oai(
        path = "/notifications/stream",
        method = "get",
        tag = "ApiTags::Notifications"
    )]
    async fn stream(
        &self,
        user: ActingUser,
        #[oai(name = "Last-Event-ID")] last_event_id: Header<Option<LogPosition>>,
    ) -> Result<EventStream<futures::stream::BoxStream<'static, NotificationView>>, Problem> {
        let user = user.user;
        let after = match last_event_id.0 {
            Some(after) => after.into(),
            None => self.state.latest_sent(user).await?,
        };
        let live = stream::live(Arc::clone(&self.state), user, after);
        Ok(EventStream::new(live)
            .keep_alive(SSE_KEEP_ALIVE)
            .to_event(|view: NotificationView| {
                Event::message(view.to_json_string())
                    .id(view.position.to_string())
                    .event_type(SSE_EVENT_TYPE)
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_to_20_and_must_be_between_1_and_100() {
        assert_eq!(check_limit(None).ok(), Some(DEFAULT_LIMIT));
        assert_eq!(check_limit(Some(100)).ok(), Some(100));
        assert!(matches!(
            check_limit(Some(0)),
            Err(ApiError::InvalidParameter(_))
        ));
        assert!(matches!(
            check_limit(Some(101)),
            Err(ApiError::InvalidParameter(_))
        ));
    }
}
