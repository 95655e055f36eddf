//! メディア集約へのコマンドの実行と、集約の読み込み (中央のイベントストアの上)。

use cqrs_es::Aggregate;
use mediahub_core::envelope::EventMetadata;
use mediahub_core::ids::MediaId;
use mediahub_core::media::{ContentType, Media, MediaCommand, MediaEvent, UploadPolicy};

use super::error::domain_problem;
use crate::platform::problem::Problem;
use crate::store_client::{AggregateCommands, EventStoreClient, RemoteEventRepository};

/// 読み込んだメディアの状態。
#[derive(Debug, Clone)]
pub struct LoadedMedia {
    /// 集約の現在の状態 (イベントを順に適用したもの)。
    pub media: Media,
    /// `MediaUploaded` に記録された形式 (アップロード前や未知の MIME なら `None`)。
    pub content_type: Option<ContentType>,
}

/// メディア集約のコマンドを中央のイベントストアの上で実行する窓口
/// (共通の [`AggregateCommands`] に、状態の読み込み [`MediaCommands::load`] を足したもの)。
#[derive(Debug)]
pub struct MediaCommands {
    commands: AggregateCommands<Media>,
}

impl MediaCommands {
    /// イベントストアのクライアントとアップロード方針から作ります。
    #[must_use]
    pub fn new(client: EventStoreClient, policy: UploadPolicy) -> Self {
        Self {
            commands: AggregateCommands::new(RemoteEventRepository::new(client), policy),
        }
    }

    /// コマンドを実行し、最後のイベントのグローバル位置を返します
    /// (イベントが出なかった冪等な再実行なら 0)。
    ///
    /// `expected_version` が `Some` なら、メディアの版がそれと同じときだけ実行します (`If-Match`)。
    ///
    /// # エラー
    /// 業務ルール違反・版の不一致・通信失敗を problem+json にしたもの。
    pub async fn execute(
        &self,
        id: MediaId,
        expected_version: Option<u64>,
        command: MediaCommand,
        metadata: &EventMetadata,
    ) -> Result<u64, Problem> {
        let outcome = self
            .commands
            .execute(
                &id.to_string(),
                expected_version,
                || command.clone(),
                metadata,
            )
            .await
            .map_err(|e| e.to_problem(domain_problem))?;
        Ok(outcome.position())
    }

    /// イベントストアからメディアのイベントを読み、現在の状態を組み立てます。
    ///
    /// # エラー
    /// 通信失敗や読めないイベントを problem+json にしたもの。
    pub async fn load(&self, id: MediaId) -> Result<LoadedMedia, Problem> {
        let events = self
            .commands
            .load_events(&id.to_string())
            .await
            .map_err(|e| e.to_problem(domain_problem))?;
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
