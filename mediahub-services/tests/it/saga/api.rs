//! saga サービスの API: 所有者だけが読めること、入力の検査、認可。

use crate::support::saga::{Caller, Harness, has_step, patient_policy};
use mediahub_core::ids::{SagaId, UserId};
use reqwest::Method;

async fn started(harness: &Harness, owner: UserId, filename: &str) -> crate::support::saga::Upload {
    let upload = harness.domain.upload(owner, filename).await;
    harness
        .detail_until(&upload, "Saga が始まる", |d| {
            has_step(d, "process_media", 1, "started")
        })
        .await;
    upload
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_user_gets_404_for_saga_and_empty_list_while_owner_lists_newest_first() {
    let harness = Harness::start_unreachable(patient_policy()).await;
    let owner = UserId::new_random();
    let first = started(&harness, owner, "first.jpg").await;
    let second = started(&harness, owner, "second.jpg").await;

    let (status, body) = harness.user(owner).get("/api/v1/sagas").await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["items"]
        .as_array()
        .map(|i| i.iter().filter_map(|s| s["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        ids,
        [
            second.saga_id().to_string().as_str(),
            first.saga_id().to_string().as_str()
        ]
    );
    let (status, body) = harness.user(owner).get("/api/v1/sagas?limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1));

    let stranger = harness.user(UserId::new_random());
    let (status, body) = stranger
        .get(&format!("/api/v1/sagas/{}", first.saga_id()))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "saga.not_found");
    let (status, body) = stranger.get("/api/v1/sagas").await;
    assert_eq!(status, 200);
    assert_eq!(body["items"], serde_json::json!([]));
    let (status, _) = harness
        .user(owner)
        .get(&format!("/api/v1/sagas/{}", SagaId::new_random()))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_token_reads_as_x_user_id_and_without_it_gets_403_user_required() {
    let harness = Harness::start_unreachable(patient_policy()).await;
    let owner = UserId::new_random();
    let upload = started(&harness, owner, "a.jpg").await;
    let service = harness.service();

    let (status, body) = service
        .send(
            service
                .request(Method::GET, &format!("/api/v1/sagas/{}", upload.saga_id()))
                .header("X-User-ID", owner.to_string()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["owner_id"], owner.to_string());

    let (status, body) = service.get("/api/v1/sagas").await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "auth.user_required");

    let user = harness.user(owner);
    let (status, body) = user
        .send(
            user.request(Method::GET, "/api/v1/sagas")
                .header("X-User-ID", owner.to_string()),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "auth.user_id_header_forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_token_on_rebuild_is_403_and_missing_token_is_401() {
    let harness = Harness::start_unreachable(patient_policy()).await;
    let (status, body) = harness
        .user(UserId::new_random())
        .post("/internal/v1/rebuild", &serde_json::json!({}))
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "auth.service_token_required");
    let (status, body) = Caller::anonymous(harness.saga().base_url())
        .get("/api/v1/sagas")
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "auth.missing_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_0_or_101_and_non_uuid_id_are_400_and_min_position_far_beyond_the_log_is_409() {
    let harness = Harness::start_unreachable(patient_policy()).await;
    let user = harness.user(UserId::new_random());
    for limit in [0, 101] {
        let (status, body) = user.get(&format!("/api/v1/sagas?limit={limit}")).await;
        assert_eq!(status, 400, "limit={limit}");
        assert_eq!(body["code"], "request.invalid_parameter");
    }
    let (status, body) = user.get("/api/v1/sagas/not-a-uuid").await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "request.invalid_path");

    let (status, body) = user.get("/api/v1/sagas?min_position=1000000").await;
    assert_eq!(status, 409);
    assert_eq!(body["code"], "read_model.position_beyond_log");
    assert_eq!(body["min_position"], 1_000_000);
    assert!(body["head"].is_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_with_min_position_of_upload_sees_the_new_saga_at_once() {
    let harness = Harness::start_unreachable(patient_policy()).await;
    let owner = UserId::new_random();
    let upload = harness.domain.upload(owner, "b.jpg").await;
    // Saga のイベントは MediaUploaded より後に書かれるので、最初の Saga イベントの位置を待つ。
    let (status, body) = harness
        .user(owner)
        .get(&format!(
            "/api/v1/sagas?min_position={}",
            upload.position + 1
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["id"], upload.saga_id().to_string());
    assert_eq!(body["items"][0]["status"], "running");
}
