//! 射影: Album と Media のイベントを album サービスの読みモデルに反映するハンドラ。
//!
//! - Album のイベント → `albums` と `album_media`
//! - Media のイベント → `media_owners` (メディアの所有者と状態。album サービス自身の射影)
//! - `MediaDeleted` / `MediaInvalidated` → そのメディアを持つすべてのアルバムについて
//!   `pending_removals` に「外す予定」を記録します。削除済みのメディアが後から追加された
//!   (射影が遅れていた間の追加) ときも同じく記録します。
//!
//! 予定の実行 (`RemoveMedia` コマンド) は、ここではなく [`super::reactor`] がコミットの後に
//! 行います。射影のトランザクションの中で HTTP を呼ぶと、失敗や再試行のたびに読みモデルの
//! 更新全体が巻き戻り、しかも副作用は巻き戻せないためです。予定の行は読みモデルと同じ
//! トランザクションで書かれるので、「イベントは反映したのに予定が失われた」は起こりません。
//!
//! ## ページの中で続いた改名はまとめて 1 文で
//!
//! ランナーが渡す 1 ページ ([`EventHandler::handle_page`]) の中で続いた `AlbumRenamed` は、
//! アルバムごとに最後の改名へ畳み込んでから、複数行の `UPDATE ... FROM (VALUES ...)` の 1 文で
//! 書きます (SQLite の接続のスレッドとの往復は文ごとに 1 回で、改名が続く負荷ではその往復が
//! 射影の費用の大半でした)。改名が変えるのは名前・更新時刻・版の 3 列だけで、どれも後の改名が
//! 上書きするので、一件ずつ書いたときと同じ行になります。改名以外のイベントの前では、それまでに
//! 溜めた改名を先に書くので、イベントの順番も変わりません (テスト
//! `page_of_renames_interleaved_with_other_events_equals_applying_them_one_by_one`)。

use std::collections::HashMap;

use chrono::SecondsFormat;
use cqrs_es::Aggregate;
use mediahub_core::album::{Album, AlbumEvent};
use mediahub_core::envelope::Envelope;
use mediahub_core::ids::MediaId;
use mediahub_core::media::{Media, MediaEvent, MediaStatus};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::consumer::{EventFilter, EventHandler, HandlerError, PageError};

/// album サービスの射影 (購読者名は [`CONSUMER_NAME`])。
#[derive(Debug, Clone, Copy, Default)]
pub struct AlbumProjection;

/// 購読者の名前 (チェックポイント表のキー)。
pub const CONSUMER_NAME: &str = "album";

/// 1 回の `UPDATE` でまとめて書く改名の最大数 (media-query の射影の 1 文の行数と同じ 500 行。
/// 1 行 4 個で 2,000 個の変数になり、SQLite の上限 32,766 より十分少ない)。
const RENAMES_PER_STATEMENT: usize = 500;

/// 射影がイベントを読めなかった理由。
#[derive(Debug, thiserror::Error)]
enum ProjectionError {
    #[error("メディアの集約 ID {0:?} が UUID ではありません")]
    MediaId(String),
    #[error("値 {0} は SQLite の整数に収まりません")]
    OutOfRange(u64),
}

fn db_int(value: u64) -> Result<i64, HandlerError> {
    i64::try_from(value).map_err(|_| HandlerError::other(ProjectionError::OutOfRange(value)))
}

/// イベントの位置・版・時刻・原因の情報。
struct Stamp<'a> {
    event: &'a Envelope,
    at: String,
    position: i64,
    version: i64,
}

impl<'a> Stamp<'a> {
    fn of(event: &'a Envelope) -> Result<Self, HandlerError> {
        Ok(Self {
            event,
            at: event
                .created_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            position: db_int(event.position)?,
            version: db_int(event.version)?,
        })
    }
}

impl EventHandler for AlbumProjection {
    async fn handle(
        &self,
        tx: &mut SqliteConnection,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        let stamp = Stamp::of(event)?;
        match event.aggregate_type.as_str() {
            Album::TYPE => apply_album(tx, &stamp, event.decode()?).await,
            Media::TYPE => {
                let media_id: MediaId = event.aggregate_id.parse().map_err(|_| {
                    HandlerError::other(ProjectionError::MediaId(event.aggregate_id.clone()))
                })?;
                apply_media(tx, &stamp, media_id, event.decode()?).await
            }
            _ => Ok(()),
        }
    }

    async fn handle_page(
        &self,
        tx: &mut SqliteConnection,
        events: &[&Envelope],
    ) -> Result<(), PageError> {
        let mut renames = PendingRenames::default();
        for &event in events {
            let failed = |source: HandlerError| PageError::at(event, source);
            if event.aggregate_type != Album::TYPE {
                renames.flush(tx).await?;
                self.handle(tx, event).await.map_err(failed)?;
                continue;
            }
            let stamp = Stamp::of(event).map_err(failed)?;
            match event.decode().map_err(|err| failed(err.into()))? {
                AlbumEvent::AlbumRenamed { name } => renames.push(&stamp, name),
                other => {
                    renames.flush(tx).await?;
                    apply_album(tx, &stamp, other).await.map_err(failed)?;
                }
            }
        }
        renames.flush(tx).await
    }

    async fn reset(&self, tx: &mut SqliteConnection) -> Result<(), HandlerError> {
        for table in ["pending_removals", "album_media", "albums", "media_owners"] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }

    fn filter(&self) -> EventFilter {
        EventFilter::aggregate_types([Album::TYPE, Media::TYPE])
    }
}

async fn touch(tx: &mut SqliteConnection, stamp: &Stamp<'_>) -> Result<(), HandlerError> {
    sqlx::query("UPDATE albums SET updated_at = ?, version = ? WHERE id = ?")
        .bind(&stamp.at)
        .bind(stamp.version)
        .bind(&stamp.event.aggregate_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// 改名の後の 1 行分の値 (名前と、`touch` が書く更新時刻・版)。
struct RenamedRow<'a> {
    album_id: &'a str,
    name: String,
    at: String,
    version: i64,
}

impl<'a> RenamedRow<'a> {
    fn of(stamp: &Stamp<'a>, name: String) -> Self {
        Self {
            album_id: stamp.event.aggregate_id.as_str(),
            name,
            at: stamp.at.clone(),
            version: stamp.version,
        }
    }
}

/// ページの中で続いた改名を、アルバムごとに最後の改名へ畳み込みながら溜めたもの。
#[derive(Default)]
struct PendingRenames<'a> {
    /// 溜めた最初の改名 (書き込みに失敗したときに報告するイベント)。
    first: Option<&'a Envelope>,
    /// アルバムごとの最後の値 (最初に出てきた順)。
    rows: Vec<RenamedRow<'a>>,
    /// アルバム ID → `rows` の添字。
    index: HashMap<&'a str, usize>,
}

impl<'a> PendingRenames<'a> {
    /// 改名を溜めます (同じアルバムの前の改名は、この改名の値で上書きします)。
    fn push(&mut self, stamp: &Stamp<'a>, name: String) {
        self.first.get_or_insert(stamp.event);
        let row = RenamedRow::of(stamp, name);
        match self.index.get(row.album_id) {
            Some(&at) => self.rows[at] = row,
            None => {
                self.index.insert(row.album_id, self.rows.len());
                self.rows.push(row);
            }
        }
    }

    /// 溜めた改名を書いて、空に戻ります (失敗は溜めた最初の改名のイベントで報告します)。
    async fn flush(&mut self, tx: &mut SqliteConnection) -> Result<(), PageError> {
        let Some(first) = self.first.take() else {
            return Ok(());
        };
        let rows = std::mem::take(&mut self.rows);
        self.index.clear();
        write_renames(tx, &rows)
            .await
            .map_err(|source| PageError::at(first, source))
    }
}

/// 改名の後の値を書きます。1 行なら準備済みの 1 行の `UPDATE`、2 行以上なら
/// [`RENAMES_PER_STATEMENT`] 行ずつ `UPDATE ... FROM (VALUES ...)` の 1 文で
/// (行数ごとに文が変わるので、準備済みの文として覚えておきません)。
async fn write_renames(
    tx: &mut SqliteConnection,
    rows: &[RenamedRow<'_>],
) -> Result<(), HandlerError> {
    if let [row] = rows {
        sqlx::query("UPDATE albums SET name = ?, updated_at = ?, version = ? WHERE id = ?")
            .bind(&row.name)
            .bind(&row.at)
            .bind(row.version)
            .bind(row.album_id)
            .execute(&mut *tx)
            .await?;
        return Ok(());
    }
    for chunk in rows.chunks(RENAMES_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "UPDATE albums SET name = v.column2, updated_at = v.column3, version = v.column4 FROM (",
        );
        query.push_values(chunk, |mut values, row| {
            values
                .push_bind(row.album_id)
                .push_bind(&row.name)
                .push_bind(&row.at)
                .push_bind(row.version);
        });
        query.push(") AS v WHERE albums.id = v.column1");
        query.build().persistent(false).execute(&mut *tx).await?;
    }
    Ok(())
}

async fn apply_album(
    tx: &mut SqliteConnection,
    stamp: &Stamp<'_>,
    event: AlbumEvent,
) -> Result<(), HandlerError> {
    let album_id = stamp.event.aggregate_id.as_str();
    match event {
        AlbumEvent::AlbumCreated {
            owner_id,
            name,
            is_default,
            ..
        } => {
            sqlx::query(
                "INSERT INTO albums
                    (id, owner_id, name, is_default, created_at, updated_at, version, created_position)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(album_id)
            .bind(owner_id.to_string())
            .bind(name)
            .bind(is_default)
            .bind(&stamp.at)
            .bind(&stamp.at)
            .bind(stamp.version)
            .bind(stamp.position)
            .execute(&mut *tx)
            .await?;
        }
        AlbumEvent::AlbumRenamed { name } => {
            write_renames(tx, &[RenamedRow::of(stamp, name)]).await?;
        }
        AlbumEvent::AlbumDeleted => {
            // album_media は外部キーの ON DELETE CASCADE で一緒に消えます。
            sqlx::query("DELETE FROM albums WHERE id = ?")
                .bind(album_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM pending_removals WHERE album_id = ?")
                .bind(album_id)
                .execute(&mut *tx)
                .await?;
        }
        AlbumEvent::MediaAddedToAlbum { media_id } => {
            sqlx::query(
                "INSERT INTO album_media (album_id, media_id, added_at, position)
                 SELECT id, ?, ?, ? FROM albums WHERE id = ?
                 ON CONFLICT (album_id, media_id) DO NOTHING",
            )
            .bind(media_id.to_string())
            .bind(&stamp.at)
            .bind(stamp.position)
            .bind(album_id)
            .execute(&mut *tx)
            .await?;
            touch(tx, stamp).await?;
            // 射影が MediaDeleted を反映する前に受け付けた追加なら、すぐに外す予定を記録します。
            schedule_removals(tx, stamp, media_id, Some(album_id)).await?;
        }
        AlbumEvent::MediaRemovedFromAlbum { media_id, .. } => {
            for table in ["album_media", "pending_removals"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE album_id = ? AND media_id = ?"
                ))
                .bind(album_id)
                .bind(media_id.to_string())
                .execute(&mut *tx)
                .await?;
            }
            touch(tx, stamp).await?;
        }
    }
    Ok(())
}

async fn apply_media(
    tx: &mut SqliteConnection,
    stamp: &Stamp<'_>,
    media_id: MediaId,
    event: MediaEvent,
) -> Result<(), HandlerError> {
    let status = match event {
        MediaEvent::MediaUploaded { owner_id, .. } => {
            sqlx::query(
                "INSERT INTO media_owners (media_id, owner_id, status, position)
                 VALUES (?, ?, ?, ?)
                 ON CONFLICT (media_id) DO NOTHING",
            )
            .bind(media_id.to_string())
            .bind(owner_id.to_string())
            .bind(MediaStatus::Uploaded.as_str())
            .bind(stamp.position)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        MediaEvent::MediaProcessed { .. } => MediaStatus::Processed,
        MediaEvent::MediaProcessingFailed { .. } => MediaStatus::Failed,
        MediaEvent::MediaDeleted { .. } => MediaStatus::Deleted,
        MediaEvent::MediaInvalidated { .. } => MediaStatus::Invalidated,
    };
    sqlx::query("UPDATE media_owners SET status = ?, position = ? WHERE media_id = ?")
        .bind(status.as_str())
        .bind(stamp.position)
        .bind(media_id.to_string())
        .execute(&mut *tx)
        .await?;
    schedule_removals(tx, stamp, media_id, None).await
}

/// メディアが削除・無効化済みなら、それを持つアルバム (`album_id` を指定すればそのアルバムだけ)
/// について外す予定を記録します。既に予定があれば何もしません。
async fn schedule_removals(
    tx: &mut SqliteConnection,
    stamp: &Stamp<'_>,
    media_id: MediaId,
    album_id: Option<&str>,
) -> Result<(), HandlerError> {
    let metadata = &stamp.event.metadata;
    sqlx::query(
        "INSERT INTO pending_removals
            (album_id, media_id, owner_id, cause_event_id, cause_position, correlation_id, user_id)
         SELECT m.album_id, m.media_id, a.owner_id, ?, ?, ?, ?
         FROM album_media m
         JOIN albums a ON a.id = m.album_id
         JOIN media_owners o ON o.media_id = m.media_id
         WHERE m.media_id = ? AND o.status IN (?, ?) AND (? IS NULL OR m.album_id = ?)
         ON CONFLICT (album_id, media_id) DO NOTHING",
    )
    .bind(stamp.event.id.to_string())
    .bind(stamp.position)
    .bind(metadata.correlation_id.map(|c| c.to_string()))
    .bind(metadata.user_id.map(|u| u.to_string()))
    .bind(media_id.to_string())
    .bind(MediaStatus::Deleted.as_str())
    .bind(MediaStatus::Invalidated.as_str())
    .bind(album_id)
    .bind(album_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use mediahub_core::ids::{AlbumId, UserId};
    use sqlx::SqlitePool;
    use tempfile::TempDir;

    use super::*;
    use crate::consumer::test_log::{TestLog, media_uploaded};

    /// 1 行分の読みモデル (id, name, version, updated_at)。
    type AlbumRow = (String, String, i64, String);

    async fn database() -> (TempDir, SqlitePool) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pool = crate::album::db::open(&dir.path().join("album.db"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (dir, pool)
    }

    /// `pages` を 1 ページずつ、それぞれ 1 つのトランザクションで反映したあとの `albums` の全行。
    async fn rows_after(pages: &[&[&Envelope]]) -> Vec<AlbumRow> {
        let (_dir, pool) = database().await;
        for page in pages {
            let mut tx = pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
            AlbumProjection
                .handle_page(&mut tx, page)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
        }
        sqlx::query_as("SELECT id, name, version, updated_at FROM albums ORDER BY created_position")
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn created(album: AlbumId, owner: UserId, name: &str) -> AlbumEvent {
        AlbumEvent::AlbumCreated {
            album_id: album,
            owner_id: owner,
            name: name.into(),
            is_default: false,
        }
    }

    fn renamed(name: &str) -> AlbumEvent {
        AlbumEvent::AlbumRenamed { name: name.into() }
    }

    #[tokio::test]
    async fn page_of_renames_interleaved_with_other_events_equals_applying_them_one_by_one() {
        let owner = UserId::new_random();
        let [a, b, c, never_created] = [(); 4].map(|()| AlbumId::new_random());
        let media = MediaId::new_random();
        let mut log = TestLog::default();
        log.push(Album::TYPE, a, &created(a, owner, "a0"));
        log.push(Album::TYPE, b, &created(b, owner, "b0"));
        log.push(Album::TYPE, a, &renamed("a1"));
        log.push(Album::TYPE, b, &renamed("b1"));
        log.push(Album::TYPE, a, &renamed("a2"));
        log.push(Media::TYPE, media, &media_uploaded(media, owner, "a.jpg"));
        // `touch` も更新時刻と版を書くので、この前後の改名は別々のまとまりになる。
        log.push(
            Album::TYPE,
            a,
            &AlbumEvent::MediaAddedToAlbum { media_id: media },
        );
        log.push(Album::TYPE, a, &renamed("a3"));
        log.push(Album::TYPE, c, &renamed("before created"));
        log.push(Album::TYPE, c, &created(c, owner, "c0"));
        log.push(Album::TYPE, c, &renamed("c1"));
        log.push(Album::TYPE, never_created, &renamed("ghost"));
        log.push(Album::TYPE, c, &AlbumEvent::AlbumDeleted);
        log.push(Album::TYPE, c, &renamed("after deleted"));
        log.push(Album::TYPE, a, &renamed("a4"));
        log.push(Album::TYPE, b, &renamed("b2"));
        // 最後の改名の後の `touch` (版 4) は、溜めた改名 (版 3) より後に書かれなければならない。
        log.push(
            Album::TYPE,
            b,
            &AlbumEvent::MediaAddedToAlbum { media_id: media },
        );
        let events: Vec<&Envelope> = log.events.iter().collect();

        let singles: Vec<[&Envelope; 1]> = events.iter().map(|event| [*event]).collect();
        let one_by_one = rows_after(&singles.iter().map(|p| &p[..]).collect::<Vec<_>>()).await;
        assert_eq!(
            one_by_one
                .iter()
                .map(|(id, name, version, _)| (id.clone(), name.as_str(), *version))
                .collect::<Vec<_>>(),
            [(a.to_string(), "a4", 6), (b.to_string(), "b2", 4)]
        );
        assert_eq!(rows_after(&[&events]).await, one_by_one);
        // 続いた改名 (a1, b1, a2) の途中でページが切れても同じ。
        assert_eq!(rows_after(&[&events[..3], &events[3..]]).await, one_by_one);
    }

    #[tokio::test]
    async fn page_of_1200_renames_of_600_albums_writes_each_albums_last_name() {
        let owner = UserId::new_random();
        let albums: Vec<AlbumId> = (0..600).map(|_| AlbumId::new_random()).collect();
        let mut log = TestLog::default();
        for (n, album) in albums.iter().enumerate() {
            log.push(Album::TYPE, album, &created(*album, owner, &format!("{n}")));
        }
        for round in ["first", "last"] {
            for (n, album) in albums.iter().enumerate() {
                log.push(Album::TYPE, album, &renamed(&format!("{round}-{n}")));
            }
        }
        let events: Vec<&Envelope> = log.events.iter().collect();

        // 作成の 600 件のページと、改名の 1,200 件 (畳み込むと 500 行 + 100 行の 2 文) のページ。
        let rows = rows_after(&[&events[..600], &events[600..]]).await;

        assert_eq!(rows.len(), 600);
        for (n, (id, name, version, _)) in rows.iter().enumerate() {
            assert_eq!(
                (id.as_str(), name.as_str(), *version),
                (
                    albums[n].to_string().as_str(),
                    format!("last-{n}").as_str(),
                    3
                )
            );
        }
    }
}
