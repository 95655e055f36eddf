//! サービスのバイナリ (`src/bin/`) の `main` に共通する部品。
//!
//! どのバイナリも同じ流れで動きます: 設定を読み、サービスを起動し、待ち受けの一行を
//! 標準出力に書き、Ctrl-C または SIGTERM を受けたら停止して終了コードを返します。
//! 失敗は `"{サービス名}: {内容}"` の形で標準エラーに書き、終了コード 1 で終わります。
//!
//! ```no_run
//! # async fn example() -> std::process::ExitCode {
//! use mediahub_services::platform::cli::{fail, listening_line, serve_until_signal};
//! use mediahub_services::platform::server::Shutdown;
//!
//! let shutdown = Shutdown::new();
//! let waiting = shutdown.clone();
//! let wait = async move {
//!     waiting.wait().await;
//!     Ok::<(), std::io::Error>(())
//! };
//! let line = listening_line("example", "http://127.0.0.1:8084");
//! serve_until_signal("example", &line, shutdown, wait).await
//! # }
//! ```

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

use tokio::task::JoinHandle;

use crate::platform::server::{Shutdown, trigger_on_signal};

/// このプロセスのコマンドライン引数を読みます ([`parse_args_from`] を参照)。
///
/// # エラー
/// 引数を読み終えずに終わるときの終了コード。
pub fn parse_args<A: clap::Parser>() -> Result<A, ExitCode> {
    parse_args_from(std::env::args_os())
}

/// 引数の並び (先頭はプログラム名) を読みます。
///
/// 設定の誤り (必須項目の欠落を含む) は clap の説明を標準エラーに書いて、(clap の既定の 2
/// ではなく) 終了コード 1 を返します。`--help` と `--version` は標準出力に書いて 0 を返します。
///
/// # エラー
/// 引数を読み終えずに終わるときの終了コード。
pub fn parse_args_from<A, I, T>(args: I) -> Result<A, ExitCode>
where
    A: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    A::try_parse_from(args).map_err(|err| {
        // 標準エラー (または標準出力) に書けなければ伝える先がありません。
        let _printed = err.print();
        if err.use_stderr() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// `"{service}: {message}"` を標準エラーに書き、失敗の終了コード (1) を返します。
///
/// `main` の中で `return fail("eventstore", format_args!("起動できません: {err}"));`
/// のように使います。
pub fn fail(service: &str, message: impl Display) -> ExitCode {
    eprintln!("{service}: {message}");
    ExitCode::FAILURE
}

/// API サービスの待ち受けの一行:
/// `"{service}: {アドレス} で待ち受けています (Swagger UI: {base_url}/swagger)"`。
///
/// アドレスは `base_url` から `http://` を除いたもの (例: `127.0.0.1:8084`) です。
#[must_use]
pub fn listening_line(service: &str, base_url: &str) -> String {
    let addr = base_url.strip_prefix("http://").unwrap_or(base_url);
    format!("{service}: {addr} で待ち受けています (Swagger UI: {base_url}/swagger)")
}

/// UI を配るサービス (Swagger UI の無いもの) の待ち受けの一行:
/// `"{service}: UI は {base_url} で開けます"`。
#[must_use]
pub fn ui_line(service: &str, base_url: &str) -> String {
    format!("{service}: UI は {base_url} で開けます")
}

/// Ctrl-C または SIGTERM を受けたら `shutdown` の合図を出すタスクを起こします。
///
/// シグナルを登録できなかったときは、シグナルでは止められないことを `tracing::error!` で
/// 知らせます (握りつぶしません)。不要になったら返したタスクを `abort` してください。
#[must_use = "不要になったらタスクを abort してください"]
pub fn watch_signals(service: &str, shutdown: Shutdown) -> JoinHandle<()> {
    let service = service.to_owned();
    tokio::spawn(async move {
        if let Err(err) = trigger_on_signal(shutdown).await {
            tracing::error!(
                service = %service,
                error = %err,
                "停止のシグナルを待てません (Ctrl-C・SIGTERM では止まりません)"
            );
        }
    })
}

/// コンテナの `HEALTHCHECK` 用: `url` に GET して 2xx なら `Ok` (curl の代わり)。
///
/// # エラー
/// `timeout` 以内に 2xx が返らなければ、何が起きたかを書いた文。
pub async fn healthcheck(url: &str, timeout: std::time::Duration) -> Result<(), String> {
    let client = super::http_client::builder()
        .timeout(timeout)
        .build()
        .map_err(|err| format!("HTTP クライアントを作れません: {err}"))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|err| format!("{url} に届きません: {err}"))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{url} が {status} を返しました"))
    }
}

/// 起動済みのサービスを停止まで動かし、終了コードを返します。
///
/// `announcement` (待ち受けの一行。[`listening_line`] か [`ui_line`] で作り、必要なら
/// 注意書きの行を足します) を標準出力に書き、[`watch_signals`] で Ctrl-C・SIGTERM を
/// `shutdown` につなぎ、`wait` (サービスの終了) を待ちます。`Ok` なら成功 (0)、`Err` なら
/// `"{service}: 異常終了しました: {err}"` を標準エラーに書いて失敗 (1) を返します。
pub async fn serve_until_signal<E: Display>(
    service: &str,
    announcement: &str,
    shutdown: Shutdown,
    wait: impl Future<Output = Result<(), E>>,
) -> ExitCode {
    println!("{announcement}");
    let signals = watch_signals(service, shutdown);
    let result = wait.await;
    signals.abort();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(service, format_args!("異常終了しました: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 試験用の引数。
    #[derive(Debug, clap::Parser)]
    #[command(name = "test", version)]
    struct TestArgs {
        /// 数。
        #[arg(long)]
        count: u32,
    }

    #[test]
    fn parse_args_from_valid_flags_returns_args() {
        let args = parse_args_from::<TestArgs, _, _>(["test", "--count", "3"]);
        assert!(matches!(args, Ok(TestArgs { count: 3 })), "{args:?}");
    }

    #[test]
    fn parse_args_from_bad_or_missing_flag_returns_failure() {
        for argv in [
            &["test", "--count", "x"][..],
            &["test"],
            &["test", "--nope"],
        ] {
            let args = parse_args_from::<TestArgs, _, _>(argv.iter().copied());
            assert!(
                matches!(args, Err(code) if code == ExitCode::FAILURE),
                "{argv:?}"
            );
        }
    }

    #[test]
    fn parse_args_from_help_or_version_returns_success() {
        for flag in ["--help", "--version"] {
            let args = parse_args_from::<TestArgs, _, _>(["test", flag]);
            assert!(
                matches!(args, Err(code) if code == ExitCode::SUCCESS),
                "{flag}"
            );
        }
    }

    #[test]
    fn fail_with_any_message_returns_failure() {
        assert_eq!(fail("test", "起動できません: だめ"), ExitCode::FAILURE);
    }

    #[test]
    fn listening_line_for_http_base_url_names_address_and_swagger() {
        assert_eq!(
            listening_line("eventstore", "http://127.0.0.1:8084"),
            "eventstore: 127.0.0.1:8084 で待ち受けています \
             (Swagger UI: http://127.0.0.1:8084/swagger)"
        );
    }

    #[test]
    fn ui_line_for_base_url_names_url() {
        assert_eq!(
            ui_line("frontend", "http://127.0.0.1:3000"),
            "frontend: UI は http://127.0.0.1:3000 で開けます"
        );
    }

    /// すでに停止の合図が出た `Shutdown` で、すぐ終わる `wait` の結果を返させます。
    async fn serve_ready(result: Result<(), &'static str>) -> ExitCode {
        let shutdown = Shutdown::new();
        shutdown.trigger();
        let wait = std::future::ready(result);
        serve_until_signal("test", "test: 待ち受け", shutdown, wait).await
    }

    #[tokio::test]
    async fn serve_until_signal_with_triggered_shutdown_and_ok_returns_success() {
        assert_eq!(serve_ready(Ok(())).await, ExitCode::SUCCESS);
    }

    #[tokio::test]
    async fn serve_until_signal_with_triggered_shutdown_and_err_returns_failure() {
        assert_eq!(serve_ready(Err("壊れました")).await, ExitCode::FAILURE);
    }

    #[tokio::test]
    async fn watch_signals_with_triggered_shutdown_ends_without_triggering_again() {
        let shutdown = Shutdown::new();
        shutdown.trigger();
        let task = watch_signals("test", shutdown.clone());
        let joined = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        assert!(matches!(joined, Ok(Ok(()))), "{joined:?}");
        assert!(shutdown.is_triggered());
    }
}
