//! 書き込み側: アルバム集約へのコマンドを `CqrsFramework` で実行し、コミット位置を返します。

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateError, CqrsFramework};
use mediahub_core::album::{Album, AlbumCommand, AlbumError as AlbumRuleError};
use mediahub_core::envelope::EventMetadata;
use mediahub_core::ids::AlbumId;

use crate::store_client::{CommitTracker, RemoteEventRepository, execute_with_retry};

/// 版の衝突で再試行する最大の回数。
const MAX_ATTEMPTS: u32 = 5;

type AlbumCqrs = CqrsFramework<Album, PersistedEventStore<RemoteEventRepository, Album>>;

/// アルバム集約のコマンドを実行する窓口 (中央のイベントストアの上の `CqrsFramework`)。
pub struct AlbumCommands {
    cqrs: AlbumCqrs,
    tracker: CommitTracker,
}

impl std::fmt::Debug for AlbumCommands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlbumCommands").finish_non_exhaustive()
    }
}

impl AlbumCommands {
    /// リポジトリから組み立てます。
    #[must_use]
    pub fn new(repo: RemoteEventRepository) -> Self {
        let tracker = repo.commit_tracker();
        let cqrs = CqrsFramework::new(PersistedEventStore::new_event_store(repo), vec![], ());
        Self { cqrs, tracker }
    }

    /// コマンドを (衝突なら読み直して) 実行し、最後にコミットされたイベントの位置を返します。
    /// イベントが出なかった (冪等な再実行) なら 0 です。
    ///
    /// # エラー
    /// 業務ルール違反・衝突の再試行切れ・イベントストアの失敗は `AggregateError`。
    pub async fn execute(
        &self,
        album_id: AlbumId,
        command: AlbumCommand,
        metadata: &EventMetadata,
    ) -> Result<u64, AggregateError<AlbumRuleError>> {
        let outcome = execute_with_retry(
            &self.cqrs,
            &self.tracker,
            &album_id.to_string(),
            || command.clone(),
            metadata,
            MAX_ATTEMPTS,
        )
        .await?;
        Ok(outcome.last_position.unwrap_or(0))
    }
}
