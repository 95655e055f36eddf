//! ファイル名の全文検索 (SQLite FTS5) の検索式を、利用者の入力から安全に作る。
//!
//! 利用者の入力をそのまま `MATCH` に渡すと、`"` や `*`、`OR`、`NEAR(` などが FTS5 の構文として
//! 解釈され、構文エラーや意図しない検索になります。ここでは入力を空白で語に分け、
//! 語ごとに **二重引用符で囲んだ文字列** (中の `"` は `""` に) にして末尾に `*` を付けます。
//! 引用符の中は演算子として解釈されないので、どんな入力でも構文エラーにはなりません。
//!
//! - 語ごとの前方一致: `sun` は `"sun"*` になり、`sunset-640x427.jpg` の語 `sunset` に一致します。
//! - 複数の語はすべてを含むもの (AND): `sun jpg` → `"sun"* "jpg"*`。
//! - 英数字を一つも含まない語 (`"`、`*`、`-` など) は語にならないので捨てます。
//!   何も残らなければ「何にも一致しない検索」です ([`match_expression`] が `None`)。
//!
//! ```
//! use mediahub_services::media_query::search::match_expression;
//!
//! assert_eq!(match_expression("sun").as_deref(), Some("\"sun\"*"));
//! assert_eq!(match_expression("a\"b OR").as_deref(), Some("\"a\"\"b\"* \"OR\"*"));
//! assert_eq!(match_expression("\" * -"), None);
//! ```

/// 検索に使う語の最大の数 (これより後ろの語は無視します)。
pub const MAX_TERMS: usize = 16;

/// 利用者の検索語 `q` を FTS5 の `MATCH` 式にします。
///
/// 検索できる語が一つも無ければ `None` (何にも一致しない)。
#[must_use]
pub fn match_expression(q: &str) -> Option<String> {
    let terms: Vec<String> = q
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .take(MAX_TERMS)
        .map(|word| format!("\"{}\"*", word.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_word_becomes_a_quoted_prefix_term_joined_by_and() {
        assert_eq!(
            match_expression("  sun   640x ").as_deref(),
            Some("\"sun\"* \"640x\"*")
        );
        assert_eq!(match_expression("猫").as_deref(), Some("\"猫\"*"));
    }

    #[test]
    fn operators_and_quotes_are_quoted_not_interpreted() {
        assert_eq!(
            match_expression("NEAR(a b) OR x*").as_deref(),
            Some("\"NEAR(a\"* \"b)\"* \"OR\"* \"x*\"*")
        );
        assert_eq!(match_expression("\"sun").as_deref(), Some("\"\"\"sun\"*"));
    }

    #[test]
    fn input_without_letters_or_digits_is_none() {
        for q in ["", "   ", "\"", "*", "\"\" * ^ -", "()"] {
            assert_eq!(match_expression(q), None, "{q}");
        }
    }

    #[test]
    fn more_than_max_terms_are_cut() {
        let q = (0..40)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let expression = match_expression(&q).unwrap_or_default();
        assert_eq!(expression.matches('*').count(), MAX_TERMS);
    }
}
