//! 全部入りの起動: 8 つのサービスを 1 つのプロセスの中で、それぞれ自分のポートで起動します
//! ([開発ガイド §3](https://github.com/nao1215/mediahub/blob/main/docs/development.md#3-make-ターゲット) の `make run`)。
//!
//! サービスどうしは同じプロセスの中でも **本物の HTTP** で話します (近道はありません)。
//! 起動の順番は依存の向きのとおりです:
//!
//! 1. eventstore (8084) (ほかのすべてが使う)
//! 2. media-command (8081)・media-query (8082)・album (8083)・notification (8086) (並行して)
//! 3. saga (8085) (参加者の URL が要る)
//! 4. gateway (8080) (全サービスの URL と UI のオリジンが要る)
//! 5. frontend (3000) (ゲートウェイの URL が要る)
//!
//! UI のオリジンをゲートウェイの CORS に渡すため、frontend のポートだけは先に束縛しておきます。
//! 停止は逆の順番です。結合テストとベンチマークは、ポートを 0 にした同じ起動を使います
//! ([`Ports::EPHEMERAL`])。saga と media-query は個別に止めて、同じポートでまた起動できます
//! (クラッシュからの回復を確かめるため)。
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::platform::auth::JwtKeys;
//! use mediahub_services::system::{Ports, System, SystemConfig};
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = SystemConfig::new("./data", "./web", keys).ports(Ports::EPHEMERAL);
//! let system = System::start(config).await?;
//! println!("UI: {}", system.urls().frontend);
//! system.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod cli;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;

use mediahub_core::saga::SagaPolicy;

use crate::album::{self, AlbumConfig, AlbumHandle};
use crate::eventstore::{self, Durability, EventStoreConfig, EventStoreHandle};
use crate::frontend::{self, FrontendConfig, FrontendHandle};
use crate::gateway::{
    self, GatewayConfig, GatewayHandle, LabAction, LabControl, LabFailure, LabRequest, LabService,
    OAuthProvider, UpstreamUrls,
};
use crate::media_command::{self, MediaCommandConfig, MediaCommandHandle};
use crate::media_query::{self, MediaQueryConfig, MediaQueryHandle};
use crate::notification::{self, NotificationConfig, NotificationHandle};
use crate::platform::auth::JwtKeys;
use crate::platform::server::{self, ServerError};
use crate::platform::service::{ServiceHandle, StopError};
use crate::saga::{self, SagaConfig, SagaHandle};

/// 各サービスの待ち受けポート。0 なら空いているポートを OS が選びます。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// gateway のポート。
    pub gateway: u16,
    /// media-command のポート。
    pub media_command: u16,
    /// media-query のポート。
    pub media_query: u16,
    /// album のポート。
    pub album: u16,
    /// eventstore のポート。
    pub eventstore: u16,
    /// saga のポート。
    pub saga: u16,
    /// notification のポート。
    pub notification: u16,
    /// frontend のポート。
    pub frontend: u16,
}

impl Ports {
    /// [アーキテクチャ §1](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#1-全体像) の既定のポート (8080〜8086 と 3000)。
    pub const DEFAULT: Self = Self {
        gateway: 8080,
        media_command: 8081,
        media_query: 8082,
        album: 8083,
        eventstore: 8084,
        saga: 8085,
        notification: 8086,
        frontend: 3000,
    };

    /// すべて 0 (テストとベンチマーク用: 空いているポートを使う)。
    pub const EPHEMERAL: Self = Self {
        gateway: 0,
        media_command: 0,
        media_query: 0,
        album: 0,
        eventstore: 0,
        saga: 0,
        notification: 0,
        frontend: 0,
    };
}

/// 全部入りの起動の設定。
#[derive(Debug, Clone)]
pub struct SystemConfig {
    /// 待ち受けるホスト (既定 `127.0.0.1`)。
    pub host: String,
    /// ブラウザーから見たホスト名 (UI の URL、ゲートウェイの公開 URL と OAuth2 の
    /// `redirect_uri`、CORS で許すオリジンに使います)。`None` なら `host` と同じです。
    /// `make run` は `localhost` にするので、http://localhost:3000 で UI が開けます。
    pub public_host: Option<String>,
    /// 各サービスのポート。
    pub ports: Ports,
    /// SQLite とメディアのファイルを置くディレクトリ (既定 `./data`)。
    pub data_dir: PathBuf,
    /// UI のファイル (`web/`)。
    pub web_dir: PathBuf,
    /// 全サービスが共有する JWT の鍵。
    pub keys: JwtKeys,
    /// 開発用ログイン (`POST /auth/dev-token`) を有効にするか。
    pub dev_login: bool,
    /// 学習用の障害注入 (`X-Fault-Inject`) を有効にするか。
    pub fault_injection: bool,
    /// GitHub の OAuth2 (無ければ無効)。
    pub github: Option<OAuthProvider>,
    /// Google の OAuth2 (無ければ無効)。
    pub google: Option<OAuthProvider>,
    /// Saga の再試行と締め切りの方針。
    pub saga_policy: SagaPolicy,
    /// アップロードの上限 (バイト)。
    pub max_upload_bytes: u64,
    /// 各サービスのグレースフルシャットダウンの猶予。
    pub grace: Duration,
    /// UI (ゲートウェイの `/api/v1/lab/services/{name}/stop|start`) からサービスを止めたり
    /// 起こしたりできるようにするか (既定 `false`。`make run` は開発用ログインと同じ)。
    /// 依頼は [`System::serve_until`] が実行します。
    pub lab_controls: bool,
    /// イベントストアのコミットの耐久性 (既定 [`Durability::Full`]: コミットごとに fsync)。
    pub durability: Durability,
}

impl SystemConfig {
    /// データのディレクトリ・UI のディレクトリ・JWT の鍵から、ほかは既定値 (既定のポート、
    /// 開発用ログインと障害注入は無効) で設定を作ります。
    #[must_use]
    pub fn new(data_dir: impl AsRef<Path>, web_dir: impl AsRef<Path>, keys: JwtKeys) -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            public_host: None,
            ports: Ports::DEFAULT,
            data_dir: data_dir.as_ref().to_path_buf(),
            web_dir: web_dir.as_ref().to_path_buf(),
            keys,
            dev_login: false,
            fault_injection: false,
            github: None,
            google: None,
            saga_policy: SagaPolicy::default(),
            max_upload_bytes: mediahub_core::media::DEFAULT_MAX_UPLOAD_BYTES,
            grace: server::DEFAULT_GRACE,
            lab_controls: false,
            durability: Durability::Full,
        }
    }

    /// イベントストアのコミットの耐久性を変えたコピーを返します (ベンチマークで fsync の分を
    /// 切り分けるのに使います)。
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// UI からサービスを止めたり起こしたりできるかを変えたコピーを返します。
    #[must_use]
    pub fn lab_controls(mut self, enabled: bool) -> Self {
        self.lab_controls = enabled;
        self
    }

    /// ポートを変えたコピーを返します。
    #[must_use]
    pub fn ports(mut self, ports: Ports) -> Self {
        self.ports = ports;
        self
    }

    /// 待ち受けるホストを変えたコピーを返します。
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// 開発用ログインの有無を変えたコピーを返します。
    #[must_use]
    pub fn dev_login(mut self, enabled: bool) -> Self {
        self.dev_login = enabled;
        self
    }

    /// 障害注入の有無を変えたコピーを返します。
    #[must_use]
    pub fn fault_injection(mut self, enabled: bool) -> Self {
        self.fault_injection = enabled;
        self
    }

    /// Saga の方針を変えたコピーを返します。
    #[must_use]
    pub fn saga_policy(mut self, policy: SagaPolicy) -> Self {
        self.saga_policy = policy;
        self
    }

    /// ブラウザーから見たホスト名を変えたコピーを返します。
    #[must_use]
    pub fn public_host(mut self, public_host: impl Into<String>) -> Self {
        self.public_host = Some(public_host.into());
        self
    }

    fn listen(&self, port: u16) -> String {
        format!("{}:{port}", self.host)
    }

    /// ブラウザーから見た `http://<公開ホスト>:<port>`。
    fn public_url(&self, port: u16) -> String {
        format!(
            "http://{}:{port}",
            self.public_host.as_deref().unwrap_or(&self.host)
        )
    }
}

/// 全部入りの起動・停止のエラー。どのサービスで起きたかが分かります。
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// データのディレクトリを作れない。
    #[error("データのディレクトリ {path} を作れません: {source}")]
    DataDir {
        /// ディレクトリ。
        path: PathBuf,
        /// 原因。
        source: std::io::Error,
    },
    /// eventstore の起動・停止の失敗。
    #[error("eventstore: {0}")]
    EventStore(#[from] eventstore::StartError),
    /// media-command の起動・停止の失敗。
    #[error("media-command: {0}")]
    MediaCommand(#[from] media_command::StartError),
    /// media-query の起動・停止の失敗。
    #[error("media-query: {0}")]
    MediaQuery(#[from] media_query::StartError),
    /// album の起動・停止の失敗。
    #[error("album: {0}")]
    Album(#[from] album::StartError),
    /// notification の起動・停止の失敗。
    #[error("notification: {0}")]
    Notification(#[from] notification::StartError),
    /// saga の起動・停止の失敗。
    #[error("saga: {0}")]
    Saga(#[from] saga::StartError),
    /// gateway の起動・停止の失敗。
    #[error("gateway: {0}")]
    Gateway(#[from] gateway::StartError),
    /// frontend の起動・停止の失敗。
    #[error("frontend: {0}")]
    Frontend(#[from] frontend::StartError),
    /// サービスを止めるときの失敗。
    #[error("{service}: {source}")]
    Stop {
        /// サービス名。
        service: &'static str,
        /// 原因。
        source: StopError,
    },
    /// ポートの束縛など、サーバー共通の部品。
    #[error(transparent)]
    Server(#[from] ServerError),
    /// 個別に止めたサービスを、止めていないのにまた起動しようとした (またはその逆)。
    #[error("{service} はすでに{state}")]
    WrongState {
        /// サービス名。
        service: &'static str,
        /// 状態 (「動いています」「止まっています」)。
        state: &'static str,
    },
}

/// 各サービスのベース URL (`http://ホスト:ポート`)。
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemUrls {
    /// gateway のベース URL。
    pub gateway: String,
    /// media-command のベース URL。
    pub media_command: String,
    /// media-query のベース URL。
    pub media_query: String,
    /// album のベース URL。
    pub album: String,
    /// eventstore のベース URL。
    pub eventstore: String,
    /// saga のベース URL。
    pub saga: String,
    /// notification のベース URL。
    pub notification: String,
    /// frontend (UI) のベース URL。
    pub frontend: String,
    /// ブラウザーから見た UI の URL (`SystemConfig::public_host` を使ったもの)。
    pub public_frontend: String,
    /// ブラウザーから見たゲートウェイの URL。
    pub public_gateway: String,
}

impl SystemUrls {
    /// サービス名と URL の組 (表示と Swagger UI へのリンク用、[アーキテクチャ §1](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#1-全体像) の順)。
    #[must_use]
    pub fn services(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("gateway", self.gateway.as_str()),
            ("media-command", self.media_command.as_str()),
            ("media-query", self.media_query.as_str()),
            ("album", self.album.as_str()),
            ("eventstore", self.eventstore.as_str()),
            ("saga", self.saga.as_str()),
            ("notification", self.notification.as_str()),
        ]
    }
}

/// 動いている全サービス。
#[derive(Debug)]
pub struct System {
    config: SystemConfig,
    urls: SystemUrls,
    eventstore: EventStoreHandle,
    media_command: MediaCommandHandle,
    media_query: Option<MediaQueryHandle>,
    album: Option<AlbumHandle>,
    notification: NotificationHandle,
    saga: Option<SagaHandle>,
    gateway: GatewayHandle,
    frontend: FrontendHandle,
    lab_requests: Option<mpsc::Receiver<LabRequest>>,
}

/// album サービスの設定 (起動と再起動で同じもの)。
fn album_config(config: &SystemConfig, store_url: &str, listen: String) -> AlbumConfig {
    AlbumConfig::new(
        store_url,
        config.data_dir.join("album.db"),
        config.keys.clone(),
    )
    .listen(listen)
    .grace(config.grace)
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|port| port.trim_end_matches('/').parse().ok())
        .unwrap_or(0)
}

impl System {
    /// すべてのサービスを起動します。どれかが起動できなければ、それまでに起動したものを
    /// 止めてからエラーを返します。
    ///
    /// # エラー
    /// データのディレクトリを作れない、ポートを束縛できない、サービスが起動できないなら
    /// [`SystemError`]。
    pub async fn start(config: SystemConfig) -> Result<Self, SystemError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| SystemError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let data = |name: &str| config.data_dir.join(name);
        let keys = config.keys.clone();

        // 1. eventstore
        let eventstore = crate::eventstore::start(
            EventStoreConfig::new(data("eventstore.db"), keys.clone())
                .listen(config.listen(config.ports.eventstore))
                .durability(config.durability),
        )
        .await?;
        let store_url = eventstore.base_url();

        // 2. ドメインのサービス (並行して起動)
        let mut media_command_config =
            MediaCommandConfig::new(&store_url, data("media"), keys.clone())
                .listen(config.listen(config.ports.media_command))
                .max_upload_bytes(config.max_upload_bytes)
                .fault_injection(config.fault_injection);
        media_command_config.grace = config.grace;
        let started = tokio::try_join!(
            async {
                Ok::<_, SystemError>(crate::media_command::start(media_command_config).await?)
            },
            async {
                Ok(crate::media_query::start(
                    MediaQueryConfig::new(&store_url, data("media-query.db"), keys.clone())
                        .listen(config.listen(config.ports.media_query))
                        .grace(config.grace),
                )
                .await?)
            },
            async {
                Ok(crate::album::start(album_config(
                    &config,
                    &store_url,
                    config.listen(config.ports.album),
                ))
                .await?)
            },
            async {
                Ok(crate::notification::start(
                    NotificationConfig::new(&store_url, data("notification.db"), keys.clone())
                        .listen(config.listen(config.ports.notification))
                        .grace(config.grace),
                )
                .await?)
            },
        );
        let (media_command, media_query, album, notification) = match started {
            Ok(handles) => handles,
            Err(err) => {
                // 起動できたものは try_join! が落としたので、イベントストアだけを止めます。
                if let Err(stop_err) = eventstore.stop().await {
                    tracing::error!(error = %stop_err, "起動の失敗の後でイベントストアを止められません");
                }
                return Err(err);
            }
        };

        let mut urls = SystemUrls {
            gateway: String::new(),
            media_command: media_command.base_url(),
            media_query: media_query.base_url(),
            album: album.base_url(),
            eventstore: store_url,
            saga: String::new(),
            notification: notification.base_url(),
            frontend: String::new(),
            public_frontend: String::new(),
            public_gateway: String::new(),
        };

        // 3. saga
        let saga = crate::saga::start(saga_config(&config, &urls)).await?;
        urls.saga = saga.base_url();

        // 4. gateway (UI のオリジンを CORS に渡すため、UI のポートを先に束縛)
        let frontend_listener = server::bind(&config.listen(config.ports.frontend)).await?;
        let frontend_addr = frontend_listener.local_addr().map_err(ServerError::from)?;
        urls.frontend = format!("http://{frontend_addr}");
        urls.public_frontend = config.public_url(frontend_addr.port());
        let gateway_listener = server::bind(&config.listen(config.ports.gateway)).await?;
        let gateway_addr = gateway_listener.local_addr().map_err(ServerError::from)?;
        urls.gateway = format!("http://{gateway_addr}");
        urls.public_gateway = config.public_url(gateway_addr.port());
        let (lab_control, lab_requests) = if config.lab_controls {
            let (control, requests) = LabControl::channel();
            (Some(control), Some(requests))
        } else {
            (None, None)
        };
        let gateway = crate::gateway::start_on(
            gateway_listener,
            gateway_config(&config, &urls).lab_controls(lab_control),
        )
        .await?;

        // 5. frontend
        let service_urls = urls
            .services()
            .into_iter()
            .map(|(name, url)| (name.to_owned(), url.to_owned()))
            .collect();
        let mut frontend_config =
            FrontendConfig::new(&config.web_dir, &urls.public_gateway).service_urls(service_urls);
        frontend_config.grace = config.grace;
        let frontend = crate::frontend::start_on(frontend_listener, frontend_config).await?;

        Ok(Self {
            config,
            urls,
            eventstore,
            media_command,
            media_query: Some(media_query),
            album: Some(album),
            notification,
            saga: Some(saga),
            gateway,
            frontend,
            lab_requests,
        })
    }

    /// `until` が終わるまで、UI からの「止める・起こす」の依頼 ([`LabRequest`]) を実行します
    /// ([`SystemConfig::lab_controls`] が無効なら、ただ `until` を待ちます)。
    ///
    /// 依頼は一つずつ順に実行します (同じサービスを同時に止めて起こすことはありません)。
    pub async fn serve_until(&mut self, until: impl Future<Output = ()>) {
        let Some(mut requests) = self.lab_requests.take() else {
            until.await;
            return;
        };
        tokio::pin!(until);
        loop {
            tokio::select! {
                () = &mut until => break,
                Some(request) = requests.recv() => {
                    let LabRequest { service, action, reply } = request;
                    let result = self.apply_lab(service, action).await;
                    if let Err(failure) = &result {
                        tracing::warn!(%service, ?action, error = %failure, "学習用の操作に失敗しました");
                    }
                    if reply.send(result).is_err() {
                        tracing::debug!(%service, "依頼したゲートウェイが答えを待たずに終わりました");
                    }
                }
            }
        }
        self.lab_requests = Some(requests);
    }

    async fn apply_lab(
        &mut self,
        service: LabService,
        action: LabAction,
    ) -> Result<(), LabFailure> {
        let result = match (service, action) {
            (LabService::Album, LabAction::Stop) => self.stop_album().await,
            (LabService::Album, LabAction::Start) => self.start_album().await,
            (LabService::Saga, LabAction::Stop) => self.stop_saga().await,
            (LabService::Saga, LabAction::Start) => self.start_saga().await,
            (LabService::MediaQuery, LabAction::Stop) => self.stop_media_query().await,
            (LabService::MediaQuery, LabAction::Start) => self.start_media_query().await,
        };
        result.map_err(|err| match err {
            SystemError::WrongState { .. } => LabFailure::WrongState(err.to_string()),
            other => LabFailure::Failed(other.to_string()),
        })
    }

    /// 各サービスの URL。
    #[must_use]
    pub fn urls(&self) -> &SystemUrls {
        &self.urls
    }

    /// 設定。
    #[must_use]
    pub fn config(&self) -> &SystemConfig {
        &self.config
    }

    /// イベントストアの取っ手。
    #[must_use]
    pub fn eventstore(&self) -> &EventStoreHandle {
        &self.eventstore
    }

    /// media-query の取っ手 (止めていれば `None`)。
    #[must_use]
    pub fn media_query(&self) -> Option<&MediaQueryHandle> {
        self.media_query.as_ref()
    }

    /// saga の取っ手 (止めていれば `None`)。
    #[must_use]
    pub fn saga(&self) -> Option<&SagaHandle> {
        self.saga.as_ref()
    }

    /// album の取っ手 (止めていれば `None`)。
    #[must_use]
    pub fn album(&self) -> Option<&AlbumHandle> {
        self.album.as_ref()
    }

    /// notification の取っ手。
    #[must_use]
    pub fn notification(&self) -> &NotificationHandle {
        &self.notification
    }

    /// saga サービスだけを止めます (クラッシュからの回復を確かめるため)。
    ///
    /// # エラー
    /// すでに止まっていれば [`SystemError::WrongState`]、停止に失敗すれば [`SystemError::Stop`]。
    pub async fn stop_saga(&mut self) -> Result<(), SystemError> {
        let saga = self.saga.take().ok_or(SystemError::WrongState {
            service: "saga",
            state: "止まっています",
        })?;
        stop_service(saga).await?;
        Ok(())
    }

    /// 止めた saga サービスを、同じポートと同じデータベースでまた起動します。
    ///
    /// # エラー
    /// 動いていれば [`SystemError::WrongState`]、起動に失敗すれば [`SystemError::Saga`]。
    pub async fn start_saga(&mut self) -> Result<(), SystemError> {
        if self.saga.is_some() {
            return Err(SystemError::WrongState {
                service: "saga",
                state: "動いています",
            });
        }
        let mut config = saga_config(&self.config, &self.urls);
        config = config.listen(self.config.listen(port_of(&self.urls.saga)));
        self.saga = Some(crate::saga::start(config).await?);
        Ok(())
    }

    /// album サービスだけを止めます (Saga がアルバム追加を期限まで再試行するのを確かめるため)。
    ///
    /// # エラー
    /// すでに止まっていれば [`SystemError::WrongState`]、停止に失敗すれば [`SystemError::Stop`]。
    pub async fn stop_album(&mut self) -> Result<(), SystemError> {
        let album = self.album.take().ok_or(SystemError::WrongState {
            service: "album",
            state: "止まっています",
        })?;
        stop_service(album).await?;
        Ok(())
    }

    /// 止めた album サービスを、同じポートと同じデータベースでまた起動します。
    ///
    /// # エラー
    /// 動いていれば [`SystemError::WrongState`]、起動に失敗すれば [`SystemError::Album`]。
    pub async fn start_album(&mut self) -> Result<(), SystemError> {
        if self.album.is_some() {
            return Err(SystemError::WrongState {
                service: "album",
                state: "動いています",
            });
        }
        let listen = self.config.listen(port_of(&self.urls.album));
        let config = album_config(&self.config, &self.urls.eventstore, listen);
        self.album = Some(crate::album::start(config).await?);
        Ok(())
    }

    /// media-query サービスだけを止めます。
    ///
    /// # エラー
    /// すでに止まっていれば [`SystemError::WrongState`]、停止に失敗すれば
    /// [`SystemError::Stop`]。
    pub async fn stop_media_query(&mut self) -> Result<(), SystemError> {
        let media_query = self.media_query.take().ok_or(SystemError::WrongState {
            service: "media-query",
            state: "止まっています",
        })?;
        stop_service(media_query).await?;
        Ok(())
    }

    /// 止めた media-query サービスを、同じポートと同じデータベースでまた起動します。
    ///
    /// # エラー
    /// 動いていれば [`SystemError::WrongState`]、起動に失敗すれば [`SystemError::MediaQuery`]。
    pub async fn start_media_query(&mut self) -> Result<(), SystemError> {
        if self.media_query.is_some() {
            return Err(SystemError::WrongState {
                service: "media-query",
                state: "動いています",
            });
        }
        let config = MediaQueryConfig::new(
            &self.urls.eventstore,
            self.config.data_dir.join("media-query.db"),
            self.config.keys.clone(),
        )
        .listen(self.config.listen(port_of(&self.urls.media_query)))
        .grace(self.config.grace);
        self.media_query = Some(crate::media_query::start(config).await?);
        Ok(())
    }

    /// すべてのサービスを、起動と逆の順番で止めます (処理中のリクエストと書き込みを終えてから)。
    ///
    /// # エラー
    /// 最初に失敗したサービスの [`SystemError`] (残りのサービスもすべて止めてから返します)。
    pub async fn stop(self) -> Result<(), SystemError> {
        let mut first_error: Option<SystemError> = None;
        let mut record = |result: Result<(), SystemError>| {
            if let Err(err) = result {
                tracing::error!(error = %err, "停止に失敗しました");
                first_error.get_or_insert(err);
            }
        };
        record(stop_service(self.frontend).await);
        record(stop_service(self.gateway).await);
        if let Some(saga) = self.saga {
            record(stop_service(saga).await);
        }
        let (notification, album, media_query, media_command) = tokio::join!(
            stop_service(self.notification),
            async {
                match self.album {
                    Some(album) => stop_service(album).await,
                    None => Ok(()),
                }
            },
            async {
                match self.media_query {
                    Some(media_query) => stop_service(media_query).await,
                    None => Ok(()),
                }
            },
            stop_service(self.media_command),
        );
        record(notification);
        record(album);
        record(media_query);
        record(media_command);
        record(stop_service(self.eventstore).await);
        match first_error {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// サービスを止め、失敗ならサービス名を添えます。
async fn stop_service<S>(handle: ServiceHandle<S>) -> Result<(), SystemError> {
    let service = handle.name();
    handle
        .stop()
        .await
        .map_err(|source| SystemError::Stop { service, source })
}

fn saga_config(config: &SystemConfig, urls: &SystemUrls) -> SagaConfig {
    SagaConfig::new(config.data_dir.join("saga.db"), config.keys.clone())
        .listen(config.listen(config.ports.saga))
        .eventstore_url(&urls.eventstore)
        .media_command_url(&urls.media_command)
        .album_url(&urls.album)
        .notification_url(&urls.notification)
        .policy(config.saga_policy)
        .grace(config.grace)
}

fn gateway_config(config: &SystemConfig, urls: &SystemUrls) -> GatewayConfig {
    let upstreams = UpstreamUrls {
        eventstore: urls.eventstore.clone(),
        media_command: urls.media_command.clone(),
        media_query: urls.media_query.clone(),
        album: urls.album.clone(),
        notification: urls.notification.clone(),
        saga: urls.saga.clone(),
    };
    let mut gateway = GatewayConfig::new(config.data_dir.join("gateway.db"), config.keys.clone())
        .public_url(&urls.public_gateway)
        .frontend_url(&urls.public_frontend)
        .extra_origins(vec![urls.frontend.clone()])
        .service_urls(&upstreams)
        .github(config.github.clone())
        .google(config.google.clone())
        .dev_login(config.dev_login)
        .max_upload_bytes(config.max_upload_bytes)
        .frontend_probe_url(&urls.frontend);
    gateway.grace = config.grace;
    gateway
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_is_read_from_the_end_of_a_base_url() {
        assert_eq!(port_of("http://127.0.0.1:43123"), 43123);
        assert_eq!(port_of("http://127.0.0.1:43123/"), 43123);
        assert_eq!(port_of("http://example"), 0);
    }

    #[test]
    fn default_ports_follow_design_section_2() {
        let p = Ports::DEFAULT;
        assert_eq!(
            [
                p.gateway,
                p.media_command,
                p.media_query,
                p.album,
                p.eventstore,
                p.saga,
                p.notification,
                p.frontend
            ],
            [8080, 8081, 8082, 8083, 8084, 8085, 8086, 3000]
        );
    }
}
