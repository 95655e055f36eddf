//! ブラウザーテスト: 初めて UI を触る学ぶ人と同じ順に、各タブの機能を一通りたどります。
//!
//! 全サービスを一時的なポートで起動し ([`TestSystem::start`])、本物の headless Chromium で:
//!
//! 1. ログイン画面: OAuth2 が未設定ならプロバイダーのボタンは出ず「プロバイダーなし」の案内だけ。
//!    開発用ログイン → ログアウトでログイン画面に戻る → もう一度ログインすると同じメディアが見える。
//!    画像でないファイルは 415 (`media.unsupported_type`) として結果の行とトーストに出る
//! 2. 障害注入の 4 つの選択 (なし・process・album・notification) でアップロードし、Saga のタブで
//!    completed / compensated と、失敗したステップの印・再試行の回数を確かめる
//! 3. メディアのタブ: カードのサイズ、詳細の履歴スライダー (版を行き来する)、元の画像と動画、
//!    削除 (2 回押し) と「すべて」での削除済みの表示、種類・状態・ファイル名の絞り込み
//! 4. アルバムのタブ: 作成・名前の変更・メディアの追加と取り外し・削除。デフォルトアルバムは削除できない
//! 5. イベントのタブ: ライブで届く行、一時停止、型・集約の絞り込み、エンベロープ、相関 ID の流れ
//!    (エンベロープから・UUID 全体の入力から)、知らない相関 ID は読み込み中のまま止まらず案内を出す
//! 6. 通知: バッジの数、通知から Saga へ移る、1 件既読、未読だけ表示、すべて既読 (バッジ 0)
//! 7. 英語に切り替える: タブの名前・通知の本文が英語になり、日時は YYYY-MM-DD の並びのまま。日本語に戻す
//!
//! ラボのタブ・ストリームブラウザー・「さらに読み込む」・スローモーションは `browser_lab.rs` が扱います。
//! スクリーンショットは `target/browser-ui/tour-*.png` に保存します。

use std::time::Duration;

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::browser::{Browser, UI_DEADLINE};
use crate::support::system::{TestSystem, upload, wait_for_saga};

// --- 補助 ---------------------------------------------------------------------------

/// イベントのタブの相関 ID の欄に `value` を入れて、絞り込みを適用します。
async fn apply_correlation_filter(browser: &Browser, value: &str) {
    browser
        .type_into("[data-testid='event-filter-correlation']", value)
        .await;
    browser
        .click("#panel-events form[data-role='filters'] button[type='submit']")
        .await;
}

/// 障害注入を選び (`""` はなし)、ファイルを選んでアップロードします。受け付けられたら、結果の行に
/// 出るメディア ID (`code.id` の title にある全体) を返します。
async fn upload_in_ui(browser: &Browser, relative: &str, fault: &str) -> String {
    // 直前の結果の ID (同じファイル名が続いても、新しい結果を見分けるため)
    let previous = js(
        browser,
        "const id = document.querySelector(\"[data-testid='upload-result'] code.id\"); \
         return id ? id.title : '';",
        vec![],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned();
    browser.select("[data-testid='fault-select']", fault).await;
    browser.choose_file(relative).await;
    browser.click("[data-testid='upload-button']").await;
    let accepted = browser
        .wait_for(&format!(
            "[data-testid='upload-result'][data-state='accepted'] code.id:not([title='{previous}'])"
        ))
        .await;
    browser
        .wait_for("[data-testid='upload-progress'][data-state='done']")
        .await;
    accepted
        .attr("title")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("{relative}: 結果の行にメディア ID がありません"))
}

/// ページで JavaScript を実行し、その戻り値を返します。
async fn js(browser: &Browser, script: &str, args: Vec<Value>) -> Value {
    browser
        .client
        .execute(script, args)
        .await
        .unwrap_or_else(|e| panic!("スクリプトを実行できません ({e}): {script}"))
}

/// 要素 (現れるまで待つ) の属性の値。
async fn attr_of(browser: &Browser, css: &str, name: &str) -> String {
    browser
        .wait_for(css)
        .await
        .attr(name)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("{css} に {name} 属性がありません"))
}

/// `scope` (XPath) の中の、表示文が `label` のボタンを押します。ボタンに data-testid の無い操作
/// (「元ファイルを表示」など) に使います。ライブ更新で描き直されて押せなかった (stale) ときは
/// 探し直します (期限つき)。
async fn click_button_labelled(browser: &Browser, scope: &str, label: &str) {
    let xpath = format!("{scope}//button[normalize-space()='{label}']");
    let deadline = tokio::time::Instant::now() + UI_DEADLINE;
    while tokio::time::Instant::now() < deadline {
        if let Ok(button) = browser.client.find(Locator::XPath(&xpath)).await {
            if button.click().await.is_ok() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.screenshot("timeout-tour-button").await;
    panic!("期限内にボタンを押せませんでした: {xpath}")
}

/// 2 回押して確定するボタン (confirm ダイアログの代わり) を押して確定します。1 回目で
/// `is-armed` (「本当に削除? もう一度押す」) になったのを確かめてから、もう一度押します。
async fn click_twice_to_confirm(browser: &Browser, css: &str) {
    let armed = format!("{css}.is-armed");
    let deadline = tokio::time::Instant::now() + UI_DEADLINE;
    while tokio::time::Instant::now() < deadline {
        if let Ok(button) = browser.client.find(Locator::Css(css)).await {
            if button.click().await.is_ok() {
                if let Ok(button) = browser.client.find(Locator::Css(&armed)).await {
                    if button.click().await.is_ok() {
                        return;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.screenshot("timeout-tour-confirm").await;
    panic!("期限内に 2 回押しで確定できませんでした: {css}")
}

/// `<select>` に値の選択肢が現れたらそれを選びます。選択肢が描き直されて選べなかったとき
/// (stale) は選び直します (期限つき)。
async fn select_when_offered(browser: &Browser, select: &str, value: &str) {
    browser
        .wait_for(&format!("{select} option[value='{value}']"))
        .await;
    let deadline = tokio::time::Instant::now() + UI_DEADLINE;
    while tokio::time::Instant::now() < deadline {
        if let Ok(element) = browser.client.find(Locator::Css(select)).await {
            if element.select_by_value(value).await.is_ok()
                && element.prop("value").await.ok().flatten().as_deref() == Some(value)
            {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.screenshot("timeout-tour-select").await;
    panic!("期限内に {select} で {value} を選べませんでした")
}

/// 絞り込みの結果を待ちます: `all` に合う要素がすべて `matching` にも合い、その数が `accept` を
/// 満たすまで (期限つき)。その数を返します。
async fn wait_for_only(
    browser: &Browser,
    all: &str,
    matching: &str,
    accept: impl Fn(usize) -> bool,
) -> usize {
    let deadline = tokio::time::Instant::now() + UI_DEADLINE;
    let mut last = (0, 0);
    while tokio::time::Instant::now() < deadline {
        let total = browser.count(all).await;
        let matched = browser.count(matching).await;
        if total == matched && accept(matched) {
            return matched;
        }
        last = (total, matched);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.screenshot("timeout-tour-filter").await;
    panic!(
        "期限内に絞り込みが期待どおりになりませんでした: {all} が {} 件、そのうち {matching} が {} 件",
        last.0, last.1
    )
}

/// UI の日時の書式 `YYYY-MM-DD HH:mm:ss.SSS` (月は 01〜12、日は 01〜31) か。
fn is_ymd_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    let shape = bytes.len() == 23
        && bytes.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            _ => c.is_ascii_digit(),
        });
    let number = |range: std::ops::Range<usize>| {
        text.get(range)
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or_default()
    };
    shape && (1..=12).contains(&number(5..7)) && (1..=31).contains(&number(8..10))
}

/// API の受け付けの応答から文字列の項目を取り出します。
fn str_of<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} がありません: {body}"))
}

/// メディアの詳細の欄 (XPath)。
const MEDIA_DETAIL: &str = "//*[@data-testid='media-detail']";
/// Saga の詳細の欄 (XPath)。
const SAGA_DETAIL: &str = "//*[@data-testid='saga-detail']";

// --- 1. ログイン画面とエラーの表示 ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_screen_has_no_oauth_buttons_dev_login_relogin_and_non_image_shows_415() {
    let system = TestSystem::start().await;
    let browser = Browser::launch("browser-ui").await;
    browser.open(&system.frontend_url()).await;

    // ログイン画面: OAuth2 のプロバイダーが設定されていないので、GitHub / Google のボタンは無く
    // (無効のボタンも出さない)、「プロバイダーなし」の案内と開発用ログインの欄だけが出る
    browser.wait_for("#login-view:not([hidden])").await;
    let providers = browser
        .wait_for_text("[data-role='providers']", |text| {
            !text.trim().is_empty() && text != "読み込み中…"
        })
        .await;
    assert_eq!(providers, "有効な OAuth2 プロバイダーはありません。");
    assert_eq!(browser.count("[data-testid='login-github']").await, 0);
    assert_eq!(browser.count("[data-testid='login-google']").await, 0);
    browser
        .wait_for("form[data-role='dev-form']:not([hidden])")
        .await;
    browser
        .wait_for("[data-testid='login-error'][hidden]")
        .await;
    assert_eq!(
        browser.count("[data-role='session-bar'][hidden]").await,
        1,
        "ログイン前にログアウトのボタンが見えています"
    );
    // フッター: 7 つのサービスの Swagger UI へのリンク (ゲートウェイはそのポート)
    assert_eq!(browser.count("[data-testid^='swagger-']").await, 7);
    let gateway_port = system
        .gateway_url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    let swagger = attr_of(&browser, "[data-testid='swagger-gateway']", "href").await;
    assert!(
        swagger.ends_with(&format!(":{gateway_port}/swagger")),
        "{swagger}"
    );
    browser.screenshot("tour-01-login-screen").await;

    // 開発用ログイン → ヘッダーにログイン名、メディアのタブ
    browser.dev_login("alice").await;
    let user = browser
        .wait_for_text("[data-role='user-name']", |text| text == "alice")
        .await;
    assert_eq!(user, "alice");
    browser
        .wait_for("[data-testid='tab-media'][aria-selected='true']")
        .await;
    browser.screenshot("tour-02-logged-in").await;

    // 1 枚アップロードして、ログアウトしても残ることを後で確かめる
    let media_id = upload_in_ui(&browser, "images/sunset-640x427.jpg", "").await;
    let card =
        format!("[data-testid='media-card'][data-media-id='{media_id}'][data-status='processed']");
    browser
        .wait_for(&format!("{card} [data-testid='thumbnail']"))
        .await;
    browser.screenshot("tour-03-uploaded-before-logout").await;

    // ログアウト → ログイン画面に戻り、アプリの画面とライブ接続は片付く
    browser.click("[data-testid='logout-button']").await;
    browser.wait_for("#login-view:not([hidden])").await;
    browser.wait_for("[data-role='session-bar'][hidden]").await;
    browser
        .wait_for("[data-testid='live-status'][data-state='idle']")
        .await;
    browser
        .wait_for_count("[data-testid='tab-media']", |n| n == 0)
        .await;
    browser.wait_for("[data-testid='dev-login-button']").await;
    browser.screenshot("tour-04-logged-out").await;

    // もう一度ログイン → 同じ利用者なので、さっきのメディアが見える
    browser.dev_login("alice").await;
    browser.wait_for(&card).await;
    browser.screenshot("tour-05-logged-in-again").await;

    // 画像でないファイル (拡張子だけ .jpg のテキスト) → 415。結果の行とトーストにコードが出る
    browser.select("[data-testid='fault-select']", "").await;
    browser.choose_file("images/not-an-image.jpg").await;
    browser.click("[data-testid='upload-button']").await;
    browser
        .wait_for("[data-testid='upload-progress'][data-state='error']")
        .await;
    let rejected = browser
        .wait_for_text(
            "[data-testid='upload-result'][data-state='rejected']",
            |text| text.contains("HTTP 415"),
        )
        .await;
    assert!(
        rejected.contains("not-an-image.jpg") && rejected.contains("media.unsupported_type"),
        "断られた理由が結果の行に出ていません: {rejected}"
    );
    browser
        .wait_for("[data-testid='upload-error'][data-code='media.unsupported_type']")
        .await;
    let toast = browser
        .wait_for_text(
            "[data-testid='toast'][data-kind='error'][data-code='media.unsupported_type'][data-http-status='415']",
            |text| text.contains("HTTP 415"),
        )
        .await;
    assert!(toast.contains("アップロードに失敗しました"), "{toast}");
    // 断られたアップロードはメディアにならない
    assert_eq!(browser.count("[data-testid='media-card']").await, 1);
    browser.screenshot("tour-06-unsupported-type-415").await;

    browser.close().await;
    system.stop().await;
}

// --- 2・3. 障害注入の 4 つの選択と Saga、メディアのタブ ----------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_faults_complete_or_compensate_and_media_history_original_delete_filters_work() {
    let system = TestSystem::start().await;
    let browser = Browser::launch("browser-ui").await;
    browser.open(&system.frontend_url()).await;
    browser.dev_login("alice").await;

    // 障害注入の 4 つの選択でアップロード (結果の行に障害注入の印)
    let none = upload_in_ui(&browser, "images/sunset-640x427.jpg", "").await;
    assert_eq!(
        browser.count("[data-testid='upload-result-fault']").await,
        0
    );
    browser.screenshot("tour-10-upload-no-fault").await;
    let mut faulted = Vec::new();
    for (number, fault) in [(11, "process"), (12, "album"), (13, "notification")] {
        let media_id = upload_in_ui(&browser, "images/sunset-640x427.jpg", fault).await;
        browser
            .wait_for(&format!(
                "[data-testid='upload-result-fault'][data-fault='{fault}']"
            ))
            .await;
        browser
            .screenshot(&format!("tour-{number}-upload-fault-{fault}"))
            .await;
        faulted.push(media_id);
    }
    let [process, album, notification] = <[String; 3]>::try_from(faulted)
        .unwrap_or_else(|v| panic!("アップロードの数が違います: {v:?}"));

    // 結果の行の「Saga を見る」→ Saga のタブでその Saga が開く (notification: 2 回失敗して 3 回目で完了)
    click_button_labelled(&browser, "//*[@data-testid='upload-result']", "Saga を見る").await;
    browser
        .wait_for("[data-testid='tab-sagas'][aria-selected='true']")
        .await;
    let saga = open_saga_of(&browser, &notification, "completed", Some("notification")).await;
    browser
        .wait_for(&format!(
            "[data-testid='saga-detail'] .detail__title code.id[title='{saga}']"
        ))
        .await;
    browser
        .wait_for("[data-testid='saga-step'][data-step='notify'][data-outcome='failed'][data-attempt='1']")
        .await;
    browser
        .wait_for("[data-testid='saga-step'][data-step='notify'][data-outcome='failed'][data-attempt='2']")
        .await;
    browser
        .wait_for("[data-testid='saga-step'][data-step='notify'][data-outcome='succeeded'][data-attempt='3']")
        .await;
    browser
        .wait_for("[data-testid='saga-pipeline-step'][data-step='notify'][data-state='succeeded']")
        .await;
    browser
        .screenshot("tour-14-saga-notification-retried")
        .await;

    // なし → completed。流れの 3 ステップ (処理・アルバム追加・通知) がすべて成功
    open_saga_of(&browser, &none, "completed", None).await;
    browser
        .wait_for("[data-testid='saga-step'][data-step='notify'][data-state='succeeded']")
        .await;
    let succeeded = wait_for_only(
        &browser,
        "[data-testid='saga-pipeline-step']",
        "[data-testid='saga-pipeline-step'][data-state='succeeded']",
        |n| n == 3,
    )
    .await;
    assert_eq!(succeeded, 3);
    browser.screenshot("tour-15-saga-completed").await;

    // process → compensated。処理のステップが「失敗したステップ」の印、補償はファイルの削除
    open_saga_of(&browser, &process, "compensated", Some("process")).await;
    browser
        .wait_for("[data-testid='saga-pipeline-step'][data-step='process_media'][data-state='failed'][data-failing='true']")
        .await;
    browser
        .wait_for("[data-testid='saga-step'][data-step='process_media'][data-outcome='failed']")
        .await;
    browser
        .wait_for(
            "[data-testid='saga-step'][data-step='delete_uploaded_file'][data-state='succeeded']",
        )
        .await;
    browser
        .wait_for("[data-testid='saga-fault'][data-fault='process']")
        .await;
    browser
        .wait_for_text("[data-testid='saga-failure-reason']", |t| {
            t.contains("process")
        })
        .await;
    browser.screenshot("tour-16-saga-process-compensated").await;

    // album → 3 回試して失敗 → compensated。補償はメディアの無効化
    open_saga_of(&browser, &album, "compensated", Some("album")).await;
    browser
        .wait_for("[data-testid='saga-pipeline-step'][data-step='add_to_album'][data-state='failed'][data-failing='true']")
        .await;
    browser
        .wait_for("[data-testid='saga-step'][data-step='invalidate_media'][data-state='succeeded']")
        .await;
    let album_failures = browser
        .wait_for_count(
            "[data-testid='saga-step'][data-step='add_to_album'][data-outcome='failed']",
            |n| n == 3,
        )
        .await;
    assert_eq!(album_failures, 3, "アルバム追加は 3 回試して失敗するはず");
    browser
        .wait_for_text("[data-testid='saga-failure-reason']", |t| {
            t.contains("album")
        })
        .await;
    browser.screenshot("tour-17-saga-album-compensated").await;

    // 状態で絞り込む: 補償済みは 2 件
    browser
        .select("[data-testid='saga-status-filter']", "compensated")
        .await;
    let compensated = wait_for_only(
        &browser,
        "[data-testid='saga-row']",
        "[data-testid='saga-row'][data-status='compensated']",
        |n| n == 2,
    )
    .await;
    assert_eq!(compensated, 2);
    browser
        .screenshot("tour-18-sagas-filtered-compensated")
        .await;
    browser
        .select("[data-testid='saga-status-filter']", "")
        .await;
    browser
        .wait_for_count("[data-testid='saga-row']", |n| n == 4)
        .await;

    // Saga の詳細の「メディアを開く」→ メディアのタブで、無効化されたメディアの詳細が開く
    click_button_labelled(&browser, SAGA_DETAIL, "メディアを開く").await;
    browser
        .wait_for("[data-testid='tab-media'][aria-selected='true']")
        .await;
    browser
        .wait_for("[data-testid='media-detail'] .badge--status[data-status='invalidated']")
        .await;
    browser.screenshot("tour-19-media-opened-from-saga").await;

    // --- メディアのタブ ---

    // カード: 状態「すべて」には削除済み (process の補償) も無効化 (album の補償) も並ぶ
    browser
        .wait_for("[data-testid='media-grid'][data-includes-deleted='true']")
        .await;
    let none_card = format!("[data-testid='media-card'][data-media-id='{none}']");
    let card_text = browser
        .wait_for_text(&none_card, |t| {
            t.contains("9.8 KB") && t.contains("処理済み")
        })
        .await;
    assert!(card_text.contains("sunset-640x427.jpg"), "{card_text}");
    browser
        .wait_for(&format!(
            "[data-testid='media-card'][data-media-id='{process}'][data-status='deleted'] [data-testid='media-failure-reason']"
        ))
        .await;
    browser
        .wait_for(&format!(
            "[data-testid='media-card'][data-media-id='{album}'][data-status='invalidated']"
        ))
        .await;
    browser.screenshot("tour-20-media-cards").await;

    // 詳細: サイズ (10,043 バイト) と、2 版の履歴
    browser.click(&none_card).await;
    browser
        .wait_for_text("[data-testid='media-size']", |t| t == "9.8 KB")
        .await;
    browser
        .wait_for("[data-testid='history-slider'][max='1'][aria-valuetext='v2 MediaProcessed']")
        .await;

    // 履歴のスライダーを v1 へ動かす → MediaUploaded の本体 (10,043 バイト) が見える
    move_history_slider(&browser, 0).await;
    browser
        .wait_for("[data-testid='history-slider'][aria-valuetext='v1 MediaUploaded']")
        .await;
    let label = browser
        .wait_for_text(".history__label", |t| t.contains("MediaUploaded"))
        .await;
    assert_eq!(label, "v1 / 2 — MediaUploaded");
    let uploaded = browser
        .wait_for_text("[data-testid='history-event']", |t| {
            t.contains("\"MediaUploaded\"")
        })
        .await;
    assert!(uploaded.contains("\"size_bytes\": 10043"), "{uploaded}");
    browser.screenshot("tour-21-history-v1-uploaded").await;

    // v2 へ戻す → MediaProcessed の本体 (幅と高さ)
    move_history_slider(&browser, 1).await;
    browser
        .wait_for("[data-testid='history-slider'][aria-valuetext='v2 MediaProcessed']")
        .await;
    let processed = browser
        .wait_for_text("[data-testid='history-event']", |t| {
            t.contains("\"MediaProcessed\"")
        })
        .await;
    assert!(
        processed.contains("\"width\": 640") && processed.contains("\"height\": 427"),
        "{processed}"
    );
    browser.screenshot("tour-22-history-v2-processed").await;

    // 元の画像を表示 → 640×427 で読み込めた <img>
    click_button_labelled(&browser, MEDIA_DETAIL, "元ファイルを表示").await;
    let state = attr_of(
        &browser,
        "[data-testid='original-figure']:not([data-state='loading'])",
        "data-state",
    )
    .await;
    assert_eq!(state, "ready", "元の画像を表示できませんでした");
    let image = js(
        &browser,
        "const img = document.querySelector(\"img[data-testid='original']\"); \
         return img ? [img.complete, img.naturalWidth, img.naturalHeight] : null;",
        vec![],
    )
    .await;
    assert_eq!(image, json!([true, 640, 427]), "元の画像: {image}");
    browser.screenshot("tour-23-original-image").await;

    // 動画 (本物の H.264、160×90・1 秒) → 処理済み → 元ファイルを再生できる
    // (CSP の media-src に blob: があるので、Object URL の <video> がメタデータを読める)
    let video = upload_in_ui(&browser, "videos/red-160x90-1000ms.mp4", "").await;
    let video_card =
        format!("[data-testid='media-card'][data-media-id='{video}'][data-status='processed']");
    browser.wait_for(&video_card).await;
    browser.click(&video_card).await;
    browser
        .wait_for_text("[data-testid='media-detail'] .detail__title", |t| {
            t == "red-160x90-1000ms.mp4"
        })
        .await;
    browser
        .wait_for("[data-testid='history-slider'][max='1'][aria-valuetext='v2 MediaProcessed']")
        .await;
    click_button_labelled(&browser, MEDIA_DETAIL, "元ファイルを表示").await;
    let state = attr_of(
        &browser,
        "[data-testid='original-figure']:not([data-state='loading'])",
        "data-state",
    )
    .await;
    assert_eq!(state, "ready", "元の動画を再生できませんでした");
    let player = js(
        &browser,
        "const v = document.querySelector(\"video[data-testid='original']\"); \
         return v ? { readyState: v.readyState, error: v.error ? v.error.code : null, \
                      width: v.videoWidth, height: v.videoHeight } : null;",
        vec![],
    )
    .await;
    assert!(
        player["readyState"].as_u64().unwrap_or_default() >= 1 && player["error"].is_null(),
        "動画のメタデータを読めていません: {player}"
    );
    assert_eq!(
        (player["width"].as_u64(), player["height"].as_u64()),
        (Some(160), Some(90)),
        "{player}"
    );
    assert_eq!(browser.count("[data-testid='original-error']").await, 0);
    browser.screenshot("tour-24-original-video").await;

    // 削除 (2 回押しで確定) → 詳細は「削除済み」、履歴に MediaDeleted (v3)、削除ボタンは消える
    let notification_card = format!("[data-testid='media-card'][data-media-id='{notification}']");
    browser.click(&notification_card).await;
    browser
        .wait_for("[data-testid='history-slider'][max='1'][aria-valuetext='v2 MediaProcessed']")
        .await;
    click_twice_to_confirm(&browser, "[data-testid='media-delete-button']").await;
    browser
        .wait_for(&format!("{notification_card}[data-status='deleted']"))
        .await;
    browser
        .wait_for("[data-testid='media-detail'] .badge--status[data-status='deleted']")
        .await;
    browser
        .wait_for("[data-testid='history-slider'][max='2'][aria-valuetext='v3 MediaDeleted']")
        .await;
    browser
        .wait_for_count("[data-testid='media-delete-button']", |n| n == 0)
        .await;
    // 状態「すべて」のままなので、削除したメディアも一覧に残る (削除済みの印つき)
    let deleted_text = browser
        .wait_for_text(&notification_card, |t| t.contains("削除済み"))
        .await;
    assert!(
        deleted_text.contains("sunset-640x427.jpg"),
        "{deleted_text}"
    );
    assert_eq!(browser.count("[data-testid='media-card']").await, 5);
    browser.screenshot("tour-25-media-deleted").await;

    // 状態の絞り込み: 削除済み 2 件 (process の補償と、いま削除したもの)、無効化 1 件、処理済み 2 件
    for (status, expected) in [("deleted", 2), ("invalidated", 1), ("processed", 2)] {
        browser
            .select("[data-testid='media-status-filter']", status)
            .await;
        let shown = wait_for_only(
            &browser,
            "[data-testid='media-card']",
            &format!("[data-testid='media-card'][data-status='{status}']"),
            |n| n == expected,
        )
        .await;
        assert_eq!(shown, expected, "状態 {status} の件数");
    }
    browser.screenshot("tour-26-media-filter-processed").await;
    browser
        .select("[data-testid='media-status-filter']", "")
        .await;
    browser
        .wait_for_count("[data-testid='media-card']", |n| n == 5)
        .await;

    // 種類の絞り込み: 動画は 1 件、画像は 4 件
    browser.select("#media-kind", "video").await;
    wait_for_only(
        &browser,
        "[data-testid='media-card']",
        &format!("[data-testid='media-card'][data-media-id='{video}']"),
        |n| n == 1,
    )
    .await;
    browser.screenshot("tour-27-media-filter-video").await;
    browser.select("#media-kind", "image").await;
    browser
        .wait_for_count(
            &format!("[data-testid='media-card'][data-media-id='{video}']"),
            |n| n == 0,
        )
        .await;
    browser
        .wait_for_count("[data-testid='media-card']", |n| n == 4)
        .await;
    browser.select("#media-kind", "").await;
    browser
        .wait_for_count("[data-testid='media-card']", |n| n == 5)
        .await;

    // ファイル名で検索: "red" → 動画だけ
    browser.type_into("#media-q", "red").await;
    wait_for_only(
        &browser,
        "[data-testid='media-card']",
        &format!("[data-testid='media-card'][data-media-id='{video}']"),
        |n| n == 1,
    )
    .await;
    browser.screenshot("tour-28-media-search").await;

    browser.close().await;
    system.stop().await;
}

/// Saga のタブで、メディアの Saga の行が `status` になるのを待って開き、その Saga ID を返します。
/// `fault` を渡すと、行の障害注入の印も確かめます。
async fn open_saga_of(
    browser: &Browser,
    media_id: &str,
    status: &str,
    fault: Option<&str>,
) -> String {
    browser.click("[data-testid='tab-sagas']").await;
    let row = format!(
        "[data-testid='saga-row'][data-media-id='{media_id}'][data-status='{status}']{}",
        fault
            .map(|f| format!("[data-fault='{f}']"))
            .unwrap_or_default()
    );
    let saga_id = attr_of(browser, &row, "data-saga-id").await;
    browser.click(&row).await;
    browser
        .wait_for(&format!(
            "[data-testid='saga-detail'] .detail__title code.id[title='{saga_id}']"
        ))
        .await;
    browser
        .wait_for(&format!(
            "[data-testid='saga-status'][data-status='{status}']"
        ))
        .await;
    browser.wait_for("[data-testid='saga-timeline']").await;
    saga_id
}

/// 履歴のスライダーを `index` (0 が v1) へ動かします。利用者がつまみを動かしたときと同じく
/// `input` (表示の文を書き換える) と `change` (その版を選ぶ) を送ります。
async fn move_history_slider(browser: &Browser, index: u32) {
    browser.wait_for("[data-testid='history-slider']").await;
    js(
        browser,
        "const slider = document.querySelector(\"[data-testid='history-slider']\"); \
         slider.value = String(arguments[0]); \
         slider.dispatchEvent(new Event('input', { bubbles: true })); \
         slider.dispatchEvent(new Event('change', { bubbles: true }));",
        vec![json!(index)],
    )
    .await;
}

// --- 4〜7. アルバム・イベント・通知・英語 -----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn albums_live_events_correlation_notifications_and_english_toggle_work_end_to_end() {
    let system = TestSystem::start().await;
    // UI の開発用ログイン "alice" と同じ利用者として、API でもアップロードする (準備を速くするため)
    let (alice, _) = system.login("alice").await;
    let (status, first) = upload(&alice, "images/sunset-640x427.jpg", None).await;
    assert_eq!(status, 202, "{first}");
    wait_for_saga(&alice, str_of(&first, "saga_id"), "completed").await;
    let first_media = str_of(&first, "media_id").to_owned();
    let first_position = first["position"]
        .as_u64()
        .unwrap_or_else(|| panic!("{first}"));

    let browser = Browser::launch("browser-ui").await;
    browser.open(&system.frontend_url()).await;
    browser.dev_login("alice").await;
    browser
        .wait_for("[data-testid='notification-badge'][data-count='1']")
        .await;

    // タブはキーボードでも切り替えられる (→ でメディアからアルバムへ)
    browser.click("[data-testid='tab-media']").await;
    browser
        .wait_for("[data-testid='tab-media']")
        .await
        .send_keys(&Key::Right.to_string())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    browser
        .wait_for("[data-testid='tab-albums'][aria-selected='true']")
        .await;
    browser.wait_for("#panel-albums:not([hidden])").await;

    // --- 4. アルバム ---

    // Saga が作ったデフォルトアルバムに 1 件
    let default_row = "[data-testid='album-row'][data-default='true']";
    let default_text = browser
        .wait_for_text(default_row, |t| t.contains("1 件"))
        .await;
    assert!(default_text.contains("デフォルト"), "{default_text}");

    // 作成 → 一覧に加わり、詳細が開く (削除できるアルバム)
    browser
        .type_into("[data-testid='album-name-input']", "旅行")
        .await;
    browser.click("[data-testid='album-create-button']").await;
    let album_id = attr_of(
        &browser,
        "[data-testid='album-row'][data-default='false']",
        "data-album-id",
    )
    .await;
    let album_row = format!("[data-testid='album-row'][data-album-id='{album_id}']");
    browser
        .wait_for_text("[data-testid='album-detail'] .detail__title", |t| {
            t.contains("旅行")
        })
        .await;
    browser
        .wait_for("[data-testid='album-delete-actions'][data-state='deletable']")
        .await;
    assert_eq!(browser.count("[data-testid='album-row']").await, 2);
    browser.screenshot("tour-40-album-created").await;

    // 名前を変える → 一覧と詳細の見出しが新しい名前になる
    browser
        .type_into("[data-testid='album-rename-input']", "旅行 2026")
        .await;
    browser.click("[data-testid='album-rename-button']").await;
    browser
        .wait_for_text(&album_row, |t| t.contains("旅行 2026"))
        .await;
    browser
        .wait_for_text("[data-testid='album-detail'] .detail__title", |t| {
            t.contains("旅行 2026")
        })
        .await;
    browser.screenshot("tour-41-album-renamed").await;

    // メディアを加える → 中身に 1 件、一覧の件数も 1 件
    select_when_offered(&browser, "[data-testid='album-add-select']", &first_media).await;
    browser.click("[data-testid='album-add-button']").await;
    let item = format!("[data-testid='album-item'][data-media-id='{first_media}']");
    browser.wait_for(&item).await;
    browser
        .wait_for_text(&album_row, |t| t.contains("1 件"))
        .await;
    browser.screenshot("tour-42-album-media-added").await;

    // 取り外す → 中身は空、件数 0
    browser
        .click(&format!("{item} [data-testid='album-remove-button']"))
        .await;
    browser
        .wait_for_count("[data-testid='album-item']", |n| n == 0)
        .await;
    browser
        .wait_for_text(&album_row, |t| t.contains("0 件"))
        .await;
    browser.screenshot("tour-43-album-media-removed").await;

    // 削除 (2 回押し) → 一覧から消え、詳細は閉じる
    click_twice_to_confirm(&browser, "[data-testid='album-delete-button']").await;
    browser.wait_for_count(&album_row, |n| n == 0).await;
    browser
        .wait_for("[data-testid='album-detail'][hidden]")
        .await;
    assert_eq!(browser.count("[data-testid='album-row']").await, 1);

    // デフォルトアルバムには削除の操作が無く、代わりに案内が出る
    browser.click(default_row).await;
    browser
        .wait_for("[data-testid='album-delete-actions'][data-state='default']")
        .await;
    let delete_shown = browser
        .wait_for("[data-testid='album-delete-button']")
        .await
        .is_displayed()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !delete_shown,
        "デフォルトアルバムに削除のボタンが見えています"
    );
    let unavailable = browser
        .wait_for_text("[data-testid='album-delete-unavailable']", |t| {
            !t.is_empty()
        })
        .await;
    assert_eq!(unavailable, "デフォルトアルバムは削除できません。");
    browser
        .screenshot("tour-44-default-album-not-deletable")
        .await;

    // --- 5. イベント ---

    // 2 回目のアップロード (API) の一連のイベントが、読み直さずにライブで届く
    browser.click("[data-testid='tab-events']").await;
    browser
        .wait_for_count(
            "[data-testid='event-row'][data-event-type='SagaCompleted']",
            |n| n == 1,
        )
        .await;
    let (status, second) = upload(&alice, "images/sunset-640x427.jpg", None).await;
    assert_eq!(status, 202, "{second}");
    browser
        .wait_for_count(
            "[data-testid='event-row'][data-event-type='SagaCompleted']",
            |n| n == 2,
        )
        .await;
    browser
        .wait_for(&format!(
            "[data-testid='event-row'][data-position='{}'][data-event-type='MediaUploaded']",
            second["position"]
        ))
        .await;
    browser.screenshot("tour-50-events-live").await;

    // 一時停止: 新しいイベントは数えるだけで行は増えない → 再開で並ぶ
    browser.click("[data-testid='event-pause']").await;
    browser
        .wait_for("[data-testid='event-pause'][aria-pressed='true']")
        .await;
    let frozen = browser.count("[data-testid='event-row']").await;
    let (status, third) = upload(&alice, "images/corrupt.jpg", None).await;
    assert_eq!(status, 202, "{third}");
    wait_for_saga(&alice, str_of(&third, "saga_id"), "compensated").await;
    let paused = browser
        .wait_for_text("[data-testid='event-pause']", |t| t.contains("新着"))
        .await;
    assert!(paused.starts_with("再開"), "{paused}");
    assert_eq!(
        browser.count("[data-testid='event-row']").await,
        frozen,
        "一時停止中に行が増えました"
    );
    browser.screenshot("tour-51-events-paused").await;
    browser.click("[data-testid='event-pause']").await;
    browser
        .wait_for("[data-testid='event-pause'][aria-pressed='false']")
        .await;
    browser
        .wait_for("[data-testid='event-row'][data-event-type='SagaCompensated']")
        .await;
    let total = browser.count("[data-testid='event-row']").await;
    assert!(
        total > frozen,
        "再開しても行が増えません ({frozen} → {total})"
    );

    // イベント型で絞り込む: MediaProcessed は 2 件 (壊れた JPEG は MediaProcessingFailed)
    browser
        .type_into("[data-testid='event-filter-type']", "MediaProcessed")
        .await;
    let processed = wait_for_only(
        &browser,
        "[data-testid='event-row']",
        "[data-testid='event-row'][data-event-type='MediaProcessed']",
        |n| n == 2,
    )
    .await;
    assert_eq!(processed, 2);
    browser.screenshot("tour-52-events-type-filter").await;
    browser.click("#panel-events button[type='reset']").await;
    browser
        .wait_for_count("[data-testid='event-row']", |n| n >= total)
        .await;

    // 集約の型で絞り込む: Saga のイベントだけ
    browser
        .select("[data-testid='event-filter-aggregate']", "Saga")
        .await;
    wait_for_only(
        &browser,
        "[data-testid='event-row']",
        "[data-testid='event-row'][data-aggregate-type='Saga']",
        |n| n > 0,
    )
    .await;
    browser.click("#panel-events button[type='reset']").await;
    browser
        .wait_for_count("[data-testid='event-row']", |n| n >= total)
        .await;

    // エンベロープを開く: position・version・metadata (相関 ID) の JSON
    browser
        .click(&format!(
            "[data-testid='event-row'][data-position='{first_position}']"
        ))
        .await;
    let envelope = browser
        .wait_for_text(
            "[data-testid='event-detail'] [data-testid='event-envelope']",
            |t| t.contains(&format!("\"position\": {first_position}")),
        )
        .await;
    for expected in [
        "\"event_type\": \"MediaUploaded\"".to_owned(),
        "\"version\": 1".to_owned(),
        "\"metadata\"".to_owned(),
        format!(
            "\"correlation_id\": \"{}\"",
            str_of(&first, "correlation_id")
        ),
    ] {
        assert!(
            envelope.contains(&expected),
            "{expected} がありません: {envelope}"
        );
    }
    browser.screenshot("tour-53-event-envelope").await;

    // エンベロープの「この相関 ID を追う」→ サービスをまたぐ流れ (1 回目: デフォルトアルバムも作る)
    browser
        .click("[data-testid='follow-correlation-button']")
        .await;
    let first_flow = format!(
        "[data-testid='flow-panel'][data-state='ready'] .flow__header code.id[title='{}']",
        str_of(&first, "correlation_id")
    );
    browser.wait_for(&first_flow).await;
    // ゲートウェイが作る相関 ID は時刻順の v7 (先頭 8 文字は作った時刻) なので、短い ID は末尾 4 文字も見せる
    let correlation = str_of(&first, "correlation_id");
    assert_eq!(
        Uuid::parse_str(correlation)
            .map(|id| id.get_version_num())
            .ok(),
        Some(7)
    );
    let short = format!(
        "{}…{}",
        &correlation[..8],
        &correlation[correlation.len() - 4..]
    );
    browser.wait_for_text(&first_flow, |t| t == short).await;
    for event_type in [
        "MediaUploaded",
        "SagaStarted",
        "MediaProcessed",
        "AlbumCreated",
        "MediaAddedToAlbum",
        "NotificationSent",
        "SagaCompleted",
    ] {
        browser
            .wait_for(&format!(
                "[data-testid='correlation-flow'] .flow__event[data-event-type='{event_type}']"
            ))
            .await;
    }
    let typed = browser
        .wait_for("[data-testid='event-filter-correlation']")
        .await
        .prop("value")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(typed.as_deref(), Some(str_of(&first, "correlation_id")));
    browser
        .screenshot("tour-54-correlation-flow-from-envelope")
        .await;

    // 相関 ID (UUID 全体) を入れて適用 → 2 回目のアップロードの流れ
    let second_correlation = str_of(&second, "correlation_id");
    apply_correlation_filter(&browser, second_correlation).await;
    browser
        .wait_for(&format!(
            "[data-testid='flow-panel'][data-state='ready'] .flow__header code.id[title='{second_correlation}']"
        ))
        .await;
    browser
        .wait_for("[data-testid='correlation-flow'] .flow__event[data-event-type='SagaCompleted']")
        .await;
    let hops = browser
        .wait_for_count("[data-testid='correlation-flow'] .flow__event", |n| n >= 6)
        .await;
    assert!(hops >= 6, "流れのイベントが少なすぎます: {hops}");
    browser.screenshot("tour-55-correlation-flow-full-id").await;

    // 1 回目の流れに戻してから、画面に出る 2 回目の短い ID (先頭 8 文字…末尾 4 文字) を入れて適用
    // → 末尾で 1 つに決まり、2 回目の流れ (v7 の先頭 8 文字は 1 分ほど同じなので、先頭だけでは決まらない)
    apply_correlation_filter(&browser, correlation).await;
    browser.wait_for(&first_flow).await;
    let second_short = format!(
        "{}…{}",
        &second_correlation[..8],
        &second_correlation[second_correlation.len() - 4..]
    );
    apply_correlation_filter(&browser, &second_short).await;
    browser
        .wait_for_text(
            &format!(
                "[data-testid='flow-panel'][data-state='ready'] .flow__header code.id[title='{second_correlation}']"
            ),
            |t| t == second_short,
        )
        .await;
    browser
        .wait_for("[data-testid='correlation-resolved'][data-state='resolved']")
        .await;

    // 知らない相関 ID (形は正しい UUID) → 読み込み中のままにならず、「イベントなし」の案内
    apply_correlation_filter(&browser, "00000000-0000-4000-8000-000000000000").await;
    browser
        .wait_for("[data-testid='flow-panel'][data-state='empty'] [data-testid='correlation-error'][data-state='empty']")
        .await;
    assert_eq!(
        browser.count("[data-testid='correlation-loading']").await,
        0
    );
    assert_eq!(browser.count("[data-testid='correlation-flow']").await, 0);
    browser.screenshot("tour-56-correlation-unknown").await;

    // 読み込んだイベントに無い先頭 8 文字 → 「見つからない」の案内
    apply_correlation_filter(&browser, "deadbeef").await;
    let not_found = browser
        .wait_for_text(
            "[data-testid='correlation-error'][data-state='not-found']",
            |t| t.contains("deadbeef"),
        )
        .await;
    assert!(!not_found.is_empty());

    // 先頭 8 文字は 2 回目の相関 ID と同じで、末尾 4 文字だけ違う短い ID → 「見つからない」
    // (短い ID は先頭だけでなく末尾でも照らす)
    let wrong_tail = ["0000", "ffff", "1234"]
        .into_iter()
        .find(|tail| !second_correlation.ends_with(tail) && !correlation.ends_with(tail))
        .unwrap_or("0000");
    let wrong_short = format!("{}…{wrong_tail}", &second_correlation[..8]);
    apply_correlation_filter(&browser, &wrong_short).await;
    browser
        .wait_for_text(
            "[data-testid='correlation-error'][data-state='not-found']",
            |t| t.contains(&wrong_short),
        )
        .await;
    browser.click("[data-testid='unfollow-button']").await;
    browser.wait_for("[data-testid='flow-panel'][hidden]").await;

    // --- 6. 通知 ---

    // バッジは未読 3 件 (完了 2 件と、壊れた JPEG の失敗 1 件)。ベルで通知のタブへ
    browser
        .wait_for("[data-testid='notification-badge'][data-count='3']")
        .await;
    browser.click("[data-testid='notification-button']").await;
    browser
        .wait_for("[data-testid='tab-notifications'][aria-selected='true']")
        .await;
    browser
        .wait_for_count("[data-testid='notification-row'][data-read='false']", |n| {
            n == 3
        })
        .await;
    let failed_row = "[data-testid='notification-row'][data-kind='upload_failed']";
    browser.wait_for(failed_row).await;
    browser.screenshot("tour-60-notifications-unread").await;

    // 失敗の通知の「Saga」→ Saga のタブで補償済みの Saga が開く
    click_button_labelled(
        &browser,
        "//*[@data-testid='notification-row' and @data-kind='upload_failed']",
        "Saga",
    )
    .await;
    browser
        .wait_for("[data-testid='tab-sagas'][aria-selected='true']")
        .await;
    browser
        .wait_for(&format!(
            "[data-testid='saga-detail'] .detail__title code.id[title='{}']",
            str_of(&third, "saga_id")
        ))
        .await;
    browser
        .wait_for("[data-testid='saga-status'][data-status='compensated']")
        .await;
    browser.screenshot("tour-61-saga-from-notification").await;

    // 1 件既読 → バッジ 2、その行は既読
    browser.click("[data-testid='tab-notifications']").await;
    browser
        .click(&format!("{failed_row} [data-testid='mark-read-button']"))
        .await;
    browser
        .wait_for("[data-testid='notification-badge'][data-count='2']")
        .await;
    browser
        .wait_for(&format!("{failed_row}[data-read='true']"))
        .await;

    // 未読だけ表示 → 2 件、外すと 3 件
    browser
        .click("#panel-notifications [data-role='unread-only']")
        .await;
    wait_for_only(
        &browser,
        "[data-testid='notification-row']",
        "[data-testid='notification-row'][data-read='false']",
        |n| n == 2,
    )
    .await;
    browser
        .screenshot("tour-62-notifications-unread-only")
        .await;
    browser
        .click("#panel-notifications [data-role='unread-only']")
        .await;
    browser
        .wait_for_count("[data-testid='notification-row']", |n| n == 3)
        .await;

    // すべて既読 → バッジ 0、既読にするボタンは無くなる
    browser.click("[data-testid='read-all-button']").await;
    let badge = browser
        .wait_for("[data-testid='notification-badge'][data-count='0']")
        .await;
    assert_eq!(badge.text().await.unwrap_or_else(|e| panic!("{e}")), "0");
    browser
        .wait_for_count("[data-testid='notification-row'][data-read='false']", |n| {
            n == 0
        })
        .await;
    assert_eq!(browser.count("[data-testid='mark-read-button']").await, 0);
    browser.screenshot("tour-63-notifications-all-read").await;

    // --- 7. 英語 ---

    // 切り替える前の日時 (1 回目のアップロードのイベント)
    browser.click("[data-testid='tab-events']").await;
    let time_css =
        format!("[data-testid='event-row'][data-position='{first_position}'] .event-row__time");
    let time_ja = browser.wait_for_text(&time_css, is_ymd_time).await;

    browser.click("[data-testid='lang-toggle']").await;
    browser.wait_for("html[lang='en']").await;
    for (css, expected) in [
        ("[data-testid='tab-media']", "Media"),
        ("[data-testid='tab-albums']", "Albums"),
        ("[data-testid='tab-events']", "Events"),
        ("[data-testid='tab-notifications']", "Notifications"),
        ("[data-testid='logout-button']", "Log out"),
        ("[data-testid='lang-toggle']", "日本語"),
    ] {
        browser.wait_for_text(css, |t| t == expected).await;
    }
    // 日時は英語でも YYYY-MM-DD の並び (月と日が入れ替わらない)
    let time_en = browser.wait_for_text(&time_css, is_ymd_time).await;
    assert_eq!(
        time_en, time_ja,
        "言語を切り替えたら日時の表示が変わりました"
    );
    browser.screenshot("tour-70-english-events").await;

    // サーバーが日本語で作る通知の本文も英語に訳される
    browser.click("[data-testid='tab-notifications']").await;
    let message = browser
        .wait_for_text(
            "[data-testid='notification-row'][data-kind='upload_completed'] [data-testid='notification-message'][data-localized='true']",
            |t| t.starts_with("Upload of"),
        )
        .await;
    assert!(
        message.contains("sunset-640x427.jpg") && message.ends_with("completed"),
        "{message}"
    );
    browser.screenshot("tour-71-english-notifications").await;

    // 日本語に戻す
    browser.click("[data-testid='lang-toggle']").await;
    browser.wait_for("html[lang='ja']").await;
    browser
        .wait_for_text("[data-testid='tab-media']", |t| t == "メディア")
        .await;
    browser
        .wait_for_text("[data-testid='lang-toggle']", |t| t == "English")
        .await;
    browser.screenshot("tour-72-back-to-japanese").await;

    browser.close().await;
    system.stop().await;
}

#[test]
fn ui_time_format_is_year_month_day_then_time() {
    assert!(is_ymd_time("2026-12-04 14:53:33.081"));
    assert!(!is_ymd_time("12/04/2026 14:53:33.081"));
    assert!(!is_ymd_time("2026-13-04 14:53:33.081"));
    assert!(!is_ymd_time("2026-12-04"));
}
