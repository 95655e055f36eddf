//! イベントストアサービス (ポート 8084) のバイナリ。
//!
//! ```text
//! JWT_SECRET=$(openssl rand -hex 32) eventstore --listen 127.0.0.1:8084 --database ./data/eventstore.db
//! ```
//!
//! 設定はフラグと環境変数で渡します (`eventstore --help` に一覧があります)。
//! Ctrl-C または SIGTERM でグレースフルに停止します。

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mediahub_services::eventstore::{
    DEFAULT_DATABASE, DEFAULT_LISTEN, Durability, EventStoreConfig, start,
};
use mediahub_services::platform::cli::{fail, listening_line, serve_until_signal};
use mediahub_services::platform::config::AuthArgs;
use mediahub_services::platform::telemetry::init_tracing;

const SERVICE: &str = "eventstore";

/// MediaHub のイベントストア: 集約ごとのストリーム (楽観的並行性制御)、隙間のない
/// グローバルログ、ロングポーリングと Server-Sent Events による購読。
#[derive(Debug, Parser)]
#[command(name = "eventstore", version)]
struct Args {
    /// 待ち受けアドレス (例: 127.0.0.1:8084、0.0.0.0:8084)。
    #[arg(long, env = "EVENTSTORE_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: String,

    /// SQLite のデータベースファイル。無ければディレクトリごと作ります。
    #[arg(long, env = "EVENTSTORE_DATABASE", default_value = DEFAULT_DATABASE)]
    database: PathBuf,

    /// コミットの耐久性: full = コミットごとに fsync (既定)、normal = 速さ優先 (OS ごと落ちると
    /// 直前のコミットを失うことがあります)。
    #[arg(long, env = "EVENTSTORE_DURABILITY", value_enum, default_value_t = Durability::Full)]
    durability: Durability,

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
    let config = EventStoreConfig::new(&args.database, keys)
        .listen(args.listen)
        .durability(args.durability);
    let service = match start(config).await {
        Ok(service) => service,
        Err(err) => return fail(SERVICE, format_args!("起動できません: {err}")),
    };
    let announcement = listening_line(SERVICE, &service.base_url());
    let shutdown = service.shutdown().clone();
    serve_until_signal(SERVICE, &announcement, shutdown, service.wait()).await
}
