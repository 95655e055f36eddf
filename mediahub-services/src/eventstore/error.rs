//! イベントストアのエラーと、その problem+json への対応。

use mediahub_core::ids::EventId;
use poem::http::StatusCode;

use crate::platform::problem::{Problem, codes as common_codes};
use crate::platform::server::ServerError;

/// イベントストア固有の、安定したエラーコード。
pub mod codes {
    /// 期待した版とストリームの現在の版が違う (409)。本体に `current_version` が入ります。
    pub const VERSION_CONFLICT: &str = "eventstore.version_conflict";
    /// 同じイベント ID がすでに別の内容・別のストリームで保存されている (409)。
    pub const DUPLICATE_EVENT_ID: &str = "eventstore.duplicate_event_id";
    /// スナップショットの版が期待と違う (409)。
    pub const SNAPSHOT_CONFLICT: &str = "eventstore.snapshot_conflict";
    /// スナップショットが無い (404)。
    pub const SNAPSHOT_NOT_FOUND: &str = "eventstore.snapshot_not_found";
    /// 追記するイベントの集まりが不正 (件数が 0 や 1000 超、同じ ID の重複など) (400)。
    pub const INVALID_BATCH: &str = "eventstore.invalid_batch";
    /// ストリームの指定 (集約の型・ID) が不正 (400)。
    pub const INVALID_STREAM: &str = "eventstore.invalid_stream";
}

/// イベントストアを起動できなかった理由。
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// ストアを開けなかった。
    #[error("イベントストアを開けません: {0}")]
    Store(#[from] StoreError),
    /// サーバーのエラー。
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// イベントストアのエラー。
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// 期待した版とストリームの現在の版が違う。何も書かれていません。
    #[error("ストリーム {stream} の現在の版は {current} ですが、期待された版は {expected} でした")]
    VersionConflict {
        /// `集約の型/集約 ID`。
        stream: String,
        /// 呼び出し側が期待した版。
        expected: u64,
        /// 現在の版。
        current: u64,
    },
    /// 同じイベント ID がすでに別の内容・別のストリームで保存されている。
    #[error("イベント ID {event_id} はすでに別の内容で保存されています")]
    DuplicateEventId {
        /// 重複したイベント ID。
        event_id: EventId,
    },
    /// スナップショットの版が期待と違う。
    #[error(
        "スナップショットの版が違います: 期待 {expected:?}, 現在 {current:?} (None は「まだ無い」)"
    )]
    SnapshotConflict {
        /// 呼び出し側が期待した版。
        expected: Option<u64>,
        /// 現在の版。
        current: Option<u64>,
    },
    /// スナップショットが無い。
    #[error("スナップショットがありません")]
    SnapshotNotFound,
    /// 追記するイベントの集まりが不正。
    #[error("{0}")]
    InvalidBatch(String),
    /// ストリームの指定が不正。
    #[error("{0}")]
    InvalidStream(String),
    /// 書き込みタスクが止まっている (停止中)。
    #[error("イベントストアは停止中です")]
    Unavailable,
    /// データベースのエラー。
    #[error("データベースのエラー: {0}")]
    Database(#[from] sqlx::Error),
    /// マイグレーションのエラー。
    #[error("マイグレーションのエラー: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// コミットに失敗した (同じグループコミットに入っていた追記はすべて書かれていません)。
    #[error("コミットに失敗しました: {0}")]
    Commit(String),
    /// 保存されている行が読めない。
    #[error("保存されているイベントが読めません: {0}")]
    Corrupt(String),
    /// ファイルの入出力エラー。
    #[error("ファイルの入出力エラー: {0}")]
    Io(#[from] std::io::Error),
}

impl From<StoreError> for Problem {
    fn from(err: StoreError) -> Self {
        match &err {
            StoreError::VersionConflict { current, .. } => {
                Problem::conflict(codes::VERSION_CONFLICT, err.to_string())
                    .with_extension("current_version", *current)
            }
            StoreError::DuplicateEventId { event_id } => {
                Problem::conflict(codes::DUPLICATE_EVENT_ID, err.to_string())
                    .with_extension("event_id", event_id.to_string())
            }
            StoreError::SnapshotConflict { current, .. } => {
                Problem::conflict(codes::SNAPSHOT_CONFLICT, err.to_string())
                    .with_extension("current_snapshot", *current)
            }
            StoreError::SnapshotNotFound => {
                Problem::not_found(codes::SNAPSHOT_NOT_FOUND, err.to_string())
            }
            StoreError::InvalidBatch(_) => {
                Problem::bad_request(codes::INVALID_BATCH, err.to_string())
            }
            StoreError::InvalidStream(_) => {
                Problem::bad_request(codes::INVALID_STREAM, err.to_string())
            }
            StoreError::Unavailable => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                common_codes::UNAVAILABLE,
                err.to_string(),
            ),
            StoreError::Database(_)
            | StoreError::Migrate(_)
            | StoreError::Commit(_)
            | StoreError::Corrupt(_)
            | StoreError::Io(_) => Problem::internal("eventstore", &err),
        }
    }
}

impl From<StoreError> for poem::Error {
    fn from(err: StoreError) -> Self {
        Problem::from(err).into()
    }
}
