//! media-command の削除・ファイル取得 (所有者のみ) と、補償の内部 API (削除・無効化) の冪等性。

use crate::support::media_command::{Service, get_bytes, testdata};
use serde_json::json;

#[tokio::test]
async fn original_of_own_media_is_streamed_with_its_content_type_and_private_cache_control() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let id = service
        .upload_ok(&caller, "images/small-80x60.webp", "image/webp")
        .await;
    let (status, content_type, cache, bytes) =
        get_bytes(&caller, &format!("/api/v1/media/{id}/original")).await;
    assert_eq!(status, 200);
    assert_eq!(content_type.as_deref(), Some("image/webp"));
    assert_eq!(cache.as_deref(), Some("private, max-age=60"));
    assert_eq!(bytes, testdata("images/small-80x60.webp"));
}

#[tokio::test]
async fn original_and_thumbnail_of_other_users_media_are_404() {
    let service = Service::start().await;
    let (_, owner) = service.new_user();
    let (_, other) = service.new_user();
    let id = service
        .upload_ok(&owner, "images/sunset-640x427.jpg", "image/jpeg")
        .await;
    let (status, body) = service.process(&id, false).await;
    assert_eq!(status, 200, "{body}");
    for kind in ["original", "thumbnail"] {
        let (status, body) = other.get(&format!("/api/v1/media/{id}/{kind}")).await;
        assert_eq!(status, 404, "{kind}: {body}");
        assert_eq!(body["code"], "media.not_found");
        let (status, _, cache, _) = get_bytes(&owner, &format!("/api/v1/media/{id}/{kind}")).await;
        assert_eq!(status, 200, "{kind}");
        assert_eq!(cache.as_deref(), Some("private, max-age=60"));
    }
}

#[tokio::test]
async fn thumbnail_before_processing_is_404_thumbnail_not_found_and_unknown_media_is_404() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let id = service
        .upload_ok(&caller, "images/small-64x48.png", "image/png")
        .await;
    let (status, body) = caller.get(&format!("/api/v1/media/{id}/thumbnail")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "media.thumbnail_not_found");
    let unknown = uuid::Uuid::new_v4();
    let (status, body) = caller
        .get(&format!("/api/v1/media/{unknown}/original"))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "media.not_found");
}

#[tokio::test]
async fn png_thumbnail_of_image_with_alpha_is_served_as_image_png() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let mut png = Vec::new();
    image::DynamicImage::ImageRgba8(image::RgbaImage::new(400, 100))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) =
        crate::support::media_command::upload(&caller, png, "alpha.png", Some("image/png")).await;
    assert_eq!(status, 202, "{body}");
    let id = body["media_id"].as_str().unwrap_or_default().to_owned();
    let (status, body) = service.process(&id, false).await;
    assert_eq!(status, 200, "{body}");
    let (status, content_type, _, bytes) =
        get_bytes(&caller, &format!("/api/v1/media/{id}/thumbnail")).await;
    assert_eq!(status, 200);
    assert_eq!(content_type.as_deref(), Some("image/png"));
    let thumb = image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((thumb.width(), thumb.height()), (200, 50));
}

#[tokio::test]
async fn delete_by_owner_returns_202_with_position_removes_files_and_then_original_is_404() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let id = service
        .upload_ok(&caller, "images/sunset-640x427.jpg", "image/jpeg")
        .await;
    let (status, body) = service.process(&id, false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(service.files().len(), 2);
    let (status, body) = caller.delete(&format!("/api/v1/media/{id}")).await;
    assert_eq!(status, 202, "{body}");
    let events = service.events(&id).await;
    assert_eq!(events[2].event_type, "MediaDeleted");
    assert_eq!(events[2].data["MediaDeleted"]["reason"], "user");
    assert_eq!(body["position"], events[2].position);
    assert!(service.files().is_empty());
    let (status, _) = caller.get(&format!("/api/v1/media/{id}/original")).await;
    assert_eq!(status, 404);
    let (status, body) = caller.delete(&format!("/api/v1/media/{id}")).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn delete_of_other_users_media_returns_404_and_keeps_the_file() {
    let service = Service::start().await;
    let (_, owner) = service.new_user();
    let (_, other) = service.new_user();
    let id = service
        .upload_ok(&owner, "images/small-64x48.png", "image/png")
        .await;
    let (status, body) = other.delete(&format!("/api/v1/media/{id}")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "media.not_found");
    assert_eq!(service.event_types(&id).await, ["MediaUploaded"]);
    assert_eq!(service.files().len(), 1);
}

#[tokio::test]
async fn delete_uploaded_file_twice_records_one_compensation_media_deleted_and_files_are_gone() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let id = service
        .upload_ok(&caller, "images/corrupt.jpg", "image/jpeg")
        .await;
    let (status, body) = service.process(&id, false).await;
    assert_eq!(status, 200, "{body}");
    let path = format!("/internal/v1/media/{id}/delete-uploaded-file");
    let saga = service.saga();
    let (status, first) = saga.post(&path, &json!({})).await;
    assert_eq!(status, 200, "{first}");
    assert!(first["position"].as_u64().unwrap_or(0) > 0);
    let (status, second) = saga.post(&path, &json!({})).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["position"], 0);
    assert_eq!(
        service.event_types(&id).await,
        ["MediaUploaded", "MediaProcessingFailed", "MediaDeleted"]
    );
    let events = service.events(&id).await;
    assert_eq!(events[2].data["MediaDeleted"]["reason"], "compensation");
    assert!(service.files().is_empty());
}

#[tokio::test]
async fn delete_uploaded_file_and_invalidate_of_unknown_media_are_404() {
    let service = Service::start().await;
    let saga = service.saga();
    let unknown = uuid::Uuid::new_v4();
    let (status, body) = saga
        .post(
            &format!("/internal/v1/media/{unknown}/delete-uploaded-file"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = saga
        .post(
            &format!("/internal/v1/media/{unknown}/invalidate"),
            &json!({ "reason": "x" }),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn invalidate_twice_records_one_media_invalidated_and_then_original_is_404() {
    let service = Service::start().await;
    let (user, caller) = service.new_user();
    let id = service
        .upload_ok(&caller, "images/small-64x48.png", "image/png")
        .await;
    let path = format!("/internal/v1/media/{id}/invalidate");
    let saga = service.saga();
    let correlation = uuid::Uuid::new_v4();
    let request = || {
        saga.request(reqwest::Method::POST, &path)
            .header("X-Correlation-ID", correlation.to_string())
            .header("X-User-ID", user.to_string())
            .header("Idempotency-Key", "saga:invalidate")
            .json(&json!({ "reason": "album step failed" }))
    };
    let (status, first) = saga.send(request()).await;
    assert_eq!(status, 200, "{first}");
    assert!(first["position"].as_u64().unwrap_or(0) > 0);
    let (status, second) = saga.send(request()).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["position"], 0);
    let events = service.events(&id).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].event_type, "MediaInvalidated");
    assert_eq!(
        events[1].data["MediaInvalidated"]["reason"],
        "album step failed"
    );
    assert_eq!(
        events[1].metadata.correlation_id.map(|c| c.as_uuid()),
        Some(correlation)
    );
    assert_eq!(events[1].metadata.user_id, Some(user));
    let (status, _) = caller.get(&format!("/api/v1/media/{id}/original")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn stop_after_serving_returns_ok_and_port_stops_answering() {
    let mut service = Service::start().await;
    let (_, caller) = service.new_user();
    service
        .upload_ok(&caller, "images/small-64x48.png", "image/png")
        .await;
    let handle = service
        .handle
        .take()
        .unwrap_or_else(|| panic!("動いていません"));
    assert!(
        handle
            .state()
            .storage
            .root()
            .ends_with(service.storage.path().file_name().unwrap_or_default())
    );
    handle.stop().await.unwrap_or_else(|e| panic!("{e}"));
    let result = mediahub_services::platform::http_client::builder()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .get(format!("{}/health", service.base_url))
        .send()
        .await;
    assert!(result.is_err());
}

#[tokio::test]
async fn start_with_storage_dir_that_is_a_file_or_a_bad_eventstore_url_fails_with_a_clear_error() {
    use mediahub_services::media_command::{MediaCommandConfig, StartError, start};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap_or_else(|e| panic!("{e}"));
    let keys = crate::support::media_command::keys();
    let config = MediaCommandConfig::new("http://127.0.0.1:1", &file, keys.clone())
        .listen("127.0.0.1:0")
        .grace(std::time::Duration::from_millis(100));
    let err = start(config).await.err();
    assert!(matches!(err, Some(StartError::Storage { .. })), "{err:?}");
    let config = MediaCommandConfig::new("not a url", dir.path().join("media"), keys.clone())
        .listen("127.0.0.1:0");
    let err = start(config).await.err();
    assert!(matches!(err, Some(StartError::Client(_))), "{err:?}");
    let config = MediaCommandConfig::new("http://127.0.0.1:1", dir.path().join("media"), keys)
        .listen("256.0.0.1:0");
    let err = start(config).await.err();
    assert!(matches!(err, Some(StartError::Server(_))), "{err:?}");
}
