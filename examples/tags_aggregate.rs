//! 新しい集約 `MediaTags` (メディアのタグ) を、`cqrs-es` の `CqrsFramework` とインメモリの
//! イベントストア (`MemStore`) で動かすサンプル。
//!
//! 集約そのものは `examples/src/tags.rs` にあり、`mediahub-core` の決まり (純粋な `decide`、
//! 型付きエラー、`apply` で状態を作る) で書かれています。given / when / then のテストも
//! 同じファイルにあります (`cargo test -p mediahub-examples`)。
//!
//! 流れ: タグを 2 つ付ける → 同じタグをもう一度 (冪等でイベントは出ない) → 他人が付ける
//! (`tags.not_found`) → 1 つ外す → イベントの列と、そこから作り直した状態を表示します。
//!
//! 実行: `cargo run -p mediahub-examples --example tags_aggregate`

use cqrs_es::mem_store::MemStore;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventStore};
use mediahub_core::error::DomainError;
use mediahub_core::ids::{MediaId, UserId};
use mediahub_examples::tags::{MediaTags, TagsCommand, TagsError};

type Error = Box<dyn std::error::Error>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let store = MemStore::<MediaTags>::default();
    let cqrs = CqrsFramework::new(store.clone(), vec![], ());
    let media = MediaId::new_random();
    let alice = UserId::new_random();
    let id = media.to_string();
    let add = |by: UserId, tag: &str| TagsCommand::AddTag {
        media_id: media,
        requested_by: by,
        tag: tag.to_owned(),
    };

    cqrs.execute(&id, add(alice, "Sunset")).await?;
    cqrs.execute(&id, add(alice, "beach")).await?;
    cqrs.execute(&id, add(alice, "SUNSET")).await?; // 冪等: イベントは増えない
    match cqrs.execute(&id, add(UserId::new_random(), "mine")).await {
        Err(AggregateError::UserError(err)) => {
            println!("他人がタグを付ける → {} ({err})", err.code());
            assert_eq!(err, TagsError::NotFound);
        }
        other => return Err(format!("他人のタグ付けが拒まれませんでした: {other:?}").into()),
    }
    cqrs.execute(
        &id,
        TagsCommand::RemoveTag {
            requested_by: alice,
            tag: "beach".into(),
        },
    )
    .await?;

    println!("MediaTags {id} のイベント:");
    let events = store.load_events(&id).await?;
    let mut replayed = MediaTags::default();
    for envelope in events {
        println!(
            "  v{} {}",
            envelope.sequence,
            serde_json::to_string(&envelope.payload)?
        );
        replayed.apply(envelope.payload);
    }
    let tags: Vec<&str> = replayed.tags().collect();
    println!("イベントから作り直した状態: tags = {tags:?}");
    assert_eq!(tags, vec!["sunset"]);
    Ok(())
}
