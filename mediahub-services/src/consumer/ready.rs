//! 読み側のサービスの準備: 起動した時点のログの先頭まで射影が追いついたら `/ready` を 200 にします。

use tokio::sync::watch;

use super::runner::ConsumerConfig;
use crate::platform::server::{Readiness, Shutdown};
use crate::store_client::EventStoreClient;

/// 起動した時点のログの先頭まで購読が一度追いついたら、準備完了にします。
///
/// イベントストアに届かない間は、待ち時間を延ばしながら先頭の読み取りを繰り返します。
pub async fn ready_after_catch_up(
    client: EventStoreClient,
    mut positions: watch::Receiver<u64>,
    readiness: Readiness,
    shutdown: Shutdown,
    config: ConsumerConfig,
) {
    let mut delay = config.initial_backoff;
    let head = loop {
        tokio::select! {
            biased;
            () = shutdown.wait() => return,
            head = client.head() => match head {
                Ok(head) => break head,
                Err(error) => {
                    tracing::warn!(%error, "イベントストアの先頭を読めません。待ってから再試行します");
                }
            },
        }
        tokio::select! {
            biased;
            () = shutdown.wait() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = delay.saturating_mul(2).min(config.max_backoff);
    };
    tokio::select! {
        biased;
        () = shutdown.wait() => {}
        reached = positions.wait_for(|position| *position >= head) => {
            if reached.is_ok() {
                readiness.set_ready(true);
                tracing::info!(head, "読みモデルが起動時の先頭に追いつきました");
            }
        }
    }
}
