//! 楽観的同時実行制御を HTTP で (docs/concurrency.md): ゲートウェイ越しに同じアルバム・メディアへ
//! 同時にコマンドを送り、`ETag` / `If-Match` / 412 と、`If-Match` 無しなら全部通ることを確かめます。

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::system::{Caller, DEADLINE, TestSystem, upload, wait_for_saga, wait_until};

/// 同時に送るコマンドの数。
const CONCURRENT: usize = 32;

/// `GET path` の状態コード・`ETag`・本体。
async fn get_with_etag(caller: &Caller, path: &str) -> (u16, Option<String>, Value) {
    let response = caller
        .request(Method::GET, path)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, etag, body)
}

/// アルバムを改名します (`If-Match` は指定があるときだけ付けます)。
async fn rename(
    caller: &Caller,
    album: &str,
    name: String,
    if_match: Option<&str>,
) -> (u16, Value) {
    let mut request = caller
        .request(Method::PATCH, &format!("/api/v1/albums/{album}"))
        .json(&json!({ "name": name }));
    if let Some(tag) = if_match {
        request = request.header("If-Match", tag);
    }
    caller.send(request).await
}

/// ある集約のある型のイベントの版 (ログの順)。
fn versions_of(log: &[Value], aggregate_id: &str, event_type: &str) -> Vec<u64> {
    log.iter()
        .filter(|e| e["aggregate_id"] == aggregate_id && e["event_type"] == event_type)
        .filter_map(|e| e["version"].as_u64())
        .collect()
}

/// アルバム「旅行」を作り、その ID と、作成を読める GET のパス (`min_position` つき) を返します。
async fn create_album(caller: &Caller) -> (String, String) {
    let (status, created) = caller
        .post("/api/v1/albums", &json!({ "name": "旅行" }))
        .await;
    assert_eq!(status, 201, "{created}");
    let album = created["id"].as_str().unwrap_or_default().to_owned();
    let path = format!(
        "/api/v1/albums/{album}?min_position={}",
        created["position"]
    );
    (album, path)
}

/// `path` の `ETag` が `want` になるまで待ちます (読みモデルが追いつくまで)。
async fn wait_for_etag(caller: &Caller, path: &str, want: &str) {
    wait_until(&format!("{path} の ETag が {want}"), DEADLINE, || async {
        get_with_etag(caller, path).await.1.as_deref() == Some(want)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_renames_without_if_match_all_succeed_with_versions_2_to_33() {
    let sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;
    let (album, path) = create_album(&alice).await;
    let (status, etag, _) = get_with_etag(&alice, &path).await;
    assert_eq!((status, etag.as_deref()), (200, Some("\"1\"")));

    let results = futures::future::join_all(
        (0..CONCURRENT).map(|i| rename(&alice, &album, format!("旅行 {i}"), None)),
    )
    .await;

    let statuses = results.iter().map(|(s, _)| *s).collect::<Vec<_>>();
    assert_eq!(statuses, vec![200; CONCURRENT], "{results:?}");
    let log = sys.assert_log_is_consistent().await;
    assert_eq!(
        versions_of(&log, &album, "AlbumRenamed"),
        (2..=33).collect::<Vec<u64>>()
    );
    wait_for_etag(&alice, &format!("/api/v1/albums/{album}"), "\"33\"").await;
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_renames_with_the_same_if_match_give_one_200_and_31_412() {
    let sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;
    let (album, path) = create_album(&alice).await;
    let (_, etag, _) = get_with_etag(&alice, &path).await;
    let etag = etag.unwrap_or_else(|| panic!("ETag がありません"));
    assert_eq!(etag, "\"1\"");

    let results = futures::future::join_all(
        (0..CONCURRENT).map(|i| rename(&alice, &album, format!("旅行 {i}"), Some(&etag))),
    )
    .await;

    let winners = results.iter().filter(|(s, _)| *s == 200).count();
    let refused = results
        .iter()
        .filter(|(s, body)| {
            *s == 412
                && body["code"] == "precondition_failed"
                && body["expected_version"] == 1
                && body["current_version"] == 2
        })
        .count();
    assert_eq!((winners, refused), (1, CONCURRENT - 1), "{results:?}");
    let log = sys.assert_log_is_consistent().await;
    assert_eq!(versions_of(&log, &album, "AlbumRenamed"), vec![2]);

    // 勝った改名の後の版で送れば通り、古い版のままなら 412 で何も書かない。
    wait_for_etag(&alice, &format!("/api/v1/albums/{album}"), "\"2\"").await;
    let (status, body) = rename(&alice, &album, "京都".into(), Some("\"2\"")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = rename(&alice, &album, "大阪".into(), Some("\"2\"")).await;
    assert_eq!(
        (status, &body["current_version"]),
        (412, &json!(3)),
        "{body}"
    );
    let log = sys.assert_log_is_consistent().await;
    assert_eq!(versions_of(&log, &album, "AlbumRenamed"), vec![2, 3]);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_weak_if_match_is_400_problem_and_writes_nothing() {
    let sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;
    let (album, _) = create_album(&alice).await;
    let before = sys.whole_log().await.len();

    for bad in ["1", "W/\"1\"", "\"1\", \"2\"", "\"abc\""] {
        let (status, body) = rename(&alice, &album, "京都".into(), Some(bad)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("request.invalid_parameter")),
            "If-Match: {bad} → {body}"
        );
    }
    let (status, body) = rename(&alice, &album, "京都".into(), Some("*")).await;
    assert_eq!(status, 200, "If-Match: * はどの版でもよい: {body}");
    assert_eq!(sys.whole_log().await.len(), before + 1);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_delete_with_stale_if_match_is_412_and_with_the_etag_is_202() {
    let sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;
    let (status, accepted) = upload(&alice, "images/sunset-640x427.jpg", None).await;
    assert_eq!(status, 202, "{accepted}");
    let media = accepted["media_id"].as_str().unwrap_or_default().to_owned();
    wait_for_saga(
        &alice,
        accepted["saga_id"].as_str().unwrap_or_default(),
        "completed",
    )
    .await;
    let path = format!("/api/v1/media/{media}");
    wait_until("メディアが processed になる", DEADLINE, || async {
        get_with_etag(&alice, &path).await.2["status"] == "processed"
    })
    .await;
    let etag = get_with_etag(&alice, &path).await.1.unwrap_or_default();
    let log = sys.whole_log().await;
    let version = log
        .iter()
        .filter(|e| e["aggregate_id"] == media.as_str())
        .filter_map(|e| e["version"].as_u64())
        .max()
        .unwrap_or_default();
    assert_eq!(etag, format!("\"{version}\""), "ETag はメディアの版");

    let stale = alice
        .send(
            alice
                .request(Method::DELETE, &path)
                .header("If-Match", "\"1\""),
        )
        .await;
    assert_eq!(
        (stale.0, &stale.1["current_version"]),
        (412, &json!(version)),
        "{stale:?}"
    );
    let (status, body) = alice
        .send(
            alice
                .request(Method::DELETE, &path)
                .header("If-Match", etag.as_str()),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let log = sys.assert_log_is_consistent().await;
    let deletions = log
        .iter()
        .filter(|e| e["aggregate_id"] == media.as_str() && e["event_type"] == "MediaDeleted")
        .count();
    assert_eq!(deletions, 1);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_on_another_users_album_is_404_not_412_and_reveals_no_version() {
    let sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;
    let (mallory, _) = sys.login("mallory").await;
    let (album, _) = create_album(&alice).await;

    for tag in ["\"0\"", "\"1\"", "\"7\""] {
        let (status, body) = rename(&mallory, &album, "乗っ取り".into(), Some(tag)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("album.not_found")),
            "If-Match: {tag} → {body}"
        );
        assert!(body.get("current_version").is_none(), "{body}");
    }
    let log = sys.assert_log_is_consistent().await;
    assert!(versions_of(&log, &album, "AlbumRenamed").is_empty());
    sys.stop().await;
}
