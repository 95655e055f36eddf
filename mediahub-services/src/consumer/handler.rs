//! 購読者が実装するハンドラの契約 [`EventHandler`] と、その絞り込み条件・エラー。

use std::future::Future;

use mediahub_core::envelope::{Envelope, EnvelopeError};
use sqlx::SqliteConnection;

/// ハンドラが失敗した理由。ランナーはこのエラーでトランザクションを巻き戻し、
/// 待ち時間を延ばしながら同じイベントから再試行します (イベントを飛ばすことはありません)。
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// 読みモデルのデータベース操作が失敗した。
    #[error("読みモデルの更新に失敗しました: {0}")]
    Database(#[from] sqlx::Error),
    /// イベントの本体を読めなかった。
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// その他 (リアクターの HTTP 呼び出しの失敗など)。
    #[error("{0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl HandlerError {
    /// 任意のエラーを包みます。
    pub fn other(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Other(Box::new(error))
    }
}

/// ページ ([`EventHandler::handle_page`]) の処理が、どのイベントで失敗したか。
///
/// ランナーはこれを [`ConsumerError::Handler`](super::ConsumerError::Handler) にして報告し、
/// ページのトランザクションを巻き戻します。
#[derive(Debug, thiserror::Error)]
#[error("位置 {position} のイベント {event_type} の処理に失敗しました: {source}")]
pub struct PageError {
    /// 失敗したイベント (まとめて書いた行で失敗したときは、そのまとまりの最初のイベント) の位置。
    pub position: u64,
    /// そのイベントの型。
    pub event_type: String,
    /// ハンドラのエラー。
    #[source]
    pub source: HandlerError,
}

impl PageError {
    /// イベント `event` の処理が `source` で失敗したことを表します。
    #[must_use]
    pub fn at(event: &Envelope, source: HandlerError) -> Self {
        Self {
            position: event.position,
            event_type: event.event_type.clone(),
            source,
        }
    }
}

/// 購読するイベントの絞り込み条件 (集約の型と、イベントの型)。空ならすべてのイベントです。
///
/// 条件はイベントストアのロングポーリングそのものに付けます (`aggregate_type`・`event_type` の
/// 繰り返し)。購読者は条件に合うコミットでだけ起こされ、ほかのコミットでは数ミリ秒にまとめた
/// 「先頭が進んだ」だけの応答でチェックポイントを進めます。
///
/// ```
/// use mediahub_services::consumer::EventFilter;
///
/// let filter = EventFilter::aggregate_types(["Media", "Album"]).event_types(["MediaUploaded", "MediaAddedToAlbum"]);
/// assert!(filter.accepts("Media", "MediaUploaded"));
/// assert!(filter.accepts("Album", "MediaAddedToAlbum"));
/// assert!(!filter.accepts("Album", "AlbumRenamed"));
/// assert!(!filter.accepts("Saga", "MediaUploaded"));
/// assert!(EventFilter::all().accepts("Album", "AlbumRenamed"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    aggregate_types: Vec<String>,
    event_types: Vec<String>,
}

impl EventFilter {
    /// すべてのイベントを受け取る条件。
    #[must_use]
    pub fn all() -> Self {
        Self::default()
    }

    /// 指定した集約の型のイベントだけを受け取る条件。
    #[must_use]
    pub fn aggregate_types<S: Into<String>>(types: impl IntoIterator<Item = S>) -> Self {
        Self {
            aggregate_types: sorted_names(types),
            event_types: Vec::new(),
        }
    }

    /// さらに、指定したイベントの型だけに絞ります。
    #[must_use]
    pub fn event_types<S: Into<String>>(self, types: impl IntoIterator<Item = S>) -> Self {
        Self {
            event_types: sorted_names(types),
            ..self
        }
    }

    /// 集約の型 `aggregate_type`、イベントの型 `event_type` のイベントを受け取るかどうか。
    #[must_use]
    pub fn accepts(&self, aggregate_type: &str, event_type: &str) -> bool {
        any_or_empty(&self.aggregate_types, aggregate_type)
            && any_or_empty(&self.event_types, event_type)
    }

    /// すべてのイベントを受け取る条件かどうか。
    #[must_use]
    pub fn is_all(&self) -> bool {
        self.aggregate_types.is_empty() && self.event_types.is_empty()
    }

    /// 受け取る集約の型 (空ならすべて)。
    #[must_use]
    pub fn aggregate_type_list(&self) -> &[String] {
        &self.aggregate_types
    }

    /// 受け取るイベントの型 (空ならすべて)。
    #[must_use]
    pub fn event_type_list(&self) -> &[String] {
        &self.event_types
    }
}

fn sorted_names<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Vec<String> {
    let mut names: Vec<String> = names.into_iter().map(Into::into).collect();
    names.sort();
    names.dedup();
    names
}

fn any_or_empty(names: &[String], name: &str) -> bool {
    names.is_empty() || names.iter().any(|n| n == name)
}

/// プロジェクションやリアクターが実装するハンドラ。
///
/// ランナーは条件 ([`filter`](Self::filter)) に合うイベントを **位置の順に** 一件ずつ
/// [`handle`](Self::handle) に渡します。`tx` は購読者自身の SQLite 上のトランザクションの中の接続で、
/// ランナーは同じトランザクションでチェックポイントを書いてからコミットします。したがって
/// 読みモデルへの書き込みは「ちょうど一回」反映されます。SQLite の外への副作用 (Saga の HTTP 呼び出し)
/// は「少なくとも一回」なので、呼び先のコマンドを冪等にしてください。
///
/// ```
/// use mediahub_core::envelope::Envelope;
/// use mediahub_services::consumer::{EventFilter, EventHandler, HandlerError};
/// use sqlx::SqliteConnection;
///
/// struct CountPerType;
///
/// impl EventHandler for CountPerType {
///     async fn handle(&self, tx: &mut SqliteConnection, event: &Envelope) -> Result<(), HandlerError> {
///         sqlx::query(
///             "INSERT INTO counts (event_type, n) VALUES (?, 1)
///              ON CONFLICT (event_type) DO UPDATE SET n = n + 1",
///         )
///         .bind(&event.event_type)
///         .execute(&mut *tx)
///         .await?;
///         Ok(())
///     }
///
///     async fn reset(&self, tx: &mut SqliteConnection) -> Result<(), HandlerError> {
///         sqlx::query("DELETE FROM counts").execute(&mut *tx).await?;
///         Ok(())
///     }
///
///     fn filter(&self) -> EventFilter {
///         EventFilter::aggregate_types(["Media"])
///     }
/// }
/// ```
pub trait EventHandler: Send + Sync + 'static {
    /// イベント 1 件を読みモデルに反映します。
    ///
    /// # エラー
    /// 失敗すればトランザクションごと巻き戻され、後で同じイベントから再試行されます。
    fn handle(
        &self,
        tx: &mut SqliteConnection,
        event: &Envelope,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// 1 ページ分のイベント (条件に合うものだけ、位置の順) を反映します。
    ///
    /// 既定は [`handle`](Self::handle) を順に呼びます。イベントごとの SQLite との往復を減らしたい
    /// プロジェクション (media-query の [`MediaProjection`](crate::media_query::MediaProjection)、
    /// 続いた改名をまとめる album の [`AlbumProjection`](crate::album::AlbumProjection)) は、
    /// ページをメモリで畳み込んでからまとめて書くように上書きします。結果は一件ずつ反映したときと
    /// 同じでなければなりません。
    ///
    /// # エラー
    /// 失敗したイベントを [`PageError`] で返します。トランザクションごと巻き戻され、後でページの
    /// 最初から再試行されます。
    fn handle_page(
        &self,
        tx: &mut SqliteConnection,
        events: &[&Envelope],
    ) -> impl Future<Output = Result<(), PageError>> + Send {
        async move {
            for event in events {
                self.handle(tx, event)
                    .await
                    .map_err(|source| PageError::at(event, source))?;
            }
            Ok(())
        }
    }

    /// 作り直し ([`Consumer::rebuild`](super::Consumer::rebuild)) の最初に、読みモデルを空にします。
    /// チェックポイントを 0 に戻すのと同じトランザクションの中で呼ばれます。
    ///
    /// # エラー
    /// 失敗すれば作り直しは何も変えずに終わります。
    fn reset(
        &self,
        tx: &mut SqliteConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// 受け取るイベントの条件。既定はすべて。
    fn filter(&self) -> EventFilter {
        EventFilter::all()
    }
}
