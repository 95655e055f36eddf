//! saga サービス: ドメインイベントに反応して Saga が進み、失敗で再試行・補償することの確認。
//!
//! 本物のイベントストアと saga サービスを使い、ドメインイベントは本物のコアの集約で書きます。

use crate::support::saga::{
    Answering, Harness, has_step, keys, patient_policy, quick_process_policy, timeline,
};
use mediahub_core::ids::UserId;
use mediahub_core::notification::NotificationKind;
use mediahub_core::saga::SagaPolicy;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_uploaded_starts_saga_with_process_media_attempt_1_visible_in_timeline() {
    let harness = Harness::start_unreachable(patient_policy()).await;
    let owner = UserId::new_random();
    let upload = harness.domain.upload(owner, "夕焼け.jpg").await;

    let detail = harness
        .detail_until(&upload, "ProcessMedia の試行 1 が始まる", |d| {
            has_step(d, "process_media", 1, "started")
        })
        .await;
    assert_eq!(detail["id"], upload.saga_id().to_string());
    assert_eq!(detail["media_id"], upload.media_id.to_string());
    assert_eq!(detail["owner_id"], owner.to_string());
    assert_eq!(detail["filename"], "夕焼け.jpg");
    assert_eq!(detail["status"], "running");
    assert_eq!(detail["correlation_id"], upload.correlation.to_string());
    let events = detail["events"].as_array().cloned().unwrap_or_default();
    let types: Vec<&str> = events
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .take(2)
        .collect();
    assert_eq!(types, ["SagaStarted", "SagaStepStarted"]);
    assert_eq!(
        events[0]["metadata"]["causation_id"].as_str(),
        Some(
            harness
                .store
                .client()
                .read_stream("Media", &upload.media_id.to_string(), 0)
                .await
                .unwrap_or_else(|e| panic!("{e}"))[0]
                .id
                .to_string()
                .as_str()
        ),
        "SagaStarted の因果 ID は MediaUploaded のイベント ID"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processed_added_and_notified_in_order_complete_saga_even_with_unreachable_participants() {
    let harness = Harness::start_unreachable(patient_policy()).await;
    let upload = harness.domain.upload(UserId::new_random(), "cat.jpg").await;
    harness
        .detail_until(
            &upload,
            "処理の試行 1 が失敗として記録される",
            |d| has_step(d, "process_media", 1, "failed"),
        )
        .await;

    harness.domain.processed(&upload).await;
    harness
        .detail_until(&upload, "アルバム追加が始まる", |d| {
            d["current_step"] == "add_to_album"
        })
        .await;
    harness.domain.added_to_default_album(&upload).await;
    harness
        .detail_until(&upload, "通知が始まる", |d| {
            d["current_step"] == "notify"
        })
        .await;
    harness.domain.notified(&upload).await;

    let detail = harness
        .detail_until(&upload, "Saga が completed になる", |d| {
            d["status"] == "completed"
        })
        .await;
    assert_eq!(detail["current_step"], serde_json::Value::Null);
    assert_eq!(detail["failure_reason"], serde_json::Value::Null);
    for step in ["process_media", "add_to_album", "notify"] {
        assert!(
            timeline(&detail)
                .iter()
                .any(|(s, _, o)| s == step && o == "succeeded"),
            "{step} が succeeded: {:?}",
            timeline(&detail)
        );
    }
    let event_types: Vec<&str> = detail["events"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["event_type"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(event_types.last(), Some(&"SagaCompleted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_media_command_is_retried_to_3_attempts_then_compensation_starts() {
    let harness = Harness::start_unreachable(quick_process_policy()).await;
    let upload = harness.domain.upload(UserId::new_random(), "dog.png").await;

    let detail = harness
        .detail_until(&upload, "補償のファイル削除が始まる", |d| {
            has_step(d, "delete_uploaded_file", 1, "started")
        })
        .await;
    assert_eq!(detail["status"], "compensating");
    assert_eq!(detail["current_step"], "delete_uploaded_file");
    let reason = detail["failure_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("/internal/v1/media/"), "{reason}");
    let process: Vec<(u64, String)> = timeline(&detail)
        .into_iter()
        .filter(|(s, _, _)| s == "process_media")
        .map(|(_, a, o)| (a, o))
        .collect();
    assert_eq!(
        process,
        [
            (1, "started".to_owned()),
            (1, "failed".to_owned()),
            (2, "retrying".to_owned()),
            (2, "failed".to_owned()),
            (3, "retrying".to_owned()),
            (3, "failed".to_owned()),
            (3, "compensation_started".to_owned()),
        ]
    );
    let positions: Vec<u64> = detail["steps"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["position"].as_u64()).collect())
        .unwrap_or_default();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compensating_saga_ends_compensated_after_media_deleted_and_failure_notification_events() {
    let harness = Harness::start_unreachable(quick_process_policy()).await;
    let upload = harness
        .domain
        .upload(UserId::new_random(), "broken.jpg")
        .await;
    harness
        .detail_until(
            &upload,
            "補償のファイル削除が失敗として記録される",
            |d| has_step(d, "delete_uploaded_file", 1, "failed"),
        )
        .await;

    harness.domain.deleted_by_compensation(&upload).await;
    harness
        .detail_until(&upload, "失敗の通知が始まる", |d| {
            d["current_step"] == "notify"
        })
        .await;
    harness
        .domain
        .notified_with(&upload, NotificationKind::UploadFailed)
        .await;

    let detail = harness
        .detail_until(&upload, "Saga が compensated になる", |d| {
            d["status"] == "compensated"
        })
        .await;
    assert!(has_step(&detail, "delete_uploaded_file", 2, "succeeded"));
    assert!(
        timeline(&detail)
            .iter()
            .any(|(s, _, o)| s == "notify" && o == "succeeded"),
        "{:?}",
        timeline(&detail)
    );
    assert_eq!(detail["current_step"], serde_json::Value::Null);
    assert!(detail["failure_reason"].as_str().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participant_answering_404_fails_step_without_retry_and_failed_compensation_ends_in_failed()
{
    let participant = Answering::start(404).await;
    let harness = Harness::start(patient_policy(), &participant.url).await;
    let upload = harness
        .domain
        .upload(UserId::new_random(), "lost.jpg")
        .await;

    let detail = harness
        .detail_until(&upload, "Saga が failed になる", |d| {
            d["status"] == "failed"
        })
        .await;
    assert_eq!(
        timeline(&detail),
        [
            ("process_media".into(), 1, "started".into()),
            ("process_media".into(), 1, "failed".into()),
            ("process_media".into(), 1, "compensation_started".into()),
            ("delete_uploaded_file".into(), 1, "started".into()),
            ("delete_uploaded_file".into(), 1, "failed".into()),
        ]
    );
    let reason = detail["failure_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("delete_uploaded_file"), "{reason}");

    let requests = participant.requests();
    let process = &requests[0];
    assert_eq!(
        process.path,
        format!("/internal/v1/media/{}/process", upload.media_id)
    );
    assert_eq!(process.body, serde_json::json!({"inject_fault": false}));
    assert_eq!(
        process.header("idempotency-key"),
        Some(format!("{}:process_media", upload.saga_id()).as_str())
    );
    assert_eq!(
        process.header("x-correlation-id"),
        Some(upload.correlation.to_string().as_str())
    );
    let step_started = detail["events"][1]["id"].as_str().unwrap_or_default();
    assert_eq!(process.header("x-causation-id"), Some(step_started));
    let token = process
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    let claims = keys().verify(token).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claims.service_name(), Some("saga"));
    assert_eq!(
        requests[1].path,
        format!(
            "/internal/v1/media/{}/delete-uploaded-file",
            upload.media_id
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participant_answering_200_without_resulting_event_fails_attempt_at_deadline_as_retriable()
{
    let participant = Answering::start(200).await;
    let policy = SagaPolicy {
        process_deadline: Duration::from_millis(300),
        ..patient_policy()
    };
    let harness = Harness::start(policy, &participant.url).await;
    let upload = harness
        .domain
        .upload(UserId::new_random(), "slow.jpg")
        .await;

    let detail = harness
        .detail_until(&upload, "締め切りで再試行が予定される", |d| {
            has_step(d, "process_media", 2, "retrying")
        })
        .await;
    let failed = detail["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["outcome"] == "failed"))
        .cloned()
        .unwrap_or_default();
    assert!(
        failed["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("結果のイベントが届きませんでした"),
        "{failed}"
    );
    assert_eq!(detail["status"], "running");
    assert_eq!(participant.requests().len(), 1);
}
