//! 通知サービスの結合テストで共有する補助。
//!
//! 本物のイベントストアと本物の通知サービスを、テストごとの一時ディレクトリの上でポート 0 に
//! 起動し、本物の HTTP で呼びます。モックはありません。

// SSE の読み手 (`SseReader`) を使い回すために読み込みます。`common` が services_support 経由と
// 二重に読み込まれますが、どちらも期限つきの待ち合わせだけで状態を持たないので無害です。

use mediahub_core::envelope::Envelope;
use mediahub_core::ids::{NotificationId, UserId};
use mediahub_services::notification::{NotificationConfig, NotificationHandle, start};
use serde_json::{Value, json};
use tempfile::TempDir;

pub use super::eventstore::{SseEvent, SseReader};
pub use super::services::{Caller, DEADLINE, Store, keys, service_token, user_token};

/// 一時ディレクトリの上で動く、イベントストアと通知サービスの組。
pub struct Service {
    pub store: Store,
    pub dir: TempDir,
    pub handle: Option<NotificationHandle>,
    base_url: String,
}

impl Service {
    /// 既定の設定で起動します。
    pub async fn start() -> Self {
        Self::start_with(|config| config).await
    }

    /// 設定を変えて起動します。
    pub async fn start_with(
        configure: impl FnOnce(NotificationConfig) -> NotificationConfig,
    ) -> Self {
        let store = Store::start().await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut service = Self {
            store,
            dir,
            handle: None,
            base_url: String::new(),
        };
        service.boot(configure).await;
        service
    }

    async fn boot(&mut self, configure: impl FnOnce(NotificationConfig) -> NotificationConfig) {
        let config = NotificationConfig::new(
            self.store.base_url(),
            self.dir.path().join("data/notification.db"),
            keys(),
        )
        .listen("127.0.0.1:0");
        let handle = start(configure(config))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.base_url = handle.base_url();
        self.handle = Some(handle);
    }

    /// 動いている通知サービスの取っ手。
    pub fn handle(&self) -> &NotificationHandle {
        self.handle
            .as_ref()
            .unwrap_or_else(|| panic!("通知サービスが動いていません"))
    }

    /// 通知サービスを止めます (イベントストアと読みモデルのファイルは残ります)。
    pub async fn stop_service(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.stop().await.unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// 同じファイルで通知サービスを起動し直します。
    pub async fn restart_service(&mut self) {
        self.stop_service().await;
        self.boot(|config| config).await;
    }

    /// すべて止めます。
    pub async fn stop(mut self) {
        self.stop_service().await;
        self.store.stop().await;
    }

    /// ユーザー `user` のトークンで呼ぶ人。
    pub fn user(&self, user: UserId) -> Caller {
        Caller::new(&self.base_url, user_token(&keys(), user))
    }

    /// サービス用トークン (saga) で呼ぶ人。
    pub fn internal(&self) -> Caller {
        Caller::new(&self.base_url, service_token(&keys(), "saga"))
    }

    /// 内部 API で `user` に通知を送り、通知 ID と位置を返します (200 であることを確かめます)。
    pub async fn send(&self, user: UserId, message: &str) -> (NotificationId, u64) {
        let id = NotificationId::new_random();
        let (status, body) = self
            .internal()
            .post("/internal/v1/notifications", &send_body(id, user, message))
            .await;
        assert_eq!(status, 200, "{body}");
        let position = body["position"]
            .as_u64()
            .unwrap_or_else(|| panic!("position がありません: {body}"));
        (id, position)
    }

    /// `user` の一覧を `min_position` まで待って読みます (200 であることを確かめます)。
    pub async fn list(&self, user: UserId, min_position: u64) -> Vec<Value> {
        let (status, body) = self
            .user(user)
            .get(&format!(
                "/api/v1/notifications?min_position={min_position}"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        items(&body)
    }

    /// `user` の未読を `min_position` まで待って読みます (200 であることを確かめます)。
    pub async fn unread(&self, user: UserId, min_position: u64) -> Value {
        let (status, body) = self
            .user(user)
            .get(&format!(
                "/api/v1/notifications/unread?min_position={min_position}"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// SSE の接続を開きます (200 と text/event-stream を確かめます)。
    pub async fn open_stream(&self, user: UserId, last_event_id: Option<u64>) -> SseReader {
        let mut request = self
            .user(user)
            .request(reqwest::Method::GET, "/api/v1/notifications/stream")
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 200);
        let content_type = content_type(&response);
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        SseReader::new(response)
    }

    /// `user` として通知 `id` を既読にします (状態コードと本体)。
    pub async fn mark_read(&self, user: UserId, id: NotificationId) -> (u16, Value) {
        self.user(user)
            .put(&format!("/api/v1/notifications/{id}/read"), &json!({}))
            .await
    }

    /// 通知 `id` のストリームに保存されたイベント。
    pub async fn events_of(&self, id: NotificationId) -> Vec<Envelope> {
        self.store
            .client()
            .read_stream("Notification", &id.to_string(), 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// イベントストアのログの先頭位置。
    pub async fn head(&self) -> u64 {
        self.store
            .client()
            .head()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// 応答の `Content-Type`。
pub fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// 内部 API の本体 (`upload_completed`、障害注入なし)。
pub fn send_body(id: NotificationId, user: UserId, message: &str) -> Value {
    json!({
        "notification_id": id,
        "user_id": user,
        "kind": "upload_completed",
        "message": message,
        "media_id": null,
        "saga_id": null,
        "inject_fault": false,
    })
}

/// 本体の `items`。
pub fn items(body: &Value) -> Vec<Value> {
    body["items"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("items がありません: {body}"))
}

/// 期限内に次の SSE のイベントを読みます。
pub async fn next_event(reader: &mut SseReader) -> SseEvent {
    tokio::time::timeout(DEADLINE, reader.next())
        .await
        .unwrap_or_else(|_| panic!("SSE のイベントが期限内に届きません"))
        .unwrap_or_else(|| panic!("SSE が途中で終わりました"))
}

/// SSE のイベントの本体 (NotificationView の JSON)。
pub fn data_of(event: &SseEvent) -> Value {
    serde_json::from_str(&event.data).unwrap_or_else(|e| panic!("{e}: {}", event.data))
}
