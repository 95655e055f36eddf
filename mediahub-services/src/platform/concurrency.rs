//! HTTP の楽観的同時実行制御: 集約の版を運ぶ `ETag` と `If-Match` (docs/concurrency.md)。
//!
//! - 集約 1 件の `GET` は `ETag: "<版>"` を返します ([`etag`])。
//! - その集約へのコマンドに `If-Match: "<版>"` を付けると、版が一致するときだけ実行します
//!   ([`IfMatch`])。一致しなければ 412 `precondition_failed` で、何も書きません。
//! - `If-Match: *` と `If-Match` 無しは「最新の状態に適用」です。

use poem_openapi::registry::MetaSchema;
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult};

use super::schema::inline_schema_type;

/// `If-Match` の値の形: `"<版>"`、`*`、または空 (空はヘッダー無しと同じ)。
pub const IF_MATCH_PATTERN: &str = r#"^(\*|"[0-9]{1,15}")?$"#;

/// 集約の版を `ETag` の値 (強い検証子 `"<版>"`) にします。
///
/// ```
/// use mediahub_services::platform::concurrency::etag;
///
/// assert_eq!(etag(3), "\"3\"");
/// ```
#[must_use]
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// 要求の `If-Match` ヘッダー: コマンドを実行してよい集約の版。
///
/// `"<版>"` (強い検証子 1 つ) か `*` (どの版でもよい) だけを受け付けます。弱い検証子
/// (`W/"3"`) や複数の版の列は 400 です (版は 1 つの数なので、曖昧な指定を黙って
/// 受け取らないため)。空の値は、ほかの省略可能なヘッダーと同じく「無し」として扱います。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfMatch(Option<u64>);

impl IfMatch {
    /// 期待する版 (`*` なら `None`)。
    #[must_use]
    pub fn expected_version(self) -> Option<u64> {
        self.0
    }
}

/// 省略可能な `If-Match` ヘッダーから期待する版を取り出します (無ければ `None`)。
#[must_use]
pub fn expected_version(if_match: Option<IfMatch>) -> Option<u64> {
    if_match.and_then(IfMatch::expected_version)
}

inline_schema_type!(
    IfMatch,
    "string",
    MetaSchema {
        pattern: Some(IF_MATCH_PATTERN.to_owned()),
        ..MetaSchema::new("string")
    }
);

impl ParseFromParameter for IfMatch {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        let value = value.trim();
        if value.is_empty() || value == "*" {
            return Ok(Self(None));
        }
        value
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .filter(|digits| {
                (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
            })
            .and_then(|digits| digits.parse::<u64>().ok())
            .map(|version| Self(Some(version)))
            .ok_or_else(|| {
                ParseError::custom(
                    "If-Match は \"<版>\" (例: \"3\") か * にしてください (弱い検証子や複数の版は使えません)",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Option<IfMatch> {
        IfMatch::parse_from_parameter(value).ok()
    }

    #[test]
    fn quoted_version_is_expected_version_and_star_is_any() {
        assert_eq!(parse("\"3\"").map(IfMatch::expected_version), Some(Some(3)));
        assert_eq!(
            parse(" \"0\" ").map(IfMatch::expected_version),
            Some(Some(0))
        );
        assert_eq!(parse("*").map(IfMatch::expected_version), Some(None));
        assert_eq!(parse("").map(IfMatch::expected_version), Some(None));
    }

    #[test]
    fn unquoted_weak_listed_empty_quoted_or_huge_versions_are_rejected() {
        for bad in [
            "3",
            "W/\"3\"",
            "\"1\", \"2\"",
            "\"\"",
            "\"-1\"",
            "\"1234567890123456\"",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn etag_round_trips_through_if_match() {
        assert_eq!(
            parse(&etag(42)).and_then(IfMatch::expected_version),
            Some(42)
        );
    }
}
