//! end-to-end: 全サービスを 1 つのテストプロセスでポート 0 に起動し、ゲートウェイ越しの本物の
//! HTTP でアップロード Saga の全経路を確かめます (issue #5)。
//!
//! どのテストも最後に、ログ全体の位置・イベント ID・各ストリームの版に隙間も重複もないことを
//! 確かめます。

use std::time::Duration;

use mediahub_core::saga::SagaPolicy;
use serde_json::Value;

use crate::support::system::{
    Caller, DEADLINE, TestSystem, event_types_of, event_types_with_correlation, fast_policy, keys,
    service_token, upload, wait_for_saga, wait_until,
};

fn str_of<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} がありません: {body}"))
}

fn steps_of(saga: &Value) -> Vec<(String, u64, String)> {
    saga["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap_or_default().to_owned(),
                s["attempt"].as_u64().unwrap_or_default(),
                s["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jpeg_upload_completes_saga_puts_media_in_default_album_and_sends_one_notification() {
    let sys = TestSystem::start().await;
    let (alice, alice_id) = sys.login("alice").await;

    let (status, accepted) = upload(&alice, "images/sunset-640x427.jpg", None).await;
    assert_eq!(status, 202, "{accepted}");
    let media_id = str_of(&accepted, "media_id").to_owned();
    let saga = wait_for_saga(&alice, str_of(&accepted, "saga_id"), "completed").await;
    let steps = steps_of(&saga);
    for step in ["process_media", "add_to_album", "notify"] {
        assert!(
            steps.iter().any(|(s, _, o)| s == step && o == "succeeded"),
            "{step} が成功していません: {steps:?}"
        );
    }

    // メディアは処理済み (read-your-writes: 受付の位置まで待つ)
    let (status, media) = alice
        .get(&format!(
            "/api/v1/media/{media_id}?min_position={}",
            accepted["position"]
        ))
        .await;
    assert_eq!(status, 200, "{media}");
    wait_until("media-query が processed を返す", DEADLINE, || async {
        alice.get(&format!("/api/v1/media/{media_id}")).await.1["status"] == "processed"
    })
    .await;

    // デフォルトアルバムに入っている
    let (_, albums) = alice.get("/api/v1/albums").await;
    let default = albums["items"]
        .as_array()
        .and_then(|items| items.iter().find(|a| a["is_default"] == true))
        .unwrap_or_else(|| panic!("デフォルトアルバムがありません: {albums}"))
        .clone();
    let (_, contents) = alice
        .get(&format!("/api/v1/albums/{}/media", str_of(&default, "id")))
        .await;
    assert_eq!(
        contents["items"][0]["media_id"],
        media_id.as_str(),
        "{contents}"
    );

    // 通知はちょうど 1 件
    wait_until("通知が 1 件届く", DEADLINE, || async {
        alice.get("/api/v1/notifications").await.1["items"]
            .as_array()
            .is_some_and(|items| items.len() == 1)
    })
    .await;

    let log = sys.assert_log_is_consistent().await;
    assert_eq!(
        event_types_of(&log, &media_id),
        ["MediaUploaded", "MediaProcessed"]
    );
    let correlation_id = str_of(&accepted, "correlation_id");
    for event in log
        .iter()
        .filter(|e| e["metadata"]["correlation_id"] == correlation_id)
    {
        assert_eq!(
            event["metadata"]["user_id"],
            alice_id.as_str(),
            "アップロードの流れのイベントはすべてアップロードした人のもの: {event}"
        );
    }
    let flow = event_types_with_correlation(&log, correlation_id);
    for expected in [
        "MediaUploaded",
        "SagaStarted",
        "MediaProcessed",
        "AlbumCreated",
        "MediaAddedToAlbum",
        "NotificationSent",
        "SagaCompleted",
    ] {
        assert_eq!(
            flow.iter().filter(|t| *t == expected).count(),
            1,
            "相関 ID の流れに {expected} がちょうど 1 件ありません: {flow:?}"
        );
    }
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_jpeg_fails_processing_deletes_file_compensates_saga_and_notifies_user() {
    let sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;

    let (status, accepted) = upload(&alice, "images/corrupt.jpg", None).await;
    assert_eq!(status, 202, "{accepted}");
    let media_id = str_of(&accepted, "media_id").to_owned();
    let saga = wait_for_saga(&alice, str_of(&accepted, "saga_id"), "compensated").await;
    assert!(
        steps_of(&saga)
            .iter()
            .any(|(s, _, o)| s == "delete_uploaded_file" && o == "succeeded"),
        "{saga}"
    );

    // 元ファイルは消えている
    let (status, _) = alice
        .get(&format!("/api/v1/media/{media_id}/original"))
        .await;
    assert_eq!(status, 404);
    wait_until("失敗の通知が届く", DEADLINE, || async {
        alice.get("/api/v1/notifications").await.1["items"][0]["kind"] == "upload_failed"
    })
    .await;

    let log = sys.assert_log_is_consistent().await;
    assert_eq!(
        event_types_of(&log, &media_id),
        ["MediaUploaded", "MediaProcessingFailed", "MediaDeleted"]
    );
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn album_fault_injected_invalidates_media_after_retries_and_compensates_saga() {
    let sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;

    let (status, accepted) = upload(&alice, "images/sunset-640x427.jpg", Some("album")).await;
    assert_eq!(status, 202, "{accepted}");
    let media_id = str_of(&accepted, "media_id").to_owned();
    let saga = wait_for_saga(&alice, str_of(&accepted, "saga_id"), "compensated").await;
    let album_failures = steps_of(&saga)
        .iter()
        .filter(|(s, _, o)| s == "add_to_album" && o == "failed")
        .count();
    assert_eq!(
        album_failures, 3,
        "アルバムの段階は 3 回試して失敗するはず: {saga}"
    );

    let log = sys.assert_log_is_consistent().await;
    assert_eq!(
        event_types_of(&log, &media_id),
        ["MediaUploaded", "MediaProcessed", "MediaInvalidated"]
    );
    wait_until("media-query が invalidated を返す", DEADLINE, || async {
        alice.get(&format!("/api/v1/media/{media_id}")).await.1["status"] == "invalidated"
    })
    .await;
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_fault_injected_is_retried_then_saga_completes_once_fault_clears() {
    let sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;

    let (status, accepted) =
        upload(&alice, "images/sunset-640x427.jpg", Some("notification")).await;
    assert_eq!(status, 202, "{accepted}");
    let saga = wait_for_saga(&alice, str_of(&accepted, "saga_id"), "completed").await;
    let notify: Vec<_> = steps_of(&saga)
        .into_iter()
        .filter(|(s, _, _)| s == "notify")
        .collect();
    assert!(
        notify.iter().any(|(_, a, o)| *a == 1 && o == "failed")
            && notify.iter().any(|(_, a, o)| *a == 3 && o == "succeeded"),
        "通知は 2 回失敗して 3 回目に成功するはず: {notify:?}"
    );
    let log = sys.assert_log_is_consistent().await;
    let sent = log
        .iter()
        .filter(|e| e["event_type"] == "NotificationSent")
        .count();
    assert_eq!(sent, 1);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saga_service_down_during_upload_completes_the_saga_after_restart() {
    let mut sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;

    sys.system
        .stop_saga()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, accepted) = upload(&alice, "images/sunset-640x427.jpg", None).await;
    assert_eq!(status, 202, "{accepted}");
    let log = sys.whole_log().await;
    assert!(
        !log.iter().any(|e| e["aggregate_type"] == "Saga"),
        "止まっている間に Saga のイベントはないはず"
    );

    sys.system
        .start_saga()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for_saga(&alice, str_of(&accepted, "saga_id"), "completed").await;
    let log = sys.assert_log_is_consistent().await;
    let started = log
        .iter()
        .filter(|e| e["event_type"] == "SagaStarted")
        .count();
    assert_eq!(started, 1);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_query_down_during_20_uploads_catches_up_and_equals_a_rebuild() {
    let mut sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;

    let mut sagas = Vec::new();
    for i in 0..20 {
        if i == 5 {
            sys.system
                .stop_media_query()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let (status, accepted) = upload(&alice, "images/small-64x48.png", None).await;
        assert_eq!(status, 202, "{accepted}");
        sagas.push(str_of(&accepted, "saga_id").to_owned());
    }
    sys.system
        .start_media_query()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for saga in &sagas {
        wait_for_saga(&alice, saga, "completed").await;
    }
    let head = sys.whole_log().await.len();
    let list = |caller: Caller| async move {
        caller
            .get(&format!("/api/v1/media?limit=100&min_position={head}"))
            .await
    };
    let (status, live) = list(alice.clone()).await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["items"].as_array().map(Vec::len), Some(20), "{live}");

    let media_query = sys
        .system
        .media_query()
        .map(|h| h.base_url())
        .unwrap_or_else(|| panic!("media-query が止まっています"));
    let internal = Caller::new(media_query, service_token(&keys(), "e2e-test"));
    let (status, rebuilt) = internal.post("/internal/v1/rebuild", &Value::Null).await;
    assert_eq!(status, 200, "{rebuilt}");
    let (_, after) = list(alice.clone()).await;
    assert_eq!(live, after, "作り直した読みモデルがライブのものと違います");

    sys.assert_log_is_consistent().await;
    sys.stop().await;
}

/// アルバム追加の一時的な失敗を `retry_deadline` まで再試行する方針 (待ち時間は 10〜200 ms)。
fn album_retry_policy(retry_deadline: Duration) -> SagaPolicy {
    let mut policy = fast_policy();
    policy.album.max_backoff = Duration::from_millis(200);
    policy.retry_deadline = retry_deadline;
    policy
}

/// Saga の詳細のうち、アルバム追加の試行 (試行番号, 結果) を順に。
fn album_attempts(saga: &Value) -> Vec<(u64, String)> {
    steps_of(saga)
        .into_iter()
        .filter(|(step, _, _)| step == "add_to_album")
        .map(|(_, attempt, outcome)| (attempt, outcome))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn album_down_past_max_attempts_but_within_retry_deadline_is_retried_and_saga_completes() {
    let mut sys = TestSystem::start_with_policy(album_retry_policy(Duration::from_secs(60))).await;
    let (alice, _) = sys.login("alice").await;
    sys.system
        .stop_album()
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let (status, accepted) = upload(&alice, "images/sunset-640x427.jpg", None).await;
    assert_eq!(status, 202, "{accepted}");
    let saga_id = str_of(&accepted, "saga_id").to_owned();
    let max = fast_policy().album.max_attempts;
    // 回数の上限を超えて再試行していることを、詳細の試行番号で待つ (時間ではなく条件で)。
    wait_until(
        "アルバム追加が上限の回数を超えて再試行される",
        DEADLINE,
        || async {
            let (_, saga) = alice.get(&format!("/api/v1/sagas/{saga_id}")).await;
            album_attempts(&saga)
                .iter()
                .any(|(attempt, _)| *attempt > u64::from(max) + 1)
        },
    )
    .await;
    sys.system
        .start_album()
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let saga = wait_for_saga(&alice, &saga_id, "completed").await;
    let attempts = album_attempts(&saga);
    let last = attempts.last().cloned().unwrap_or_default();
    assert_eq!(last.1, "succeeded", "{attempts:?}");
    assert!(last.0 > u64::from(max) + 1, "{attempts:?}");
    sys.assert_log_is_consistent().await;
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn album_down_past_retry_deadline_compensates_the_saga_after_recording_each_attempt() {
    let mut sys =
        TestSystem::start_with_policy(album_retry_policy(Duration::from_millis(1500))).await;
    let (alice, _) = sys.login("alice").await;
    sys.system
        .stop_album()
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let (status, accepted) = upload(&alice, "images/sunset-640x427.jpg", None).await;
    assert_eq!(status, 202, "{accepted}");
    let saga = wait_for_saga(&alice, str_of(&accepted, "saga_id"), "compensated").await;

    let attempts = album_attempts(&saga);
    let failed = attempts
        .iter()
        .filter(|(_, outcome)| outcome == "failed")
        .map(|(attempt, _)| *attempt)
        .collect::<Vec<_>>();
    let max = u64::from(fast_policy().album.max_attempts);
    assert!(
        failed.len() as u64 > max,
        "期限までは上限の回数を超えて再試行する: {attempts:?}"
    );
    assert_eq!(
        failed,
        (1..=failed.len() as u64).collect::<Vec<_>>(),
        "失敗した試行が 1 から順にすべて記録される: {attempts:?}"
    );
    assert_eq!(
        attempts.last().map(|(_, outcome)| outcome.as_str()),
        Some("compensation_started"),
        "{attempts:?}"
    );
    assert_eq!(
        saga["failure_reason"].as_str().map(|r| r.contains("album")),
        Some(true),
        "{saga}"
    );
    sys.system
        .start_album()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sys.assert_log_is_consistent().await;
    sys.stop().await;
}
