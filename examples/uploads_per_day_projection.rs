//! 自作のプロジェクション「利用者ごと・日ごとのアップロード数」を、MediaHub の購読ランナー
//! (`mediahub_services::consumer::Consumer`) の上に作るサンプル。
//!
//! 見せること:
//! 1. **ハンドラを書くだけ**: [`EventHandler`] の `handle` (1 件を反映) と `reset` (空にする)、
//!    `filter` (Media のイベントだけ) を書けば、ランナーがグローバルログを位置の順に読み、
//!    読みモデルの書き込みと **同じトランザクション** でチェックポイントを進めます (ちょうど一回)。
//! 2. **チェックポイント**: 購読者を開き直す (= プロセスの再起動) と続きの位置から読みます。
//!    新しいイベントだけが反映され、数え直しにはなりません。
//! 3. **作り直し** (`Consumer::rebuild`): 読みモデルを空にして位置 0 から再生し、進み具合を
//!    表示し、作り直す前と同じ表になることを確かめます。
//!
//! イベントは本物のコマンド (`MediaCommand::Upload`) を `AggregateCommands<Media>` で実行して
//! 書きます。イベントストアは、環境変数 `MEDIAHUB_EVENTSTORE_URL` と `JWT_SECRET` があれば
//! 動いているもの (`make run`) を、無ければ一時ディレクトリに自分で起動したものを使います。
//!
//! 実行: `cargo run -p mediahub-examples --example uploads_per_day_projection`

use std::collections::BTreeMap;

use mediahub_core::envelope::{Envelope, EventMetadata};
use mediahub_core::ids::{MediaId, UserId};
use mediahub_core::media::{ContentType, Media, MediaCommand, MediaEvent, UploadPolicy};
use mediahub_examples::store::EventStoreTarget;
use mediahub_services::consumer::{
    Consumer, ConsumerConfig, EventFilter, EventHandler, HandlerError, open_database,
};
use mediahub_services::store_client::{AggregateCommands, RemoteEventRepository};
use sqlx::{SqliteConnection, SqlitePool};

type Error = Box<dyn std::error::Error>;

/// 購読者の名前 (チェックポイント表の行の名前)。
const CONSUMER_NAME: &str = "uploads-per-day";

/// 利用者ごと・日ごと (UTC) のアップロード数を数えるプロジェクション。
struct UploadsPerDay;

impl EventHandler for UploadsPerDay {
    async fn handle(
        &self,
        tx: &mut SqliteConnection,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        // イベント本体は型に戻して読む (JSON を手で掘らない)
        let MediaEvent::MediaUploaded { owner_id, .. } =
            event.decode::<MediaEvent>().map_err(HandlerError::other)?
        else {
            return Ok(());
        };
        let day = event.created_at.format("%Y-%m-%d").to_string();
        sqlx::query(
            "INSERT INTO uploads_per_day (owner_id, day, uploads) VALUES (?, ?, 1)
             ON CONFLICT (owner_id, day) DO UPDATE SET uploads = uploads + 1",
        )
        .bind(owner_id.to_string())
        .bind(day)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn reset(&self, tx: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query("DELETE FROM uploads_per_day")
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    fn filter(&self) -> EventFilter {
        EventFilter::aggregate_types(["Media"])
    }
}

/// 読みモデルの表 (利用者 → 日 → 件数)。
type Table = BTreeMap<(String, String), i64>;

async fn read_table(pool: &SqlitePool) -> Result<Table, sqlx::Error> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT owner_id, day, uploads FROM uploads_per_day")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(o, d, n)| ((o, d), n)).collect())
}

fn print_table(title: &str, table: &Table, names: &BTreeMap<String, &str>) {
    println!("{title}");
    for ((owner, day), uploads) in table {
        let name = names.get(owner).copied().unwrap_or("(ほかの利用者)");
        println!("  {name:<16} {day}  {uploads} 件");
    }
}

/// `owner` のアップロードを 1 件、本物のコマンドとして実行します。
async fn upload(commands: &AggregateCommands<Media>, owner: UserId, n: u32) -> Result<u64, Error> {
    let media_id = MediaId::new_random();
    let outcome = commands
        .execute(
            &media_id.to_string(),
            None,
            || MediaCommand::Upload {
                media_id,
                owner_id: owner,
                filename: format!("photo-{n}.jpg"),
                content_type: ContentType::Jpeg,
                size_bytes: 1024,
                sha256: "ab".repeat(32),
                storage_key: format!("{media_id}/original"),
            },
            &EventMetadata::default(),
        )
        .await?;
    Ok(outcome.position())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let store = EventStoreTarget::from_env_or_start(dir.path()).await?;
    println!(
        "イベントストア: {} ({})",
        store.url,
        if store.is_local() {
            "このサンプルが起動"
        } else {
            "動いているものにつなぐ"
        }
    );
    let client = store.client("examples")?;
    let commands = AggregateCommands::<Media>::new(
        RemoteEventRepository::new(client.clone()),
        UploadPolicy::default(),
    );
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    let names = BTreeMap::from([(alice.to_string(), "alice"), (bob.to_string(), "bob")]);

    for n in 0..3 {
        upload(&commands, alice, n).await?;
    }
    upload(&commands, bob, 0).await?;

    // 購読者を開いてログの先頭まで追いつく (読みモデルは購読者自身の SQLite)
    let database = dir.path().join("uploads-per-day.db");
    let pool = open_database(&database).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS uploads_per_day (
             owner_id TEXT NOT NULL, day TEXT NOT NULL, uploads INTEGER NOT NULL,
             PRIMARY KEY (owner_id, day))",
    )
    .execute(&pool)
    .await?;
    let open = |pool: SqlitePool| {
        Consumer::open(
            CONSUMER_NAME,
            pool,
            client.clone(),
            UploadsPerDay,
            ConsumerConfig::default(),
        )
    };
    let consumer = open(pool.clone()).await?;
    let first = consumer.catch_up().await?;
    let before = read_table(&pool).await?;
    print_table(
        &format!("1. 追いついた (チェックポイント {first}):"),
        &before,
        &names,
    );

    // チェックポイント: 開き直すと続きから読み、新しいイベントだけを数える
    drop(consumer);
    let last = upload(&commands, bob, 1).await?;
    let reopened = open(pool.clone()).await?;
    println!(
        "2. 開き直した購読者の位置 = {} (保存されたチェックポイント)",
        reopened.position()
    );
    assert_eq!(
        reopened.position(),
        first,
        "チェックポイントから再開していません"
    );
    let second = reopened.catch_up().await?;
    assert!(
        second >= last,
        "新しいイベント (位置 {last}) まで届いていません"
    );
    let after = read_table(&pool).await?;
    print_table(
        &format!("   bob の 1 件を足して追いついた (チェックポイント {second}):"),
        &after,
        &names,
    );
    let mine = |table: &Table, owner: UserId| -> i64 {
        table
            .iter()
            .filter(|((o, _), _)| *o == owner.to_string())
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!((mine(&after, alice), mine(&after, bob)), (3, 2));

    // 作り直し: 空にして位置 0 から再生し、同じ表になる
    let progress = reopened
        .rebuild(|p| {
            println!(
                "3. 作り直し中: 位置 {}/{} (反映 {} 件)",
                p.position, p.head, p.applied
            )
        })
        .await?;
    let rebuilt = read_table(&pool).await?;
    assert_eq!(rebuilt, after, "作り直した表が作り直す前と違います");
    println!(
        "   作り直し完了: 位置 {} まで {} 件を反映し、表は作り直す前と同じです",
        progress.position, progress.applied
    );

    pool.close().await;
    store.stop().await?;
    Ok(())
}
