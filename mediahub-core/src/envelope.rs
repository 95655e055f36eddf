//! イベントエンベロープ: イベントストアに保存され、全サービスを流れるイベント 1 件の形。
//!
//! `cqrs-es` の [`SerializedEvent`] は「集約 ID・集約内の連番・型・ペイロード」しか持ちません。
//! MediaHub のイベントストアはそこに次を加えます ([アーキテクチャ §4](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#4-イベントエンベロープ))。
//!
//! - `id`: イベント 1 件の一意な ID (同じ ID の二重追記は一度だけ保存 = 冪等な追記)
//! - `position`: **グローバルログ** 上の位置 (1 から始まり、隙間なく、コミット順に増える)
//! - `created_at`: 保存時刻
//! - `metadata`: 相関 ID・因果 ID・ユーザー ID
//!
//! `version` は集約ごとの連番 (1, 2, 3 …) で、`cqrs-es` の `sequence` と同じものです。

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use cqrs_es::persist::SerializedEvent;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::ids::{CorrelationId, EventId, UserId};

/// メタデータのキー: 相関 ID。
pub const CORRELATION_ID_KEY: &str = "correlation_id";
/// メタデータのキー: 因果 ID。
pub const CAUSATION_ID_KEY: &str = "causation_id";
/// メタデータのキー: 操作したユーザーの ID。
pub const USER_ID_KEY: &str = "user_id";

/// エンベロープの変換で起こり得るエラー。
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// ペイロードを期待したイベント型として読めなかった。
    #[error("イベント {event_type} (v{event_version}) のペイロードを解釈できません: {source}")]
    Payload {
        /// イベント型名。
        event_type: String,
        /// イベントのスキーマ版。
        event_version: String,
        /// serde のエラー。
        #[source]
        source: serde_json::Error,
    },
    /// メタデータが文字列の対応表ではなかった。
    #[error("メタデータが文字列の対応表ではありません: {0}")]
    Metadata(#[source] serde_json::Error),
    /// 集約の型が期待と違った。
    #[error("集約の型が違います: 期待 {expected}, 実際 {actual}")]
    AggregateType {
        /// 期待した集約の型。
        expected: String,
        /// 実際の集約の型。
        actual: String,
    },
}

/// イベントに付くメタデータ。1 回の利用者操作を全サービスにわたって追跡するために使います。
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// 一つの利用者操作 (例: 1 回のアップロード) に属するすべてのイベントで共通の ID。
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    /// このイベントを直接引き起こしたイベントまたはコマンドの ID。
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// 操作したユーザーの ID (システム起因なら `None`)。
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// その他のキー (例: 開発用の障害注入の指定)。
    #[serde(flatten)]
    pub extra: BTreeMap<String, String>,
}

impl EventMetadata {
    /// 相関 ID だけを持つメタデータを作ります。
    #[must_use]
    pub fn correlated(correlation_id: CorrelationId) -> Self {
        Self {
            correlation_id: Some(correlation_id),
            ..Self::default()
        }
    }

    /// 因果 ID を設定したコピーを返します。
    #[must_use]
    pub fn caused_by(mut self, causation_id: Uuid) -> Self {
        self.causation_id = Some(causation_id);
        self
    }

    /// ユーザー ID を設定したコピーを返します。
    #[must_use]
    pub fn by_user(mut self, user_id: UserId) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// `cqrs-es` の `execute_with_metadata` に渡す文字列の対応表に変換します。
    #[must_use]
    pub fn to_map(&self) -> HashMap<String, String> {
        let mut map: HashMap<String, String> = self
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(id) = self.correlation_id {
            map.insert(CORRELATION_ID_KEY.to_owned(), id.to_string());
        }
        if let Some(id) = self.causation_id {
            map.insert(CAUSATION_ID_KEY.to_owned(), id.to_string());
        }
        if let Some(id) = self.user_id {
            map.insert(USER_ID_KEY.to_owned(), id.to_string());
        }
        map
    }

    /// 文字列の対応表から読み取ります。既知のキーで UUID として読めない値は `extra` に残します。
    #[must_use]
    pub fn from_map<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        let mut metadata = Self::default();
        for (key, value) in map {
            let parsed = Uuid::parse_str(value).ok();
            match (key.as_str(), parsed) {
                (CORRELATION_ID_KEY, Some(id)) => metadata.correlation_id = Some(id.into()),
                (CAUSATION_ID_KEY, Some(id)) => metadata.causation_id = Some(id),
                (USER_ID_KEY, Some(id)) => metadata.user_id = Some(id.into()),
                _ => {
                    metadata.extra.insert(key.clone(), value.clone());
                }
            }
        }
        metadata
    }

    /// `SerializedEvent::metadata` の JSON 値から読み取ります。
    ///
    /// # エラー
    /// JSON が「文字列から文字列への対応表」でなければ [`EnvelopeError::Metadata`]。
    pub fn from_json(value: &Value) -> Result<Self, EnvelopeError> {
        if value.is_null() {
            return Ok(Self::default());
        }
        let map: HashMap<String, String> =
            serde_json::from_value(value.clone()).map_err(EnvelopeError::Metadata)?;
        Ok(Self::from_map(&map))
    }

    /// `SerializedEvent::metadata` に入れる JSON 値に変換します。
    #[must_use]
    pub fn to_json(&self) -> Value {
        let map: BTreeMap<String, String> = self.to_map().into_iter().collect();
        serde_json::to_value(map).unwrap_or(Value::Null)
    }
}

/// これから追記するイベント 1 件 (位置と保存時刻はまだない)。
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// イベント ID。同じ ID の二重追記は一度だけ保存されます。
    pub id: EventId,
    /// イベント型名 (例: `MediaUploaded`)。
    pub event_type: String,
    /// イベントのスキーマ版 (`cqrs-es` の `event_version`)。
    pub event_version: String,
    /// イベント本体。
    pub data: Value,
    /// メタデータ。
    #[serde(default)]
    pub metadata: EventMetadata,
}

impl NewEvent {
    /// `cqrs-es` の直列化済みイベントから、新しい ID を付けて追記用イベントを作ります。
    ///
    /// # エラー
    /// メタデータが文字列の対応表でなければ [`EnvelopeError::Metadata`]。
    pub fn from_serialized(event: &SerializedEvent, id: EventId) -> Result<Self, EnvelopeError> {
        Ok(Self {
            id,
            event_type: event.event_type.clone(),
            event_version: event.event_version.clone(),
            data: event.payload.clone(),
            metadata: EventMetadata::from_json(&event.metadata)?,
        })
    }

    /// ドメインイベントから追記用イベントを作ります。
    ///
    /// # エラー
    /// イベントを JSON にできなければ [`EnvelopeError::Payload`]。
    pub fn from_domain<E: DomainEvent>(
        event: &E,
        id: EventId,
        metadata: EventMetadata,
    ) -> Result<Self, EnvelopeError> {
        let data = serde_json::to_value(event).map_err(|source| EnvelopeError::Payload {
            event_type: event.event_type(),
            event_version: event.event_version(),
            source,
        })?;
        Ok(Self {
            id,
            event_type: event.event_type(),
            event_version: event.event_version(),
            data,
            metadata,
        })
    }
}

/// イベントストアに保存されたイベント 1 件 ([アーキテクチャ §4](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#4-イベントエンベロープ) のエンベロープ)。
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// イベント ID。
    pub id: EventId,
    /// グローバルログ上の位置 (1 始まり、隙間なし、コミット順)。
    pub position: u64,
    /// 集約 ID。
    pub aggregate_id: String,
    /// 集約の型 (例: `Media`)。
    pub aggregate_type: String,
    /// イベント型名 (例: `MediaUploaded`)。
    pub event_type: String,
    /// イベントのスキーマ版。
    pub event_version: String,
    /// イベント本体。
    pub data: Value,
    /// 集約内の連番 (1 始まり、隙間なし)。
    pub version: u64,
    /// 保存時刻 (UTC)。
    pub created_at: DateTime<Utc>,
    /// メタデータ。
    #[serde(default)]
    pub metadata: EventMetadata,
}

impl Envelope {
    /// `cqrs-es` の直列化済みイベントに変換します (集約の再構築やアップキャストに使います)。
    #[must_use]
    pub fn to_serialized(&self) -> SerializedEvent {
        SerializedEvent::new(
            self.aggregate_id.clone(),
            usize::try_from(self.version).unwrap_or(usize::MAX),
            self.aggregate_type.clone(),
            self.event_type.clone(),
            self.event_version.clone(),
            self.data.clone(),
            self.metadata.to_json(),
        )
    }

    /// 本体を型付きのドメインイベントとして読み取ります。
    ///
    /// # エラー
    /// 本体がその型として読めなければ [`EnvelopeError::Payload`]。
    pub fn decode<E: DomainEvent>(&self) -> Result<E, EnvelopeError> {
        serde_json::from_value(self.data.clone()).map_err(|source| EnvelopeError::Payload {
            event_type: self.event_type.clone(),
            event_version: self.event_version.clone(),
            source,
        })
    }

    /// `cqrs-es` の型付きエンベロープから、ID・グローバル位置・保存時刻を与えて作ります
    /// (インメモリのストアでグローバルログを模すときなどに使います)。
    ///
    /// # エラー
    /// イベントを JSON にできなければ [`EnvelopeError::Payload`]。
    pub fn from_cqrs<A: Aggregate>(
        event: &cqrs_es::EventEnvelope<A>,
        id: EventId,
        position: u64,
        created_at: DateTime<Utc>,
    ) -> Result<Self, EnvelopeError> {
        let new =
            NewEvent::from_domain(&event.payload, id, EventMetadata::from_map(&event.metadata))?;
        Ok(Self {
            id,
            position,
            aggregate_id: event.aggregate_id.clone(),
            aggregate_type: A::TYPE.to_owned(),
            event_type: new.event_type,
            event_version: new.event_version,
            data: new.data,
            version: event.sequence as u64,
            created_at,
            metadata: new.metadata,
        })
    }

    /// 集約 `A` のイベントなら、`cqrs-es` の型付きエンベロープに変換します。
    ///
    /// # エラー
    /// 集約の型が違えば [`EnvelopeError::AggregateType`]、本体が読めなければ
    /// [`EnvelopeError::Payload`]。
    pub fn to_cqrs<A: Aggregate>(&self) -> Result<cqrs_es::EventEnvelope<A>, EnvelopeError> {
        if self.aggregate_type != A::TYPE {
            return Err(EnvelopeError::AggregateType {
                expected: A::TYPE.to_owned(),
                actual: self.aggregate_type.clone(),
            });
        }
        Ok(cqrs_es::EventEnvelope {
            aggregate_id: self.aggregate_id.clone(),
            sequence: usize::try_from(self.version).unwrap_or(usize::MAX),
            payload: self.decode::<A::Event>()?,
            metadata: self.metadata.to_map(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MediaId;
    use crate::media::{Media, MediaEvent, MediaKind};

    fn uploaded_event(media_id: MediaId, owner: UserId) -> MediaEvent {
        MediaEvent::MediaUploaded {
            media_id,
            owner_id: owner,
            filename: "cat.jpg".into(),
            content_type: "image/jpeg".into(),
            size_bytes: 10,
            sha256: "00".repeat(32),
            kind: MediaKind::Image,
            storage_key: format!("media/{media_id}/original"),
        }
    }

    fn envelope_of(event: &MediaEvent, metadata: EventMetadata) -> Envelope {
        let new = NewEvent::from_domain(event, EventId::new_random(), metadata)
            .unwrap_or_else(|e| panic!("{e}"));
        Envelope {
            id: new.id,
            position: 7,
            aggregate_id: "agg".into(),
            aggregate_type: "Media".into(),
            event_type: new.event_type,
            event_version: new.event_version,
            data: new.data,
            version: 1,
            created_at: Utc::now(),
            metadata: new.metadata,
        }
    }

    #[test]
    fn metadata_with_all_ids_round_trips_through_cqrs_map() {
        let metadata = EventMetadata::correlated(CorrelationId::new_random())
            .caused_by(Uuid::new_v4())
            .by_user(UserId::new_random());
        let mut with_extra = metadata.clone();
        with_extra
            .extra
            .insert("fault_inject".into(), "album".into());
        let map = with_extra.to_map();
        assert_eq!(map.len(), 4);
        assert_eq!(EventMetadata::from_map(&map), with_extra);
    }

    #[test]
    fn metadata_with_non_uuid_correlation_keeps_value_in_extra() {
        let map = HashMap::from([(CORRELATION_ID_KEY.to_owned(), "abc".to_owned())]);
        let metadata = EventMetadata::from_map(&map);
        assert_eq!(metadata.correlation_id, None);
        assert_eq!(
            metadata.extra.get(CORRELATION_ID_KEY).map(String::as_str),
            Some("abc")
        );
    }

    #[test]
    fn metadata_from_null_json_is_empty_and_from_number_is_error() {
        assert_eq!(
            EventMetadata::from_json(&Value::Null).ok(),
            Some(EventMetadata::default())
        );
        assert!(matches!(
            EventMetadata::from_json(&serde_json::json!(42)),
            Err(EnvelopeError::Metadata(_))
        ));
    }

    #[test]
    fn envelope_of_media_event_converts_to_typed_cqrs_envelope() {
        let media_id = MediaId::new_random();
        let event = uploaded_event(media_id, UserId::new_random());
        let user = UserId::new_random();
        let envelope = envelope_of(&event, EventMetadata::default().by_user(user));
        let typed = envelope
            .to_cqrs::<Media>()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(typed.payload, event);
        assert_eq!(typed.sequence, 1);
        assert_eq!(typed.metadata.get(USER_ID_KEY), Some(&user.to_string()));
    }

    #[test]
    fn envelope_to_serialized_and_back_to_new_event_keeps_payload_and_metadata() {
        let event = uploaded_event(MediaId::new_random(), UserId::new_random());
        let metadata = EventMetadata::correlated(CorrelationId::new_random());
        let envelope = envelope_of(&event, metadata.clone());
        let serialized = envelope.to_serialized();
        assert_eq!(serialized.event_type, "MediaUploaded");
        assert_eq!(serialized.sequence, 1);
        let id = EventId::new_random();
        let new = NewEvent::from_serialized(&serialized, id).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(new.id, id);
        assert_eq!(new.data, envelope.data);
        assert_eq!(new.metadata, metadata);
    }

    #[test]
    fn typed_cqrs_envelope_round_trips_through_from_cqrs_and_to_cqrs() {
        let event = uploaded_event(MediaId::new_random(), UserId::new_random());
        let correlation = CorrelationId::new_random();
        let typed = cqrs_es::EventEnvelope::<Media> {
            aggregate_id: "m-1".into(),
            sequence: 3,
            payload: event.clone(),
            metadata: EventMetadata::correlated(correlation).to_map(),
        };
        let id = EventId::new_random();
        let envelope =
            Envelope::from_cqrs(&typed, id, 42, Utc::now()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (envelope.id, envelope.position, envelope.version),
            (id, 42, 3)
        );
        assert_eq!(envelope.aggregate_type, "Media");
        assert_eq!(envelope.metadata.correlation_id, Some(correlation));
        let back = envelope
            .to_cqrs::<Media>()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.payload, event);
        assert_eq!(back.aggregate_id, "m-1");
    }

    #[test]
    fn envelope_of_other_aggregate_type_is_rejected() {
        let event = uploaded_event(MediaId::new_random(), UserId::new_random());
        let mut envelope = envelope_of(&event, EventMetadata::default());
        envelope.aggregate_type = "Album".into();
        assert!(matches!(
            envelope.to_cqrs::<Media>(),
            Err(EnvelopeError::AggregateType { .. })
        ));
    }

    #[test]
    fn envelope_with_garbage_data_fails_to_decode_with_event_type_in_message() {
        let event = uploaded_event(MediaId::new_random(), UserId::new_random());
        let mut envelope = envelope_of(&event, EventMetadata::default());
        envelope.data = serde_json::json!({"nope": true});
        let err = envelope.decode::<MediaEvent>().err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("MediaUploaded"));
    }
}
