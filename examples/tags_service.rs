//! 小さな新しいサービス「メディアのタグ」を、MediaHub のサービスの部品で作るサンプル。
//!
//! 8 つのサービスと同じ形 (config → state → routes → run) で、部品はすべて既存のものです。
//!
//! | 部品 | 使いどころ |
//! |---|---|
//! | `store_client::AggregateCommands<MediaTags>` | コマンド側: 集約を読み、純粋な `decide` を通し、中央のイベントストアに追記 (版の衝突は読み直して再実行) |
//! | `consumer::Consumer` + `EventHandler` | 読み側: `MediaTags` のイベントを自分の SQLite (`media_tags` 表) に反映 |
//! | `consumer::PositionWaiter` | クエリの `min_position` (read-your-writes) |
//! | `platform::server::build_app` | `/health`・`/ready`・`/openapi.json`・`/swagger`・problem+json・JWT 検証 |
//! | `platform::auth::BearerAuth` | 利用者のトークン (ゲートウェイが発行するものと同じ形) |
//!
//! 公開 API:
//! - `PUT /api/v1/media/{id}/tags/{tag}` タグを付ける → `{position, version}`
//! - `DELETE /api/v1/media/{id}/tags/{tag}` タグを外す → `{position, version}`
//! - `GET /api/v1/media/{id}/tags?min_position=` メディアのタグ
//! - `GET /api/v1/tags/{tag}?min_position=` そのタグが付いた自分のメディア
//!
//! 実行:
//! - `cargo run -p mediahub-examples --example tags_service` — 自分でイベントストアを起動し、
//!   サービスをポート 0 で起動して、タグ付け → 読み取り → 誤った入力 → OpenAPI を確かめて終わります。
//! - `make run` の横で常駐させる: `JWT_SECRET=<make run と同じ 32 バイト以上>` で `make run` を
//!   起動し、別の端末で
//!   `MEDIAHUB_EVENTSTORE_URL=http://127.0.0.1:8084 JWT_SECRET=<同じ値> cargo run -p mediahub-examples --example tags_service -- --serve`
//!   (待ち受けは `127.0.0.1:8090`、Swagger UI は <http://127.0.0.1:8090/swagger>)。
//!   ゲートウェイの開発用ログインで得たトークンがそのまま使え、タグのイベントは UI のイベントタブにも流れます。

use std::sync::Arc;
use std::time::Duration;

use mediahub_core::envelope::{Envelope, EventMetadata};
use mediahub_core::ids::{MediaId, UserId};
use mediahub_examples::store::EventStoreTarget;
use mediahub_examples::tags::{MediaTags, TagsCommand, TagsEvent, normalize_tag};
use mediahub_services::consumer::{
    Consumer, ConsumerConfig, EventFilter, EventHandler, HandlerError, PositionWaiter,
    open_database, wait_problem,
};
use mediahub_services::platform::auth::{BearerAuth, acting_user};
use mediahub_services::platform::problem::Problem;
use mediahub_services::platform::schema::LogPosition;
use mediahub_services::platform::server::{
    self, DEFAULT_BODY_LIMIT, DEFAULT_GRACE, Readiness, ServiceInfo, Shutdown,
};
use mediahub_services::store_client::{AggregateCommands, RemoteEventRepository};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

type Error = Box<dyn std::error::Error>;

/// `--serve` のときの待ち受けアドレス (8 つのサービスの 8080〜8086 と重ならない)。
const SERVE_LISTEN: &str = "127.0.0.1:8090";

const SERVICE_INFO: ServiceInfo = ServiceInfo {
    name: "tags",
    title: "MediaHub Tags (example)",
    description: "メディアにタグを付けるサンプルのサービス。サービスの部品 (AggregateCommands・\
                  Consumer・build_app) だけで作っています。",
};

// ---- 読み側: MediaTags のイベントを media_tags 表へ ----

/// `MediaTags` のイベントを `media_tags (media_id, tag, owner_id)` に反映するプロジェクション。
struct TagsProjection;

impl EventHandler for TagsProjection {
    async fn handle(
        &self,
        tx: &mut SqliteConnection,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        match event.decode::<TagsEvent>().map_err(HandlerError::other)? {
            TagsEvent::TagAdded { owner_id, tag, .. } => {
                sqlx::query(
                    "INSERT OR IGNORE INTO media_tags (media_id, tag, owner_id) VALUES (?, ?, ?)",
                )
                .bind(&event.aggregate_id)
                .bind(tag)
                .bind(owner_id.to_string())
                .execute(&mut *tx)
                .await?;
            }
            TagsEvent::TagRemoved { tag } => {
                sqlx::query("DELETE FROM media_tags WHERE media_id = ? AND tag = ?")
                    .bind(&event.aggregate_id)
                    .bind(tag)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok(())
    }

    async fn reset(&self, tx: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query("DELETE FROM media_tags")
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    fn filter(&self) -> EventFilter {
        EventFilter::aggregate_types([<MediaTags as cqrs_es::Aggregate>::TYPE])
    }
}

// ---- state ----

struct TagsState {
    commands: AggregateCommands<MediaTags>,
    pool: SqlitePool,
    positions: PositionWaiter,
}

impl TagsState {
    async fn caught_up(&self, min_position: Option<LogPosition>) -> Result<(), Problem> {
        self.positions
            .wait(min_position.map(u64::from), Duration::from_secs(5))
            .await
            .map(drop)
            .map_err(|e| wait_problem(&e))
    }

    async fn execute(
        &self,
        media: Uuid,
        command: TagsCommand,
    ) -> Result<Json<TagsCommandResult>, Problem> {
        let metadata = EventMetadata {
            user_id: match &command {
                TagsCommand::AddTag { requested_by, .. }
                | TagsCommand::RemoveTag { requested_by, .. } => Some(*requested_by),
            },
            ..EventMetadata::default()
        };
        let outcome = self
            .commands
            .execute(&media.to_string(), None, || command.clone(), &metadata)
            .await
            .map_err(|e| e.problem())?;
        Ok(Json(TagsCommandResult {
            position: outcome.position(),
            version: outcome.version,
        }))
    }
}

fn db_problem(err: sqlx::Error) -> Problem {
    Problem::internal("tags.read_model", &err)
}

/// 利用者用トークンの利用者 (サービス用トークンは 403)。
fn user_of(auth: &BearerAuth) -> Result<UserId, Problem> {
    acting_user(&auth.0, None)?
        .ok_or_else(|| Problem::forbidden("tags.user_required", "利用者のトークンで呼んでください"))
}

// ---- routes ----

/// コマンドの結果。
#[derive(Debug, Object)]
struct TagsCommandResult {
    /// 最後に書いたイベントのグローバル位置 (クエリの `min_position` に渡す)。何も書かなければ 0。
    position: u64,
    /// コマンド後の集約の版。
    version: u64,
}

/// メディアのタグ。
#[derive(Debug, Object)]
struct MediaTagsView {
    /// メディア ID。
    media_id: Uuid,
    /// タグ (辞書順)。
    tags: Vec<String>,
}

/// タグが付いたメディア。
#[derive(Debug, Object)]
struct TaggedMedia {
    /// 正規化したタグ。
    tag: String,
    /// メディア ID (自分のものだけ)。
    media: Vec<Uuid>,
}

struct TagsApi(Arc<TagsState>);

#[OpenApi(prefix_path = "/api/v1")]
impl TagsApi {
    /// メディアにタグを付けます (前後の空白を除き小文字に。同じタグは何も書きません)。
    #[oai(path = "/media/:id/tags/:tag", method = "put")]
    async fn add_tag(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        tag: Path<String>,
    ) -> Result<Json<TagsCommandResult>, Problem> {
        let requested_by = user_of(&auth)?;
        let command = TagsCommand::AddTag {
            media_id: MediaId::from_uuid(id.0),
            requested_by,
            tag: tag.0,
        };
        self.0.execute(id.0, command).await
    }

    /// メディアからタグを外します。付いていなければ 409 `tags.not_tagged`。
    #[oai(path = "/media/:id/tags/:tag", method = "delete")]
    async fn remove_tag(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        tag: Path<String>,
    ) -> Result<Json<TagsCommandResult>, Problem> {
        let command = TagsCommand::RemoveTag {
            requested_by: user_of(&auth)?,
            tag: tag.0,
        };
        self.0.execute(id.0, command).await
    }

    /// メディアのタグ (自分のものだけ。`min_position` まで待ってから読みます)。
    #[oai(path = "/media/:id/tags", method = "get")]
    async fn media_tags(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        min_position: Query<Option<LogPosition>>,
    ) -> Result<Json<MediaTagsView>, Problem> {
        let user = user_of(&auth)?;
        self.0.caught_up(min_position.0).await?;
        let tags = sqlx::query_scalar(
            "SELECT tag FROM media_tags WHERE media_id = ? AND owner_id = ? ORDER BY tag",
        )
        .bind(id.0.to_string())
        .bind(user.to_string())
        .fetch_all(&self.0.pool)
        .await
        .map_err(db_problem)?;
        Ok(Json(MediaTagsView {
            media_id: id.0,
            tags,
        }))
    }

    /// タグが付いた自分のメディア (`min_position` まで待ってから読みます)。
    #[oai(path = "/tags/:tag", method = "get")]
    async fn tagged(
        &self,
        auth: BearerAuth,
        tag: Path<String>,
        min_position: Query<Option<LogPosition>>,
    ) -> Result<Json<TaggedMedia>, Problem> {
        let user = user_of(&auth)?;
        let tag = normalize_tag(&tag.0)
            .map_err(|e| mediahub_services::store_client::domain_problem(&e))?;
        self.0.caught_up(min_position.0).await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT media_id FROM media_tags WHERE tag = ? AND owner_id = ? ORDER BY media_id",
        )
        .bind(&tag)
        .bind(user.to_string())
        .fetch_all(&self.0.pool)
        .await
        .map_err(db_problem)?;
        let media = ids.iter().filter_map(|id| id.parse().ok()).collect();
        Ok(Json(TaggedMedia { tag, media }))
    }
}

// ---- run: 起動して、使ってみる ----

#[tokio::main]
async fn main() -> Result<(), Error> {
    let serve = std::env::args().any(|a| a == "--serve");
    let dir = tempfile::tempdir()?;
    let store = EventStoreTarget::from_env_or_start(dir.path()).await?;
    let client = store.client(SERVICE_INFO.name)?;

    // config → state
    let pool = open_database(&dir.path().join("tags.db")).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS media_tags (
             media_id TEXT NOT NULL, tag TEXT NOT NULL, owner_id TEXT NOT NULL,
             PRIMARY KEY (media_id, tag))",
    )
    .execute(&pool)
    .await?;
    let consumer = Consumer::open(
        "tags",
        pool.clone(),
        client.clone(),
        TagsProjection,
        ConsumerConfig::default(),
    )
    .await?;
    let state = Arc::new(TagsState {
        commands: AggregateCommands::new(RemoteEventRepository::new(client.clone()), ()),
        pool: pool.clone(),
        positions: PositionWaiter::new(consumer.subscribe(), client),
    });
    // routes
    let readiness = Readiness::new();
    let app = server::build_app(
        TagsApi(Arc::clone(&state)),
        &SERVICE_INFO,
        readiness.clone(),
        store.keys.clone(),
        DEFAULT_BODY_LIMIT,
    );
    // run
    let shutdown = Shutdown::new();
    let listen = if serve { SERVE_LISTEN } else { "127.0.0.1:0" };
    let listener = server::bind(listen).await?;
    let http = server::spawn_server(
        listener,
        app,
        SERVICE_INFO.name,
        shutdown.clone(),
        DEFAULT_GRACE,
    )?;
    let consumer_task = consumer.spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.wait().await }
    });
    readiness.set_ready(true);
    println!(
        "tags サービス: {} (Swagger UI: {}/swagger)",
        http.base_url(),
        http.base_url()
    );

    if serve {
        println!("Ctrl-C で止まります");
        server::trigger_on_signal(shutdown.clone()).await?;
    } else {
        demo(&http.base_url(), &store).await?;
        shutdown.trigger();
    }
    http.wait().await?;
    consumer_task.await?;
    pool.close().await;
    store.stop().await?;
    Ok(())
}

/// 本物の HTTP でサービスを使い、答えを表示して確かめます。
async fn demo(base: &str, store: &EventStoreTarget) -> Result<(), Error> {
    let http = mediahub_services::platform::http_client::builder().build()?;
    let alice = store.keys.issue_user_token(UserId::new_random())?;
    let media = Uuid::new_v4();

    let mut last = 0;
    for tag in ["Sunset", "beach", "sunset"] {
        let res = http
            .put(format!("{base}/api/v1/media/{media}/tags/{tag}"))
            .bearer_auth(&alice)
            .send()
            .await?;
        let status = res.status();
        let body: serde_json::Value = res.json().await?;
        println!("PUT  …/tags/{tag:<7} → {status} {body}");
        assert!(status.is_success(), "{body}");
        last = last.max(body["position"].as_u64().unwrap_or(0));
    }

    let tags: serde_json::Value = http
        .get(format!(
            "{base}/api/v1/media/{media}/tags?min_position={last}"
        ))
        .bearer_auth(&alice)
        .send()
        .await?
        .json()
        .await?;
    println!("GET  …/media/{{id}}/tags?min_position={last} → {tags}");
    assert_eq!(tags["tags"], serde_json::json!(["beach", "sunset"]));

    let tagged: serde_json::Value = http
        .get(format!("{base}/api/v1/tags/SUNSET?min_position={last}"))
        .bearer_auth(&alice)
        .send()
        .await?
        .json()
        .await?;
    println!("GET  /api/v1/tags/SUNSET → {tagged}");
    assert_eq!(tagged["media"], serde_json::json!([media.to_string()]));

    // 誤った入力は problem+json で、何も書かない
    let bad = http
        .put(format!("{base}/api/v1/media/{media}/tags/two%20words"))
        .bearer_auth(&alice)
        .send()
        .await?;
    let status = bad.status();
    let content_type = bad
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let problem: serde_json::Value = bad.json().await?;
    println!(
        "PUT  …/tags/two%20words → {status} {content_type} code={}",
        problem["code"]
    );
    assert_eq!(
        (status.as_u16(), problem["code"].as_str()),
        (400, Some("tags.invalid_tag"))
    );
    let bob = store.keys.issue_user_token(UserId::new_random())?;
    let other = http
        .delete(format!("{base}/api/v1/media/{media}/tags/beach"))
        .bearer_auth(&bob)
        .send()
        .await?;
    println!("DELETE (他人) …/tags/beach → {}", other.status());
    assert_eq!(other.status().as_u16(), 404);

    let doc: serde_json::Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    let paths: Vec<&String> = doc["paths"]
        .as_object()
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    println!("/openapi.json のパス: {paths:?}");
    assert!(paths.iter().any(|p| p.as_str() == "/api/v1/tags/{tag}"));
    let swagger = http.get(format!("{base}/swagger")).send().await?;
    println!("/swagger → {}", swagger.status());
    assert!(swagger.status().is_success());
    Ok(())
}
