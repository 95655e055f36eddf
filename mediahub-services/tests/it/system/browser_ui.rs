//! ブラウザーテスト: 全サービスを一時的なポートで起動し、本物の headless Chromium で
//! デバッグ UI を操作します (issue #7)。
//!
//! 流れ: 開発用ログイン → JPEG をアップロード → サムネイルが現れ、Saga タブで `completed`、
//! イベントタブに 4 種のイベント、通知のバッジ → 壊れた JPEG をアップロード → `compensated`。
//! スクリーンショットは `target/browser-ui/` に保存します。

use crate::support::browser::Browser;
use crate::support::system::TestSystem;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_login_then_jpeg_upload_completes_and_corrupt_jpeg_is_compensated_in_the_ui() {
    let system = TestSystem::start().await;
    let browser = Browser::launch("browser-ui").await;

    browser.open(&system.frontend_url()).await;
    browser.screenshot("01-login").await;

    // 開発用ログイン
    browser.dev_login("alice").await;

    // JPEG のアップロード → サムネイルつきのカード (処理済み)
    browser.upload("images/sunset-640x427.jpg").await;
    browser
        .wait_for("[data-testid='media-card'][data-status='processed'] [data-testid='thumbnail']")
        .await;
    browser
        .screenshot("02-media-processed-with-thumbnail")
        .await;

    // 詳細: API の `size` (10,043 バイト) がそのまま表示され、履歴 (`versions`) の
    // スライダーが MediaUploaded と MediaProcessed の 2 版を持ち、最新の版のイベント本体が見える
    browser.click("[data-testid='media-card']").await;
    let size = browser
        .wait_for_text("[data-testid='media-size']", |text| text == "9.8 KB")
        .await;
    assert_eq!(size, "9.8 KB");
    browser
        .wait_for("[data-testid='history-slider'][max='1'][aria-valuetext='v2 MediaProcessed']")
        .await;
    let event_text = browser
        .wait_for_text("[data-testid='history-event']", |text| {
            text.contains("\"width\": 640") && text.contains("\"height\": 427")
        })
        .await;
    assert!(
        event_text.contains("\"width\": 640") && event_text.contains("\"height\": 427"),
        "MediaProcessed の本体が表示されていない: {event_text}"
    );
    browser
        .screenshot("02b-media-detail-size-and-history")
        .await;

    // Saga タブ: completed とタイムライン
    browser.click("[data-testid='tab-sagas']").await;
    browser
        .click("[data-testid='saga-row'][data-status='completed']")
        .await;
    browser
        .wait_for("[data-testid='saga-status'][data-status='completed']")
        .await;
    browser
        .wait_for("[data-testid='saga-step'][data-step='notify']")
        .await;
    browser.screenshot("03-saga-completed-timeline").await;

    // イベントタブ: 一連のイベントがライブで届いている
    browser.click("[data-testid='tab-events']").await;
    for event_type in [
        "MediaUploaded",
        "MediaProcessed",
        "MediaAddedToAlbum",
        "NotificationSent",
    ] {
        browser
            .wait_for(&format!(
                "[data-testid='event-row'][data-event-type='{event_type}']"
            ))
            .await;
    }
    browser.screenshot("04-events-log").await;

    // 通知のバッジ: 未読 1 件
    let badge = browser
        .wait_for("[data-testid='notification-badge'][data-count='1']")
        .await;
    assert_eq!(badge.text().await.unwrap_or_else(|e| panic!("{e}")), "1");

    // 壊れた JPEG → 補償された Saga
    browser.click("[data-testid='tab-media']").await;
    browser.upload("images/corrupt.jpg").await;
    browser.click("[data-testid='tab-sagas']").await;
    browser
        .click("[data-testid='saga-row'][data-status='compensated']")
        .await;
    browser
        .wait_for("[data-testid='saga-status'][data-status='compensated']")
        .await;
    browser
        .wait_for("[data-testid='saga-step'][data-step='delete_uploaded_file']")
        .await;
    browser.screenshot("05-saga-compensated-timeline").await;

    browser.close().await;
    system.stop().await;
}

/// ゲートウェイの Swagger UI (`/swagger`) を本物のブラウザーで開き、公開 API の操作が
/// 並び、内部 API (`/internal/…`) が無いことを確かめます。スクリーンショットは
/// `target/browser-ui/swagger-gateway.png` (Authorize) と `swagger-upload.png` (アップロードの操作)。
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_swagger_ui_lists_public_operations_and_no_internal_ones() {
    let system = TestSystem::start().await;
    let browser = Browser::launch("browser-ui").await;

    browser
        .client
        .goto(&format!("{}/swagger", system.gateway_url()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Swagger UI はパスの区切りに幅のない空白 (U+200B) を入れるので、除いてから比べる。
    let visible = |text: &str| text.replace('\u{200b}', "");
    let paths = visible(
        &browser
            .wait_for_text("body", |text| {
                let text = visible(text);
                text.contains("/api/v1/media/{id}/history") && text.contains("/api/v1/albums/{id}")
            })
            .await,
    );
    browser.click("button.authorize").await;
    browser.wait_for(".auth-container input").await;
    browser.screenshot("swagger-gateway").await;
    browser.click(".auth-btn-wrapper .btn-done").await;

    // アップロードの操作を開くと、multipart の本体 (file) と 202 の応答スキーマが見える。
    browser
        .click(".opblock-post .opblock-summary-path[data-path='/api/v1/media']")
        .await;
    let upload = browser
        .wait_for_text(".opblock-post.is-open", |text| {
            text.contains("multipart/form-data") && text.contains("202") && text.contains("file")
        })
        .await;
    assert!(
        upload.contains("UploadAccepted") || upload.contains("saga_id"),
        "{upload}"
    );
    browser
        .client
        .execute(
            "document.querySelector('.opblock-post.is-open').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    browser.screenshot("swagger-upload").await;

    assert!(paths.contains("/api/v1/sagas/{id}"), "{paths}");
    assert!(
        !paths.contains("/internal/"),
        "内部 API が公開の文書に出ています"
    );
    browser.close().await;
    system.stop().await;
}
