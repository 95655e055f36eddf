//! サービスの起動と停止の共通の形。
//!
//! 1. [`bind`] で `TcpListener` を束縛します (テストではポート 0)。
//! 2. [`build_app`] でサービスの API に共通部品を足したアプリケーションを組み立てます:
//!    `/health` (常に 200)、`/ready` (準備ができたら 200、それまでは 503)、`/openapi.json`、
//!    `/swagger` (Swagger UI)、リクエスト ID、problem+json への変換、本体サイズの上限、
//!    JWT 検証鍵。
//! 3. [`spawn_server`] で起動し、[`ServerHandle`] を受け取ります。束縛したアドレスを読み、
//!    [`ServerHandle::stop`] で止めて終了を待てます。止めたあと同じファイルで再び起動できます。
//!    受け入れた接続には `TCP_NODELAY` を付けます (呼び出し側の reqwest と同じ。ゲートウェイの中継や
//!    SSE のように応答を何回にも分けて書くとき、2 回目以降が相手の遅延 ACK を待たないように)。
//!
//! 停止は [`Shutdown`] (tokio の `watch` チャネル) で伝えます。長く続く応答
//! (ロングポーリングや Server-Sent Events) も同じ [`Shutdown`] を見て終わるので、
//! グレースフルシャットダウンが長く待たされることはありません。

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt, Middleware, Request, Response, Route, Server};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::platform::auth::JwtKeys;
use crate::platform::openapi::{
    AllowOn405, AllowedMethods, DocumentPages, SpecOnly, finish_document,
};
use crate::platform::problem::{Problem, ProblemMiddleware, codes};
use crate::platform::telemetry::RequestIdMiddleware;

/// 既定のリクエスト本体の上限 (8 MiB)。
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// 既定のグレースフルシャットダウンの猶予。
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// 起動・停止のエラー。
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// アドレスを束縛できなかった。
    #[error("{addr} を束縛できません: {source}")]
    Bind {
        /// 束縛しようとしたアドレス。
        addr: String,
        /// 元のエラー。
        #[source]
        source: io::Error,
    },
    /// サーバーの入出力エラー。
    #[error("サーバーの入出力エラー: {0}")]
    Io(#[from] io::Error),
    /// サーバーのタスクが異常終了した。
    #[error("サーバーのタスクが異常終了しました: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// 停止の合図。複製して配り、どこからでも [`Shutdown::trigger`] で停止を始められ、
/// どこでも [`Shutdown::wait`] で停止を待てます。
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// まだ合図の出ていない新しい停止の合図を作ります。
    #[must_use]
    pub fn new() -> Self {
        let (tx, _rx) = watch::channel(false);
        Self { tx: Arc::new(tx) }
    }

    /// 停止を始めます (何度呼んでも同じです)。
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// 停止が始まっていれば `true`。
    #[must_use]
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// 停止が始まるまで待ちます (すでに始まっていればすぐ返ります)。
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // 送信側はこの構造体が持っているので、wait_for がエラーになることはありません。
        let _closed = rx.wait_for(|stopped| *stopped).await;
    }

    /// 停止が始まると終わる `'static` な future (タスクに渡す用。[`Shutdown::wait`] の持ち出し版)。
    pub fn signalled(&self) -> impl Future<Output = ()> + Send + 'static {
        let shutdown = self.clone();
        async move { shutdown.wait().await }
    }
}

/// サービスの準備状態 (`/ready` の答え)。複製して配れます。
#[derive(Debug, Clone)]
pub struct Readiness {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

impl Readiness {
    /// 「まだ準備ができていない」状態で作ります。
    #[must_use]
    pub fn new() -> Self {
        let (tx, _rx) = watch::channel(false);
        Self { tx: Arc::new(tx) }
    }

    /// 準備状態を設定します。
    pub fn set_ready(&self, ready: bool) {
        self.tx.send_replace(ready);
    }

    /// 準備ができていれば `true`。
    #[must_use]
    pub fn is_ready(&self) -> bool {
        *self.tx.borrow()
    }
}

/// サービスの名前や説明 (OpenAPI 文書に載ります)。
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    /// サービス名 (例: `eventstore`)。
    pub name: &'static str,
    /// OpenAPI の題名。
    pub title: &'static str,
    /// OpenAPI の説明。
    pub description: &'static str,
}

/// `/health` と `/ready` の応答本体。
#[derive(Debug, Clone, Object)]
pub struct HealthStatus {
    /// `ok` または `ready`。
    pub status: String,
    /// サービス名。
    pub service: String,
}

/// `/ready` の応答。
#[derive(Debug, ApiResponse)]
pub enum ReadyResponse {
    /// 準備ができている。
    #[oai(status = 200)]
    Ready(Json<HealthStatus>),
}

/// `/health` と `/ready` を提供する API。
#[derive(Debug, Clone)]
pub struct HealthApi {
    readiness: Readiness,
    service: &'static str,
}

/// `/health` と `/ready` のタグ。
#[derive(Debug, poem_openapi::Tags)]
enum HealthTags {
    /// 死活監視
    Health,
}

#[OpenApi]
impl HealthApi {
    /// 死活監視: プロセスが動いていれば常に 200 を返します (認証不要)。
    #[oai(path = "/health", method = "get", tag = "HealthTags::Health")]
    async fn health(&self) -> Json<HealthStatus> {
        Json(HealthStatus {
            status: "ok".into(),
            service: self.service.into(),
        })
    }

    /// 準備状態: リクエストを受け付けられるなら 200、そうでなければ 503 を返します (認証不要)。
    #[oai(path = "/ready", method = "get", tag = "HealthTags::Health")]
    async fn ready(&self) -> Result<ReadyResponse, Problem> {
        if self.readiness.is_ready() {
            Ok(ReadyResponse::Ready(Json(HealthStatus {
                status: "ready".into(),
                service: self.service.into(),
            })))
        } else {
            Err(Problem::unavailable("サービスはまだ準備ができていません"))
        }
    }
}

/// リクエスト本体の大きさを制限するミドルウェア。
///
/// `Content-Length` が上限を超えていれば本体を読まずに 413 を返します。
/// `Content-Length` の無い (chunked の) 本体も、上限まで読んで超えたら 413 にします。
/// JSON の API 用です。大きなファイルを流して受け取るエンドポイントには付けないでください。
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    max: usize,
}

impl BodyLimit {
    /// 上限 `max` バイトで作ります。
    #[must_use]
    pub fn new(max: usize) -> Self {
        Self { max }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        BodyLimitEndpoint {
            inner: ep,
            max: self.max,
        }
    }
}

/// [`BodyLimit`] が包んだエンドポイント。
#[derive(Debug)]
pub struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
}

fn too_large() -> Problem {
    Problem::new(
        poem::http::StatusCode::PAYLOAD_TOO_LARGE,
        codes::PAYLOAD_TOO_LARGE,
        "リクエスト本体が上限を超えています",
    )
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let headers = req.headers();
        let declared = headers
            .get(poem::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let chunked = headers.contains_key(poem::http::header::TRANSFER_ENCODING);
        if let Some(len) = declared {
            if len > u64::try_from(self.max).unwrap_or(u64::MAX) {
                return Err(too_large().into());
            }
        }
        if chunked || declared.is_some_and(|len| len > 0) {
            let body = req.take_body();
            match body.into_bytes_limit(self.max).await {
                Ok(bytes) => req.set_body(bytes),
                Err(poem::error::ReadBodyError::PayloadTooLarge) => {
                    return Err(too_large().into());
                }
                Err(err) => {
                    return Err(Problem::bad_request(
                        codes::INVALID_BODY,
                        format!("本体を読めません: {err}"),
                    )
                    .into());
                }
            }
        }
        self.inner.call(req).await
    }
}

/// サービスの API に共通部品を足したアプリケーションを組み立てます。
///
/// 足すもの: `/health`、`/ready`、`/openapi.json`、`/swagger`、リクエスト ID、
/// problem+json への変換、本体サイズの上限 (`body_limit` バイト)、JWT 検証鍵 (`keys`)。
pub fn build_app<T>(
    api: T,
    info: &ServiceInfo,
    readiness: Readiness,
    keys: JwtKeys,
    body_limit: usize,
) -> impl Endpoint<Output = Response> + 'static
where
    T: OpenApi + 'static,
{
    let health = HealthApi {
        readiness,
        service: info.name,
    };
    let service = OpenApiService::new((health, api), info.title, env!("CARGO_PKG_VERSION"))
        .description(info.description);
    let raw = service.spec();
    let mut doc: serde_json::Value = serde_json::from_str(&raw).unwrap_or_default();
    finish_document(&mut doc);
    let allowed = AllowedMethods::from_spec(&doc);
    let finished = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| raw.clone());
    let pages = DocumentPages::new(finished, &service.swagger_ui_html(), &raw);
    let swagger = pages.clone();
    Route::new()
        .at(
            "/openapi.json",
            poem::get(poem::endpoint::make_sync(move |_| pages.json_response())),
        )
        .nest(
            "/swagger",
            poem::get(poem::endpoint::make_sync(move |_| {
                swagger.swagger_response()
            })),
        )
        .nest("/", service)
        .with(BodyLimit::new(body_limit))
        .data(keys)
        .with(ProblemMiddleware)
        .with(AllowOn405::new(allowed))
        .with(RequestIdMiddleware)
        .map_to_response()
}

/// API 型 `T` を [`build_app`] に渡したときと同じ OpenAPI 文書を、状態を作らずに返します。
///
/// `/health` と `/ready` も含みます。ゲートウェイが上流の文書を集めるのと、文書の書き出しに使います。
#[must_use]
pub fn openapi_spec<T: OpenApi>(info: &ServiceInfo) -> serde_json::Value {
    let spec = OpenApiService::new(
        SpecOnly::<(HealthApi, T)>::new(),
        info.title,
        env!("CARGO_PKG_VERSION"),
    )
    .description(info.description)
    .spec();
    let mut doc = serde_json::from_str(&spec).unwrap_or_default();
    finish_document(&mut doc);
    doc
}

/// アドレスを束縛します。ポート 0 なら空いているポートが選ばれます。
///
/// # エラー
/// 束縛できなければ [`ServerError::Bind`]。
pub async fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

/// 動いているサーバーの取っ手。
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    shutdown: Shutdown,
    task: JoinHandle<io::Result<()>>,
}

impl ServerHandle {
    /// 束縛したアドレス。
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://<アドレス>` の形のベース URL。
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// このサーバーの停止の合図。
    #[must_use]
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// 停止を始め、接続が閉じるまで (最長で猶予時間) 待ちます。
    ///
    /// # エラー
    /// サーバーが入出力エラーで終わっていれば [`ServerError`]。
    pub async fn stop(self) -> Result<(), ServerError> {
        self.shutdown.trigger();
        self.wait().await
    }

    /// 停止の合図が (どこかで) 出てサーバーが終わるまで待ちます。
    ///
    /// # エラー
    /// サーバーが入出力エラーで終わっていれば [`ServerError`]。
    pub async fn wait(self) -> Result<(), ServerError> {
        self.task.await??;
        Ok(())
    }
}

/// 受け入れた接続に `TCP_NODELAY` を付ける [`TcpAcceptor`] (poem の `TcpAcceptor` は付けません)。
///
/// Nagle のアルゴリズムは、相手がまだ ACK していない送信があると次の小さな書き込みを止めておき、
/// 相手は ACK を遅らせる (遅延 ACK、Linux で最短 40 ms) ので、SSE の続くイベントのように 1 つの応答を
/// 何回にも分けて書くと、2 回目以降が ACK を待ちます。サービス間の呼び出し側 (reqwest) は
/// 既定で `TCP_NODELAY` なので、受ける側もそろえます。
struct NoDelayAcceptor(TcpAcceptor);

impl Acceptor for NoDelayAcceptor {
    type Io = TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> io::Result<(TcpStream, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        let accepted = self.0.accept().await?;
        if let Err(err) = accepted.0.set_nodelay(true) {
            // 付けられなくても接続は使えます (小さな書き込みが遅れうるだけ)。
            tracing::warn!(error = %err, "受け入れた接続に TCP_NODELAY を付けられません");
        }
        Ok(accepted)
    }
}

/// 束縛済みのリスナーでアプリケーションを起動します。
///
/// `shutdown` の合図が出るとグレースフルシャットダウンを始め、`grace` だけ待っても
/// 閉じない接続は切ります。受け入れた接続には `TCP_NODELAY` を付けます。
///
/// # エラー
/// リスナーのアドレスが読めなければ [`ServerError::Io`]。
pub fn spawn_server<E>(
    listener: TcpListener,
    app: E,
    name: &str,
    shutdown: Shutdown,
    grace: Duration,
) -> Result<ServerHandle, ServerError>
where
    E: Endpoint + 'static,
{
    let local_addr = listener.local_addr()?;
    let acceptor = NoDelayAcceptor(TcpAcceptor::from_tokio(listener)?);
    let server = Server::new_with_acceptor(acceptor).name(name.to_owned());
    let signal = shutdown.clone();
    let task = tokio::spawn(async move {
        server
            .run_with_graceful_shutdown(app, async move { signal.wait().await }, Some(grace))
            .await
    });
    tracing::info!(service = name, addr = %local_addr, "起動しました");
    Ok(ServerHandle {
        local_addr,
        shutdown,
        task,
    })
}

/// Ctrl-C (と Unix では SIGTERM) を待って停止の合図を出します。バイナリの `main` 用です。
///
/// # エラー
/// シグナルの登録に失敗すれば [`ServerError::Io`]。
pub async fn trigger_on_signal(shutdown: Shutdown) -> Result<(), ServerError> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result?,
            _ = term.recv() => {}
            () = shutdown.wait() => return Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::select! {
            result = tokio::signal::ctrl_c() => result?,
            () = shutdown.wait() => return Ok(()),
        }
    }
    tracing::info!("停止のシグナルを受け取りました");
    shutdown.trigger();
    Ok(())
}

#[cfg(test)]
mod tests {
    use poem_openapi::payload::PlainText;

    use super::*;
    use crate::platform::auth::ServiceAuth;

    struct EchoApi;

    #[OpenApi]
    impl EchoApi {
        /// 本体の長さを返すだけの試験用エンドポイント。
        #[oai(path = "/echo", method = "post")]
        async fn echo(&self, _auth: ServiceAuth, body: PlainText<String>) -> PlainText<String> {
            PlainText(body.0.len().to_string())
        }
    }

    const INFO: ServiceInfo = ServiceInfo {
        name: "test",
        title: "test",
        description: "test",
    };

    async fn started(readiness: Readiness, limit: usize) -> (ServerHandle, String, JwtKeys) {
        let keys = JwtKeys::from_secret(b"server-test-secret-server-test-secret")
            .unwrap_or_else(|e| panic!("{e}"));
        let app = build_app(EchoApi, &INFO, readiness, keys.clone(), limit);
        let listener = bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let handle = spawn_server(listener, app, "test", Shutdown::new(), DEFAULT_GRACE)
            .unwrap_or_else(|e| panic!("{e}"));
        let base = handle.base_url();
        (handle, base, keys)
    }

    #[tokio::test]
    async fn accepted_connection_has_tcp_nodelay_set() {
        let listener = bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let mut acceptor =
            NoDelayAcceptor(TcpAcceptor::from_tokio(listener).unwrap_or_else(|e| panic!("{e}")));

        let (client, accepted) = tokio::join!(TcpStream::connect(addr), acceptor.accept());

        let _client = client.unwrap_or_else(|e| panic!("{e}"));
        let (stream, ..) = accepted.unwrap_or_else(|e| panic!("{e}"));
        assert!(stream.nodelay().unwrap_or_else(|e| panic!("{e}")));
    }

    #[tokio::test]
    async fn ready_is_503_problem_until_set_ready_then_200_and_health_is_always_200() {
        let readiness = Readiness::new();
        let (handle, base, _) = started(readiness.clone(), DEFAULT_BODY_LIMIT).await;
        let client = crate::platform::http_client::builder()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let response = client
            .get(format!("{base}/ready"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 503);
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        assert_eq!(body["code"], codes::UNAVAILABLE);
        let health = client
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(health.status().as_u16(), 200);
        readiness.set_ready(true);
        let response = client
            .get(format!("{base}/ready"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 200);
        handle.stop().await.unwrap_or_else(|e| panic!("{e}"));
    }

    #[tokio::test]
    async fn chunked_body_over_limit_is_413_and_body_under_limit_reaches_handler() {
        let readiness = Readiness::new();
        let (handle, base, keys) = started(readiness, 1024).await;
        let token = keys
            .issue_service_token("test")
            .unwrap_or_else(|e| panic!("{e}"));
        let client = crate::platform::http_client::builder()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            (0..8).map(|_| Ok(vec![b'x'; 200])).collect();
        let response = client
            .post(format!("{base}/echo"))
            .bearer_auth(&token)
            .header("Content-Type", "text/plain")
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 413);
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        assert_eq!(body["code"], codes::PAYLOAD_TOO_LARGE);
        let response = client
            .post(format!("{base}/echo"))
            .bearer_auth(&token)
            .header("Content-Type", "text/plain")
            .body("hello")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.text().await.unwrap_or_default(), "5");
        handle.stop().await.unwrap_or_else(|e| panic!("{e}"));
    }

    #[tokio::test]
    async fn shutdown_wait_returns_after_trigger_and_immediately_when_already_triggered() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.is_triggered());
        let waiter = {
            let shutdown = shutdown.clone();
            tokio::spawn(async move { shutdown.wait().await })
        };
        shutdown.trigger();
        waiter.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(shutdown.is_triggered());
        shutdown.wait().await;
    }
}
