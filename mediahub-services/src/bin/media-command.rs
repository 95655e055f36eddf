//! media-command サービス (ポート 8081) のバイナリ。
//!
//! ```text
//! JWT_SECRET=$(openssl rand -hex 32) media-command --listen 127.0.0.1:8081 \
//!     --eventstore-url http://127.0.0.1:8084 --storage-dir ./data/media
//! ```
//!
//! 設定はフラグと環境変数で渡します (`media-command --help` に一覧があります)。
//! Ctrl-C または SIGTERM でグレースフルに停止します。

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mediahub_core::media::DEFAULT_MAX_UPLOAD_BYTES;
use mediahub_services::media_command::{
    DEFAULT_LISTEN, DEFAULT_STORAGE_DIR, MediaCommandConfig, start,
};
use mediahub_services::platform::cli::{fail, listening_line, parse_args, serve_until_signal};
use mediahub_services::platform::config::AuthArgs;
use mediahub_services::platform::telemetry::init_tracing;

const SERVICE: &str = "media-command";

/// MediaHub の media-command: メディアのアップロード (流したまま保存)・削除・ファイル取得と、
/// Saga から呼ばれる処理 (サムネイル生成) と補償。
#[derive(Debug, Parser)]
#[command(name = "media-command", version)]
struct Args {
    /// 待ち受けアドレス (例: 127.0.0.1:8081、0.0.0.0:8081)。
    #[arg(long, env = "MEDIA_COMMAND_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: String,

    /// イベントストアのベース URL。
    #[arg(long, env = "EVENTSTORE_URL", default_value = "http://127.0.0.1:8084")]
    eventstore_url: String,

    /// 元ファイルとサムネイルの保存先ディレクトリ。無ければ作ります。
    #[arg(long, env = "MEDIA_COMMAND_STORAGE_DIR", default_value = DEFAULT_STORAGE_DIR)]
    storage_dir: PathBuf,

    /// アップロードの上限 (バイト、1 以上)。既定は 50 MB (50,000,000 バイト)。
    #[arg(
        long,
        env = "MEDIA_MAX_UPLOAD_BYTES",
        default_value_t = DEFAULT_MAX_UPLOAD_BYTES,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    max_upload_bytes: u64,

    /// 障害注入 (アップロードの X-Fault-Inject ヘッダー) を受け付ける (開発・学習用)。
    #[arg(long, env = "FAULT_INJECTION")]
    fault_injection: bool,

    #[command(flatten)]
    auth: AuthArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    if let Err(err) = init_tracing("info") {
        return fail(SERVICE, format_args!("ログを設定できません: {err}"));
    }
    let keys = match args.auth.keys() {
        Ok(keys) => keys,
        Err(err) => return fail(SERVICE, format_args!("JWT_SECRET が不正です: {err}")),
    };
    let config = MediaCommandConfig::new(&args.eventstore_url, &args.storage_dir, keys)
        .listen(args.listen)
        .max_upload_bytes(args.max_upload_bytes)
        .fault_injection(args.fault_injection);
    let service = match start(config).await {
        Ok(service) => service,
        Err(err) => return fail(SERVICE, format_args!("起動できません: {err}")),
    };
    if args.fault_injection {
        println!("{SERVICE}: 障害注入が有効です (開発・学習用)");
    }
    let announcement = listening_line(SERVICE, &service.base_url());
    let shutdown = service.shutdown().clone();
    serve_until_signal(SERVICE, &announcement, shutdown, service.wait()).await
}
