//! 学習用の API (issue #15): サービスの地図と本物の停止・再開、プロジェクションの遅れと作り直し、
//! スローモーション、一覧のページ送り。すべてゲートウェイ越しの本物の HTTP です。

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mediahub_core::saga::SagaPolicy;
use serde_json::Value;

use crate::support::system::{Caller, DEADLINE, TestSystem, upload, upload_with, wait_for_saga};

/// 止めた album への依頼を期限 (20 秒) まで短い間隔で再試行する方針。
fn patient_policy() -> SagaPolicy {
    let mut policy = SagaPolicy {
        retry_deadline: Duration::from_secs(20),
        ..SagaPolicy::default()
    };
    for retry in [&mut policy.process, &mut policy.album, &mut policy.notify] {
        retry.initial_backoff = Duration::from_millis(20);
        retry.max_backoff = Duration::from_millis(150);
    }
    policy
}

/// `probe` が `Ok` を返すまで (最長 [`DEADLINE`]、2 ms おき) 繰り返し、その値を返します。
/// `Err` は最後に見たもので、期限を過ぎたときの表示に使います。
async fn poll<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Value>>,
{
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) => assert!(
                tokio::time::Instant::now() < until,
                "期限内に条件が満たされませんでした: {what}: {last}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn str_of<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} がありません: {body}"))
}

fn service<'a>(map: &'a Value, name: &str) -> &'a Value {
    map["items"]
        .as_array()
        .and_then(|items| items.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("{name} がありません: {map}"))
}

fn time_of(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("時刻ではありません: {value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_album_stop_closes_its_port_saga_retries_with_attempt_numbers_and_start_lets_it_complete()
 {
    let lab = TestSystem::start_lab(patient_policy()).await;
    let (alice, _) = lab.login("alice").await;

    // 8 サービスがすべて ready。album は止められ、eventstore は止められない
    let (status, map) = alice.get("/api/v1/lab/services").await;
    assert_eq!(status, 200, "{map}");
    assert_eq!(map["controls_enabled"], true, "{map}");
    let names: Vec<&str> = map["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        [
            "gateway",
            "media-command",
            "media-query",
            "album",
            "eventstore",
            "saga",
            "notification",
            "frontend"
        ]
    );
    assert!(
        map["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(|s| s["state"] == "ready")),
        "{map}"
    );
    assert_eq!(service(&map, "album")["controllable"], true);
    assert_eq!(service(&map, "eventstore")["controllable"], false);

    // album を止める → ポートが閉じる (直接つないでも応答が無い)
    let (status, stopped) = alice
        .post("/api/v1/lab/services/album/stop", &Value::Null)
        .await;
    assert_eq!(
        (status, stopped["state"].as_str()),
        (200, Some("down")),
        "{stopped}"
    );
    let direct = mediahub_services::platform::http_client::builder()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .get(format!("{}/health", lab.urls().album))
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    assert!(direct.is_err(), "止めた album がまだ応答します: {direct:?}");
    let (status, again) = alice
        .post("/api/v1/lab/services/album/stop", &Value::Null)
        .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("lab.wrong_state")),
        "{again}"
    );
    let (_, map) = alice.get("/api/v1/lab/services").await;
    assert_eq!(service(&map, "album")["state"], "down", "{map}");

    // アップロード → アルバム追加が 2 回目以降の試行になり、次の試行の予定時刻が見える
    let (status, accepted) = upload(&alice, "images/sunset-640x427.jpg", None).await;
    assert_eq!(status, 202, "{accepted}");
    let saga_path = format!("/api/v1/sagas/{}", str_of(&accepted, "saga_id"));
    let retrying = poll("アルバム追加の再試行", || async {
        let (_, saga) = alice.get(&saga_path).await;
        let retrying = saga["current_step"] == "add_to_album"
            && saga["attempt"].as_u64().is_some_and(|a| a >= 2)
            && saga["next_attempt_at"].is_string();
        if retrying { Ok(saga) } else { Err(saga) }
    })
    .await;
    assert_eq!(retrying["status"], "running", "{retrying}");

    // album を起こす → Saga は完了する (補償ではない)
    let (status, started) = alice
        .post("/api/v1/lab/services/album/start", &Value::Null)
        .await;
    assert_eq!(
        (status, started["state"].as_str()),
        (200, Some("ready")),
        "{started}"
    );
    let saga = wait_for_saga(&alice, str_of(&accepted, "saga_id"), "completed").await;
    let retries = saga["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .filter(|s| s["step"] == "add_to_album" && s["outcome"] == "retrying")
                .count()
        })
        .unwrap_or_default();
    assert!(retries >= 1, "再試行がタイムラインにありません: {saga}");
    assert!(saga["next_attempt_at"].is_null(), "{saga}");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_controls_outside_make_run_mode_are_403_eventstore_409_unknown_404() {
    let sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;
    let (_, map) = alice.get("/api/v1/lab/services").await;
    assert_eq!(map["controls_enabled"], false, "{map}");
    assert_eq!(service(&map, "album")["controllable"], false, "{map}");
    for (path, status, code) in [
        (
            "/api/v1/lab/services/album/stop",
            403,
            "lab.controls_disabled",
        ),
        (
            "/api/v1/lab/services/eventstore/stop",
            409,
            "lab.not_controllable",
        ),
        (
            "/api/v1/lab/services/nope/start",
            404,
            "lab.unknown_service",
        ),
        (
            "/api/v1/lab/projections/media-command/rebuild",
            409,
            "lab.not_controllable",
        ),
        (
            "/api/v1/lab/projections/nope/rebuild",
            404,
            "lab.unknown_service",
        ),
    ] {
        let (got, body) = alice.post(path, &Value::Null).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
    }
    let (status, body) = Caller::anonymous(sys.gateway_url())
        .get("/api/v1/lab/services")
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("auth.missing_token"))
    );
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_projections_show_four_consumers_reaching_head_and_album_rebuild_ends_at_head() {
    let sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;
    let (_, accepted) = upload(&alice, "images/sunset-640x427.jpg", None).await;
    wait_for_saga(&alice, str_of(&accepted, "saga_id"), "completed").await;

    let last = poll("4 つの読みモデルが先頭に届く", || async {
        let (_, body) = alice.get("/api/v1/lab/projections").await;
        let caught_up = body["items"].as_array().is_some_and(|items| {
            items.len() == 4
                && items
                    .iter()
                    .all(|p| p["status"]["lag"] == 0 && p["status"]["head"].as_u64() > Some(0))
        });
        if caught_up { Ok(body) } else { Err(body) }
    })
    .await;
    let services: Vec<&str> = last["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|p| p["service"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(services, ["media-query", "album", "notification", "saga"]);
    let head = last["items"][0]["status"]["head"]
        .as_u64()
        .unwrap_or_default();

    let (status, rebuilt) = alice
        .post("/api/v1/lab/projections/album/rebuild", &Value::Null)
        .await;
    assert_eq!(status, 200, "{rebuilt}");
    assert!(
        rebuilt["position"].as_u64() >= Some(head),
        "{rebuilt} < {head}"
    );
    assert!(rebuilt["events"].as_u64() > Some(0), "{rebuilt}");
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_with_saga_pace_400_ms_is_seen_running_with_a_future_next_attempt_then_every_step_waits_400_ms()
 {
    let sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;
    let (status, accepted) = upload_with(
        &alice,
        "images/sunset-640x427.jpg",
        &[("X-Saga-Pace-Ms", "400")],
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let saga_path = format!("/api/v1/sagas/{}", str_of(&accepted, "saga_id"));

    // 走っている Saga が見える: 待っているステップと、未来の予定時刻
    let running = poll("走っている Saga", || async {
        let (status, saga) = alice.get(&saga_path).await;
        if status == 200 && saga["current_step"].is_string() {
            Ok(saga)
        } else {
            Err(saga)
        }
    })
    .await;
    assert_eq!(running["status"], "running", "{running}");
    let updated = time_of(&running["updated_at"]);
    let next = time_of(&running["next_attempt_at"]);
    assert!(
        next - updated >= chrono::Duration::milliseconds(400),
        "予定時刻が 400 ms 先ではありません: {running}"
    );

    // 完了した Saga の SagaStepStarted はどれも 400 ms 待ち、次の出来事はその後
    let saga = wait_for_saga(&alice, str_of(&accepted, "saga_id"), "completed").await;
    let events = saga["events"].as_array().cloned().unwrap_or_default();
    let mut paced = 0;
    for pair in events.windows(2) {
        if pair[0]["event_type"] == "SagaStepStarted" {
            assert_eq!(
                pair[0]["data"]["SagaStepStarted"]["delay_ms"], 400,
                "{}",
                pair[0]
            );
            let gap = time_of(&pair[1]["created_at"]) - time_of(&pair[0]["created_at"]);
            assert!(
                gap >= chrono::Duration::milliseconds(400),
                "{gap:?}: {pair:?}"
            );
            paced += 1;
        }
    }
    assert_eq!(paced, 3, "処理・アルバム追加・通知の 3 ステップ: {saga}");
    sys.stop().await;
}

/// `path` (クエリつき) を `next_cursor` で最後までたどり、各ページの件数と全項目を返します。
async fn walk_pages(caller: &Caller, path: &str) -> (Vec<usize>, Vec<Value>) {
    let mut sizes = Vec::new();
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let (status, page) = caller.get(&url).await;
        assert_eq!(status, 200, "{url}: {page}");
        let page_items = page["items"].as_array().cloned().unwrap_or_default();
        sizes.push(page_items.len());
        items.extend(page_items);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (sizes, items),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_uploads_page_as_5_5_2_for_sagas_and_notifications_and_q_status_and_short_id_find_one()
 {
    let sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;
    let mut sagas = Vec::new();
    for _ in 0..11 {
        let (_, accepted) = upload(&alice, "images/sunset-640x427.jpg", None).await;
        sagas.push(str_of(&accepted, "saga_id").to_owned());
    }
    let (_, broken) = upload(&alice, "images/corrupt.jpg", None).await;
    let broken_saga = str_of(&broken, "saga_id").to_owned();
    sagas.push(broken_saga.clone());
    for (i, saga) in sagas.iter().enumerate() {
        let status = if i == 11 { "compensated" } else { "completed" };
        wait_for_saga(&alice, saga, status).await;
    }

    let (sizes, items) = walk_pages(&alice, "/api/v1/sagas?limit=5").await;
    assert_eq!(sizes, [5, 5, 2]);
    let ids: Vec<&str> = items.iter().filter_map(|s| s["id"].as_str()).collect();
    let expected: Vec<&str> = sagas.iter().rev().map(String::as_str).collect();
    assert_eq!(ids, expected, "新しい順に 1 回ずつ並んでいません");

    for query in [
        "q=corrupt".to_owned(),
        "status=compensated".to_owned(),
        format!("q={}", &broken_saga[..8]),
    ] {
        let (status, page) = alice.get(&format!("/api/v1/sagas?{query}")).await;
        assert_eq!(status, 200, "{page}");
        let found: Vec<&str> = page["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|s| s["id"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(found, [broken_saga.as_str()], "{query}: {page}");
    }
    let (status, bad) = alice.get("/api/v1/sagas?cursor=zz").await;
    assert_eq!(status, 400, "{bad}");

    // 通知: 12 件 (11 完了 + 1 補償) を 5 件ずつ
    let notifications = poll("12 件の通知", || async {
        let (_, items) = walk_pages(&alice, "/api/v1/notifications?limit=5").await;
        if items.len() == 12 {
            Ok(items)
        } else {
            Err(Value::from(items.len()))
        }
    })
    .await;
    let (sizes, _) = walk_pages(&alice, "/api/v1/notifications?limit=5").await;
    assert_eq!(sizes, [5, 5, 2]);
    let unique: HashSet<&str> = notifications
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(unique.len(), 12);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_before_pages_the_own_log_backwards_to_the_same_positions_as_forward() {
    let sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;
    for _ in 0..3 {
        let (_, accepted) = upload(&alice, "images/sunset-640x427.jpg", None).await;
        wait_for_saga(&alice, str_of(&accepted, "saga_id"), "completed").await;
    }
    let positions = |page: &Value| -> Vec<u64> {
        page["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .filter_map(|e| e["position"].as_u64())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (_, forward) = alice.get("/api/v1/events?limit=1000").await;
    let forward = positions(&forward);
    assert!(forward.len() > 10, "{forward:?}");

    let mut backward = Vec::new();
    let mut before = forward.last().map_or(1, |p| p + 1);
    loop {
        let (status, page) = alice
            .get(&format!("/api/v1/events?before={before}&limit=7"))
            .await;
        assert_eq!(status, 200, "{page}");
        let got = positions(&page);
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "ページの中は位置の順: {got:?}"
        );
        let Some(&first) = got.first() else { break };
        backward.splice(0..0, got);
        before = first;
    }
    assert_eq!(backward, forward);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_media_is_hidden_by_default_and_listed_with_status_all() {
    let sys = TestSystem::start().await;
    let (alice, _) = sys.login("alice").await;
    let (_, kept) = upload(&alice, "images/sunset-640x427.jpg", None).await;
    let (_, gone) = upload(&alice, "images/sunset-640x427.jpg", None).await;
    for accepted in [&kept, &gone] {
        wait_for_saga(&alice, str_of(accepted, "saga_id"), "completed").await;
    }
    let (status, deleted) = alice
        .delete(&format!("/api/v1/media/{}", str_of(&gone, "media_id")))
        .await;
    assert_eq!(status, 202, "{deleted}");
    let min = deleted["position"].as_u64().unwrap_or_default();
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (_, default) = alice
        .get(&format!("/api/v1/media?min_position={min}"))
        .await;
    assert_eq!(ids(&default), [str_of(&kept, "media_id")]);
    let (status, all) = alice
        .get(&format!("/api/v1/media?status=all&min_position={min}"))
        .await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        ids(&all),
        [str_of(&gone, "media_id"), str_of(&kept, "media_id")]
    );
    sys.stop().await;
}
