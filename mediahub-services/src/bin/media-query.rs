//! media-query サービス (ポート 8082) のバイナリ: メディアの読み取り側。
//!
//! ```text
//! JWT_SECRET=... media-query --listen 127.0.0.1:8082 \
//!     --eventstore-url http://127.0.0.1:8084 --database ./data/media-query.db
//! ```
//!
//! 設定はフラグと環境変数で渡します (`media-query --help` に一覧があります)。
//! Ctrl-C または SIGTERM でグレースフルに停止します。

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mediahub_services::media_query::{
    DEFAULT_DATABASE, DEFAULT_EVENTSTORE_URL, DEFAULT_LISTEN, MediaQueryConfig, start,
};
use mediahub_services::platform::cli::{fail, listening_line, serve_until_signal};
use mediahub_services::platform::config::AuthArgs;
use mediahub_services::platform::telemetry::init_tracing;

const SERVICE: &str = "media-query";

/// MediaHub の media-query: イベントストアの Media イベントから読みモデルを作り、
/// メディアの一覧・詳細・ファイル名検索・履歴を返します。
#[derive(Debug, Parser)]
#[command(name = "media-query", version)]
struct Args {
    /// 待ち受けアドレス (例: 127.0.0.1:8082、0.0.0.0:8082)。
    #[arg(long, env = "MEDIA_QUERY_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: String,

    /// イベントストアのベース URL。
    #[arg(long, env = "EVENTSTORE_URL", default_value = DEFAULT_EVENTSTORE_URL)]
    eventstore_url: String,

    /// 読みモデルの SQLite ファイル。無ければディレクトリごと作ります。
    #[arg(long, env = "MEDIA_QUERY_DATABASE", default_value = DEFAULT_DATABASE)]
    database: PathBuf,

    /// min_position を待つ最長のミリ秒 (超えたら 503 read_model.not_caught_up)。
    #[arg(
        long,
        env = "MEDIA_QUERY_READ_WAIT_MS",
        default_value_t = 5000,
        value_parser = clap::value_parser!(u64).range(1..=60_000)
    )]
    read_wait_ms: u64,

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
    let config = MediaQueryConfig::new(args.eventstore_url, &args.database, keys)
        .listen(args.listen)
        .read_wait(Duration::from_millis(args.read_wait_ms));
    let service = match start(config).await {
        Ok(service) => service,
        Err(err) => return fail(SERVICE, format_args!("起動できません: {err}")),
    };
    let announcement = listening_line(SERVICE, &service.base_url());
    let shutdown = service.shutdown().clone();
    serve_until_signal(SERVICE, &announcement, shutdown, service.wait()).await
}
