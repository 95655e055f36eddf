//! ドメインイベントを Saga への入力にして実行するリアクター [`SagaReactor`]。
//!
//! 購読ランナー ([`Consumer`](crate::consumer::Consumer)、1 ページ 1 件) がイベントを位置の順に渡し、
//! リアクターは
//!
//! 1. [`SagaInput::from_envelope`] で届け先の Saga と入力に写し (関係なければ何もしない)、
//! 2. Saga を読み込んで、入力で何かが変わるかを純粋な判断関数で確かめ (重複配信なら何もしない)、
//! 3. `React(input)` をイベントストアに実行し、
//! 4. 実行役 ([`Kicker`]) に「この Saga の状態が変わった」と知らせます。
//!
//! ランナーはハンドラが返った **後で** チェックポイントをコミットします。したがって Saga への
//! コマンドは「少なくとも一回」実行されます (コマンドの後・コミットの前に落ちれば、再起動後に
//! 同じイベントがもう一度届く)。Saga の判断関数は重複した入力・古い入力を無視する (イベントを
//! 出さない) ので、二度目は何も書かれません。

use std::sync::Arc;

use mediahub_core::envelope::Envelope;
use mediahub_core::saga::SagaInput;
use sqlx::SqliteConnection;

use super::executor::Kicker;
use super::runtime::{SagaRuntime, saga_metadata};
use crate::consumer::{EventFilter, EventHandler, HandlerError};

/// ドメインイベントを Saga への入力にして実行するリアクター。
#[derive(Debug, Clone)]
pub struct SagaReactor {
    runtime: Arc<SagaRuntime>,
    kicker: Kicker,
}

impl SagaReactor {
    /// 共有の部品と実行役への窓口から作ります。
    #[must_use]
    pub fn new(runtime: Arc<SagaRuntime>, kicker: Kicker) -> Self {
        Self { runtime, kicker }
    }
}

impl EventHandler for SagaReactor {
    async fn handle(
        &self,
        _tx: &mut SqliteConnection,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        let Some((saga_id, input)) = SagaInput::from_envelope(event)? else {
            return Ok(());
        };
        let loaded = self
            .runtime
            .load(saga_id)
            .await
            .map_err(HandlerError::other)?;
        if loaded
            .state
            .react(&input, self.runtime.policy())
            .events
            .is_empty()
        {
            tracing::debug!(%saga_id, position = event.position, "Saga は入力を無視しました (重複・古い入力)");
            return Ok(());
        }
        let owner = match &input {
            SagaInput::MediaUploaded { owner_id, .. } => Some(*owner_id),
            _ => loaded.state.owner_id(),
        };
        let metadata = saga_metadata(
            event.metadata.correlation_id.or(loaded.correlation_id),
            Some(event.id),
            owner,
            Some(event.position),
        );
        self.runtime
            .react(saga_id, &input, &metadata)
            .await
            .map_err(HandlerError::other)?;
        tracing::debug!(%saga_id, event_type = event.event_type.as_str(), "Saga が反応しました");
        self.kicker.kick(saga_id);
        Ok(())
    }

    async fn reset(&self, _tx: &mut SqliteConnection) -> Result<(), HandlerError> {
        // リアクターには読みモデルがありません (状態はイベントストアの Saga のストリーム)。
        Ok(())
    }

    /// Saga への入力になりうるイベント ([`SagaInput::SOURCE_EVENTS`]) だけを、イベントストアに
    /// 選ばせます (アルバムの名前変更や Saga 自身のイベントのコミットでは起こされません)。
    fn filter(&self) -> EventFilter {
        let sources = SagaInput::SOURCE_EVENTS;
        EventFilter::aggregate_types(sources.iter().map(|(aggregate, _)| *aggregate))
            .event_types(sources.iter().map(|(_, event)| *event))
    }
}
