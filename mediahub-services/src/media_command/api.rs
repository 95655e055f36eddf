//! 公開 API (`/api/v1/media/{id}`): 削除、元ファイルとサムネイルの取得。
//!
//! どれも所有者だけが使えます。他人のメディアは「存在しない」(404) として扱います。
//! 所有者の確認には読み取りモデルを使わず、イベントストアから集約を読み込みます
//! (書き込み側だけで完結し、読み取り側の遅れに左右されません)。
//! アップロードは [`super::upload`] にあります。

use mediahub_core::ids::{MediaId, UserId};
use mediahub_core::media::{DeletionReason, MediaCommand, MediaStatus};
use poem::Body;
use poem::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::{Binary, Json, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::{ApiResponse, OpenApi, Tags};
use uuid::Uuid;

use super::error::{codes, not_found, storage_problem};
use super::state::SharedState;
use super::storage::ThumbnailFormat;
use super::view::PositionBody;
use crate::platform::concurrency::{IfMatch, expected_version};
use crate::platform::problem::Problem;
use crate::platform::request::{ActingUser, CommandContext};

/// ファイル応答の `Cache-Control` (本人だけが見るので共有キャッシュには置かせません)。
pub const FILE_CACHE_CONTROL: &str = "private, max-age=60";

/// API のタグ。
#[derive(Debug, Tags)]
pub enum ApiTags {
    /// メディアの書き込み (アップロード・削除) とファイルの取得
    Media,
    /// サービス間の内部 API (Saga から呼ばれます)
    Internal,
}

/// 削除の応答。
#[derive(Debug, ApiResponse)]
pub enum DeleteResponse {
    /// `MediaDeleted` を記録し、ファイルを消した。
    #[oai(status = 202)]
    Accepted(Json<PositionBody>),
}

/// 返しうるファイルの形式 (OpenAPI 文書の 200 の `content` に並べます)。
const FILE_CONTENT_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "video/mp4",
    "video/webm",
    "video/quicktime",
    "application/octet-stream",
];

/// ファイルの応答 (本体は流したまま返します)。`Content-Type` は中身の形式です。
///
/// poem-openapi の `Binary` は 1 つの形式 (`application/octet-stream`) しか文書に書けないので、
/// 返しうる形式をすべて文書に載せるために [`ApiResponse`] を手で実装します。
pub struct FileResponse(Response<Binary<Body>>);

impl std::fmt::Debug for FileResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileResponse").finish_non_exhaustive()
    }
}

impl poem::IntoResponse for FileResponse {
    fn into_response(self) -> poem::Response {
        self.0.into_response()
    }
}

impl ApiResponse for FileResponse {
    fn meta() -> MetaResponses {
        let schema = <Binary<Body> as poem_openapi::payload::Payload>::schema_ref();
        MetaResponses {
            responses: vec![MetaResponse {
                description: "ファイルの中身 (`Content-Type` は中身の形式)",
                status: Some(200),
                status_range: None,
                content: FILE_CONTENT_TYPES
                    .iter()
                    .map(|content_type| MetaMediaType {
                        content_type,
                        schema: schema.clone(),
                    })
                    .collect(),
                headers: vec![],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

/// 公開 API (アップロード以外)。
#[derive(Debug, Clone)]
pub struct MediaApi {
    state: SharedState,
}

impl MediaApi {
    /// 共有の状態から作ります。
    #[must_use]
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }

    /// 所有者の元ファイルかサムネイルを、正しい Content-Type で流したまま返します。
    ///
    /// 他人のもの・削除や無効化されたもの・無いものは 404。サムネイルは処理が済むまで 404
    /// (`media.thumbnail_not_found`)。
    async fn serve(&self, user: UserId, id: Uuid, kind: FileKind) -> Result<FileResponse, Problem> {
        let id = MediaId::from(id);
        let loaded = self.state.commands.load(id).await?;
        let visible = !matches!(
            loaded.media.status(),
            MediaStatus::New | MediaStatus::Deleted | MediaStatus::Invalidated
        );
        if !visible || !loaded.media.is_owned_by(user) {
            return Err(not_found());
        }
        let storage = &self.state.storage;
        let (path, mime) = match kind {
            FileKind::Original => (
                storage.original_path(id),
                loaded
                    .content_type
                    .map_or("application/octet-stream", |ct| ct.mime()),
            ),
            FileKind::Thumbnail => {
                let format = loaded
                    .media
                    .processing()
                    .and_then(|p| ThumbnailFormat::from_key(&p.thumbnail_key))
                    .ok_or_else(|| {
                        Problem::not_found(codes::THUMBNAIL_NOT_FOUND, "サムネイルはまだありません")
                    })?;
                (storage.thumbnail_path(id, format), format.mime())
            }
        };
        stream_file(path, mime).await
    }
}

/// 返すファイルの種類。
#[derive(Debug, Clone, Copy)]
enum FileKind {
    Original,
    Thumbnail,
}

async fn stream_file(
    path: std::path::PathBuf,
    content_type: &str,
) -> Result<FileResponse, Problem> {
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(storage_problem(&e)),
    };
    Ok(FileResponse(
        Response::new(Binary(Body::from_async_read(file)))
            .header(CONTENT_TYPE, content_type)
            .header(CACHE_CONTROL, FILE_CACHE_CONTROL),
    ))
}

#[OpenApi]
impl MediaApi {
    /// 自分のメディアを削除する (`MediaDeleted`、理由 user)。元ファイルとサムネイルも消します。
    #[oai(path = "/api/v1/media/:id", method = "delete", tag = "ApiTags::Media")]
    async fn delete(
        &self,
        ctx: CommandContext,
        /// メディア ID。
        id: Path<Uuid>,
        /// このメディアの版 (`GET /api/v1/media/{id}` の `ETag`)。違えば 412 で、何もしません。
        #[oai(name = "If-Match")]
        if_match: Header<Option<IfMatch>>,
    ) -> Result<DeleteResponse, Problem> {
        let user = ctx.user()?;
        let id = MediaId::from(id.0);
        let command = MediaCommand::Delete {
            requested_by: user,
            reason: DeletionReason::User,
        };
        let metadata = ctx.metadata();
        let position = self
            .state
            .commands
            .execute(id, expected_version(if_match.0), command, &metadata)
            .await?;
        self.state
            .storage
            .remove_all(id)
            .await
            .map_err(|e| storage_problem(&e))?;
        Ok(DeleteResponse::Accepted(Json(PositionBody { position })))
    }

    /// 自分のメディアの元ファイルを返す (Content-Type はアップロード時に判定した形式)。
    #[oai(
        path = "/api/v1/media/:id/original",
        method = "get",
        tag = "ApiTags::Media"
    )]
    async fn original(
        &self,
        user: ActingUser,
        /// メディア ID。
        id: Path<Uuid>,
    ) -> Result<FileResponse, Problem> {
        self.serve(user.user, id.0, FileKind::Original).await
    }

    /// 自分のメディアのサムネイルを返す (処理が済むまでは 404)。
    #[oai(
        path = "/api/v1/media/:id/thumbnail",
        method = "get",
        tag = "ApiTags::Media"
    )]
    async fn thumbnail(
        &self,
        user: ActingUser,
        /// メディア ID。
        id: Path<Uuid>,
    ) -> Result<FileResponse, Problem> {
        self.serve(user.user, id.0, FileKind::Thumbnail).await
    }
}
