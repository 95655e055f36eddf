//! メディア (画像・動画) 集約。
//!
//! アップロード → 処理 (サムネイル生成) → 削除 / 無効化 というライフサイクルを、
//! イベントの列として表現します。
//!
//! | コマンド | イベント | 規則 |
//! |---|---|---|
//! | [`MediaCommand::Upload`] | [`MediaEvent::MediaUploaded`] | 形式は許可リスト、サイズは上限内、同じ内容の再送は冪等 |
//! | [`MediaCommand::CompleteProcessing`] | [`MediaEvent::MediaProcessed`] | 処理済みなら何もしない (冪等) |
//! | [`MediaCommand::FailProcessing`] | [`MediaEvent::MediaProcessingFailed`] | 失敗済みなら何もしない (冪等) |
//! | [`MediaCommand::Delete`] | [`MediaEvent::MediaDeleted`] | 利用者による削除は所有者のみ。補償による削除は冪等 |
//! | [`MediaCommand::Invalidate`] | [`MediaEvent::MediaInvalidated`] | 補償。無効化済み・削除済みなら何もしない |

mod aggregate;
mod policy;

pub use aggregate::{
    DeletionReason, Media, MediaCommand, MediaError, MediaEvent, MediaStatus, ProcessingOutput,
};
pub use policy::{
    ContentType, DEFAULT_MAX_UPLOAD_BYTES, MAX_FILENAME_CHARS, MediaKind, PolicyViolation,
    UploadPolicy, sanitize_filename,
};
