//! album のリアクター (メディアの削除・無効化でアルバムから外す) と、再起動後の追いつき。

use crate::support::album::{
    DEADLINE, Env, add_media, assert_problem, contents, id_of, position_of, wait_until,
};
use mediahub_core::album::{Album, AlbumCommand};
use mediahub_core::envelope::EventMetadata;
use mediahub_core::ids::{MediaId, UserId};
use mediahub_services::store_client::{AggregateCommands, RemoteEventRepository};

/// `MediaRemovedFromAlbum` のうち `media` を外したもの: (アルバム ID, 理由)。
async fn removals_of(env: &Env, media: MediaId) -> Vec<(String, String)> {
    env.album_events()
        .await
        .into_iter()
        .filter(|e| e.event_type == "MediaRemovedFromAlbum")
        .filter(|e| e.data["MediaRemovedFromAlbum"]["media_id"] == media.to_string())
        .map(|e| {
            let reason = id_of(&e.data["MediaRemovedFromAlbum"]["reason"]);
            (e.aggregate_id, reason)
        })
        .collect()
}

async fn add(env: &Env, user: UserId, album: &str, media: MediaId, min_position: u64) -> u64 {
    let (status, body) = add_media(&env.user(user), album, media, min_position).await;
    assert_eq!(status, 200, "{body}");
    position_of(&body)
}

/// 各アルバムから `media` を外すイベントが書かれ、射影がそれを反映するまで待つ。
async fn wait_for_removal(env: &Env, user: UserId, albums: &[String], media: MediaId) {
    wait_until(
        "削除されたメディアをすべてのアルバムから外すイベントが書かれる",
        DEADLINE,
        || async move { removals_of(env, media).await.len() >= albums.len() },
    )
    .await;
    let head = env.head().await;
    let caller = env.user(user);
    for album in albums {
        let media_ids = contents(&caller, album, head).await;
        assert!(
            !media_ids.contains(&media.to_string()),
            "{album}: {media_ids:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_deleted_of_media_in_two_albums_removes_it_from_both_with_reason_media_deleted() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (kept, _) = env.media.upload(user).await;
    let (media, uploaded) = env.media.upload(user).await;
    let (a, _) = env.create_album(user, "一つ目").await;
    let (b, _) = env.create_album(user, "二つ目").await;
    for album in [&a, &b] {
        add(&env, user, album, media, uploaded).await;
        add(&env, user, album, kept, uploaded).await;
    }

    let deleted = env.media.delete(media, user).await;
    env.reach(deleted).await;
    wait_for_removal(&env, user, &[a.clone(), b.clone()], media).await;

    let mut removals = removals_of(&env, media).await;
    removals.sort();
    let mut expected = vec![
        (a.clone(), "media_deleted".to_owned()),
        (b.clone(), "media_deleted".to_owned()),
    ];
    expected.sort();
    assert_eq!(removals, expected, "アルバムごとにちょうど一回");
    let caller = env.user(user);
    assert_eq!(contents(&caller, &a, 0).await, vec![kept.to_string()]);
    let (_, view) = caller.get(&format!("/api/v1/albums/{b}")).await;
    assert_eq!(view["media_count"], 1);
    assert_problem(
        &add_media(&caller, &a, media, 0).await,
        404,
        "media.not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_caused_by_media_deleted_carries_its_correlation_and_causation() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (media, uploaded) = env.media.upload(user).await;
    let (album, _) = env.create_album(user, "旅行").await;
    add(&env, user, &album, media, uploaded).await;

    let deleted = env.media.delete(media, user).await;
    wait_for_removal(&env, user, std::slice::from_ref(&album), media).await;

    let log = env
        .store
        .client()
        .read_log(&mediahub_services::store_client::LogQuery::after(deleted - 1).limit(10))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cause = &log.events[0];
    assert_eq!(cause.event_type, "MediaDeleted");
    let removal = env
        .album_events()
        .await
        .into_iter()
        .find(|e| e.event_type == "MediaRemovedFromAlbum")
        .unwrap_or_else(|| panic!("除去のイベントがありません"));
    assert_eq!(removal.metadata.causation_id, Some(cause.id.as_uuid()));
    assert_eq!(
        removal.metadata.correlation_id,
        cause.metadata.correlation_id
    );
    assert_eq!(removal.metadata.user_id, Some(user));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_invalidated_removes_it_from_the_default_album() {
    let env = Env::start().await;
    let user = UserId::new_random();
    let (media, uploaded) = env.media.upload(user).await;
    let (status, body) = env.add_to_default(user, media, uploaded).await;
    assert_eq!(status, 200, "{body}");
    let album = id_of(&body["album_id"]);

    env.media.invalidate(media).await;
    wait_for_removal(&env, user, std::slice::from_ref(&album), media).await;

    assert_eq!(
        removals_of(&env, media).await,
        vec![(album, "media_deleted".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_catches_up_events_written_while_stopped_and_drains_their_removals() {
    let mut env = Env::start().await;
    let user = UserId::new_random();
    let (media, uploaded) = env.media.upload(user).await;
    let (album, _) = env.create_album(user, "旅行").await;
    add(&env, user, &album, media, uploaded).await;
    let before = env.head().await;
    env.reach(before).await;
    env.stop_album().await;

    let (later, _) = env.media.upload(user).await;
    let deleted = env.media.delete(media, user).await;
    env.start_album().await;

    assert!(
        env.handle().position() >= before,
        "保存したチェックポイントから再開する"
    );
    env.reach(deleted).await;
    wait_for_removal(&env, user, std::slice::from_ref(&album), media).await;
    assert_eq!(removals_of(&env, media).await.len(), 1);
    let head = env.head().await;
    let added = add(&env, user, &album, later, head).await;
    assert_eq!(
        contents(&env.user(user), &album, added).await,
        vec![later.to_string()],
        "止まっている間にアップロードされたメディアも所有者の射影に入っている"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_added_after_its_deletion_was_projected_is_removed_again() {
    let mut env = Env::start().await;
    let user = UserId::new_random();
    let (media, _) = env.media.upload(user).await;
    let (album, _) = env.create_album(user, "旅行").await;
    env.media.delete(media, user).await;
    env.reach(env.head().await).await;
    env.stop_album().await;

    // 射影が遅れていた別のインスタンスが、削除の前の所有者の情報で追加を受け付けた状況を、
    // 本物のアルバム集約に直接コマンドを送って再現します。
    let commands =
        AggregateCommands::<Album>::new(RemoteEventRepository::new(env.store.client()), ());
    let command = AlbumCommand::AddMedia {
        requested_by: user,
        media_id: media,
        media_owner: Some(user),
    };
    commands
        .execute(&album, None, || command.clone(), &EventMetadata::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    env.start_album().await;

    wait_for_removal(&env, user, std::slice::from_ref(&album), media).await;
    assert_eq!(
        removals_of(&env, media).await,
        vec![(album, "media_deleted".to_owned())]
    );
}
