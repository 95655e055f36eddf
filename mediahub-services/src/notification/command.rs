//! コマンド側: `CqrsFramework<Notification, …>` を中央のイベントストアの上で動かします。

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateError, CqrsFramework};
use mediahub_core::envelope::EventMetadata;
use mediahub_core::ids::NotificationId;
use mediahub_core::notification::{
    Notification, NotificationCommand, NotificationError as CoreNotificationError,
};

use crate::store_client::{
    CommitTracker, EventStoreClient, RemoteEventRepository, execute_with_retry,
};

/// 版の衝突時にコマンドを試す最大回数。
const MAX_ATTEMPTS: u32 = 5;

/// 通知集約の `CqrsFramework` (イベントは HTTP 越しに中央のイベントストアへ)。
pub type NotificationCqrs =
    CqrsFramework<Notification, PersistedEventStore<RemoteEventRepository, Notification>>;

/// 通知集約へのコマンドの窓口。
pub struct NotificationCommands {
    cqrs: NotificationCqrs,
    tracker: CommitTracker,
}

impl std::fmt::Debug for NotificationCommands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationCommands")
            .finish_non_exhaustive()
    }
}

impl NotificationCommands {
    /// イベントストアのクライアントから組み立てます。
    #[must_use]
    pub fn new(client: EventStoreClient) -> Self {
        let repo = RemoteEventRepository::new(client);
        let tracker = repo.commit_tracker();
        let store = PersistedEventStore::new_event_store(repo);
        Self {
            cqrs: CqrsFramework::new(store, vec![], ()),
            tracker,
        }
    }

    /// コマンドを実行し、最後に書いたイベントのグローバル位置を返します
    /// (イベントを出さなかった冪等な再実行なら 0)。
    ///
    /// # エラー
    /// 業務ルール違反・衝突の連続・イベントストアの失敗は `AggregateError`。
    pub async fn execute(
        &self,
        id: NotificationId,
        command: &NotificationCommand,
        metadata: &EventMetadata,
    ) -> Result<u64, AggregateError<CoreNotificationError>> {
        let outcome = execute_with_retry(
            &self.cqrs,
            &self.tracker,
            &id.to_string(),
            || command.clone(),
            metadata,
            MAX_ATTEMPTS,
        )
        .await?;
        Ok(outcome.last_position.unwrap_or(0))
    }
}
