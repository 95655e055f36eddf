//! media-query の一覧: 新しい順・カーソル・絞り込み・ファイル名検索・所有者の分離・入力の誤り。

use crate::support::media_query::{Caller, Env, id_text, ids, keys, user_token};
use mediahub_core::ids::{MediaId, UserId};
use reqwest::Method;

const JPEG: &str = "images/sunset-640x427.jpg";
const PNG: &str = "images/small-64x48.png";
const MP4: &str = "videos/tiny-320x240-2500ms.mp4";

async fn upload_many(env: &Env, owner: UserId, count: usize) -> (Vec<MediaId>, u64) {
    let mut uploaded = Vec::new();
    let mut last = 0;
    for i in 0..count {
        let (id, position) = env.upload(owner, &format!("photo-{i:02}.jpg"), JPEG).await;
        uploaded.push(id);
        last = position;
    }
    (uploaded, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seven_uploads_with_limit_3_come_newest_first_in_3_pages_and_cursor_is_stable() {
    let env = Env::start().await;
    let owner = UserId::new_random();
    let (uploaded, last) = upload_many(&env, owner, 7).await;
    env.caught_up(last).await;
    let caller = env.user(owner);
    let newest_first: Vec<String> = uploaded.iter().rev().map(|id| id_text(*id)).collect();

    let (status, first) = caller.get("/api/v1/media?limit=3").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids(&first), newest_first[0..3]);
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert!(!cursor.is_empty());

    // ページの間に、2 ページ目の 1 件が処理され、新しいアップロードが増えても、
    // 同じカーソルは同じ 2 ページ目を返す (並びのキーは変わらない)。
    env.process(uploaded[2], 10, 10).await;
    let (_, newer) = env.upload(owner, "newer.jpg", JPEG).await;
    env.caught_up(newer).await;
    let (status, second) = caller
        .get(&format!("/api/v1/media?limit=3&cursor={cursor}"))
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(ids(&second), newest_first[3..6]);
    assert_eq!(second["items"][1]["status"], "processed");

    let cursor = second["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (_, third) = caller
        .get(&format!("/api/v1/media?limit=3&cursor={cursor}"))
        .await;
    assert_eq!(ids(&third), newest_first[6..7]);
    assert!(third["next_cursor"].is_null(), "{third}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_and_status_filters_return_only_matching_and_deleted_is_hidden_unless_asked() {
    let env = Env::start().await;
    let owner = UserId::new_random();
    let (image, _) = env.upload(owner, "a.jpg", JPEG).await;
    let (video, _) = env.upload(owner, "b.mp4", MP4).await;
    let (deleted, _) = env.upload(owner, "c.png", PNG).await;
    let (invalid, _) = env.upload(owner, "d.png", PNG).await;
    env.process(image, 640, 427).await;
    env.delete(deleted, owner).await;
    let last = env.invalidate(invalid, "アルバムの追加に失敗").await;
    env.caught_up(last).await;
    let caller = env.user(owner);

    let (_, all) = caller.get("/api/v1/media").await;
    assert_eq!(
        ids(&all),
        [invalid, video, image].map(id_text),
        "削除済みは既定で隠れ、無効化は見える"
    );
    assert_eq!(all["items"][0]["status"], "invalidated");
    let (_, videos) = caller.get("/api/v1/media?kind=video").await;
    assert_eq!(ids(&videos), [id_text(video)]);
    assert_eq!(videos["items"][0]["kind"], "video");
    let (_, processed) = caller
        .get("/api/v1/media?status=processed&kind=image")
        .await;
    assert_eq!(ids(&processed), [id_text(image)]);
    let (_, gone) = caller.get("/api/v1/media?status=deleted").await;
    assert_eq!(ids(&gone), [id_text(deleted)]);
    assert_eq!(gone["items"][0]["status"], "deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q_sun_finds_sunset_by_prefix_and_hostile_queries_answer_200_without_error() {
    let env = Env::start().await;
    let owner = UserId::new_random();
    let (sunset, _) = env.upload(owner, "sunset-640x427.jpg", JPEG).await;
    let (orchid, _) = env.upload(owner, "Orchid garden.png", PNG).await;
    let (_, last) = env.upload(owner, "small-64x48.png", PNG).await;
    env.caught_up(last).await;
    let caller = env.user(owner);
    let search = |q: &str| {
        let encoded: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
        let caller = caller.clone();
        async move { caller.get(&format!("/api/v1/media?q={encoded}")).await }
    };

    for q in ["sun", "SUN", "sunset-64", "640x", "sun jpg"] {
        let (status, body) = search(q).await;
        assert_eq!(status, 200, "{q}: {body}");
        assert_eq!(ids(&body), [id_text(sunset)], "{q}");
    }
    // `OR` は演算子ではなく語として扱われる (Orchid に前方一致)。
    let (status, body) = search("OR").await;
    assert_eq!((status, ids(&body)), (200, vec![id_text(orchid)]));
    for q in [
        "\"",
        "*",
        "\"\" *",
        "sun\" OR \"small",
        "NEAR(sun",
        "^",
        "moon",
    ] {
        let (status, body) = search(q).await;
        assert_eq!(status, 200, "{q}: {body}");
        assert!(ids(&body).is_empty(), "{q}: {body}");
    }
    let (status, body) = search("   ").await;
    assert_eq!(
        (status, ids(&body).len()),
        (200, 3),
        "空白だけの q は絞り込まない"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_b_gets_404_for_user_a_media_and_an_empty_list() {
    let env = Env::start().await;
    let alice = UserId::new_random();
    let bob = UserId::new_random();
    let (media, position) = env.upload(alice, "alice.jpg", JPEG).await;
    env.caught_up(position).await;
    let bob_caller = env.user(bob);

    for path in [
        format!("/api/v1/media/{media}"),
        format!("/api/v1/media/{media}/history"),
        format!("/api/v1/media/{}", MediaId::new_random()),
    ] {
        let (status, body) = bob_caller.get(&path).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("media.not_found")),
            "{path}"
        );
    }
    let (status, list) = bob_caller.get("/api/v1/media").await;
    assert_eq!((status, ids(&list).len()), (200, 0));
    let (status, _) = env.user(alice).get(&format!("/api/v1/media/{media}")).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_token_reads_as_x_user_id_and_without_it_gets_403_user_required() {
    let env = Env::start().await;
    let owner = UserId::new_random();
    let (media, position) = env.upload(owner, "x.jpg", JPEG).await;
    env.caught_up(position).await;
    let service = env.as_service();

    let request = service
        .request(Method::GET, "/api/v1/media")
        .header("X-User-ID", owner.to_string());
    let (status, body) = service.send(request).await;
    assert_eq!((status, ids(&body)), (200, vec![id_text(media)]));
    let (status, body) = service.get("/api/v1/media").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("auth.user_required"))
    );
    let user = env.user(owner);
    let request = user
        .request(Method::GET, "/api/v1/media")
        .header("X-User-ID", owner.to_string());
    let (status, body) = user.send(request).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("auth.user_id_header_forbidden"))
    );
    let (status, _) = crate::support::media_query::Caller::anonymous(env.service().base_url())
        .get("/api/v1/media")
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_0_or_101_bad_cursor_kind_or_status_answer_400_problem_json() {
    let env = Env::start().await;
    let caller = env.user(UserId::new_random());
    for query in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "cursor=not-a-cursor",
        "cursor=3a",
        "kind=audio",
        "status=new",
        "min_position=-5",
    ] {
        let response = caller
            .request(Method::GET, &format!("/api/v1/media?{query}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (status, body) = crate::support::media_query::status_and_json(response).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(content_type, "application/problem+json", "{query}");
        assert_eq!(body["code"], "request.invalid_parameter", "{query}");
    }
    let (status, body) = caller.get("/api/v1/media?limit=100").await;
    assert_eq!((status, ids(&body).len()), (200, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_with_their_own_read_model_files_on_one_store_list_the_same_five_media() {
    let env = Env::start().await;
    let owner = UserId::new_random();
    let (uploaded, last) = upload_many(&env, owner, 5).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let replica = env.replica(&dir.path().join("replica.db")).await;

    // どちらのレプリカも min_position で自分の読みモデルが追いつくのを待ってから答える。
    let path = format!("/api/v1/media?min_position={last}");
    let token = user_token(&keys(), owner);
    let (status_a, first) = Caller::new(env.service().base_url(), token.clone())
        .get(&path)
        .await;
    let (status_b, second) = Caller::new(replica.base_url(), token).get(&path).await;

    assert_eq!((status_a, status_b), (200, 200), "{first} {second}");
    assert_eq!(ids(&first).len(), 5);
    assert_eq!(
        first["items"], second["items"],
        "2 つの読みモデルは同じ一覧になる"
    );
    let mut expected: Vec<String> = uploaded.iter().map(ToString::to_string).collect();
    expected.reverse();
    assert_eq!(ids(&first), expected, "新しい順");
    replica.stop().await.unwrap_or_else(|e| panic!("{e}"));
}
