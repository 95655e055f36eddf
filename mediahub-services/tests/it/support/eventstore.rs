//! イベントストアの結合テストで共有する補助 (本物の HTTP、ポート 0、テストごとの一時ディレクトリ)。

use mediahub_services::eventstore::{EventStoreConfig, EventStoreHandle, StoreLocation, start};
use mediahub_services::platform::auth::JwtKeys;
use serde_json::{Value, json};
use tempfile::TempDir;
use uuid::Uuid;

/// テスト用の JWT 秘密鍵 (32 バイト以上)。
pub const SECRET: &[u8] = b"eventstore-test-secret-0123456789abcdef";

use super::postgres::PgServer;

/// 保存先の実装。同じテストを両方で動かすには [`crate::on_both_backends`] を使います。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// 一時ディレクトリの SQLite ファイル。
    Sqlite,
    /// テストが起動した本物の PostgreSQL の、このテストだけのデータベース。
    Postgres,
}

/// 一時ディレクトリ (SQLite) か PostgreSQL の上で動くイベントストア。HTTP の補助は [`Http`]
/// (Deref) にあります。
pub struct TestStore {
    /// 一時ディレクトリ (テストが終わるまで消さないために持つだけ)。
    pub _dir: TempDir,
    pub handle: Option<EventStoreHandle>,
    pub keys: JwtKeys,
    pub http: Http,
    pub location: StoreLocation,
    /// PostgreSQL のサーバー (このテストが起動したなら、落とすと止まります)。
    pub pg: Option<PgServer>,
    /// 先頭が進んだだけの応答を寄せ集める時間 (`None` なら既定)。
    pub progress_coalesce: Option<std::time::Duration>,
}

/// サービス用トークンつきの HTTP クライアント (複製してタスクに配れます)。
#[derive(Clone)]
pub struct Http {
    pub client: reqwest::Client,
    pub token: String,
    pub base: String,
}

impl std::ops::Deref for TestStore {
    type Target = Http;

    fn deref(&self) -> &Http {
        &self.http
    }
}

pub fn keys() -> JwtKeys {
    JwtKeys::from_secret(SECRET).unwrap_or_else(|e| panic!("{e}"))
}

impl TestStore {
    /// SQLite の上で起動します。
    pub async fn start() -> Self {
        Self::start_on(Backend::Sqlite).await
    }

    /// 選んだ保存先の上で起動します。
    pub async fn start_on(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::start_at(None).await,
            Backend::Postgres => {
                let server = PgServer::start();
                let url = server.database().await;
                let mut store = Self::start_at(Some(StoreLocation::Postgres(url))).await;
                store.pg = Some(server);
                store
            }
        }
    }

    /// PostgreSQL のデータベース `url` の上で起動します (ほかのプロセスがすでに書いていても構いません)。
    pub async fn start_on_url(url: &str) -> Self {
        Self::start_at(Some(StoreLocation::Postgres(url.to_owned()))).await
    }

    async fn start_at(location: Option<StoreLocation>) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let location = location.unwrap_or_else(|| {
            StoreLocation::Sqlite(dir.path().join("data").join("eventstore.db"))
        });
        let keys = keys();
        let token = keys
            .issue_service_token("test")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut store = Self {
            _dir: dir,
            handle: None,
            keys,
            http: Http {
                client: mediahub_services::platform::http_client::builder()
                    .build()
                    .unwrap_or_else(|e| panic!("{e}")),
                token,
                base: String::new(),
            },
            location,
            pg: None,
            progress_coalesce: None,
        };
        store.boot().await;
        store
    }

    /// SQLite のファイル (SQLite で起動したときだけ)。
    pub fn db_path(&self) -> std::path::PathBuf {
        match &self.location {
            StoreLocation::Sqlite(path) => path.clone(),
            StoreLocation::Postgres(_) => panic!("PostgreSQL で動いています"),
        }
    }

    async fn boot(&mut self) {
        let mut config =
            EventStoreConfig::new(self.location.clone(), self.keys.clone()).listen("127.0.0.1:0");
        if let Some(coalesce) = self.progress_coalesce {
            config = config.progress_coalesce(coalesce);
        }
        let handle = start(config).await.unwrap_or_else(|e| panic!("{e}"));
        self.http.base = handle.base_url();
        self.handle = Some(handle);
    }

    /// 先頭が進んだだけの応答を寄せ集める時間を変えて再起動します (同じ保存先)。
    pub async fn restart_with_progress_coalesce(&mut self, coalesce: std::time::Duration) {
        self.stop().await;
        self.progress_coalesce = Some(coalesce);
        self.boot().await;
    }

    pub fn handle(&self) -> &EventStoreHandle {
        self.handle
            .as_ref()
            .unwrap_or_else(|| panic!("not running"))
    }

    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.stop().await.unwrap_or_else(|e| panic!("{e}"));
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        self.boot().await;
    }
}

impl Http {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(&self.token)
    }

    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.put(self.url(path)).bearer_auth(&self.token)
    }

    /// 追記して (状態コード, 本体) を返します。
    pub async fn append(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        expected_version: u64,
        events: &[Value],
    ) -> (u16, Value) {
        let response = self
            .post(&format!(
                "/api/v1/streams/{aggregate_type}/{aggregate_id}/events"
            ))
            .json(&json!({"expected_version": expected_version, "events": events}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        status_and_json(response).await
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self
            .get(path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        status_and_json(response).await
    }

    pub async fn head(&self) -> u64 {
        let (status, body) = self.get_json("/api/v1/head").await;
        assert_eq!(status, 200, "{body}");
        body["head"].as_u64().unwrap_or_else(|| panic!("{body}"))
    }

    pub async fn stream(&self, aggregate_type: &str, aggregate_id: &str) -> Vec<Value> {
        let (status, body) = self
            .get_json(&format!(
                "/api/v1/streams/{aggregate_type}/{aggregate_id}/events"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        events_of(&body)
    }

    /// グローバルログを先頭から全部読みます。
    pub async fn whole_log(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let (status, body) = self
                .get_json(&format!("/api/v1/events?after={after}&limit=1000"))
                .await;
            assert_eq!(status, 200, "{body}");
            let events = events_of(&body);
            if events.is_empty() {
                return all;
            }
            after = events
                .last()
                .and_then(|e| e["position"].as_u64())
                .unwrap_or_else(|| panic!("{body}"));
            all.extend(events);
        }
    }
}

pub fn events_of(body: &Value) -> Vec<Value> {
    body["events"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no events in {body}"))
}

/// 新しい ID のイベント (NewEvent の JSON)。
pub fn new_event(event_type: &str, data: Value) -> Value {
    json!({
        "id": Uuid::new_v4(),
        "event_type": event_type,
        "event_version": "1.0",
        "data": data,
    })
}

pub use super::common::{status_and_json, wait_until};

/// Server-Sent Events の 1 件。
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// SSE の応答本体を読み、イベントを 1 件ずつ返す小さな読み手。
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// 次のイベントを返します (キープアライブのコメントは読み飛ばします)。本体が終われば `None`。
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut has_field = false;
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("id:") {
                        event.id = Some(value.trim_start().to_owned());
                        has_field = true;
                    } else if let Some(value) = line.strip_prefix("event:") {
                        event.event = Some(value.trim_start().to_owned());
                        has_field = true;
                    } else if let Some(value) = line.strip_prefix("data:") {
                        if !event.data.is_empty() {
                            event.data.push('\n');
                        }
                        event
                            .data
                            .push_str(value.strip_prefix(' ').unwrap_or(value));
                        has_field = true;
                    }
                }
                if has_field {
                    return Some(event);
                }
                continue;
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => {
                    let text = String::from_utf8_lossy(&chunk).replace("\r\n", "\n");
                    self.buffer.push_str(&text);
                }
                Ok(None) | Err(_) => return None,
            }
        }
    }
}

/// 同じテストを SQLite と PostgreSQL の両方で動かします。
///
/// ```ignore
/// on_both_backends! {
///     async fn name_states_input_and_expected_output(backend) {
///         let store = TestStore::start_on(backend).await;
///         …
///     }
/// }
/// ```
///
/// テスト名は `…::name_states_input_and_expected_output::sqlite` と `…::postgres` になります。
/// 先頭に `multi_thread:` と書くと、4 スレッドのランタイムで動かします。
#[macro_export]
macro_rules! on_both_backends {
    (multi_thread: $(async fn $name:ident($backend:ident) $body:block)+) => {
        $crate::on_both_backends!(@tests (flavor = "multi_thread", worker_threads = 4) $(async fn $name($backend) $body)+);
    };
    ($(async fn $name:ident($backend:ident) $body:block)+) => {
        $crate::on_both_backends!(@tests (flavor = "current_thread") $(async fn $name($backend) $body)+);
    };
    (@tests $flavor:tt $(async fn $name:ident($backend:ident) $body:block)+) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($backend: $crate::support::eventstore::Backend) $body

                #[tokio::test $flavor]
                async fn sqlite() {
                    run($crate::support::eventstore::Backend::Sqlite).await;
                }

                #[tokio::test $flavor]
                async fn postgres() {
                    run($crate::support::eventstore::Backend::Postgres).await;
                }
            }
        )+
    };
}
