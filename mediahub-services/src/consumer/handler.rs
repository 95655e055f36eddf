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

/// 購読するイベントの絞り込み条件 (集約の型)。空ならすべてのイベントです。
///
/// 型が一つだけならイベントストアのロングポーリング自体を絞り込み (関係のないイベントでは
/// 起こされない)、複数ならすべてを受け取って手元で絞り込みます。
///
/// ```
/// use mediahub_services::consumer::EventFilter;
///
/// let filter = EventFilter::aggregate_types(["Media"]);
/// assert!(filter.accepts("Media"));
/// assert!(!filter.accepts("Album"));
/// assert!(EventFilter::all().accepts("Album"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    aggregate_types: Vec<String>,
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
        let mut aggregate_types: Vec<String> = types.into_iter().map(Into::into).collect();
        aggregate_types.sort();
        aggregate_types.dedup();
        Self { aggregate_types }
    }

    /// 集約の型 `aggregate_type` のイベントを受け取るかどうか。
    #[must_use]
    pub fn accepts(&self, aggregate_type: &str) -> bool {
        self.aggregate_types.is_empty() || self.aggregate_types.iter().any(|t| t == aggregate_type)
    }

    /// サーバー側で絞り込めるなら、その集約の型 (型がちょうど一つのとき)。
    #[must_use]
    pub fn server_side_type(&self) -> Option<&str> {
        match self.aggregate_types.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }
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
    /// プロジェクション (media-query の [`MediaProjection`](crate::media_query::MediaProjection)) は、
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
