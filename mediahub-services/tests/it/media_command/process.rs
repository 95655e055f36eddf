//! media-command の処理 (`POST /internal/v1/media/{id}/process`): サムネイル、寸法、動画の長さ、
//! 壊れたファイルと展開爆弾の失敗、障害注入、冪等性。

use crate::support::media_command::{Caller, Service, get_bytes, keys, user_token};
use mediahub_core::ids::UserId;
use serde_json::{Value, json};

/// `MediaProcessed` の (幅, 高さ, 長さ)。
fn dimensions(data: &Value) -> (Option<u64>, Option<u64>, Option<u64>) {
    (
        data["width"].as_u64(),
        data["height"].as_u64(),
        data["duration_ms"].as_u64(),
    )
}

fn processed_data(events: &[mediahub_core::envelope::Envelope]) -> Value {
    events
        .iter()
        .find(|e| e.event_type == "MediaProcessed")
        .map(|e| e.data["MediaProcessed"].clone())
        .unwrap_or_else(|| panic!("MediaProcessed がありません"))
}

async fn thumbnail_size(caller: &Caller, media_id: &str) -> (u32, u32, String) {
    let (status, content_type, _, bytes) =
        get_bytes(caller, &format!("/api/v1/media/{media_id}/thumbnail")).await;
    assert_eq!(status, 200);
    let image = image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("{e}"));
    (
        image.width(),
        image.height(),
        content_type.unwrap_or_default(),
    )
}

#[tokio::test]
async fn process_of_sunset_640x427_records_size_and_thumbnail_of_200x133() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let (id, body) = service
        .upload_and_process(&caller, "images/sunset-640x427.jpg", "image/jpeg")
        .await;
    assert_eq!(body["status"], "processed");
    let events = service.events(&id).await;
    assert_eq!(body["position"], events[1].position);
    let data = processed_data(&events);
    assert_eq!(dimensions(&data), (Some(640), Some(427), None));
    assert_eq!(data["thumbnail_key"], format!("thumbnails/{id}.jpg"));
    let (w, h, content_type) = thumbnail_size(&caller, &id).await;
    assert_eq!(w, 200);
    assert!((132..=134).contains(&h), "{h}");
    assert_eq!(content_type, "image/jpeg");
}

#[tokio::test]
async fn process_twice_records_one_media_processed_and_second_answers_position_0() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let id = service
        .upload_ok(&caller, "images/small-64x48.png", "image/png")
        .await;
    let (status, first) = service.process(&id, false).await;
    assert_eq!(status, 200, "{first}");
    assert!(first["position"].as_u64().unwrap_or(0) > 0);
    let (status, second) = service.process(&id, false).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second, json!({ "position": 0, "status": "processed" }));
    assert_eq!(
        service.event_types(&id).await,
        ["MediaUploaded", "MediaProcessed"]
    );
}

#[tokio::test]
async fn process_of_exif_orientation_6_image_600x300_gives_portrait_size_and_thumbnail() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let (id, _) = service
        .upload_and_process(
            &caller,
            "images/exif-orientation-6-600x300.jpg",
            "image/jpeg",
        )
        .await;
    let data = processed_data(&service.events(&id).await);
    assert_eq!(dimensions(&data), (Some(300), Some(600), None));
    let (w, h, _) = thumbnail_size(&caller, &id).await;
    assert!(w < h, "{w}x{h}");
    assert_eq!(h, 200);
}

#[tokio::test]
async fn process_of_small_gif_and_webp_keeps_their_size_and_never_enlarges() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    for (file, mime, size) in [
        ("images/small-32x32.gif", "image/gif", (32, 32)),
        ("images/small-80x60.webp", "image/webp", (80, 60)),
    ] {
        let (id, body) = service.upload_and_process(&caller, file, mime).await;
        assert_eq!(body["status"], "processed", "{file}");
        let (w, h, _) = thumbnail_size(&caller, &id).await;
        assert_eq!((w, h), size, "{file}");
    }
}

#[tokio::test]
async fn process_of_corrupt_jpeg_records_media_processing_failed_with_a_reason() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let (id, body) = service
        .upload_and_process(&caller, "images/corrupt.jpg", "image/jpeg")
        .await;
    assert_eq!(body["status"], "failed");
    let events = service.events(&id).await;
    assert_eq!(events[1].event_type, "MediaProcessingFailed");
    let reason = events[1].data["MediaProcessingFailed"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(!reason.is_empty());
    let (status, again) = service.process(&id, false).await;
    assert_eq!(status, 200);
    assert_eq!(again, json!({ "position": 0, "status": "failed" }));
    let (status, _, _, _) = get_bytes(&caller, &format!("/api/v1/media/{id}/thumbnail")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn process_of_decompression_bomb_20000x20000_is_refused_by_decoder_limits_as_failed() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let (id, body) = service
        .upload_and_process(
            &caller,
            "images/decompression-bomb-20000x20000.png",
            "image/png",
        )
        .await;
    assert_eq!(body["status"], "failed");
    let events = service.events(&id).await;
    let reason = events[1].data["MediaProcessingFailed"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.contains("limit") || reason.contains("上限"),
        "{reason}"
    );
    assert!(
        !service
            .storage
            .path()
            .join("thumbnails")
            .join(format!("{id}.png"))
            .exists()
    );
}

#[tokio::test]
async fn process_of_mp4_records_320x240_and_2500_ms_with_placeholder_thumbnail() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let (id, _) = service
        .upload_and_process(&caller, "videos/tiny-320x240-2500ms.mp4", "video/mp4")
        .await;
    let data = processed_data(&service.events(&id).await);
    assert_eq!(dimensions(&data), (Some(320), Some(240), Some(2500)));
    let (w, h, _) = thumbnail_size(&caller, &id).await;
    assert_eq!((w, h), (200, 150));
}

#[tokio::test]
async fn process_of_red_h264_mp4_with_ffmpeg_on_path_gives_its_red_first_frame_as_thumbnail() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let (id, _) = service
        .upload_and_process(&caller, "videos/red-160x90-1000ms.mp4", "video/mp4")
        .await;
    let data = processed_data(&service.events(&id).await);
    assert_eq!(dimensions(&data), (Some(160), Some(90), Some(1000)));
    let (status, _, _, bytes) = get_bytes(&caller, &format!("/api/v1/media/{id}/thumbnail")).await;
    assert_eq!(status, 200);
    let thumbnail = image::load_from_memory(&bytes)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_rgb8();
    assert_eq!(thumbnail.dimensions(), (160, 90));
    let image::Rgb([r, g, b]) = *thumbnail.get_pixel(80, 45);
    assert!(
        r > 200 && g < 60 && b < 60,
        "ffmpeg で取り出した赤いフレームのはず (make tools で ffmpeg が入ります): {:?}",
        (r, g, b)
    );
}

#[tokio::test]
async fn process_of_quicktime_records_640x360_and_1200_ms() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let (id, _) = service
        .upload_and_process(&caller, "videos/tiny-640x360-1200ms.mov", "video/quicktime")
        .await;
    let data = processed_data(&service.events(&id).await);
    assert_eq!(dimensions(&data), (Some(640), Some(360), Some(1200)));
}

#[tokio::test]
async fn process_with_inject_fault_records_fault_injected_process_failure() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let id = service
        .upload_ok(&caller, "images/sunset-640x427.jpg", "image/jpeg")
        .await;
    let (status, body) = service.process(&id, true).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "failed");
    let events = service.events(&id).await;
    assert_eq!(
        events[1].data["MediaProcessingFailed"]["reason"],
        "fault injected: process"
    );
}

#[tokio::test]
async fn process_of_unknown_media_is_404_and_with_user_token_is_403() {
    let service = Service::start().await;
    let unknown = uuid::Uuid::new_v4();
    let (status, body) = service.process(&unknown.to_string(), false).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "media.not_found");
    let user = Caller::new(&service.base_url, user_token(&keys(), UserId::new_random()));
    let (status, body) = user
        .post(
            &format!("/internal/v1/media/{unknown}/process"),
            &json!({ "inject_fault": false }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "auth.service_token_required");
}

#[tokio::test]
async fn process_of_deleted_media_is_409_invalid_state() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let id = service
        .upload_ok(&caller, "images/small-64x48.png", "image/png")
        .await;
    let (status, _) = caller.delete(&format!("/api/v1/media/{id}")).await;
    assert_eq!(status, 202);
    let (status, body) = service.process(&id, false).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "media.invalid_state");
}

#[tokio::test]
async fn process_when_original_file_vanished_records_failure() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let id = service
        .upload_ok(&caller, "images/small-64x48.png", "image/png")
        .await;
    std::fs::remove_file(service.storage.path().join("originals").join(&id))
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = service.process(&id, false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "failed");
}

/// 480×270、2000 ms の最小の WebM (EBML ヘッダー、大きさ不明の Segment、Info、Tracks、空の Cluster)。
const TINY_WEBM: &[u8] = &[
    0x1A, 0x45, 0xDF, 0xA3, 0x87, 0x42, 0x82, 0x84, b'w', b'e', b'b', b'm', // EBML
    0x18, 0x53, 0x80, 0x67, 0xFF, // Segment (大きさ不明)
    0x15, 0x49, 0xA9, 0x66, 0x8E, // Info
    0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40, // TimestampScale = 1,000,000 ns
    0x44, 0x89, 0x84, 0x44, 0xFA, 0x00, 0x00, // Duration = 2000.0 (f32)
    0x16, 0x54, 0xAE, 0x6B, 0x8C, // Tracks
    0xAE, 0x8A, 0xE0, 0x88, // TrackEntry / Video
    0xB0, 0x82, 0x01, 0xE0, // PixelWidth = 480
    0xBA, 0x82, 0x01, 0x0E, // PixelHeight = 270
    0x1F, 0x43, 0xB6, 0x75, 0x80, // Cluster (空)
];

#[tokio::test]
async fn process_of_webm_records_480x270_and_2000_ms() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let (status, body) = crate::support::media_command::upload(
        &caller,
        TINY_WEBM.to_vec(),
        "clip.webm",
        Some("video/webm"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["media_id"].as_str().unwrap_or_default().to_owned();
    let (status, body) = service.process(&id, false).await;
    assert_eq!(status, 200, "{body}");
    let data = processed_data(&service.events(&id).await);
    assert_eq!(dimensions(&data), (Some(480), Some(270), Some(2000)));
    let (w, h, _) = thumbnail_size(&caller, &id).await;
    assert_eq!((w, h), (200, 112));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_called_twice_concurrently_records_one_media_processed_and_both_answer_processed() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let id = service
        .upload_ok(&caller, "images/photo-1280x800.jpg", "image/jpeg")
        .await;
    let ((s1, b1), (s2, b2)) =
        tokio::join!(service.process(&id, false), service.process(&id, false));
    assert_eq!((s1, s2), (200, 200), "{b1} {b2}");
    assert_eq!(
        (&b1["status"], &b2["status"]),
        (&json!("processed"), &json!("processed"))
    );
    let positions = [b1["position"].as_u64(), b2["position"].as_u64()];
    assert!(positions.contains(&Some(0)), "{positions:?}");
    assert_eq!(
        service.event_types(&id).await,
        ["MediaUploaded", "MediaProcessed"]
    );
    let thumbnails: Vec<_> = service
        .files()
        .into_iter()
        .filter(|p| p.starts_with(service.storage.path().join("thumbnails")))
        .collect();
    assert_eq!(thumbnails.len(), 1, "{thumbnails:?}");
}
