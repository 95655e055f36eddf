//! Media 集約のイベントから読みモデル (`media` 表と全文検索の索引) を作るプロジェクション。
//!
//! 購読ランナー ([`crate::consumer::Consumer`]) が、Media のイベントを位置の順に 1 ページずつ
//! [`MediaProjection`] へ渡します。書き込みはランナーのトランザクションの中で行われ、
//! 同じトランザクションでチェックポイントが進むので、反映は **ちょうど一回** です。
//!
//! ## ページ単位の畳み込み
//!
//! イベントごとに SQLite へ書くと、1 件ごとに接続のスレッドとの往復が起き、作り直し
//! (数万件の再生) がその往復で律速されます。そこでランナーが渡す 1 ページ
//! ([`EventHandler::handle_page`]) を、集約の `apply` と同じように **メモリで畳み込んで** から
//! 書きます:
//!
//! 1. ページに出てくるメディアのうち、ページの中に `MediaUploaded` が無いもの (前のページで
//!    作られた行) を、`IN (...)` の 1 回の問い合わせでまとめて読む。
//! 2. イベントを位置の順に行へ当てる (`MediaRow::apply`)。版がすでに行の版以下のイベントは
//!    何もしない (版の番人)。
//! 3. 変わった行を、複数行の upsert (`INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE
//!    excluded.version > media.version`) でまとめて書く。
//!
//! 同じイベントをもう一度渡されても壊れません (冪等): 版の番人がメモリでも SQL でも効くので、
//! 一件ずつ反映したときと同じ行になります (テスト
//! `page_of_interleaved_and_repeated_events_equals_applying_them_one_by_one`)。
//! 全文検索の索引 (`media_fts`) は `media` のトリガーが同期させます (ファイル名は変わらないので
//! 更新では索引を書き直しません)。
//!
//! | イベント | 読みモデルの変化 |
//! |---|---|
//! | `MediaUploaded` | 行を作る (`uploaded`) |
//! | `MediaProcessed` | 幅・高さ・長さ・サムネイルあり (`processed`) |
//! | `MediaProcessingFailed` | 理由 (`failed`) |
//! | `MediaDeleted` | `deleted` (行は残し、一覧では既定で隠す) |
//! | `MediaInvalidated` | 理由 (`invalidated`) |

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use mediahub_core::envelope::Envelope;
use mediahub_core::media::{MediaEvent, MediaStatus};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::consumer::{EventFilter, EventHandler, HandlerError, PageError};

/// 購読者の名前 (チェックポイント表の `consumer`)。
pub const CONSUMER_NAME: &str = "media-query";

/// `media` 表の列 ([`MediaRow`] の欄と同じ順)。
const ROW_COLUMNS: &str = "id, owner_id, filename, content_type, kind, size, sha256, status, \
     width, height, duration_ms, has_thumbnail, failure_reason, version, position, \
     created_position, correlation_id, created_at, updated_at";

/// 1 回の SQL 文で読み書きする行の最大数 (SQLite の変数の上限 32,766 に収まるように:
/// 19 列 × 500 行 = 9,500 個)。
const ROWS_PER_STATEMENT: usize = 500;

/// 読みモデルに書く時刻の形 (RFC 3339、UTC、マイクロ秒)。
fn format_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn to_db(value: u64) -> Result<i64, HandlerError> {
    i64::try_from(value).map_err(HandlerError::other)
}

/// `MediaUploaded` 以外のイベントが行に加える変化。`None` の欄は変えません。
#[derive(Debug, Default)]
struct Patch {
    status: Option<MediaStatus>,
    width: Option<u32>,
    height: Option<u32>,
    duration_ms: Option<u64>,
    has_thumbnail: bool,
    failure_reason: Option<String>,
}

impl Patch {
    fn of(event: MediaEvent) -> Self {
        match event {
            MediaEvent::MediaUploaded { .. } => Self::default(),
            MediaEvent::MediaProcessed {
                width,
                height,
                duration_ms,
                ..
            } => Self {
                status: Some(MediaStatus::Processed),
                width: Some(width),
                height: Some(height),
                duration_ms,
                has_thumbnail: true,
                failure_reason: None,
            },
            MediaEvent::MediaProcessingFailed { reason } => Self {
                status: Some(MediaStatus::Failed),
                failure_reason: Some(reason),
                ..Self::default()
            },
            MediaEvent::MediaDeleted { .. } => Self {
                status: Some(MediaStatus::Deleted),
                ..Self::default()
            },
            MediaEvent::MediaInvalidated { reason } => Self {
                status: Some(MediaStatus::Invalidated),
                failure_reason: Some(reason),
                ..Self::default()
            },
        }
    }
}

/// `media` 表の 1 行。ページを畳み込む間はメモリに持ちます。
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
struct MediaRow {
    id: String,
    owner_id: String,
    filename: String,
    content_type: String,
    kind: String,
    size: i64,
    sha256: String,
    status: String,
    width: Option<i64>,
    height: Option<i64>,
    duration_ms: Option<i64>,
    has_thumbnail: bool,
    failure_reason: Option<String>,
    version: i64,
    position: i64,
    created_position: i64,
    correlation_id: Option<String>,
    created_at: String,
    updated_at: String,
}

impl MediaRow {
    /// `MediaUploaded` から作る行 (`uploaded`)。ほかのイベントなら `None`。
    fn uploaded(event: &Envelope, decoded: MediaEvent) -> Result<Option<Self>, HandlerError> {
        let MediaEvent::MediaUploaded {
            media_id,
            owner_id,
            filename,
            content_type,
            size_bytes,
            sha256,
            kind,
            ..
        } = decoded
        else {
            return Ok(None);
        };
        let at = format_time(&event.created_at);
        let position = to_db(event.position)?;
        Ok(Some(Self {
            id: media_id.to_string(),
            owner_id: owner_id.to_string(),
            filename,
            content_type,
            kind: kind.as_str().to_owned(),
            size: to_db(size_bytes)?,
            sha256,
            status: MediaStatus::Uploaded.as_str().to_owned(),
            width: None,
            height: None,
            duration_ms: None,
            has_thumbnail: false,
            failure_reason: None,
            version: to_db(event.version)?,
            position,
            created_position: position,
            correlation_id: event.metadata.correlation_id.map(|c| c.to_string()),
            created_at: at.clone(),
            updated_at: at,
        }))
    }

    /// `MediaUploaded` 以外のイベントを当てます。イベントの版が行の版以下なら (反映済み)
    /// 何もせず `false` を返します。
    fn apply(&mut self, event: &Envelope, patch: Patch) -> Result<bool, HandlerError> {
        let version = to_db(event.version)?;
        if version <= self.version {
            return Ok(false);
        }
        if let Some(status) = patch.status {
            status.as_str().clone_into(&mut self.status);
        }
        if let Some(width) = patch.width {
            self.width = Some(i64::from(width));
        }
        if let Some(height) = patch.height {
            self.height = Some(i64::from(height));
        }
        if let Some(duration_ms) = patch.duration_ms {
            self.duration_ms = Some(to_db(duration_ms)?);
        }
        self.has_thumbnail |= patch.has_thumbnail;
        if patch.failure_reason.is_some() {
            self.failure_reason = patch.failure_reason;
        }
        self.version = version;
        self.position = to_db(event.position)?;
        self.updated_at = format_time(&event.created_at);
        Ok(true)
    }
}

/// ページを畳み込んだ結果: 変わった行 (最初に変わった順) と、その行を最初に変えたイベント。
#[derive(Default)]
struct Folded<'a> {
    rows: HashMap<String, MediaRow>,
    changed: Vec<(String, &'a Envelope)>,
}

impl<'a> Folded<'a> {
    fn mark_changed(&mut self, id: &str, event: &'a Envelope) {
        if !self.changed.iter().any(|(changed, _)| changed == id) {
            self.changed.push((id.to_owned(), event));
        }
    }
}

/// Media のイベントを `media` 表に反映するプロジェクション。
#[derive(Debug, Clone, Copy, Default)]
pub struct MediaProjection;

impl MediaProjection {
    /// ページに出てくるメディアのうち、ページの中で作られないものの行を読みます。
    async fn load_existing(
        tx: &mut SqliteConnection,
        decoded: &[(&Envelope, MediaEvent)],
    ) -> Result<HashMap<String, MediaRow>, HandlerError> {
        let mut created_here: Vec<&str> = Vec::new();
        let mut wanted: Vec<&str> = Vec::new();
        for (event, decoded) in decoded {
            let id = event.aggregate_id.as_str();
            if matches!(decoded, MediaEvent::MediaUploaded { .. }) {
                created_here.push(id);
            } else if !created_here.contains(&id) && !wanted.contains(&id) {
                wanted.push(id);
            }
        }
        let mut rows = HashMap::with_capacity(wanted.len());
        for chunk in wanted.chunks(ROWS_PER_STATEMENT) {
            let mut query: QueryBuilder<Sqlite> =
                QueryBuilder::new(format!("SELECT {ROW_COLUMNS} FROM media WHERE id IN ("));
            let mut ids = query.separated(", ");
            for id in chunk {
                ids.push_bind(*id);
            }
            query.push(")");
            let loaded: Vec<MediaRow> = query.build_query_as().fetch_all(&mut *tx).await?;
            rows.extend(loaded.into_iter().map(|row| (row.id.clone(), row)));
        }
        Ok(rows)
    }

    /// イベントを位置の順に行へ当てます。
    fn fold<'a>(
        existing: HashMap<String, MediaRow>,
        decoded: Vec<(&'a Envelope, MediaEvent)>,
    ) -> Result<Folded<'a>, PageError> {
        let mut folded = Folded {
            rows: existing,
            changed: Vec::new(),
        };
        for (event, decoded) in decoded {
            let id = event.aggregate_id.as_str();
            if let Some(row) = folded.rows.get_mut(id) {
                if row
                    .apply(event, Patch::of(decoded))
                    .map_err(|source| PageError::at(event, source))?
                {
                    folded.mark_changed(id, event);
                }
            } else if let Some(row) =
                MediaRow::uploaded(event, decoded).map_err(|source| PageError::at(event, source))?
            {
                folded.rows.insert(row.id.clone(), row);
                folded.mark_changed(id, event);
            } else {
                tracing::debug!(
                    media_id = id,
                    version = event.version,
                    "MediaUploaded の無いメディアのイベントなので何もしません"
                );
            }
        }
        Ok(folded)
    }

    /// 変わった行をまとめて書きます。行がすでにあれば、版が進むときだけ変わる欄を更新します。
    async fn upsert(tx: &mut SqliteConnection, folded: &Folded<'_>) -> Result<(), PageError> {
        for chunk in folded.changed.chunks(ROWS_PER_STATEMENT) {
            let mut query: QueryBuilder<Sqlite> =
                QueryBuilder::new(format!("INSERT INTO media ({ROW_COLUMNS}) "));
            query.push_values(
                chunk.iter().filter_map(|(id, _)| folded.rows.get(id)),
                |mut values, row| {
                    values
                        .push_bind(&row.id)
                        .push_bind(&row.owner_id)
                        .push_bind(&row.filename)
                        .push_bind(&row.content_type)
                        .push_bind(&row.kind)
                        .push_bind(row.size)
                        .push_bind(&row.sha256)
                        .push_bind(&row.status)
                        .push_bind(row.width)
                        .push_bind(row.height)
                        .push_bind(row.duration_ms)
                        .push_bind(row.has_thumbnail)
                        .push_bind(&row.failure_reason)
                        .push_bind(row.version)
                        .push_bind(row.position)
                        .push_bind(row.created_position)
                        .push_bind(&row.correlation_id)
                        .push_bind(&row.created_at)
                        .push_bind(&row.updated_at);
                },
            );
            query.push(
                " ON CONFLICT (id) DO UPDATE SET
                    status = excluded.status,
                    width = excluded.width,
                    height = excluded.height,
                    duration_ms = excluded.duration_ms,
                    has_thumbnail = excluded.has_thumbnail,
                    failure_reason = excluded.failure_reason,
                    version = excluded.version,
                    position = excluded.position,
                    updated_at = excluded.updated_at
                  WHERE excluded.version > media.version",
            );
            if let Err(err) = query.build().execute(&mut *tx).await {
                let (_, first) = chunk[0];
                return Err(PageError::at(first, err.into()));
            }
        }
        Ok(())
    }
}

impl EventHandler for MediaProjection {
    async fn handle(
        &self,
        tx: &mut SqliteConnection,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        self.handle_page(tx, &[event])
            .await
            .map_err(|failed| failed.source)
    }

    async fn handle_page(
        &self,
        tx: &mut SqliteConnection,
        events: &[&Envelope],
    ) -> Result<(), PageError> {
        let decoded = events
            .iter()
            .map(|event| {
                event
                    .decode::<MediaEvent>()
                    .map(|decoded| (*event, decoded))
                    .map_err(|err| PageError::at(event, err.into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let Some((first, _)) = decoded.first() else {
            return Ok(());
        };
        let first = *first;
        let existing = Self::load_existing(tx, &decoded)
            .await
            .map_err(|source| PageError::at(first, source))?;
        let folded = Self::fold(existing, decoded)?;
        Self::upsert(tx, &folded).await
    }

    async fn reset(&self, tx: &mut SqliteConnection) -> Result<(), HandlerError> {
        // 削除のトリガーが全文検索の索引からも消します。
        sqlx::query("DELETE FROM media").execute(&mut *tx).await?;
        Ok(())
    }

    fn filter(&self) -> EventFilter {
        EventFilter::aggregate_types(["Media"])
    }
}

#[cfg(test)]
mod tests {
    use mediahub_core::ids::{MediaId, UserId};
    use mediahub_core::media::DeletionReason;
    use sqlx::SqlitePool;
    use tempfile::TempDir;

    use super::*;
    use crate::consumer::test_log::{TestLog, media_uploaded};
    use crate::media_query::db::{self, ListFilter};
    use crate::media_query::search::match_expression;

    struct Fixture {
        _dir: TempDir,
        pool: SqlitePool,
        owner: UserId,
        media: MediaId,
        log: TestLog,
    }

    impl Fixture {
        async fn new() -> Self {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let pool = db::open(&dir.path().join("nested/read.db"))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            Self {
                _dir: dir,
                pool,
                owner: UserId::new_random(),
                media: MediaId::new_random(),
                log: TestLog::default(),
            }
        }

        /// このフィクスチャのメディアのイベントを、次の位置と版で作ります。
        fn envelope(&mut self, event: &MediaEvent) -> Envelope {
            self.log.push("Media", self.media, event);
            self.log
                .events
                .last()
                .cloned()
                .unwrap_or_else(|| panic!("イベントがありません"))
        }

        fn uploaded(&self, filename: &str) -> MediaEvent {
            media_uploaded(self.media, self.owner, filename)
        }

        async fn apply(&self, envelope: &Envelope) {
            let mut tx = self.pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
            MediaProjection
                .handle(&mut tx, envelope)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
        }

        async fn count(&self, sql: &str) -> i64 {
            let (count,): (i64,) = sqlx::query_as(sql)
                .fetch_one(&self.pool)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            count
        }

        async fn view(&self) -> Option<crate::media_query::MediaView> {
            db::get(&self.pool, self.owner, self.media)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }

        async fn search(&self, q: &str) -> usize {
            let filter = ListFilter {
                matching: match_expression(q),
                limit: 10,
                ..ListFilter::default()
            };
            db::list(&self.pool, self.owner, &filter)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .0
                .len()
        }
    }

    fn processed(width: u32) -> MediaEvent {
        MediaEvent::MediaProcessed {
            thumbnail_key: "t".into(),
            width,
            height: 100,
            duration_ms: None,
        }
    }

    async fn apply_page(pool: &SqlitePool, events: &[&Envelope]) {
        let mut tx = pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
        MediaProjection
            .handle_page(&mut tx, events)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
    }

    async fn all_rows(pool: &SqlitePool) -> Vec<MediaRow> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM media ORDER BY pk");
        sqlx::query_as(&sql)
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn page_of_interleaved_and_repeated_events_equals_applying_them_one_by_one() {
        let owner = UserId::new_random();
        let (a, b, c) = (
            MediaId::new_random(),
            MediaId::new_random(),
            MediaId::new_random(),
        );
        let mut log = TestLog::default();
        log.push("Media", a, &media_uploaded(a, owner, "a.jpg"));
        log.push("Media", b, &media_uploaded(b, owner, "b.jpg"));
        log.push("Media", a, &processed(640));
        log.push("Media", c, &media_uploaded(c, owner, "c.jpg"));
        log.push(
            "Media",
            b,
            &MediaEvent::MediaProcessingFailed {
                reason: "壊れています".into(),
            },
        );
        log.push(
            "Media",
            a,
            &MediaEvent::MediaDeleted {
                reason: DeletionReason::User,
            },
        );
        log.push(
            "Media",
            b,
            &MediaEvent::MediaInvalidated {
                reason: "補償".into(),
            },
        );
        // 同じイベントの再配達 (古い版を含む) を後ろに足す。
        let mut delivered: Vec<&Envelope> = log.events.iter().collect();
        delivered.extend([&log.events[0], &log.events[2], &log.events[4]]);

        let one_by_one = Fixture::new().await;
        for event in &delivered {
            apply_page(&one_by_one.pool, &[event]).await;
        }
        let one_page = Fixture::new().await;
        apply_page(&one_page.pool, &delivered).await;
        let two_pages = Fixture::new().await;
        apply_page(&two_pages.pool, &delivered[..3]).await;
        apply_page(&two_pages.pool, &delivered[3..]).await;

        let expected = all_rows(&one_by_one.pool).await;
        assert_eq!(
            expected
                .iter()
                .map(|r| (r.filename.as_str(), r.status.as_str(), r.version))
                .collect::<Vec<_>>(),
            [
                ("a.jpg", "deleted", 3),
                ("b.jpg", "invalidated", 3),
                ("c.jpg", "uploaded", 1)
            ]
        );
        assert_eq!(expected[0].width, Some(640));
        assert_eq!(expected[1].failure_reason.as_deref(), Some("補償"));
        assert_eq!(all_rows(&one_page.pool).await, expected);
        assert_eq!(all_rows(&two_pages.pool).await, expected);
    }

    #[tokio::test]
    async fn page_of_1200_uploads_over_three_statements_inserts_1200_searchable_rows() {
        let owner = UserId::new_random();
        let mut log = TestLog::default();
        for n in 0..1200 {
            let media = MediaId::new_random();
            log.push(
                "Media",
                media,
                &media_uploaded(media, owner, &format!("photo-{n}.jpg")),
            );
        }
        let f = Fixture::new().await;
        let page: Vec<&Envelope> = log.events.iter().collect();
        apply_page(&f.pool, &page).await;
        assert_eq!(f.count("SELECT COUNT(*) FROM media").await, 1200);
        let indexed = "SELECT COUNT(*) FROM media_fts WHERE media_fts MATCH '\"photo\"*'";
        assert_eq!(f.count(indexed).await, 1200);
    }

    #[tokio::test]
    async fn event_of_media_without_uploaded_row_changes_nothing() {
        let mut log = TestLog::default();
        let media = MediaId::new_random();
        log.push(
            "Media",
            media,
            &media_uploaded(media, UserId::new_random(), "x.jpg"),
        );
        log.push("Media", media, &processed(10));
        let f = Fixture::new().await;
        apply_page(&f.pool, &[&log.events[1]]).await;
        assert_eq!(f.count("SELECT COUNT(*) FROM media").await, 0);
    }

    #[tokio::test]
    async fn reapplying_every_event_twice_leaves_the_same_single_row() {
        let mut f = Fixture::new().await;
        let events = [
            f.uploaded("sunset.jpg"),
            MediaEvent::MediaProcessed {
                thumbnail_key: "t".into(),
                width: 640,
                height: 427,
                duration_ms: None,
            },
            MediaEvent::MediaDeleted {
                reason: DeletionReason::User,
            },
        ];
        let envelopes: Vec<Envelope> = events.iter().map(|e| f.envelope(e)).collect();
        for envelope in envelopes.iter().chain(envelopes.iter()) {
            f.apply(envelope).await;
        }
        let view = f.view().await.unwrap_or_else(|| panic!("行が無い"));
        assert_eq!(
            (view.status.as_str(), view.version, view.width, view.height),
            ("deleted", 3, Some(640), Some(427))
        );
        assert_eq!(view.position, 3);
        // 古い版 (2) をもう一度渡しても状態は戻らない。
        f.apply(&envelopes[1]).await;
        assert_eq!(f.view().await.map(|v| v.status), Some("deleted".into()));
        assert_eq!(f.count("SELECT COUNT(*) FROM media").await, 1);
    }

    #[tokio::test]
    async fn fts_index_follows_insert_and_reset_and_hostile_queries_do_not_error() {
        let mut f = Fixture::new().await;
        let uploaded = f.uploaded("sunset-640x427.jpg");
        let envelope = f.envelope(&uploaded);
        f.apply(&envelope).await;
        assert_eq!(f.search("sun").await, 1);
        assert_eq!(f.search("640x").await, 1);
        assert_eq!(f.search("moon").await, 0);
        for hostile in ["\"", "*", "OR", "sun\" OR \"x", "NEAR(sun", "a:b", "^sun"] {
            f.search(hostile).await;
        }
        let mut tx = f.pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
        MediaProjection
            .reset(&mut tx)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.search("sun").await, 0);
        let indexed = "SELECT COUNT(*) FROM media_fts WHERE media_fts MATCH '\"sun\"*'";
        assert_eq!(f.count(indexed).await, 0);
    }

    #[tokio::test]
    async fn failed_then_invalidated_keep_latest_reason_and_no_thumbnail() {
        let mut f = Fixture::new().await;
        let events = [
            f.uploaded("x.jpg"),
            MediaEvent::MediaProcessingFailed {
                reason: "壊れています".into(),
            },
            MediaEvent::MediaInvalidated {
                reason: "アルバムに追加できません".into(),
            },
        ];
        for event in &events {
            let envelope = f.envelope(event);
            f.apply(&envelope).await;
        }
        let view = f.view().await.unwrap_or_else(|| panic!("行が無い"));
        assert_eq!(view.status, "invalidated");
        assert_eq!(
            view.failure_reason.as_deref(),
            Some("アルバムに追加できません")
        );
        assert_eq!(view.thumbnail_url, None);
        assert!(
            db::get(&f.pool, UserId::new_random(), f.media)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none()
        );
    }
}
