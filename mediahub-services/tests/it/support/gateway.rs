//! gateway の結合テストで共有する補助。
//!
//! - 本物のイベントストア ([`Store`]) を一時ディレクトリの上で起動します (自分のイベントの経路の上流)。
//! - **上流の代役** ([`Echo`]): ドメインサービスは並行して別の人が書いているので、中継の仕組みを
//!   確かめるために、受け取った要求 (メソッド・パス・クエリ・ヘッダー・本体の長さ) をそのまま
//!   JSON で返す小さな本物の poem サーバーを上流ごとに立てます。本体は流しながら読み、
//!   受け取ったバイト数を逐次公開します。本物のサービスを通した端から端までのテストは後で足します。
//! - **偽の OAuth2 プロバイダ** ([`FakeProvider`]): 認可 (リダイレクト)、トークン (PKCE S256 の
//!   verifier と challenge の照合、クライアントシークレットの照合、コードは一度だけ)、GitHub の
//!   `/user` と `/user/emails`、Google の userinfo を実装した本物の poem サーバーです。

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use mediahub_core::ids::UserId;
use mediahub_services::gateway::{
    GatewayConfig, GatewayHandle, OAuthProvider, UpstreamUrls, start,
};
use mediahub_services::platform::auth::{AUDIENCE, Claims, ISSUER, JwtKeys, Role};
use mediahub_services::platform::server::{ServerHandle, Shutdown, bind, spawn_server};
use mediahub_services::store_client::LogQuery;
use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use poem::http::StatusCode;
use poem::web::Redirect;
use poem::{Body, IntoResponse, Request, Response};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

pub use super::services::{
    Caller, DEADLINE, Store, keys, service_token, status_and_json, testdata, wait_until,
};

/// 偽プロバイダに登録したクライアント ID。
pub const CLIENT_ID: &str = "test-client";
/// 偽プロバイダに登録したクライアントシークレット。
pub const CLIENT_SECRET: &str = "test-secret";
/// ゲートウェイの公開 URL (redirect_uri の元。ブラウザーの役はテストがするので解決できなくてよい)。
pub const PUBLIC_URL: &str = "http://gateway.test";
/// フロントエンドの URL。
pub const FRONTEND_URL: &str = "http://frontend.test:3000";
/// 偽 GitHub の利用者 ID。
pub const GITHUB_USER_ID: u64 = 4242;
/// 偽 Google の利用者 ID (`sub`)。
pub const GOOGLE_SUB: &str = "google-sub-77";
/// テストのアップロードの上限 (1 MiB)。中継の上限はこれ + 1 MiB。
pub const TEST_MAX_UPLOAD: u64 = 1024 * 1024;
/// テストの中継の上限 (アップロードの上限 + multipart の余裕 1 MiB)。
pub const TEST_REQUEST_LIMIT: u64 = TEST_MAX_UPLOAD + 1024 * 1024;

/// 標準または URL 用の base64 (URL 用はパディングなし)。
pub fn base64(bytes: &[u8], url_safe: bool) -> String {
    let alphabet: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if !url_safe {
                out.push('=');
            }
        }
    }
    out
}

async fn serve(app: impl poem::Endpoint + 'static, name: &str) -> ServerHandle {
    let listener = bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    spawn_server(listener, app, name, Shutdown::new(), Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------
// 上流の代役
// ---------------------------------------------------------------------------

/// プロバイダの設定のクライアントシークレットを差し替える拡張。
pub trait WithSecret {
    /// シークレットを差し替えたコピー。
    fn secret(self, secret: &str) -> Self;
}

impl WithSecret for OAuthProvider {
    fn secret(mut self, secret: &str) -> Self {
        self.client_secret = secret.to_owned();
        self
    }
}

/// 上流の代役の観測値。
#[derive(Clone)]
pub struct EchoState {
    /// 代役の名前 (どの上流として立てたか)。
    pub name: &'static str,
    /// 受けた要求の数。
    pub hits: Arc<AtomicUsize>,
    /// 本体を最後まで受け取った要求の数。
    pub completed: Arc<AtomicUsize>,
    /// 受け取った本体のバイト数の累計 (流れながら増えます)。
    pub received: Arc<watch::Sender<u64>>,
}

/// 受けた要求をそのまま JSON で返す上流の代役。
///
/// - パスが `/hang` で終われば、応答しません (504 の確認用)。
/// - `GET /api/v1/notifications/stream` は SSE の最初のイベントを 1 件送り、接続を開いたままにします。
pub struct Echo {
    /// 観測値。
    pub state: EchoState,
    /// サーバー。
    pub server: ServerHandle,
}

impl Echo {
    /// ポート 0 で起動します。
    pub async fn start(name: &'static str) -> Self {
        let state = EchoState {
            name,
            hits: Arc::new(AtomicUsize::new(0)),
            completed: Arc::new(AtomicUsize::new(0)),
            received: Arc::new(watch::channel(0).0),
        };
        let shared = state.clone();
        let app = poem::endpoint::make(move |req: Request| {
            let state = shared.clone();
            async move { echo(state, req).await }
        });
        let server = serve(app, name).await;
        Self { state, server }
    }

    /// ベース URL。
    pub fn url(&self) -> String {
        self.server.base_url()
    }

    /// 受けた要求の数。
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// 本体を最後まで受け取った要求の数。
    pub fn completed(&self) -> usize {
        self.state.completed.load(Ordering::SeqCst)
    }

    /// 受け取った本体のバイト数の累計。
    pub fn received(&self) -> u64 {
        *self.state.received.borrow()
    }
}

async fn echo(state: EchoState, mut req: Request) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_owned();
    if path.ends_with("/hang") {
        futures::future::pending::<()>().await;
    }
    if path == "/api/v1/notifications/stream" {
        let first = futures::stream::once(async {
            Ok::<_, std::io::Error>("event: notification\ndata: {\"hello\":1}\n\n".to_owned())
        });
        let rest = futures::stream::pending();
        return Response::builder()
            .content_type("text/event-stream")
            .body(Body::from_bytes_stream(first.chain(rest)));
    }
    let headers: serde_json::Map<String, Value> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                Value::String(v.to_str().unwrap_or("").to_owned()),
            )
        })
        .collect();
    let mut body = req.take_body().into_bytes_stream();
    let mut len = 0u64;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => {
                len += chunk.len() as u64;
                state.received.send_modify(|n| *n += chunk.len() as u64);
            }
            Err(_) => {
                return StatusCode::BAD_REQUEST.into_response();
            }
        }
    }
    state.completed.fetch_add(1, Ordering::SeqCst);
    poem::web::Json(json!({
        "upstream": state.name,
        "method": req.method().as_str(),
        "path": path,
        "query": req.uri().query(),
        "headers": headers,
        "body_len": len,
    }))
    .into_response()
}

/// ドメインサービス 5 つ分の代役。
pub struct Echoes {
    /// media-command の代役。
    pub media_command: Echo,
    /// media-query の代役。
    pub media_query: Echo,
    /// album の代役。
    pub album: Echo,
    /// notification の代役。
    pub notification: Echo,
    /// saga の代役。
    pub saga: Echo,
}

impl Echoes {
    /// 5 つの代役を起動します。
    pub async fn start() -> Self {
        Self {
            media_command: Echo::start("media-command").await,
            media_query: Echo::start("media-query").await,
            album: Echo::start("album").await,
            notification: Echo::start("notification").await,
            saga: Echo::start("saga").await,
        }
    }

    /// すべての代役が受けた要求の数の合計。
    pub fn total_hits(&self) -> usize {
        [
            &self.media_command,
            &self.media_query,
            &self.album,
            &self.notification,
            &self.saga,
        ]
        .iter()
        .map(|e| e.hits())
        .sum()
    }
}

// ---------------------------------------------------------------------------
// 偽の OAuth2 プロバイダ
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Grant {
    challenge: String,
    redirect_uri: String,
}

/// 偽プロバイダの観測値と状態。
#[derive(Default)]
pub struct FakeState {
    codes: Mutex<HashMap<String, Grant>>,
    tokens: Mutex<Vec<String>>,
    /// 認可エンドポイントが受けたクエリ。
    pub authorize_requests: Mutex<Vec<HashMap<String, String>>>,
    /// トークンエンドポイントへの要求の数。
    pub token_requests: AtomicUsize,
    /// トークンエンドポイントが拒否した数。
    pub token_rejections: AtomicUsize,
}

/// 偽の OAuth2 プロバイダ (GitHub と Google を兼ねる)。
pub struct FakeProvider {
    /// 状態。
    pub state: Arc<FakeState>,
    /// サーバー。
    pub server: ServerHandle,
}

fn query_map(req: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn bad(error: &str) -> Response {
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .content_type("application/json")
        .body(json!({ "error": error }).to_string())
}

async fn fake(state: Arc<FakeState>, mut req: Request) -> Response {
    let path = req.uri().path().to_owned();
    match path.as_str() {
        "/authorize" => {
            let q = query_map(&req);
            state
                .authorize_requests
                .lock()
                .unwrap_or_else(|e| panic!("{e}"))
                .push(q.clone());
            if q.get("response_type").map(String::as_str) != Some("code")
                || q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
                || q.get("code_challenge_method").map(String::as_str) != Some("S256")
            {
                return bad("invalid_request");
            }
            let code = uuid::Uuid::new_v4().to_string();
            state.codes.lock().unwrap_or_else(|e| panic!("{e}")).insert(
                code.clone(),
                Grant {
                    challenge: q.get("code_challenge").cloned().unwrap_or_default(),
                    redirect_uri: q.get("redirect_uri").cloned().unwrap_or_default(),
                },
            );
            let mut location =
                url::Url::parse(&q["redirect_uri"]).unwrap_or_else(|e| panic!("{e}"));
            location
                .query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", q.get("state").map_or("", String::as_str));
            Redirect::see_other(location.as_str()).into_response()
        }
        "/token" => {
            state.token_requests.fetch_add(1, Ordering::SeqCst);
            let basic = format!(
                "Basic {}",
                base64(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes(), false)
            );
            let auth_ok = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                == Some(basic.as_str());
            let body = req.take_body().into_string().await.unwrap_or_default();
            let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
            let grant = form.get("code").and_then(|c| {
                state
                    .codes
                    .lock()
                    .unwrap_or_else(|e| panic!("{e}"))
                    .remove(c)
            });
            let verifier_ok = match (&grant, form.get("code_verifier")) {
                (Some(grant), Some(verifier)) => {
                    PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
                        verifier.clone(),
                    ))
                    .as_str()
                        == grant.challenge
                }
                _ => false,
            };
            let redirect_ok = grant.as_ref().map(|g| &g.redirect_uri) == form.get("redirect_uri");
            if !auth_ok
                || !verifier_ok
                || !redirect_ok
                || form.get("grant_type").map(String::as_str) != Some("authorization_code")
            {
                state.token_rejections.fetch_add(1, Ordering::SeqCst);
                return bad("invalid_grant");
            }
            let token = format!("at-{}", uuid::Uuid::new_v4());
            state
                .tokens
                .lock()
                .unwrap_or_else(|e| panic!("{e}"))
                .push(token.clone());
            poem::web::Json(json!({ "access_token": token, "token_type": "bearer" }))
                .into_response()
        }
        "/api/user" | "/api/user/emails" | "/userinfo" => {
            let token = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("")
                .to_owned();
            if !state
                .tokens
                .lock()
                .unwrap_or_else(|e| panic!("{e}"))
                .contains(&token)
            {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            let body = match path.as_str() {
                "/api/user" => json!({ "id": GITHUB_USER_ID, "login": "octo", "name": "Octo Cat" }),
                "/api/user/emails" => json!([
                    { "email": "unverified@example.com", "primary": false, "verified": false },
                    { "email": "octo@example.com", "primary": true, "verified": true },
                ]),
                _ => json!({
                    "sub": GOOGLE_SUB,
                    "email": "gopher@example.com",
                    "email_verified": true,
                    "name": "Gopher",
                }),
            };
            poem::web::Json(body).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

impl FakeProvider {
    /// ポート 0 で起動します。
    pub async fn start() -> Self {
        let state = Arc::new(FakeState::default());
        let shared = Arc::clone(&state);
        let app = poem::endpoint::make(move |req: Request| {
            let state = Arc::clone(&shared);
            async move { fake(state, req).await }
        });
        let server = serve(app, "fake-oauth").await;
        Self { state, server }
    }

    /// この偽プロバイダを指す GitHub の設定。
    pub fn github(&self) -> OAuthProvider {
        let base = self.server.base_url();
        OAuthProvider::github(CLIENT_ID, CLIENT_SECRET).urls(
            format!("{base}/authorize"),
            format!("{base}/token"),
            format!("{base}/api"),
        )
    }

    /// この偽プロバイダを指す Google の設定。
    pub fn google(&self) -> OAuthProvider {
        let base = self.server.base_url();
        OAuthProvider::google(CLIENT_ID, CLIENT_SECRET).urls(
            format!("{base}/authorize"),
            format!("{base}/token"),
            format!("{base}/userinfo"),
        )
    }

    /// トークンエンドポイントへの要求の数。
    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------
// ゲートウェイ一式
// ---------------------------------------------------------------------------

/// 起動の選択肢。
#[derive(Debug, Clone)]
pub struct Options {
    /// 開発用ログイン。
    pub dev_login: bool,
    /// GitHub を有効にする。
    pub github: bool,
    /// Google を有効にする。
    pub google: bool,
    /// 上流の応答待ち時間。
    pub upstream_timeout: Duration,
    /// album の URL を差し替える (落ちている上流の確認用)。
    pub album_url: Option<String>,
    /// ゲートウェイに設定するクライアントシークレット (偽プロバイダが知っているのは [`CLIENT_SECRET`])。
    pub client_secret: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dev_login: true,
            github: true,
            google: true,
            upstream_timeout: Duration::from_secs(10),
            album_url: None,
            client_secret: CLIENT_SECRET,
        }
    }
}

/// 本物のイベントストア、上流の代役、偽プロバイダ、ゲートウェイの一式。
pub struct Harness {
    /// イベントストア。
    pub store: Store,
    /// 上流の代役。
    pub echoes: Echoes,
    /// 偽の OAuth2 プロバイダ。
    pub fake: FakeProvider,
    /// ゲートウェイ。
    pub gateway: Option<GatewayHandle>,
    /// ゲートウェイのデータベースの置き場所 (テストが終わるまで消さないために持つだけ)。
    _dir: TempDir,
    /// ゲートウェイのベース URL。
    pub base: String,
    /// リダイレクトを追わない HTTP クライアント。
    pub http: reqwest::Client,
}

impl Harness {
    /// 既定の選択肢で起動します。
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// 選択肢を指定して起動します。
    pub async fn start_with(options: Options) -> Self {
        let store = Store::start().await;
        let echoes = Echoes::start().await;
        let fake = FakeProvider::start().await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let urls = UpstreamUrls {
            media_command: echoes.media_command.url(),
            media_query: echoes.media_query.url(),
            album: options
                .album_url
                .clone()
                .unwrap_or_else(|| echoes.album.url()),
            eventstore: store.base_url(),
            saga: echoes.saga.url(),
            notification: echoes.notification.url(),
        };
        let config = GatewayConfig::new(dir.path().join("gateway.db"), keys())
            .listen("127.0.0.1:0")
            .public_url(PUBLIC_URL)
            .frontend_url(FRONTEND_URL)
            .service_urls(&urls)
            .github(
                options
                    .github
                    .then(|| fake.github().secret(options.client_secret)),
            )
            .google(
                options
                    .google
                    .then(|| fake.google().secret(options.client_secret)),
            )
            .dev_login(options.dev_login)
            .max_upload_bytes(TEST_MAX_UPLOAD)
            .upstream_timeout(options.upstream_timeout);
        let gateway = start(config).await.unwrap_or_else(|e| panic!("{e}"));
        let base = gateway.base_url();
        let http = mediahub_services::platform::http_client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            store,
            echoes,
            fake,
            gateway: Some(gateway),
            _dir: dir,
            base,
            http,
        }
    }

    /// ゲートウェイのアドレス。
    pub fn addr(&self) -> SocketAddr {
        self.gateway
            .as_ref()
            .map(GatewayHandle::local_addr)
            .unwrap_or_else(|| panic!("ゲートウェイが動いていません"))
    }

    /// ゲートウェイへのトークンつきの呼び手。
    pub fn caller(&self, token: impl Into<String>) -> Caller {
        Caller::new(self.base.clone(), token)
    }

    /// ゲートウェイへのトークンなしの呼び手。
    pub fn anonymous(&self) -> Caller {
        Caller::anonymous(self.base.clone())
    }

    /// 開発用ログインでトークンを得ます。
    pub async fn dev_token(&self, login: &str) -> (String, UserId) {
        let (status, body) = self
            .anonymous()
            .post("/auth/dev-token", &json!({ "login": login }))
            .await;
        assert_eq!(status, 200, "{body}");
        let token = body["token"].as_str().unwrap_or_default().to_owned();
        let user: UserId = body["user_id"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        (token, user)
    }

    /// イベントストアにある、あるユーザーの `UserRegistered` の数。
    pub async fn registrations(&self, user: UserId) -> usize {
        let page = self
            .store
            .client()
            .read_log(&LogQuery::after(0).aggregate_type("User").limit(1000))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        page.events
            .iter()
            .filter(|e| e.event_type == "UserRegistered" && e.aggregate_id == user.to_string())
            .count()
    }

    /// イベントストアにある `UserRegistered` の総数。
    pub async fn all_registrations(&self) -> usize {
        let page = self
            .store
            .client()
            .read_log(&LogQuery::after(0).aggregate_type("User").limit(1000))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        page.events.len()
    }

    /// 停止します。
    pub async fn stop(mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.stop().await.unwrap_or_else(|e| panic!("{e}"));
        }
        self.store.stop().await;
    }
}

/// 応答ヘッダーの値 (無い・読めないなら `None`)。
pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// problem+json の応答であることを確かめ、状態コードと本体を返します。
pub async fn problem(response: reqwest::Response) -> (u16, Value) {
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/problem+json")
    );
    status_and_json(response).await
}

/// 流れている応答の最初の塊を (期限つきで) 読みます。
pub async fn first_chunk(response: &mut reqwest::Response) -> String {
    let chunk = tokio::time::timeout(DEADLINE, response.chunk())
        .await
        .unwrap_or_else(|_| panic!("最初の塊が期限内に届きません"))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    String::from_utf8_lossy(&chunk).into_owned()
}

/// 302 応答の `Location` と `Set-Cookie`。
pub fn location_and_cookie(response: &reqwest::Response) -> (String, Option<String>) {
    (
        header(response, "location").unwrap_or_else(|| panic!("Location がありません")),
        header(response, "set-cookie"),
    )
}

/// `Set-Cookie` の値から `name=value` の部分を取り出します。
pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or("").trim().to_owned()
}

/// ログインを始め、偽プロバイダの認可画面を通って、ゲートウェイのコールバックの URL
/// (実際のアドレスに書き換えたもの) とクッキーを得ます。
pub async fn authorize(h: &Harness, provider: &str) -> (String, String) {
    let login = h
        .http
        .get(format!("{}/auth/{provider}/login", h.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(login.status().as_u16(), 302);
    let (authorize_url, set_cookie) = location_and_cookie(&login);
    let cookie = cookie_pair(&set_cookie.unwrap_or_else(|| panic!("Set-Cookie がありません")));
    let consent = h
        .http
        .get(&authorize_url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(consent.status().as_u16(), 303);
    let (callback, _) = location_and_cookie(&consent);
    let callback = callback.replacen(PUBLIC_URL, &h.base, 1);
    (callback, cookie)
}

/// コールバックを呼びます。
pub async fn callback(h: &Harness, url: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = h.http.get(url);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    request.send().await.unwrap_or_else(|e| panic!("{e}"))
}

/// ログインを最後まで行い、フロントエンドへのリダイレクト先を返します。
pub async fn full_login(h: &Harness, provider: &str) -> String {
    let (url, cookie) = authorize(h, provider).await;
    let response = callback(h, &url, Some(&cookie)).await;
    assert_eq!(response.status().as_u16(), 302);
    location_and_cookie(&response).0
}

/// リダイレクト先のフラグメントからトークンを取り出します。
pub fn token_from_fragment(location: &str) -> String {
    let (_, token) = location
        .split_once("#token=")
        .unwrap_or_else(|| panic!("フラグメントにトークンがありません: {location}"));
    token.to_owned()
}

/// ある鍵でクレームを署名します (HS256)。
pub fn sign(keys: &JwtKeys, claims: &Claims) -> String {
    keys.encode_claims(claims).unwrap_or_else(|e| panic!("{e}"))
}

/// 1 時間有効なユーザーのクレーム。
pub fn user_claims(user: UserId) -> Claims {
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    Claims {
        sub: user.to_string(),
        user_id: Some(user.to_string()),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        exp: now + 3600,
        iat: now,
        role: Role::User,
    }
}

/// 生の HTTP/1.1 要求を送り、状態コードと応答全体を返します
/// (reqwest は URL の `..` や `%2e%2e` を正規化してしまうため)。
pub async fn raw_request(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    stream
        .write_all(request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut buf = Vec::new();
    let read = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "応答が期限内に終わりませんでした");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("状態行が読めません: {text}"));
    (status, text)
}

/// 生の GET 要求 (Connection: close)。
pub async fn raw_get(addr: SocketAddr, path: &str, token: &str) -> (u16, String) {
    raw_request(
        addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await
}
