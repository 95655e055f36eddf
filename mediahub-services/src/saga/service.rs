//! saga サービスの起動 ([`start`]): データベースを開き、リアクター・読みモデル・実行役・HTTP サーバーを
//! 起動し、終端でない Saga を再駆動します。

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mediahub_core::ids::SagaId;
use sqlx::SqlitePool;
use tokio::sync::watch;

use super::api::SagaApi;
use super::config::{SagaArgs, SagaConfig};
use super::db;
use super::error::StartError;
use super::executor::{Kicker, spawn_executor};
use super::internal::InternalApi;
use super::participants::Participants;
use super::projection::SagaView;
use super::reactor::SagaReactor;
use super::runtime::SagaRuntime;
use super::state::ApiState;
use crate::consumer::{Consumer, ConsumerConfig, open_database};
use crate::platform::server::{self, DEFAULT_BODY_LIMIT, ServiceInfo, Shutdown};
use crate::platform::service::{
    ArgsError, Checkpointed, Launch, ServiceHandle, ServiceMain, join_all,
};
use crate::store_client::{EventStoreClient, ServiceTokenProvider};

/// リアクターの購読者名 (チェックポイント表のキー)。
pub const REACTOR_NAME: &str = "saga-reactor";
/// 読みモデルの購読者名 (チェックポイント表のキー)。
pub const VIEW_NAME: &str = "saga-view";
/// 起動時の追いつきに失敗したときの最初の待ち時間。
const RECOVERY_BACKOFF: Duration = Duration::from_millis(100);
/// 起動時の追いつきの待ち時間の上限。
const MAX_RECOVERY_BACKOFF: Duration = Duration::from_secs(5);

/// サービスの情報 (OpenAPI 文書に載ります)。
pub const SERVICE_INFO: ServiceInfo = ServiceInfo {
    name: "saga",
    title: "MediaHub Saga Orchestrator",
    description: "メディアアップロード Saga のオーケストレーター。ドメインイベントに反応して \
                  Saga を進め、参加者 (media-command・album・notification) に依頼し、失敗を \
                  再試行または補償します。自分の Saga の一覧とタイムラインを返します。",
};

/// このサービスの OpenAPI 文書。状態を作らずに API の型から組み立てます
/// (`/openapi.json` が返すものと同じ。ゲートウェイが公開の契約をまとめるのに使います)。
#[must_use]
pub fn openapi_spec() -> serde_json::Value {
    server::openapi_spec::<(SagaApi, InternalApi)>(&SERVICE_INFO)
}

/// 取っ手から見える saga の部品: API の状態 (読みモデル) とリアクター。
#[derive(Debug)]
pub struct SagaParts {
    /// API の状態 (読みモデルとその購読者)。
    pub state: Arc<ApiState>,
    /// Saga を進めるリアクター。
    pub reactor: Consumer<SagaReactor>,
}

impl Checkpointed for SagaParts {
    fn checkpoint(&self) -> watch::Receiver<u64> {
        self.state.checkpoint()
    }
}

/// 動いている saga サービスの取っ手。`position` は読みモデルのチェックポイントです。
pub type SagaHandle = ServiceHandle<SagaParts>;

impl ServiceHandle<SagaParts> {
    /// リアクターのチェックポイント (Saga を進めるのに使い終えたグローバル位置)。
    #[must_use]
    pub fn reactor_position(&self) -> u64 {
        self.state().reactor.position()
    }
}

/// 起動時の再駆動: 読みモデルを追いつかせ、終端でない Saga すべてを実行役に知らせます。
async fn recover(view: &Consumer<SagaView>, kicker: &Kicker, shutdown: &Shutdown) {
    let mut backoff = RECOVERY_BACKOFF;
    loop {
        match view.catch_up().await {
            Ok(_) => break,
            Err(error) => {
                tracing::warn!(%error, "起動時の追いつきに失敗しました。待ってから再試行します");
                tokio::select! {
                    () = shutdown.wait() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_RECOVERY_BACKOFF);
            }
        }
    }
    match db::unfinished(view.pool()).await {
        Ok(ids) => {
            tracing::info!(
                count = ids.len(),
                "終端でない Saga の実行中の試行をやり直します"
            );
            for id in ids {
                match id.parse::<SagaId>() {
                    Ok(saga_id) => kicker.kick(saga_id),
                    Err(error) => tracing::error!(id, %error, "読みモデルの Saga ID が不正です"),
                }
            }
        }
        Err(error) => tracing::error!(%error, "終端でない Saga を読めません"),
    }
}

async fn open_pool(path: &Path) -> Result<SqlitePool, StartError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await?;
    }
    let pool = open_database(path).await?;
    db::migrate(&pool).await?;
    Ok(pool)
}

/// saga サービスを起動します (データベースを開き、リアクター・読みモデル・実行役・HTTP サーバーを
/// 起動し、終端でない Saga を再駆動します)。
///
/// # エラー
/// URL が不正、ファイルが開けない、アドレスを束縛できないなら [`StartError`]。
pub async fn start(config: SagaConfig) -> Result<SagaHandle, StartError> {
    let read_side = &config.read_side;
    let tokens = ServiceTokenProvider::new(read_side.keys.clone(), SERVICE_INFO.name);
    let client = EventStoreClient::new(&read_side.eventstore_url, tokens.clone())?;
    let participants = Participants::new(
        tokens,
        &config.media_command_url,
        &config.album_url,
        &config.notification_url,
    )?;
    let launch = Launch::bind(&SERVICE_INFO, &read_side.listen, read_side.grace).await?;
    let pool = open_pool(&read_side.database).await?;
    let shutdown = launch.shutdown().clone();
    let runtime = Arc::new(SagaRuntime::new(client.clone(), config.policy));
    let reactor_config = ConsumerConfig {
        page_size: 1,
        ..read_side.consumer
    };
    let view = Consumer::open(
        VIEW_NAME,
        pool.clone(),
        client.clone(),
        SagaView,
        read_side.consumer,
    )
    .await?;
    let reactor_position = Arc::new(OnceLock::new());
    let (kicker, executor_task) = spawn_executor(
        Arc::clone(&runtime),
        participants,
        shutdown.clone(),
        Arc::clone(&reactor_position),
    );
    let reactor = match Consumer::open(
        REACTOR_NAME,
        pool.clone(),
        client.clone(),
        SagaReactor::new(runtime, kicker.clone()),
        reactor_config,
    )
    .await
    {
        Ok(reactor) => reactor,
        Err(err) => {
            shutdown.trigger();
            return Err(err.into());
        }
    };
    // 実行役が、結果のイベントを待つ締め切りでリアクターの遅れを考えに入れられるように。
    if reactor_position.set(reactor.waiter()).is_err() {
        tracing::warn!("リアクターの位置の係はすでに入っています");
    }
    let reactor_task = reactor.spawn(shutdown.signalled());
    let view_task = tokio::spawn({
        let (view, shutdown) = (view.clone(), shutdown.clone());
        async move {
            recover(&view, &kicker, &shutdown).await;
            drop(kicker);
            view.run(shutdown.wait()).await;
        }
    });
    let state = Arc::new(ApiState {
        pool: pool.clone(),
        view,
        client,
        read_wait: read_side.read_wait,
    });
    let app = server::build_app(
        (
            SagaApi::new(Arc::clone(&state)),
            InternalApi::new(state.view.clone()),
        ),
        &SERVICE_INFO,
        launch.readiness().clone(),
        read_side.keys.clone(),
        DEFAULT_BODY_LIMIT,
    );
    tracing::info!(
        database = %read_side.database.display(),
        eventstore = read_side.eventstore_url.as_str(),
        "saga サービスの準備ができました"
    );
    let tasks = vec![reactor_task, view_task, executor_task];
    Ok(launch.serve(app, SagaParts { state, reactor }, async move {
        let joined = join_all(tasks).await;
        pool.close().await;
        joined
    })?)
}

impl ServiceMain for SagaArgs {
    const SERVICE: &'static str = "saga";
    type Config = SagaConfig;
    type State = SagaParts;
    type Error = StartError;

    fn config(self) -> Result<SagaConfig, ArgsError> {
        self.into_config()
    }

    async fn start(config: SagaConfig) -> Result<SagaHandle, StartError> {
        start(config).await
    }
}
