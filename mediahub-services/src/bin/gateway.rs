//! ゲートウェイ (ポート 8080) のバイナリ。
//!
//! ```text
//! JWT_SECRET=$(openssl rand -hex 32) DEV_LOGIN=true gateway --listen 127.0.0.1:8080
//! ```
//!
//! 設定はフラグと環境変数で渡します (`gateway --help` に一覧があります)。
//! GitHub / Google はクライアント ID とシークレットの両方があるときだけ有効になります。
//! Ctrl-C または SIGTERM でグレースフルに停止します。

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mediahub_services::gateway::{
    DEFAULT_DATABASE, DEFAULT_FRONTEND_URL, DEFAULT_LISTEN, DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_PUBLIC_URL, GatewayConfig, OAuthArgs, UpstreamUrls, start,
};
use mediahub_services::platform::cli::{fail, listening_line, serve_until_signal};
use mediahub_services::platform::config::AuthArgs;
use mediahub_services::platform::telemetry::init_tracing;

const SERVICE: &str = "gateway";

/// MediaHub のゲートウェイ: OAuth2 (GitHub / Google) ログイン、JWT の発行、公開 API の中継、CORS。
#[derive(Debug, Parser)]
#[command(name = "gateway", version)]
struct Args {
    /// 待ち受けアドレス (例: 127.0.0.1:8080、0.0.0.0:8080)。
    #[arg(long, env = "GATEWAY_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: String,

    /// 外から見たゲートウェイの URL。OAuth2 の redirect_uri は {これ}/auth/{provider}/callback です。
    #[arg(long, env = "GATEWAY_PUBLIC_URL", default_value = DEFAULT_PUBLIC_URL)]
    public_url: String,

    /// フロントエンドの URL (ログイン後のリダイレクト先、CORS で許可するオリジン)。
    #[arg(long, env = "FRONTEND_URL", default_value = DEFAULT_FRONTEND_URL)]
    frontend_url: String,

    /// CORS で追加で許可するオリジン (カンマ区切り)。
    #[arg(long, env = "GATEWAY_EXTRA_ORIGINS", value_delimiter = ',')]
    extra_origins: Vec<String>,

    /// ユーザー索引の SQLite ファイル。無ければディレクトリごと作ります。
    #[arg(long, env = "GATEWAY_DATABASE", default_value = DEFAULT_DATABASE)]
    database: PathBuf,

    /// 開発用ログイン (POST /auth/dev-token) を有効にします。誰でもどのユーザーにもなれるので、
    /// 手元の開発以外では有効にしないでください。
    #[arg(long, env = "DEV_LOGIN", default_value_t = false)]
    dev_login: bool,

    /// アップロードの上限 (バイト)。
    #[arg(long, env = "GATEWAY_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    max_upload_bytes: u64,

    /// 上流の応答待ち時間 (秒、応答ヘッダーまで。SSE には適用しません)。
    #[arg(long, env = "GATEWAY_UPSTREAM_TIMEOUT_SECS", default_value_t = 30)]
    upstream_timeout_secs: u64,

    /// イベントストアの URL。
    #[arg(long, env = "EVENTSTORE_URL", default_value = "http://127.0.0.1:8084")]
    eventstore_url: String,

    /// media-command の URL。
    #[arg(
        long,
        env = "MEDIA_COMMAND_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    media_command_url: String,

    /// media-query の URL。
    #[arg(long, env = "MEDIA_QUERY_URL", default_value = "http://127.0.0.1:8082")]
    media_query_url: String,

    /// album の URL。
    #[arg(long, env = "ALBUM_URL", default_value = "http://127.0.0.1:8083")]
    album_url: String,

    /// notification の URL。
    #[arg(
        long,
        env = "NOTIFICATION_URL",
        default_value = "http://127.0.0.1:8086"
    )]
    notification_url: String,

    /// saga の URL。
    #[arg(long, env = "SAGA_URL", default_value = "http://127.0.0.1:8085")]
    saga_url: String,

    #[command(flatten)]
    oauth: OAuthArgs,

    #[command(flatten)]
    auth: AuthArgs,
}

fn config(args: &Args) -> Result<GatewayConfig, String> {
    let keys = args
        .auth
        .keys()
        .map_err(|e| format!("JWT_SECRET が不正です: {e}"))?;
    let (github, google) = args.oauth.providers();
    Ok(GatewayConfig::new(&args.database, keys)
        .listen(args.listen.clone())
        .public_url(args.public_url.clone())
        .frontend_url(args.frontend_url.clone())
        .extra_origins(args.extra_origins.clone())
        .service_urls(&UpstreamUrls {
            media_command: args.media_command_url.clone(),
            media_query: args.media_query_url.clone(),
            album: args.album_url.clone(),
            eventstore: args.eventstore_url.clone(),
            saga: args.saga_url.clone(),
            notification: args.notification_url.clone(),
        })
        .github(github)
        .google(google)
        .dev_login(args.dev_login)
        .max_upload_bytes(args.max_upload_bytes)
        .upstream_timeout(Duration::from_secs(args.upstream_timeout_secs.max(1))))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(err) = init_tracing("info,sqlx=warn") {
        return fail(SERVICE, format_args!("ログを設定できません: {err}"));
    }
    let config = match config(&args) {
        Ok(config) => config,
        Err(err) => return fail(SERVICE, err),
    };
    let dev_login = config.dev_login;
    let service = match start(config).await {
        Ok(service) => service,
        Err(err) => return fail(SERVICE, format_args!("起動できません: {err}")),
    };
    let mut announcement = listening_line(SERVICE, &service.base_url());
    if dev_login {
        announcement.push_str(
            "\ngateway: *** 開発用ログインが有効です (POST /auth/dev-token で誰でもトークンを得られます)。\
             手元の開発以外では DEV_LOGIN を有効にしないでください ***",
        );
    }
    let shutdown = service.shutdown().clone();
    serve_until_signal(SERVICE, &announcement, shutdown, service.wait()).await
}
