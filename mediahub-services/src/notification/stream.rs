//! ユーザーごとの通知のライブ配信 (Server-Sent Events の中身)。
//!
//! プッシュの仕組みは「購読ランナーのチェックポイントの `watch` + 読みモデルへの問い合わせ」です。
//! プロジェクションが `NotificationSent` を **コミットした後で** チェックポイントが進むので、
//! 接続ごとに `watch` で起こされ、そのユーザーの「最後に届けた位置より後に送られた通知」を
//! 読みモデルから読んで流します。
//!
//! - 読みモデルから読むので、コミット前の (巻き戻るかもしれない) 通知が届くことはありません。
//! - 位置 (`NotificationSent` のグローバル位置) を SSE の `id:` にするので、再接続時の
//!   `Last-Event-ID` からそのまま続きを再生できます。
//! - 状態はサービスの [`NotificationState`] が持つ `watch` だけで、グローバルな状態はありません。

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use mediahub_core::ids::UserId;
use tokio::sync::watch;

use super::state::NotificationState;
use super::view::NotificationView;

/// 1 回の問い合わせで読む件数。
const PAGE: u64 = 100;

struct Cursor {
    state: Arc<NotificationState>,
    user: UserId,
    after: u64,
    buffer: VecDeque<NotificationView>,
    positions: watch::Receiver<u64>,
}

/// ユーザー `user` に `after` (`NotificationSent` の位置) より後に送られた通知を、送られた順に
/// 流し続けるストリームを作ります。停止が始まるか読み取りに失敗すると終わります。
#[must_use]
pub fn live(
    state: Arc<NotificationState>,
    user: UserId,
    after: u64,
) -> BoxStream<'static, NotificationView> {
    let positions = state.positions();
    let cursor = Cursor {
        state,
        user,
        after,
        buffer: VecDeque::new(),
        positions,
    };
    futures::stream::unfold(cursor, |mut cursor| async move {
        loop {
            if let Some(next) = cursor.buffer.pop_front() {
                cursor.after = next.position;
                return Some((next, cursor));
            }
            if cursor.state.shutdown().is_triggered() {
                return None;
            }
            // 問い合わせの前に「ここまで見た」と印を付けるので、問い合わせの後のコミットで必ず起きます。
            cursor.positions.borrow_and_update();
            match cursor
                .state
                .sent_after(cursor.user, cursor.after, PAGE)
                .await
            {
                Ok(rows) if !rows.is_empty() => {
                    cursor.buffer.extend(rows);
                    continue;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(%error, "通知の SSE の読み取りに失敗しました");
                    return None;
                }
            }
            let shutdown = cursor.state.shutdown().clone();
            tokio::select! {
                changed = cursor.positions.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                () = shutdown.wait() => return None,
            }
        }
    })
    .boxed()
}
