//! album の API が読み書きする JSON の形 (読みモデルのビューと、要求・応答の本体)。

use chrono::{DateTime, Utc};
use mediahub_core::album::MAX_ALBUM_NAME_CHARS;
use poem_openapi::Object;
use poem_openapi::registry::MetaSchema;
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON};
use serde_json::Value;

use crate::platform::schema::inline_schema_type;
use uuid::Uuid;

/// アルバム 1 件のビュー。
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct AlbumView {
    /// アルバム ID。
    pub id: Uuid,
    /// 所有者のユーザー ID。
    pub owner_id: Uuid,
    /// 名前。
    pub name: String,
    /// デフォルトアルバム (アップロードしたメディアが自動で入る、削除できないアルバム) か。
    pub is_default: bool,
    /// 入っているメディアの数。
    pub media_count: u64,
    /// 作成時刻 (`AlbumCreated` の保存時刻)。
    pub created_at: DateTime<Utc>,
    /// 最後に変わった時刻 (最後のイベントの保存時刻)。
    pub updated_at: DateTime<Utc>,
    /// 集約の版 (反映した最後のイベントの版)。
    pub version: u64,
}

/// アルバムの一覧。
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct AlbumList {
    /// 呼び出したユーザーのアルバム (デフォルトアルバムが先頭、ほかは作成順)。
    pub items: Vec<AlbumView>,
}

/// アルバムに入っているメディア 1 件。
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct AlbumMediaItem {
    /// メディア ID。
    pub media_id: Uuid,
    /// 追加された時刻 (`MediaAddedToAlbum` の保存時刻)。
    pub added_at: DateTime<Utc>,
    /// `MediaAddedToAlbum` のグローバル位置。
    pub position: u64,
}

/// アルバムの中身。
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct AlbumMediaList {
    /// 入っているメディア (新しく追加されたものが先頭)。
    pub items: Vec<AlbumMediaItem>,
}

/// 文書に載せるアルバム名の正規表現 (制御文字なし、空白以外の文字を 1 つ以上)。
const ALBUM_NAME_PATTERN: &str =
    r"^[^\x00-\x1F\x7F-\x9F]*[^\x00-\x1F\x7F-\x9F\s][^\x00-\x1F\x7F-\x9F]*$";

/// アルバム名のスキーマ (最大 [`MAX_ALBUM_NAME_CHARS`] 文字、[`ALBUM_NAME_PATTERN`])。
fn album_name_schema() -> MetaSchema {
    MetaSchema {
        max_length: Some(MAX_ALBUM_NAME_CHARS),
        pattern: Some(ALBUM_NAME_PATTERN.to_owned()),
        ..MetaSchema::new("string")
    }
}

/// 要求本体で受け取るアルバム名: JSON の文字列だけを受け付け、最大 [`MAX_ALBUM_NAME_CHARS`] 文字、
/// 制御文字なし、空白以外の文字を 1 つ以上 (文書のスキーマは同じ規則の正規表現)。
///
/// poem-openapi の `validator(pattern = …)` は要求のたびに正規表現をコンパイルし直す
/// (この式で 1 回 約 40 µs) ので、規則は文字を見て確かめ、正規表現は文書にだけ載せます
/// (イベントストアの `StreamName` と同じ考え方)。
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlbumName(String);

impl AlbumName {
    /// 規則に合えば名前にします (合わなければ理由つきの `Err`)。
    ///
    /// # Errors
    ///
    /// 長すぎる・制御文字を含む・空白だけ (空を含む) なら、その理由の文。
    pub fn parse(text: String) -> Result<Self, String> {
        if text.chars().count() > MAX_ALBUM_NAME_CHARS {
            Err(format!("{MAX_ALBUM_NAME_CHARS} 文字以下にしてください"))
        } else if text.chars().any(char::is_control) {
            Err("制御文字は使えません".to_owned())
        } else if text.chars().all(char::is_whitespace) {
            Err("空白以外の文字を 1 つ以上含めてください".to_owned())
        } else {
            Ok(Self(text))
        }
    }

    /// 中の文字列を取り出します。
    #[must_use]
    pub fn into_inner(self) -> String {
        self.0
    }
}

inline_schema_type!(AlbumName, "string", album_name_schema());

impl ParseFromJSON for AlbumName {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Self::parse(text).map_err(ParseError::custom),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for AlbumName {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// アルバム作成の本体。
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct CreateAlbumBody {
    /// 名前 (最大 100 文字、制御文字なし、空白以外の文字を 1 つ以上。前後の空白は保存時に除きます)。
    pub name: AlbumName,
}

/// 改名の本体。
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct RenameAlbumBody {
    /// 新しい名前 (最大 100 文字、制御文字なし、空白以外の文字を 1 つ以上。前後の空白は保存時に除きます)。
    pub name: AlbumName,
}

/// メディア追加の本体。
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct AddMediaBody {
    /// 加えるメディア (呼び出したユーザーのもの)。
    pub media_id: Uuid,
}

/// アルバム作成の結果。
#[derive(Debug, Clone, Object)]
pub struct CreatedAlbum {
    /// 新しいアルバムの ID。
    pub id: Uuid,
    /// `AlbumCreated` のグローバル位置 (クエリの `min_position` に渡せます)。
    pub position: u64,
}

/// コマンドの結果。
#[derive(Debug, Clone, Object)]
pub struct CommandResult {
    /// このコマンドで最後に書かれたイベントのグローバル位置。何も書かれなかった
    /// (冪等な再実行) なら 0。
    pub position: u64,
}

/// 内部 API: デフォルトアルバムへの追加の本体 (Saga が送る側でも使います)。
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize)]
#[oai(deny_unknown_fields)]
pub struct DefaultAlbumMediaBody {
    /// メディアの所有者 (= デフォルトアルバムの所有者)。
    pub owner_id: Uuid,
    /// 加えるメディア。
    pub media_id: Uuid,
    /// 所有者の射影がこの位置に届くまで待ちます (例: `MediaProcessed` の位置)。
    #[oai(nullable, default)]
    pub min_position: Option<u64>,
    /// `true` なら何も書かずに 503 `fault.injected` (開発用の障害注入)。
    #[oai(default)]
    pub inject_fault: bool,
}

/// 内部 API: デフォルトアルバムへの追加の結果。
#[derive(Debug, Clone, Object)]
pub struct DefaultAlbumMediaResult {
    /// 所有者のデフォルトアルバムの ID。
    pub album_id: Uuid,
    /// 最後に書かれたイベントの位置。何も書かれなかった (既に入っていた) なら 0。
    pub position: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn album_name_of_100_chars_with_surrounding_spaces_is_accepted_as_is() {
        for text in ["旅行", " 旅行 ", &"あ".repeat(100), "a b"] {
            let name = AlbumName::parse(text.to_owned());
            assert_eq!(name.map(AlbumName::into_inner), Ok(text.to_owned()));
        }
    }

    #[test]
    fn album_name_blank_101_chars_or_control_char_is_rejected() {
        for text in [
            String::new(),
            "   ".to_owned(),
            "\u{3000}".to_owned(),
            "あ".repeat(101),
            "旅\n行".to_owned(),
            "旅\u{7f}".to_owned(),
            "\u{85}旅".to_owned(),
        ] {
            assert!(AlbumName::parse(text.clone()).is_err(), "{text:?}");
        }
    }

    #[test]
    fn album_name_from_json_number_is_expected_type_error_and_string_parses() {
        assert!(AlbumName::parse_from_json(Some(Value::from(5))).is_err());
        assert!(AlbumName::parse_from_json(None).is_err());
        let name = AlbumName::parse_from_json(Some(Value::from("夏")));
        assert_eq!(name.ok().and_then(|n| n.to_json()), Some(Value::from("夏")));
    }

    #[test]
    fn album_name_schema_keeps_max_length_and_pattern_for_the_document() {
        let schema = album_name_schema();
        assert_eq!(schema.max_length, Some(100));
        assert_eq!(schema.pattern.as_deref(), Some(ALBUM_NAME_PATTERN));
    }
}
