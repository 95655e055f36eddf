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
