//! 2 つの Saga のプロセスが同時に動く (レプリカ): どちらも同じグローバルログを読み、同じ
//! 参加者を呼びます。楽観的並行性制御 (Saga のストリームの版) と、決まった ID の通知で、
//! Saga ごとの終わりのイベントはちょうど 1 件、通知はたかだか 1 件になることを確かめます。

use std::collections::BTreeMap;

use crate::support::process::ServiceProcess;
use crate::support::store_client::SECRET;
use crate::support::system::{Caller, DEADLINE, TestSystem, upload, wait_for_saga, wait_until};

const TERMINAL: [&str; 3] = ["SagaCompleted", "SagaCompensated", "SagaFailed"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_saga_processes_on_50_uploads_give_each_saga_one_terminal_event_and_at_most_one_notification()
 {
    const UPLOADS: usize = 50;
    let sys = TestSystem::start().await;
    let urls = sys.system.urls().clone();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let database = dir.path().join("saga-2.db");
    let database = database.to_string_lossy();
    let secret = std::str::from_utf8(SECRET).unwrap_or_else(|e| panic!("{e}"));
    // 2 つ目の Saga: 別のプロセス、自分の読みモデル (SQLite)、同じイベントストアと参加者。
    let second = ServiceProcess::spawn(
        env!("CARGO_BIN_EXE_saga"),
        "saga",
        &[
            ("SAGA_LISTEN", "127.0.0.1:0"),
            ("SAGA_DATABASE", &database),
            ("EVENTSTORE_URL", &urls.eventstore),
            ("MEDIA_COMMAND_URL", &urls.media_command),
            ("ALBUM_URL", &urls.album),
            ("NOTIFICATION_URL", &urls.notification),
            ("JWT_SECRET", secret),
            ("SAGA_INITIAL_BACKOFF_MS", "10"),
            ("SAGA_MAX_BACKOFF_MS", "40"),
            ("SAGA_RETRY_DEADLINE_MS", "0"),
        ],
    );
    let (alice, _) = sys.login("alice").await;

    // 50 件: 5 件に 1 件は壊れた JPEG (補償まで進む)。8 件ずつ同時に送ります。
    let files: Vec<&str> = (0..UPLOADS)
        .map(|i| {
            if i % 5 == 4 {
                "images/corrupt.jpg"
            } else {
                "images/small-64x48.png"
            }
        })
        .collect();
    let mut sagas: Vec<(String, &str)> = Vec::new();
    for chunk in files.chunks(8) {
        let sends: Vec<_> = chunk
            .iter()
            .map(|file| {
                let alice = alice.clone();
                let file = (*file).to_owned();
                tokio::spawn(async move { upload(&alice, &file, None).await })
            })
            .collect();
        for (send, file) in sends.into_iter().zip(chunk) {
            let (status, accepted) = send.await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(status, 202, "{accepted}");
            let saga = accepted["saga_id"].as_str().unwrap_or_default().to_owned();
            let expected = if file.contains("corrupt") {
                "compensated"
            } else {
                "completed"
            };
            sagas.push((saga, expected));
        }
    }
    for (saga, expected) in &sagas {
        wait_for_saga(&alice, saga, expected).await;
    }

    // 2 つ目のプロセスも同じ結末を自分の読みモデルで見ている (ちゃんと動いていた)。
    let second_as_alice = Caller::new(
        second.base_url.clone(),
        alice.token.clone().unwrap_or_default(),
    );
    for (saga, expected) in &sagas {
        let path = format!("/api/v1/sagas/{saga}");
        wait_until(
            "2 つ目の Saga の読みモデルが追いつく",
            DEADLINE,
            || async { second_as_alice.get(&path).await.1["status"] == *expected },
        )
        .await;
    }

    let log = sys.assert_log_is_consistent().await;
    let mut terminal: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut notifications: BTreeMap<String, usize> = BTreeMap::new();
    for event in &log {
        let event_type = event["event_type"].as_str().unwrap_or_default();
        if event["aggregate_type"] == "Saga" && TERMINAL.contains(&event_type) {
            terminal
                .entry(
                    event["aggregate_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
                .or_default()
                .push(event_type.to_owned());
        }
        if event_type == "NotificationSent" {
            let saga = &event["data"]["NotificationSent"]["saga_id"];
            let saga = saga
                .as_str()
                .unwrap_or_else(|| panic!("saga_id がありません: {event}"));
            *notifications.entry(saga.to_owned()).or_default() += 1;
        }
    }
    for (saga, expected) in &sagas {
        let ends = terminal.get(saga).cloned().unwrap_or_default();
        let wanted = if *expected == "completed" {
            "SagaCompleted"
        } else {
            "SagaCompensated"
        };
        assert_eq!(
            ends,
            vec![wanted.to_owned()],
            "Saga {saga} の終わりのイベント"
        );
        let sent = notifications.get(saga).copied().unwrap_or(0);
        assert!(sent <= 1, "Saga {saga} の通知が {sent} 件");
    }
    assert_eq!(terminal.len(), UPLOADS);
    drop(second);
    sys.stop().await;
}
