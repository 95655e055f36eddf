//! イベントストア HTTP API の要求と応答の形 (クライアント側の定義)。

use std::time::Duration;

use mediahub_core::envelope::{Envelope, NewEvent};
use mediahub_core::ids::{CorrelationId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// 追記・コミットと一緒に保存するスナップショット。
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotUpdate {
    /// 直列化した集約の状態。
    pub aggregate: Value,
    /// このスナップショットが反映している最後のイベントの版。
    pub current_sequence: u64,
    /// 新しいスナップショットの番号 (1, 2, 3 …)。
    pub current_snapshot: u64,
    /// 置き換える直前のスナップショット番号。初回 (`current_snapshot == 1`) は `None`。
    pub expected_snapshot: Option<u64>,
}

/// 保存済みのスナップショット。
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSnapshot {
    /// 直列化した集約の状態。
    pub aggregate: Value,
    /// このスナップショットが反映している最後のイベントの版。
    pub current_sequence: u64,
    /// スナップショットの番号。
    pub current_snapshot: u64,
}

/// `POST .../events` と `POST .../commit` の要求本体。
#[derive(Debug, Serialize)]
pub(crate) struct CommitBody<'a> {
    pub(crate) expected_version: u64,
    pub(crate) events: &'a [NewEvent],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) snapshot: Option<&'a SnapshotUpdate>,
}

/// 追記・コミットの結果。
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AppendOutcome {
    /// 保存されたイベント (位置と保存時刻つき)。
    pub events: Vec<Envelope>,
    /// 最後のイベントのグローバル位置。
    pub last_position: u64,
    /// 最後のイベントの版 (= ストリームの新しい版)。
    pub last_version: u64,
    /// 同じイベント ID の再送で、保存済みのものが返された (`200`) なら `true`。
    #[serde(skip)]
    pub replayed: bool,
}

/// `GET .../streams/{type}/{id}/events` の応答。
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct StreamEventsBody {
    pub(crate) events: Vec<Envelope>,
}

/// グローバルログの 1 ページ。
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LogPage {
    /// 条件に合うイベント (位置の昇順)。
    pub events: Vec<Envelope>,
    /// 応答時点のログの先頭位置 (最後にコミットされたイベントの位置、空なら 0)。
    pub head: u64,
}

/// `GET /api/v1/head` の応答。
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct HeadBody {
    pub(crate) head: u64,
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
    /// 集約の型で絞り込みます。
    pub aggregate_type: Option<String>,
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

    /// 集約の型で絞り込みます。
    #[must_use]
    pub fn aggregate_type(mut self, aggregate_type: impl Into<String>) -> Self {
        self.aggregate_type = Some(aggregate_type.into());
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

    /// URL のクエリ文字列の組に変換します。
    /// ログの先頭が進んだら (一致するイベントが無くても) 答えてもらうようにします。
    #[must_use]
    pub fn progress(mut self) -> Self {
        self.progress = true;
        self
    }

    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![("after", self.after.to_string())];
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(t) = &self.aggregate_type {
            pairs.push(("aggregate_type", t.clone()));
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
