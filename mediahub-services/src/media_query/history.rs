//! メディアの履歴 (タイムトラベル): イベントストアのストリームを、コアの集約の
//! [`Aggregate::apply`] で 1 件ずつ畳み込み、各版の時点の状態を並べます。
//!
//! 読みモデルを通さずイベントそのものから状態を作るので、「状態はイベントの畳み込みである」
//! (Event Sourcing) ことをそのまま見せられます。最後の版の状態は、読みモデルの
//! [`MediaView`] と同じになるはずです。

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use mediahub_core::envelope::Envelope;
use mediahub_core::ids::{MediaId, UserId};
use mediahub_core::media::{Media, MediaKind, MediaStatus, ProcessingOutput};
use poem_openapi::Object;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::error::QueryError;
use super::view::{MediaView, thumbnail_url};

/// 履歴の 1 版。
#[derive(Debug, Clone, PartialEq, Object)]
pub struct HistoryEntry {
    /// 版 (集約内の連番)。
    pub version: u64,
    /// グローバル位置。
    pub position: u64,
    /// イベント型名。
    pub event_type: String,
    /// イベントのスキーマ版。
    pub event_version: String,
    /// イベントの保存時刻。
    pub created_at: DateTime<Utc>,
    /// イベントの本体。
    pub event: Value,
    /// イベントのメタデータ (相関 ID・因果 ID・ユーザー ID など)。
    pub metadata: Value,
    /// このイベントを適用した後の状態。
    pub state: MediaView,
}

/// メディアの履歴。
#[derive(Debug, Clone, PartialEq, Object)]
pub struct MediaHistory {
    /// メディア ID。
    pub media_id: Uuid,
    /// 版の順のイベントと、その時点の状態。
    pub versions: Vec<HistoryEntry>,
}

/// 集約の状態の読み取り用の写し (集約のフィールドは非公開なので、serde の形から読みます)。
#[derive(Debug, Deserialize)]
struct MediaState {
    id: Option<MediaId>,
    owner_id: Option<UserId>,
    filename: String,
    content_type: String,
    size_bytes: u64,
    sha256: String,
    kind: Option<MediaKind>,
    status: MediaStatus,
    processing: Option<ProcessingOutput>,
    failure_reason: Option<String>,
}

fn corrupt(what: &str) -> QueryError {
    QueryError::Corrupt(format!("メディアの履歴が読めません: {what}"))
}

/// `events` (1 本のストリーム、版の順) を畳み込み、各版の時点の状態を作ります。
///
/// 所有者は最初のイベント (`MediaUploaded`) から決めます。
///
/// # エラー
/// イベントが無い、または所有者が `owner` でなければ [`QueryError::NotFound`]。
/// イベントが読めなければ [`QueryError::Envelope`] / [`QueryError::Corrupt`]。
pub fn fold(
    owner: UserId,
    media_id: MediaId,
    events: &[Envelope],
) -> Result<MediaHistory, QueryError> {
    let Some(first) = events.first() else {
        return Err(QueryError::NotFound);
    };
    let mut media = Media::default();
    let mut versions = Vec::with_capacity(events.len());
    for envelope in events {
        media.apply(envelope.to_cqrs::<Media>()?.payload);
        if !media.is_owned_by(owner) {
            return Err(QueryError::NotFound);
        }
        let state: MediaState = serde_json::to_value(&media)
            .and_then(serde_json::from_value)
            .map_err(|e| corrupt(&e.to_string()))?;
        let id = state.id.ok_or_else(|| corrupt("id が無い"))?;
        let view = MediaView {
            id: id.as_uuid(),
            owner_id: state
                .owner_id
                .ok_or_else(|| corrupt("owner_id が無い"))?
                .as_uuid(),
            filename: state.filename,
            content_type: state.content_type,
            kind: state
                .kind
                .map(MediaKind::as_str)
                .unwrap_or_default()
                .to_owned(),
            size: state.size_bytes,
            sha256: state.sha256,
            status: state.status.as_str().to_owned(),
            width: state.processing.as_ref().map(|p| p.width),
            height: state.processing.as_ref().map(|p| p.height),
            duration_ms: state.processing.as_ref().and_then(|p| p.duration_ms),
            thumbnail_url: state.processing.as_ref().map(|_| thumbnail_url(id)),
            failure_reason: state.failure_reason,
            version: envelope.version,
            position: envelope.position,
            correlation_id: first.metadata.correlation_id.map(|c| c.as_uuid()),
            created_at: first.created_at,
            updated_at: envelope.created_at,
        };
        versions.push(HistoryEntry {
            version: envelope.version,
            position: envelope.position,
            event_type: envelope.event_type.clone(),
            event_version: envelope.event_version.clone(),
            created_at: envelope.created_at,
            event: envelope.data.clone(),
            metadata: serde_json::to_value(&envelope.metadata)
                .map_err(|e| corrupt(&e.to_string()))?,
            state: view,
        });
    }
    Ok(MediaHistory {
        media_id: media_id.as_uuid(),
        versions,
    })
}
