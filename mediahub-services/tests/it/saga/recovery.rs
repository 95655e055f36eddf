//! saga サービス: 再配信・再起動・作り直しに強いことの確認。

use std::time::Duration;

use crate::support::saga::{
    DEADLINE, Harness, Silent, Upload, has_step, patient_policy, timeline, wait_until,
};
use mediahub_core::ids::UserId;
use mediahub_core::saga::SagaPolicy;
use mediahub_services::saga::{REACTOR_NAME, SagaConfig, start};

async fn completed(harness: &Harness) -> Upload {
    let upload = harness.domain.upload(UserId::new_random(), "cat.jpg").await;
    harness.domain.processed(&upload).await;
    harness.domain.added_to_default_album(&upload).await;
    harness.domain.notified(&upload).await;
    harness
        .detail_until(&upload, "Saga が completed になる", |d| {
            d["status"] == "completed"
        })
        .await;
    upload
}

async fn reset_reactor_checkpoint(harness: &Harness) {
    let pool = mediahub_services::consumer::open_database(&harness.db_path())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let done = sqlx::query("UPDATE checkpoints SET position = 0 WHERE consumer = ?")
        .bind(REACTOR_NAME)
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.rows_affected(), 1);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactor_replaying_log_from_position_0_appends_no_saga_event_and_keeps_stream_versions() {
    let mut harness = Harness::start_unreachable(patient_policy()).await;
    let upload = completed(&harness).await;
    let version = harness.saga_version(upload.saga_id()).await;
    let head = harness
        .store
        .client()
        .head()
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    harness.stop_saga().await;
    reset_reactor_checkpoint(&harness).await;
    harness.start_saga_unreachable(patient_policy()).await;
    wait_until(
        "リアクターがログの先頭まで読み直す",
        DEADLINE,
        || async { harness.saga().reactor_position() >= head },
    )
    .await;

    assert_eq!(harness.saga_version(upload.saga_id()).await, version);
    let head_after = harness
        .store
        .client()
        .head()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(head_after, head, "再配信で新しいイベントは書かれない");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saga_stopped_during_process_attempt_1_is_redriven_on_restart_and_records_a_new_attempt() {
    let silent = Silent::bind().await;
    let slow = SagaPolicy {
        process_deadline: Duration::from_secs(3600),
        ..patient_policy()
    };
    let mut harness = Harness::start(slow, &silent.url).await;
    let upload = harness.domain.upload(UserId::new_random(), "cat.jpg").await;
    harness
        .detail_until(&upload, "処理の試行 1 が始まる", |d| {
            has_step(d, "process_media", 1, "started")
        })
        .await;
    harness.stop_saga().await;

    harness.start_saga_unreachable(patient_policy()).await;
    let detail = harness
        .detail_until(
            &upload,
            "再起動後に試行 1 がやり直され、試行 2 が予定される",
            |d| has_step(d, "process_media", 2, "retrying"),
        )
        .await;
    assert_eq!(
        timeline(&detail),
        [
            ("process_media".into(), 1, "started".into()),
            ("process_media".into(), 1, "failed".into()),
            ("process_media".into(), 2, "retrying".into()),
        ]
    );
    assert_eq!(detail["attempt"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_with_service_token_replays_view_to_same_timeline_and_reports_saga_events() {
    let harness = Harness::start_unreachable(patient_policy()).await;
    let upload = completed(&harness).await;
    let before = harness
        .detail_until(&upload, "詳細が読める", |d| {
            d["status"] == "completed"
        })
        .await;

    let (status, body) = harness
        .service()
        .post("/internal/v1/rebuild", &serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let saga_events = before["events"].as_array().map_or(0, Vec::len) as u64;
    assert_eq!(body["events"], saga_events);
    assert!(body["position"].as_u64().unwrap_or_default() >= upload.position);

    let after = harness
        .detail_until(&upload, "作り直し後も詳細が読める", |d| {
            d["status"] == "completed"
        })
        .await;
    assert_eq!(timeline(&after), timeline(&before));
    assert_eq!(after["created_at"], before["created_at"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_with_ftp_album_url_or_bad_eventstore_url_fails_with_message_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = SagaConfig::new(dir.path().join("saga.db"), crate::support::saga::keys())
        .listen("127.0.0.1:0")
        .album_url("ftp://album");
    let err = start(config).await.err().map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.contains("ALBUM_URL")),
        "{err:?}"
    );
    let config = SagaConfig::new(dir.path().join("saga.db"), crate::support::saga::keys())
        .listen("127.0.0.1:0")
        .eventstore_url("not a url");
    assert!(start(config).await.is_err());
}
