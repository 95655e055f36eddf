//! 全部入りのバイナリ `mediahub` のコマンドライン (`make run`): 全 8 サービスを 1 つのプロセスで動かします。
//!
//! ```text
//! mediahub run                       # 既定: ./data、開発用ログインと障害注入は有効
//! mediahub run --data-dir /tmp/mh    # データの場所を変える (環境変数 MEDIAHUB_DATA_DIR でも可)
//! mediahub openapi --out docs/openapi  # 各サービスの OpenAPI 文書を書き出す (make generate)
//! mediahub healthcheck http://127.0.0.1:8084/ready  # 2xx なら 0 (コンテナの HEALTHCHECK)
//! ```
//!
//! JWT の秘密鍵は環境変数 `JWT_SECRET` で渡せます。無ければ起動のたびに新しいランダムな鍵を
//! 作ります (再起動すると以前のトークンは使えなくなります)。Ctrl-C で全サービスをグレースフルに
//! 止めます。

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::gateway::OAuthArgs;
use crate::platform::auth::{JwtKeys, MIN_SECRET_LEN};
use crate::platform::cli::{healthcheck, watch_signals};
use crate::platform::config::AuthArgs;
use crate::platform::http_client;
use crate::platform::server::Shutdown;
use crate::platform::telemetry::init_tracing;
use crate::saga::SagaPolicyArgs;
use crate::system::{Ports, System, SystemConfig};
use clap::{Args, Parser, Subcommand};

/// MediaHub の全サービス (gateway・media-command・media-query・album・eventstore・saga・
/// notification・frontend) を 1 つのプロセスで起動します。サービスどうしは本物の HTTP で話します。
#[derive(Debug, Parser)]
#[command(name = "mediahub", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// サブコマンドを省いたときは `run` と同じ引数を受け付けます。
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// 全サービスを既定のポート (8080〜8086 と 3000) で起動します (既定のサブコマンド)。
    Run(Box<RunArgs>),
    /// 全サービスを一時的なポートと一時ディレクトリで起動し、各サービスの OpenAPI 文書を
    /// `<out>/<service>.json` に書き出して終わります。
    Openapi {
        /// 書き出すディレクトリ。
        #[arg(long, default_value = "docs/openapi")]
        out: PathBuf,
        /// UI のファイル (frontend の起動に要ります)。
        #[arg(long, env = "WEB_DIR", default_value = "./web")]
        web_dir: PathBuf,
    },
    /// `URL` に GET して 2xx なら終了コード 0、それ以外は 1 (コンテナの HEALTHCHECK 用。curl が要りません)。
    Healthcheck {
        /// 確かめる URL (例: `http://127.0.0.1:8084/ready`)。
        #[arg(env = "MEDIAHUB_HEALTHCHECK_URL")]
        url: String,
        /// 応答を待つ最長のミリ秒。
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// 内部 API (`/internal/v1/...`、例: 読みモデルの作り直し) を手で呼ぶための、
    /// 1 時間有効なサービス用トークンを表示します。`run` と同じ `JWT_SECRET` が必要です。
    ServiceToken {
        /// トークンに入れるサービス名 (`service:<name>` になります)。
        #[arg(long, default_value = "cli")]
        name: String,
        #[command(flatten)]
        auth: AuthArgs,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// SQLite とメディアのファイルを置くディレクトリ。
    #[arg(long, env = "MEDIAHUB_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,

    /// 待ち受けるホスト (コンテナの中などでは 0.0.0.0)。
    #[arg(long, env = "MEDIAHUB_HOST", default_value = "127.0.0.1")]
    host: String,

    /// UI のファイル (index.html のあるディレクトリ)。
    #[arg(long, env = "WEB_DIR", default_value = "./web")]
    web_dir: PathBuf,

    /// ブラウザーから見たホスト名 (UI とゲートウェイの URL、OAuth2 の redirect_uri、CORS)。
    #[arg(long, env = "MEDIAHUB_PUBLIC_HOST", default_value = "localhost")]
    public_host: String,

    /// JWT (HS256) の共有秘密鍵 (32 バイト以上)。無ければ起動のたびにランダムに作ります。
    #[arg(long = "jwt-secret", env = "JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,

    /// 開発用ログイン (POST /auth/dev-token) を有効にするか。既定で有効 (ローカルの学習用)。
    #[arg(long, env = "DEV_LOGIN", default_value_t = true, action = clap::ArgAction::Set)]
    dev_login: bool,

    /// UI (ゲートウェイの /api/v1/lab/services/{name}/stop|start) からサービスを本当に止めたり
    /// 起こしたりできるようにするか。既定で有効 (開発用ログインも有効なときだけ働きます)。
    /// 外から API を無差別に叩く検査 (make fuzz) では無効にします。
    #[arg(long, env = "LAB_CONTROLS", default_value_t = true, action = clap::ArgAction::Set)]
    lab_controls: bool,

    /// 学習用の障害注入 (X-Fault-Inject) を有効にするか。既定で有効。
    #[arg(long, env = "FAULT_INJECTION", default_value_t = true, action = clap::ArgAction::Set)]
    fault_injection: bool,

    /// すべてのサービスを空いているポート (0) で起動します (ベンチマークや、既定のポートが
    /// 使われているときの試し用)。URL は起動時に表示します。
    #[arg(long)]
    ephemeral_ports: bool,

    #[command(flatten)]
    oauth: OAuthArgs,

    #[command(flatten)]
    saga: SagaPolicyArgs,
}

/// ランダムな秘密鍵 (UUID v4 を 2 つ、計 244 ビットの乱数を 16 進で 64 文字)。
fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// `mediahub` コマンドの本体: 引数を読み、サブコマンドを実行して終了コードを返します。
pub async fn main() -> ExitCode {
    crate::tune_allocator();
    let cli = Cli::parse();
    let log_filter = match cli.command {
        Some(
            Command::Openapi { .. } | Command::ServiceToken { .. } | Command::Healthcheck { .. },
        ) => "warn",
        _ => "info,sqlx=warn",
    };
    if let Err(err) = init_tracing(log_filter) {
        eprintln!("mediahub: ログを設定できません: {err}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Some(Command::Openapi { out, web_dir }) => write_openapi(&out, &web_dir).await,
        Some(Command::Run(args)) => run(*args).await,
        Some(Command::ServiceToken { name, auth }) => print_service_token(&name, &auth),
        Some(Command::Healthcheck { url, timeout_ms }) => {
            healthcheck(&url, Duration::from_millis(timeout_ms)).await
        }
        None => run(cli.run).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mediahub: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> Result<(), String> {
    let (secret, generated) = match args.jwt_secret {
        Some(secret) => (secret, false),
        None => (random_secret(), true),
    };
    let keys = JwtKeys::from_secret(secret.as_bytes()).map_err(|err| {
        format!("JWT_SECRET が不正です ({MIN_SECRET_LEN} バイト以上が必要): {err}")
    })?;
    let (github, google) = args.oauth.providers();
    let config = SystemConfig::new(&args.data_dir, &args.web_dir, keys)
        .host(args.host)
        .public_host(args.public_host)
        .ports(if args.ephemeral_ports {
            Ports::EPHEMERAL
        } else {
            Ports::DEFAULT
        })
        .dev_login(args.dev_login)
        .lab_controls(args.dev_login && args.lab_controls)
        .fault_injection(args.fault_injection)
        .saga_policy(args.saga.policy().map_err(|err| err.to_string())?);
    let config = SystemConfig {
        github,
        google,
        ..config
    };
    let started_at = Instant::now();
    let mut system = System::start(config)
        .await
        .map_err(|err| format!("起動できません: {err}"))?;
    announce(&system, &args.data_dir, generated, started_at);
    let shutdown = Shutdown::new();
    let signals = watch_signals("mediahub", shutdown.clone());
    // シグナルが来るまで、UI からの「サービスを止める・起こす」を実行しながら待つ
    system.serve_until(shutdown.wait()).await;
    signals.abort();
    println!("\nmediahub: 停止しています (処理中のリクエストと書き込みを終えてから止まります)…");
    system
        .stop()
        .await
        .map_err(|err| format!("停止に失敗しました: {err}"))?;
    println!("mediahub: 停止しました");
    Ok(())
}

fn announce(system: &System, data_dir: &Path, generated_secret: bool, started_at: Instant) {
    let urls = system.urls();
    let config = system.config();
    println!();
    println!(
        "MediaHub が起動しました ({} ms)",
        started_at.elapsed().as_millis()
    );
    println!();
    println!("  UI (frontend)   {}", urls.public_frontend);
    println!("  gateway         {}", urls.public_gateway);
    println!();
    println!("  Swagger UI:");
    for (name, url) in urls.services() {
        println!("    {name:<14} {url}/swagger");
    }
    println!();
    println!("  データ          {}", data_dir.display());
    if generated_secret {
        println!("  JWT の秘密鍵    起動ごとのランダムな鍵 (JWT_SECRET で固定できます)");
    }
    if config.dev_login {
        println!();
        println!(
            "  !!! 開発用ログインが有効です: 誰でも POST /auth/dev-token でトークンを得られます。"
        );
        println!(
            "  !!! 学習用のローカル環境だけで使ってください (無効にする: --dev-login false)。"
        );
        if config.lab_controls {
            println!(
                "  !!! UI の「ラボ」タブから album・saga・media-query を本当に止めたり起こしたりできます (無効にする: --lab-controls false)。"
            );
        }
    }
    if config.fault_injection {
        println!(
            "  !!! 障害注入が有効です: アップロードに X-Fault-Inject: process|album|notification を"
        );
        println!(
            "  !!! 付けると、その段階が失敗して補償や再試行が見られます (無効にする: --fault-injection false)。"
        );
    }
    println!();
    println!("Ctrl-C で止まります。");
}

fn print_service_token(name: &str, auth: &AuthArgs) -> Result<(), String> {
    let keys = auth
        .keys()
        .map_err(|err| format!("JWT_SECRET が不正です: {err}"))?;
    let token = keys
        .issue_service_token(name)
        .map_err(|err| format!("トークンを作れません: {err}"))?;
    println!("{token}");
    Ok(())
}

async fn write_openapi(out: &Path, web_dir: &Path) -> Result<(), String> {
    let data = tempfile_dir()?;
    let keys = JwtKeys::from_secret(random_secret().as_bytes()).map_err(|err| err.to_string())?;
    let config = SystemConfig::new(data.path(), web_dir, keys).ports(Ports::EPHEMERAL);
    let system = System::start(config)
        .await
        .map_err(|err| format!("起動できません: {err}"))?;
    let result = fetch_specs(&system, out).await;
    system
        .stop()
        .await
        .map_err(|err| format!("停止に失敗しました: {err}"))?;
    result
}

async fn fetch_specs(system: &System, out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|err| format!("{}: {err}", out.display()))?;
    let http = http_client::builder()
        .build()
        .map_err(|err| format!("HTTP クライアントを作れません: {err}"))?;
    for (name, url) in system.urls().services() {
        let spec: serde_json::Value = http
            .get(format!("{url}/openapi.json"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|err| format!("{name} の OpenAPI 文書を取れません: {err}"))?
            .json()
            .await
            .map_err(|err| format!("{name} の OpenAPI 文書が JSON ではありません: {err}"))?;
        let mut text = serde_json::to_string_pretty(&spec).map_err(|err| err.to_string())?;
        text.push('\n');
        let path = out.join(format!("{name}.json"));
        std::fs::write(&path, text).map_err(|err| format!("{}: {err}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}

/// 一時ディレクトリ (終わると消えます)。
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.0) {
            eprintln!(
                "mediahub: 一時ディレクトリ {} を消せません: {err}",
                self.0.display()
            );
        }
    }
}

fn tempfile_dir() -> Result<TempDir, String> {
    let path = std::env::temp_dir().join(format!(
        "mediahub-openapi-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&path).map_err(|err| format!("{}: {err}", path.display()))?;
    Ok(TempDir(path))
}
