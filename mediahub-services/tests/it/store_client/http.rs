//! `EventStoreClient` の各メソッドを本物のイベントストアに対して確かめます。

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::store_client::{
    GateProxy, Store, added, client_for, counting_client, wait_until,
};
use futures::StreamExt;
use mediahub_core::envelope::{EventMetadata, NewEvent};
use mediahub_core::ids::CorrelationId;
use mediahub_services::eventstore::view::{AggregateState, SnapshotBody, SnapshotWriteBody};
use mediahub_services::store_client::{
    EventStoreClient, LogQuery, RetryPolicy, StaticToken, StoreClientError,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_of_2_events_returns_created_envelopes_and_read_stream_after_version_1_returns_second()
 {
    let store = Store::start().await;
    let client = store.client();
    let correlation = CorrelationId::new_random();
    let mut first = added(1);
    first.metadata = EventMetadata::correlated(correlation);

    let outcome = client
        .append("Counter", "a", 0, &[first.clone(), added(2)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert!(!outcome.replayed);
    assert_eq!((outcome.last_position, outcome.last_version), (2, 2));
    assert_eq!(outcome.events.len(), 2);
    assert_eq!(outcome.events[0].id, first.id);
    assert_eq!(outcome.events[0].metadata.correlation_id, Some(correlation));
    let later = client
        .read_stream("Counter", "a", 1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(later.len(), 1);
    assert_eq!(
        (later[0].version, later[0].data.clone()),
        (2, json!({"amount": 2}))
    );
    assert_eq!(client.head().await.ok(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_with_stale_expected_version_is_version_conflict_with_current_version_and_writes_nothing()
 {
    let store = Store::start().await;
    let client = store.client();
    client
        .append("Counter", "a", 0, &[added(1), added(2)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let result = client.append("Counter", "a", 1, &[added(3)]).await;

    match result {
        Err(StoreClientError::VersionConflict {
            expected_version,
            current_version,
            ..
        }) => assert_eq!((expected_version, current_version), (1, Some(2))),
        other => panic!("版の衝突のはず: {other:?}"),
    }
    assert_eq!(client.head().await.ok(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_resent_with_same_event_ids_is_replayed_and_stored_once() {
    let store = Store::start().await;
    let client = store.client();
    let events = [added(1), added(2)];
    let first = client
        .append("Counter", "a", 0, &events)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let again = client
        .append("Counter", "a", 0, &events)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert!(again.replayed);
    assert_eq!(again.events, first.events);
    assert_eq!(client.head().await.ok(), Some(2));
}

/// 最初の接続だけ、要求をサーバーへ渡した後に応答を捨てて切る TCP 中継。
/// 2 本目以降の接続はそのまま中継します。
async fn spawn_response_dropping_proxy(target: SocketAddr) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let Ok(mut outbound) = TcpStream::connect(target).await else {
                return;
            };
            tokio::spawn(async move {
                if n > 0 {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    return;
                }
                // 要求をすべて渡し、応答の最初のバイトが届いたら (= サーバーは処理を終えた)
                // 応答をクライアントに渡さずに両方を切る。
                let (mut in_read, _in_write) = inbound.split();
                let (mut out_read, mut out_write) = outbound.split();
                let forward = async {
                    let mut buf = [0u8; 8192];
                    loop {
                        match in_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if out_write.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                };
                let first_response_byte = async {
                    let mut byte = [0u8; 1];
                    let _ = out_read.read(&mut byte).await;
                };
                tokio::select! {
                    () = forward => {}
                    () = first_response_byte => {}
                }
            });
        }
    });
    (format!("http://{addr}"), connections)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_whose_response_is_lost_is_retried_with_same_event_ids_and_stored_once() {
    let store = Store::start().await;
    let target = store.handle().local_addr();
    let (proxy_url, connections) = spawn_response_dropping_proxy(target).await;
    let client = client_for(&proxy_url);
    let events = [added(1)];

    let outcome = client
        .append("Counter", "a", 0, &events)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert!(
        connections.load(Ordering::SeqCst) >= 2,
        "応答が失われたので接続し直したはず"
    );
    assert!(outcome.replayed, "再送は保存済みとして 200 で返るはず");
    assert_eq!(outcome.events[0].id, events[0].id);
    assert_eq!(store.client().head().await.ok(), Some(1), "一度だけ保存");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_that_drops_every_connection_fails_with_http_error_after_exactly_max_attempts() {
    // 接続を受け付けてすぐ切る中継 (停止したポートを使うと、並列のテストが同じポートを
    // 使い回したときに別のサービスにつながってしまう)。
    let down = GateProxy::spawn().await;
    let retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    };
    let (client, tokens) = counting_client(&down.url, retry);

    let result = client.head().await;

    assert!(
        matches!(result, Err(StoreClientError::Http(_))),
        "{result:?}"
    );
    assert_eq!(tokens.count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_with_token_signed_by_other_secret_is_status_401_with_problem_code() {
    let store = Store::start().await;
    let other = mediahub_services::platform::auth::JwtKeys::from_secret(
        b"some-other-secret-that-is-long-enough-0123",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let token = other
        .issue_service_token("intruder")
        .unwrap_or_else(|e| panic!("{e}"));
    let client = EventStoreClient::new(&store.base_url(), StaticToken(token))
        .unwrap_or_else(|e| panic!("{e}"));

    let result = client.append("Counter", "a", 0, &[added(1)]).await;

    match result {
        Err(StoreClientError::Status {
            status: 401,
            problem: Some(problem),
        }) => assert!(problem.code.is_some(), "{problem:?}"),
        other => panic!("401 のはず: {other:?}"),
    }
    assert_eq!(store.client().head().await.ok(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_of_aggregate_without_snapshot_is_none() {
    let store = Store::start().await;
    let snapshot = store
        .client()
        .snapshot("Counter", "nothing")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snapshot, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_log_filtered_by_type_and_correlation_returns_only_matching_events_in_order() {
    let store = Store::start().await;
    let client = store.client();
    let correlation = CorrelationId::new_random();
    let mut tagged = added(5);
    tagged.metadata = EventMetadata::correlated(correlation);
    client
        .append("Counter", "a", 0, &[added(1)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    client
        .append("Other", "o", 0, &[added(2)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    client
        .append("Counter", "b", 0, &[tagged])
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let by_type = client
        .read_log(&LogQuery::after(0).aggregate_type("Counter"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let by_correlation = client
        .read_log(&LogQuery::after(0).correlation_id(correlation))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let second_page = client
        .read_log(&LogQuery::after(1).limit(1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let positions = |page: &mediahub_services::store_client::LogPage| {
        page.events.iter().map(|e| e.position).collect::<Vec<_>>()
    };
    assert_eq!((positions(&by_type), by_type.head), (vec![1, 3], 3));
    assert_eq!(positions(&by_correlation), vec![3]);
    assert_eq!(positions(&second_page), vec![2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_log_with_wait_returns_event_committed_while_waiting() {
    let store = Store::start().await;
    let client = store.client();
    let poller = client.clone();
    let poll = tokio::spawn(async move {
        poller
            .read_log(&LogQuery::after(0).wait(Duration::from_secs(20)))
            .await
    });
    let state = store.handle().state().clone();
    wait_until(
        "ロングポーリングが待ち始める",
        Duration::from_secs(10),
        || {
            let waiting = state.waiters() > 0;
            async move { waiting }
        },
    )
    .await;

    client
        .append("Counter", "a", 0, &[added(7)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let page = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].data, json!({"amount": 7}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_yields_existing_and_later_committed_events_in_position_order() {
    let store = Store::start().await;
    let client = store.client();
    client
        .append("Counter", "a", 0, &[added(1), added(2)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stream = Box::pin(
        client
            .subscribe(&LogQuery::after(1))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let ids: Vec<NewEvent> = (3..=5).map(added).collect();
    client
        .append("Counter", "b", 0, &ids)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let mut positions = Vec::new();
    while positions.len() < 4 {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("流れが終わった"))
            .unwrap_or_else(|e| panic!("{e}"));
        positions.push(next.position);
        if next.position > 2 {
            let index = usize::try_from(next.position - 3).unwrap_or(usize::MAX);
            assert_eq!(next.id, ids[index].id);
        }
    }
    assert_eq!(positions, vec![2, 3, 4, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_of_same_event_id_to_another_stream_is_status_409_not_version_conflict() {
    let store = Store::start().await;
    let client = store.client();
    let event = added(1);
    client
        .append("Counter", "a", 0, std::slice::from_ref(&event))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let result = client.append("Counter", "b", 0, &[event]).await;

    match result {
        Err(StoreClientError::Status {
            status: 409,
            problem: Some(problem),
        }) => assert_eq!(
            problem.code.as_deref(),
            Some("eventstore.duplicate_event_id")
        ),
        other => panic!("ID の重複のはず: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_snapshot_is_read_back_and_second_first_snapshot_is_snapshot_conflict_with_current_1() {
    let store = Store::start().await;
    let client = store.client();
    let first = SnapshotWriteBody {
        aggregate: AggregateState(json!({"total": 3})),
        current_sequence: 2,
        current_snapshot: 1,
        expected_snapshot: None,
    };

    client
        .put_snapshot("Counter", "a", &first)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let again = client.put_snapshot("Counter", "a", &first).await;

    let stored = client
        .snapshot("Counter", "a")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stored,
        Some(SnapshotBody {
            aggregate: json!({"total": 3}),
            current_sequence: 2,
            current_snapshot: 1,
        })
    );
    assert!(
        matches!(
            again,
            Err(StoreClientError::SnapshotConflict {
                expected_snapshot: None,
                current_snapshot: Some(1),
                ..
            })
        ),
        "{again:?}"
    );
}
