//! 読みモデルの進み具合と作り直しの結果 (読み側の 4 サービスの内部 API で共通の形)。
//!
//! - `GET /internal/v1/projection` → [`ProjectionStatus`] (チェックポイント・ログの先頭・遅れ)
//! - `POST /internal/v1/rebuild` → [`RebuildResult`]
//!
//! ゲートウェイの学習用 API (`/api/v1/lab/projections`) が 4 つを集めて UI のプロジェクション
//! パネルに出します。型は送る側と受ける側で同じもの (serde で読み書き) を使います。

use poem::http::StatusCode;
use poem_openapi::Object;

use super::RebuildProgress;
use crate::platform::problem::{Problem, codes};

/// 読みモデルの進み具合。
#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize, serde::Deserialize)]
pub struct ProjectionStatus {
    /// 購読者の名前 (チェックポイント表の行の名前。例: `media-query`)。
    pub name: String,
    /// 反映済みのグローバル位置 (チェックポイント)。
    pub checkpoint: u64,
    /// イベントストアのログの先頭 (コミット済みの最大の位置)。
    pub head: u64,
    /// 遅れ (`head - checkpoint`。0 なら追いついている)。
    pub lag: u64,
}

/// 作り直しの結果。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Object, serde::Serialize, serde::Deserialize)]
pub struct RebuildResult {
    /// 作り直した後のチェックポイント。
    pub position: u64,
    /// 再生した (ハンドラに渡した) イベントの数。
    pub events: u64,
}

impl From<RebuildProgress> for RebuildResult {
    fn from(progress: RebuildProgress) -> Self {
        Self {
            position: progress.position,
            events: progress.applied,
        }
    }
}

/// [`Consumer::status`](super::Consumer::status) を内部 API の答えにします。
///
/// # エラー
/// イベントストアに届かなければ 503 `store_unavailable` (チェックポイントだけでは遅れが分からない)。
pub async fn projection_status<H: super::EventHandler>(
    consumer: &super::Consumer<H>,
) -> Result<ProjectionStatus, Problem> {
    consumer.status().await.map_err(|err| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::STORE_UNAVAILABLE,
            format!("ログの先頭を読めません: {err}"),
        )
    })
}
