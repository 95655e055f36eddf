//! ログイン途中 (プロバイダへ送り出してからコールバックまで) の状態の保管庫。
//!
//! ブラウザーには推測できないランダムな ID だけを HttpOnly・SameSite=Lax・Path=/auth の
//! クッキーで渡し、`state` と PKCE の verifier はゲートウェイのメモリに置きます。
//! 一件は **一度だけ** 取り出せ (再利用できない)、期限 ([`PendingLogins::new`] の `ttl`) を過ぎたものと、
//! 上限を超えたときの最も古いものは捨てます。状態はサービスの状態として渡します
//! (グローバルには置きません)。ゲートウェイを複数台並べる場合は共有の保管庫が必要です。

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use oauth2::CsrfToken;

use super::oauth::ProviderKind;

/// ログイン途中の 1 件。
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    /// 送り出したプロバイダ。
    pub provider: ProviderKind,
    /// 期待する `state`。
    pub state: String,
    /// PKCE の verifier。
    pub verifier: String,
}

#[derive(Debug)]
struct Entry {
    login: PendingLogin,
    created: Instant,
}

/// ログイン途中の状態の保管庫 (件数の上限と期限つき)。
#[derive(Debug)]
pub struct PendingLogins {
    entries: Mutex<HashMap<String, Entry>>,
    capacity: usize,
    ttl: Duration,
}

impl PendingLogins {
    /// 上限 `capacity` 件 (0 は 1 とみなします)、期限 `ttl` で作ります。
    #[must_use]
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// 保存して、クッキーに入れるランダムな ID を返します。
    pub fn insert(&self, login: PendingLogin) -> String {
        let id = CsrfToken::new_random_len(32).secret().clone();
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, e| now.duration_since(e.created) < self.ttl);
        while entries.len() >= self.capacity {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.created)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(key) => entries.remove(&key),
                None => break,
            };
        }
        entries.insert(
            id.clone(),
            Entry {
                login,
                created: now,
            },
        );
        id
    }

    /// 取り出します (取り出したものは消えます)。無い・期限切れなら `None`。
    pub fn take(&self, id: &str) -> Option<PendingLogin> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.remove(id)?;
        (entry.created.elapsed() < self.ttl).then_some(entry.login)
    }

    /// 保管している件数。
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// 空なら `true`。
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(state: &str) -> PendingLogin {
        PendingLogin {
            provider: ProviderKind::GitHub,
            state: state.into(),
            verifier: "v".into(),
        }
    }

    #[test]
    fn pending_login_can_be_taken_once_only() {
        let store = PendingLogins::new(10, Duration::from_secs(60));
        let id = store.insert(login("s1"));
        assert_eq!(store.take(&id), Some(login("s1")));
        assert_eq!(store.take(&id), None);
        assert!(store.is_empty());
    }

    #[test]
    fn expired_pending_login_is_not_returned() {
        let store = PendingLogins::new(10, Duration::ZERO);
        let id = store.insert(login("s"));
        assert_eq!(store.take(&id), None);
    }

    #[test]
    fn inserting_beyond_capacity_evicts_oldest() {
        let store = PendingLogins::new(2, Duration::from_secs(60));
        let first = store.insert(login("a"));
        let second = store.insert(login("b"));
        let third = store.insert(login("c"));
        assert_eq!(store.len(), 2);
        assert_eq!(store.take(&first), None);
        assert!(store.take(&second).is_some());
        assert!(store.take(&third).is_some());
    }
}
