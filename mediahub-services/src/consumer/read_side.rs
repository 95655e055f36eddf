//! 読み側のサービス (購読者を持ち、`min_position` で待つサービス) が共有する設定の形。
//! saga の設定 (`SagaConfig`) もこれを埋め込み、参加者の URL と再試行の方針だけを足します。
//!
//! media-query・album・notification の設定は同じ項目 (待ち受け、イベントストア、読みモデルの
//! ファイル、JWT の鍵、購読ランナー、`min_position` の待ち時間、停止の猶予) を持つので、
//! 一つの型 [`ReadSideConfig`] をサービスの印 ([`ReadSideService`]) で区別して使います
//! (`MediaQueryConfig` は `ReadSideConfig<MediaQueryService>` の別名)。違うのは既定の
//! 待ち受けアドレスだけです。

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::runner::ConsumerConfig;
use crate::platform::auth::JwtKeys;
use crate::platform::server::DEFAULT_GRACE;

/// `min_position` を待つ既定の最長時間 (超えたら 503 `read_model.not_caught_up`)。
pub const DEFAULT_READ_WAIT: Duration = Duration::from_secs(5);

/// 読み側のサービスの印: 既定の待ち受けアドレスを決めます。
pub trait ReadSideService {
    /// 既定の待ち受けアドレス。
    const DEFAULT_LISTEN: &'static str;
}

/// 読み側のサービスの設定。
pub struct ReadSideConfig<S> {
    /// 待ち受けアドレス (テストでは `127.0.0.1:0`)。
    pub listen: String,
    /// イベントストアのベース URL。
    pub eventstore_url: String,
    /// 読みモデルの SQLite ファイル。
    pub database: PathBuf,
    /// JWT の鍵 (検証と、イベントストアへのサービス用トークンの発行)。
    pub keys: JwtKeys,
    /// 購読ランナーの設定。
    pub consumer: ConsumerConfig,
    /// `min_position` を待つ最長の時間 (超えたら 503 `read_model.not_caught_up`)。
    pub read_wait: Duration,
    /// グレースフルシャットダウンの猶予。
    pub grace: Duration,
    service: PhantomData<fn() -> S>,
}

impl<S: ReadSideService> ReadSideConfig<S> {
    /// イベントストアの URL・読みモデルのファイル・JWT の鍵から、ほかは既定値で作ります。
    #[must_use]
    pub fn new(
        eventstore_url: impl Into<String>,
        database: impl AsRef<Path>,
        keys: JwtKeys,
    ) -> Self {
        Self {
            listen: S::DEFAULT_LISTEN.to_owned(),
            eventstore_url: eventstore_url.into(),
            database: database.as_ref().to_path_buf(),
            keys,
            consumer: ConsumerConfig::default(),
            read_wait: DEFAULT_READ_WAIT,
            grace: DEFAULT_GRACE,
            service: PhantomData,
        }
    }
}

impl<S> ReadSideConfig<S> {
    /// 待ち受けアドレスを変えたコピーを返します。
    #[must_use]
    pub fn listen(mut self, listen: impl Into<String>) -> Self {
        self.listen = listen.into();
        self
    }

    /// イベントストアの URL を変えたコピーを返します。
    #[must_use]
    pub fn eventstore_url(mut self, url: impl Into<String>) -> Self {
        self.eventstore_url = url.into();
        self
    }

    /// 購読ランナーの設定を変えたコピーを返します。
    #[must_use]
    pub fn consumer(mut self, consumer: ConsumerConfig) -> Self {
        self.consumer = consumer;
        self
    }

    /// `min_position` を待つ最長の時間を変えたコピーを返します。
    #[must_use]
    pub fn read_wait(mut self, read_wait: Duration) -> Self {
        self.read_wait = read_wait;
        self
    }

    /// グレースフルシャットダウンの猶予を変えたコピーを返します。
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

// 印の型 `S` に Clone や Debug を求めないよう、手で実装します。
impl<S> Clone for ReadSideConfig<S> {
    fn clone(&self) -> Self {
        Self {
            listen: self.listen.clone(),
            eventstore_url: self.eventstore_url.clone(),
            database: self.database.clone(),
            keys: self.keys.clone(),
            consumer: self.consumer,
            read_wait: self.read_wait,
            grace: self.grace,
            service: PhantomData,
        }
    }
}

impl<S> fmt::Debug for ReadSideConfig<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadSideConfig")
            .field("listen", &self.listen)
            .field("eventstore_url", &self.eventstore_url)
            .field("database", &self.database)
            .field("keys", &self.keys)
            .field("consumer", &self.consumer)
            .field("read_wait", &self.read_wait)
            .field("grace", &self.grace)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Example {}

    impl ReadSideService for Example {
        const DEFAULT_LISTEN: &'static str = "127.0.0.1:9999";
    }

    #[test]
    fn new_uses_service_default_listen_and_builders_change_one_field_each() {
        let keys = JwtKeys::from_secret(&[7; 32]).unwrap_or_else(|e| panic!("{e}"));
        let config = ReadSideConfig::<Example>::new("http://store", "read.db", keys);
        assert_eq!(config.listen, "127.0.0.1:9999");
        assert_eq!(config.read_wait, DEFAULT_READ_WAIT);
        let changed = config
            .clone()
            .listen("127.0.0.1:0")
            .read_wait(Duration::from_millis(7))
            .grace(Duration::from_millis(9));
        assert_eq!(
            (changed.listen.as_str(), changed.read_wait, changed.grace),
            (
                "127.0.0.1:0",
                Duration::from_millis(7),
                Duration::from_millis(9)
            )
        );
        assert_eq!(changed.eventstore_url, config.eventstore_url);
        assert!(format!("{changed:?}").contains("127.0.0.1:0"));
    }
}
