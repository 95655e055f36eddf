//! フロントエンドサービス (ポート 3000) のバイナリ: `web/` のデバッグ UI を配ります。
//!
//! ```text
//! frontend --listen 127.0.0.1:3000 --web-dir ./web --gateway-url http://localhost:8080
//! ```
//!
//! 設定はフラグと環境変数で渡します (`frontend --help` に一覧があります)。
//! Ctrl-C または SIGTERM でグレースフルに停止します。

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mediahub_services::frontend::{DEFAULT_LISTEN, DEFAULT_WEB_DIR, FrontendConfig, start};
use mediahub_services::platform::cli::{fail, serve_until_signal, ui_line};
use mediahub_services::platform::telemetry::init_tracing;

const SERVICE: &str = "frontend";

/// MediaHub のデバッグ UI を配る静的ファイルサーバー。UI はゲートウェイだけを呼びます。
#[derive(Debug, Parser)]
#[command(name = "frontend", version)]
struct Args {
    /// 待ち受けアドレス (例: 127.0.0.1:3000、0.0.0.0:3000)。
    #[arg(long, env = "FRONTEND_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: String,

    /// UI のファイル (index.html のあるディレクトリ)。
    #[arg(long, env = "WEB_DIR", default_value = DEFAULT_WEB_DIR)]
    web_dir: PathBuf,

    /// ブラウザーから見たゲートウェイの URL。
    #[arg(long, env = "GATEWAY_URL", default_value = "http://localhost:8080")]
    gateway_url: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(err) = init_tracing("info") {
        return fail(SERVICE, format_args!("ログを設定できません: {err}"));
    }
    if url::Url::parse(&args.gateway_url).is_err() {
        return fail(
            SERVICE,
            format_args!("GATEWAY_URL が URL ではありません: {}", args.gateway_url),
        );
    }
    let config = FrontendConfig::new(&args.web_dir, args.gateway_url).listen(args.listen);
    let service = match start(config).await {
        Ok(service) => service,
        Err(err) => return fail(SERVICE, format_args!("起動できません: {err}")),
    };
    let announcement = ui_line(SERVICE, &service.base_url());
    let shutdown = service.shutdown().clone();
    serve_until_signal(SERVICE, &announcement, shutdown, service.wait()).await
}
