//! 通知サービス (ポート 8086) のバイナリ。
//!
//! ```text
//! JWT_SECRET=$(openssl rand -hex 32) notification --listen 127.0.0.1:8086 \
//!     --eventstore-url http://127.0.0.1:8084 --database ./data/notification.db
//! ```
//!
//! 設定はフラグと環境変数で渡します (`notification --help` に一覧があります)。
//! Ctrl-C または SIGTERM でグレースフルに停止します。

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mediahub_services::notification::{
    DEFAULT_DATABASE, DEFAULT_EVENTSTORE_URL, DEFAULT_LISTEN, NotificationConfig, start,
};
use mediahub_services::platform::cli::{fail, listening_line, serve_until_signal};
use mediahub_services::platform::config::AuthArgs;
use mediahub_services::platform::telemetry::init_tracing;

const SERVICE: &str = "notification";

/// MediaHub の通知サービス: Saga から通知を受け取り、利用者ごとの一覧・未読・既読と
/// Server-Sent Events によるライブ配信を提供します。
#[derive(Debug, Parser)]
#[command(name = "notification", version)]
struct Args {
    /// 待ち受けアドレス (例: 127.0.0.1:8086、0.0.0.0:8086)。
    #[arg(long, env = "NOTIFICATION_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: String,

    /// イベントストアのベース URL。
    #[arg(long, env = "EVENTSTORE_URL", default_value = DEFAULT_EVENTSTORE_URL)]
    eventstore_url: String,

    /// 読みモデルの SQLite のデータベースファイル。無ければディレクトリごと作ります。
    #[arg(long, env = "NOTIFICATION_DATABASE", default_value = DEFAULT_DATABASE)]
    database: PathBuf,

    #[command(flatten)]
    auth: AuthArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(err) = init_tracing("info,sqlx=warn") {
        return fail(SERVICE, format_args!("ログを設定できません: {err}"));
    }
    let keys = match args.auth.keys() {
        Ok(keys) => keys,
        Err(err) => return fail(SERVICE, format_args!("JWT_SECRET が不正です: {err}")),
    };
    let config =
        NotificationConfig::new(args.eventstore_url, &args.database, keys).listen(args.listen);
    let service = match start(config).await {
        Ok(service) => service,
        Err(err) => return fail(SERVICE, format_args!("起動できません: {err}")),
    };
    let announcement = listening_line(SERVICE, &service.base_url());
    let shutdown = service.shutdown().clone();
    serve_until_signal(SERVICE, &announcement, shutdown, service.wait()).await
}
