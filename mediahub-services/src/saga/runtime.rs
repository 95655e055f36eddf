//! リアクターと実行役が共有する部品: Saga の読み込みと、Saga へのコマンドの実行。

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use cqrs_es::Aggregate;
use mediahub_core::envelope::{EnvelopeError, EventMetadata};
use mediahub_core::ids::{CorrelationId, EventId, SagaId, UserId};
use mediahub_core::saga::{
    MediaUploadSaga, SagaCommand, SagaError, SagaEvent, SagaInput, SagaPolicy,
};

use crate::store_client::{
    AggregateCommands, CommandError, CommandOutcome, EventStoreClient, RemoteEventRepository,
    StoreClientError,
};

/// Saga のイベントのメタデータで、きっかけになったドメインイベントの位置を運ぶキー。
///
/// album への依頼の `min_position` に使います (album の射影がアップロードを見てから追加する)。
pub const TRIGGER_POSITION_KEY: &str = "trigger_position";

/// Saga の読み込みの失敗。
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// イベントストアを読めなかった。
    #[error(transparent)]
    Store(#[from] StoreClientError),
    /// Saga のイベントを読めなかった。
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

/// イベントストアから読み込んだ Saga と、行動に付ける追跡情報。
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedSaga {
    /// Saga の ID。
    pub saga_id: SagaId,
    /// 状態。
    pub state: MediaUploadSaga,
    /// ストリームの版 (イベント数)。
    pub version: u64,
    /// 相関 ID (`SagaStarted` のもの)。
    pub correlation_id: Option<CorrelationId>,
    /// 今の試行を始めた `SagaStepStarted` イベントの ID (参加者への `X-Causation-ID`)。
    pub step_event_id: Option<EventId>,
    /// 最後に反応したドメインイベントの位置 ([`TRIGGER_POSITION_KEY`])。
    pub trigger_position: u64,
    /// 今のステップの 1 回目の試行を始めた時刻 (`SagaStepStarted { attempt: 1 }` の保存時刻)。
    pub step_started_at: Option<DateTime<Utc>>,
}

impl LoadedSaga {
    /// 今のステップの 1 回目の試行を始めてからの時間 (不明なら 0)。
    #[must_use]
    pub fn step_elapsed(&self, now: DateTime<Utc>) -> Duration {
        self.step_started_at
            .and_then(|started| (now - started).to_std().ok())
            .unwrap_or_default()
    }
}

/// Saga 集約へのコマンドの窓口 (HTTP 越しの中央のイベントストアの上)。
pub type SagaCommands = AggregateCommands<MediaUploadSaga>;

/// リアクターと実行役が共有する部品。
pub struct SagaRuntime {
    client: EventStoreClient,
    commands: SagaCommands,
    policy: SagaPolicy,
}

impl std::fmt::Debug for SagaRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SagaRuntime")
            .field("client", &self.client)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl SagaRuntime {
    /// イベントストアのクライアントと方針から作ります。
    #[must_use]
    pub fn new(client: EventStoreClient, policy: SagaPolicy) -> Self {
        let commands = SagaCommands::new(RemoteEventRepository::new(client.clone()), policy);
        Self {
            client,
            commands,
            policy,
        }
    }

    /// 再試行と締め切りの方針。
    #[must_use]
    pub fn policy(&self) -> &SagaPolicy {
        &self.policy
    }

    /// イベントストアのクライアント。
    #[must_use]
    pub fn client(&self) -> &EventStoreClient {
        &self.client
    }

    /// Saga のストリームを読み、状態と追跡情報を組み立てます (無ければ開始前の状態)。
    ///
    /// # エラー
    /// 読めなければ [`LoadError`]。
    pub async fn load(&self, saga_id: SagaId) -> Result<LoadedSaga, LoadError> {
        let events = self
            .client
            .read_stream(MediaUploadSaga::TYPE, &saga_id.to_string(), 0)
            .await?;
        let mut loaded = LoadedSaga {
            saga_id,
            state: MediaUploadSaga::default(),
            version: 0,
            correlation_id: None,
            step_event_id: None,
            trigger_position: 0,
            step_started_at: None,
        };
        for envelope in &events {
            let event = envelope.decode::<SagaEvent>()?;
            match &event {
                SagaEvent::SagaStarted { .. } => {
                    loaded.correlation_id = envelope.metadata.correlation_id;
                }
                SagaEvent::SagaStepStarted { attempt, .. } => {
                    loaded.step_event_id = Some(envelope.id);
                    if *attempt == 1 {
                        loaded.step_started_at = Some(envelope.created_at);
                    }
                }
                _ => {}
            }
            if let Some(position) = envelope
                .metadata
                .extra
                .get(TRIGGER_POSITION_KEY)
                .and_then(|p| p.parse::<u64>().ok())
            {
                loaded.trigger_position = loaded.trigger_position.max(position);
            }
            loaded.state.apply(event);
            loaded.version = envelope.version;
        }
        Ok(loaded)
    }

    /// `React(input)` を Saga に実行します (版の衝突は読み直して再実行)。
    ///
    /// # エラー
    /// 衝突が期限まで続いた、またはイベントストアに書けなければ [`CommandError`]。
    pub async fn react(
        &self,
        saga_id: SagaId,
        input: &SagaInput,
        metadata: &EventMetadata,
    ) -> Result<CommandOutcome, CommandError<SagaError>> {
        self.commands
            .execute(
                &saga_id.to_string(),
                None,
                || SagaCommand::React(input.clone()),
                metadata,
            )
            .await
    }
}

/// Saga のイベントに付けるメタデータを作ります。
#[must_use]
pub fn saga_metadata(
    correlation_id: Option<CorrelationId>,
    causation_id: Option<EventId>,
    owner: Option<UserId>,
    trigger_position: Option<u64>,
) -> EventMetadata {
    let mut extra = BTreeMap::new();
    if let Some(position) = trigger_position {
        extra.insert(TRIGGER_POSITION_KEY.to_owned(), position.to_string());
    }
    EventMetadata {
        correlation_id,
        causation_id: causation_id.map(|id| id.as_uuid()),
        user_id: owner,
        extra,
    }
}
