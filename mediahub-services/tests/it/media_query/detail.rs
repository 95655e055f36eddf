//! media-query の詳細・read-your-writes・履歴 (タイムトラベル)。

use std::time::{Duration, Instant};

use crate::support::media_query::{Env, testdata};
use mediahub_core::ids::{MediaId, UserId};
use sha2::{Digest, Sha256};

const JPEG: &str = "images/sunset-640x427.jpg";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_after_media_processed_has_dimensions_thumbnail_url_and_upload_fields() {
    let env = Env::start().await;
    let owner = UserId::new_random();
    let (media, uploaded_at) = env.upload(owner, "../sunset-640x427.jpg", JPEG).await;
    let position = env.process(media, 640, 427).await;
    env.caught_up(position).await;

    let (status, view) = env.user(owner).get(&format!("/api/v1/media/{media}")).await;
    assert_eq!(status, 200, "{view}");
    let bytes = testdata(JPEG);
    let sha: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(view["id"], media.to_string());
    assert_eq!(view["owner_id"], owner.to_string());
    assert_eq!(view["filename"], "sunset-640x427.jpg", "表示用に無害化済み");
    assert_eq!(view["content_type"], "image/jpeg");
    assert_eq!(view["kind"], "image");
    assert_eq!(view["size"], bytes.len());
    assert_eq!(view["sha256"], sha);
    assert_eq!(view["status"], "processed");
    assert_eq!(
        (view["width"].as_u64(), view["height"].as_u64()),
        (Some(640), Some(427))
    );
    assert!(view["duration_ms"].is_null());
    assert_eq!(
        view["thumbnail_url"],
        format!("/api/v1/media/{media}/thumbnail")
    );
    assert!(view["failure_reason"].is_null());
    assert_eq!(
        (view["version"].as_u64(), view["position"].as_u64()),
        (Some(2), Some(position))
    );
    assert!(view["correlation_id"].is_string());
    assert!(view["created_at"].as_str() <= view["updated_at"].as_str());
    assert!(uploaded_at < position);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_with_min_position_of_the_command_returns_the_new_state_immediately() {
    let env = Env::start().await;
    let owner = UserId::new_random();
    let caller = env.user(owner);
    let (media, uploaded) = env.upload(owner, "rw.jpg", JPEG).await;

    // 待ち合わせをせずに、コマンドの位置を min_position に渡すだけで新しい状態が読める。
    let (status, view) = caller
        .get(&format!("/api/v1/media/{media}?min_position={uploaded}"))
        .await;
    assert_eq!(
        (status, view["status"].as_str()),
        (200, Some("uploaded")),
        "{view}"
    );
    let failed = env.fail(media, "壊れた JPEG").await;
    let (status, view) = caller
        .get(&format!("/api/v1/media/{media}?min_position={failed}"))
        .await;
    assert_eq!(
        (status, view["status"].as_str()),
        (200, Some("failed")),
        "{view}"
    );
    assert_eq!(view["failure_reason"], "壊れた JPEG");
    let deleted = env.delete(media, owner).await;
    let (status, list) = caller
        .get(&format!(
            "/api/v1/media?status=deleted&min_position={deleted}"
        ))
        .await;
    assert_eq!(
        (status, list["items"][0]["status"].as_str()),
        (200, Some("deleted"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_position_1000_ahead_waits_the_200ms_bound_then_answers_409_position_beyond_log() {
    let env = Env::start_with_read_wait(Duration::from_millis(200)).await;
    let owner = UserId::new_random();
    let (media, position) = env.upload(owner, "x.jpg", JPEG).await;
    env.caught_up(position).await;
    let caller = env.user(owner);

    for path in [
        format!("/api/v1/media?min_position={}", position + 1000),
        format!("/api/v1/media/{media}?min_position={}", position + 1000),
    ] {
        let started = Instant::now();
        let (status, body) = caller.get(&path).await;
        let took = started.elapsed();
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["code"], "read_model.position_beyond_log");
        assert_eq!(body["min_position"].as_u64(), Some(position + 1000));
        assert_eq!(body["head"].as_u64(), Some(position));
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_of_3_versions_shows_uploaded_processed_deleted_states_and_ends_at_the_view() {
    let env = Env::start().await;
    let owner = UserId::new_random();
    let (media, _) = env.upload(owner, "h.jpg", JPEG).await;
    env.process(media, 640, 427).await;
    let last = env.delete(media, owner).await;
    env.caught_up(last).await;
    let caller = env.user(owner);

    let (status, history) = caller.get(&format!("/api/v1/media/{media}/history")).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["media_id"], media.to_string());
    let versions = history["versions"].as_array().cloned().unwrap_or_default();
    let summary: Vec<(u64, &str, &str)> = versions
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap_or_default(),
                v["event_type"].as_str().unwrap_or_default(),
                v["state"]["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "MediaUploaded", "uploaded"),
            (2, "MediaProcessed", "processed"),
            (3, "MediaDeleted", "deleted"),
        ]
    );
    assert!(versions[0]["state"]["width"].is_null());
    assert_eq!(versions[1]["state"]["width"], 640);
    assert_eq!(versions[1]["event"]["MediaProcessed"]["height"], 427);
    assert_eq!(versions[2]["metadata"]["user_id"], owner.to_string());
    // 最後の版の状態は、読みモデルの見え方と同じ。
    let (_, view) = caller.get(&format!("/api/v1/media/{media}")).await;
    assert_eq!(versions[2]["state"], view);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_media_detail_and_history_answer_404_and_bad_id_answers_400() {
    let env = Env::start().await;
    let caller = env.user(UserId::new_random());
    let unknown = MediaId::new_random();
    for path in [
        format!("/api/v1/media/{unknown}"),
        format!("/api/v1/media/{unknown}/history"),
    ] {
        let (status, body) = caller.get(&path).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("media.not_found")),
            "{path}"
        );
    }
    let (status, _) = caller.get("/api/v1/media/not-a-uuid").await;
    assert_eq!(status, 400);
}
