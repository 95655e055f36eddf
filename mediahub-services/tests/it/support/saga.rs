//! saga サービスの結合テストの補助。
//!
//! 本物のイベントストアと本物の saga サービスをポート 0 で起動し、ドメインイベントは
//! 本物のコアの集約 (Media・Album・Notification) の `AggregateCommands` でイベントストアに書きます。
//! 参加者 (media-command・album・notification) は別の担当が並行して作っているので、ここでは
//! 「誰も待ち受けていないポート」(接続できない) や「受け付けるが答えないポート」を使います。

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cqrs_es::Aggregate;
use mediahub_core::album::{Album, AlbumCommand, DEFAULT_ALBUM_NAME};
use mediahub_core::envelope::EventMetadata;
use mediahub_core::ids::{AlbumId, CorrelationId, MediaId, NotificationId, SagaId, UserId};
use mediahub_core::media::{ContentType, DeletionReason, Media, MediaCommand, ProcessingOutput};
use mediahub_core::notification::{Notification, NotificationCommand, NotificationKind};
use mediahub_core::saga::{RetryPolicy, SagaPolicy};
use mediahub_services::consumer::ConsumerConfig;
use mediahub_services::saga::{SagaConfig, SagaHandle, start};
use mediahub_services::store_client::{AggregateCommands, RemoteEventRepository};
use serde_json::Value;
use tempfile::TempDir;

pub use super::common::ClosedPort;
pub use super::services::{Caller, DEADLINE, Store, keys, service_token, user_token, wait_until};

/// テストで「再試行はまだ来ない」とみなせる長いバックオフ。
pub const LONG: Duration = Duration::from_secs(3600);

/// どのステップも 5 回まで試し、再試行の前に 1 時間待つ方針。
///
/// 1 回目の失敗は記録されますが、2 回目はテストの間には送られません。
pub fn patient_policy() -> SagaPolicy {
    let patient = RetryPolicy {
        initial_backoff: LONG,
        max_backoff: LONG,
        max_attempts: 5,
    };
    SagaPolicy {
        process: patient,
        album: patient,
        notify: patient,
        compensation: patient,
        retry_deadline: Duration::ZERO,
        ..SagaPolicy::default()
    }
}

/// 処理ステップだけをすぐに (5 ms 間隔で) 3 回まで試し、補償は 1 時間待つ方針。
pub fn quick_process_policy() -> SagaPolicy {
    SagaPolicy {
        process: RetryPolicy {
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(5),
            max_attempts: 3,
        },
        ..patient_policy()
    }
}

/// 接続は受け付けるが (OS のバックログ)、決して応答しないポート。
pub struct Silent {
    /// `http://127.0.0.1:port`。
    pub url: String,
    _listener: tokio::net::TcpListener,
}

impl Silent {
    /// 束縛します (受け付け処理はしない)。
    pub async fn bind() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        Self {
            url: format!("http://{addr}"),
            _listener: listener,
        }
    }
}

/// 参加者が受け取った要求 1 件。
#[derive(Debug, Clone)]
pub struct Received {
    /// パス。
    pub path: String,
    /// ヘッダー (名前は小文字)。
    pub headers: Vec<(String, String)>,
    /// 本体 (JSON)。
    pub body: Value,
}

impl Received {
    /// ヘッダーの値。
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// 決まった状態コードで答え、受け取った要求を記録する本物の HTTP サーバー
/// (参加者のサービスがまだ無いため、契約の形の要求が届くことを確かめる相手として使う)。
pub struct Answering {
    /// `http://127.0.0.1:port`。
    pub url: String,
    /// 受け取った要求。
    pub received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Answering {
    /// `status` と本体 `{}` で答えるサーバーを起動します。
    pub async fn start(status: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let app = poem::endpoint::make(move |mut req: poem::Request| {
            let log = Arc::clone(&log);
            async move {
                let body = req
                    .take_body()
                    .into_json::<Value>()
                    .await
                    .unwrap_or_default();
                let headers = req
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                    .collect();
                log.lock().unwrap_or_else(|e| panic!("{e}")).push(Received {
                    path: req.uri().path().to_owned(),
                    headers,
                    body,
                });
                poem::Response::builder()
                    .status(poem::http::StatusCode::from_u16(status).unwrap_or_default())
                    .content_type("application/json")
                    .body(r#"{"detail":"scripted","code":"test.scripted"}"#)
            }
        });
        let acceptor =
            poem::listener::TcpAcceptor::from_tokio(listener).unwrap_or_else(|e| panic!("{e}"));
        let task = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self {
            url: format!("http://{addr}"),
            received,
            task,
        }
    }

    /// 受け取った要求の写し。
    pub fn requests(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|e| panic!("{e}"))
            .clone()
    }
}

/// 本物のコアの集約でイベントストアにコマンドを実行する書き手。
struct Writer<A: Aggregate>(AggregateCommands<A>);

impl<A> Writer<A>
where
    A: Aggregate,
    A::Command: Clone,
{
    fn new(store: &Store, services: A::Services) -> Self {
        Self(AggregateCommands::new(
            RemoteEventRepository::new(store.client()),
            services,
        ))
    }

    async fn execute(&self, id: &str, command: A::Command, metadata: &EventMetadata) -> u64 {
        self.0
            .execute(id, None, || command.clone(), metadata)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .last_position
            .unwrap_or_else(|| panic!("イベントが書かれませんでした"))
    }
}

/// 参加者の代わりにドメインイベントを書く人 (本物の Media・Album・Notification 集約)。
pub struct Domain {
    media: Writer<Media>,
    albums: Writer<Album>,
    notifications: Writer<Notification>,
}

/// アップロード 1 件。
#[derive(Debug, Clone, Copy)]
pub struct Upload {
    /// メディア ID。
    pub media_id: MediaId,
    /// 所有者。
    pub owner: UserId,
    /// 相関 ID。
    pub correlation: CorrelationId,
    /// `MediaUploaded` の位置。
    pub position: u64,
}

impl Upload {
    /// このアップロードの Saga ID。
    pub fn saga_id(&self) -> SagaId {
        SagaId::for_media(self.media_id)
    }

    fn metadata(&self) -> EventMetadata {
        EventMetadata::correlated(self.correlation).by_user(self.owner)
    }
}

impl Domain {
    /// ストアへの書き手を作ります。
    pub fn new(store: &Store) -> Self {
        Self {
            media: Writer::new(store, Default::default()),
            albums: Writer::new(store, ()),
            notifications: Writer::new(store, ()),
        }
    }

    /// `MediaUploaded` を書きます。
    pub async fn upload(&self, owner: UserId, filename: &str) -> Upload {
        let media_id = MediaId::new_random();
        let mut upload = Upload {
            media_id,
            owner,
            correlation: CorrelationId::new_random(),
            position: 0,
        };
        let command = MediaCommand::Upload {
            media_id,
            owner_id: owner,
            filename: filename.into(),
            content_type: ContentType::Jpeg,
            size_bytes: 1024,
            sha256: "ab".repeat(32),
            storage_key: format!("{media_id}/original"),
        };
        upload.position = self
            .media
            .execute(&media_id.to_string(), command, &upload.metadata())
            .await;
        upload
    }

    /// `MediaProcessed` を書きます。
    pub async fn processed(&self, upload: &Upload) -> u64 {
        let command = MediaCommand::CompleteProcessing(ProcessingOutput {
            thumbnail_key: format!("{}/thumbnail", upload.media_id),
            width: 640,
            height: 480,
            duration_ms: None,
        });
        self.media
            .execute(&upload.media_id.to_string(), command, &upload.metadata())
            .await
    }

    /// デフォルトアルバムを作り、`MediaAddedToAlbum` を書きます。
    pub async fn added_to_default_album(&self, upload: &Upload) -> u64 {
        let album_id = AlbumId::default_for(upload.owner);
        let create = AlbumCommand::Create {
            album_id,
            owner_id: upload.owner,
            name: DEFAULT_ALBUM_NAME.into(),
            is_default: true,
        };
        self.albums
            .execute(&album_id.to_string(), create, &upload.metadata())
            .await;
        let add = AlbumCommand::AddMedia {
            requested_by: upload.owner,
            media_id: upload.media_id,
            media_owner: Some(upload.owner),
        };
        self.albums
            .execute(&album_id.to_string(), add, &upload.metadata())
            .await
    }

    /// 補償としての `MediaDeleted` を書きます。
    pub async fn deleted_by_compensation(&self, upload: &Upload) -> u64 {
        let command = MediaCommand::Delete {
            requested_by: upload.owner,
            reason: DeletionReason::Compensation,
        };
        self.media
            .execute(&upload.media_id.to_string(), command, &upload.metadata())
            .await
    }

    /// Saga の名前で完了の `NotificationSent` を書きます。
    pub async fn notified(&self, upload: &Upload) -> u64 {
        self.notified_with(upload, NotificationKind::UploadCompleted)
            .await
    }

    /// Saga の名前で `kind` の `NotificationSent` を書きます。
    pub async fn notified_with(&self, upload: &Upload, kind: NotificationKind) -> u64 {
        let notification_id = NotificationId::for_saga(upload.saga_id(), &format!("{kind:?}"));
        let send = NotificationCommand::Send {
            notification_id,
            user_id: upload.owner,
            kind,
            message: "お知らせ".into(),
            media_id: Some(upload.media_id),
            saga_id: Some(upload.saga_id()),
        };
        self.notifications
            .execute(&notification_id.to_string(), send, &upload.metadata())
            .await
    }
}

/// 本物のイベントストアと saga サービスの組。
pub struct Harness {
    /// イベントストア。
    pub store: Store,
    /// saga の SQLite を置く一時ディレクトリ。
    pub dir: TempDir,
    /// saga サービス (停止中は `None`)。
    pub saga: Option<SagaHandle>,
    /// ドメインイベントの書き手。
    pub domain: Domain,
    /// 参加者の代わりに束縛している、接続を断るポート。
    pub unreachable: ClosedPort,
}

impl Harness {
    /// イベントストアだけを起動します (saga サービスはまだ動かさない)。
    async fn without_saga() -> Self {
        let store = Store::start().await;
        let domain = Domain::new(&store);
        Self {
            store,
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
            saga: None,
            domain,
            unreachable: ClosedPort::bind(),
        }
    }

    /// イベントストアと、全参加者を `participants` に向けた saga サービスを起動します。
    pub async fn start(policy: SagaPolicy, participants: &str) -> Self {
        let mut harness = Self::without_saga().await;
        harness.start_saga(policy, participants).await;
        harness
    }

    /// イベントストアと、全参加者を接続を断るポート ([`Harness::unreachable`]) に向けた
    /// saga サービスを起動します。
    pub async fn start_unreachable(policy: SagaPolicy) -> Self {
        let mut harness = Self::without_saga().await;
        harness.start_saga_unreachable(policy).await;
        harness
    }

    /// saga サービスを (同じファイルで)、全参加者を接続を断るポートに向けて起動します。
    pub async fn start_saga_unreachable(&mut self, policy: SagaPolicy) {
        let url = self.unreachable.url().to_owned();
        self.start_saga(policy, &url).await;
    }

    /// saga の SQLite ファイル。
    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("data").join("saga.db")
    }

    /// saga サービスを (同じファイルで) 起動します。
    pub async fn start_saga(&mut self, policy: SagaPolicy, participants: &str) {
        let config = SagaConfig::new(self.db_path(), keys())
            .listen("127.0.0.1:0")
            .eventstore_url(self.store.base_url())
            .media_command_url(participants)
            .album_url(participants)
            .notification_url(participants)
            .policy(policy)
            .consumer(ConsumerConfig {
                long_poll: Duration::from_secs(5),
                ..ConsumerConfig::default()
            })
            .read_wait(Duration::from_millis(300));
        self.saga = Some(start(config).await.unwrap_or_else(|e| panic!("{e}")));
    }

    /// saga サービスを止めます (ファイルは残ります)。
    pub async fn stop_saga(&mut self) {
        if let Some(saga) = self.saga.take() {
            saga.stop().await.unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// 動いている saga サービス。
    pub fn saga(&self) -> &SagaHandle {
        self.saga
            .as_ref()
            .unwrap_or_else(|| panic!("saga サービスが動いていません"))
    }

    /// ユーザーとして saga サービスを呼ぶ人。
    pub fn user(&self, user: UserId) -> Caller {
        Caller::new(self.saga().base_url(), user_token(&keys(), user))
    }

    /// サービスとして saga サービスを呼ぶ人。
    pub fn service(&self) -> Caller {
        Caller::new(self.saga().base_url(), service_token(&keys(), "test"))
    }

    /// Saga の詳細が条件を満たすまで待ち、その詳細を返します。
    pub async fn detail_until(
        &self,
        upload: &Upload,
        what: &str,
        condition: impl Fn(&Value) -> bool,
    ) -> Value {
        let caller = self.user(upload.owner);
        let path = format!("/api/v1/sagas/{}", upload.saga_id());
        let last = Arc::new(Mutex::new(Value::Null));
        wait_until(what, DEADLINE, || {
            let (caller, path, last) = (caller.clone(), path.clone(), Arc::clone(&last));
            let condition = &condition;
            async move {
                let (status, body) = caller.get(&path).await;
                let ok = status == 200 && condition(&body);
                *last.lock().unwrap_or_else(|e| panic!("{e}")) = body;
                ok
            }
        })
        .await;
        last.lock()
            .map(|body| body.clone())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Saga のストリームの版 (イベント数)。
    pub async fn saga_version(&self, saga_id: SagaId) -> u64 {
        self.store
            .client()
            .read_stream("Saga", &saga_id.to_string(), 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .last()
            .map_or(0, |e| e.version)
    }
}

/// タイムラインの `(step, attempt, outcome)` の並び。
pub fn timeline(detail: &Value) -> Vec<(String, u64, String)> {
    detail["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| {
                    (
                        s["step"].as_str().unwrap_or_default().to_owned(),
                        s["attempt"].as_u64().unwrap_or_default(),
                        s["outcome"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// タイムラインに `(step, attempt, outcome)` があるか。
pub fn has_step(detail: &Value, step: &str, attempt: u64, outcome: &str) -> bool {
    timeline(detail)
        .iter()
        .any(|(s, a, o)| s == step && *a == attempt && o == outcome)
}
