//! store_client と consumer の結合テストで共有する補助。
//!
//! 本物のイベントストアサービスをテストの中でポート 0 (または指定のポート) に起動し、
//! テストごとの一時ディレクトリの SQLite を使います。モックはありません。

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mediahub_core::envelope::{EventMetadata, NewEvent};
use mediahub_core::ids::EventId;
use mediahub_services::eventstore::{EventStoreConfig, EventStoreHandle, start};
use mediahub_services::platform::auth::JwtKeys;
use mediahub_services::store_client::{
    EventStoreClient, RetryPolicy, ServiceTokenProvider, TokenError, TokenProvider,
};
use serde_json::json;
use tempfile::TempDir;

/// テスト用の JWT 秘密鍵 (32 バイト以上)。
pub const SECRET: &[u8] = b"store-client-test-secret-0123456789abcdef";

/// テスト用の鍵。
pub fn keys() -> JwtKeys {
    JwtKeys::from_secret(SECRET).unwrap_or_else(|e| panic!("{e}"))
}

/// 一時ディレクトリの上で動く本物のイベントストア。
pub struct Store {
    pub dir: TempDir,
    pub handle: Option<EventStoreHandle>,
    pub addr: Option<SocketAddr>,
}

impl Store {
    /// ポート 0 で起動します。
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut store = Self {
            dir,
            handle: None,
            addr: None,
        };
        store.boot("127.0.0.1:0").await;
        store
    }

    /// イベントストアのファイル。
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("eventstore.db")
    }

    async fn boot(&mut self, listen: &str) {
        let config = EventStoreConfig::new(self.db_path(), keys()).listen(listen);
        let handle = start(config).await.unwrap_or_else(|e| panic!("{e}"));
        self.addr = Some(handle.local_addr());
        self.handle = Some(handle);
    }

    /// 動いているサービスの取っ手。
    pub fn handle(&self) -> &EventStoreHandle {
        self.handle
            .as_ref()
            .unwrap_or_else(|| panic!("イベントストアが動いていません"))
    }

    /// `http://127.0.0.1:<port>`。停止中も最後のアドレスを返します。
    pub fn base_url(&self) -> String {
        let addr = self.addr.unwrap_or_else(|| panic!("まだ起動していません"));
        format!("http://{addr}")
    }

    /// 停止します (ファイルは残ります)。
    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.stop().await.unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// 同じファイルで (新しいポート 0 に) 起動し直します。
    pub async fn start_again(&mut self) {
        self.boot("127.0.0.1:0").await;
    }

    /// このストアへのクライアント (サービストークンは要求ごとに発行)。
    pub fn client(&self) -> EventStoreClient {
        client_for(&self.base_url())
    }
}

/// ベース URL へのクライアント。
pub fn client_for(base_url: &str) -> EventStoreClient {
    EventStoreClient::new(base_url, ServiceTokenProvider::new(keys(), "test"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// 要求の試行回数 (= トークンを用意した回数) を数えるトークンプロバイダ。
#[derive(Clone, Default)]
pub struct CountingTokens {
    pub calls: Arc<AtomicUsize>,
}

impl CountingTokens {
    pub fn count(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl TokenProvider for CountingTokens {
    fn bearer_token(&self) -> Result<String, TokenError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        ServiceTokenProvider::new(keys(), "test").bearer_token()
    }
}

/// 試行回数を数えるクライアント。
pub fn counting_client(base_url: &str, retry: RetryPolicy) -> (EventStoreClient, CountingTokens) {
    let tokens = CountingTokens::default();
    let client = EventStoreClient::new(base_url, tokens.clone())
        .unwrap_or_else(|e| panic!("{e}"))
        .with_retry(retry);
    (client, tokens)
}

/// 新しい ID の `Added` イベント。
pub fn added(amount: u64) -> NewEvent {
    NewEvent {
        id: EventId::new_random(),
        event_type: "Added".into(),
        event_version: "1.0".into(),
        data: json!({ "amount": amount }),
        metadata: EventMetadata::default(),
    }
}

/// ストリームごとの版を覚えて 1 件ずつ追記する補助。
pub struct Appender {
    pub client: EventStoreClient,
    versions: HashMap<(String, String), u64>,
}

impl Appender {
    pub fn new(client: EventStoreClient) -> Self {
        Self {
            client,
            versions: HashMap::new(),
        }
    }

    /// `Added { amount }` を 1 件追記し、そのグローバル位置を返します。
    pub async fn add(&mut self, aggregate_type: &str, aggregate_id: &str, amount: u64) -> u64 {
        let key = (aggregate_type.to_owned(), aggregate_id.to_owned());
        let version = self.versions.get(&key).copied().unwrap_or(0);
        let outcome = self
            .client
            .append(aggregate_type, aggregate_id, version, &[added(amount)])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.versions.insert(key, outcome.last_version);
        outcome.last_position
    }
}

/// 止まっているサービスの代わりに待ち受ける TCP の中継。
///
/// 行き先が `None` の間は受け付けた接続をすぐ切り (= サービスが落ちている)、行き先が決まると
/// そこへそのまま中継します。停止したサービスのポートを使い回さずに「落ちていたサービスが
/// 戻ってくる」を再現するためのものです (ポートの使い回しは並列のテストと衝突しうる)。
pub struct GateProxy {
    pub url: String,
    target: tokio::sync::watch::Sender<Option<SocketAddr>>,
}

impl GateProxy {
    pub async fn spawn() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let (target, rx) = tokio::sync::watch::channel(None::<SocketAddr>);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let Some(to) = *rx.borrow() else {
                    drop(inbound);
                    continue;
                };
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            target,
        }
    }

    /// 中継先を決めます (サービスが戻ってきた)。
    pub fn open_to(&self, addr: SocketAddr) {
        self.target.send_replace(Some(addr));
    }
}

pub use super::common::wait_until;
