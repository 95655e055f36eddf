//! テスト用: ハンドラに渡すイベントの封筒を、位置と集約ごとの版を振りながら作る [`TestLog`]。

use std::collections::HashMap;

use chrono::Utc;
use cqrs_es::DomainEvent;
use mediahub_core::envelope::{Envelope, EventMetadata, NewEvent};
use mediahub_core::ids::{CorrelationId, EventId, MediaId, UserId};
use mediahub_core::media::{MediaEvent, MediaKind};

/// 複数の集約のイベントを、ログの位置 (1 から) と集約ごとの版 (1 から) を振りながら並べたもの。
#[derive(Debug, Default)]
pub(crate) struct TestLog {
    position: u64,
    versions: HashMap<(String, String), u64>,
    /// 作った封筒 (位置の順)。
    pub(crate) events: Vec<Envelope>,
}

impl TestLog {
    /// 集約 `aggregate_type`/`aggregate_id` のイベント `event` を、次の位置と版で足します。
    pub(crate) fn push<E: DomainEvent>(
        &mut self,
        aggregate_type: &str,
        aggregate_id: impl ToString,
        event: &E,
    ) {
        let aggregate_id = aggregate_id.to_string();
        self.position += 1;
        let version = self
            .versions
            .entry((aggregate_type.to_owned(), aggregate_id.clone()))
            .or_insert(0);
        *version += 1;
        let new = NewEvent::from_domain(
            event,
            EventId::new_random(),
            EventMetadata::correlated(CorrelationId::new_random()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        self.events.push(Envelope {
            id: new.id,
            position: self.position,
            aggregate_id,
            aggregate_type: aggregate_type.to_owned(),
            event_type: new.event_type,
            event_version: new.event_version,
            data: new.data,
            version: *version,
            created_at: Utc::now(),
            metadata: new.metadata,
        });
    }
}

/// `owner` がファイル `filename` (10 バイトの JPEG) をアップロードした `MediaUploaded`。
pub(crate) fn media_uploaded(media: MediaId, owner: UserId, filename: &str) -> MediaEvent {
    MediaEvent::MediaUploaded {
        media_id: media,
        owner_id: owner,
        filename: filename.into(),
        content_type: "image/jpeg".into(),
        size_bytes: 10,
        sha256: "ab".repeat(32),
        kind: MediaKind::Image,
        storage_key: "k".into(),
    }
}
