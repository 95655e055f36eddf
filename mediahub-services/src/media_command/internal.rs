//! 内部 API (`/internal/v1/media/{id}/…`、サービス用トークンのみ)。Saga から呼ばれます。
//!
//! どれも冪等です: 同じ呼び出しを繰り返しても状態は一度しか変わらず、2 回目以降は
//! `position: 0` で 200 を返します。4xx は恒久的な失敗 (Saga は再試行しません)、
//! 5xx は一時的な失敗 (Saga は再試行します) です。

use mediahub_core::envelope::EventMetadata;
use mediahub_core::ids::MediaId;
use mediahub_core::media::{DeletionReason, MediaCommand, MediaStatus};
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use uuid::Uuid;

use super::api::ApiTags;
use super::commands::LoadedMedia;
use super::error::{codes, not_found, storage_problem};
use super::processing::{self, ProcessError};
use super::state::{MediaCommandState, SharedState};
use super::view::{
    DeleteUploadedFileRequest, InvalidateRequest, PositionBody, ProcessRequest, ProcessResult,
    ProcessStatus,
};
use crate::platform::auth::ServiceAuth;
use crate::platform::problem::Problem;
use crate::platform::request::CommandContext;

/// 障害注入で処理を失敗させたときの理由。
pub const FAULT_INJECTED_REASON: &str = "fault injected: process";

/// 内部 API。
#[derive(Debug, Clone)]
pub struct InternalApi {
    state: SharedState,
}

impl InternalApi {
    /// 共有の状態から作ります。
    #[must_use]
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

/// 存在するメディアを読みます (無ければ 404)。
async fn existing(state: &MediaCommandState, id: MediaId) -> Result<LoadedMedia, Problem> {
    let loaded = state.commands.load(id).await?;
    if loaded.media.status() == MediaStatus::New {
        return Err(not_found());
    }
    Ok(loaded)
}

async fn process_media(
    state: &MediaCommandState,
    id: MediaId,
    inject_fault: bool,
    metadata: &EventMetadata,
) -> Result<ProcessResult, Problem> {
    let loaded = existing(state, id).await?;
    match loaded.media.status() {
        MediaStatus::Processed => return Ok(done(0, ProcessStatus::Processed)),
        MediaStatus::Failed => return Ok(done(0, ProcessStatus::Failed)),
        MediaStatus::Uploaded => {}
        other => {
            return Err(Problem::conflict(
                codes::INVALID_STATE,
                format!("状態 {} のメディアは処理できません", other.as_str()),
            ));
        }
    }
    let outcome = if inject_fault {
        Err(FAULT_INJECTED_REASON.to_owned())
    } else {
        let content_type = loaded.content_type.ok_or_else(|| {
            Problem::conflict(codes::INVALID_STATE, "メディアの形式が記録されていません")
        })?;
        let storage = state.storage.clone();
        let ffmpeg = state.ffmpeg.clone();
        let task = tokio::task::spawn_blocking(move || {
            processing::process(&storage, id, content_type, ffmpeg.as_deref())
        });
        match task.await {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(ProcessError::Content(reason))) => Err(reason),
            Ok(Err(ProcessError::Io(e))) => return Err(storage_problem(&e)),
            Err(join) => return Err(Problem::internal("media processing task", &join)),
        }
    };
    let (command, status) = match outcome {
        Ok(output) => (
            MediaCommand::CompleteProcessing(output),
            ProcessStatus::Processed,
        ),
        Err(reason) => {
            tracing::info!(media_id = %id, %reason, "処理に失敗しました");
            (
                MediaCommand::FailProcessing { reason },
                ProcessStatus::Failed,
            )
        }
    };
    let position = state.commands.execute(id, None, command, metadata).await?;
    // 同時に走った別の処理が先に記録していたら、記録された方の結果を返します。
    if position == 0 {
        let now = state.commands.load(id).await?.media.status();
        let status = if now == MediaStatus::Processed {
            ProcessStatus::Processed
        } else {
            ProcessStatus::Failed
        };
        return Ok(done(0, status));
    }
    Ok(done(position, status))
}

const fn done(position: u64, status: ProcessStatus) -> ProcessResult {
    ProcessResult { position, status }
}

#[OpenApi(prefix_path = "/internal/v1/media")]
impl InternalApi {
    /// メディアを処理する (サムネイルと寸法・長さ)。ブロッキング用のスレッドで同期的に処理し、
    /// `MediaProcessed` か `MediaProcessingFailed` を記録します。処理済み・失敗済みなら同じ状態を
    /// `position: 0` で返します。
    #[oai(path = "/:id/process", method = "post", tag = "ApiTags::Internal")]
    async fn process(
        &self,
        ctx: CommandContext<ServiceAuth>,
        /// メディア ID。
        id: Path<Uuid>,
        body: Json<ProcessRequest>,
    ) -> Result<Json<ProcessResult>, Problem> {
        let metadata = ctx.metadata();
        let result = process_media(
            &self.state,
            MediaId::from(id.0),
            body.0.inject_fault,
            &metadata,
        )
        .await?;
        Ok(Json(result))
    }

    /// 補償: アップロードされたファイルを消し、`MediaDeleted` (理由 compensation) を記録する。
    #[oai(
        path = "/:id/delete-uploaded-file",
        method = "post",
        tag = "ApiTags::Internal"
    )]
    async fn delete_uploaded_file(
        &self,
        ctx: CommandContext<ServiceAuth>,
        /// メディア ID。
        id: Path<Uuid>,
        _body: Json<DeleteUploadedFileRequest>,
    ) -> Result<Json<PositionBody>, Problem> {
        let metadata = ctx.metadata();
        let id = MediaId::from(id.0);
        let loaded = existing(&self.state, id).await?;
        let requested_by = metadata
            .user_id
            .or(loaded.media.owner_id())
            .ok_or_else(not_found)?;
        let command = MediaCommand::Delete {
            requested_by,
            reason: DeletionReason::Compensation,
        };
        let position = self
            .state
            .commands
            .execute(id, None, command, &metadata)
            .await?;
        self.state
            .storage
            .remove_all(id)
            .await
            .map_err(|e| storage_problem(&e))?;
        Ok(Json(PositionBody { position }))
    }

    /// 補償: メディアを無効化する (`MediaInvalidated`)。ファイルは調査のために残します。
    #[oai(path = "/:id/invalidate", method = "post", tag = "ApiTags::Internal")]
    async fn invalidate(
        &self,
        ctx: CommandContext<ServiceAuth>,
        /// メディア ID。
        id: Path<Uuid>,
        body: Json<InvalidateRequest>,
    ) -> Result<Json<PositionBody>, Problem> {
        let metadata = ctx.metadata();
        let command = MediaCommand::Invalidate {
            reason: body.0.reason,
        };
        let position = self
            .state
            .commands
            .execute(MediaId::from(id.0), None, command, &metadata)
            .await?;
        Ok(Json(PositionBody { position }))
    }
}
