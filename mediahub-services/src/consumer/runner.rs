//! 購読ランナー [`Consumer`] 本体。

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mediahub_core::envelope::Envelope;
use sqlx::SqlitePool;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use super::checkpoint;
use super::handler::{EventFilter, EventHandler, HandlerError};
use crate::store_client::{EventStoreClient, LogPage, LogQuery, StoreClientError};

/// ランナーの失敗。`run` の中では記録して待ち時間を延ばしながら再試行し、
/// `open`・`catch_up`・`rebuild` では呼び出し側に返します。
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// イベントストアを読めなかった。
    #[error("イベントストアを読めません: {0}")]
    Store(#[from] StoreClientError),
    /// 購読者自身の SQLite の操作が失敗した。
    #[error("購読者のデータベース操作に失敗しました: {0}")]
    Database(#[from] sqlx::Error),
    /// ハンドラが失敗した (この位置のイベントから再試行します)。
    #[error("位置 {position} のイベント {event_type} の処理に失敗しました: {source}")]
    Handler {
        /// 失敗したイベントの位置。
        position: u64,
        /// 失敗したイベントの型。
        event_type: String,
        /// ハンドラのエラー。
        #[source]
        source: HandlerError,
    },
    /// 読みモデルの初期化 (`reset`) が失敗した。
    #[error("読みモデルを初期化できません: {0}")]
    Reset(#[source] HandlerError),
    /// イベントストアが位置の順になっていないイベントを返した。
    #[error("位置 {after} の後に位置 {position} のイベントが届きました (順序違反)")]
    OutOfOrder {
        /// 直前の位置。
        after: u64,
        /// 届いたイベントの位置。
        position: u64,
    },
    /// 保存されたチェックポイントが負の値だった。
    #[error("保存されたチェックポイント {stored} が不正です")]
    CorruptCheckpoint {
        /// 保存されていた値。
        stored: i64,
    },
    /// 位置が SQLite の整数に収まらない。
    #[error("位置 {position} は保存できる範囲を超えています")]
    PositionOutOfRange {
        /// 位置。
        position: u64,
    },
    /// 同じ名前の別のランナーがチェックポイントを先に進めていた。このページは巻き戻し、
    /// 保存されている位置から続けます (同じイベントを二度反映しないため)。
    #[error(
        "チェックポイントが別のランナーに進められていました (期待 {expected}, 保存値 {stored})"
    )]
    CheckpointMoved {
        /// このランナーが期待していた位置。
        expected: u64,
        /// 保存されていた位置。
        stored: u64,
    },
    /// 購読者の名前が空だった。
    #[error("購読者の名前が空です")]
    EmptyName,
}

/// 1 ページの件数の上限 (イベントストアの `limit` の上限)。
pub const MAX_PAGE_SIZE: u32 = 1000;
/// ロングポーリングの待ち時間の上限 (イベントストアの `wait_ms` の上限)。
pub const MAX_LONG_POLL: Duration = Duration::from_secs(30);

/// ランナーの設定。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// 1 回に読む (= 1 トランザクションで処理する) 最大件数 (1〜[`MAX_PAGE_SIZE`])。
    ///
    /// 外部に副作用を起こすリアクター (Saga) は 1 にすると、ページの途中で失敗したときに
    /// 成功済みの副作用を再実行する量が最小になります (再実行そのものは冪等性で吸収します)。
    pub page_size: u32,
    /// ロングポーリングの最大待ち時間。新しいイベントがコミットされればすぐ応答が返るので、
    /// この値は反応の速さには関係しません (長いほど空の往復が減ります。上限 [`MAX_LONG_POLL`])。
    pub long_poll: Duration,
    /// 失敗後の最初の待ち時間。
    pub initial_backoff: Duration,
    /// 待ち時間の上限 (失敗が続くと 2 倍ずつ延び、ここで止まる)。
    pub max_backoff: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            page_size: 500,
            long_poll: Duration::from_secs(20),
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// 作り直しの進み具合。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RebuildProgress {
    /// ここまでにハンドラへ渡したイベント数。
    pub applied: u64,
    /// 現在のチェックポイント。
    pub position: u64,
    /// 作り直しの目標 (開始時点のログの先頭位置)。
    pub head: u64,
}

/// 失敗が続くときの待ち時間 (指数的に延び、上限で止まる)。
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    current: Option<Duration>,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            current: None,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let next = match self.current {
            None => self.initial,
            Some(current) => current.saturating_mul(2),
        }
        .min(self.max);
        self.current = Some(next);
        next
    }

    pub(crate) fn reset(&mut self) {
        self.current = None;
    }
}

/// 1 ページを処理した結果。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PageResult {
    /// 処理後のチェックポイント。
    position: u64,
    /// ハンドラに渡した件数。
    applied: u64,
    /// ページが満杯だった (続きがすぐにある可能性が高い)。
    full: bool,
}

struct Inner<H> {
    name: String,
    pool: SqlitePool,
    client: EventStoreClient,
    handler: H,
    filter: EventFilter,
    config: ConsumerConfig,
    position: watch::Sender<u64>,
    /// ページの処理と作り直しを互いに排他にする錠。
    exclusive: Mutex<()>,
}

/// プロジェクションとリアクターが共通で使う購読ランナー ([アーキテクチャ §7](https://github.com/nao1215/mediahub/blob/main/docs/architecture.md#7-コンシューマチェックポイントread-your-writes))。
///
/// - 購読者自身の SQLite にあるチェックポイント (処理済みのグローバル位置) から始め、
///   イベントストアをロングポーリングで読み (決まった間隔のポーリングはしない)、
///   イベントを位置の順にハンドラへ渡します。
/// - **1 ページ = 1 トランザクション**: ページ内のイベントをすべてハンドラに渡した後、
///   同じトランザクションでチェックポイントをページの最後の位置に進めてコミットします。
///   途中で失敗・停止・強制終了しても、トランザクションごと消えるので、読みモデルへの反映は
///   ちょうど一回で、イベントを失うこともありません。チェックポイントは「読み始めた位置のままなら
///   進める」条件つきで書くので、同じ名前のランナーが誤って二つ動いても二重には反映されません。イベントごとにコミットするより
///   fsync が件数分の一になり、追いつきや作り直しが速くなります (目標 ≥ 20,000 件/秒)。
///   新着を待っているときのページはたいてい 1 件なので、反映の遅れは増えません。
/// - 失敗 (ストアが落ちている、ハンドラのエラー) は `tracing` で記録し、指数的に延びる
///   待ち時間 (上限つき) の後に同じ位置から再試行します。イベントを飛ばすことはありません。
/// - 現在のチェックポイントは [`subscribe`](Self::subscribe) の `watch` で公開され、
///   クエリ側は [`wait_for_position`](super::wait_for_position) で `min_position` を待てます。
///
/// `clone` は同じランナーを共有します。
pub struct Consumer<H> {
    inner: Arc<Inner<H>>,
}

impl<H> Clone for Consumer<H> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<H> std::fmt::Debug for Consumer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("name", &self.inner.name)
            .field("position", &*self.inner.position.borrow())
            .field("filter", &self.inner.filter)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl<H: EventHandler> Consumer<H> {
    /// 購読者を開きます: チェックポイント表を (なければ) 作り、保存済みの位置を読みます。
    ///
    /// `pool` は購読者自身の SQLite (WAL 推奨、[`open_database`](super::open_database) で開けます)。
    ///
    /// # エラー
    /// 名前が空なら [`ConsumerError::EmptyName`]、データベースの操作に失敗すれば
    /// [`ConsumerError::Database`]。
    pub async fn open(
        name: impl Into<String>,
        pool: SqlitePool,
        client: EventStoreClient,
        handler: H,
        config: ConsumerConfig,
    ) -> Result<Self, ConsumerError> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(ConsumerError::EmptyName);
        }
        checkpoint::ensure_table(&pool).await?;
        let position = checkpoint::load(&pool, &name).await?;
        let filter = handler.filter();
        let (position, _rx) = watch::channel(position);
        Ok(Self {
            inner: Arc::new(Inner {
                name,
                pool,
                client,
                handler,
                filter,
                config: ConsumerConfig {
                    page_size: config.page_size.clamp(1, MAX_PAGE_SIZE),
                    long_poll: config.long_poll.min(MAX_LONG_POLL),
                    ..config
                },
                position,
                exclusive: Mutex::new(()),
            }),
        })
    }

    /// 購読者の名前。
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// 現在のチェックポイント (コミット済みの処理済み位置)。
    #[must_use]
    pub fn position(&self) -> u64 {
        *self.inner.position.borrow()
    }

    /// チェックポイントの変化を受け取る `watch`。コミットの後にだけ進みます
    /// (作り直しの開始時には 0 に戻ります)。
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.position.subscribe()
    }

    /// `min_position` を待つ係 ([`PositionWaiter`](super::PositionWaiter))。
    #[must_use]
    pub fn waiter(&self) -> super::PositionWaiter {
        super::PositionWaiter::new(self.subscribe(), self.inner.client.clone())
    }

    /// ハンドラ。
    #[must_use]
    pub fn handler(&self) -> &H {
        &self.inner.handler
    }

    /// 購読者自身のデータベース。
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    /// 停止の合図 `shutdown` が来るまで購読を続けます。
    ///
    /// 失敗は記録して再試行し続けるので、この関数がエラーで終わることはありません。
    /// 停止の合図で処理中のページのトランザクションは巻き戻されます (次の起動でやり直します)。
    pub async fn run<S>(&self, shutdown: S)
    where
        S: Future<Output = ()> + Send,
    {
        let mut shutdown = std::pin::pin!(shutdown);
        let name = self.inner.name.as_str();
        let mut backoff = Backoff::new(
            self.inner.config.initial_backoff,
            self.inner.config.max_backoff,
        );
        tracing::info!(
            consumer = name,
            position = self.position(),
            "購読を始めます"
        );
        loop {
            let result = tokio::select! {
                biased;
                () = &mut shutdown => break,
                result = self.step(Some(self.inner.config.long_poll)) => result,
            };
            match result {
                Ok(_) => backoff.reset(),
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        consumer = name,
                        position = self.position(),
                        %error,
                        retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "購読の処理に失敗しました。待ってから同じ位置で再試行します"
                    );
                    tokio::select! {
                        biased;
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        tracing::info!(
            consumer = name,
            position = self.position(),
            "購読を止めました"
        );
    }

    /// 別タスクで [`run`](Self::run) を始めます。
    pub fn spawn<S>(&self, shutdown: S) -> JoinHandle<()>
    where
        S: Future<Output = ()> + Send + 'static,
    {
        let consumer = self.clone();
        tokio::spawn(async move { consumer.run(shutdown).await })
    }

    /// 待たずに、呼び出した時点のログの先頭まで追いつきます (失敗は再試行せずに返します)。
    /// 処理後のチェックポイントを返します。
    ///
    /// # エラー
    /// [`ConsumerError`] の各種。
    pub async fn catch_up(&self) -> Result<u64, ConsumerError> {
        let head = self.inner.client.head().await?;
        loop {
            let page = self.step(None).await?;
            if page.position >= head || !page.full {
                return Ok(page.position);
            }
        }
    }

    /// 今のチェックポイントと、イベントストアに問い合わせたログの先頭を返します
    /// (UI のプロジェクションパネルの「遅れ」)。
    ///
    /// # エラー
    /// イベントストアに届かなければ [`ConsumerError::Store`]。
    pub async fn status(&self) -> Result<super::ProjectionStatus, ConsumerError> {
        let checkpoint = self.position();
        let head = self.inner.client.head().await?;
        Ok(super::ProjectionStatus {
            name: self.inner.name.clone(),
            checkpoint,
            head,
            lag: head.saturating_sub(checkpoint),
        })
    }

    /// 読みモデルを作り直します: 読みモデルの初期化 ([`EventHandler::reset`]) と
    /// チェックポイントを 0 にすることを **一つのトランザクションで** 行い、開始時点の
    /// ログの先頭まで再生します。ページを処理するたびに `on_progress` に進み具合を渡します。
    ///
    /// 実行中のランナーがあっても構いません。作り直しの間は待ち、その後は続きから進みます。
    /// 途中で失敗してもそこまでの状態は整合しており (チェックポイントはコミット済みの位置)、
    /// ランナーが続きを処理します。
    ///
    /// # エラー
    /// [`ConsumerError`] の各種。
    pub async fn rebuild(
        &self,
        mut on_progress: impl FnMut(RebuildProgress) + Send,
    ) -> Result<RebuildProgress, ConsumerError> {
        let _exclusive = self.inner.exclusive.lock().await;
        let head = self.inner.client.head().await?;
        let mut tx = self.inner.pool.begin_with("BEGIN IMMEDIATE").await?;
        self.inner
            .handler
            .reset(&mut tx)
            .await
            .map_err(ConsumerError::Reset)?;
        checkpoint::save(&mut tx, &self.inner.name, 0).await?;
        tx.commit().await?;
        self.inner.position.send_replace(0);
        tracing::info!(
            consumer = self.inner.name.as_str(),
            head,
            "読みモデルを作り直します"
        );

        let mut progress = RebuildProgress {
            applied: 0,
            position: 0,
            head,
        };
        on_progress(progress);
        // 次のページの読み取り (HTTP) を、今のページの反映 (SQLite) と重ねて行います。
        let mut page = if progress.position < head {
            Some(self.read_page(progress.position).await?)
        } else {
            None
        };
        while let Some(current) = page.take() {
            let full = current.events.len() >= self.inner.config.page_size as usize;
            let prefetch_after = current
                .events
                .last()
                .map(|last| last.position)
                .filter(|&after| full && after < head);
            let (result, prefetched) = match prefetch_after {
                Some(after) => {
                    let (result, next) = tokio::join!(
                        self.apply_page(progress.position, &current),
                        self.read_page(after)
                    );
                    (result?, Some(next?))
                }
                None => (self.apply_page(progress.position, &current).await?, None),
            };
            progress.applied += result.applied;
            progress.position = result.position;
            on_progress(progress);
            page = match prefetched {
                Some(next) => Some(next),
                None if progress.position < head && !current.events.is_empty() => {
                    Some(self.read_page(progress.position).await?)
                }
                None => None,
            };
        }
        tracing::info!(
            consumer = self.inner.name.as_str(),
            applied = progress.applied,
            position = progress.position,
            "読みモデルを作り直しました"
        );
        Ok(progress)
    }

    /// 位置 `after` の後ろから 1 ページを待たずに読みます。
    async fn read_page(&self, after: u64) -> Result<LogPage, ConsumerError> {
        Ok(self.inner.client.read_log(&self.query(after, None)).await?)
    }

    fn query(&self, after: u64, wait: Option<Duration>) -> LogQuery {
        let mut query = LogQuery::after(after).limit(self.inner.config.page_size);
        let filter = &self.inner.filter;
        if !filter.is_all() {
            // 関係のない型のイベントだけが続いてもチェックポイントが head に追いつくよう、
            // 先頭が進んだら空のページでも答えてもらう (read-your-writes の min_position のため)。
            query.aggregate_types = filter.aggregate_type_list().to_vec();
            query.event_types = filter.event_type_list().to_vec();
            query = query.progress();
        }
        query.wait = wait;
        query
    }

    /// 1 ページを読み (必要なら待ち)、処理します。
    ///
    /// イベントストアの応答は、空の応答 (時間切れ・先頭が進んだだけ) も含めて、返す `head` までを
    /// 読み終えています。したがって読み直さずに、満杯でないページなら `head` まで進めます。
    async fn step(&self, wait: Option<Duration>) -> Result<PageResult, ConsumerError> {
        let from = self.position();
        let page = self.inner.client.read_log(&self.query(from, wait)).await?;
        let _exclusive = self.inner.exclusive.lock().await;
        if self.position() != from {
            // 読んでいる間に作り直しが走った。読んだページは捨てて、新しい位置から読み直す。
            return Ok(PageResult {
                position: self.position(),
                applied: 0,
                full: true,
            });
        }
        self.apply_page(from, &page).await
    }

    /// ページを一つのトランザクションで処理し、チェックポイントを進めます。
    /// 呼び出し側が `exclusive` を持っていること。
    async fn apply_page(&self, from: u64, page: &LogPage) -> Result<PageResult, ConsumerError> {
        let full = page.events.len() >= self.inner.config.page_size as usize;
        let target = self.advance_target(from, page, full)?;
        if target == from {
            return Ok(PageResult {
                position: from,
                applied: 0,
                full,
            });
        }
        let accepted: Vec<&Envelope> = page
            .events
            .iter()
            .filter(|event| {
                self.inner
                    .filter
                    .accepts(&event.aggregate_type, &event.event_type)
            })
            .collect();
        let mut tx = self.inner.pool.begin_with("BEGIN IMMEDIATE").await?;
        self.inner
            .handler
            .handle_page(&mut tx, &accepted)
            .await
            .map_err(|failed| ConsumerError::Handler {
                position: failed.position,
                event_type: failed.event_type,
                source: failed.source,
            })?;
        let applied = accepted.len() as u64;
        if !checkpoint::advance(&mut tx, &self.inner.name, from, target).await? {
            tx.rollback().await?;
            let stored = checkpoint::load(&self.inner.pool, &self.inner.name).await?;
            self.inner.position.send_replace(stored);
            return Err(ConsumerError::CheckpointMoved {
                expected: from,
                stored,
            });
        }
        tx.commit().await?;
        self.inner.position.send_replace(target);
        tracing::debug!(
            consumer = self.inner.name.as_str(),
            from,
            to = target,
            applied,
            "ページを処理しました"
        );
        Ok(PageResult {
            position: target,
            applied,
            full,
        })
    }

    /// ページを処理した後のチェックポイントを決めます。
    ///
    /// 基本はページの最後のイベントの位置です。ページが満杯でなければ、応答の `head` までに
    /// 条件に合うイベントはすべてこのページに含まれているので、`head` まで進めます
    /// (関係のないイベントの位置を待つ `wait_for_position` も返れるように)。
    fn advance_target(&self, from: u64, page: &LogPage, full: bool) -> Result<u64, ConsumerError> {
        let mut last = from;
        for event in &page.events {
            if event.position <= last {
                return Err(ConsumerError::OutOfOrder {
                    after: last,
                    position: event.position,
                });
            }
            last = event.position;
        }
        if !full {
            last = last.max(page.head);
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_initial_doubles_caps_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(35));
        assert_eq!(backoff.next_delay(), Duration::from_millis(10));
        assert_eq!(backoff.next_delay(), Duration::from_millis(20));
        assert_eq!(backoff.next_delay(), Duration::from_millis(35));
        assert_eq!(backoff.next_delay(), Duration::from_millis(35));
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(10));
    }
}
