//! 一覧のページ送りのカーソル (メディア・Saga・通知の一覧で共通)。
//!
//! 一覧は「行ができたときのグローバル位置の降順、同じなら ID の降順」に並びます
//! (メディアは `MediaUploaded`、Saga は `SagaStarted`、通知は `NotificationSent` の位置)。
//! カーソルはそのページの最後の行の `(位置, ID)` で、次のページはそれより「後ろ」(= 古い) の
//! 行から始まります。並びのキーは後から変わらないので、ページの間に行の状態が変わっても、
//! 行が飛んだり重なったりしません。
//!
//! 外からは中身の分からない文字列 (`位置:ID` を 16 進にしたもの) として扱います。
//! 読めない文字列は [`invalid_cursor`] の 400 にします。
//!
//! ```
//! use mediahub_services::platform::paging::Cursor;
//! use uuid::Uuid;
//!
//! let cursor = Cursor { position: 42, id: Uuid::new_v4() };
//! assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
//! assert_eq!(Cursor::decode("zz"), None);
//! ```

use std::fmt::Write as _;

use uuid::Uuid;

use super::problem::{Problem, codes};

/// 一覧のページの境目。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// 境目の行ができたときのグローバル位置。
    pub position: u64,
    /// 境目の行の ID。
    pub id: Uuid,
}

/// 16 進にする前の文字列の最大の長さ (`u64` の桁数 + `:` + UUID)。
const MAX_PLAIN_LEN: usize = 20 + 1 + 36;

impl Cursor {
    /// 外に渡す文字列にします。
    #[must_use]
    pub fn encode(&self) -> String {
        let plain = format!("{}:{}", self.position, self.id);
        let mut out = String::with_capacity(plain.len() * 2);
        for byte in plain.bytes() {
            // String への書き込みは失敗しません。
            let _ = write!(out, "{byte:02x}");
        }
        out
    }

    /// [`Cursor::encode`] の文字列を読みます。形が違えば `None`。
    #[must_use]
    pub fn decode(text: &str) -> Option<Self> {
        if text.is_empty() || text.len() % 2 != 0 || text.len() > MAX_PLAIN_LEN * 2 {
            return None;
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let plain = String::from_utf8(bytes).ok()?;
        let (position, id) = plain.split_once(':')?;
        let position = position.parse::<u64>().ok()?;
        if i64::try_from(position).is_err() {
            return None;
        }
        Some(Self {
            position,
            id: id.parse().ok()?,
        })
    }
}

/// `cursor` クエリを読みます (無ければ `None`)。
///
/// # エラー
/// 読めなければ 400 [`codes::INVALID_PARAMETER`] (`cursor: 前の応答の next_cursor を…`)。
pub fn parse_cursor(cursor: Option<&str>) -> Result<Option<Cursor>, Problem> {
    cursor
        .map(|text| Cursor::decode(text).ok_or_else(invalid_cursor))
        .transpose()
}

/// 読めないカーソルの 400。
#[must_use]
pub fn invalid_cursor() -> Problem {
    Problem::bad_request(
        codes::INVALID_PARAMETER,
        "cursor: 前の応答の next_cursor をそのまま渡してください",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_through_its_opaque_text() {
        let cursor = Cursor {
            position: u64::try_from(i64::MAX).unwrap_or_default(),
            id: Uuid::new_v4(),
        };
        let text = cursor.encode();
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(Cursor::decode(&text), Some(cursor));
    }

    /// 一覧の文書は `cursor` の位置を 1〜18 桁と書きます。その範囲の値はすべて読めること。
    #[test]
    fn cursor_with_any_18_digit_position_decodes() {
        let id = Uuid::new_v4();
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        let text = hex(&format!("999999999999999999:{id}"));
        assert_eq!(
            Cursor::decode(&text),
            Some(Cursor {
                position: 999_999_999_999_999_999,
                id
            })
        );
    }

    #[test]
    fn malformed_cursor_texts_decode_to_none() {
        let id = Uuid::new_v4();
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        for bad in [
            String::new(),
            "a".into(),
            "zz".into(),
            "é1".into(),
            hex("12"),
            hex(&format!("x:{id}")),
            hex(&format!("-1:{id}")),
            hex(&format!("{}:{id}", u64::MAX)),
            hex("1:not-a-uuid"),
            "ff".repeat(100),
        ] {
            assert_eq!(Cursor::decode(&bad), None, "{bad}");
        }
    }
}
