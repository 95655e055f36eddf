//! メディア集約へのコマンドの実行と、集約の読み込み (`CqrsFramework` over HTTP)。

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, CqrsFramework, EventStore};
use mediahub_core::envelope::EventMetadata;
use mediahub_core::ids::MediaId;
use mediahub_core::media::{ContentType, Media, MediaCommand, MediaEvent, UploadPolicy};

use super::error::command_problem;
use crate::platform::problem::Problem;
use crate::store_client::{
    CommitTracker, EventStoreClient, RemoteEventRepository, execute_with_retry,
};

/// 版の衝突のときにコマンドを試す最大の回数。
const MAX_ATTEMPTS: u32 = 5;

type MediaStore = PersistedEventStore<RemoteEventRepository, Media>;

/// 読み込んだメディアの状態。
#[derive(Debug, Clone)]
pub struct LoadedMedia {
    /// 集約の現在の状態 (イベントを順に適用したもの)。
    pub media: Media,
    /// `MediaUploaded` に記録された形式 (アップロード前や未知の MIME なら `None`)。
    pub content_type: Option<ContentType>,
}

/// メディア集約のコマンドを中央のイベントストアの上で実行する窓口。
pub struct MediaCommands {
    cqrs: CqrsFramework<Media, MediaStore>,
    store: MediaStore,
    tracker: CommitTracker,
}

impl std::fmt::Debug for MediaCommands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaCommands").finish_non_exhaustive()
    }
}

impl MediaCommands {
    /// イベントストアのクライアントとアップロード方針から作ります。
    #[must_use]
    pub fn new(client: EventStoreClient, policy: UploadPolicy) -> Self {
        let repo = RemoteEventRepository::new(client);
        let tracker = repo.commit_tracker();
        let store = PersistedEventStore::new_event_store(repo.clone());
        let cqrs = CqrsFramework::new(PersistedEventStore::new_event_store(repo), vec![], policy);
        Self {
            cqrs,
            store,
            tracker,
        }
    }

    /// コマンドを実行し、最後のイベントのグローバル位置を返します
    /// (イベントが出なかった冪等な再実行なら 0)。
    ///
    /// # エラー
    /// 業務ルール違反・衝突・通信失敗を problem+json にしたもの。
    pub async fn execute(
        &self,
        id: MediaId,
        command: MediaCommand,
        metadata: &EventMetadata,
    ) -> Result<u64, Problem> {
        let outcome = execute_with_retry(
            &self.cqrs,
            &self.tracker,
            &id.to_string(),
            || command.clone(),
            metadata,
            MAX_ATTEMPTS,
        )
        .await
        .map_err(command_problem)?;
        Ok(outcome.last_position.unwrap_or(0))
    }

    /// イベントストアからメディアのイベントを読み、現在の状態を組み立てます。
    ///
    /// # エラー
    /// 通信失敗や読めないイベントを problem+json にしたもの。
    pub async fn load(&self, id: MediaId) -> Result<LoadedMedia, Problem> {
        let events = self
            .store
            .load_events(&id.to_string())
            .await
            .map_err(command_problem)?;
        let mut loaded = LoadedMedia {
            media: Media::default(),
            content_type: None,
        };
        for envelope in events {
            if let MediaEvent::MediaUploaded { content_type, .. } = &envelope.payload {
                loaded.content_type = ContentType::from_mime(content_type);
            }
            loaded.media.apply(envelope.payload);
        }
        Ok(loaded)
    }
}
