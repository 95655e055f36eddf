//! イベントストアの API の要求と応答の本体 (ワイヤーの型)。
//!
//! サーバー ([`super::api`]) とクライアント ([`crate::store_client`]) が同じ型を使います。
//! poem-openapi の `Object` (文書と検査) と serde (クライアントの読み書き) の両方を実装します。

use poem::Request;
use poem_openapi::Object;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::db::{LogFilter, MAX_FILTER_VALUES, MAX_NAME_LEN, is_valid_name};
use crate::platform::problem::{Problem, codes};
use crate::platform::request::{GroupParam, ParamGroup, ParamLocation, query_value, query_values};
use crate::platform::schema::{ApiEnvelope, ApiNewEvent, LogPosition, inline_schema_type};

/// 追記の本体。
#[derive(Debug, Clone, PartialEq, Object, Serialize, Deserialize)]
#[oai(deny_unknown_fields)]
pub struct AppendBody {
    /// 呼び出し側が期待するストリームの現在の版 (新しいストリームなら 0)。
    pub expected_version: u64,
    /// 追記するイベント (1〜1000 件)。
    pub events: Vec<ApiNewEvent>,
}

/// スナップショットに書く集約の状態 (任意の JSON。フィールドは省略できません)。
///
/// `serde_json::Value` のままだと、フィールドが無いときに `null` として受け付けてしまい、
/// 文書 (必須) と振る舞いが食い違うため、省略を 400 にする型で受け取ります。
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AggregateState(pub Value);

inline_schema_type!(
    AggregateState,
    "AggregateState",
    MetaSchema {
        description: Some("集約の状態 (任意の JSON)"),
        ..MetaSchema::ANY
    }
);

impl ParseFromJSON for AggregateState {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        value
            .map(Self)
            .ok_or_else(|| ParseError::custom("aggregate (集約の状態) は省略できません"))
    }
}

impl ToJSON for AggregateState {
    fn to_json(&self) -> Option<Value> {
        Some(self.0.clone())
    }
}

/// スナップショットの書き込みの本体。
#[derive(Debug, Clone, PartialEq, Object, Serialize, Deserialize)]
#[oai(deny_unknown_fields)]
pub struct SnapshotWriteBody {
    /// 集約の状態 (任意の JSON)。
    pub aggregate: AggregateState,
    /// スナップショットに含まれる最後のイベントの版。
    pub current_sequence: u64,
    /// 新しいスナップショットの版。
    pub current_snapshot: u64,
    /// 今あるスナップショットの版として期待する値 (`null` は「まだ無い」)。
    #[oai(nullable)]
    pub expected_snapshot: Option<u64>,
}

/// イベントとスナップショットを 1 つのトランザクションで書く本体。
#[derive(Debug, Clone, PartialEq, Object, Serialize, Deserialize)]
#[oai(deny_unknown_fields)]
pub struct CommitBody {
    /// 呼び出し側が期待するストリームの現在の版。
    pub expected_version: u64,
    /// 追記するイベント (0〜1000 件。0 件ならスナップショットが必須)。
    pub events: Vec<ApiNewEvent>,
    /// 同じトランザクションで書くスナップショット (省略可)。
    #[oai(nullable)]
    pub snapshot: Option<SnapshotWriteBody>,
}

/// 追記の結果。
#[derive(Debug, Clone, PartialEq, Object, Serialize, Deserialize)]
pub struct AppendResult {
    /// 保存されたイベント。
    pub events: Vec<ApiEnvelope>,
    /// 最後のイベントの位置 (イベントが無ければ 0)。
    pub last_position: u64,
    /// ストリームの最後の版。
    pub last_version: u64,
}

/// イベントの一覧。
#[derive(Debug, Clone, PartialEq, Object, Serialize, Deserialize)]
pub struct EventList {
    /// イベント (版の順)。
    pub events: Vec<ApiEnvelope>,
}

/// グローバルログの 1 ページ。
#[derive(Debug, Clone, PartialEq, Object, Serialize, Deserialize)]
pub struct LogPage {
    /// イベント (位置の順)。
    pub events: Vec<ApiEnvelope>,
    /// ログ全体の最大の位置。
    pub head: u64,
}

/// ログの先頭。
#[derive(Debug, Clone, PartialEq, Object, Serialize, Deserialize)]
pub struct HeadBody {
    /// ログ全体の最大の位置 (空なら 0)。
    pub head: u64,
}

/// 保存されたスナップショット。
#[derive(Debug, Clone, PartialEq, Object, Serialize, Deserialize)]
pub struct SnapshotBody {
    /// 集約の状態。
    pub aggregate: Value,
    /// スナップショットに含まれる最後のイベントの版。
    pub current_sequence: u64,
    /// スナップショットの版。
    pub current_snapshot: u64,
}

/// グローバルログの読み方: 開始位置 (`after`) と絞り込み (`aggregate_type`・`event_type`・
/// `aggregate_id`・`correlation_id`・`user_id`。前の 2 つは繰り返して「どれか一つ」)。`GET /api/v1/events` と `GET /api/v1/events/stream` が共有する
/// クエリパラメーターの組です。
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSelection {
    /// この位置より後を読みます (0 なら先頭から)。
    pub after: u64,
    /// 絞り込み。
    pub filter: LogFilter,
}

/// 集約の型・ID のスキーマ (1〜256 文字、制御文字なし)。
fn name_schema() -> MetaSchema {
    MetaSchema {
        min_length: Some(1),
        max_length: Some(MAX_NAME_LEN),
        pattern: Some(r"^[^\x00-\x1F\x7F-\x9F]+$".to_owned()),
        ..MetaSchema::new("string")
    }
}

/// 繰り返せる名前のクエリのスキーマ (1〜[`MAX_FILTER_VALUES`] 個の [`name_schema`])。
fn names_schema() -> MetaSchema {
    MetaSchema {
        items: Some(Box::new(MetaSchemaRef::Inline(Box::new(name_schema())))),
        max_items: Some(MAX_FILTER_VALUES),
        ..MetaSchema::new("array")
    }
}

/// パスで受け取る集約の型・ID (1〜256 文字、制御文字なし。文書のスキーマは [`name_schema`])。
///
/// poem-openapi の `validator(pattern = …)` は要求のたびに正規表現をコンパイルし直します
/// (`^[^\x00-\x1F\x7F-\x9F]{1,256}$` では 1 回に約 1 ms、追記 1 回で 2 回)。規則は
/// [`is_valid_name`] で文字を数えて確かめ、正規表現は文書にだけ載せます。
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamName(pub String);

inline_schema_type!(StreamName, "string", name_schema());

impl ParseFromParameter for StreamName {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        if is_valid_name(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ParseError::custom(format!(
                "1〜{MAX_NAME_LEN} 文字の、制御文字を含まない文字列にしてください"
            )))
        }
    }
}

/// クエリの値を型 `T` で読みます (不正なら 400 `request.invalid_parameter`)。
fn parse_query<T: ParseFromParameter>(req: &Request, name: &str) -> Result<Option<T>, Problem> {
    query_value(req, name)
        .map(|raw| {
            T::parse_from_parameter(&raw).map_err(|err| {
                Problem::bad_request(
                    codes::INVALID_PARAMETER,
                    format!("{name}: {}", err.message()),
                )
            })
        })
        .transpose()
}

/// 集約の型・ID のクエリを読みます (空・長すぎる・制御文字を含む値は 400)。
fn name_query(req: &Request, name: &str) -> Result<Option<String>, Problem> {
    query_value(req, name)
        .map(|value| checked_name(name, value))
        .transpose()
}

/// 繰り返せる名前のクエリ (`aggregate_type`・`event_type`) の値すべてを読みます
/// ([`name_query`] と同じ規則に加え、[`MAX_FILTER_VALUES`] 個を超える並びは 400)。
fn name_queries(req: &Request, name: &str) -> Result<Vec<String>, Problem> {
    let values = query_values(req, name);
    if values.len() > MAX_FILTER_VALUES {
        return Err(Problem::bad_request(
            codes::INVALID_PARAMETER,
            format!("{name}: 並べられるのは {MAX_FILTER_VALUES} 個までです"),
        ));
    }
    values
        .into_iter()
        .map(|value| checked_name(name, value))
        .collect()
}

/// 名前として使える値ならそのまま返します (使えなければ 400 `request.invalid_parameter`)。
fn checked_name(name: &str, value: String) -> Result<String, Problem> {
    if is_valid_name(&value) {
        Ok(value)
    } else {
        Err(Problem::bad_request(
            codes::INVALID_PARAMETER,
            format!("{name}: 空・長すぎる・制御文字を含む値は使えません"),
        ))
    }
}

impl ParamGroup for LogSelection {
    const NAME: &'static str = "LogSelection";

    fn params() -> Vec<GroupParam> {
        let uuid = || MetaSchema::new_with_format("string", "uuid");
        let position = match LogPosition::schema_ref() {
            MetaSchemaRef::Inline(schema) => *schema,
            MetaSchemaRef::Reference(_) => MetaSchema::new("integer"),
        };
        vec![
            GroupParam {
                name: "after",
                location: ParamLocation::Query,
                description: "この位置より後のイベントを読みます (省略時は 0 = 先頭から)。",
                schema: position,
            },
            GroupParam {
                name: "aggregate_type",
                location: ParamLocation::Query,
                description: "集約の型で絞り込みます (例 `Media`)。繰り返すと、どれか一つに一致するもの \
                              (`aggregate_type=Album&aggregate_type=Media`、最大 16 個)。",
                schema: names_schema(),
            },
            GroupParam {
                name: "event_type",
                location: ParamLocation::Query,
                description: "イベントの型で絞り込みます (例 `MediaUploaded`)。繰り返すと、どれか一つに \
                              一致するもの (最大 16 個)。",
                schema: names_schema(),
            },
            GroupParam {
                name: "aggregate_id",
                location: ParamLocation::Query,
                description: "集約 ID で絞り込みます。",
                schema: name_schema(),
            },
            GroupParam {
                name: "correlation_id",
                location: ParamLocation::Query,
                description: "相関 ID で絞り込みます。",
                schema: uuid(),
            },
            GroupParam {
                name: "user_id",
                location: ParamLocation::Query,
                description: "ユーザー ID で絞り込みます。",
                schema: uuid(),
            },
        ]
    }

    fn extract(req: &Request) -> Result<Self, Problem> {
        Ok(Self {
            after: parse_query::<LogPosition>(req, "after")?.map_or(0, u64::from),
            filter: LogFilter {
                aggregate_types: name_queries(req, "aggregate_type")?,
                event_types: name_queries(req, "event_type")?,
                aggregate_id: name_query(req, "aggregate_id")?,
                correlation_id: parse_query(req, "correlation_id")?,
                user_id: parse_query(req, "user_id")?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_name_of_256_multibyte_characters_is_accepted() {
        let name = "あ".repeat(MAX_NAME_LEN);
        let parsed = StreamName::parse_from_parameter(&name)
            .unwrap_or_else(|e| panic!("256 文字は受け付けるはず: {}", e.message()));
        assert_eq!(parsed, StreamName(name));
    }

    #[test]
    fn stream_name_that_is_empty_too_long_or_has_a_control_character_is_rejected() {
        for bad in [
            String::new(),
            "a".repeat(MAX_NAME_LEN + 1),
            "m\u{1}".to_owned(),
            "m\u{7f}".to_owned(),
            "m\u{85}".to_owned(),
        ] {
            assert!(
                StreamName::parse_from_parameter(&bad).is_err(),
                "{bad:?} は断るはず"
            );
        }
    }

    #[test]
    fn stream_name_schema_documents_length_and_control_character_rule() {
        let MetaSchemaRef::Inline(schema) = StreamName::schema_ref() else {
            panic!("インラインのスキーマのはず");
        };
        assert_eq!(schema.min_length, Some(1));
        assert_eq!(schema.max_length, Some(MAX_NAME_LEN));
        assert_eq!(schema.pattern.as_deref(), Some(r"^[^\x00-\x1F\x7F-\x9F]+$"));
    }
}
