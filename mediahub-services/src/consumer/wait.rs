//! read-your-writes のための「チェックポイントが位置に届くまで待つ」補助。

use std::time::Duration;

use tokio::sync::watch;

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
