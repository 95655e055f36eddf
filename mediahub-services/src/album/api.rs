//! 公開 API (`/api/v1/albums…`)。ユーザー用トークンで、自分のアルバムだけを扱います
//! (他人のアルバムは 404)。コマンドの応答は `position` を、クエリは `min_position` を持ちます。

use std::sync::Arc;

use mediahub_core::album::{AlbumCommand, RemovalReason};
use mediahub_core::ids::{AlbumId, MediaId, UserId};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, Tags};
use uuid::Uuid;

use super::db;
use super::error::{self, db_problem};
use super::state::AlbumState;
use super::view::{
    AddMediaBody, AlbumList, AlbumMediaList, AlbumView, CommandResult, CreateAlbumBody,
    CreatedAlbum, RenameAlbumBody,
};
use crate::platform::concurrency::{IfMatch, etag, expected_version};
use crate::platform::problem::Problem;
use crate::platform::request::{ActingUser, CommandContext};
use crate::platform::schema::LogPosition;

/// 公開 API。
#[derive(Debug, Clone)]
pub struct AlbumApi {
    state: Arc<AlbumState>,
}

impl AlbumApi {
    /// 共有の状態から作ります。
    #[must_use]
    pub fn new(state: Arc<AlbumState>) -> Self {
        Self { state }
    }

    /// 文脈のユーザーのコマンドをアルバムに実行します
    /// (`If-Match` があればその版でだけ)。
    async fn command(
        &self,
        ctx: &CommandContext,
        if_match: Header<Option<IfMatch>>,
        album: Uuid,
        make: impl FnOnce(UserId) -> AlbumCommand,
    ) -> Result<Json<CommandResult>, Problem> {
        let command = make(ctx.user()?);
        let expected = expected_version(if_match.0);
        let outcome = self
            .state
            .execute(
                AlbumId::from_uuid(album),
                expected,
                command,
                &ctx.metadata(),
            )
            .await?;
        Ok(Json(CommandResult {
            position: outcome.position(),
        }))
    }

    async fn owned(&self, user: UserId, album: AlbumId) -> Result<AlbumView, Problem> {
        db::owned_album(&self.state.pool, user, album)
            .await
            .map_err(db_problem)?
            .ok_or_else(error::album_not_found)
    }
}

#[derive(Debug, Tags)]
enum ApiTags {
    /// アルバム (作成・一覧・改名・削除、メディアの追加と除去)
    Albums,
}

/// アルバム作成の応答。
#[derive(Debug, ApiResponse)]
pub enum CreateAlbumResponse {
    /// 作成した。
    #[oai(status = 201)]
    Created(Json<CreatedAlbum>),
}

/// アルバム 1 件の応答 (`ETag` に版)。
#[derive(Debug, ApiResponse)]
pub enum AlbumResponse {
    /// アルバム。
    #[oai(status = 200)]
    Ok(
        Json<AlbumView>,
        /// アルバムの版 (`"<version>"`)。コマンドの `If-Match` に使えます。
        #[oai(header = "ETag")]
        String,
    ),
}

#[OpenApi(prefix_path = "/api/v1")]
impl AlbumApi {
    /// 自分のアルバムの一覧 (デフォルトアルバムが先頭、ほかは作成順)。
    ///
    /// `min_position` を付けると、射影がその位置に届くまで (最長 5 秒) 待ってから答えます。
    #[oai(path = "/albums", method = "get", tag = "ApiTags::Albums")]
    async fn list_albums(
        &self,
        user: ActingUser,
        min_position: Query<Option<LogPosition>>,
    ) -> Result<Json<AlbumList>, Problem> {
        let user = user.user;
        self.state.caught_up(min_position.0.map(u64::from)).await?;
        let items = db::list_albums(&self.state.pool, user)
            .await
            .map_err(db_problem)?;
        Ok(Json(AlbumList { items }))
    }

    /// アルバムを作ります → 201 `{id, position}`。
    ///
    /// 名前が空白だけ・100 文字超・制御文字を含むなら 400 `request.invalid_body` で、何も書きません。
    #[oai(path = "/albums", method = "post", tag = "ApiTags::Albums")]
    async fn create_album(
        &self,
        ctx: CommandContext,
        body: Json<CreateAlbumBody>,
    ) -> Result<CreateAlbumResponse, Problem> {
        let user = ctx.user()?;
        let metadata = ctx.metadata();
        let album_id = AlbumId::new_random();
        let command = AlbumCommand::Create {
            album_id,
            owner_id: user,
            name: body.0.name.into_inner(),
            is_default: false,
        };
        let outcome = self
            .state
            .execute(album_id, None, command, &metadata)
            .await?;
        Ok(CreateAlbumResponse::Created(Json(CreatedAlbum {
            id: album_id.as_uuid(),
            position: outcome.position(),
        })))
    }

    /// 自分のアルバム 1 件。他人のもの・削除済みは 404 `album.not_found`。
    ///
    /// `ETag` は読みモデルが知るアルバムの版 (`"<version>"`)。コマンドの `If-Match` に
    /// そのまま使えます。
    #[oai(path = "/albums/:id", method = "get", tag = "ApiTags::Albums")]
    async fn get_album(
        &self,
        user: ActingUser,
        id: Path<Uuid>,
        min_position: Query<Option<LogPosition>>,
    ) -> Result<AlbumResponse, Problem> {
        let user = user.user;
        self.state.caught_up(min_position.0.map(u64::from)).await?;
        let album = self.owned(user, AlbumId::from_uuid(id.0)).await?;
        let tag = etag(album.version);
        Ok(AlbumResponse::Ok(Json(album), tag))
    }

    /// アルバムを改名します → `{position}` (同じ名前なら何も書かず `position: 0`)。
    #[oai(path = "/albums/:id", method = "patch", tag = "ApiTags::Albums")]
    async fn rename_album(
        &self,
        ctx: CommandContext,
        id: Path<Uuid>,
        #[oai(name = "If-Match")] if_match: Header<Option<IfMatch>>,
        body: Json<RenameAlbumBody>,
    ) -> Result<Json<CommandResult>, Problem> {
        self.command(&ctx, if_match, id.0, |user| AlbumCommand::Rename {
            requested_by: user,
            name: body.0.name.into_inner(),
        })
        .await
    }

    /// アルバムを削除します → `{position}`。デフォルトアルバムは 409
    /// `album.default_not_deletable`。
    #[oai(path = "/albums/:id", method = "delete", tag = "ApiTags::Albums")]
    async fn delete_album(
        &self,
        ctx: CommandContext,
        id: Path<Uuid>,
        #[oai(name = "If-Match")] if_match: Header<Option<IfMatch>>,
    ) -> Result<Json<CommandResult>, Problem> {
        self.command(&ctx, if_match, id.0, |user| AlbumCommand::Delete {
            requested_by: user,
        })
        .await
    }

    /// アルバムの中身 (新しく追加されたものが先頭)。
    #[oai(path = "/albums/:id/media", method = "get", tag = "ApiTags::Albums")]
    async fn list_album_media(
        &self,
        user: ActingUser,
        id: Path<Uuid>,
        min_position: Query<Option<LogPosition>>,
    ) -> Result<Json<AlbumMediaList>, Problem> {
        let user = user.user;
        self.state.caught_up(min_position.0.map(u64::from)).await?;
        let album = AlbumId::from_uuid(id.0);
        self.owned(user, album).await?;
        let items = db::album_media(&self.state.pool, album)
            .await
            .map_err(db_problem)?;
        Ok(Json(AlbumMediaList { items }))
    }

    /// 自分のメディアをアルバムに加えます → `{position}` (既に入っていれば `position: 0`)。
    ///
    /// メディアの所有者は album サービス自身の射影で確かめます。`min_position`
    /// (例: アップロードの応答の `position`) を付けると、射影がそこに届くまで待ってから調べます。
    /// 知らない・他人の・削除済みのメディアは 404 `media.not_found`、他人のアルバムは
    /// 404 `album.not_found` で、何も書きません。
    #[oai(path = "/albums/:id/media", method = "post", tag = "ApiTags::Albums")]
    async fn add_media(
        &self,
        ctx: CommandContext,
        id: Path<Uuid>,
        min_position: Query<Option<LogPosition>>,
        #[oai(name = "If-Match")] if_match: Header<Option<IfMatch>>,
        body: Json<AddMediaBody>,
    ) -> Result<Json<CommandResult>, Problem> {
        self.state.caught_up(min_position.0.map(u64::from)).await?;
        let media_id = MediaId::from_uuid(body.0.media_id);
        let media_owner = db::media_ownership(&self.state.pool, media_id)
            .await
            .map_err(db_problem)?
            .filter(db::MediaOwnership::is_live)
            .map(|o| o.owner);
        self.command(&ctx, if_match, id.0, |user| AlbumCommand::AddMedia {
            requested_by: user,
            media_id,
            media_owner,
        })
        .await
    }

    /// メディアをアルバムから外します → `{position}`。入っていなければ 404
    /// `album.media_not_in_album`。
    #[oai(
        path = "/albums/:id/media/:media_id",
        method = "delete",
        tag = "ApiTags::Albums"
    )]
    async fn remove_media(
        &self,
        ctx: CommandContext,
        id: Path<Uuid>,
        media_id: Path<Uuid>,
        #[oai(name = "If-Match")] if_match: Header<Option<IfMatch>>,
    ) -> Result<Json<CommandResult>, Problem> {
        self.command(&ctx, if_match, id.0, |user| AlbumCommand::RemoveMedia {
            requested_by: user,
            media_id: MediaId::from_uuid(media_id.0),
            reason: RemovalReason::User,
        })
        .await
    }
}
