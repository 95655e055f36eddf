//! 結合テストのサポートモジュールが共有する部品。

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

/// 条件が真になるまで待ちます (期限つき。期限を過ぎたらテストを失敗させます)。
pub async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if condition().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "期限内に条件が満たされませんでした: {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// 応答の状態コードと JSON 本体 (空なら `Value::Null`)。
pub async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_else(|e| panic!("{e}"));
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    (status, body)
}

/// 束縛したまま待ち受けないポート: 接続はすぐ断られ (ECONNREFUSED)、生きている間は
/// ほかのソケットにも再利用されません。
///
/// 束縛して手放しただけのポートは、並行して動くほかのテストのサーバーや、接続元の
/// 一時ポート (自分自身への接続) に使われることがあり、「届かない相手」が応答してしまいます。
pub struct ClosedPort {
    url: String,
    _socket: tokio::net::TcpSocket,
}

impl ClosedPort {
    /// 127.0.0.1 の空いているポートを束縛します (`listen` はしません)。
    pub fn bind() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| panic!("{e}"));
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = socket.local_addr().unwrap_or_else(|e| panic!("{e}"));
        Self {
            url: format!("http://{addr}"),
            _socket: socket,
        }
    }

    /// `http://127.0.0.1:port`。
    pub fn url(&self) -> &str {
        &self.url
    }
}
