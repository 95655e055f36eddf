//! Saga の再試行と締め切りのコマンドライン引数と環境変数 (`saga` と `mediahub run` が共有)。
//!
//! 既定値は [`SagaPolicy::default`] と同じです。学習のために「再試行を 1 回にして補償を
//! すぐ見る」「締め切りを短くしてタイムアウトを起こす」といった実験ができます。
//!
//! ```
//! use clap::Parser;
//! use mediahub_core::saga::SagaPolicy;
//! use mediahub_services::saga::SagaPolicyArgs;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     saga: SagaPolicyArgs,
//! }
//!
//! let defaults = Cli::parse_from(["saga"]).saga.policy()?;
//! assert_eq!(defaults, SagaPolicy::default());
//!
//! let quick = Cli::parse_from(["saga", "--saga-album-max-attempts", "1"]).saga.policy()?;
//! assert_eq!(quick.album.max_attempts, 1);
//! # Ok::<(), mediahub_services::saga::SagaPolicyArgsError>(())
//! ```

use std::time::Duration;

use mediahub_core::saga::{RetryPolicy, SagaPolicy};

/// 引数から方針を作れなかった理由。
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SagaPolicyArgsError {
    /// 待ち時間の下限が上限より大きい。
    #[error(
        "SAGA_INITIAL_BACKOFF_MS ({initial_ms}) は SAGA_MAX_BACKOFF_MS ({max_ms}) 以下にしてください"
    )]
    BackoffOrder {
        /// 2 回目の試行の前に待つミリ秒。
        initial_ms: u64,
        /// 待ち時間の上限のミリ秒。
        max_ms: u64,
    },
}

/// Saga のステップごとの最大試行回数、バックオフ、締め切り。
#[derive(Debug, Clone, clap::Args)]
pub struct SagaPolicyArgs {
    /// メディア処理ステップの最大試行回数 (1 回目を含む)。
    #[arg(long, env = "SAGA_PROCESS_MAX_ATTEMPTS", default_value_t = SagaPolicy::default().process.max_attempts, value_parser = clap::value_parser!(u32).range(1..))]
    pub saga_process_max_attempts: u32,

    /// アルバム追加ステップの最大試行回数 (使い切ると補償が始まります)。
    #[arg(long, env = "SAGA_ALBUM_MAX_ATTEMPTS", default_value_t = SagaPolicy::default().album.max_attempts, value_parser = clap::value_parser!(u32).range(1..))]
    pub saga_album_max_attempts: u32,

    /// 通知ステップの最大試行回数 (通知は補償されません)。
    #[arg(long, env = "SAGA_NOTIFY_MAX_ATTEMPTS", default_value_t = SagaPolicy::default().notify.max_attempts, value_parser = clap::value_parser!(u32).range(1..))]
    pub saga_notify_max_attempts: u32,

    /// 補償ステップ (ファイル削除・無効化) の最大試行回数。
    #[arg(long, env = "SAGA_COMPENSATION_MAX_ATTEMPTS", default_value_t = SagaPolicy::default().compensation.max_attempts, value_parser = clap::value_parser!(u32).range(1..))]
    pub saga_compensation_max_attempts: u32,

    /// 処理・アルバム・通知のステップで、2 回目の試行の前に待つミリ秒 (以後 2 倍ずつ)。
    #[arg(long, env = "SAGA_INITIAL_BACKOFF_MS", default_value_t = millis(SagaPolicy::default().process.initial_backoff))]
    pub saga_initial_backoff_ms: u64,

    /// 処理・アルバム・通知のステップの待ち時間の上限 (ミリ秒)。
    #[arg(long, env = "SAGA_MAX_BACKOFF_MS", default_value_t = millis(SagaPolicy::default().process.max_backoff))]
    pub saga_max_backoff_ms: u64,

    /// メディア処理一回の締め切り (ミリ秒)。
    #[arg(long, env = "SAGA_PROCESS_DEADLINE_MS", default_value_t = millis(SagaPolicy::default().process_deadline), value_parser = clap::value_parser!(u64).range(1..))]
    pub saga_process_deadline_ms: u64,

    /// 処理以外のステップ一回の締め切り (ミリ秒)。
    #[arg(long, env = "SAGA_STEP_DEADLINE_MS", default_value_t = millis(SagaPolicy::default().step_deadline), value_parser = clap::value_parser!(u64).range(1..))]
    pub saga_step_deadline_ms: u64,

    /// 一時的な失敗 (接続できない・時間切れ・5xx・429) を、最大試行回数を過ぎても再試行し続ける
    /// 期限 (ステップの 1 回目の試行から、ミリ秒)。コンテナの再起動で補償が始まらないように。
    #[arg(long, env = "SAGA_RETRY_DEADLINE_MS", default_value_t = millis(SagaPolicy::default().retry_deadline))]
    pub saga_retry_deadline_ms: u64,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl SagaPolicyArgs {
    /// 引数から Saga の方針を作ります。補償ステップのバックオフは既定のままです。
    ///
    /// # エラー
    /// 待ち時間の下限が上限より大きければ [`SagaPolicyArgsError::BackoffOrder`]。
    pub fn policy(&self) -> Result<SagaPolicy, SagaPolicyArgsError> {
        if self.saga_initial_backoff_ms > self.saga_max_backoff_ms {
            return Err(SagaPolicyArgsError::BackoffOrder {
                initial_ms: self.saga_initial_backoff_ms,
                max_ms: self.saga_max_backoff_ms,
            });
        }
        let defaults = SagaPolicy::default();
        let forward = |max_attempts| RetryPolicy {
            initial_backoff: Duration::from_millis(self.saga_initial_backoff_ms),
            max_backoff: Duration::from_millis(self.saga_max_backoff_ms),
            max_attempts,
        };
        Ok(SagaPolicy {
            process: forward(self.saga_process_max_attempts),
            album: forward(self.saga_album_max_attempts),
            notify: forward(self.saga_notify_max_attempts),
            compensation: RetryPolicy {
                max_attempts: self.saga_compensation_max_attempts,
                ..defaults.compensation
            },
            process_deadline: Duration::from_millis(self.saga_process_deadline_ms),
            step_deadline: Duration::from_millis(self.saga_step_deadline_ms),
            retry_deadline: Duration::from_millis(self.saga_retry_deadline_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        saga: SagaPolicyArgs,
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("saga").chain(args.iter().copied()))
    }

    #[test]
    fn no_flags_give_the_default_policy() {
        let cli = parse(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.saga.policy(), Ok(SagaPolicy::default()));
    }

    #[test]
    fn every_flag_lands_in_its_own_field_and_compensation_keeps_default_backoff() {
        let cli = parse(&[
            "--saga-process-max-attempts=2",
            "--saga-album-max-attempts=1",
            "--saga-notify-max-attempts=7",
            "--saga-compensation-max-attempts=4",
            "--saga-initial-backoff-ms=10",
            "--saga-max-backoff-ms=80",
            "--saga-process-deadline-ms=1500",
            "--saga-step-deadline-ms=700",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let policy = cli.saga.policy().unwrap_or_else(|e| panic!("{e}"));
        let backoff = (Duration::from_millis(10), Duration::from_millis(80));
        assert_eq!(
            (
                policy.process.max_attempts,
                policy.album.max_attempts,
                policy.notify.max_attempts
            ),
            (2, 1, 7)
        );
        assert_eq!(
            (policy.album.initial_backoff, policy.album.max_backoff),
            backoff
        );
        assert_eq!(policy.compensation.max_attempts, 4);
        assert_eq!(
            policy.compensation.initial_backoff,
            SagaPolicy::default().compensation.initial_backoff
        );
        assert_eq!(policy.process_deadline, Duration::from_millis(1500));
        assert_eq!(policy.step_deadline, Duration::from_millis(700));
    }

    #[test]
    fn zero_attempts_or_zero_deadline_is_rejected_by_the_parser() {
        assert!(parse(&["--saga-album-max-attempts=0"]).is_err());
        assert!(parse(&["--saga-step-deadline-ms=0"]).is_err());
    }

    #[test]
    fn initial_backoff_above_max_is_backoff_order_error_naming_both_values() {
        let cli = parse(&["--saga-initial-backoff-ms=500", "--saga-max-backoff-ms=100"])
            .unwrap_or_else(|e| panic!("{e}"));
        let err = cli.saga.policy().err();
        assert_eq!(
            err,
            Some(SagaPolicyArgsError::BackoffOrder {
                initial_ms: 500,
                max_ms: 100
            })
        );
        assert!(
            err.map(|e| e.to_string())
                .is_some_and(|m| m.contains("500") && m.contains("100"))
        );
    }
}
