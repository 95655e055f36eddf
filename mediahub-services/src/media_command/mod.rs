//! media-command サービス (ポート 8081、DESIGN §2・§6・§7): メディアの書き込み側。
//!
//! - **アップロード** (`POST /api/v1/media`): マルチパートの `file` を流したままディスクに書き、
//!   サイズ上限・マジックバイトを確かめてから `MediaUploaded` を記録します ([`upload`])。
//! - **削除・ファイル取得** (`/api/v1/media/{id}`…): 所有者だけ ([`api`])。
//! - **処理と補償** (`/internal/v1/media/{id}/…`、サービス用トークン): Saga から呼ばれ、
//!   サムネイルを作る (`MediaProcessed` / `MediaProcessingFailed`)、ファイルを消す
//!   (`MediaDeleted`、理由 compensation)、無効化する (`MediaInvalidated`) ([`internal`])。
//!
//! 状態はすべてイベントストアにあります。コマンドは `CqrsFramework` を
//! [`RemoteEventRepository`](crate::store_client::RemoteEventRepository) の上で実行し
//! ([`commands`])、所有者の確認も集約をイベントから組み立てて行います (読み取りモデルは持ちません)。
//! ファイルは `storage_dir` の下にメディア ID だけから作ったパスで置きます ([`storage`])。
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mediahub_services::media_command::{MediaCommandConfig, start};
//! use mediahub_services::platform::auth::JwtKeys;
//!
//! let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")?;
//! let config = MediaCommandConfig::new("http://127.0.0.1:8084", "./data/media", keys)
//!     .listen("127.0.0.1:0")
//!     .fault_injection(true);
//! let service = start(config).await?;
//! println!("{}", service.base_url());
//! service.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod commands;
pub mod error;
pub mod ffmpeg;
pub mod internal;
pub mod mp4;
pub mod processing;
pub mod storage;
pub mod upload;
pub mod video;
pub mod webm;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mediahub_core::media::{DEFAULT_MAX_UPLOAD_BYTES, UploadPolicy};
use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;

pub use self::api::MediaApi;
pub use self::commands::MediaCommands;
pub use self::error::{MediaCommandError, codes};
pub use self::internal::InternalApi;
pub use self::storage::Storage;
pub use self::upload::UploadApi;

use crate::platform::auth::JwtKeys;
use crate::platform::problem::ProblemMiddleware;
use crate::platform::server::{
    self, DEFAULT_BODY_LIMIT, DEFAULT_GRACE, Readiness, ServerHandle, ServiceInfo, Shutdown,
};
use crate::platform::telemetry::RequestIdMiddleware;
use crate::store_client::{EventStoreClient, ServiceTokenProvider};

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";
/// 既定のファイルの保存先。
pub const DEFAULT_STORAGE_DIR: &str = "./data/media";
/// イベントストアに名乗るサービス名 (サービス用トークンの `sub` は `service:media-command`)。
pub const SERVICE_NAME: &str = "media-command";

/// サービスの情報 (OpenAPI 文書に載ります)。
pub const SERVICE_INFO: ServiceInfo = ServiceInfo {
    name: SERVICE_NAME,
    title: "MediaHub Media Command",
    description: "メディアの書き込み側: アップロード (流したまま保存、サイズ上限とマジックバイトの検査)、\
                  削除、元ファイルとサムネイルの取得 (所有者のみ)、Saga から呼ばれる処理と補償 \
                  (/internal/v1、サービス用トークンのみ)。",
};

/// このサービスの OpenAPI 文書。状態を作らずに API の型から組み立てます
/// (`/openapi.json` が返すものと同じ。ゲートウェイが公開の契約をまとめるのに使います)。
#[must_use]
pub fn openapi_spec() -> serde_json::Value {
    server::openapi_spec::<(UploadApi, MediaApi, InternalApi)>(&SERVICE_INFO)
}

/// media-command の設定。
#[derive(Debug, Clone)]
pub struct MediaCommandConfig {
    /// 待ち受けアドレス (テストでは `127.0.0.1:0`)。
    pub listen: String,
    /// イベントストアのベース URL (例: `http://127.0.0.1:8084`)。
    pub eventstore_url: String,
    /// ファイルの保存先のディレクトリ (無ければ作ります)。
    pub storage_dir: PathBuf,
    /// JWT の鍵 (利用者の検証と、イベントストアへのサービス用トークンの発行に使います)。
    pub keys: JwtKeys,
    /// アップロードの上限 (バイト)。
    pub max_upload_bytes: u64,
    /// `X-Fault-Inject` と障害注入を受け付けるか (開発用。既定は `false`)。
    pub fault_injection: bool,
    /// 動画のサムネイルに最初のフレームを取り出す `ffmpeg` (既定は `PATH` から探したもの。
    /// `None` ならプレースホルダー)。
    pub ffmpeg: Option<PathBuf>,
    /// グレースフルシャットダウンの猶予。
    pub grace: Duration,
}

impl MediaCommandConfig {
    /// イベントストアの URL、保存先、JWT の鍵から、ほかは既定値で設定を作ります。
    #[must_use]
    pub fn new(
        eventstore_url: impl Into<String>,
        storage_dir: impl AsRef<Path>,
        keys: JwtKeys,
    ) -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            eventstore_url: eventstore_url.into(),
            storage_dir: storage_dir.as_ref().to_path_buf(),
            keys,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            fault_injection: false,
            ffmpeg: ffmpeg::find_on_path(),
            grace: DEFAULT_GRACE,
        }
    }

    /// 待ち受けアドレスを変えたコピーを返します。
    #[must_use]
    pub fn listen(mut self, listen: impl Into<String>) -> Self {
        self.listen = listen.into();
        self
    }

    /// アップロードの上限を変えたコピーを返します。
    #[must_use]
    pub fn max_upload_bytes(mut self, max_upload_bytes: u64) -> Self {
        self.max_upload_bytes = max_upload_bytes;
        self
    }

    /// 障害注入の有無を変えたコピーを返します。
    #[must_use]
    pub fn fault_injection(mut self, enabled: bool) -> Self {
        self.fault_injection = enabled;
        self
    }

    /// 動画のフレームを取り出す `ffmpeg` を変えたコピーを返します (`None` で使わない)。
    #[must_use]
    pub fn ffmpeg(mut self, ffmpeg: Option<PathBuf>) -> Self {
        self.ffmpeg = ffmpeg;
        self
    }

    /// グレースフルシャットダウンの猶予を変えたコピーを返します。
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

/// API が共有する状態。
#[derive(Debug)]
pub struct MediaCommandState {
    /// コマンドの実行と集約の読み込み。
    pub commands: MediaCommands,
    /// ファイルの保存場所。
    pub storage: Storage,
    /// アップロードの方針 (上限)。
    pub policy: UploadPolicy,
    /// 障害注入を受け付けるか。
    pub fault_injection: bool,
    /// 動画のフレームを取り出す `ffmpeg` (無ければプレースホルダー)。
    pub ffmpeg: Option<PathBuf>,
}

/// 共有の状態への参照。
pub type SharedState = Arc<MediaCommandState>;

/// 動いている media-command の取っ手。
#[derive(Debug)]
pub struct MediaCommandHandle {
    server: ServerHandle,
    state: SharedState,
    readiness: Readiness,
}

impl MediaCommandHandle {
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

    /// 共有の状態 (保存先の確認などに使います)。
    #[must_use]
    pub fn state(&self) -> &SharedState {
        &self.state
    }

    /// 停止します: 新しいリクエストの受け付けをやめ、処理中のリクエスト (処理中のサムネイル
    /// 生成を含む) を終えてから戻ります。
    ///
    /// # エラー
    /// サーバーが異常終了していれば [`MediaCommandError`]。
    pub async fn stop(self) -> Result<(), MediaCommandError> {
        self.server.shutdown().trigger();
        self.wait().await
    }

    /// 停止の合図が (どこかで) 出るまで待ち、[`MediaCommandHandle::stop`] と同じ後始末をします。
    ///
    /// # エラー
    /// サーバーが異常終了していれば [`MediaCommandError`]。
    pub async fn wait(self) -> Result<(), MediaCommandError> {
        self.server.shutdown().wait().await;
        self.readiness.set_ready(false);
        self.server.wait().await?;
        tracing::info!("media-command を停止しました");
        Ok(())
    }
}

/// media-command を起動します (保存先を用意し、HTTP サーバーを起動します)。
///
/// アップロード (`POST /api/v1/media`) だけは共通の本体サイズ制限 (本体をメモリに読み込む) の
/// 外に置き、流したまま受け取ります。OpenAPI 文書にはほかの操作と一緒に載ります。
///
/// # エラー
/// 保存先を作れない、イベントストアの URL が不正、アドレスを束縛できないなら [`MediaCommandError`]。
pub async fn start(config: MediaCommandConfig) -> Result<MediaCommandHandle, MediaCommandError> {
    // config → state
    let storage = Storage::new(&config.storage_dir);
    storage
        .prepare()
        .map_err(|(path, source)| MediaCommandError::Storage {
            path: path.display().to_string(),
            source,
        })?;
    let client = EventStoreClient::new(
        &config.eventstore_url,
        ServiceTokenProvider::new(config.keys.clone(), SERVICE_NAME),
    )?;
    let policy = UploadPolicy {
        max_bytes: config.max_upload_bytes,
    };
    let state = Arc::new(MediaCommandState {
        commands: MediaCommands::new(client, policy),
        storage,
        policy,
        fault_injection: config.fault_injection,
        ffmpeg: config.ffmpeg.clone(),
    });
    // routes
    let readiness = Readiness::new();
    let documented = server::build_app(
        (
            UploadApi::new(Arc::clone(&state)),
            MediaApi::new(Arc::clone(&state)),
            InternalApi::new(Arc::clone(&state)),
        ),
        &SERVICE_INFO,
        readiness.clone(),
        config.keys.clone(),
        DEFAULT_BODY_LIMIT,
    );
    let streaming_upload = OpenApiService::new(
        UploadApi::new(Arc::clone(&state)),
        SERVICE_INFO.title,
        env!("CARGO_PKG_VERSION"),
    )
    .data(config.keys.clone())
    .with(ProblemMiddleware)
    .with(RequestIdMiddleware);
    let app = Route::new()
        .at("/api/v1/media", streaming_upload)
        .nest("/", documented);
    // run
    let listener = server::bind(&config.listen).await?;
    let shutdown = Shutdown::new();
    let server = server::spawn_server(listener, app, SERVICE_INFO.name, shutdown, config.grace)?;
    readiness.set_ready(true);
    tracing::info!(
        storage = %config.storage_dir.display(),
        eventstore = %config.eventstore_url,
        max_upload_bytes = config.max_upload_bytes,
        fault_injection = config.fault_injection,
        ffmpeg = ?config.ffmpeg,
        addr = %server.local_addr(),
        "media-command の準備ができました"
    );
    Ok(MediaCommandHandle {
        server,
        state,
        readiness,
    })
}
