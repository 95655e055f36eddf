//! イベントストアの API の要求と応答の本体 (ワイヤーの型)。

use poem_openapi::Object;
use poem_openapi::registry::MetaSchema;
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON};
use serde_json::Value;

use crate::platform::schema::{ApiEnvelope, ApiNewEvent, inline_schema_type};

/// 追記の本体。
#[derive(Debug, Clone, Object)]
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, Object)]
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
#[derive(Debug, Clone, Object)]
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
#[derive(Debug, Clone, Object)]
pub struct AppendResult {
    /// 保存されたイベント。
    pub events: Vec<ApiEnvelope>,
    /// 最後のイベントの位置 (イベントが無ければ 0)。
    pub last_position: u64,
    /// ストリームの最後の版。
    pub last_version: u64,
}

/// イベントの一覧。
#[derive(Debug, Clone, Object)]
pub struct EventList {
    /// イベント (版の順)。
    pub events: Vec<ApiEnvelope>,
}

/// グローバルログの 1 ページ。
#[derive(Debug, Clone, Object)]
pub struct LogPage {
    /// イベント (位置の順)。
    pub events: Vec<ApiEnvelope>,
    /// ログ全体の最大の位置。
    pub head: u64,
}

/// ログの先頭。
#[derive(Debug, Clone, Object)]
pub struct HeadBody {
    /// ログ全体の最大の位置 (空なら 0)。
    pub head: u64,
}

/// 保存されたスナップショット。
#[derive(Debug, Clone, Object)]
pub struct SnapshotBody {
    /// 集約の状態。
    pub aggregate: Value,
    /// スナップショットに含まれる最後のイベントの版。
    pub current_sequence: u64,
    /// スナップショットの版。
    pub current_snapshot: u64,
}
