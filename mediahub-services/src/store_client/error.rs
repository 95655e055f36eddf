//! イベントストアクライアントのエラー型と、サーバーが返す problem+json の読み取り ([`RemoteProblem`])。
//!
//! エラーコードはサーバーと同じ定義 ([`crate::eventstore::codes`]) を使います。

use serde::Deserialize;
use serde_json::{Map, Value};

/// サーバーが返した RFC 9457 `application/problem+json` の本体 (受け取る側の型。返す側は
/// [`crate::platform::problem::Problem`])。
///
/// 知らないフィールドは [`RemoteProblem::extensions`] に残します。
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RemoteProblem {
    /// 問題の種類を表す URI。
    #[serde(default, rename = "type")]
    pub problem_type: Option<String>,
    /// 人が読む短い題名。
    #[serde(default)]
    pub title: Option<String>,
    /// HTTP ステータスコード。
    #[serde(default)]
    pub status: Option<u16>,
    /// 人が読む詳細。
    #[serde(default)]
    pub detail: Option<String>,
    /// 機械が照合するための安定したエラーコード (例: `eventstore.version_conflict`)。
    #[serde(default)]
    pub code: Option<String>,
    /// その他の拡張フィールド (例: `current_version`)。
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

impl RemoteProblem {
    /// 拡張フィールドから符号なし整数を読みます。
    #[must_use]
    pub fn extension_u64(&self, key: &str) -> Option<u64> {
        self.extensions.get(key).and_then(Value::as_u64)
    }
}

/// トークンを用意できなかったときのエラー。
#[derive(Debug, thiserror::Error)]
#[error("サービストークンを発行できません: {0}")]
pub struct TokenError(#[source] pub Box<dyn std::error::Error + Send + Sync + 'static>);

/// イベントストアクライアントの呼び出しが失敗した理由。
#[derive(Debug, thiserror::Error)]
pub enum StoreClientError {
    /// 期待した版とストリームの現在の版が一致しなかった (`409`、何も書かれていない)。
    #[error(
        "ストリーム {aggregate_type}/{aggregate_id} の版が一致しません \
         (期待 {expected_version}, 現在 {current_version:?})"
    )]
    VersionConflict {
        /// 集約の型。
        aggregate_type: String,
        /// 集約 ID。
        aggregate_id: String,
        /// 呼び出し側が期待した版。
        expected_version: u64,
        /// サーバーが報告したストリームの現在の版 (報告がなければ `None`)。
        current_version: Option<u64>,
    },
    /// 期待したスナップショットの番号と今の番号が一致しなかった (`409`、何も書かれていない)。
    #[error(
        "ストリーム {aggregate_type}/{aggregate_id} のスナップショットの番号が一致しません \
         (期待 {expected_snapshot:?}, 現在 {current_snapshot:?})"
    )]
    SnapshotConflict {
        /// 集約の型。
        aggregate_type: String,
        /// 集約 ID。
        aggregate_id: String,
        /// 呼び出し側が期待した番号 (`None` は「まだ無い」)。
        expected_snapshot: Option<u64>,
        /// サーバーが報告した今の番号 (無ければ `None`)。
        current_snapshot: Option<u64>,
    },
    /// 接続できない・応答が途中で切れたなど、HTTP 通信そのものが失敗した (再試行し尽くした後)。
    #[error("イベントストアとの通信に失敗しました: {0}")]
    Http(#[source] reqwest::Error),
    /// サーバーが成功以外のステータスを返した。
    #[error("イベントストアがステータス {status} を返しました: {}", describe(.problem.as_deref()))]
    Status {
        /// HTTP ステータスコード。
        status: u16,
        /// 本体が problem+json ならその内容。
        problem: Option<Box<RemoteProblem>>,
    },
    /// 成功応答の本体を期待した形として読めなかった。
    #[error("イベントストアの応答 ({what}) を解釈できません: {source}")]
    Decode {
        /// 何を読もうとしていたか。
        what: &'static str,
        /// serde のエラー。
        #[source]
        source: serde_json::Error,
    },
    /// 要求を JSON にできなかった。
    #[error("要求を JSON にできません: {0}")]
    Encode(#[source] serde_json::Error),
    /// ベース URL が不正。
    #[error("イベントストアの URL が不正です: {0}")]
    InvalidUrl(String),
    /// サービストークンを用意できなかった。
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl StoreClientError {
    /// 通信エラーや 502/503/504 など、時間をおけば成功しうる一時的な失敗かどうか。
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            // 要求を組み立てられない (builder) 以外の通信エラーは、接続の失敗・切断・時間切れ。
            Self::Http(e) => !e.is_builder(),
            Self::Status { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }
}

fn describe(problem: Option<&RemoteProblem>) -> String {
    match problem {
        Some(p) => format!(
            "{} ({})",
            p.detail.as_deref().or(p.title.as_deref()).unwrap_or("-"),
            p.code.as_deref().unwrap_or("-")
        ),
        None => "本体なし".to_owned(),
    }
}
