//! メディア集約の状態・コマンド・イベント・エラー。

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use super::policy::{ContentType, MediaKind, PolicyViolation, UploadPolicy, sanitize_filename};
use crate::error::{DomainError, ErrorKind};
use crate::ids::{MediaId, UserId};

/// メディアのライフサイクル上の状態。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaStatus {
    /// まだアップロードされていない (集約が存在しない)。
    #[default]
    New,
    /// ファイルが保存された。処理待ち。
    Uploaded,
    /// サムネイルとメタデータの生成が済んだ。
    Processed,
    /// 処理に失敗した (壊れたファイルなど)。
    Failed,
    /// 削除された。
    Deleted,
    /// 補償により無効化された。
    Invalidated,
}

impl MediaStatus {
    /// API と読み取りモデルで使う名前 (`uploaded`, `processed`, `failed`, `deleted`, `invalidated`)。
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Uploaded => "uploaded",
            Self::Processed => "processed",
            Self::Failed => "failed",
            Self::Deleted => "deleted",
            Self::Invalidated => "invalidated",
        }
    }
}

/// 削除の理由。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionReason {
    /// 所有者が削除した。
    User,
    /// Saga の補償として削除した (処理の失敗など)。
    Compensation,
}

/// 処理 (サムネイル・メタデータ生成) の結果。
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessingOutput {
    /// サムネイルの保存キー。
    pub thumbnail_key: String,
    /// 元画像・動画の幅 (ピクセル)。
    pub width: u32,
    /// 元画像・動画の高さ (ピクセル)。
    pub height: u32,
    /// 動画の長さ (ミリ秒)。画像なら `None`。
    pub duration_ms: Option<u64>,
}

/// メディア集約へのコマンド。
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
    /// ファイルが保存されたことを記録する (アップロード)。
    Upload {
        /// 新しいメディアの ID (集約 ID と同じ)。
        media_id: MediaId,
        /// 所有者。
        owner_id: UserId,
        /// 利用者が付けたファイル名 (表示用に無害化されます)。
        filename: String,
        /// 中身から判定済みの形式。
        content_type: ContentType,
        /// バイト数。
        size_bytes: u64,
        /// 中身の SHA-256 (小文字 16 進 64 文字)。
        sha256: String,
        /// 保存キー (メディア ID だけから作られたもの)。
        storage_key: String,
    },
    /// 処理の成功を記録する。
    CompleteProcessing(ProcessingOutput),
    /// 処理の失敗を記録する。
    FailProcessing {
        /// 失敗の理由。
        reason: String,
    },
    /// 削除する。
    Delete {
        /// 要求者 (利用者による削除では所有者でなければなりません)。
        requested_by: UserId,
        /// 理由。
        reason: DeletionReason,
    },
    /// 補償として無効化する。
    Invalidate {
        /// 理由。
        reason: String,
    },
}

/// メディア集約のイベント。
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MediaEvent {
    /// ファイルが保存された。
    MediaUploaded {
        /// メディア ID。
        media_id: MediaId,
        /// 所有者。
        owner_id: UserId,
        /// 表示用に無害化されたファイル名。
        filename: String,
        /// MIME 型。
        content_type: String,
        /// バイト数。
        size_bytes: u64,
        /// SHA-256 (16 進)。
        sha256: String,
        /// 画像か動画か。
        kind: MediaKind,
        /// 保存キー。
        storage_key: String,
    },
    /// サムネイルとメタデータができた。
    MediaProcessed {
        /// サムネイルの保存キー。
        thumbnail_key: String,
        /// 幅。
        width: u32,
        /// 高さ。
        height: u32,
        /// 動画の長さ (ミリ秒)。
        duration_ms: Option<u64>,
    },
    /// 処理に失敗した。
    MediaProcessingFailed {
        /// 理由。
        reason: String,
    },
    /// 削除された。
    MediaDeleted {
        /// 理由。
        reason: DeletionReason,
    },
    /// 補償により無効化された。
    MediaInvalidated {
        /// 理由。
        reason: String,
    },
}

impl DomainEvent for MediaEvent {
    fn event_type(&self) -> String {
        match self {
            Self::MediaUploaded { .. } => "MediaUploaded",
            Self::MediaProcessed { .. } => "MediaProcessed",
            Self::MediaProcessingFailed { .. } => "MediaProcessingFailed",
            Self::MediaDeleted { .. } => "MediaDeleted",
            Self::MediaInvalidated { .. } => "MediaInvalidated",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// メディア集約のエラー。
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// メディアが存在しない (他人のメディアも含む)。
    #[error("メディアが見つかりません")]
    NotFound,
    /// 同じ ID で別の内容のメディアが既にある。
    #[error("同じ ID のメディアが既に存在します")]
    AlreadyExists,
    /// アップロード方針に反する。
    #[error(transparent)]
    Policy(#[from] PolicyViolation),
    /// SHA-256 の表記が不正。
    #[error("SHA-256 は 16 進 64 文字でなければなりません")]
    InvalidChecksum,
    /// 保存キーが空。
    #[error("保存キーが空です")]
    EmptyStorageKey,
    /// 既に削除されている。
    #[error("メディアは既に削除されています")]
    AlreadyDeleted,
    /// 現在の状態ではその操作はできない。
    #[error("状態 {status} のメディアには {action} できません")]
    InvalidState {
        /// 現在の状態。
        status: &'static str,
        /// 試みた操作。
        action: &'static str,
    },
}

impl DomainError for MediaError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "media.not_found",
            Self::AlreadyExists => "media.already_exists",
            Self::Policy(PolicyViolation::Empty) => "media.empty_file",
            Self::Policy(PolicyViolation::TooLarge { .. }) => "media.too_large",
            Self::Policy(PolicyViolation::UnsupportedType(_)) => "media.unsupported_type",
            Self::Policy(PolicyViolation::TypeMismatch { .. }) => "media.unsupported_type",
            Self::InvalidChecksum => "media.invalid_checksum",
            Self::EmptyStorageKey => "media.empty_storage_key",
            Self::AlreadyDeleted => "media.not_found",
            Self::InvalidState { .. } => "media.invalid_state",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound | Self::AlreadyDeleted => ErrorKind::NotFound,
            Self::AlreadyExists | Self::InvalidState { .. } => ErrorKind::Conflict,
            Self::Policy(PolicyViolation::TooLarge { .. }) => ErrorKind::TooLarge,
            Self::Policy(
                PolicyViolation::UnsupportedType(_) | PolicyViolation::TypeMismatch { .. },
            ) => ErrorKind::UnsupportedMediaType,
            Self::Policy(PolicyViolation::Empty)
            | Self::InvalidChecksum
            | Self::EmptyStorageKey => ErrorKind::Invalid,
        }
    }
}

/// メディア集約の状態。イベントを順に [`Aggregate::apply`] して得られます。
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    id: Option<MediaId>,
    owner_id: Option<UserId>,
    filename: String,
    content_type: String,
    size_bytes: u64,
    sha256: String,
    kind: Option<MediaKind>,
    storage_key: String,
    status: MediaStatus,
    processing: Option<ProcessingOutput>,
    failure_reason: Option<String>,
}

impl Media {
    /// 現在の状態。
    #[must_use]
    pub const fn status(&self) -> MediaStatus {
        self.status
    }

    /// メディア ID (アップロード前は `None`)。
    #[must_use]
    pub const fn id(&self) -> Option<MediaId> {
        self.id
    }

    /// 所有者 (アップロード前は `None`)。
    #[must_use]
    pub const fn owner_id(&self) -> Option<UserId> {
        self.owner_id
    }

    /// 表示用ファイル名。
    #[must_use]
    pub fn filename(&self) -> &str {
        &self.filename
    }

    /// 保存キー。
    #[must_use]
    pub fn storage_key(&self) -> &str {
        &self.storage_key
    }

    /// 処理結果 (処理済みのときだけ)。
    #[must_use]
    pub const fn processing(&self) -> Option<&ProcessingOutput> {
        self.processing.as_ref()
    }

    /// 指定の利用者が所有者か。
    #[must_use]
    pub fn is_owned_by(&self, user: UserId) -> bool {
        self.owner_id == Some(user)
    }

    fn decide(
        &self,
        command: MediaCommand,
        policy: &UploadPolicy,
    ) -> Result<Option<MediaEvent>, MediaError> {
        match command {
            MediaCommand::Upload {
                media_id,
                owner_id,
                filename,
                content_type,
                size_bytes,
                sha256,
                storage_key,
            } => {
                if self.status != MediaStatus::New {
                    let same = self.id == Some(media_id)
                        && self.owner_id == Some(owner_id)
                        && self.sha256 == sha256;
                    return if same {
                        Ok(None)
                    } else {
                        Err(MediaError::AlreadyExists)
                    };
                }
                policy.check_size(size_bytes)?;
                if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(MediaError::InvalidChecksum);
                }
                if storage_key.trim().is_empty() {
                    return Err(MediaError::EmptyStorageKey);
                }
                Ok(Some(MediaEvent::MediaUploaded {
                    media_id,
                    owner_id,
                    filename: sanitize_filename(&filename),
                    content_type: content_type.mime().to_owned(),
                    size_bytes,
                    sha256: sha256.to_ascii_lowercase(),
                    kind: content_type.kind(),
                    storage_key,
                }))
            }
            MediaCommand::CompleteProcessing(output) => match self.status {
                MediaStatus::New => Err(MediaError::NotFound),
                MediaStatus::Processed => Ok(None),
                MediaStatus::Uploaded => Ok(Some(MediaEvent::MediaProcessed {
                    thumbnail_key: output.thumbnail_key,
                    width: output.width,
                    height: output.height,
                    duration_ms: output.duration_ms,
                })),
                other => Err(MediaError::InvalidState {
                    status: other.as_str(),
                    action: "complete processing",
                }),
            },
            MediaCommand::FailProcessing { reason } => match self.status {
                MediaStatus::New => Err(MediaError::NotFound),
                MediaStatus::Failed | MediaStatus::Deleted | MediaStatus::Invalidated => Ok(None),
                MediaStatus::Uploaded => Ok(Some(MediaEvent::MediaProcessingFailed { reason })),
                MediaStatus::Processed => Err(MediaError::InvalidState {
                    status: MediaStatus::Processed.as_str(),
                    action: "fail processing",
                }),
            },
            MediaCommand::Delete {
                requested_by,
                reason,
            } => match (self.status, reason) {
                (MediaStatus::New, _) => Err(MediaError::NotFound),
                (_, DeletionReason::User) if !self.is_owned_by(requested_by) => {
                    Err(MediaError::NotFound)
                }
                (MediaStatus::Deleted, DeletionReason::User) => Err(MediaError::AlreadyDeleted),
                (MediaStatus::Deleted, DeletionReason::Compensation) => Ok(None),
                _ => Ok(Some(MediaEvent::MediaDeleted { reason })),
            },
            MediaCommand::Invalidate { reason } => match self.status {
                MediaStatus::New => Err(MediaError::NotFound),
                MediaStatus::Invalidated | MediaStatus::Deleted => Ok(None),
                _ => Ok(Some(MediaEvent::MediaInvalidated { reason })),
            },
        }
    }
}

impl Aggregate for Media {
    const TYPE: &'static str = "Media";
    type Command = MediaCommand;
    type Event = MediaEvent;
    type Error = MediaError;
    type Services = UploadPolicy;

    async fn handle(
        &mut self,
        command: Self::Command,
        policy: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        if let Some(event) = self.decide(command, policy)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            MediaEvent::MediaUploaded {
                media_id,
                owner_id,
                filename,
                content_type,
                size_bytes,
                sha256,
                kind,
                storage_key,
            } => {
                self.id = Some(media_id);
                self.owner_id = Some(owner_id);
                self.filename = filename;
                self.content_type = content_type;
                self.size_bytes = size_bytes;
                self.sha256 = sha256;
                self.kind = Some(kind);
                self.storage_key = storage_key;
                self.status = MediaStatus::Uploaded;
            }
            MediaEvent::MediaProcessed {
                thumbnail_key,
                width,
                height,
                duration_ms,
            } => {
                self.processing = Some(ProcessingOutput {
                    thumbnail_key,
                    width,
                    height,
                    duration_ms,
                });
                self.status = MediaStatus::Processed;
            }
            MediaEvent::MediaProcessingFailed { reason } => {
                self.failure_reason = Some(reason);
                self.status = MediaStatus::Failed;
            }
            MediaEvent::MediaDeleted { .. } => self.status = MediaStatus::Deleted,
            MediaEvent::MediaInvalidated { reason } => {
                self.failure_reason = Some(reason);
                self.status = MediaStatus::Invalidated;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    type Given = TestFramework<Media>;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    struct Fixture {
        media_id: MediaId,
        owner: UserId,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                media_id: MediaId::new_random(),
                owner: UserId::new_random(),
            }
        }

        fn upload(&self) -> MediaCommand {
            MediaCommand::Upload {
                media_id: self.media_id,
                owner_id: self.owner,
                filename: "../../etc/cat.jpg".into(),
                content_type: ContentType::Jpeg,
                size_bytes: 1024,
                sha256: SHA.into(),
                storage_key: format!("{}/original", self.media_id),
            }
        }

        fn uploaded(&self) -> MediaEvent {
            MediaEvent::MediaUploaded {
                media_id: self.media_id,
                owner_id: self.owner,
                filename: "cat.jpg".into(),
                content_type: "image/jpeg".into(),
                size_bytes: 1024,
                sha256: SHA.into(),
                kind: MediaKind::Image,
                storage_key: format!("{}/original", self.media_id),
            }
        }

        fn processed() -> MediaEvent {
            MediaEvent::MediaProcessed {
                thumbnail_key: "t".into(),
                width: 640,
                height: 480,
                duration_ms: None,
            }
        }

        fn output() -> ProcessingOutput {
            ProcessingOutput {
                thumbnail_key: "t".into(),
                width: 640,
                height: 480,
                duration_ms: None,
            }
        }
    }

    fn framework() -> Given {
        TestFramework::with(UploadPolicy::default())
    }

    #[test]
    fn upload_of_new_jpeg_emits_media_uploaded_with_sanitised_filename() {
        let f = Fixture::new();
        framework()
            .given_no_previous_events()
            .when(f.upload())
            .then_expect_events(vec![f.uploaded()]);
    }

    #[test]
    fn upload_repeated_with_same_content_emits_nothing() {
        let f = Fixture::new();
        framework()
            .given(vec![f.uploaded()])
            .when(f.upload())
            .then_expect_events(vec![]);
    }

    #[test]
    fn upload_with_same_id_but_other_content_is_already_exists() {
        let f = Fixture::new();
        let mut other = f.upload();
        if let MediaCommand::Upload { sha256, .. } = &mut other {
            *sha256 = "0".repeat(64);
        }
        framework()
            .given(vec![f.uploaded()])
            .when(other)
            .then_expect_error(MediaError::AlreadyExists);
    }

    #[test]
    fn upload_of_51_mib_is_too_large() {
        let f = Fixture::new();
        let mut cmd = f.upload();
        if let MediaCommand::Upload { size_bytes, .. } = &mut cmd {
            *size_bytes = 51 * 1024 * 1024;
        }
        framework()
            .given_no_previous_events()
            .when(cmd)
            .then_expect_error(MediaError::Policy(PolicyViolation::TooLarge {
                size: 51 * 1024 * 1024,
                max: crate::media::DEFAULT_MAX_UPLOAD_BYTES,
            }));
    }

    #[test]
    fn upload_of_empty_file_is_rejected_as_empty() {
        let f = Fixture::new();
        let mut cmd = f.upload();
        if let MediaCommand::Upload { size_bytes, .. } = &mut cmd {
            *size_bytes = 0;
        }
        framework()
            .given_no_previous_events()
            .when(cmd)
            .then_expect_error(MediaError::Policy(PolicyViolation::Empty));
    }

    #[test]
    fn upload_with_malformed_checksum_or_blank_storage_key_is_rejected() {
        let f = Fixture::new();
        let mut bad_sha = f.upload();
        if let MediaCommand::Upload { sha256, .. } = &mut bad_sha {
            *sha256 = "xyz".into();
        }
        framework()
            .given_no_previous_events()
            .when(bad_sha)
            .then_expect_error(MediaError::InvalidChecksum);
        let mut bad_key = f.upload();
        if let MediaCommand::Upload { storage_key, .. } = &mut bad_key {
            *storage_key = "  ".into();
        }
        framework()
            .given_no_previous_events()
            .when(bad_key)
            .then_expect_error(MediaError::EmptyStorageKey);
    }

    #[test]
    fn complete_processing_of_uploaded_media_emits_media_processed() {
        let f = Fixture::new();
        framework()
            .given(vec![f.uploaded()])
            .when(MediaCommand::CompleteProcessing(Fixture::output()))
            .then_expect_events(vec![Fixture::processed()]);
    }

    #[test]
    fn complete_processing_of_processed_media_is_idempotent_and_emits_nothing() {
        let f = Fixture::new();
        framework()
            .given(vec![f.uploaded(), Fixture::processed()])
            .when(MediaCommand::CompleteProcessing(Fixture::output()))
            .then_expect_events(vec![]);
    }

    #[test]
    fn complete_processing_of_unknown_media_is_not_found() {
        framework()
            .given_no_previous_events()
            .when(MediaCommand::CompleteProcessing(Fixture::output()))
            .then_expect_error(MediaError::NotFound);
    }

    #[test]
    fn complete_processing_of_deleted_media_is_invalid_state() {
        let f = Fixture::new();
        framework()
            .given(vec![
                f.uploaded(),
                MediaEvent::MediaDeleted {
                    reason: DeletionReason::User,
                },
            ])
            .when(MediaCommand::CompleteProcessing(Fixture::output()))
            .then_expect_error(MediaError::InvalidState {
                status: "deleted",
                action: "complete processing",
            });
    }

    #[test]
    fn fail_processing_of_uploaded_media_emits_processing_failed() {
        let f = Fixture::new();
        framework()
            .given(vec![f.uploaded()])
            .when(MediaCommand::FailProcessing {
                reason: "corrupt".into(),
            })
            .then_expect_events(vec![MediaEvent::MediaProcessingFailed {
                reason: "corrupt".into(),
            }]);
    }

    #[test]
    fn fail_processing_twice_emits_nothing_the_second_time() {
        let f = Fixture::new();
        framework()
            .given(vec![
                f.uploaded(),
                MediaEvent::MediaProcessingFailed { reason: "x".into() },
            ])
            .when(MediaCommand::FailProcessing { reason: "y".into() })
            .then_expect_events(vec![]);
    }

    #[test]
    fn fail_processing_of_processed_media_is_invalid_state_and_of_unknown_is_not_found() {
        let f = Fixture::new();
        framework()
            .given(vec![f.uploaded(), Fixture::processed()])
            .when(MediaCommand::FailProcessing { reason: "x".into() })
            .then_expect_error(MediaError::InvalidState {
                status: "processed",
                action: "fail processing",
            });
        framework()
            .given_no_previous_events()
            .when(MediaCommand::FailProcessing { reason: "x".into() })
            .then_expect_error(MediaError::NotFound);
    }

    #[test]
    fn delete_by_owner_emits_media_deleted_with_user_reason() {
        let f = Fixture::new();
        framework()
            .given(vec![f.uploaded(), Fixture::processed()])
            .when(MediaCommand::Delete {
                requested_by: f.owner,
                reason: DeletionReason::User,
            })
            .then_expect_events(vec![MediaEvent::MediaDeleted {
                reason: DeletionReason::User,
            }]);
    }

    #[test]
    fn delete_by_another_user_is_not_found() {
        let f = Fixture::new();
        framework()
            .given(vec![f.uploaded()])
            .when(MediaCommand::Delete {
                requested_by: UserId::new_random(),
                reason: DeletionReason::User,
            })
            .then_expect_error(MediaError::NotFound);
    }

    #[test]
    fn delete_by_user_of_deleted_media_is_already_deleted() {
        let f = Fixture::new();
        framework()
            .given(vec![
                f.uploaded(),
                MediaEvent::MediaDeleted {
                    reason: DeletionReason::User,
                },
            ])
            .when(MediaCommand::Delete {
                requested_by: f.owner,
                reason: DeletionReason::User,
            })
            .then_expect_error(MediaError::AlreadyDeleted);
    }

    #[test]
    fn compensating_delete_twice_emits_one_event_then_nothing() {
        let f = Fixture::new();
        let compensation = MediaCommand::Delete {
            requested_by: UserId::new_random(),
            reason: DeletionReason::Compensation,
        };
        framework()
            .given(vec![
                f.uploaded(),
                MediaEvent::MediaProcessingFailed { reason: "x".into() },
            ])
            .when(compensation.clone())
            .then_expect_events(vec![MediaEvent::MediaDeleted {
                reason: DeletionReason::Compensation,
            }]);
        framework()
            .given(vec![
                f.uploaded(),
                MediaEvent::MediaDeleted {
                    reason: DeletionReason::Compensation,
                },
            ])
            .when(compensation)
            .then_expect_events(vec![]);
    }

    #[test]
    fn delete_of_unknown_media_is_not_found() {
        framework()
            .given_no_previous_events()
            .when(MediaCommand::Delete {
                requested_by: UserId::new_random(),
                reason: DeletionReason::Compensation,
            })
            .then_expect_error(MediaError::NotFound);
    }

    #[test]
    fn invalidate_processed_media_emits_invalidated_then_is_idempotent() {
        let f = Fixture::new();
        let invalidated = MediaEvent::MediaInvalidated {
            reason: "album failed".into(),
        };
        framework()
            .given(vec![f.uploaded(), Fixture::processed()])
            .when(MediaCommand::Invalidate {
                reason: "album failed".into(),
            })
            .then_expect_events(vec![invalidated.clone()]);
        framework()
            .given(vec![f.uploaded(), Fixture::processed(), invalidated])
            .when(MediaCommand::Invalidate {
                reason: "again".into(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn invalidate_of_unknown_media_is_not_found() {
        framework()
            .given_no_previous_events()
            .when(MediaCommand::Invalidate { reason: "x".into() })
            .then_expect_error(MediaError::NotFound);
    }

    #[test]
    fn applying_history_yields_processed_state_with_accessors() {
        let f = Fixture::new();
        let mut media = Media::default();
        assert_eq!(media.status(), MediaStatus::New);
        media.apply(f.uploaded());
        media.apply(Fixture::processed());
        assert_eq!(media.status(), MediaStatus::Processed);
        assert_eq!(media.id(), Some(f.media_id));
        assert_eq!(media.owner_id(), Some(f.owner));
        assert_eq!(media.filename(), "cat.jpg");
        assert_eq!(media.storage_key(), format!("{}/original", f.media_id));
        assert_eq!(media.processing().map(|p| p.width), Some(640));
        assert!(media.is_owned_by(f.owner));
    }

    #[test]
    fn every_error_has_a_namespaced_code_and_http_kind() {
        let cases = [
            (MediaError::NotFound, ErrorKind::NotFound),
            (MediaError::AlreadyExists, ErrorKind::Conflict),
            (
                MediaError::Policy(PolicyViolation::Empty),
                ErrorKind::Invalid,
            ),
            (
                MediaError::Policy(PolicyViolation::TooLarge { size: 2, max: 1 }),
                ErrorKind::TooLarge,
            ),
            (
                MediaError::Policy(PolicyViolation::UnsupportedType("x".into())),
                ErrorKind::UnsupportedMediaType,
            ),
            (
                MediaError::Policy(PolicyViolation::TypeMismatch {
                    declared: "a".into(),
                    detected: "b".into(),
                }),
                ErrorKind::UnsupportedMediaType,
            ),
            (MediaError::InvalidChecksum, ErrorKind::Invalid),
            (MediaError::EmptyStorageKey, ErrorKind::Invalid),
            (MediaError::AlreadyDeleted, ErrorKind::NotFound),
            (
                MediaError::InvalidState {
                    status: "deleted",
                    action: "x",
                },
                ErrorKind::Conflict,
            ),
        ];
        for (error, kind) in cases {
            assert!(error.code().starts_with("media."), "{error}");
            assert_eq!(error.kind(), kind, "{error}");
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn event_types_match_the_catalogue_and_are_version_1() {
        let f = Fixture::new();
        let events = [
            (f.uploaded(), "MediaUploaded"),
            (Fixture::processed(), "MediaProcessed"),
            (
                MediaEvent::MediaProcessingFailed { reason: "r".into() },
                "MediaProcessingFailed",
            ),
            (
                MediaEvent::MediaDeleted {
                    reason: DeletionReason::User,
                },
                "MediaDeleted",
            ),
            (
                MediaEvent::MediaInvalidated { reason: "r".into() },
                "MediaInvalidated",
            ),
        ];
        for (event, name) in events {
            assert_eq!(event.event_type(), name);
            assert_eq!(event.event_version(), "1.0");
        }
        for status in [
            MediaStatus::New,
            MediaStatus::Uploaded,
            MediaStatus::Processed,
            MediaStatus::Failed,
            MediaStatus::Deleted,
            MediaStatus::Invalidated,
        ] {
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(serde_json::Value::String(status.as_str().into()))
            );
        }
    }
}
