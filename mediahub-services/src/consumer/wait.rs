//! read-your-writes のための「チェックポイントが位置に届くまで待つ」補助。

use std::time::Duration;

use poem::http::StatusCode;
use tokio::sync::watch;

use crate::platform::problem::Problem;
use crate::store_client::EventStoreClient;

/// [`wait_for_position`] が位置に届く前に終わった理由。
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// 時間内に届かなかった。
    #[error("{timeout:?} 待っても位置 {min_position} に届きませんでした (現在 {reached})")]
    Timeout {
        /// 待った位置。
        min_position: u64,
        /// 時間切れの時点のチェックポイント。
        reached: u64,
        /// 待った時間。
        timeout: Duration,
    },
    /// 待つ位置がイベントストアのログの先頭より先 (まだ存在しない位置) だった。待たずに返ります。
    #[error("位置 {min_position} はまだログにありません (ログの先頭は {head})")]
    BeyondLog {
        /// 待とうとした位置。
        min_position: u64,
        /// 問い合わせた時点のログの先頭。
        head: u64,
    },
    /// 購読者が止まった (送信側がなくなった)。
    #[error("位置 {min_position} を待つ間に購読者が止まりました (現在 {reached})")]
    Stopped {
        /// 待った位置。
        min_position: u64,
        /// 最後のチェックポイント。
        reached: u64,
    },
}

/// チェックポイントが `min_position` 以上になるまで、最長 `timeout` だけ待ちます。
///
/// クエリのエンドポイントが `min_position` を受け取ったときに使います。既に届いていれば
/// すぐ返ります。返り値は待ち終えた時点のチェックポイントです。
///
/// # エラー
/// 時間内に届かなければ [`WaitError::Timeout`]、購読者が止まれば [`WaitError::Stopped`]。
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use mediahub_services::consumer::{WaitError, wait_for_position};
///
/// let (tx, rx) = tokio::sync::watch::channel(5u64);
/// assert_eq!(wait_for_position(rx.clone(), 5, Duration::ZERO).await, Ok(5));
/// assert!(matches!(
///     wait_for_position(rx, 6, Duration::from_millis(1)).await,
///     Err(WaitError::Timeout { reached: 5, .. })
/// ));
/// drop(tx);
/// # }
/// ```
pub async fn wait_for_position(
    mut rx: watch::Receiver<u64>,
    min_position: u64,
    timeout: Duration,
) -> Result<u64, WaitError> {
    let waited = tokio::time::timeout(timeout, async {
        rx.wait_for(|position| *position >= min_position)
            .await
            .map(|position| *position)
    })
    .await;
    match waited {
        Ok(Ok(position)) => Ok(position),
        Ok(Err(_closed)) => Err(WaitError::Stopped {
            min_position,
            reached: *rx.borrow(),
        }),
        Err(_elapsed) => Err(WaitError::Timeout {
            min_position,
            reached: *rx.borrow(),
            timeout,
        }),
    }
}

/// 待ちきれなかった理由を problem+json にします (読み側のすべてのサービスで同じ形)。
///
/// - 時間切れ・購読者の停止 → 503 `read_model.not_caught_up` (`min_position` と `reached` つき)
/// - ログの先頭より先の位置 → 409 `read_model.position_beyond_log` (`min_position` と `head` つき。
///   要求は正しい形でも、ログの今の状態と食い違う: まだ存在しない位置は読めない)
#[must_use]
pub fn wait_problem(err: &WaitError) -> Problem {
    match *err {
        WaitError::BeyondLog { min_position, head } => {
            Problem::new(StatusCode::CONFLICT, POSITION_BEYOND_LOG, err.to_string())
                .with_extension("min_position", min_position)
                .with_extension("head", head)
        }
        WaitError::Timeout {
            min_position,
            reached,
            ..
        }
        | WaitError::Stopped {
            min_position,
            reached,
        } => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            NOT_CAUGHT_UP,
            err.to_string(),
        )
        .with_extension("min_position", min_position)
        .with_extension("reached", reached),
    }
}

/// `min_position` がログの先頭より先だったときのコード。
pub const POSITION_BEYOND_LOG: &str = "read_model.position_beyond_log";

/// 読みモデルが時間内に `min_position` へ届かなかったときのコード。
pub const NOT_CAUGHT_UP: &str = "read_model.not_caught_up";

/// ログの先頭よりこれだけ先までの位置は「すぐ書かれるはず」として待ちます
/// (例: アップロードの位置 + 1 = Saga の最初のイベント)。それより先は待たずに 409 です。
pub const NEAR_FUTURE: u64 = 1000;

/// チェックポイントの `watch` とイベントストアの窓口を組にした「位置を待つ係」。複製して配れます。
///
/// [`wait_for_position`] と同じく `min_position` までチェックポイントが進むのを待ちますが、
/// まだ届いていないときは先にイベントストアのログの先頭を問い合わせ、`min_position` が先頭より
/// [`NEAR_FUTURE`] を超えて先なら待たずに [`WaitError::BeyondLog`] を返します。近い未来の位置
/// (これから書かれるイベント) は待ち、時間切れの時点でもログがそこまで伸びていなければ
/// [`WaitError::BeyondLog`] (409)、伸びているのに読みモデルが遅れているときだけ
/// [`WaitError::Timeout`] (503) です。でたらめな `min_position` は 5xx になりません。
#[derive(Debug, Clone)]
pub struct PositionWaiter {
    positions: watch::Receiver<u64>,
    client: EventStoreClient,
}

impl PositionWaiter {
    /// チェックポイントの `watch` と、先頭を問い合わせるイベントストアの窓口から作ります。
    #[must_use]
    pub fn new(positions: watch::Receiver<u64>, client: EventStoreClient) -> Self {
        Self { positions, client }
    }

    /// `min_position` (`None` と 0 は待たない) まで最長 `timeout` 待ちます。
    ///
    /// # エラー
    /// 先頭より先の位置なら [`WaitError::BeyondLog`]、ほかは [`wait_for_position`] と同じ。
    /// 先頭を問い合わせられないときは、そのまま待ちます (イベントストアが一時的に落ちていても
    /// 読み側は答えられるように)。
    pub async fn wait(
        &self,
        min_position: Option<u64>,
        timeout: Duration,
    ) -> Result<u64, WaitError> {
        let reached = *self.positions.borrow();
        let Some(min_position) = min_position.filter(|p| *p > reached) else {
            return Ok(reached);
        };
        if let Some(head) = self.head().await {
            if min_position > head.saturating_add(NEAR_FUTURE) {
                return Err(WaitError::BeyondLog { min_position, head });
            }
        }
        match wait_for_position(self.positions.clone(), min_position, timeout).await {
            Err(timeout @ WaitError::Timeout { .. }) => match self.head().await {
                // 待つ間にもログがその位置まで伸びなかった: まだ存在しない位置 (409)。
                Some(head) if min_position > head => {
                    Err(WaitError::BeyondLog { min_position, head })
                }
                _ => Err(timeout),
            },
            other => other,
        }
    }

    async fn head(&self) -> Option<u64> {
        match self.client.head().await {
            Ok(head) => Some(head),
            Err(err) => {
                tracing::debug!(error = %err, "ログの先頭を問い合わせられないので、そのまま待ちます");
                None
            }
        }
    }
}
