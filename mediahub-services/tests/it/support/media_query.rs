//! media-query の結合テストの補助。
//!
//! 本物のイベントストア ([`Store`]) を起動し、Media のイベントは **本物のコアの集約** を
//! `AggregateCommands` + `RemoteEventRepository` で動かして作ります (media-command を使わずに、
//! 同じイベントを同じ経路でストアに書きます)。media-query はポート 0 で起動し、HTTP で呼びます。

use std::path::PathBuf;
use std::time::Duration;

use mediahub_core::envelope::EventMetadata;
use mediahub_core::ids::{CorrelationId, MediaId, UserId};
use mediahub_core::media::{
    ContentType, DeletionReason, Media, MediaCommand, ProcessingOutput, UploadPolicy,
};
use mediahub_services::consumer::{ConsumerConfig, wait_for_position};
use mediahub_services::media_query::{MediaQueryConfig, MediaQueryHandle, start};
use mediahub_services::store_client::{AggregateCommands, RemoteEventRepository};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

pub use super::services::{
    Caller, DEADLINE, Store, keys, service_token, status_and_json, testdata, user_token, wait_until,
};

/// テストの既定の `read_wait`。
pub const READ_WAIT: Duration = Duration::from_secs(5);

/// イベントストア + コアの集約 (コマンド側の代わり) + media-query。
pub struct Env {
    pub store: Store,
    pub dir: TempDir,
    pub service: Option<MediaQueryHandle>,
    commands: AggregateCommands<Media>,
    read_wait: Duration,
}

impl Env {
    /// ストアと media-query を起動します。
    pub async fn start() -> Self {
        Self::start_with_read_wait(READ_WAIT).await
    }

    /// `read_wait` を指定して起動します。
    pub async fn start_with_read_wait(read_wait: Duration) -> Self {
        let mut env = Self::without_service(read_wait).await;
        env.boot().await;
        env
    }

    /// ストアだけを起動します (media-query は [`Env::boot`] で)。
    pub async fn without_service(read_wait: Duration) -> Self {
        let store = Store::start().await;
        let commands = AggregateCommands::new(
            RemoteEventRepository::new(store.client()),
            UploadPolicy::default(),
        );
        Self {
            store,
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
            service: None,
            commands,
            read_wait,
        }
    }

    /// 読みモデルのファイル。
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("media-query.db")
    }

    /// media-query を (同じファイルで) 起動します。
    pub async fn boot(&mut self) {
        let path = self.db_path();
        self.service = Some(self.replica(&path).await);
    }

    /// 同じイベントストアを読む media-query を、別の読みモデルのファイル `path` でもう 1 つ起動します
    /// (レプリカ。止めるのは呼んだ側)。
    pub async fn replica(&self, path: &std::path::Path) -> MediaQueryHandle {
        let consumer = ConsumerConfig {
            page_size: 4,
            long_poll: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(100),
        };
        let config = MediaQueryConfig::new(self.store.base_url(), path, keys())
            .listen("127.0.0.1:0")
            .consumer(consumer)
            .read_wait(self.read_wait)
            .grace(Duration::from_secs(2));
        start(config).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// media-query を止めます (ファイルは残ります)。
    pub async fn stop(&mut self) {
        if let Some(service) = self.service.take() {
            service.stop().await.unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// 動いている media-query。
    pub fn service(&self) -> &MediaQueryHandle {
        self.service
            .as_ref()
            .unwrap_or_else(|| panic!("media-query が動いていません"))
    }

    /// ユーザーとして呼ぶ人。
    pub fn user(&self, user: UserId) -> Caller {
        Caller::new(self.service().base_url(), user_token(&keys(), user))
    }

    /// サービス (saga) として呼ぶ人。
    pub fn as_service(&self) -> Caller {
        Caller::new(self.service().base_url(), service_token(&keys(), "saga"))
    }

    /// 読みモデルが `position` まで進むのを待ちます。
    pub async fn caught_up(&self, position: u64) {
        wait_for_position(self.service().subscribe(), position, DEADLINE)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    async fn execute(&self, id: MediaId, metadata: &EventMetadata, command: MediaCommand) -> u64 {
        self.commands
            .execute(&id.to_string(), None, || command.clone(), metadata)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .last_position
            .unwrap_or_else(|| panic!("イベントが出ませんでした"))
    }

    /// `testdata/<file>` の中身を `filename` としてアップロードし、(メディア ID, 位置) を返します。
    pub async fn upload(&self, owner: UserId, filename: &str, file: &str) -> (MediaId, u64) {
        let bytes = testdata(file);
        let content_type =
            ContentType::sniff(&bytes).unwrap_or_else(|| panic!("{file} は許可形式ではない"));
        let media_id = MediaId::new_random();
        let sha256: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let metadata = EventMetadata::correlated(CorrelationId::new_random()).by_user(owner);
        let command = MediaCommand::Upload {
            media_id,
            owner_id: owner,
            filename: filename.into(),
            content_type,
            size_bytes: bytes.len() as u64,
            sha256,
            storage_key: format!("media/{media_id}/original"),
        };
        (media_id, self.execute(media_id, &metadata, command).await)
    }

    /// 画像の処理を完了させます。
    pub async fn process(&self, id: MediaId, width: u32, height: u32) -> u64 {
        let output = ProcessingOutput {
            thumbnail_key: format!("media/{id}/thumbnail.jpg"),
            width,
            height,
            duration_ms: None,
        };
        self.execute(
            id,
            &EventMetadata::default(),
            MediaCommand::CompleteProcessing(output),
        )
        .await
    }

    /// 所有者が削除します。
    pub async fn delete(&self, id: MediaId, owner: UserId) -> u64 {
        let command = MediaCommand::Delete {
            requested_by: owner,
            reason: DeletionReason::User,
        };
        self.execute(id, &EventMetadata::default().by_user(owner), command)
            .await
    }

    /// 処理を失敗させます。
    pub async fn fail(&self, id: MediaId, reason: &str) -> u64 {
        let command = MediaCommand::FailProcessing {
            reason: reason.into(),
        };
        self.execute(id, &EventMetadata::default(), command).await
    }

    /// 補償として無効化します。
    pub async fn invalidate(&self, id: MediaId, reason: &str) -> u64 {
        let command = MediaCommand::Invalidate {
            reason: reason.into(),
        };
        self.execute(id, &EventMetadata::default(), command).await
    }
}

/// 一覧の `items` の `id` の並び。
pub fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items がない: {body}"))
        .iter()
        .map(|item| item["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// メディア ID の文字列。
pub fn id_text(id: MediaId) -> String {
    id.to_string()
}
