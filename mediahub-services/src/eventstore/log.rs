//! グローバルログの読み取り: ロングポーリング ([`StoreState::poll_log`]) と
//! Server-Sent Events のストリーム ([`StoreState::live_stream`])。
//!
//! どちらもログの先頭 (`head`、書き込み役がコミットのたびに進める `watch`) を見て待ちます。
//! 新しいコミットがあればすぐ起き、時間切れか停止の合図で終わります。ポーリングの間隔はありません。

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use mediahub_core::envelope::Envelope;
use tokio::sync::watch;
use tokio::time::Instant;

use super::db::LogFilter;
use super::error::StoreError;
use super::state::{StoreState, WaitGuard};

/// SSE の 1 回の読み取りの件数。
const SSE_PAGE: u32 = 1000;

impl StoreState {
    /// グローバルログを読みます。`wait` が 0 でなく一致するイベントがまだ無ければ、
    /// 一致するイベントがコミットされるか、時間切れか、停止が始まるまで待ちます。
    ///
    /// `wake_on_progress` が `true` なら、一致するイベントが無くてもログの先頭 (head) が進めば
    /// 空の一覧と新しい head を返します (要求を受けてから [`StoreState::progress_coalesce`] 以降。
    /// その間のコミットは 1 つの応答にまとまります)。絞り込みつきの購読者が、関係のないイベントの
    /// 分もチェックポイントを進める (read-your-writes の `min_position` に届く) ためです。
    ///
    /// # エラー
    /// 読み取りに失敗すれば [`StoreError`]。
    pub async fn poll_log(
        &self,
        filter: &LogFilter,
        after: u64,
        limit: u32,
        wait: Duration,
        wake_on_progress: bool,
    ) -> Result<(Vec<Envelope>, u64), StoreError> {
        let mut head_rx = self.head.clone();
        let received = Instant::now();
        let deadline = received + wait;
        let progress_at = received + self.progress_coalesce;
        let mut cursor = after;
        loop {
            let head = *head_rx.borrow_and_update();
            let events = self.reader.read_log(filter, cursor, head, limit).await?;
            if !events.is_empty() || wait.is_zero() {
                return Ok((events, head));
            }
            let progressed = wake_on_progress && head > after;
            let now = Instant::now();
            // 時間切れの応答も、返す head までは読み終えています (購読者が head まで進めてよい)。
            if now >= deadline || (progressed && now >= progress_at) {
                return Ok((events, head));
            }
            // (cursor, head] には一致するイベントが無いと分かったので、次はその先だけを読みます。
            cursor = cursor.max(head);
            let wake_at = if progressed {
                progress_at.min(deadline)
            } else {
                deadline
            };
            let _waiting = WaitGuard::enter(&self.waiters);
            tokio::select! {
                changed = head_rx.changed() => {
                    if changed.is_err() {
                        return Ok((Vec::new(), head));
                    }
                }
                () = tokio::time::sleep_until(wake_at) => {
                    // 答える時刻: 最新の先頭まで読み直してから答えます。
                }
                () = self.shutdown.wait() => {
                    return Ok((Vec::new(), head));
                }
            }
        }
    }

    /// `after` より後の、絞り込み条件に一致するイベントを順に流し続けるストリームを作ります。
    /// 停止が始まるか読み取りに失敗すると終わります。
    #[must_use]
    pub fn live_stream(
        self: Arc<Self>,
        filter: LogFilter,
        after: u64,
    ) -> BoxStream<'static, Envelope> {
        struct Cursor {
            state: Arc<StoreState>,
            filter: LogFilter,
            after: u64,
            buffer: VecDeque<Envelope>,
            head_rx: watch::Receiver<u64>,
        }
        let head_rx = self.head.clone();
        let cursor = Cursor {
            state: self,
            filter,
            after,
            buffer: VecDeque::new(),
            head_rx,
        };
        futures::stream::unfold(cursor, |mut cursor| async move {
            loop {
                if let Some(event) = cursor.buffer.pop_front() {
                    return Some((event, cursor));
                }
                if cursor.state.shutdown.is_triggered() {
                    return None;
                }
                let head = *cursor.head_rx.borrow_and_update();
                if head > cursor.after {
                    let page = cursor
                        .state
                        .reader
                        .read_log(&cursor.filter, cursor.after, head, SSE_PAGE)
                        .await;
                    match page {
                        Ok(events) => {
                            let full = events.len() >= SSE_PAGE as usize;
                            cursor.after = match events.last() {
                                Some(last) if full => last.position,
                                _ => head,
                            };
                            cursor.buffer.extend(events);
                            continue;
                        }
                        Err(err) => {
                            tracing::error!(error = %err, "SSE の読み取りに失敗しました");
                            return None;
                        }
                    }
                }
                let _waiting = WaitGuard::enter(&cursor.state.waiters);
                tokio::select! {
                    changed = cursor.head_rx.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                    () = cursor.state.shutdown.wait() => return None,
                }
            }
        })
        .boxed()
    }
}
