//! 共有の補助 (crate::support::services) が本物のイベントストアを起動して呼べることの確認。

use crate::support::services::{Caller, Store, keys, user_token};
use mediahub_core::ids::UserId;

#[tokio::test]
async fn health_of_started_event_store_answers_200_ok() {
    let store = Store::start().await;
    let caller = Caller::new(store.base_url(), user_token(&keys(), UserId::new_random()));
    let (status, body) = caller.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["service"], "eventstore");
}
