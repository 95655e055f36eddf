//! `mediahub-core` のエンベロープ型を poem-openapi で扱うためのラッパー。
//!
//! `mediahub-core` は HTTP を知らない純粋なクレートなので、その型は poem-openapi の
//! [`Type`] を実装していません。ここでは次の二つを用意します。
//!
//! - [`ApiEnvelope`] / [`ApiNewEvent`]: core の型をそのまま包み、JSON の読み書きは
//!   **serde (core の定義そのもの)** で行うラッパー。`NewEvent` の未知フィールド拒否
//!   (`deny_unknown_fields`) もそのまま効きます。
//! - [`EnvelopeSchema`] / [`NewEventSchema`] / [`EventMetadataSchema`]: OpenAPI 文書に
//!   載せるためだけの、同じ形の構造体。ラッパーのスキーマはこれらを指します。

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use mediahub_core::envelope::{Envelope, NewEvent};
use poem_openapi::Object;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;
use uuid::Uuid;

/// (ドキュメント専用) イベントのメタデータ。ここに無い文字列のキーも保存されます。
#[derive(Debug, Clone, Object)]
#[oai(rename = "EventMetadata")]
pub struct EventMetadataSchema {
    /// 一つの利用者操作に属するすべてのイベントで共通の ID。
    #[oai(nullable)]
    pub correlation_id: Option<Uuid>,
    /// このイベントを直接引き起こしたイベントまたはコマンドの ID。
    #[oai(nullable)]
    pub causation_id: Option<Uuid>,
    /// 操作したユーザーの ID。
    #[oai(nullable)]
    pub user_id: Option<Uuid>,
}

/// (ドキュメント専用) これから追記するイベント 1 件。未知のフィールドは拒否されます。
#[derive(Debug, Clone, Object)]
#[oai(rename = "NewEvent", deny_unknown_fields)]
pub struct NewEventSchema {
    /// イベント ID。同じ ID の二重追記は一度だけ保存されます。
    pub id: Uuid,
    /// イベント型名 (例: `MediaUploaded`)。
    pub event_type: String,
    /// イベントのスキーマ版 (例: `1.0`)。
    pub event_version: String,
    /// イベント本体 (任意の JSON)。
    pub data: Value,
    /// メタデータ (省略可)。
    #[oai(nullable)]
    pub metadata: Option<EventMetadataSchema>,
}

/// (ドキュメント専用) イベントストアに保存されたイベント 1 件 ([アーキテクチャ §4](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#4-イベントエンベロープ) のエンベロープ)。
#[derive(Debug, Clone, Object)]
#[oai(rename = "Envelope")]
pub struct EnvelopeSchema {
    /// イベント ID。
    pub id: Uuid,
    /// グローバルログ上の位置 (1 始まり、隙間なし、コミット順)。
    pub position: u64,
    /// 集約 ID。
    pub aggregate_id: String,
    /// 集約の型 (例: `Media`)。
    pub aggregate_type: String,
    /// イベント型名。
    pub event_type: String,
    /// イベントのスキーマ版。
    pub event_version: String,
    /// イベント本体。
    pub data: Value,
    /// 集約内の連番 (1 始まり、隙間なし)。
    pub version: u64,
    /// 保存時刻 (UTC、RFC 3339)。
    pub created_at: DateTime<Utc>,
    /// メタデータ。
    pub metadata: EventMetadataSchema,
}

macro_rules! serde_backed_type {
    ($(#[$meta:meta])* $name:ident, $inner:ty, $schema:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                <$schema as Type>::name()
            }

            fn schema_ref() -> MetaSchemaRef {
                <$schema as Type>::schema_ref()
            }

            fn register(registry: &mut Registry) {
                <$schema as Type>::register(registry);
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }

            fn raw_element_iter<'a>(
                &'a self,
            ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }

        impl ParseFromJSON for $name {
            fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
                serde_json::from_value(value.unwrap_or_default())
                    .map(Self)
                    .map_err(ParseError::custom)
            }
        }

        impl ToJSON for $name {
            fn to_json(&self) -> Option<Value> {
                serde_json::to_value(&self.0).ok()
            }
        }

        impl From<$inner> for $name {
            fn from(inner: $inner) -> Self {
                Self(inner)
            }
        }
    };
}

serde_backed_type!(
    /// [`Envelope`] を poem-openapi で読み書きするためのラッパー。
    ApiEnvelope,
    Envelope,
    EnvelopeSchema
);

serde_backed_type!(
    /// [`NewEvent`] を poem-openapi で読み書きするためのラッパー (未知フィールドは拒否)。
    ApiNewEvent,
    NewEvent,
    NewEventSchema
);

/// 文書での形 (`MetaSchema`) が決まっていて、値そのものが生の値になる型に poem-openapi の
/// [`Type`] を実装します (要求のパラメーターや本体のフィールドに使う小さな型のため)。
///
/// `inline_schema_type!(型, "文書での型名", MetaSchema の式);`
macro_rules! inline_schema_type {
    ($name:ty, $type_name:expr, $schema:expr) => {
        impl poem_openapi::types::Type for $name {
            const IS_REQUIRED: bool = true;

            type RawValueType = Self;

            type RawElementValueType = Self;

            fn name() -> std::borrow::Cow<'static, str> {
                $type_name.into()
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                poem_openapi::registry::MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }

            fn raw_element_iter<'a>(
                &'a self,
            ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }
    };
}
pub(crate) use inline_schema_type;

/// JSON の本体で **文字列だけ** を受け付ける文字列 (文書では `type: string`)。
///
/// poem-openapi の `String` は JSON の数や真偽値も文字列に変えて受け付けるので、文書
/// (`type: string`) より緩くなります。要求本体の文字列フィールドにはこの型を使い、`5` や
/// `false` は 400 にします。バリデーター (`pattern`、`max_length` など) は中の `String` に効きます。
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StrictString(pub String);

impl StrictString {
    /// 中の文字列を取り出します。
    #[must_use]
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl AsRef<str> for StrictString {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

inline_schema_type!(StrictString, "string", MetaSchema::new("string"));

impl std::ops::Deref for StrictString {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl ParseFromJSON for StrictString {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Ok(Self(text)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for StrictString {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// 要求のパラメーターで受け取るログの位置や版 (`min_position`・`after`・`from_version`・
/// `Last-Event-ID`)。0〜[`MAX_LOG_POSITION`] の整数で、文書にも同じ範囲を載せます。
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LogPosition(pub u64);

/// [`LogPosition`] の上限 (10^15。JSON の数として誤差なく表せ、SQLite の整数にも収まる)。
pub const MAX_LOG_POSITION: u64 = 1_000_000_000_000_000;

impl From<LogPosition> for u64 {
    fn from(position: LogPosition) -> Self {
        position.0
    }
}

inline_schema_type!(
    LogPosition,
    "integer(uint64)",
    MetaSchema {
        format: Some("uint64"),
        minimum: Some(0.0),
        #[allow(clippy::cast_precision_loss)]
        maximum: Some(MAX_LOG_POSITION as f64),
        ..MetaSchema::new("integer")
    }
);

impl ParseFromParameter for LogPosition {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        let position: u64 = value.parse().map_err(ParseError::custom)?;
        if position > MAX_LOG_POSITION {
            return Err(ParseError::custom(format!(
                "0〜{MAX_LOG_POSITION} にしてください"
            )));
        }
        Ok(Self(position))
    }
}
