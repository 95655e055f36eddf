//! saga サービスの設定 ([`SagaConfig`])、バイナリ `saga` の引数 ([`SagaArgs`])、
//! Saga の再試行と締め切りの引数と環境変数 ([`SagaPolicyArgs`]、`saga` と `mediahub run` が共有)。
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

use std::path::{Path, PathBuf};
use std::time::Duration;

use mediahub_core::saga::{RetryPolicy, SagaPolicy};

use crate::consumer::{ConsumerConfig, ReadSideConfig, ReadSideService};
use crate::platform::auth::JwtKeys;
use crate::platform::config::AuthArgs;
use crate::platform::service::ArgsError;

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8085";
/// 既定のデータベースファイル。
pub const DEFAULT_DATABASE: &str = "./data/saga.db";
/// 既定のイベントストアの URL。
pub const DEFAULT_EVENTSTORE_URL: &str = "http://127.0.0.1:8084";
/// 既定の media-command の URL。
pub const DEFAULT_MEDIA_COMMAND_URL: &str = "http://127.0.0.1:8081";
/// 既定の album の URL。
pub const DEFAULT_ALBUM_URL: &str = "http://127.0.0.1:8083";
/// 既定の notification の URL。
pub const DEFAULT_NOTIFICATION_URL: &str = "http://127.0.0.1:8086";

/// saga サービスの印 (既定の待ち受けアドレス [`DEFAULT_LISTEN`])。
pub enum SagaService {}

impl ReadSideService for SagaService {
    const DEFAULT_LISTEN: &'static str = DEFAULT_LISTEN;
}

/// saga サービスの設定: 読み側で共通の設定 ([`ReadSideConfig`]) に、参加者の URL と
/// 再試行の方針を足したもの。
#[derive(Debug, Clone)]
pub struct SagaConfig {
    /// 待ち受け・イベントストア・データベース・鍵・購読・待ち時間・猶予 (読み側で共通)。
    pub read_side: ReadSideConfig<SagaService>,
    /// media-command の URL (処理・ファイル削除・無効化の依頼先)。
    pub media_command_url: String,
    /// album の URL (デフォルトアルバムへの追加の依頼先)。
    pub album_url: String,
    /// notification の URL (通知の依頼先)。
    pub notification_url: String,
    /// 再試行と締め切りの方針。
    pub policy: SagaPolicy,
}

impl SagaConfig {
    /// データベースファイルと JWT の鍵から、ほかは既定値で作ります。
    #[must_use]
    pub fn new(database: impl AsRef<Path>, keys: JwtKeys) -> Self {
        Self {
            read_side: ReadSideConfig::new(DEFAULT_EVENTSTORE_URL, database, keys),
            media_command_url: DEFAULT_MEDIA_COMMAND_URL.to_owned(),
            album_url: DEFAULT_ALBUM_URL.to_owned(),
            notification_url: DEFAULT_NOTIFICATION_URL.to_owned(),
            policy: SagaPolicy::default(),
        }
    }

    /// 待ち受けアドレスを変えたコピーを返します。
    #[must_use]
    pub fn listen(mut self, listen: impl Into<String>) -> Self {
        self.read_side = self.read_side.listen(listen);
        self
    }

    /// イベントストアの URL を変えたコピーを返します。
    #[must_use]
    pub fn eventstore_url(mut self, url: impl Into<String>) -> Self {
        self.read_side = self.read_side.eventstore_url(url);
        self
    }

    /// media-command の URL を変えたコピーを返します。
    #[must_use]
    pub fn media_command_url(mut self, url: impl Into<String>) -> Self {
        self.media_command_url = url.into();
        self
    }

    /// album の URL を変えたコピーを返します。
    #[must_use]
    pub fn album_url(mut self, url: impl Into<String>) -> Self {
        self.album_url = url.into();
        self
    }

    /// notification の URL を変えたコピーを返します。
    #[must_use]
    pub fn notification_url(mut self, url: impl Into<String>) -> Self {
        self.notification_url = url.into();
        self
    }

    /// 再試行と締め切りの方針を変えたコピーを返します。
    #[must_use]
    pub fn policy(mut self, policy: SagaPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// 購読ランナーの設定を変えたコピーを返します。
    #[must_use]
    pub fn consumer(mut self, consumer: ConsumerConfig) -> Self {
        self.read_side = self.read_side.consumer(consumer);
        self
    }

    /// `min_position` を待つ最長の時間を変えたコピーを返します。
    #[must_use]
    pub fn read_wait(mut self, read_wait: Duration) -> Self {
        self.read_side = self.read_side.read_wait(read_wait);
        self
    }

    /// グレースフルシャットダウンの猶予を変えたコピーを返します。
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.read_side = self.read_side.grace(grace);
        self
    }
}

/// MediaHub の saga サービス: ドメインイベントに反応してメディアアップロード Saga を進め、
/// 参加者 (media-command・album・notification) に依頼し、失敗を再試行または補償します。
#[derive(Debug, clap::Parser)]
#[command(name = "saga", version)]
pub struct SagaArgs {
    /// 待ち受けアドレス (例: 127.0.0.1:8085、0.0.0.0:8085)。
    #[arg(long, env = "SAGA_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// 読みモデルとチェックポイントの SQLite ファイル。無ければディレクトリごと作ります。
    #[arg(long, env = "SAGA_DATABASE", default_value = DEFAULT_DATABASE)]
    pub database: PathBuf,

    /// イベントストアの URL。
    #[arg(long, env = "EVENTSTORE_URL", default_value = DEFAULT_EVENTSTORE_URL)]
    pub eventstore_url: String,

    /// media-command サービスの URL (処理・ファイル削除・無効化の依頼先)。
    #[arg(long, env = "MEDIA_COMMAND_URL", default_value = DEFAULT_MEDIA_COMMAND_URL)]
    pub media_command_url: String,

    /// album サービスの URL (デフォルトアルバムへの追加の依頼先)。
    #[arg(long, env = "ALBUM_URL", default_value = DEFAULT_ALBUM_URL)]
    pub album_url: String,

    /// notification サービスの URL (通知の依頼先)。
    #[arg(long, env = "NOTIFICATION_URL", default_value = DEFAULT_NOTIFICATION_URL)]
    pub notification_url: String,

    /// 再試行と締め切りの方針。
    #[command(flatten)]
    pub policy: SagaPolicyArgs,

    /// JWT の設定。
    #[command(flatten)]
    pub auth: AuthArgs,
}

impl SagaArgs {
    /// 引数から設定を作ります。
    ///
    /// # エラー
    /// `JWT_SECRET` や再試行の方針が使えなければ [`ArgsError`]。
    pub fn into_config(self) -> Result<SagaConfig, ArgsError> {
        let policy = self
            .policy
            .policy()
            .map_err(|err| ArgsError::Invalid(err.to_string()))?;
        Ok(SagaConfig::new(&self.database, self.auth.keys()?)
            .policy(policy)
            .listen(self.listen)
            .eventstore_url(self.eventstore_url)
            .media_command_url(self.media_command_url)
            .album_url(self.album_url)
            .notification_url(self.notification_url))
    }
}

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
