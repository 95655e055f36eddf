//! saga の API の応答の本体 (Saga の要約・ステップ・タイムライン)。

use poem_openapi::Object;

use crate::platform::schema::ApiEnvelope;

/// Saga の要約 (読みモデルの `sagas` の行でもあります)。
#[derive(Debug, Clone, PartialEq, Eq, Object, sqlx::FromRow)]
pub struct SagaSummary {
    /// Saga ID (メディア ID から決定的に導出)。
    pub id: String,
    /// 対象のメディア。
    pub media_id: String,
    /// 所有者。
    pub owner_id: String,
    /// 表示用ファイル名。
    pub filename: String,
    /// 状態: `running`・`compensating`・`completed`・`compensated`・`failed`。
    pub status: String,
    /// 実行中のステップ (終端なら `null`)。
    #[oai(nullable)]
    pub current_step: Option<String>,
    /// 最後に始めた試行の番号。
    pub attempt: u32,
    /// 実行中のステップの次の試行の予定時刻 (RFC 3339。再試行のバックオフとスローモーションの
    /// 間を含む。終端なら `null`)。
    #[oai(nullable)]
    pub next_attempt_at: Option<String>,
    /// アップロード時に注入した障害 (`process`・`album`・`notification`。無ければ `null`)。
    #[oai(nullable)]
    pub fault: Option<String>,
    /// 相関 ID (アップロード 1 回に共通)。
    #[oai(nullable)]
    pub correlation_id: Option<String>,
    /// 開始時刻 (RFC 3339)。
    pub created_at: String,
    /// 最終更新時刻 (RFC 3339)。
    pub updated_at: String,
    /// 補償・失敗の理由。
    #[oai(nullable)]
    pub failure_reason: Option<String>,
}

/// タイムラインの 1 項目。
#[derive(Debug, Clone, Object)]
pub struct SagaStepView {
    /// ステップ (`process_media`・`add_to_album`・`notify`・`delete_uploaded_file`・`invalidate_media`)。
    pub step: String,
    /// 試行の番号。
    pub attempt: u32,
    /// 結果: `started`・`retrying`・`succeeded`・`failed`・`compensation_started`。
    pub outcome: String,
    /// 理由 (失敗と補償開始のとき)。
    #[oai(nullable)]
    pub reason: Option<String>,
    /// 時刻 (RFC 3339)。
    pub at: String,
    /// 元になった Saga のイベントのグローバル位置。
    pub position: u64,
}

/// Saga の詳細。
#[derive(Debug, Clone, Object)]
pub struct SagaDetail {
    /// 要約。
    #[oai(flatten)]
    pub summary: SagaSummary,
    /// タイムライン (位置の順)。
    pub steps: Vec<SagaStepView>,
    /// Saga のストリームのイベント (版の順)。
    pub events: Vec<ApiEnvelope>,
}

/// Saga の一覧 (1 ページ)。
#[derive(Debug, Clone, Object)]
pub struct SagaList {
    /// Saga (新しい順)。
    pub items: Vec<SagaSummary>,
    /// 次のページのカーソル (`cursor` に渡す)。最後のページなら `null`。
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}
