//! album の内部 API: デフォルトアルバムへの追加 (Saga のステップ) と読みモデルの作り直し。

use crate::support::album::{
    Caller, Env, assert_problem, contents, id_of, keys, position_of, user_token,
};
use mediahub_core::album::DEFAULT_ALBUM_NAME;
use mediahub_core::ids::{AlbumId, UserId};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_album_add_called_twice_writes_one_album_created_and_one_media_added() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (media, uploaded) = env.media.upload(user).await;

    let (status, first) = env.add_to_default(user, media, uploaded).await;
    assert_eq!(status, 200, "{first}");
    let (status, second) = env.add_to_default(user, media, uploaded).await;
    assert_eq!(status, 200, "{second}");

    let album = AlbumId::default_for(user).to_string();
    assert_eq!(id_of(&first["album_id"]), album);
    assert_eq!(id_of(&second["album_id"]), album);
    assert!(position_of(&first) > uploaded);
    assert_eq!(position_of(&second), 0, "二度目は何も書かない");
    let types: Vec<String> = env
        .album_events()
        .await
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types, vec!["AlbumCreated", "MediaAddedToAlbum"]);
    let caller = env.user(user);
    assert_eq!(
        contents(&caller, &album, position_of(&first)).await,
        vec![media.to_string()]
    );
    let (_, list) = caller.get("/api/v1/albums").await;
    assert_eq!(list["items"][0]["is_default"], true);
    assert_eq!(list["items"][0]["name"], DEFAULT_ALBUM_NAME);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_album_add_for_second_media_reuses_album_and_default_is_listed_first() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (own, _) = env.create_album(user, "先に作った").await;
    let (a, _) = env.media.upload(user).await;
    let (b, uploaded) = env.media.upload(user).await;

    let (_, first) = env.add_to_default(user, a, uploaded).await;
    let (status, second) = env.add_to_default(user, b, uploaded).await;

    assert_eq!(status, 200, "{second}");
    assert_eq!(first["album_id"], second["album_id"]);
    let (_, list) = env
        .user(user)
        .get(&format!(
            "/api/v1/albums?min_position={}",
            position_of(&second)
        ))
        .await;
    let ids: Vec<String> = list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|a| id_of(&a["id"]))
        .collect();
    assert_eq!(ids, vec![id_of(&first["album_id"]), own]);
    assert_eq!(list["items"][0]["media_count"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_album_add_with_user_token_returns_403_service_token_required() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (media, uploaded) = env.media.upload(user).await;

    assert_problem(
        &env.user(user)
            .post(
                "/internal/v1/default-album/media",
                &json!({ "owner_id": user.to_string(), "media_id": media.to_string(),
                     "min_position": uploaded }),
            )
            .await,
        403,
        "auth.service_token_required",
    );
    assert_eq!(env.head().await, uploaded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_album_add_with_inject_fault_returns_503_fault_injected_and_writes_nothing() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (media, uploaded) = env.media.upload(user).await;

    assert_problem(
        &env.service()
            .post(
                "/internal/v1/default-album/media",
                &json!({ "owner_id": user.to_string(), "media_id": media.to_string(),
                     "min_position": uploaded, "inject_fault": true }),
            )
            .await,
        503,
        "fault.injected",
    );
    assert_eq!(env.head().await, uploaded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_album_add_of_media_owned_by_someone_else_returns_404_media_not_found() {
    let env = Env::start().await;
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    let (media, uploaded) = env.media.upload(alice).await;

    assert_problem(
        &env.add_to_default(bob, media, uploaded).await,
        404,
        "media.not_found",
    );
    assert_eq!(env.head().await, uploaded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_album_add_with_saga_headers_records_correlation_causation_and_idempotency_key() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (media, uploaded) = env.media.upload(user).await;
    let (correlation, causation) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let service = env.service();

    let (status, body) = service
        .send(
            service
                .request(Method::POST, "/internal/v1/default-album/media")
                .header("X-Correlation-ID", correlation.to_string())
                .header("X-Causation-ID", causation.to_string())
                .header("Idempotency-Key", "saga-1:add_to_album")
                .json(
                    &json!({ "owner_id": user.to_string(), "media_id": media.to_string(),
                               "min_position": uploaded }),
                ),
        )
        .await;

    assert_eq!(status, 200, "{body}");
    for event in env.album_events().await {
        assert_eq!(
            event.metadata.correlation_id.map(|c| c.as_uuid()),
            Some(correlation)
        );
        assert_eq!(event.metadata.causation_id, Some(causation));
        assert_eq!(event.metadata.user_id, Some(user));
        assert_eq!(
            event
                .metadata
                .extra
                .get("idempotency_key")
                .map(String::as_str),
            Some("saga-1:add_to_album")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_replays_album_and_media_events_and_read_model_equals_live() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (media, uploaded) = env.media.upload(user).await;
    let (_, added) = env.add_to_default(user, media, uploaded).await;
    let (album, _) = env.create_album(user, "旅行").await;
    let caller = env.user(user);
    let (_, renamed) = caller
        .patch(
            &format!("/api/v1/albums/{album}"),
            &json!({ "name": "家族" }),
        )
        .await;
    let head = env.head().await;
    env.reach(head).await;
    let (_, live_list) = caller.get("/api/v1/albums").await;
    let default = id_of(&added["album_id"]);
    let live_contents = contents(&caller, &default, 0).await;

    let (status, body) = env.service().post("/internal/v1/rebuild", &json!({})).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["position"], head);
    assert_eq!(
        body["events"], head,
        "このストアのイベントはすべて Album か Media"
    );
    let (_, rebuilt_list) = caller.get("/api/v1/albums").await;
    assert_eq!(rebuilt_list, live_list);
    assert_eq!(contents(&caller, &default, 0).await, live_contents);
    assert!(position_of(&renamed) <= head);
    let (status, _) = Caller::new(env.handle().base_url(), user_token(&keys(), user))
        .post("/internal/v1/rebuild", &json!({}))
        .await;
    assert_eq!(status, 403);
}
