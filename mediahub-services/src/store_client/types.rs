//! イベントストアのクライアントが返す形 ([`AppendOutcome`]・[`LogPage`]) と、ログを読む条件
//! ([`LogQuery`])。要求と応答の本体そのもの (ワイヤーの型) はサーバーと同じ
//! [`crate::eventstore::view`] の型です。

use crate::eventstore::view::{self, AppendResult};
use std::time::Duration;

use mediahub_core::envelope::Envelope;
use mediahub_core::ids::{CorrelationId, UserId};

/// 追記・コミットの結果 (ワイヤーの [`crate::eventstore::view::AppendResult`] に、再送かどうかを足したもの)。
#[derive(Debug, Clone, PartialEq)]
pub struct AppendOutcome {
    /// 保存されたイベント (位置と保存時刻つき)。
    pub events: Vec<Envelope>,
    /// 最後のイベントのグローバル位置。
    pub last_position: u64,
    /// 最後のイベントの版 (= ストリームの新しい版)。
    pub last_version: u64,
    /// 同じイベント ID の再送で、保存済みのものが返された (`200`) なら `true`。
    pub replayed: bool,
}

/// グローバルログの 1 ページ (ワイヤーの [`crate::eventstore::view::LogPage`] を読んだもの)。
#[derive(Debug, Clone, PartialEq)]
pub struct LogPage {
    /// 条件に合うイベント (位置の昇順)。
    pub events: Vec<Envelope>,
    /// 応答時点のログの先頭位置 (最後にコミットされたイベントの位置、空なら 0)。
    pub head: u64,
}

/// グローバルログを読むときの条件。
///
/// ```
/// use std::time::Duration;
/// use mediahub_services::store_client::LogQuery;
///
/// let query = LogQuery::after(41)
///     .limit(100)
///     .aggregate_type("Media")
///     .wait(Duration::from_secs(20));
/// assert_eq!(query.after, 41);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// この位置より後のイベントを読みます (0 なら先頭から)。
    pub after: u64,
    /// 1 ページの最大件数 (`None` ならサーバーの既定値)。
    pub limit: Option<u32>,
    /// 集約の型で絞り込みます (どれか一つに一致。空なら絞り込みません)。
    pub aggregate_types: Vec<String>,
    /// イベントの型で絞り込みます (どれか一つに一致。空なら絞り込みません)。
    pub event_types: Vec<String>,
    /// 集約 ID で絞り込みます。
    pub aggregate_id: Option<String>,
    /// 相関 ID で絞り込みます。
    pub correlation_id: Option<CorrelationId>,
    /// ユーザー ID で絞り込みます。
    pub user_id: Option<UserId>,
    /// ロングポーリング: 合うイベントがなければ最大この時間だけ待ちます (`None` なら待たない)。
    pub wait: Option<Duration>,
    /// ロングポーリング中、一致しないイベントのコミットでも (ログの先頭が進めば) 空のページで
    /// 答えてもらう (`progress=true`)。絞り込みつきの購読者がチェックポイントを進めるために使います。
    pub progress: bool,
}

impl LogQuery {
    /// `after` より後を読む条件を作ります。
    #[must_use]
    pub fn after(after: u64) -> Self {
        Self {
            after,
            ..Self::default()
        }
    }

    /// 1 ページの最大件数を設定します。
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// 集約の型で絞り込みます (繰り返し呼ぶと、どれか一つに一致するもの)。
    #[must_use]
    pub fn aggregate_type(mut self, aggregate_type: impl Into<String>) -> Self {
        self.aggregate_types.push(aggregate_type.into());
        self
    }

    /// イベントの型で絞り込みます (繰り返し呼ぶと、どれか一つに一致するもの)。
    #[must_use]
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_types.push(event_type.into());
        self
    }

    /// 集約 ID で絞り込みます。
    #[must_use]
    pub fn aggregate_id(mut self, aggregate_id: impl Into<String>) -> Self {
        self.aggregate_id = Some(aggregate_id.into());
        self
    }

    /// 相関 ID で絞り込みます。
    #[must_use]
    pub fn correlation_id(mut self, correlation_id: CorrelationId) -> Self {
        self.correlation_id = Some(correlation_id);
        self
    }

    /// ユーザー ID で絞り込みます。
    #[must_use]
    pub fn user_id(mut self, user_id: UserId) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// ロングポーリングの最大待ち時間を設定します。
    #[must_use]
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }

    /// ログの先頭が進んだら (一致するイベントが無くても) 答えてもらうようにします。
    #[must_use]
    pub fn progress(mut self) -> Self {
        self.progress = true;
        self
    }

    /// URL のクエリ文字列の組に変換します (繰り返す絞り込みは同じ名前の組を並べます)。
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![("after", self.after.to_string())];
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        for t in &self.aggregate_types {
            pairs.push(("aggregate_type", t.clone()));
        }
        for t in &self.event_types {
            pairs.push(("event_type", t.clone()));
        }
        if let Some(id) = &self.aggregate_id {
            pairs.push(("aggregate_id", id.clone()));
        }
        if let Some(id) = self.correlation_id {
            pairs.push(("correlation_id", id.to_string()));
        }
        if let Some(id) = self.user_id {
            pairs.push(("user_id", id.to_string()));
        }
        if let Some(wait) = self.wait {
            pairs.push(("wait_ms", wait.as_millis().to_string()));
        }
        if self.progress {
            pairs.push(("progress", "true".to_owned()));
        }
        pairs
    }
}

impl AppendOutcome {
    /// ワイヤーの結果と状態コード (`200` なら再送) から作ります。
    #[must_use]
    pub fn from_wire(result: AppendResult, replayed: bool) -> Self {
        Self {
            events: result.events.into_iter().map(|e| e.0).collect(),
            last_position: result.last_position,
            last_version: result.last_version,
            replayed,
        }
    }
}

impl From<view::LogPage> for LogPage {
    fn from(page: view::LogPage) -> Self {
        Self {
            events: page.events.into_iter().map(|e| e.0).collect(),
            head: page.head,
        }
    }
}
