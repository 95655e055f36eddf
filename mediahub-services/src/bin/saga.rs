//! saga サービス (ポート 8085) のバイナリ: メディアアップロード Saga のオーケストレーター。
//!
//! ```text
//! JWT_SECRET=... EVENTSTORE_URL=http://127.0.0.1:8084 saga --listen 127.0.0.1:8085
//! ```
//!
//! 設定はフラグと環境変数で渡します (`saga --help` に一覧があります)。
//! Ctrl-C または SIGTERM でグレースフルに停止します。

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mediahub_services::platform::cli::{fail, listening_line, parse_args, serve_until_signal};
use mediahub_services::platform::config::AuthArgs;
use mediahub_services::platform::telemetry::init_tracing;
use mediahub_services::saga::{
    DEFAULT_ALBUM_URL, DEFAULT_DATABASE, DEFAULT_EVENTSTORE_URL, DEFAULT_LISTEN,
    DEFAULT_MEDIA_COMMAND_URL, DEFAULT_NOTIFICATION_URL, SagaConfig, SagaPolicyArgs, start,
};

const SERVICE: &str = "saga";

/// MediaHub の saga サービス: ドメインイベントに反応してメディアアップロード Saga を進め、
/// 参加者 (media-command・album・notification) に依頼し、失敗を再試行または補償します。
#[derive(Debug, Parser)]
#[command(name = "saga", version)]
struct Args {
    /// 待ち受けアドレス (例: 127.0.0.1:8085、0.0.0.0:8085)。
    #[arg(long, env = "SAGA_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: String,

    /// 読みモデルとチェックポイントの SQLite ファイル。無ければディレクトリごと作ります。
    #[arg(long, env = "SAGA_DATABASE", default_value = DEFAULT_DATABASE)]
    database: PathBuf,

    /// イベントストアの URL。
    #[arg(long, env = "EVENTSTORE_URL", default_value = DEFAULT_EVENTSTORE_URL)]
    eventstore_url: String,

    /// media-command サービスの URL (処理・ファイル削除・無効化の依頼先)。
    #[arg(long, env = "MEDIA_COMMAND_URL", default_value = DEFAULT_MEDIA_COMMAND_URL)]
    media_command_url: String,

    /// album サービスの URL (デフォルトアルバムへの追加の依頼先)。
    #[arg(long, env = "ALBUM_URL", default_value = DEFAULT_ALBUM_URL)]
    album_url: String,

    /// notification サービスの URL (通知の依頼先)。
    #[arg(long, env = "NOTIFICATION_URL", default_value = DEFAULT_NOTIFICATION_URL)]
    notification_url: String,

    #[command(flatten)]
    policy: SagaPolicyArgs,

    #[command(flatten)]
    auth: AuthArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    if let Err(err) = init_tracing("info,sqlx=warn") {
        return fail(SERVICE, format_args!("ログを設定できません: {err}"));
    }
    let keys = match args.auth.keys() {
        Ok(keys) => keys,
        Err(err) => return fail(SERVICE, format_args!("JWT_SECRET が不正です: {err}")),
    };
    let policy = match args.policy.policy() {
        Ok(policy) => policy,
        Err(err) => return fail(SERVICE, format_args!("{err}")),
    };
    let config = SagaConfig::new(&args.database, keys)
        .policy(policy)
        .listen(args.listen)
        .eventstore_url(args.eventstore_url)
        .media_command_url(args.media_command_url)
        .album_url(args.album_url)
        .notification_url(args.notification_url);
    let service = match start(config).await {
        Ok(service) => service,
        Err(err) => return fail(SERVICE, format_args!("起動できません: {err}")),
    };
    let announcement = listening_line(SERVICE, &service.base_url());
    let shutdown = service.shutdown().clone();
    serve_until_signal(SERVICE, &announcement, shutdown, service.wait()).await
}
