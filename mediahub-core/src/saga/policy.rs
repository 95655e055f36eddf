//! 再試行 (指数バックオフ) と締め切りの純粋な方針。
//!
//! 時計も乱数も使いません。「n 回目の試行の前に何秒待つか」「何回まで試すか」
//! 「一回の試行を何秒で諦めるか」を計算するだけで、実際に待つのはサービス層です。

use std::time::Duration;

use super::step::SagaStep;

/// 指数バックオフによる再試行の方針。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// 2 回目の試行の前に待つ時間。以後は 2 倍ずつ増えます。
    pub initial_backoff: Duration,
    /// 待ち時間の上限。
    pub max_backoff: Duration,
    /// 最大試行回数 (1 回目を含む)。
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// `attempt` 回目 (1 始まり) の試行の前に待つ時間。
    ///
    /// 1 回目は待たず、2 回目は `initial_backoff`、以後は 2 倍ずつ、`max_backoff` で頭打ちです。
    ///
    /// ```
    /// use std::time::Duration;
    /// use mediahub_core::saga::RetryPolicy;
    /// let policy = RetryPolicy {
    ///     initial_backoff: Duration::from_millis(100),
    ///     max_backoff: Duration::from_millis(350),
    ///     max_attempts: 5,
    /// };
    /// let delays: Vec<u128> = (1..=5).map(|n| policy.backoff_before(n).as_millis()).collect();
    /// assert_eq!(delays, [0, 100, 200, 350, 350]);
    /// ```
    #[must_use]
    pub fn backoff_before(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let doublings = (attempt - 2).min(31);
        self.initial_backoff
            .checked_mul(1_u32 << doublings)
            .map_or(self.max_backoff, |d| d.min(self.max_backoff))
    }

    /// `attempt` 回目の試行が失敗したあと、もう一度試してよいか。
    #[must_use]
    pub const fn allows_retry_after(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }
}

/// Saga 全体の方針: ステップごとの再試行と締め切り。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SagaPolicy {
    /// メディア処理ステップの再試行。
    pub process: RetryPolicy,
    /// アルバム追加ステップの再試行。
    pub album: RetryPolicy,
    /// 通知ステップの再試行 (通知は補償されず、再試行だけされます)。
    pub notify: RetryPolicy,
    /// 補償ステップの再試行。
    pub compensation: RetryPolicy,
    /// メディア処理一回の締め切り。
    pub process_deadline: Duration,
    /// 処理以外のステップ一回の締め切り。
    pub step_deadline: Duration,
    /// 一時的な失敗を再試行し続ける期限 (ステップの 1 回目の試行を始めてから)。
    ///
    /// 一時的な失敗 (接続できない・時間切れ・5xx・429) は、試行回数が `max_attempts` に
    /// 達していても、ステップを始めてからこの時間が経つまでは再試行します。コンテナの再起動
    /// (数秒) で補償が始まらないためです。業務上の失敗 (4xx・`MediaProcessingFailed`) は
    /// これに関係なく、すぐに補償へ進みます。
    pub retry_deadline: Duration,
}

impl Default for SagaPolicy {
    fn default() -> Self {
        let quick = RetryPolicy {
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            max_attempts: 3,
        };
        Self {
            process: quick,
            album: quick,
            notify: RetryPolicy {
                max_attempts: 5,
                ..quick
            },
            compensation: RetryPolicy {
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(10),
                max_attempts: 10,
            },
            process_deadline: Duration::from_secs(30),
            step_deadline: Duration::from_secs(10),
            retry_deadline: DEFAULT_RETRY_DEADLINE,
        }
    }
}

/// [`SagaPolicy::retry_deadline`] の既定値 (コンテナの再起動より十分に長く)。
pub const DEFAULT_RETRY_DEADLINE: Duration = Duration::from_secs(30);

impl SagaPolicy {
    /// ステップの再試行方針。
    #[must_use]
    pub const fn retry_for(&self, step: SagaStep) -> &RetryPolicy {
        match step {
            SagaStep::ProcessMedia => &self.process,
            SagaStep::AddToAlbum => &self.album,
            SagaStep::Notify => &self.notify,
            SagaStep::DeleteUploadedFile | SagaStep::InvalidateMedia => &self.compensation,
        }
    }

    /// `step` の `attempt` 回目の試行が一時的な失敗に終わったとき、もう一度試してよいか。
    ///
    /// `elapsed` はそのステップの 1 回目の試行を始めてからの時間です。試行回数が
    /// `max_attempts` 未満か、`elapsed` が [`SagaPolicy::retry_deadline`] 未満なら再試行します。
    ///
    /// ```
    /// use std::time::Duration;
    /// use mediahub_core::saga::{SagaPolicy, SagaStep};
    /// let policy = SagaPolicy::default(); // アルバム追加は 3 回、期限は 30 秒
    /// assert!(policy.allows_retry(SagaStep::AddToAlbum, 2, Duration::ZERO));
    /// assert!(policy.allows_retry(SagaStep::AddToAlbum, 7, Duration::from_secs(3)));
    /// assert!(!policy.allows_retry(SagaStep::AddToAlbum, 7, Duration::from_secs(31)));
    /// ```
    #[must_use]
    pub fn allows_retry(&self, step: SagaStep, attempt: u32, elapsed: Duration) -> bool {
        self.retry_for(step).allows_retry_after(attempt) || elapsed < self.retry_deadline
    }

    /// ステップ一回の締め切り。
    #[must_use]
    pub const fn deadline_for(&self, step: SagaStep) -> Duration {
        match step {
            SagaStep::ProcessMedia => self.process_deadline,
            _ => self.step_deadline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_of_first_attempt_is_zero_then_doubles_up_to_cap() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(70),
            max_attempts: 10,
        };
        let delays: Vec<u128> = (0..=6)
            .map(|n| policy.backoff_before(n).as_millis())
            .collect();
        assert_eq!(delays, [0, 0, 10, 20, 40, 70, 70]);
    }

    #[test]
    fn backoff_of_huge_attempt_saturates_at_cap_without_overflow() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_attempts: u32::MAX,
        };
        assert_eq!(policy.backoff_before(u32::MAX), Duration::from_secs(60));
        assert_eq!(policy.backoff_before(40), Duration::from_secs(60));
    }

    #[test]
    fn retry_is_allowed_only_below_max_attempts() {
        let policy = SagaPolicy::default().album;
        assert!(policy.allows_retry_after(1));
        assert!(policy.allows_retry_after(2));
        assert!(!policy.allows_retry_after(3));
    }

    #[test]
    fn default_policy_gives_process_longer_deadline_and_compensation_more_attempts() {
        let policy = SagaPolicy::default();
        assert!(
            policy.deadline_for(SagaStep::ProcessMedia) > policy.deadline_for(SagaStep::Notify)
        );
        assert_eq!(
            policy.deadline_for(SagaStep::AddToAlbum),
            policy.deadline_for(SagaStep::InvalidateMedia)
        );
        for step in SagaStep::ALL {
            let attempts = policy.retry_for(step).max_attempts;
            if step.is_compensation() {
                assert_eq!(attempts, 10);
            } else {
                assert!((3..=5).contains(&attempts));
            }
        }
    }
}
