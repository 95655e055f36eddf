//! 通知サービスの設定 ([`NotificationConfig`]) と、バイナリ `notification` の引数 ([`NotificationArgs`])。

use std::path::PathBuf;

use crate::consumer::{ReadSideConfig, ReadSideService};
use crate::platform::config::AuthArgs;
use crate::platform::service::ArgsError;

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8086";
/// 既定のデータベースファイル。
pub const DEFAULT_DATABASE: &str = "./data/notification.db";
/// 既定のイベントストアの URL。
pub const DEFAULT_EVENTSTORE_URL: &str = "http://127.0.0.1:8084";

/// 通知サービスの印 (既定の待ち受けアドレス [`DEFAULT_LISTEN`])。
pub enum NotificationService {}

impl ReadSideService for NotificationService {
    const DEFAULT_LISTEN: &'static str = DEFAULT_LISTEN;
}

/// 通知サービスの設定 (形は読み側のサービスで共通の [`ReadSideConfig`])。
pub type NotificationConfig = ReadSideConfig<NotificationService>;

/// MediaHub の通知サービス: Saga から通知を受け取り、利用者ごとの一覧・未読・既読と
/// Server-Sent Events によるライブ配信を提供します。
#[derive(Debug, clap::Parser)]
#[command(name = "notification", version)]
pub struct NotificationArgs {
    /// 待ち受けアドレス (例: 127.0.0.1:8086、0.0.0.0:8086)。
    #[arg(long, env = "NOTIFICATION_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// イベントストアのベース URL。
    #[arg(long, env = "EVENTSTORE_URL", default_value = DEFAULT_EVENTSTORE_URL)]
    pub eventstore_url: String,

    /// 読みモデルの SQLite のデータベースファイル。無ければディレクトリごと作ります。
    #[arg(long, env = "NOTIFICATION_DATABASE", default_value = DEFAULT_DATABASE)]
    pub database: PathBuf,

    /// JWT の設定。
    #[command(flatten)]
    pub auth: AuthArgs,
}

impl NotificationArgs {
    /// 引数から設定を作ります。
    ///
    /// # エラー
    /// `JWT_SECRET` が使えなければ [`ArgsError`]。
    pub fn into_config(self) -> Result<NotificationConfig, ArgsError> {
        Ok(
            NotificationConfig::new(self.eventstore_url, &self.database, self.auth.keys()?)
                .listen(self.listen),
        )
    }
}
