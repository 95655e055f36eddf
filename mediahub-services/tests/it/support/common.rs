//! 結合テストのサポートモジュールが共有する部品。

use std::future::Future;
use std::time::Duration;

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
