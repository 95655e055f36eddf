//! album の結合テストで共有する補助。
//!
//! 本物のイベントストアと本物の album サービスをポート 0 で起動します。メディアのイベントは
//! (media-command の代わりに) 本物の core のメディア集約を `AggregateCommands` で動かして、
//! 同じイベントストアに書きます。モックはありません。

use std::path::PathBuf;
use std::time::Duration;

use mediahub_core::envelope::{Envelope, EventMetadata};
use mediahub_core::ids::{CorrelationId, MediaId, UserId};
use mediahub_core::media::{
    ContentType, DeletionReason, Media, MediaCommand, ProcessingOutput, UploadPolicy,
};
use mediahub_services::album::{AlbumConfig, AlbumHandle, start};
use mediahub_services::consumer::ConsumerConfig;
use mediahub_services::store_client::{AggregateCommands, LogQuery, RemoteEventRepository};
use serde_json::{Value, json};
use tempfile::TempDir;

pub use super::services::{Caller, DEADLINE, Store, keys, service_token, user_token, wait_until};

/// 本物のメディア集約でメディアのイベントを書く (media-command の代わり)。
pub struct MediaWriter(AggregateCommands<Media>);

impl MediaWriter {
    fn new(store: &Store) -> Self {
        Self(AggregateCommands::new(
            RemoteEventRepository::new(store.client()),
            UploadPolicy::default(),
        ))
    }

    async fn run(&self, media: MediaId, command: MediaCommand, user: Option<UserId>) -> u64 {
        // media-command と同じく、操作ごとに相関 ID を付けます。
        let metadata = EventMetadata {
            user_id: user,
            ..EventMetadata::correlated(CorrelationId::new_random())
        };
        self.0
            .execute(&media.to_string(), None, || command.clone(), &metadata)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .last_position
            .unwrap_or(0)
    }

    /// `owner` のメディアをアップロードし (`MediaUploaded`)、処理済みにします (`MediaProcessed`)。
    /// メディア ID と最後の位置を返します。
    pub async fn upload(&self, owner: UserId) -> (MediaId, u64) {
        let media = MediaId::new_random();
        let upload = MediaCommand::Upload {
            media_id: media,
            owner_id: owner,
            filename: "cat.jpg".into(),
            content_type: ContentType::Jpeg,
            size_bytes: 1024,
            sha256: "ab".repeat(32),
            storage_key: format!("media/{media}/original"),
        };
        self.run(media, upload, Some(owner)).await;
        let processed = MediaCommand::CompleteProcessing(ProcessingOutput {
            thumbnail_key: format!("media/{media}/thumbnail"),
            width: 10,
            height: 10,
            duration_ms: None,
        });
        let position = self.run(media, processed, None).await;
        (media, position)
    }

    /// 所有者としてメディアを削除します (`MediaDeleted`)。
    pub async fn delete(&self, media: MediaId, owner: UserId) -> u64 {
        let command = MediaCommand::Delete {
            requested_by: owner,
            reason: DeletionReason::User,
        };
        self.run(media, command, Some(owner)).await
    }

    /// 補償としてメディアを無効化します (`MediaInvalidated`)。
    pub async fn invalidate(&self, media: MediaId) -> u64 {
        let command = MediaCommand::Invalidate {
            reason: "album step failed".into(),
        };
        self.run(media, command, None).await
    }
}

/// イベントストア・album サービス・メディアの書き手の一式。
pub struct Env {
    pub store: Store,
    pub album: Option<AlbumHandle>,
    pub dir: TempDir,
    pub media: MediaWriter,
    pub read_wait: Duration,
}

/// 速く反応する購読ランナーの設定。
pub fn fast_consumer() -> ConsumerConfig {
    ConsumerConfig {
        long_poll: Duration::from_secs(2),
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        ..ConsumerConfig::default()
    }
}

impl Env {
    /// 既定の設定 (`min_position` の待ちは 5 秒) で起動します。
    pub async fn start() -> Self {
        Self::with_read_wait(Duration::from_secs(5)).await
    }

    /// `min_position` を待つ時間を指定して起動します。
    pub async fn with_read_wait(read_wait: Duration) -> Self {
        let store = Store::start().await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let media = MediaWriter::new(&store);
        let mut env = Self {
            store,
            album: None,
            dir,
            media,
            read_wait,
        };
        env.start_album().await;
        env
    }

    /// 読みモデルのファイル。
    pub fn album_db(&self) -> PathBuf {
        self.dir.path().join("data").join("album.db")
    }

    /// (止まっていれば) album サービスを同じファイルで起動します。
    pub async fn start_album(&mut self) {
        let config = AlbumConfig::new(self.store.base_url(), self.album_db(), keys())
            .listen("127.0.0.1:0")
            .consumer(fast_consumer())
            .read_wait(self.read_wait);
        self.album = Some(start(config).await.unwrap_or_else(|e| panic!("{e}")));
    }

    /// album サービスを止めます (ファイルは残ります)。
    pub async fn stop_album(&mut self) {
        if let Some(album) = self.album.take() {
            album.stop().await.unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// 動いている album サービス。
    pub fn handle(&self) -> &AlbumHandle {
        self.album
            .as_ref()
            .unwrap_or_else(|| panic!("album が動いていません"))
    }

    /// ユーザーとして album を呼ぶ人。
    pub fn user(&self, user: UserId) -> Caller {
        Caller::new(self.handle().base_url(), user_token(&keys(), user))
    }

    /// サービス (saga) として album を呼ぶ人。
    pub fn service(&self) -> Caller {
        Caller::new(self.handle().base_url(), service_token(&keys(), "saga"))
    }

    /// 射影が `position` に届くまで待ちます。
    pub async fn reach(&self, position: u64) {
        let handle = self.handle();
        wait_until(
            &format!("射影が位置 {position} に届く"),
            DEADLINE,
            || {
                let reached = handle.position() >= position;
                async move { reached }
            },
        )
        .await;
    }

    /// イベントストアのログの先頭。
    pub async fn head(&self) -> u64 {
        self.store
            .client()
            .head()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Album 集約のイベント (位置の順)。
    pub async fn album_events(&self) -> Vec<Envelope> {
        self.store
            .client()
            .read_log(&LogQuery::after(0).limit(1000).aggregate_type("Album"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .events
    }

    /// ユーザーとしてアルバムを作り、ID と位置を返します。
    pub async fn create_album(&self, user: UserId, name: &str) -> (String, u64) {
        let (status, body) = self
            .user(user)
            .post("/api/v1/albums", &json!({ "name": name }))
            .await;
        assert_eq!(status, 201, "{body}");
        (id_of(&body["id"]), position_of(&body))
    }

    /// デフォルトアルバムへの追加 (内部 API) を呼びます。
    pub async fn add_to_default(
        &self,
        owner: UserId,
        media: MediaId,
        min_position: u64,
    ) -> (u16, Value) {
        self.service()
            .post(
                "/internal/v1/default-album/media",
                &json!({
                    "owner_id": owner.to_string(),
                    "media_id": media.to_string(),
                    "min_position": min_position,
                }),
            )
            .await
    }
}

/// 応答が problem+json の `status` と `code` であることを確かめます。
pub fn assert_problem(response: &(u16, Value), status: u16, code: &str) {
    let (actual, body) = response;
    assert_eq!(
        (*actual, body["code"].as_str()),
        (status, Some(code)),
        "{body}"
    );
}

/// JSON の文字列。
pub fn id_of(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("文字列ではありません: {value}"))
        .to_owned()
}

/// 応答の `position`。
pub fn position_of(body: &Value) -> u64 {
    body["position"]
        .as_u64()
        .unwrap_or_else(|| panic!("position がありません: {body}"))
}

/// メディアをアルバムに加える要求を送ります (`min_position` まで射影を待たせます)。
pub async fn add_media(
    caller: &Caller,
    album: &str,
    media: MediaId,
    min_position: u64,
) -> (u16, Value) {
    caller
        .post(
            &format!("/api/v1/albums/{album}/media?min_position={min_position}"),
            &json!({ "media_id": media.to_string() }),
        )
        .await
}

/// アルバムの中身のメディア ID。
pub async fn contents(caller: &Caller, album: &str, min_position: u64) -> Vec<String> {
    let (status, body) = caller
        .get(&format!(
            "/api/v1/albums/{album}/media?min_position={min_position}"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items がありません: {body}"))
        .iter()
        .map(|item| id_of(&item["media_id"]))
        .collect()
}
