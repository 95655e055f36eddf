//! ブラウザーテスト: 学習用の機能を、学ぶ人が UI だけで行う順にたどります (issue #15)。
//!
//! `make run` と同じく UI からサービスを止めたり起こしたりできる形 ([`TestSystem::start_lab`]) で
//! 全サービスを起動し、本物の headless Chromium で:
//!
//! 1. ラボのタブ: 8 サービスが ready → album を止める (ポートが閉じる)
//! 2. スローモーションでアップロード → Saga のタブが新しい Saga を追い、アルバム追加の試行番号と
//!    次の試行の予定時刻が見える
//! 3. album を起こす → Saga が completed
//! 4. プロジェクションのパネル: album の読みモデルを作り直し、遅れ 0 で終わる
//! 5. ストリームブラウザー: Saga を短い ID で開く。イベントのログを後ろへページ送り
//! 6. 21 件の Saga と通知を「もっと見る」でたどる
//!
//! スクリーンショットは `target/browser-ui/lab-*.png` に保存します。

use std::time::Duration;

use mediahub_core::saga::SagaPolicy;

use crate::support::browser::Browser;
use crate::support::system::{TestSystem, upload};

/// 止めた album へのアルバム追加を期限 (30 秒) まで短い間隔で再試行する方針。
fn patient_policy() -> SagaPolicy {
    let mut policy = SagaPolicy::default();
    for retry in [&mut policy.process, &mut policy.album, &mut policy.notify] {
        retry.initial_backoff = Duration::from_millis(50);
        retry.max_backoff = Duration::from_millis(300);
    }
    policy
}

fn card(service: &str, state: &str) -> String {
    format!("[data-testid='service-card'][data-service='{service}'][data-state='{state}']")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learner_stops_album_uploads_in_slow_motion_sees_retries_starts_album_and_saga_completes() {
    let lab = TestSystem::start_lab(patient_policy()).await;
    let (alice, _) = lab.login("alice").await;
    let browser = Browser::launch("browser-ui").await;
    browser.open(&lab.frontend_url()).await;
    browser.dev_login("alice").await;

    // 1. サービスの地図: 8 つとも ready、開発モードの告知
    browser.click("[data-testid='tab-lab']").await;
    browser
        .wait_for("[data-testid='lab-controls-banner'][data-enabled='true']")
        .await;
    let ready = browser
        .wait_for_count("[data-testid='service-card'][data-state='ready']", |n| {
            n == 8
        })
        .await;
    assert_eq!(ready, 8);
    browser.screenshot("lab-01-service-map-all-ready").await;

    // album を止める → 地図で down、直接つないでも応答が無い (本物の停止)
    browser
        .click("[data-testid='service-stop'][data-service='album']")
        .await;
    browser.wait_for(&card("album", "down")).await;
    let direct = mediahub_services::platform::http_client::builder()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .get(format!("{}/health", lab.urls().album))
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    assert!(direct.is_err(), "止めた album がまだ応答します");
    browser.screenshot("lab-02-album-stopped").await;

    // 2. スローモーションでアップロード → Saga のタブは新しい Saga を追い、アルバム追加の
    //    2 回目以降の試行と次の試行の予定時刻を見せる
    browser.click("[data-testid='tab-media']").await;
    let toggle = browser.wait_for("[data-testid='slow-motion-toggle']").await;
    if toggle.prop("checked").await.ok().flatten().as_deref() != Some("true") {
        browser.click("[data-testid='slow-motion-toggle']").await;
    }
    browser.upload("images/sunset-640x427.jpg").await;
    browser.click("[data-testid='tab-sagas']").await;
    browser
        .wait_for("[data-testid='saga-follow']:checked")
        .await;
    browser
        .wait_for("[data-testid='saga-pending'][data-step='process_media']")
        .await;
    browser
        .screenshot("lab-03-slow-motion-pending-process")
        .await;
    browser
        .wait_for("[data-testid='saga-pending'][data-step='add_to_album']:not([data-attempt='1'])")
        .await;
    let next = browser
        .wait_for_text("[data-testid='saga-next-attempt']", |t| {
            !t.trim().is_empty()
        })
        .await;
    assert!(!next.is_empty());
    browser.screenshot("lab-04-album-down-retrying").await;

    // 3. album を起こす → Saga は完了 (補償ではない)
    browser.click("[data-testid='tab-lab']").await;
    browser
        .click("[data-testid='service-start'][data-service='album']")
        .await;
    browser.wait_for(&card("album", "ready")).await;
    browser.click("[data-testid='tab-sagas']").await;
    browser
        .wait_for("[data-testid='saga-status'][data-status='completed']")
        .await;
    browser
        .wait_for("[data-testid='saga-step'][data-step='add_to_album'][data-state='retrying']")
        .await;
    browser
        .screenshot("lab-05-saga-completed-after-album-start")
        .await;

    // 4. プロジェクション: album の読みモデルを作り直す → 終わり、遅れ 0
    browser.click("[data-testid='tab-lab']").await;
    browser
        .wait_for("[data-testid='projection-row'][data-service='album'][data-lag='0']")
        .await;
    browser
        .click("[data-testid='projection-rebuild'][data-service='album']")
        .await;
    browser
        .wait_for("[data-testid='projection-row'][data-service='album'][data-rebuild='done']")
        .await;
    let result = browser
        .wait_for(
            "[data-testid='projection-row'][data-service='album'] \
             [data-testid='projection-rebuild-result'][data-state='done']",
        )
        .await;
    let events = result
        .attr("data-events")
        .await
        .ok()
        .flatten()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_default();
    assert!(events > 0, "作り直しで再生したイベントの数が 0 です");
    browser
        .wait_for("[data-testid='projection-row'][data-service='album'][data-lag='0']")
        .await;
    browser.screenshot("lab-06-projection-rebuilt").await;

    // 5. ストリームブラウザー: Saga を短い ID (8 文字) で開く
    let (_, sagas) = alice.get("/api/v1/sagas").await;
    let saga_id = sagas["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{sagas}"))
        .to_owned();
    browser.click("[data-testid='tab-events']").await;
    browser.select("[data-testid='stream-type']", "Saga").await;
    browser
        .type_into("[data-testid='stream-id']", &saga_id[..8])
        .await;
    browser.click("[data-testid='stream-open']").await;
    browser
        .wait_for(&format!(
            "[data-testid='stream-view'][data-aggregate-id='{saga_id}']"
        ))
        .await;
    browser
        .wait_for("[data-testid='stream-event'][data-version='1'][data-event-type='SagaStarted']")
        .await;
    browser
        .wait_for("[data-testid='stream-event'][data-event-type='SagaCompleted']")
        .await;
    browser.screenshot("lab-07-stream-browser").await;
    browser.type_into("[data-testid='stream-id']", "zzzz").await;
    browser.click("[data-testid='stream-open']").await;
    browser
        .wait_for("[data-testid='stream-error'][data-state='invalid']")
        .await;

    // ログを後ろへ: 終わりまで「古いイベント」をたどれる
    for _ in 0..20 {
        if browser
            .count("[data-testid='events-older'][data-state='end']")
            .await
            > 0
        {
            break;
        }
        browser.click("[data-testid='events-older']").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser
        .wait_for("[data-testid='events-older'][data-state='end']")
        .await;

    // 6. ページ送り: 21 件を足すと Saga と通知の一覧は 20 件で止まり、「もっと見る」で全部
    for _ in 0..21 {
        let (status, accepted) = upload(&alice, "images/sunset-640x427.jpg", None).await;
        assert_eq!(status, 202, "{accepted}");
    }
    // 22 件の Saga がすべて通知まで終わるのを待つ (カバレッジ計測つきの遅い CI では 1 分を超えるので
    // 長めの期限。条件を満たせばすぐ進む)
    let until = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        // 通知の後に SagaCompleted が書かれるので、Saga の完了も待つ (一覧のライブ更新と競わない)
        let (_, page) = alice.get("/api/v1/notifications?limit=100").await;
        let (_, done) = alice.get("/api/v1/sagas?status=completed&limit=100").await;
        let count = page["items"].as_array().map_or(0, Vec::len);
        let completed = done["items"].as_array().map_or(0, Vec::len);
        if count >= 22 && completed >= 22 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "22 件の通知が期限内に揃いません (今 {count} 件)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // 開き直すと一覧は最初のページ (20 件) から。「もっと見る」で残りの 2 件
    browser
        .client
        .refresh()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    browser.wait_for("html[data-ready='true']").await;
    browser.click("[data-testid='tab-sagas']").await;
    browser
        .wait_for_count("[data-testid='saga-row']", |n| n == 20)
        .await;
    browser
        .click("[data-testid='sagas-more'][data-state='more']")
        .await;
    let rows = browser
        .wait_for_count("[data-testid='saga-row']", |n| n >= 22)
        .await;
    assert_eq!(rows, 22);
    browser.screenshot("lab-08-sagas-paged").await;
    browser.click("[data-testid='tab-notifications']").await;
    browser
        .wait_for_count("[data-testid='notification-row']", |n| n == 20)
        .await;
    browser
        .click("[data-testid='notifications-more'][data-state='more']")
        .await;
    browser
        .wait_for_count("[data-testid='notification-row']", |n| n >= 22)
        .await;
    browser.screenshot("lab-09-notifications-paged").await;

    browser.close().await;
    lab.stop().await;
}
