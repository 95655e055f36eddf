//! media-command の要求と応答の本体。
//!
//! 内部 API の依頼 ([`ProcessRequest`]・[`DeleteUploadedFileRequest`]・[`InvalidateRequest`]) は
//! Saga が送る側でもそのまま使う、サービス間の契約です (`serde` でも読み書きできます)。

use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// 書き込みの結果 (read-your-writes 用のグローバル位置)。
#[derive(Debug, Clone, Object)]
pub struct PositionBody {
    /// 最後のイベントのグローバル位置 (何も書かなかったなら 0)。
    pub position: u64,
}

/// アップロードを受け付けた結果。
#[derive(Debug, Clone, Object)]
pub struct UploadAccepted {
    /// 新しいメディアの ID。
    pub media_id: Uuid,
    /// このアップロードが始める Saga の ID (メディア ID から決定的に導出)。
    pub saga_id: Uuid,
    /// `MediaUploaded` のグローバル位置 (読み取り側の `min_position` に渡せます)。
    pub position: u64,
    /// このアップロードの相関 ID。
    pub correlation_id: Uuid,
}

/// 処理の依頼。
#[derive(Debug, Clone, Default, Object, Serialize, Deserialize)]
pub struct ProcessRequest {
    /// `true` なら処理せずに `MediaProcessingFailed` を記録します (障害注入、学習用)。
    #[oai(default)]
    pub inject_fault: bool,
}

/// 処理の結果の状態。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ProcessStatus {
    /// 処理済み (`MediaProcessed`)。
    Processed,
    /// 処理失敗 (`MediaProcessingFailed`)。
    Failed,
}

/// 処理の結果。
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct ProcessResult {
    /// 最後のイベントのグローバル位置 (すでに処理済み・失敗済みなら 0)。
    pub position: u64,
    /// 処理の結果。
    pub status: ProcessStatus,
}

/// 補償としての削除の依頼 (本体は空のオブジェクト `{}`)。
#[derive(Debug, Clone, Default, Object, Serialize, Deserialize)]
pub struct DeleteUploadedFileRequest {}

/// 補償としての無効化の依頼。
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct InvalidateRequest {
    /// 無効化の理由 (例: アルバムへの追加に失敗した)。
    pub reason: String,
}
