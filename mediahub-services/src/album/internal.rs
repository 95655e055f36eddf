//! 内部 API (`/internal/v1/…`)。サービス用トークンだけが使えます (ゲートウェイは中継しません)。
//!
//! - `POST /internal/v1/default-album/media`: Saga のアルバム追加ステップ。
//! - `POST /internal/v1/rebuild`: 読みモデルを位置 0 から作り直します。

use std::sync::Arc;

use mediahub_core::album::{AlbumCommand, DEFAULT_ALBUM_NAME};
use mediahub_core::ids::{AlbumId, MediaId, UserId};
use poem_openapi::payload::Json;
use poem_openapi::{OpenApi, Tags};

use super::db;
use super::error;
use super::error::db_problem;
use super::state::AlbumState;
use super::view::{DefaultAlbumMediaBody, DefaultAlbumMediaResult};
use crate::platform::auth::ServiceAuth;
use crate::platform::problem::Problem;
use crate::platform::request::CommandContext;

/// 内部 API。
#[derive(Debug, Clone)]
pub struct InternalApi {
    state: Arc<AlbumState>,
}

impl InternalApi {
    /// 共有の状態から作ります。
    #[must_use]
    pub fn new(state: Arc<AlbumState>) -> Self {
        Self { state }
    }
}

#[derive(Debug, Tags)]
enum InternalTags {
    /// サービス間の呼び出し (サービス用トークンのみ)
    Internal,
}

#[OpenApi(prefix_path = "/internal/v1")]
impl InternalApi {
    /// メディアを所有者のデフォルトアルバムに加えます (Saga のアルバム追加ステップ)。
    ///
    /// 1. `inject_fault` なら何も書かずに 503 `fault.injected`。
    /// 2. 所有者の射影が `min_position` に届くまで (最長 5 秒) 待ちます (届かなければ 503)。
    /// 3. メディアが `owner_id` のもの (削除・無効化されていない) でなければ 404 `media.not_found`。
    /// 4. デフォルトアルバム (`AlbumId::default_for(owner)`) が無ければ作り、メディアを加えます。
    ///
    /// 何度呼んでも結果は同じで、何も書かなかったときは `position: 0` です。
    #[oai(
        path = "/default-album/media",
        method = "post",
        tag = "InternalTags::Internal"
    )]
    async fn add_to_default_album(
        &self,
        ctx: CommandContext<ServiceAuth>,
        body: Json<DefaultAlbumMediaBody>,
    ) -> Result<Json<DefaultAlbumMediaResult>, Problem> {
        let body = body.0;
        if body.inject_fault {
            return Err(error::fault_injected());
        }
        let owner = UserId::from_uuid(body.owner_id);
        let media_id = MediaId::from_uuid(body.media_id);
        let metadata = ctx.metadata_as(owner);
        self.state.caught_up(body.min_position).await?;
        let owned = db::media_ownership(&self.state.pool, media_id)
            .await
            .map_err(db_problem)?
            .is_some_and(|o| o.is_live() && o.owner == owner);
        if !owned {
            return Err(error::media_not_found());
        }
        let album_id = AlbumId::default_for(owner);
        let created = self
            .state
            .execute(
                album_id,
                None,
                AlbumCommand::Create {
                    album_id,
                    owner_id: owner,
                    name: DEFAULT_ALBUM_NAME.to_owned(),
                    is_default: true,
                },
                &metadata,
            )
            .await?;
        let added = self
            .state
            .execute(
                album_id,
                None,
                AlbumCommand::AddMedia {
                    requested_by: owner,
                    media_id,
                    media_owner: Some(owner),
                },
                &metadata,
            )
            .await?;
        Ok(Json(DefaultAlbumMediaResult {
            album_id: album_id.as_uuid(),
            position: added.position().max(created.position()),
        }))
    }
}
