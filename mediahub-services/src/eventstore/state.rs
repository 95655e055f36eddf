//! API が共有する状態 ([`StoreState`]): 読み取りのプール、書き込み役、ログの先頭、待っている数。

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::db::Reader;
use super::writer::WriterHandle;
use crate::platform::server::Shutdown;

/// 一致するイベントが無く先頭が進んだだけの応答 (`wake_on_progress`) を、要求を受けてから
/// 返すまでの最短の時間。
///
/// 絞り込みつきの購読者は、関係のないコミットのたびに起こされるとコミットごとに
/// 往復 1 回とチェックポイントの書き込み 1 回を払います (改名 1 回で 5 つの購読者)。
/// 先頭が進んだだけの応答をこの時間だけ寄せ集めると、購読者 1 つあたり毎秒
/// 高々 40 回になります。一致するイベントはこれまでどおりコミットの瞬間に答えます。
///
/// 代わりに、購読していない型のイベントの位置を `min_position` で待つ読み取りは、
/// 最大でこの時間だけ遅れて答えます。5 ms から 25 ms にして、ゲートウェイ越しの改名
/// (同時実行 16) が 2,684 → 3,050 コマンド/秒になりました (開発ガイド「ベンチマークの結果」)。
pub const PROGRESS_COALESCE: Duration = Duration::from_millis(25);

/// API が共有する状態。
#[derive(Debug)]
pub struct StoreState {
    /// 読み取り役 (SQLite か PostgreSQL。どちらかはここから先は知りません)。
    pub reader: Reader,
    /// 書き込みタスクへの窓口。
    pub writer: WriterHandle,
    /// コミット済みのログの先頭 (書き込みタスクがコミットのたびに更新します)。
    pub head: watch::Receiver<u64>,
    /// 停止の合図 (ロングポーリングと SSE はこれで終わります)。
    pub shutdown: Shutdown,
    /// 先頭が進んだだけの応答を返すまでの最短の時間 (既定 [`PROGRESS_COALESCE`])。
    pub progress_coalesce: Duration,
    /// いまコミットを待っているロングポーリングと SSE の数。
    pub(super) waiters: AtomicUsize,
}

/// 待っている間だけ [`StoreState::waiters`] を 1 増やしておく見張り。
pub(super) struct WaitGuard<'a>(&'a AtomicUsize);

impl<'a> WaitGuard<'a> {
    pub(super) fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl StoreState {
    /// 状態を組み立てます。
    #[must_use]
    pub fn new(
        reader: Reader,
        writer: WriterHandle,
        head: watch::Receiver<u64>,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            reader,
            writer,
            head,
            shutdown,
            progress_coalesce: PROGRESS_COALESCE,
            waiters: AtomicUsize::new(0),
        }
    }

    /// 先頭が進んだだけの応答を返すまでの最短の時間を変えたものを返します。
    #[must_use]
    pub fn with_progress_coalesce(mut self, progress_coalesce: Duration) -> Self {
        self.progress_coalesce = progress_coalesce;
        self
    }

    /// いまコミットを待って止まっているロングポーリングと SSE の数 (観測とテスト用)。
    #[must_use]
    pub fn waiters(&self) -> usize {
        self.waiters.load(Ordering::SeqCst)
    }
}
