//! media-command の起動 ([`start`])。

use std::sync::Arc;

use mediahub_core::media::UploadPolicy;
use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;

use super::api::MediaApi;
use super::commands::MediaCommands;
use super::config::{MediaCommandArgs, MediaCommandConfig};
use super::error::StartError;
use super::internal::InternalApi;
use super::state::{MediaCommandState, SharedState};
use super::storage::Storage;
use super::upload::UploadApi;
use crate::platform::problem::ProblemMiddleware;
use crate::platform::server::{self, DEFAULT_BODY_LIMIT, ServiceInfo};
use crate::platform::service::{ArgsError, Launch, ServiceHandle, ServiceMain};
use crate::platform::telemetry::RequestIdMiddleware;
use crate::store_client::{EventStoreClient, ServiceTokenProvider};

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

/// 動いている media-command の取っ手 (状態は同じプロセスの中から直接読むときに使います)。
pub type MediaCommandHandle = ServiceHandle<SharedState>;

/// media-command を起動します: 保存先を用意し、HTTP サーバーを起動します。
///
/// アップロード (`POST /api/v1/media`) は本体の上限を付けずに流したまま受け取り、ほかの経路には
/// 共通の上限を付けます。
///
/// # エラー
/// 保存先を作れない、URL が不正、アドレスを束縛できないなら [`StartError`]。
pub async fn start(config: MediaCommandConfig) -> Result<MediaCommandHandle, StartError> {
    let storage = Storage::new(&config.storage_dir);
    storage
        .prepare()
        .map_err(|(path, source)| StartError::Storage {
            path: path.display().to_string(),
            source,
        })?;
    let client = EventStoreClient::new(
        &config.eventstore_url,
        ServiceTokenProvider::new(config.keys.clone(), SERVICE_NAME),
    )?;
    let launch = Launch::bind(&SERVICE_INFO, &config.listen, config.grace).await?;
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
    let documented = server::build_app(
        (
            UploadApi::new(Arc::clone(&state)),
            MediaApi::new(Arc::clone(&state)),
            InternalApi::new(Arc::clone(&state)),
        ),
        &SERVICE_INFO,
        launch.readiness().clone(),
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
    tracing::info!(
        storage = %config.storage_dir.display(),
        eventstore = %config.eventstore_url,
        max_upload_bytes = config.max_upload_bytes,
        fault_injection = config.fault_injection,
        ffmpeg = ?config.ffmpeg,
        "media-command の準備ができました"
    );
    Ok(launch.serve(app, state, async { Ok(()) })?)
}

impl ServiceMain for MediaCommandArgs {
    const SERVICE: &'static str = "media-command";
    const LOG_FILTER: &'static str = "info";
    type Config = MediaCommandConfig;
    type State = SharedState;
    type Error = StartError;

    fn config(self) -> Result<MediaCommandConfig, ArgsError> {
        self.into_config()
    }

    fn notice(config: &MediaCommandConfig) -> Option<String> {
        config
            .fault_injection
            .then(|| "media-command: 障害注入が有効です (開発・学習用)".to_owned())
    }

    async fn start(config: MediaCommandConfig) -> Result<MediaCommandHandle, StartError> {
        start(config).await
    }
}
