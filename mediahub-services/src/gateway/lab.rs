//! 学習用の API (`/api/v1/lab/…`): サービスの地図、プロジェクションの遅れ、本物の障害。
//!
//! UI の「サービス」と「プロジェクション」のパネルが使います。どれも利用者のトークンが要ります。
//!
//! | メソッド | パス | 内容 |
//! |---|---|---|
//! | GET | `/api/v1/lab/services` | 8 サービスの状態 (各サービスの `/ready` をゲートウェイが 1 秒以内に確かめる) |
//! | POST | `/api/v1/lab/services/{name}/stop` | サービスを本当に止める (ポートが閉じ、処理中の要求も終わる) |
//! | POST | `/api/v1/lab/services/{name}/start` | 止めたサービスを同じポート・同じデータで起こす |
//! | GET | `/api/v1/lab/projections` | 読み側 4 サービスのチェックポイント・ログの先頭・遅れ |
//! | POST | `/api/v1/lab/projections/{name}/rebuild` | 読みモデルを位置 0 から作り直す |
//!
//! 止める・起こすは、全サービスを 1 プロセスで動かす `make run` (開発用ログインが有効なとき) だけ
//! 使えます: そのプロセスが [`LabControl`] の窓口を渡したときです。コンテナ (compose) では
//! `docker stop` が同じ役目です (`controls_enabled: false` で 403 `lab.controls_disabled`)。
//! 作り直しは開発用ログインが有効なときだけ使えます (無効なら 403 `lab.rebuild_disabled`)。

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::StatusCode;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Tags};
use tokio::sync::{mpsc, oneshot};

use super::proxy::{GATEWAY_SERVICE_NAME, UpstreamUrls};
use super::routes::Upstream;
use crate::consumer::{ProjectionStatus, RebuildResult};
use crate::platform::auth::{BearerAuth, JwtKeys, acting_user};
use crate::platform::problem::Problem;

/// 状態の確認 (`/ready`・`/internal/v1/projection`) を待つ最長の時間。
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// problem+json の `code`。
pub mod codes {
    /// 止める・起こすが使えない (全サービスを 1 プロセスで動かす開発モードだけ)。
    pub const CONTROLS_DISABLED: &str = "lab.controls_disabled";
    /// 作り直しが使えない (開発用ログインが無効)。
    pub const REBUILD_DISABLED: &str = "lab.rebuild_disabled";
    /// そういう名前のサービスは無い。
    pub const UNKNOWN_SERVICE: &str = "lab.unknown_service";
    /// そのサービスは止められない (ゲートウェイ・イベントストアなど) / 読みモデルを持たない。
    pub const NOT_CONTROLLABLE: &str = "lab.not_controllable";
    /// すでに止まっている / 動いている。
    pub const WRONG_STATE: &str = "lab.wrong_state";
    /// 操作に失敗した (起動できないなど)。
    pub const FAILED: &str = "lab.failed";
    /// 相手のサービスに届かない (止まっている)。
    pub const SERVICE_DOWN: &str = "lab.service_down";
    /// 利用者のトークンが要る。
    pub const USER_REQUIRED: &str = "lab.user_required";
}

/// 学習用に止めたり起こしたりできるサービス。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabService {
    /// media-query (読みモデル: メディアの一覧と詳細)。
    MediaQuery,
    /// album (アルバム。止めると Saga のアルバム追加が再試行を続けます)。
    Album,
    /// saga (オーケストレーター。止めても、起こせば続きから進めます)。
    Saga,
}

impl LabService {
    /// 止めたり起こしたりできるサービス。
    pub const ALL: [Self; 3] = [Self::MediaQuery, Self::Album, Self::Saga];

    /// サービス名。
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::MediaQuery => "media-query",
            Self::Album => "album",
            Self::Saga => "saga",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for LabService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// 止めるか起こすか。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabAction {
    /// 止める。
    Stop,
    /// 起こす。
    Start,
}

/// 止める・起こすの失敗。
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabFailure {
    /// すでにその状態 (止まっているのに止める、など)。
    #[error("{0}")]
    WrongState(String),
    /// 操作に失敗した。
    #[error("{0}")]
    Failed(String),
}

/// 止める・起こすの依頼 (全サービスを持つプロセスが受け取って実行し、`reply` で答えます)。
#[derive(Debug)]
pub struct LabRequest {
    /// 対象。
    pub service: LabService,
    /// 操作。
    pub action: LabAction,
    /// 結果の返し先。
    pub reply: oneshot::Sender<Result<(), LabFailure>>,
}

/// 止める・起こすの依頼を送る窓口 (複製して配れます)。
#[derive(Debug, Clone)]
pub struct LabControl {
    requests: mpsc::Sender<LabRequest>,
}

impl LabControl {
    /// 窓口と、依頼を受け取る側を作ります。
    #[must_use]
    pub fn channel() -> (Self, mpsc::Receiver<LabRequest>) {
        let (requests, receiver) = mpsc::channel(8);
        (Self { requests }, receiver)
    }

    /// 依頼を送り、結果を待ちます。
    async fn send(&self, service: LabService, action: LabAction) -> Result<(), LabFailure> {
        let (reply, answer) = oneshot::channel();
        let request = LabRequest {
            service,
            action,
            reply,
        };
        let gone = || LabFailure::Failed("サービスを管理するプロセスが応答しません".to_owned());
        self.requests.send(request).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// 学習用 API の状態。
#[derive(Debug, Clone)]
pub struct LabState {
    /// 上流のベース URL。
    pub upstreams: UpstreamUrls,
    /// UI (frontend) の状態を確かめる URL (分からなければ `None` で `unknown`)。
    pub frontend_url: Option<String>,
    /// サービス用トークンの発行に使う鍵。
    pub keys: JwtKeys,
    /// 止める・起こすの窓口 (`make run` の開発モードだけ)。
    pub controls: Option<LabControl>,
    /// 作り直しを許すか (開発用ログインが有効なとき)。
    pub rebuild_enabled: bool,
    /// 状態の確認に使う HTTP クライアント。
    pub http: reqwest::Client,
}

/// サービスの状態。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ServiceState {
    /// `/ready` が 200。
    Ready,
    /// 応答はあるが準備中 (`/ready` が 200 以外)。
    Starting,
    /// 応答が無い (ポートが閉じている、時間切れ)。
    Down,
    /// 確かめる URL が分からない。
    Unknown,
}

/// サービス 1 つの状態。
#[derive(Debug, Clone, Object)]
pub struct LabServiceStatus {
    /// サービス名 (`gateway`・`media-command`・…・`frontend`)。
    pub name: String,
    /// 状態。
    pub state: ServiceState,
    /// ゲートウェイからの `/ready` の往復時間 (ミリ秒。応答が無ければ `null`)。
    #[oai(nullable)]
    pub latency_ms: Option<u64>,
    /// UI から止めたり起こしたりできるか。
    pub controllable: bool,
}

/// サービスの地図。
#[derive(Debug, Clone, Object)]
pub struct LabServices {
    /// 止める・起こすが使えるか (`make run` の開発モード)。
    pub controls_enabled: bool,
    /// 作り直しが使えるか (開発用ログインが有効)。
    pub rebuild_enabled: bool,
    /// 8 サービス (ゲートウェイ・6 つの上流・UI の順)。
    pub items: Vec<LabServiceStatus>,
}

/// 止める・起こすの結果。
#[derive(Debug, Clone, Object)]
pub struct LabServiceChanged {
    /// サービス名。
    pub name: String,
    /// 操作の後の状態。
    pub state: ServiceState,
}

/// 読み側のサービス 1 つのプロジェクション。
#[derive(Debug, Clone, Object)]
pub struct LabProjection {
    /// サービス名 (`media-query`・`album`・`notification`・`saga`)。
    pub service: String,
    /// 進み具合 (サービスが止まっていれば `null`)。
    #[oai(nullable)]
    pub status: Option<ProjectionStatus>,
}

/// プロジェクションの一覧。
#[derive(Debug, Clone, Object)]
pub struct LabProjections {
    /// 読み側の 4 サービス。
    pub items: Vec<LabProjection>,
}

#[derive(Debug, Tags)]
enum LabTags {
    /// 学習用: サービスの地図・本物の障害・プロジェクションの遅れと作り直し
    Lab,
}

/// 読みモデルを持つ上流 (プロジェクションパネルに並ぶ順)。
const READ_SIDES: [Upstream; 4] = [
    Upstream::MediaQuery,
    Upstream::Album,
    Upstream::Notification,
    Upstream::Saga,
];

/// 状態を表示する上流 (地図に並ぶ順)。
const UPSTREAMS: [Upstream; 6] = [
    Upstream::MediaCommand,
    Upstream::MediaQuery,
    Upstream::Album,
    Upstream::EventStore,
    Upstream::Saga,
    Upstream::Notification,
];

/// 学習用 API。
#[derive(Debug, Clone)]
pub struct LabApi {
    state: Arc<LabState>,
}

impl LabApi {
    /// 状態から作ります。
    #[must_use]
    pub fn new(state: Arc<LabState>) -> Self {
        Self { state }
    }

    /// `base/ready` を確かめます。
    async fn probe(&self, base: Option<&str>) -> (ServiceState, Option<u64>) {
        let Some(base) = base else {
            return (ServiceState::Unknown, None);
        };
        let started = Instant::now();
        let answer = self
            .state
            .http
            .get(format!("{}/ready", base.trim_end_matches('/')))
            .timeout(PROBE_TIMEOUT)
            .send()
            .await;
        let latency = u64::try_from(started.elapsed().as_millis()).ok();
        match answer {
            Ok(response) if response.status().is_success() => (ServiceState::Ready, latency),
            Ok(_) => (ServiceState::Starting, latency),
            Err(_) => (ServiceState::Down, None),
        }
    }

    fn service_token(&self) -> Result<String, Problem> {
        self.state
            .keys
            .issue_service_token(GATEWAY_SERVICE_NAME)
            .map_err(|err| Problem::internal("lab.token", &err))
    }

    fn controls(&self) -> Result<&LabControl, Problem> {
        self.state.controls.as_ref().ok_or_else(|| {
            Problem::forbidden(
                codes::CONTROLS_DISABLED,
                "サービスを止める・起こすのは、全サービスを 1 プロセスで動かす make run (開発用ログインが有効) だけです。compose では docker stop / docker start を使ってください",
            )
        })
    }

    async fn change(
        &self,
        auth: &BearerAuth,
        name: &str,
        action: LabAction,
    ) -> Result<Json<LabServiceChanged>, Problem> {
        user_of(auth)?;
        let service = controllable(name)?;
        self.controls()?
            .send(service, action)
            .await
            .map_err(|failure| match failure {
                LabFailure::WrongState(detail) => Problem::conflict(codes::WRONG_STATE, detail),
                LabFailure::Failed(detail) => {
                    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, codes::FAILED, detail)
                }
            })?;
        tracing::warn!(
            service = service.name(),
            ?action,
            "学習用の操作でサービスを {action:?} しました"
        );
        let base = self.state.upstreams.base(upstream_of(service)).to_owned();
        let (state, _) = self.probe(Some(&base)).await;
        Ok(Json(LabServiceChanged {
            name: service.name().to_owned(),
            state,
        }))
    }
}

/// 利用者のトークンか (サービス用トークンは 403)。
fn user_of(auth: &BearerAuth) -> Result<(), Problem> {
    acting_user(&auth.0, None)?
        .map(drop)
        .ok_or_else(|| Problem::forbidden(codes::USER_REQUIRED, "利用者のトークンで呼んでください"))
}

fn upstream_of(service: LabService) -> Upstream {
    match service {
        LabService::MediaQuery => Upstream::MediaQuery,
        LabService::Album => Upstream::Album,
        LabService::Saga => Upstream::Saga,
    }
}

/// 8 サービスの名前 (止められるかどうかにかかわらず)。
fn is_known(name: &str) -> bool {
    name == "gateway" || name == "frontend" || UPSTREAMS.iter().any(|u| u.name() == name)
}

/// 止めたり起こしたりできるサービス名を読みます。
fn controllable(name: &str) -> Result<LabService, Problem> {
    if let Some(service) = LabService::from_name(name) {
        return Ok(service);
    }
    let names = LabService::ALL.map(LabService::name).join(" / ");
    if is_known(name) {
        Err(Problem::conflict(
            codes::NOT_CONTROLLABLE,
            format!("{name} は UI からは止められません ({names} のどれか)"),
        ))
    } else {
        Err(Problem::not_found(
            codes::UNKNOWN_SERVICE,
            format!("{name} というサービスはありません ({names} のどれか)"),
        ))
    }
}

/// 読みモデルを持つサービス名を読みます。
fn read_side(name: &str) -> Result<Upstream, Problem> {
    if let Some(upstream) = READ_SIDES.into_iter().find(|u| u.name() == name) {
        return Ok(upstream);
    }
    let names = READ_SIDES.map(Upstream::name).join(" / ");
    if is_known(name) {
        Err(Problem::conflict(
            codes::NOT_CONTROLLABLE,
            format!("{name} は読みモデルを持ちません ({names} のどれか)"),
        ))
    } else {
        Err(Problem::not_found(
            codes::UNKNOWN_SERVICE,
            format!("{name} というサービスはありません ({names} のどれか)"),
        ))
    }
}

#[OpenApi(prefix_path = "/api/v1/lab", tag = "LabTags::Lab")]
impl LabApi {
    /// 8 サービスの状態 (サービスの地図)。
    ///
    /// ゲートウェイが各サービスの `/ready` を並行に (それぞれ最長 1 秒) 確かめます: 200 なら
    /// `ready`、ほかの応答なら `starting`、応答が無ければ `down`。
    #[oai(path = "/services", method = "get")]
    async fn services(&self, auth: BearerAuth) -> Result<Json<LabServices>, Problem> {
        user_of(&auth)?;
        let upstreams = &self.state.upstreams;
        let probes = UPSTREAMS.map(|u| self.probe(Some(upstreams.base(u))));
        let (upstream_states, frontend) = tokio::join!(
            futures::future::join_all(probes),
            self.probe(self.state.frontend_url.as_deref())
        );
        let mut items = vec![LabServiceStatus {
            name: "gateway".to_owned(),
            state: ServiceState::Ready,
            latency_ms: Some(0),
            controllable: false,
        }];
        for (upstream, (state, latency_ms)) in UPSTREAMS.into_iter().zip(upstream_states) {
            items.push(LabServiceStatus {
                name: upstream.name().to_owned(),
                state,
                latency_ms,
                controllable: self.state.controls.is_some()
                    && LabService::from_name(upstream.name()).is_some(),
            });
        }
        items.push(LabServiceStatus {
            name: "frontend".to_owned(),
            state: frontend.0,
            latency_ms: frontend.1,
            controllable: false,
        });
        Ok(Json(LabServices {
            controls_enabled: self.state.controls.is_some(),
            rebuild_enabled: self.state.rebuild_enabled,
            items,
        }))
    }

    /// サービスを本当に止めます (`media-query`・`album`・`saga`)。ポートが閉じ、処理中の要求は
    /// 終わります。Saga は止まったサービスへの依頼を再試行の期限まで繰り返します。
    ///
    /// `make run` の開発モードでなければ 403 `lab.controls_disabled`。止まっていれば 409
    /// `lab.wrong_state`。ほかのサービスは 409 `lab.not_controllable`、無い名前は 404。
    #[oai(path = "/services/:name/stop", method = "post")]
    async fn stop_service(
        &self,
        auth: BearerAuth,
        /// サービス名。
        name: Path<String>,
    ) -> Result<Json<LabServiceChanged>, Problem> {
        self.change(&auth, &name.0, LabAction::Stop).await
    }

    /// 止めたサービスを同じポート・同じデータで起こします (読みモデルは続きから追いつきます)。
    #[oai(path = "/services/:name/start", method = "post")]
    async fn start_service(
        &self,
        auth: BearerAuth,
        /// サービス名。
        name: Path<String>,
    ) -> Result<Json<LabServiceChanged>, Problem> {
        self.change(&auth, &name.0, LabAction::Start).await
    }

    /// 読み側 4 サービスのプロジェクションの進み具合 (チェックポイント・ログの先頭・遅れ)。
    /// 止まっているサービスは `status: null`。
    #[oai(path = "/projections", method = "get")]
    async fn projections(&self, auth: BearerAuth) -> Result<Json<LabProjections>, Problem> {
        user_of(&auth)?;
        let token = self.service_token()?;
        let reads = READ_SIDES.map(|upstream| {
            let request = self
                .state
                .http
                .get(format!(
                    "{}/internal/v1/projection",
                    self.state.upstreams.base(upstream)
                ))
                .bearer_auth(&token)
                .timeout(PROBE_TIMEOUT);
            async move {
                let status = match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        response.json::<ProjectionStatus>().await.ok()
                    }
                    _ => None,
                };
                LabProjection {
                    service: upstream.name().to_owned(),
                    status,
                }
            }
        });
        Ok(Json(LabProjections {
            items: futures::future::join_all(reads).await,
        }))
    }

    /// 読みモデルを位置 0 から作り直します (`media-query`・`album`・`notification`・`saga`)。
    /// 終わると作り直した後のチェックポイントと再生したイベントの数を返します。作り直しの間は
    /// `GET /api/v1/lab/projections` のチェックポイントが 0 から先頭へ進むのが見えます。
    ///
    /// 開発用ログインが無効なら 403 `lab.rebuild_disabled`。サービスが止まっていれば 503
    /// `lab.service_down`。
    #[oai(path = "/projections/:name/rebuild", method = "post")]
    async fn rebuild(
        &self,
        auth: BearerAuth,
        /// サービス名。
        name: Path<String>,
    ) -> Result<Json<RebuildResult>, Problem> {
        user_of(&auth)?;
        let upstream = read_side(&name.0)?;
        if !self.state.rebuild_enabled {
            return Err(Problem::forbidden(
                codes::REBUILD_DISABLED,
                "作り直しは開発用ログインが有効なときだけ UI から使えます (本番ではサービス用トークンで POST /internal/v1/rebuild)",
            ));
        }
        let token = self.service_token()?;
        let down = |err: &dyn fmt::Display| {
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::SERVICE_DOWN,
                format!("{} に届きません: {err}", upstream.name()),
            )
        };
        let response = self
            .state
            .http
            .post(format!(
                "{}/internal/v1/rebuild",
                self.state.upstreams.base(upstream)
            ))
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|err| down(&err))?;
        if !response.status().is_success() {
            return Err(down(&response.status()));
        }
        let result = response
            .json::<RebuildResult>()
            .await
            .map_err(|err| down(&err))?;
        Ok(Json(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controllable_names_are_media_query_album_saga_others_409_unknown_404() {
        assert_eq!(controllable("album").ok(), Some(LabService::Album));
        assert_eq!(controllable("saga").ok(), Some(LabService::Saga));
        assert_eq!(
            controllable("media-query").ok(),
            Some(LabService::MediaQuery)
        );
        let status = |r: Result<LabService, Problem>| r.err().map(|p| p.status());
        assert_eq!(
            status(controllable("eventstore")),
            Some(StatusCode::CONFLICT)
        );
        assert_eq!(status(controllable("gateway")), Some(StatusCode::CONFLICT));
        assert_eq!(status(controllable("nope")), Some(StatusCode::NOT_FOUND));
    }

    #[test]
    fn read_sides_are_the_four_services_with_projections() {
        for name in ["media-query", "album", "notification", "saga"] {
            assert_eq!(read_side(name).map(Upstream::name).ok(), Some(name));
        }
        let status = |r: Result<Upstream, Problem>| r.err().map(|p| p.status());
        assert_eq!(
            status(read_side("media-command")),
            Some(StatusCode::CONFLICT)
        );
        assert_eq!(status(read_side("x")), Some(StatusCode::NOT_FOUND));
    }
}
