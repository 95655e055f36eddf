//! album の公開 API: アルバムの作成・一覧・取得・改名・削除、メディアの追加と除去。

use std::time::Duration;

use crate::support::album::{
    Env, add_media, assert_problem, contents, id_of, keys, position_of, service_token, user_token,
};
use mediahub_core::ids::{MediaId, UserId};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_album_named_trip_returns_201_and_get_with_min_position_shows_it_with_version_1() {
    let env = Env::start().await;
    let user = UserId::new_random();

    let (id, position) = env.create_album(user, "  旅行 ").await;
    let (status, view) = env
        .user(user)
        .get(&format!("/api/v1/albums/{id}?min_position={position}"))
        .await;

    assert!(position > 0);
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["id"], id);
    assert_eq!(view["owner_id"], user.to_string());
    assert_eq!(view["name"], "旅行");
    assert_eq!(view["is_default"], false);
    assert_eq!(view["media_count"], 0);
    assert_eq!(view["version"], 1);
    assert_eq!(view["created_at"], view["updated_at"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_album_with_blank_or_101_char_name_returns_400_invalid_body_and_writes_nothing() {
    let env = Env::start().await;
    let caller = env.user(UserId::new_random());

    for name in ["".to_owned(), "   ".to_owned(), "あ".repeat(101)] {
        let (status, body) = caller
            .post("/api/v1/albums", &json!({ "name": name }))
            .await;
        assert_eq!(status, 400, "{body}");
        // 名前の規則 (前後の空白を除いて 1〜100 文字) は文書のスキーマにあり、本体の検査で断られる
        assert_eq!(body["code"], "request.invalid_body");
    }
    let (status, body) = caller
        .post("/api/v1/albums", &json!({ "title": "x" }))
        .await;
    assert_eq!(status, 400, "{body}");

    assert_eq!(env.head().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_albums_returns_only_callers_albums_in_creation_order() {
    let env = Env::start().await;
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    let (first, _) = env.create_album(alice, "一つ目").await;
    let (second, _) = env.create_album(alice, "二つ目").await;
    let (_, last) = env.create_album(bob, "ボブの").await;

    let (status, body) = env
        .user(alice)
        .get(&format!("/api/v1/albums?min_position={last}"))
        .await;

    assert_eq!(status, 200, "{body}");
    let ids: Vec<String> = body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|a| id_of(&a["id"]))
        .collect();
    assert_eq!(ids, vec![first, second]);
    let (status, body) = env.user(UserId::new_random()).get("/api/v1/albums").await;
    assert_eq!(
        (status, body["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_list_media_and_delete_of_other_users_album_return_404_album_not_found() {
    let env = Env::start().await;
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    let (album, position) = env.create_album(alice, "アリスの").await;
    let bob = env.user(bob);

    assert_problem(
        &bob.get(&format!("/api/v1/albums/{album}?min_position={position}"))
            .await,
        404,
        "album.not_found",
    );
    assert_problem(
        &bob.get(&format!("/api/v1/albums/{album}/media")).await,
        404,
        "album.not_found",
    );
    assert_problem(
        &bob.delete(&format!("/api/v1/albums/{album}")).await,
        404,
        "album.not_found",
    );
    assert_eq!(env.head().await, position, "何も書かれない");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_own_album_returns_200_and_view_shows_new_name_at_version_2() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (album, _) = env.create_album(user, "旅行").await;
    let caller = env.user(user);

    let (status, body) = caller
        .patch(
            &format!("/api/v1/albums/{album}"),
            &json!({ "name": "家族" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let position = position_of(&body);
    let (_, view) = caller
        .get(&format!("/api/v1/albums/{album}?min_position={position}"))
        .await;

    assert_eq!(
        (view["name"].as_str(), view["version"].as_u64()),
        (Some("家族"), Some(2))
    );
    let (status, body) = caller
        .patch(
            &format!("/api/v1/albums/{album}"),
            &json!({ "name": "家族" }),
        )
        .await;
    assert_eq!(
        (status, position_of(&body)),
        (200, 0),
        "同じ名前は何も書かない"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_of_other_users_album_returns_404_and_invalid_name_returns_400_and_write_nothing() {
    let env = Env::start().await;
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    let (album, position) = env.create_album(alice, "旅行").await;

    assert_problem(
        &env.user(bob)
            .patch(
                &format!("/api/v1/albums/{album}"),
                &json!({ "name": "乗っ取り" }),
            )
            .await,
        404,
        "album.not_found",
    );
    assert_problem(
        &env.user(alice)
            .patch(
                &format!("/api/v1/albums/{album}"),
                &json!({ "name": "x".repeat(101) }),
            )
            .await,
        400,
        "request.invalid_body",
    );

    assert_eq!(env.head().await, position);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_own_album_returns_200_and_then_get_returns_404_and_list_omits_it() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (album, _) = env.create_album(user, "消す").await;
    let caller = env.user(user);

    let (status, body) = caller.delete(&format!("/api/v1/albums/{album}")).await;
    assert_eq!(status, 200, "{body}");
    let position = position_of(&body);

    let (status, _) = caller
        .get(&format!("/api/v1/albums/{album}?min_position={position}"))
        .await;
    assert_eq!(status, 404);
    let (_, list) = caller.get("/api/v1/albums").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    let (status, _) = caller.delete(&format!("/api/v1/albums/{album}")).await;
    assert_eq!(status, 404, "二度目の削除は見つからない");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_of_default_album_returns_409_default_not_deletable_and_writes_nothing() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (media, uploaded) = env.media.upload(user).await;
    let (status, body) = env.add_to_default(user, media, uploaded).await;
    assert_eq!(status, 200, "{body}");
    let album = id_of(&body["album_id"]);
    let head = env.head().await;

    assert_problem(
        &env.user(user)
            .delete(&format!("/api/v1/albums/{album}"))
            .await,
        409,
        "album.default_not_deletable",
    );
    assert_eq!(env.head().await, head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_own_media_returns_200_and_contents_and_media_count_show_it() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (album, _) = env.create_album(user, "旅行").await;
    let (media, uploaded) = env.media.upload(user).await;
    let caller = env.user(user);

    let (status, body) = add_media(&caller, &album, media, uploaded).await;
    assert_eq!(status, 200, "{body}");
    let position = position_of(&body);

    let (status, list) = caller
        .get(&format!(
            "/api/v1/albums/{album}/media?min_position={position}"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["media_id"], media.to_string());
    assert_eq!(list["items"][0]["position"], position);
    let (_, view) = caller.get(&format!("/api/v1/albums/{album}")).await;
    assert_eq!(
        (view["media_count"].as_u64(), view["version"].as_u64()),
        (Some(1), Some(2))
    );
    let (status, again) = add_media(&caller, &album, media, 0).await;
    assert_eq!(
        (status, position_of(&again)),
        (200, 0),
        "二度目は何も書かない"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_other_users_or_unknown_media_returns_404_media_not_found_and_writes_nothing() {
    let env = Env::start().await;
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    let (album, _) = env.create_album(alice, "旅行").await;
    let (bobs_media, uploaded) = env.media.upload(bob).await;
    let caller = env.user(alice);

    for media in [bobs_media, MediaId::new_random()] {
        assert_problem(
            &add_media(&caller, &album, media, uploaded).await,
            404,
            "media.not_found",
        );
    }

    assert_eq!(env.head().await, uploaded, "アルバムのイベントは書かれない");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_own_media_to_other_users_album_returns_404_album_not_found() {
    let env = Env::start().await;
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    let (album, _) = env.create_album(alice, "旅行").await;
    let (media, uploaded) = env.media.upload(bob).await;

    assert_problem(
        &add_media(&env.user(bob), &album, media, uploaded).await,
        404,
        "album.not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_media_returns_200_and_contents_become_empty_and_second_remove_is_404() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (album, _) = env.create_album(user, "旅行").await;
    let (media, uploaded) = env.media.upload(user).await;
    let caller = env.user(user);
    let (status, _) = add_media(&caller, &album, media, uploaded).await;
    assert_eq!(status, 200);

    let path = format!("/api/v1/albums/{album}/media/{media}");
    let (status, body) = caller.delete(&path).await;
    assert_eq!(status, 200, "{body}");
    let position = position_of(&body);

    assert!(contents(&caller, &album, position).await.is_empty());
    let events = env.album_events().await;
    let last = events
        .last()
        .unwrap_or_else(|| panic!("イベントがありません"));
    assert_eq!(last.event_type, "MediaRemovedFromAlbum");
    assert_eq!(last.data["MediaRemovedFromAlbum"]["reason"], "user");
    assert_problem(&caller.delete(&path).await, 404, "album.media_not_in_album");
    let (status, _) = env.user(UserId::new_random()).delete(&path).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correlation_causation_and_idempotency_headers_are_copied_into_event_metadata() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (correlation, causation) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let caller = env.user(user);

    let (status, body) = caller
        .send(
            caller
                .request(Method::POST, "/api/v1/albums")
                .header("X-Correlation-ID", correlation.to_string())
                .header("X-Causation-ID", causation.to_string())
                .header("Idempotency-Key", "k-1")
                .json(&json!({ "name": "旅行" })),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let events = env.album_events().await;
    let metadata = &events[0].metadata;
    assert_eq!(
        metadata.correlation_id.map(|c| c.as_uuid()),
        Some(correlation)
    );
    assert_eq!(metadata.causation_id, Some(causation));
    assert_eq!(metadata.user_id, Some(user));
    assert_eq!(
        metadata.extra.get("idempotency_key").map(String::as_str),
        Some("k-1")
    );
    assert_problem(
        &caller
            .send(
                caller
                    .request(Method::POST, "/api/v1/albums")
                    .header("X-Correlation-ID", "not-a-uuid")
                    .json(&json!({ "name": "旅行" })),
            )
            .await,
        400,
        "request.invalid_parameter",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_token_or_with_user_token_and_x_user_id_are_rejected_and_service_may_act_for_user()
 {
    let env = Env::start().await;
    let user = UserId::new_random();
    let base = env.handle().base_url();

    assert_problem(
        &crate::support::album::Caller::anonymous(&base)
            .get("/api/v1/albums")
            .await,
        401,
        "auth.missing_token",
    );
    let caller = crate::support::album::Caller::new(&base, user_token(&keys(), user));
    assert_problem(
        &caller
            .send(
                caller
                    .request(Method::GET, "/api/v1/albums")
                    .header("X-User-ID", UserId::new_random().to_string()),
            )
            .await,
        403,
        "auth.user_id_header_forbidden",
    );
    let service = crate::support::album::Caller::new(&base, service_token(&keys(), "gateway"));
    assert_problem(
        &service.get("/api/v1/albums").await,
        403,
        "auth.user_required",
    );

    let (status, created) = service
        .send(
            service
                .request(Method::POST, "/api/v1/albums")
                .header("X-User-ID", user.to_string())
                .json(&json!({ "name": "代理" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (_, list) = env
        .user(user)
        .get(&format!(
            "/api/v1/albums?min_position={}",
            position_of(&created)
        ))
        .await;
    assert_eq!(list["items"][0]["name"], "代理");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_with_min_position_100_beyond_head_waits_then_returns_409_position_beyond_log_with_head()
 {
    let env = Env::with_read_wait(Duration::from_millis(100)).await;
    let user = UserId::new_random();
    let (_, position) = env.create_album(user, "旅行").await;
    env.reach(position).await;

    let (status, body) = env
        .user(user)
        .get(&format!("/api/v1/albums?min_position={}", position + 100))
        .await;

    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "read_model.position_beyond_log");
    assert_eq!(body["min_position"], position + 100);
    assert_eq!(body["head"], position);
}
