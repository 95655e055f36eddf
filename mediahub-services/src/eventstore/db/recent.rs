//! 最近コミットしたイベントの窓 ([`RecentEvents`]): 書き手が自分だけの保存先 (SQLite) で、
//! ログの末尾の読み取りをデータベースに行かずに答えるためのもの。
//!
//! 購読者はロングポーリングでログの末尾を待っています。コミットのたびにイベントストアは待っている
//! 要求ごとに `(cursor, head]` を読み直し (一致しない購読者の分も)、起きた購読者は続けてページを
//! 読みます。SQLite ではその 1 回ごとに接続のスレッドとの往復と読み取りのトランザクションがあり、
//! 書き込みのたびに読み取り用の接続のページキャッシュも捨てられます (WAL の決まり)。改名 1 回で
//! 購読者 6 つ分です。
//!
//! 書き込みタスクはコミットした直後、ログの先頭を進める **前に** そのイベントをここに入れます。
//! したがって先頭の `watch` で起きた読み手が読む範囲は、ここにすでに入っています。ここにあるのは
//! コミット済みの行と同じ値です (時刻はマイクロ秒に切り詰め済み、本体とメタデータは保存した JSON
//! と同じ値)。範囲 `(after, up_to]` をすべて持っているときだけ答え、持っていなければ (起動直後、
//! 古い位置、窓から押し出された後) `None` を返して、データベースから読ませます。
//!
//! 別のプロセスも書く保存先 (PostgreSQL) では、他のプロセスのコミットがここに入らないので使いません。

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use mediahub_core::envelope::Envelope;

use super::{LogFilter, Order};

/// 既定で覚えておくイベントの数。
pub const RECENT_EVENTS: usize = 4096;

/// 最近コミットしたイベントの窓 (位置が隙間なく続く末尾)。
#[derive(Debug)]
pub struct RecentEvents {
    capacity: usize,
    events: Mutex<VecDeque<Envelope>>,
}

impl Default for RecentEvents {
    fn default() -> Self {
        Self::with_capacity(RECENT_EVENTS)
    }
}

impl RecentEvents {
    /// 高々 `capacity` 件を覚える窓を作ります (0 なら何も覚えません)。
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            events: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Envelope>> {
        // 保持中にパニックしうる処理はないので、毒化しても中身は整合しています。
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// コミットしたイベントを位置の順に足します。
    ///
    /// 末尾の次の位置から続かないイベント (窓が空でない間の飛び) が来たら、それまでの窓を捨てて
    /// そこから覚え直します (窓は常に隙間のない範囲です)。
    pub fn push<'a>(&self, committed: impl IntoIterator<Item = &'a Envelope>) {
        if self.capacity == 0 {
            return;
        }
        let mut events = self.lock();
        for event in committed {
            let follows = events
                .back()
                .is_none_or(|last| last.position.checked_add(1) == Some(event.position));
            if !follows {
                events.clear();
            }
            if events.len() == self.capacity {
                events.pop_front();
            }
            events.push_back(event.clone());
        }
    }

    /// 位置 `(after, up_to]` のうち `filter` に一致するイベントを、`order` の側から最大 `limit` 件
    /// 返します (返す順も `order` のまま。データベースの `read_window` と同じ答え)。
    ///
    /// 範囲をすべて持っていなければ `None` (データベースから読んでください)。
    #[must_use]
    pub fn window(
        &self,
        filter: &LogFilter,
        after: u64,
        up_to: u64,
        limit: u32,
        order: Order,
    ) -> Option<Vec<Envelope>> {
        if after >= up_to || limit == 0 {
            return Some(Vec::new());
        }
        let events = self.lock();
        let first = events.front()?.position;
        let last = events.back()?.position;
        if after.checked_add(1)? < first || up_to > last {
            return None;
        }
        let start = usize::try_from(after + 1 - first).ok()?;
        let end = usize::try_from(up_to + 1 - first).ok()?;
        let in_range = events.range(start..end).filter(|e| filter.matches(e));
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Some(match order {
            Order::OldestFirst => in_range.take(limit).cloned().collect(),
            Order::NewestFirst => in_range.rev().take(limit).cloned().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use mediahub_core::envelope::EventMetadata;
    use mediahub_core::ids::{CorrelationId, EventId, UserId};
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    fn event(position: u64, aggregate_type: &str, event_type: &str) -> Envelope {
        Envelope {
            id: EventId::new_time_ordered(),
            position,
            aggregate_id: format!("id-{position}"),
            aggregate_type: aggregate_type.to_owned(),
            event_type: event_type.to_owned(),
            event_version: "1.0".to_owned(),
            data: json!({"n": position}),
            version: 1,
            created_at: Utc::now(),
            metadata: EventMetadata::default(),
        }
    }

    fn positions(events: &[Envelope]) -> Vec<u64> {
        events.iter().map(|e| e.position).collect()
    }

    fn filled(range: std::ops::RangeInclusive<u64>) -> RecentEvents {
        let recent = RecentEvents::default();
        let events: Vec<Envelope> = range
            .map(|p| event(p, if p % 2 == 0 { "Album" } else { "Media" }, "E"))
            .collect();
        recent.push(&events);
        recent
    }

    #[test]
    fn window_inside_positions_11_to_20_returns_matching_events_oldest_or_newest_first_up_to_limit()
    {
        let recent = filled(11..=20);
        let all = LogFilter::default();
        let albums = LogFilter {
            aggregate_types: vec!["Album".to_owned()],
            ..LogFilter::default()
        };
        let read = |filter: &LogFilter, after, up_to, limit, order| {
            positions(
                &recent
                    .window(filter, after, up_to, limit, order)
                    .unwrap_or_else(|| panic!("covered")),
            )
        };
        assert_eq!(read(&all, 10, 13, 10, Order::OldestFirst), [11, 12, 13]);
        assert_eq!(read(&albums, 10, 20, 3, Order::OldestFirst), [12, 14, 16]);
        assert_eq!(read(&albums, 10, 20, 2, Order::NewestFirst), [20, 18]);
        assert_eq!(
            read(&albums, 12, 13, 5, Order::OldestFirst),
            Vec::<u64>::new()
        );
        assert_eq!(read(&all, 20, 20, 5, Order::OldestFirst), Vec::<u64>::new());
    }

    #[test]
    fn window_reaching_before_the_first_or_after_the_last_kept_position_is_none() {
        let recent = filled(11..=20);
        let all = LogFilter::default();
        assert!(recent.window(&all, 9, 12, 10, Order::OldestFirst).is_none());
        assert!(
            recent
                .window(&all, 15, 21, 10, Order::OldestFirst)
                .is_none()
        );
        assert!(
            RecentEvents::default()
                .window(&all, 0, 1, 10, Order::OldestFirst)
                .is_none()
        );
    }

    #[test]
    fn push_past_capacity_forgets_the_oldest_and_a_gap_starts_over_from_the_new_position() {
        let recent = RecentEvents::with_capacity(3);
        recent.push(&[event(1, "A", "E"), event(2, "A", "E"), event(3, "A", "E")]);
        recent.push(&[event(4, "A", "E")]);
        let all = LogFilter::default();
        assert!(recent.window(&all, 0, 4, 10, Order::OldestFirst).is_none());
        assert_eq!(
            positions(
                &recent
                    .window(&all, 1, 4, 10, Order::OldestFirst)
                    .unwrap_or_else(|| panic!("2..=4"))
            ),
            [2, 3, 4]
        );
        recent.push(&[event(7, "A", "E")]);
        assert!(recent.window(&all, 3, 4, 10, Order::OldestFirst).is_none());
        assert_eq!(
            positions(
                &recent
                    .window(&all, 6, 7, 10, Order::OldestFirst)
                    .unwrap_or_else(|| panic!("7"))
            ),
            [7]
        );
    }

    #[test]
    fn filter_on_event_type_aggregate_id_correlation_and_user_matches_only_that_event() {
        let correlation = CorrelationId::new_random();
        let user = UserId::new_random();
        let mut tagged = event(2, "Media", "MediaUploaded");
        tagged.metadata.correlation_id = Some(correlation);
        tagged.metadata.user_id = Some(user);
        let recent = RecentEvents::default();
        recent.push(&[
            event(1, "Media", "MediaUploaded"),
            tagged,
            event(3, "Media", "Other"),
        ]);
        let read = |filter: LogFilter| {
            positions(
                &recent
                    .window(&filter, 0, 3, 10, Order::OldestFirst)
                    .unwrap_or_else(|| panic!("covered")),
            )
        };
        let types = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            read(LogFilter {
                event_types: types(&["MediaUploaded"]),
                ..LogFilter::default()
            }),
            [1, 2]
        );
        assert_eq!(
            read(LogFilter {
                aggregate_id: Some("id-3".to_owned()),
                ..LogFilter::default()
            }),
            [3]
        );
        assert_eq!(
            read(LogFilter {
                correlation_id: Some(correlation.as_uuid()),
                ..LogFilter::default()
            }),
            [2]
        );
        assert_eq!(
            read(LogFilter {
                user_id: Some(user.as_uuid()),
                ..LogFilter::default()
            }),
            [2]
        );
        assert_eq!(
            read(LogFilter {
                user_id: Some(Uuid::new_v4()),
                ..LogFilter::default()
            }),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn capacity_0_keeps_nothing_and_always_sends_readers_to_the_database() {
        let recent = RecentEvents::with_capacity(0);
        recent.push(&[event(1, "A", "E")]);
        assert!(
            recent
                .window(&LogFilter::default(), 0, 1, 10, Order::OldestFirst)
                .is_none()
        );
    }
}
