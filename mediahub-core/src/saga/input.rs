//! Saga への入力: ドメインイベントと、参加者への依頼の失敗。
//!
//! [`SagaInput::from_envelope`] はイベントストアのイベント 1 件を「どの Saga への、どんな入力か」
//! に写します。Saga ID はメディア ID から決定的に導出されるので ([`SagaId::for_media`])、
//! 同じイベントが何度配信されても同じ Saga に届きます。

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::step::{FaultPoint, SagaStep};
use crate::album::AlbumEvent;
use crate::envelope::{Envelope, EnvelopeError};
use crate::ids::{MediaId, SagaId, UserId};
use crate::media::MediaEvent;
use crate::notification::NotificationEvent;

/// アップロード時の障害注入の指定を運ぶメタデータのキー。
pub const FAULT_INJECT_METADATA_KEY: &str = "fault_inject";

/// アップロード時のスローモーションの指定 (各ステップの前に置く間、ミリ秒) を運ぶメタデータのキー。
pub const SAGA_PACE_METADATA_KEY: &str = "saga_pace_ms";

/// スローモーションの間の上限 (ミリ秒)。これより大きい指定はこの値にします。
pub const MAX_SAGA_PACE_MS: u64 = 5_000;

/// Saga への入力 1 件。
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SagaInput {
    /// `MediaUploaded`: Saga を始める。
    MediaUploaded {
        /// メディア ID。
        media_id: MediaId,
        /// 所有者。
        owner_id: UserId,
        /// 表示用ファイル名。
        filename: String,
        /// 学習用の障害注入点。
        fault: Option<FaultPoint>,
        /// 学習用のスローモーション: 各ステップの前に置く間 (ミリ秒、0 なら無し、上限
        /// [`MAX_SAGA_PACE_MS`])。
        #[serde(default)]
        pace_ms: u64,
    },
    /// `MediaProcessed`: 処理ステップの成功。
    MediaProcessed,
    /// `MediaProcessingFailed`: 処理ステップの (再試行しない) 失敗。
    MediaProcessingFailed {
        /// 理由。
        reason: String,
    },
    /// `MediaAddedToAlbum`: アルバム追加ステップの成功。
    MediaAddedToAlbum,
    /// `NotificationSent`: 通知ステップの成功。
    NotificationSent,
    /// `MediaDeleted`: ファイル削除 (補償) の成功。
    MediaDeleted,
    /// `MediaInvalidated`: 無効化 (補償) の成功。
    MediaInvalidated,
    /// 参加者への依頼が失敗した (HTTP エラーや締め切り超過)。サービス層が作ります。
    StepAttemptFailed {
        /// ステップ。
        step: SagaStep,
        /// 何回目の試行か。
        attempt: u32,
        /// 理由。
        reason: String,
        /// 再試行に意味があるか (一時的な失敗か)。
        retriable: bool,
        /// そのステップの 1 回目の試行を始めてからの時間
        /// ([`SagaPolicy::retry_deadline`](super::SagaPolicy::retry_deadline) と比べます)。
        elapsed: Duration,
    },
}

impl SagaInput {
    /// Saga への入力になりうるイベントの `(集約の型, イベントの型)` の組。
    ///
    /// [`from_envelope`](Self::from_envelope) はこれ以外のイベントにはかならず `Ok(None)` を返します。
    /// したがって Saga を動かす購読者は、イベントストアにこの組だけを選ばせてよく
    /// (`aggregate_type` と `event_type` の絞り込み)、アルバムの名前変更や Saga 自身のイベントの
    /// コミットでは起こされずに済みます。
    pub const SOURCE_EVENTS: &'static [(&'static str, &'static str)] = &[
        ("Media", "MediaUploaded"),
        ("Media", "MediaProcessed"),
        ("Media", "MediaProcessingFailed"),
        ("Media", "MediaDeleted"),
        ("Media", "MediaInvalidated"),
        ("Album", "MediaAddedToAlbum"),
        ("Notification", "NotificationSent"),
    ];

    /// イベントストアのイベントを、届け先の Saga ID と入力に写します。
    /// Saga に関係のないイベントなら `Ok(None)`。
    ///
    /// # エラー
    /// 関係のある型なのに本体やメディア ID が読めなければ [`EnvelopeError`]。
    pub fn from_envelope(envelope: &Envelope) -> Result<Option<(SagaId, Self)>, EnvelopeError> {
        match envelope.aggregate_type.as_str() {
            "Media" => {
                let Ok(media_id) = envelope.aggregate_id.parse::<MediaId>() else {
                    return Ok(None);
                };
                let saga_id = SagaId::for_media(media_id);
                let input = match envelope.decode::<MediaEvent>()? {
                    MediaEvent::MediaUploaded {
                        owner_id, filename, ..
                    } => Self::MediaUploaded {
                        media_id,
                        owner_id,
                        filename,
                        fault: envelope
                            .metadata
                            .extra
                            .get(FAULT_INJECT_METADATA_KEY)
                            .and_then(|f| f.parse().ok()),
                        pace_ms: envelope
                            .metadata
                            .extra
                            .get(SAGA_PACE_METADATA_KEY)
                            .and_then(|p| p.parse::<u64>().ok())
                            .map_or(0, |p| p.min(MAX_SAGA_PACE_MS)),
                    },
                    MediaEvent::MediaProcessed { .. } => Self::MediaProcessed,
                    MediaEvent::MediaProcessingFailed { reason } => {
                        Self::MediaProcessingFailed { reason }
                    }
                    MediaEvent::MediaDeleted { .. } => Self::MediaDeleted,
                    MediaEvent::MediaInvalidated { .. } => Self::MediaInvalidated,
                };
                Ok(Some((saga_id, input)))
            }
            "Album" => match envelope.decode::<AlbumEvent>()? {
                AlbumEvent::MediaAddedToAlbum { media_id } => {
                    Ok(Some((SagaId::for_media(media_id), Self::MediaAddedToAlbum)))
                }
                _ => Ok(None),
            },
            "Notification" => match envelope.decode::<NotificationEvent>()? {
                NotificationEvent::NotificationSent {
                    saga_id: Some(saga_id),
                    ..
                } => Ok(Some((saga_id, Self::NotificationSent))),
                _ => Ok(None),
            },
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::album::RemovalReason;
    use crate::envelope::{EventMetadata, NewEvent};
    use crate::ids::{AlbumId, EventId, NotificationId};
    use crate::media::{DeletionReason, MediaKind};
    use crate::notification::NotificationKind;

    fn envelope(
        aggregate_type: &str,
        aggregate_id: String,
        event: &impl cqrs_es::DomainEvent,
        metadata: EventMetadata,
    ) -> Envelope {
        let new = NewEvent::from_domain(event, EventId::new_random(), metadata)
            .unwrap_or_else(|e| panic!("{e}"));
        Envelope {
            id: new.id,
            position: 1,
            aggregate_id,
            aggregate_type: aggregate_type.into(),
            event_type: new.event_type,
            event_version: new.event_version,
            data: new.data,
            version: 1,
            created_at: Utc::now(),
            metadata: new.metadata,
        }
    }

    fn uploaded(media_id: MediaId, owner: UserId) -> MediaEvent {
        MediaEvent::MediaUploaded {
            media_id,
            owner_id: owner,
            filename: "cat.jpg".into(),
            content_type: "image/jpeg".into(),
            size_bytes: 1,
            sha256: "0".repeat(64),
            kind: MediaKind::Image,
            storage_key: "k".into(),
        }
    }

    #[test]
    fn media_uploaded_with_fault_metadata_maps_to_saga_of_that_media_with_fault() {
        let (media_id, owner) = (MediaId::new_random(), UserId::new_random());
        let mut metadata = EventMetadata::default();
        metadata
            .extra
            .insert(FAULT_INJECT_METADATA_KEY.into(), "album".into());
        let env = envelope(
            "Media",
            media_id.to_string(),
            &uploaded(media_id, owner),
            metadata,
        );
        let mapped = SagaInput::from_envelope(&env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            mapped,
            Some((
                SagaId::for_media(media_id),
                SagaInput::MediaUploaded {
                    media_id,
                    owner_id: owner,
                    filename: "cat.jpg".into(),
                    fault: Some(FaultPoint::Album),
                    pace_ms: 0,
                }
            ))
        );
    }

    #[test]
    fn media_uploaded_with_pace_metadata_9999_maps_to_pace_capped_at_5000_and_garbage_to_0() {
        let (media_id, owner) = (MediaId::new_random(), UserId::new_random());
        for (raw, expected) in [("1500", 1500), ("9999", MAX_SAGA_PACE_MS), ("fast", 0)] {
            let mut metadata = EventMetadata::default();
            metadata
                .extra
                .insert(SAGA_PACE_METADATA_KEY.into(), raw.into());
            let env = envelope(
                "Media",
                media_id.to_string(),
                &uploaded(media_id, owner),
                metadata,
            );
            let mapped = SagaInput::from_envelope(&env).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                matches!(mapped, Some((_, SagaInput::MediaUploaded { pace_ms, .. })) if pace_ms == expected),
                "{raw}: {mapped:?}"
            );
        }
    }

    #[test]
    fn every_media_event_maps_to_the_saga_of_its_aggregate() {
        let media_id = MediaId::new_random();
        let cases = [
            (
                MediaEvent::MediaProcessed {
                    thumbnail_key: "t".into(),
                    width: 1,
                    height: 1,
                    duration_ms: None,
                },
                SagaInput::MediaProcessed,
            ),
            (
                MediaEvent::MediaProcessingFailed {
                    reason: "bad".into(),
                },
                SagaInput::MediaProcessingFailed {
                    reason: "bad".into(),
                },
            ),
            (
                MediaEvent::MediaDeleted {
                    reason: DeletionReason::Compensation,
                },
                SagaInput::MediaDeleted,
            ),
            (
                MediaEvent::MediaInvalidated { reason: "r".into() },
                SagaInput::MediaInvalidated,
            ),
        ];
        for (event, expected) in cases {
            let env = envelope(
                "Media",
                media_id.to_string(),
                &event,
                EventMetadata::default(),
            );
            let mapped = SagaInput::from_envelope(&env).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(mapped, Some((SagaId::for_media(media_id), expected)));
        }
    }

    #[test]
    fn album_media_added_maps_to_saga_of_the_media_and_other_album_events_are_ignored() {
        let media_id = MediaId::new_random();
        let album = AlbumId::new_random().to_string();
        let added = envelope(
            "Album",
            album.clone(),
            &AlbumEvent::MediaAddedToAlbum { media_id },
            EventMetadata::default(),
        );
        assert_eq!(
            SagaInput::from_envelope(&added).ok().flatten(),
            Some((SagaId::for_media(media_id), SagaInput::MediaAddedToAlbum))
        );
        let deleted = envelope(
            "Album",
            album,
            &AlbumEvent::AlbumDeleted,
            EventMetadata::default(),
        );
        assert_eq!(SagaInput::from_envelope(&deleted).ok().flatten(), None);
    }

    #[test]
    fn notification_sent_maps_only_when_it_names_a_saga() {
        let saga_id = SagaId::new_random();
        let sent = |saga_id| NotificationEvent::NotificationSent {
            notification_id: NotificationId::new_random(),
            user_id: UserId::new_random(),
            kind: NotificationKind::UploadCompleted,
            message: "m".into(),
            media_id: None,
            saga_id,
        };
        let with = envelope(
            "Notification",
            "n".into(),
            &sent(Some(saga_id)),
            EventMetadata::default(),
        );
        assert_eq!(
            SagaInput::from_envelope(&with).ok().flatten(),
            Some((saga_id, SagaInput::NotificationSent))
        );
        let without = envelope(
            "Notification",
            "n".into(),
            &sent(None),
            EventMetadata::default(),
        );
        assert_eq!(SagaInput::from_envelope(&without).ok().flatten(), None);
        let read = envelope(
            "Notification",
            "n".into(),
            &NotificationEvent::NotificationRead,
            EventMetadata::default(),
        );
        assert_eq!(SagaInput::from_envelope(&read).ok().flatten(), None);
    }

    #[test]
    fn every_event_outside_source_events_maps_to_none_and_every_source_event_is_mapped() {
        let media_id = MediaId::new_random();
        let album = AlbumId::new_random().to_string();
        let media = media_id.to_string();
        let events = [
            envelope(
                "Media",
                media.clone(),
                &uploaded(media_id, UserId::new_random()),
                EventMetadata::default(),
            ),
            envelope(
                "Media",
                media.clone(),
                &MediaEvent::MediaProcessed {
                    thumbnail_key: "t".into(),
                    width: 1,
                    height: 1,
                    duration_ms: None,
                },
                EventMetadata::default(),
            ),
            envelope(
                "Media",
                media.clone(),
                &MediaEvent::MediaProcessingFailed { reason: "r".into() },
                EventMetadata::default(),
            ),
            envelope(
                "Media",
                media.clone(),
                &MediaEvent::MediaDeleted {
                    reason: DeletionReason::User,
                },
                EventMetadata::default(),
            ),
            envelope(
                "Media",
                media,
                &MediaEvent::MediaInvalidated { reason: "r".into() },
                EventMetadata::default(),
            ),
            envelope(
                "Album",
                album.clone(),
                &AlbumEvent::AlbumCreated {
                    album_id: AlbumId::new_random(),
                    owner_id: UserId::new_random(),
                    name: "a".into(),
                    is_default: false,
                },
                EventMetadata::default(),
            ),
            envelope(
                "Album",
                album.clone(),
                &AlbumEvent::AlbumRenamed { name: "b".into() },
                EventMetadata::default(),
            ),
            envelope(
                "Album",
                album.clone(),
                &AlbumEvent::AlbumDeleted,
                EventMetadata::default(),
            ),
            envelope(
                "Album",
                album.clone(),
                &AlbumEvent::MediaAddedToAlbum { media_id },
                EventMetadata::default(),
            ),
            envelope(
                "Album",
                album,
                &AlbumEvent::MediaRemovedFromAlbum {
                    media_id,
                    reason: RemovalReason::User,
                },
                EventMetadata::default(),
            ),
            envelope(
                "Notification",
                "n".into(),
                &NotificationEvent::NotificationSent {
                    notification_id: NotificationId::new_random(),
                    user_id: UserId::new_random(),
                    kind: NotificationKind::UploadCompleted,
                    message: "m".into(),
                    media_id: None,
                    saga_id: Some(SagaId::new_random()),
                },
                EventMetadata::default(),
            ),
            envelope(
                "Notification",
                "n".into(),
                &NotificationEvent::NotificationRead,
                EventMetadata::default(),
            ),
        ];
        let mut mapped_pairs = Vec::new();
        for env in &events {
            let pair = (env.aggregate_type.as_str(), env.event_type.as_str());
            let mapped = SagaInput::from_envelope(env).unwrap_or_else(|e| panic!("{e}"));
            if mapped.is_some() {
                mapped_pairs.push(pair);
            }
            assert_eq!(
                mapped.is_some(),
                SagaInput::SOURCE_EVENTS.contains(&pair),
                "{pair:?} の写像と SOURCE_EVENTS が食い違っています"
            );
        }
        assert_eq!(mapped_pairs, SagaInput::SOURCE_EVENTS);
    }

    #[test]
    fn unrelated_aggregate_or_non_uuid_media_id_is_ignored_and_bad_payload_is_error() {
        let media_id = MediaId::new_random();
        let mut env = envelope(
            "Media",
            media_id.to_string(),
            &uploaded(media_id, UserId::new_random()),
            EventMetadata::default(),
        );
        env.aggregate_type = "User".into();
        assert_eq!(SagaInput::from_envelope(&env).ok().flatten(), None);
        env.aggregate_type = "Media".into();
        env.aggregate_id = "not-a-uuid".into();
        assert_eq!(SagaInput::from_envelope(&env).ok().flatten(), None);
        env.aggregate_id = media_id.to_string();
        env.data = json!({"Garbage": {}});
        assert!(SagaInput::from_envelope(&env).is_err());
    }
}
