//! コマンドごとに「最後にコミットしたイベントのグローバル位置」を受け取る仕組み。
//!
//! `cqrs-es` の `CqrsFramework::execute_with_metadata` は `()` しか返さないので、
//! コマンドの応答に位置 ([アーキテクチャ §7](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#7-コンシューマチェックポイントread-your-writes) の read-your-writes) を載せるには別の通り道が要ります。
//! ここでは **メタデータに載せた引換券** を使います。
//!
//! 1. [`CommitTracker::ticket`] で引換券 ([`CommitTicket`]) を発行し、その値を
//!    [`COMMIT_TICKET_KEY`] としてコマンドのメタデータに入れる
//! 2. [`RemoteEventRepository`](super::RemoteEventRepository) の `persist` は、メタデータから
//!    引換券を取り除いてから (保存されるイベントには残らない) 追記し、結果の位置を記録する
//! 3. 呼び出し側は [`CommitTicket::position`] で位置を受け取る
//!
//! 引換券はコマンドごとに別なので、一つの `CqrsFramework` を多数のコマンドが同時に使っても
//! 位置が混ざりません。引換券を捨てると記録も消えます (取り忘れても溜まりません)。
//! 通常は [`AggregateCommands`](super::AggregateCommands) がこれらをまとめて行います。

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use uuid::Uuid;

/// 引換券を入れるメタデータのキー。保存されるイベントには残りません。
pub const COMMIT_TICKET_KEY: &str = "mediahub.commit_ticket";

/// 引換券と、コミットされた位置の対応表。`clone` は同じ表を共有します。
#[derive(Debug, Clone, Default)]
pub struct CommitTracker {
    slots: Arc<Mutex<HashMap<Uuid, Option<u64>>>>,
}

impl CommitTracker {
    /// 空の対応表を作ります。
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// 新しい引換券を発行します。
    #[must_use]
    pub fn ticket(&self) -> CommitTicket {
        let id = Uuid::new_v4();
        self.lock().insert(id, None);
        CommitTicket {
            id,
            tracker: self.clone(),
        }
    }

    /// 発行済みの引換券 `ticket` (メタデータの値) に位置を記録します。
    ///
    /// 知らない値 (発行していない、または既に捨てられた引換券) は無視します。
    pub(crate) fn record(&self, ticket: &str, position: u64) {
        let Ok(id) = Uuid::parse_str(ticket) else {
            return;
        };
        if let Some(slot) = self.lock().get_mut(&id) {
            *slot = Some(position);
        }
    }

    /// まだ捨てられていない引換券の数 (テストと診断用)。
    #[must_use]
    pub fn outstanding(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Option<u64>>> {
        // 保持中にパニックしうる処理はないので、毒化しても中身は整合しています。
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// コマンド 1 回分の引換券。捨てると対応表から消えます。
#[derive(Debug)]
pub struct CommitTicket {
    id: Uuid,
    tracker: CommitTracker,
}

impl CommitTicket {
    /// メタデータ [`COMMIT_TICKET_KEY`] に入れる値。
    #[must_use]
    pub fn value(&self) -> String {
        self.id.to_string()
    }

    /// この引換券で最後にコミットされたイベントのグローバル位置 (まだなければ `None`)。
    #[must_use]
    pub fn position(&self) -> Option<u64> {
        self.tracker.lock().get(&self.id).copied().flatten()
    }
}

impl Drop for CommitTicket {
    fn drop(&mut self) {
        self.tracker.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_position_is_read_back_and_dropped_ticket_is_forgotten() {
        let tracker = CommitTracker::new();
        let ticket = tracker.ticket();
        assert_eq!(ticket.position(), None);
        tracker.record(&ticket.value(), 42);
        assert_eq!(ticket.position(), Some(42));
        assert_eq!(tracker.outstanding(), 1);
        drop(ticket);
        assert_eq!(tracker.outstanding(), 0);
    }

    #[test]
    fn unknown_or_malformed_ticket_records_nothing() {
        let tracker = CommitTracker::new();
        tracker.record("not-a-uuid", 1);
        tracker.record(&Uuid::new_v4().to_string(), 1);
        assert_eq!(tracker.outstanding(), 0);
    }
}
