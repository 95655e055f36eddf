//! どのサービスも同じ形で起動・停止するための部品: [`Launch`] と [`ServiceHandle`]、
//! バイナリの入口 [`run_service`]。
//!
//! 各サービスの `service.rs` の `start(config)` は次の順で書きます。
//!
//! 1. [`Launch::bind`] で待ち受けのアドレスを束縛します (テストではポート 0)。
//! 2. 自分のデータベースやイベントストアのクライアントを開き、ハンドラーに渡す状態を作ります。
//!    購読ランナーなどのバックグラウンドのタスクは [`Launch::shutdown`] を見て止まるように起こします。
//! 3. [`crate::platform::server::build_app`] にハンドラーと [`Launch::readiness`] を渡して
//!    アプリケーションを組み立て、[`Launch::serve`] で HTTP サーバーを起こします。
//!    ここで渡す「後始末」(タスクの終わりを待つ、プールを閉じる) は、サーバーが止まった後に
//!    [`ServiceHandle::wait`] が実行します。
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::platform::auth::JwtKeys;
//! use mediahub_services::platform::server::{DEFAULT_BODY_LIMIT, DEFAULT_GRACE, ServiceInfo, build_app};
//! use mediahub_services::platform::service::Launch;
//!
//! const INFO: ServiceInfo = ServiceInfo { name: "demo", title: "Demo", description: "例" };
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let launch = Launch::bind(&INFO, "127.0.0.1:0", DEFAULT_GRACE).await?;
//! let app = build_app((), &INFO, launch.readiness().clone(), keys, DEFAULT_BODY_LIMIT);
//! let service = launch.serve(app, (), async { Ok(()) })?;
//! println!("{}", service.base_url());
//! service.stop().await?;
//! # Ok(())
//! # }
//! ```

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use poem::Endpoint;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::platform::auth::AuthError;
use crate::platform::cli::{fail, listening_line, parse_args, serve_until_signal};
use crate::platform::server::{self, Readiness, ServerError, ServerHandle, ServiceInfo, Shutdown};
use crate::platform::telemetry::init_tracing;

/// サービスを止めるときのエラー。
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// HTTP サーバーが異常終了した。
    #[error(transparent)]
    Server(#[from] ServerError),
    /// バックグラウンドのタスクが異常終了した。
    #[error("バックグラウンドのタスクが異常終了しました: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// 後始末 (データベースを閉じるなど) に失敗した。
    #[error("後始末に失敗しました: {0}")]
    Cleanup(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StopError {
    /// 後始末の失敗を包みます。
    #[must_use]
    pub fn cleanup(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Cleanup(Box::new(err))
    }
}

/// サーバーが止まった後に実行する後始末 (タスクの終わりを待ち、プールを閉じる)。
pub type Teardown = Pin<Box<dyn Future<Output = Result<(), StopError>> + Send>>;

/// バックグラウンドのタスクをすべて待ちます。異常終了したものがあれば最初のエラーを返します
/// (残りのタスクも最後まで待ちます)。
///
/// # エラー
/// 異常終了したタスクがあれば [`StopError::Task`]。
pub async fn join_all(tasks: Vec<JoinHandle<()>>) -> Result<(), StopError> {
    let mut joined = Ok(());
    for task in tasks {
        if let Err(err) = task.await {
            if joined.is_ok() {
                joined = Err(StopError::Task(err));
            }
        }
    }
    joined
}

/// 起動の途中: アドレスを束縛し、停止の合図と準備の状態を持っています。
#[derive(Debug)]
pub struct Launch {
    name: &'static str,
    listener: TcpListener,
    shutdown: Shutdown,
    readiness: Readiness,
    grace: Duration,
    ready_on_serve: bool,
}

impl Launch {
    /// `listen` (例 `127.0.0.1:8083`、ポート 0 なら空いているポート) を束縛します。
    ///
    /// # エラー
    /// 束縛できなければ [`ServerError::Bind`]。
    pub async fn bind(
        info: &ServiceInfo,
        listen: &str,
        grace: Duration,
    ) -> Result<Self, ServerError> {
        Ok(Self::on(info, server::bind(listen).await?, grace))
    }

    /// 束縛済みのリスナーで始めます (呼び出し側が先にアドレスを決めたいとき)。
    #[must_use]
    pub fn on(info: &ServiceInfo, listener: TcpListener, grace: Duration) -> Self {
        Self {
            name: info.name,
            listener,
            shutdown: Shutdown::new(),
            readiness: Readiness::new(),
            grace,
            ready_on_serve: true,
        }
    }

    /// [`Launch::serve`] で準備完了にしないようにします (読みモデルが追いつくのを待つサービスが、
    /// [`Launch::readiness`] を自分で立てるとき)。
    #[must_use]
    pub fn ready_later(mut self) -> Self {
        self.ready_on_serve = false;
        self
    }

    /// 停止の合図。バックグラウンドのタスクはこれを見て止まります。
    #[must_use]
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// `/ready` が答える準備の状態 ([`Launch::serve`] が立て、停止の始めに下ろします)。
    #[must_use]
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// HTTP サーバーを起こし、準備ができたことにして (既定。[`Launch::ready_later`] を参照) 取っ手を返します。
    ///
    /// `state` は取っ手から [`ServiceHandle::state`] で読めるもの、`teardown` は止まった後の
    /// 後始末です。起動に失敗したら停止の合図を出し、起こしてあったタスクも止めます。
    ///
    /// # エラー
    /// リスナーのアドレスが読めなければ [`ServerError::Io`]。
    pub fn serve<E, S>(
        self,
        app: E,
        state: S,
        teardown: impl Future<Output = Result<(), StopError>> + Send + 'static,
    ) -> Result<ServiceHandle<S>, ServerError>
    where
        E: Endpoint + 'static,
    {
        let Self {
            name,
            listener,
            shutdown,
            readiness,
            grace,
            ready_on_serve,
        } = self;
        let server = server::spawn_server(listener, app, name, shutdown.clone(), grace)
            .inspect_err(|_| shutdown.trigger())?;
        if ready_on_serve {
            readiness.set_ready(true);
        }
        Ok(ServiceHandle {
            name,
            server,
            readiness,
            state,
            teardown: Box::pin(teardown),
        })
    }
}

/// 射影のチェックポイントを持つもの (読み側のサービスの取っ手が位置を答えるのに使います)。
pub trait Checkpointed {
    /// チェックポイント (反映済みのグローバル位置) の変化を受け取る `watch`。
    fn checkpoint(&self) -> watch::Receiver<u64>;
}

impl<T: Checkpointed> Checkpointed for std::sync::Arc<T> {
    fn checkpoint(&self) -> watch::Receiver<u64> {
        T::checkpoint(self)
    }
}

/// 動いているサービスの取っ手。8 つのサービスすべてがこの形です。
///
/// `S` はサービスが外に見せる状態 (テストや全部入りのプロセスが直接読むもの) です。
pub struct ServiceHandle<S = ()> {
    name: &'static str,
    server: ServerHandle,
    readiness: Readiness,
    state: S,
    teardown: Teardown,
}

impl<S> std::fmt::Debug for ServiceHandle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceHandle")
            .field("name", &self.name)
            .field("addr", &self.server.local_addr())
            .field("ready", &self.readiness.is_ready())
            .finish_non_exhaustive()
    }
}

impl<S> ServiceHandle<S> {
    /// サービス名 (例 `album`)。
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// 束縛したアドレス。
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// `http://<アドレス>` の形のベース URL。
    #[must_use]
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// 停止の合図 (バイナリがシグナルで停止を始めるのに使います)。
    #[must_use]
    pub fn shutdown(&self) -> &Shutdown {
        self.server.shutdown()
    }

    /// `/ready` が 200 を答えているか。
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.readiness.is_ready()
    }

    /// サービスが外に見せる状態。
    #[must_use]
    pub fn state(&self) -> &S {
        &self.state
    }

    /// 停止します: 新しいリクエストの受け付けをやめ、処理中のリクエストを終え、
    /// 後始末 (タスクの終わりを待ち、データベースを閉じる) をします。
    ///
    /// # エラー
    /// サーバーやタスクが異常終了した、後始末に失敗したなら [`StopError`]。
    pub async fn stop(self) -> Result<(), StopError> {
        self.server.shutdown().trigger();
        self.wait().await
    }

    /// 停止の合図が (どこかで) 出るまで待ち、[`ServiceHandle::stop`] と同じ後始末をします。
    ///
    /// # エラー
    /// サーバーやタスクが異常終了した、後始末に失敗したなら [`StopError`]。
    pub async fn wait(self) -> Result<(), StopError> {
        let Self {
            name,
            server,
            readiness,
            state,
            teardown,
        } = self;
        server.shutdown().wait().await;
        readiness.set_ready(false);
        let served = server.wait().await;
        let cleaned = teardown.await;
        drop(state);
        tracing::info!(service = name, "停止しました");
        served?;
        cleaned
    }
}

impl<S: Checkpointed> ServiceHandle<S> {
    /// 射影のチェックポイント (反映済みのグローバル位置)。
    #[must_use]
    pub fn position(&self) -> u64 {
        *self.state.checkpoint().borrow()
    }

    /// チェックポイントの変化を受け取る `watch`。
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.state.checkpoint()
    }
}

/// バイナリの引数を設定に変えるときのエラー。
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// JWT の秘密鍵が使えない (32 バイト未満など)。
    #[error("JWT_SECRET が不正です: {0}")]
    JwtSecret(#[from] AuthError),
    /// そのほかの設定の誤り (内容はそのまま表示します)。
    #[error("{0}")]
    Invalid(String),
}

/// サービスのバイナリ: clap の引数、設定への変換、起動。[`run_service`] がこれを動かします。
pub trait ServiceMain: clap::Parser {
    /// サービス名 (表示とログ用)。
    const SERVICE: &'static str;
    /// `tracing` の既定のフィルター (`RUST_LOG` が無いとき)。
    const LOG_FILTER: &'static str = "info,sqlx=warn";
    /// サービスの設定。
    type Config: Send;
    /// 取っ手が見せる状態。
    type State: Send;
    /// 起動のエラー。
    type Error: Display;

    /// 引数から設定を作ります。
    ///
    /// # エラー
    /// 値が使えなければ [`ArgsError`]。
    fn config(self) -> Result<Self::Config, ArgsError>;

    /// 待ち受けの一行に続けて書く注意書き (既定は無し)。
    fn notice(_config: &Self::Config) -> Option<String> {
        None
    }

    /// 待ち受けの一行 (既定は [`listening_line`])。
    fn announcement(base_url: &str) -> String {
        listening_line(Self::SERVICE, base_url)
    }

    /// サービスを起動します。
    fn start(
        config: Self::Config,
    ) -> impl Future<Output = Result<ServiceHandle<Self::State>, Self::Error>>;
}

/// サービスのバイナリの `main`: 引数を読み、ログを設定し、起動し、待ち受けの一行を書き、
/// Ctrl-C または SIGTERM を受けるまで動かして終了コードを返します。
///
/// 失敗は `"{サービス名}: {内容}"` を標準エラーに書いて終了コード 1 です
/// (引数の誤り、`JWT_SECRET が不正です: …`、`起動できません: …`、`異常終了しました: …`)。
pub async fn run_service<M: ServiceMain>() -> ExitCode {
    crate::tune_allocator();
    let args: M = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    if let Err(err) = init_tracing(M::LOG_FILTER) {
        return fail(M::SERVICE, format_args!("ログを設定できません: {err}"));
    }
    let config = match args.config() {
        Ok(config) => config,
        Err(err) => return fail(M::SERVICE, err),
    };
    let notice = M::notice(&config);
    let service = match M::start(config).await {
        Ok(service) => service,
        Err(err) => return fail(M::SERVICE, format_args!("起動できません: {err}")),
    };
    let mut announcement = M::announcement(&service.base_url());
    if let Some(notice) = notice {
        announcement.push('\n');
        announcement.push_str(&notice);
    }
    let shutdown = service.shutdown().clone();
    serve_until_signal(M::SERVICE, &announcement, shutdown, service.wait()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::auth::JwtKeys;
    use crate::platform::server::{DEFAULT_BODY_LIMIT, DEFAULT_GRACE, build_app};

    const INFO: ServiceInfo = ServiceInfo {
        name: "test",
        title: "Test",
        description: "試験用",
    };

    fn keys() -> JwtKeys {
        JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef").unwrap_or_else(|e| panic!("{e}"))
    }

    async fn launch() -> Launch {
        Launch::bind(&INFO, "127.0.0.1:0", DEFAULT_GRACE)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn serve_then_stop_is_ready_until_stop_and_runs_teardown_once() {
        let launch = launch().await;
        let app = build_app(
            (),
            &INFO,
            launch.readiness().clone(),
            keys(),
            DEFAULT_BODY_LIMIT,
        );
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let service = launch
            .serve(app, 7_u32, async move {
                done_tx
                    .send(())
                    .map_err(|()| StopError::Cleanup("受け手がいません".into()))
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(service.is_ready());
        assert_eq!(*service.state(), 7);
        assert_eq!(service.name(), "test");
        assert!(service.base_url().starts_with("http://127.0.0.1:"));
        service.stop().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(done_rx.await.is_ok(), "後始末が実行されていません");
    }

    #[tokio::test]
    async fn wait_after_shutdown_from_elsewhere_returns_teardown_error() {
        let launch = launch().await;
        let app = build_app(
            (),
            &INFO,
            launch.readiness().clone(),
            keys(),
            DEFAULT_BODY_LIMIT,
        );
        let service = launch
            .serve(app, (), async {
                Err(StopError::Cleanup("閉じられません".into()))
            })
            .unwrap_or_else(|e| panic!("{e}"));
        service.shutdown().clone().trigger();
        let err = service.wait().await.err();
        assert!(
            matches!(&err, Some(StopError::Cleanup(e)) if e.to_string() == "閉じられません"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn join_all_with_one_panicking_task_returns_task_error_after_all_finish() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let tasks = vec![
            tokio::spawn(async { panic!("試験のための異常終了") }),
            tokio::spawn(async move {
                let _sent = tx.send(());
            }),
        ];
        let joined = join_all(tasks).await;
        assert!(matches!(joined, Err(StopError::Task(_))), "{joined:?}");
        assert!(rx.await.is_ok());
    }

    struct Fixed(watch::Sender<u64>);

    impl Checkpointed for Fixed {
        fn checkpoint(&self) -> watch::Receiver<u64> {
            self.0.subscribe()
        }
    }

    #[tokio::test]
    async fn position_of_checkpointed_state_follows_its_watch() {
        let launch = launch().await;
        let app = build_app(
            (),
            &INFO,
            launch.readiness().clone(),
            keys(),
            DEFAULT_BODY_LIMIT,
        );
        let (tx, _rx) = watch::channel(3);
        let service = launch
            .serve(app, Fixed(tx), async { Ok(()) })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(service.position(), 3);
        let positions = service.subscribe();
        service.state().0.send_replace(9);
        assert!(positions.has_changed().unwrap_or(false));
        assert_eq!(service.position(), 9);
        service.stop().await.unwrap_or_else(|e| panic!("{e}"));
    }
}
