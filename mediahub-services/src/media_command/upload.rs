//! `POST /api/v1/media`: マルチパートの `file` を **流したまま** ディスクに書くアップロード。
//!
//! 本体を丸ごとメモリに載せることはありません。64 KiB ずつ読み、
//!
//! 1. 一時ファイル (`tmp/<media-id>.part`) に書きながら SHA-256 とバイト数を数え、
//! 2. 上限を 1 バイトでも超えたらその場で 413 (`media.too_large`) にして一時ファイルを消し、
//! 3. 先頭 16 バイトが揃った時点でマジックバイトを判定し、申告された形式 (パートの
//!    Content-Type) と食い違えば 415 (`media.unsupported_type`) にして消し、
//! 4. 最後まで読めたら `originals/<media-id>` に rename してから `Upload` コマンドを実行します。
//!
//! 保存先のパスはメディア ID だけから作り、利用者のファイル名は (無害化して) イベントに
//! 記録するだけです。
//!
//! このエンドポイントは共通の本体サイズ制限 (本体をメモリに読み込む) の外に置かれます
//! ([`super::start`] を参照)。

use std::path::PathBuf;

use mediahub_core::ids::{MediaId, SagaId};
use mediahub_core::media::{ContentType, MediaCommand, PolicyViolation, UploadPolicy};
use mediahub_core::saga::{
    FAULT_INJECT_METADATA_KEY, FaultPoint, MAX_SAGA_PACE_MS, SAGA_PACE_METADATA_KEY,
};
use poem::http::StatusCode;
use poem::web::Multipart;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::impl_apirequest_for_payload;
use poem_openapi::param::Header;
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::{ApiResponse, OpenApi};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::api::ApiTags;
use super::error::{codes, storage_problem};
use super::state::{MediaCommandState, SharedState};
use super::view::UploadAccepted;
use crate::platform::problem::Problem;
use crate::platform::request::CommandContext;

/// 読み込みの単位。
const CHUNK: usize = 64 * 1024;
/// 形式の判定に使う先頭のバイト数。
const SNIFF_LEN: usize = 16;
/// マルチパートのファイルのフィールド名。
pub const FILE_FIELD: &str = "file";

/// `multipart/form-data` の本体を、解析せずに流れのまま受け取るペイロード。
pub struct UploadForm(Multipart);

impl Payload for UploadForm {
    const CONTENT_TYPE: &'static str = "multipart/form-data";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(Self::CONTENT_TYPE))
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut file = MetaSchema::new_with_format("string", "binary");
        file.description = Some("アップロードするファイル (画像または動画)");
        let mut schema = MetaSchema::new("object");
        schema.properties = vec![(FILE_FIELD, MetaSchemaRef::Inline(Box::new(file)))];
        schema.required = vec![FILE_FIELD];
        MetaSchemaRef::Inline(Box::new(schema))
    }
}

impl ParsePayload for UploadForm {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self(Multipart::from_request(request, body).await?))
    }
}

impl_apirequest_for_payload!(UploadForm);

/// アップロードの応答。
#[derive(Debug, ApiResponse)]
pub enum UploadResponse {
    /// ファイルを保存し `MediaUploaded` を記録した。処理は Saga が非同期に進めます。
    #[oai(status = 202)]
    Accepted(Json<UploadAccepted>),
}

/// アップロードの API (共通の本体サイズ制限の外で動かします)。
#[derive(Debug, Clone)]
pub struct UploadApi {
    state: SharedState,
}

impl UploadApi {
    /// 共有の状態から作ります。
    #[must_use]
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi]
impl UploadApi {
    /// メディアをアップロードする (multipart/form-data のフィールド `file`)。
    ///
    /// 形式はマジックバイトで判定し、パートの Content-Type と一致しなければ 415。
    /// 上限 (既定 50 MB = 50,000,000 バイト) を超えれば 413。どちらの場合も何も保存しません。
    #[oai(path = "/api/v1/media", method = "post", tag = "ApiTags::Media")]
    async fn upload(
        &self,
        ctx: CommandContext,
        /// 障害注入 (`process` / `album` / `notification`)。障害注入が有効なときだけ使われます。
        #[oai(
            name = "X-Fault-Inject",
            validator(pattern = "^(process|album|notification)$")
        )]
        fault_inject: Header<Option<String>>,
        /// スローモーション: Saga の各ステップの前に置く間 (ミリ秒、0〜5000)。障害注入が
        /// 有効なとき (学習用の `make run`) だけ使われます。
        #[oai(
            name = "X-Saga-Pace-Ms",
            validator(minimum(value = "0"), maximum(value = "5000"))
        )]
        saga_pace: Header<Option<u64>>,
        form: UploadForm,
    ) -> Result<UploadResponse, Problem> {
        let state = &self.state;
        let owner = ctx.user()?;
        let fault = fault_point(state, fault_inject.0.as_deref())?;
        let mut metadata = ctx.metadata();
        if let Some(fault) = fault {
            metadata.extra.insert(
                FAULT_INJECT_METADATA_KEY.to_owned(),
                fault.as_str().to_owned(),
            );
        }
        if let Some(pace) = saga_pace.0.filter(|p| state.fault_injection && *p > 0) {
            metadata.extra.insert(
                SAGA_PACE_METADATA_KEY.to_owned(),
                pace.min(MAX_SAGA_PACE_MS).to_string(),
            );
        }
        let id = MediaId::new_random();
        let received = receive(form.0, state, id).await?;
        let command = MediaCommand::Upload {
            media_id: id,
            owner_id: owner,
            filename: received.filename,
            content_type: received.content_type,
            size_bytes: received.size,
            sha256: received.sha256,
            storage_key: super::storage::Storage::original_key(id),
        };
        let position = match state.commands.execute(id, None, command, &metadata).await {
            Ok(position) => position,
            Err(problem) => {
                discard(state.storage.original_path(id)).await;
                return Err(problem);
            }
        };
        tracing::info!(media_id = %id, position, "アップロードを受け付けました");
        Ok(UploadResponse::Accepted(Json(UploadAccepted {
            media_id: id.as_uuid(),
            saga_id: SagaId::for_media(id).as_uuid(),
            position,
            correlation_id: metadata
                .correlation_id
                .map(|c| c.as_uuid())
                .unwrap_or_default(),
        })))
    }
}

/// `X-Fault-Inject` を読みます。障害注入が無効なら常に `None` (ヘッダーは無視)。
fn fault_point(
    state: &MediaCommandState,
    header: Option<&str>,
) -> Result<Option<FaultPoint>, Problem> {
    match header {
        Some(raw) if state.fault_injection => raw
            .parse::<FaultPoint>()
            .map(Some)
            .map_err(|e| Problem::bad_request(codes::INVALID_FAULT_INJECT, e.to_string())),
        _ => Ok(None),
    }
}

/// 受信して `originals/` に置いたファイルの情報。
struct Received {
    filename: String,
    content_type: ContentType,
    size: u64,
    sha256: String,
}

/// 受信中の一時ファイル。完了 ([`TempFile::keep`]) せずに捨てられたら消します。
struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "一時ファイルを消せません");
            }
        }
    }
}

async fn discard(path: PathBuf) {
    if let Err(e) = super::storage::remove_if_exists(&path).await {
        tracing::warn!(path = %path.display(), error = %e, "ファイルを消せません");
    }
}

fn too_large(max: u64) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::TOO_LARGE,
        format!("ファイルが上限 ({max} バイト) を超えています"),
    )
    .with_extension("max_bytes", max)
}

fn unsupported(violation: &PolicyViolation) -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        codes::UNSUPPORTED_TYPE,
        format!("受け付けられない形式です: {violation}"),
    )
}

fn check_type(
    policy: &UploadPolicy,
    declared: Option<&str>,
    head: &[u8],
) -> Result<ContentType, Problem> {
    policy
        .check_type(declared, ContentType::sniff(head))
        .map_err(|v| unsupported(&v))
}

fn body_error(err: &std::io::Error) -> Problem {
    Problem::bad_request(
        crate::platform::problem::codes::INVALID_BODY,
        format!("マルチパートの本体を読めません: {err}"),
    )
}

/// マルチパートから `file` を探し、流しながら一時ファイルに書いて検査し、`originals/` に置きます。
async fn receive(
    mut multipart: Multipart,
    state: &MediaCommandState,
    id: MediaId,
) -> Result<Received, Problem> {
    let field = loop {
        match multipart
            .next_field()
            .await
            .map_err(|e| Problem::from_poem_error(&e.into()))?
        {
            Some(field) if field.name() == Some(FILE_FIELD) => break field,
            Some(_) => {}
            None => {
                return Err(Problem::bad_request(
                    codes::MISSING_FILE,
                    "マルチパートに file フィールドがありません",
                ));
            }
        }
    };
    let declared = field.content_type().map(str::to_owned);
    let filename = field.file_name().unwrap_or("untitled").to_owned();
    let max = state.policy.max_bytes;
    let temp_path = state.storage.temp_path(id);
    let mut file = tokio::fs::File::create(&temp_path)
        .await
        .map_err(|e| storage_problem(&e))?;
    let temp = TempFile {
        path: Some(temp_path.clone()),
    };
    let reader = field.into_async_read();
    tokio::pin!(reader);
    let mut buf = vec![0u8; CHUNK];
    let mut head = Vec::with_capacity(SNIFF_LEN);
    let mut detected = None;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| body_error(&e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > max {
            return Err(too_large(max));
        }
        let chunk = &buf[..n];
        if detected.is_none() {
            let take = (SNIFF_LEN - head.len()).min(n);
            head.extend_from_slice(&chunk[..take]);
            if head.len() == SNIFF_LEN {
                detected = Some(check_type(&state.policy, declared.as_deref(), &head)?);
            }
        }
        hasher.update(chunk);
        file.write_all(chunk)
            .await
            .map_err(|e| storage_problem(&e))?;
    }
    if size == 0 {
        return Err(Problem::bad_request(
            codes::EMPTY_FILE,
            "file フィールドが空です",
        ));
    }
    let content_type = match detected {
        Some(ct) => ct,
        None => check_type(&state.policy, declared.as_deref(), &head)?,
    };
    file.flush().await.map_err(|e| storage_problem(&e))?;
    drop(file);
    tokio::fs::rename(&temp_path, state.storage.original_path(id))
        .await
        .map_err(|e| storage_problem(&e))?;
    temp.keep();
    Ok(Received {
        filename,
        content_type,
        size,
        sha256: hex(&hasher.finalize()),
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut out, b| {
        let _infallible = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_of_sha256_of_abc_matches_the_known_digest() {
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn multipart_content_type_with_boundary_is_accepted_and_json_is_not() {
        assert!(UploadForm::check_content_type(
            "multipart/form-data; boundary=xyz"
        ));
        assert!(UploadForm::check_content_type("Multipart/Form-Data"));
        assert!(!UploadForm::check_content_type("application/json"));
    }
}
