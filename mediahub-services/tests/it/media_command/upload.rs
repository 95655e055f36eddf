//! media-command のアップロード (`POST /api/v1/media`): 流したままの保存、上限、形式の検査、障害注入。

use crate::support::media_command::{
    Caller, Service, testdata, testdata_part, upload, upload_form,
};
use futures::stream;
use mediahub_core::ids::{MediaId, SagaId};
use reqwest::multipart::{Form, Part};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const FIFTY_ONE_MB: u64 = 51_000_000;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn png_form() -> Form {
    Form::new().part(
        "file",
        testdata_part("images/small-64x48.png", "a.png", "image/png"),
    )
}

/// 拒否の状態コードとコードを確かめ、何も保存されていないことを確かめます。
async fn assert_rejected(
    service: &Service,
    (status, body): (u16, serde_json::Value),
    expected: (u16, &str),
) {
    assert_eq!(status, expected.0, "{body}");
    assert_eq!(body["code"], expected.1);
    service.assert_nothing_stored().await;
}

#[tokio::test]
async fn upload_of_jpeg_returns_202_and_stores_media_uploaded_with_sha256_size_owner_and_correlation_id()
 {
    let service = Service::start().await;
    let (user, caller) = service.new_user();
    let bytes = testdata("images/sunset-640x427.jpg");
    let correlation = Uuid::new_v4();
    let form = Form::new().part(
        "file",
        Part::bytes(bytes.clone())
            .file_name("sunset.jpg")
            .mime_str("image/jpeg")
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let (status, body) = upload_form(
        &caller,
        form,
        &[("X-Correlation-ID", &correlation.to_string())],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let media_id = body["media_id"].as_str().unwrap_or_default().to_owned();
    let parsed: MediaId = media_id.parse().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body["saga_id"], SagaId::for_media(parsed).to_string());
    assert_eq!(body["correlation_id"], correlation.to_string());
    let events = service.events(&media_id).await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.event_type, "MediaUploaded");
    assert_eq!(body["position"], event.position);
    let data = &event.data["MediaUploaded"];
    assert_eq!(data["sha256"], hex(&Sha256::digest(&bytes)));
    assert_eq!(data["size_bytes"], bytes.len());
    assert_eq!(data["owner_id"], user.to_string());
    assert_eq!(data["content_type"], "image/jpeg");
    assert_eq!(data["kind"], "image");
    assert_eq!(data["filename"], "sunset.jpg");
    assert_eq!(
        event.metadata.correlation_id.map(|c| c.as_uuid()),
        Some(correlation)
    );
    assert_eq!(event.metadata.user_id, Some(user));
    let stored = std::fs::read(service.storage.path().join("originals").join(&media_id))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored, bytes);
}

#[tokio::test]
async fn upload_of_every_testdata_image_and_video_type_is_accepted_with_its_content_type() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let cases = [
        ("images/small-64x48.png", "image/png", "image"),
        ("images/small-32x32.gif", "image/gif", "image"),
        ("images/small-80x60.webp", "image/webp", "image"),
        (
            "images/exif-orientation-6-600x300.jpg",
            "image/jpeg",
            "image",
        ),
        ("videos/tiny-320x240-2500ms.mp4", "video/mp4", "video"),
        ("videos/tiny-640x360-1200ms.mov", "video/quicktime", "video"),
    ];
    for (file, mime, kind) in cases {
        let id = service.upload_ok(&caller, file, mime).await;
        let events = service.events(&id).await;
        assert_eq!(
            events[0].data["MediaUploaded"]["content_type"], mime,
            "{file}"
        );
        assert_eq!(events[0].data["MediaUploaded"]["kind"], kind, "{file}");
    }
}

#[tokio::test]
async fn upload_without_declared_part_type_uses_the_sniffed_type() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let (status, body) = upload(&caller, testdata("images/small-64x48.png"), "a.png", None).await;
    assert_eq!(status, 202, "{body}");
    let events = service
        .events(body["media_id"].as_str().unwrap_or_default())
        .await;
    assert_eq!(events[0].data["MediaUploaded"]["content_type"], "image/png");
}

#[tokio::test]
async fn upload_of_51_mb_streamed_returns_413_and_stores_no_file_and_no_event() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    const CHUNK: usize = 64 * 1024;
    let chunks = FIFTY_ONE_MB.div_ceil(CHUNK as u64);
    let body = stream::iter((0..chunks).map(|i| {
        let mut chunk = vec![0u8; CHUNK];
        if i == 0 {
            chunk[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
        }
        Ok::<_, std::io::Error>(chunk)
    }));
    let part = Part::stream(reqwest::Body::wrap_stream(body))
        .file_name("big.jpg")
        .mime_str("image/jpeg")
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = upload_form(&caller, Form::new().part("file", part), &[]).await;
    assert_eq!(body["max_bytes"], 50_000_000);
    assert_rejected(&service, (status, body), (413, "media.too_large")).await;
}

#[tokio::test]
async fn upload_over_a_configured_limit_of_1000_bytes_returns_413() {
    let service = Service::start_with(|c| c.max_upload_bytes(1000)).await;
    let (_, caller) = service.new_user();
    let (status, body) = upload(
        &caller,
        testdata("images/sunset-640x427.jpg"),
        "sunset.jpg",
        Some("image/jpeg"),
    )
    .await;
    assert_eq!(body["max_bytes"], 1000);
    assert_rejected(&service, (status, body), (413, "media.too_large")).await;
}

#[tokio::test]
async fn upload_of_text_file_named_x_jpg_returns_415_and_stores_nothing() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let form = Form::new().part(
        "file",
        testdata_part("images/not-an-image.jpg", "x.jpg", "image/jpeg"),
    );
    let response = upload_form(&caller, form, &[]).await;
    assert_rejected(&service, response, (415, "media.unsupported_type")).await;
}

#[tokio::test]
async fn upload_of_png_bytes_declared_as_image_jpeg_returns_415_and_stores_nothing() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let form = Form::new().part(
        "file",
        testdata_part("images/small-64x48.png", "fake.jpg", "image/jpeg"),
    );
    let response = upload_form(&caller, form, &[]).await;
    assert_rejected(&service, response, (415, "media.unsupported_type")).await;
}

#[tokio::test]
async fn upload_of_tiny_8_byte_text_declared_as_pdf_returns_415() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let response = upload(
        &caller,
        b"%PDF-1.4".to_vec(),
        "doc.pdf",
        Some("application/pdf"),
    )
    .await;
    assert_rejected(&service, response, (415, "media.unsupported_type")).await;
}

#[tokio::test]
async fn upload_with_filename_dot_dot_etc_passwd_is_stored_under_media_id_and_filename_sanitized() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let (status, body) = upload(
        &caller,
        testdata("images/sunset-640x427.jpg"),
        "../../etc/passwd.jpg",
        Some("image/jpeg"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let media_id = body["media_id"].as_str().unwrap_or_default();
    let files = service.files();
    assert_eq!(
        files,
        vec![service.storage.path().join("originals").join(media_id)]
    );
    let events = service.events(media_id).await;
    assert_eq!(events[0].data["MediaUploaded"]["filename"], "passwd.jpg");
    assert_eq!(
        events[0].data["MediaUploaded"]["storage_key"],
        format!("originals/{media_id}")
    );
}

#[tokio::test]
async fn upload_without_file_field_returns_400_missing_file() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let form = Form::new().text("other", "value");
    let response = upload_form(&caller, form, &[]).await;
    assert_rejected(&service, response, (400, "media.missing_file")).await;
}

#[tokio::test]
async fn upload_of_empty_file_field_returns_400_empty_file_and_stores_nothing() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let response = upload(&caller, Vec::new(), "empty.jpg", Some("image/jpeg")).await;
    assert_rejected(&service, response, (400, "media.empty_file")).await;
}

#[tokio::test]
async fn upload_with_json_body_instead_of_multipart_returns_415() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let (status, body) = caller.post("/api/v1/media", &serde_json::json!({})).await;
    assert_eq!(status, 415, "{body}");
}

#[tokio::test]
async fn upload_without_token_returns_401_and_stores_nothing() {
    let service = Service::start().await;
    let caller = Caller::anonymous(&service.base_url);
    let response = upload_form(&caller, png_form(), &[]).await;
    assert_rejected(&service, response, (401, "auth.missing_token")).await;
}

#[tokio::test]
async fn upload_with_service_token_and_x_user_id_is_owned_by_that_user_and_without_it_is_403() {
    let service = Service::start().await;
    let saga = service.saga();
    let user = mediahub_core::ids::UserId::new_random();
    let (status, body) = upload_form(&saga, png_form(), &[("X-User-ID", &user.to_string())]).await;
    assert_eq!(status, 202, "{body}");
    let events = service
        .events(body["media_id"].as_str().unwrap_or_default())
        .await;
    assert_eq!(
        events[0].data["MediaUploaded"]["owner_id"],
        user.to_string()
    );
    let (status, body) = upload_form(&saga, png_form(), &[]).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "auth.user_required");
}

#[tokio::test]
async fn fault_injection_disabled_ignores_valid_x_fault_inject_process_header() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let form = png_form();
    let (status, body) = upload_form(&caller, form, &[("X-Fault-Inject", "process")]).await;
    assert_eq!(status, 202, "{body}");
    let events = service
        .events(body["media_id"].as_str().unwrap_or_default())
        .await;
    assert!(
        events[0].metadata.extra.is_empty(),
        "{:?}",
        events[0].metadata
    );
}

#[tokio::test]
async fn fault_injection_enabled_with_x_fault_inject_album_stores_it_in_metadata() {
    let service = Service::start_with(|c| c.fault_injection(true)).await;
    let (_, caller) = service.new_user();
    let form = png_form();
    let (status, body) = upload_form(&caller, form, &[("X-Fault-Inject", "album")]).await;
    assert_eq!(status, 202, "{body}");
    let events = service
        .events(body["media_id"].as_str().unwrap_or_default())
        .await;
    assert_eq!(
        events[0]
            .metadata
            .extra
            .get("fault_inject")
            .map(String::as_str),
        Some("album")
    );
}

#[tokio::test]
async fn fault_injection_enabled_with_invalid_x_fault_inject_returns_400_and_stores_nothing() {
    let service = Service::start_with(|c| c.fault_injection(true)).await;
    let (_, caller) = service.new_user();
    let form = png_form();
    let response = upload_form(&caller, form, &[("X-Fault-Inject", "explode")]).await;
    assert_rejected(&service, response, (400, "request.invalid_parameter")).await;
}

#[tokio::test]
async fn upload_with_malformed_correlation_id_returns_400_and_stores_nothing() {
    let service = Service::start().await;
    let (_, caller) = service.new_user();
    let response = upload_form(&caller, png_form(), &[("X-Correlation-ID", "nope")]).await;
    assert_rejected(&service, response, (400, "request.invalid_parameter")).await;
}

#[tokio::test]
async fn openapi_document_lists_upload_and_internal_endpoints() {
    let service = Service::start().await;
    let caller = Caller::anonymous(&service.base_url);
    let (status, spec) = caller.get("/openapi.json").await;
    assert_eq!(status, 200);
    let paths = &spec["paths"];
    assert!(paths["/api/v1/media"]["post"].is_object(), "{paths}");
    assert!(paths["/api/v1/media/{id}/thumbnail"]["get"].is_object());
    assert!(
        paths["/internal/v1/media/{id}/process"]["post"].is_object(),
        "{:?}",
        paths.as_object().map(|o| o.keys().collect::<Vec<_>>())
    );
    let (status, _) = caller.get("/health").await;
    assert_eq!(status, 200);
}
