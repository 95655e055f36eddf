//! イベントストアの設定 ([`EventStoreConfig`]) と、バイナリ `eventstore` の引数 ([`EventStoreArgs`])。

use std::time::Duration;

use super::db::{Durability, StoreLocation};
use crate::platform::auth::JwtKeys;
use crate::platform::config::AuthArgs;
use crate::platform::server::{DEFAULT_BODY_LIMIT, DEFAULT_GRACE};
use crate::platform::service::ArgsError;

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8084";
/// 既定のデータベースファイル。
pub const DEFAULT_DATABASE: &str = "./data/eventstore.db";

/// イベントストアの設定。
#[derive(Debug, Clone)]
pub struct EventStoreConfig {
    /// 待ち受けアドレス (テストでは `127.0.0.1:0`)。
    pub listen: String,
    /// 保存先 (SQLite のファイルか PostgreSQL の URL)。
    pub database: StoreLocation,
    /// JWT の鍵。
    pub keys: JwtKeys,
    /// リクエスト本体の上限 (バイト)。
    pub body_limit: usize,
    /// コミットの耐久性。
    pub durability: Durability,
    /// グレースフルシャットダウンの猶予。
    pub grace: Duration,
    /// ロングポーリングの「先頭が進んだだけ」の応答を返すまでの最短の時間
    /// (既定 [`PROGRESS_COALESCE`](super::state::PROGRESS_COALESCE))。
    pub progress_coalesce: Duration,
}

impl EventStoreConfig {
    /// 保存先と JWT の鍵から、ほかは既定値で設定を作ります。保存先は SQLite のファイルのパス
    /// (`Path`/`PathBuf`) か、[`StoreLocation`] になる文字列 (`postgres://…` なら PostgreSQL) です。
    #[must_use]
    pub fn new(database: impl Into<StoreLocation>, keys: JwtKeys) -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            database: database.into(),
            keys,
            body_limit: DEFAULT_BODY_LIMIT,
            durability: Durability::default(),
            grace: DEFAULT_GRACE,
            progress_coalesce: super::state::PROGRESS_COALESCE,
        }
    }

    /// 待ち受けアドレスを変えたコピーを返します。
    #[must_use]
    pub fn listen(mut self, listen: impl Into<String>) -> Self {
        self.listen = listen.into();
        self
    }

    /// 耐久性を変えたコピーを返します。
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// 先頭が進んだだけの応答を寄せ集める時間を変えたコピーを返します。
    #[must_use]
    pub fn progress_coalesce(mut self, progress_coalesce: Duration) -> Self {
        self.progress_coalesce = progress_coalesce;
        self
    }

    /// 本体の上限を変えたコピーを返します。
    #[must_use]
    pub fn body_limit(mut self, body_limit: usize) -> Self {
        self.body_limit = body_limit;
        self
    }
}

/// MediaHub のイベントストア: 集約ごとのストリーム (楽観的並行性制御)、隙間のない
/// グローバルログ、ロングポーリングと Server-Sent Events による購読。
#[derive(Debug, clap::Parser)]
#[command(name = "eventstore", version)]
pub struct EventStoreArgs {
    /// 待ち受けアドレス (例: 127.0.0.1:8084、0.0.0.0:8084)。
    #[arg(long, env = "EVENTSTORE_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// 保存先: SQLite のデータベースファイル (無ければディレクトリごと作ります) か、
    /// PostgreSQL の URL (postgres://user:password@host:5432/db。いくつものイベントストアが
    /// 同じデータベースに同時に書けます)。
    #[arg(long, env = "EVENTSTORE_DATABASE", default_value = DEFAULT_DATABASE)]
    pub database: StoreLocation,

    /// コミットの耐久性: full = コミットごとに fsync (既定)、normal = 速さ優先 (OS ごと落ちると
    /// 直前のコミットを失うことがあります。PostgreSQL では synchronous_commit = off)。
    #[arg(long, env = "EVENTSTORE_DURABILITY", value_enum, default_value_t = Durability::Full)]
    pub durability: Durability,

    /// JWT の設定。
    #[command(flatten)]
    pub auth: AuthArgs,
}

impl EventStoreArgs {
    /// 引数から設定を作ります。
    ///
    /// # エラー
    /// `JWT_SECRET` が使えなければ [`ArgsError`]。
    pub fn into_config(self) -> Result<EventStoreConfig, ArgsError> {
        Ok(EventStoreConfig::new(self.database, self.auth.keys()?)
            .listen(self.listen)
            .durability(self.durability))
    }
}
