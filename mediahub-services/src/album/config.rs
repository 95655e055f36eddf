//! album サービスの設定 ([`AlbumConfig`]) と、バイナリ `album` の引数 ([`AlbumArgs`])。

use std::path::PathBuf;
use std::time::Duration;

use crate::consumer::{ReadSideConfig, ReadSideService};
use crate::platform::config::AuthArgs;
use crate::platform::service::ArgsError;

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8083";
/// 既定の読みモデルのファイル。
pub const DEFAULT_DATABASE: &str = "./data/album.db";
/// 既定のイベントストアの URL。
pub const DEFAULT_EVENTSTORE_URL: &str = "http://127.0.0.1:8084";

/// album サービスの印 (既定の待ち受けアドレス [`DEFAULT_LISTEN`])。
pub enum AlbumService {}

impl ReadSideService for AlbumService {
    const DEFAULT_LISTEN: &'static str = DEFAULT_LISTEN;
}

/// album サービスの設定 (形は読み側のサービスで共通の [`ReadSideConfig`])。
pub type AlbumConfig = ReadSideConfig<AlbumService>;

/// MediaHub のアルバムサービス: アルバムの作成・一覧・改名・削除、メディアの追加と除去、
/// Saga のためのデフォルトアルバムへの追加。
#[derive(Debug, clap::Parser)]
#[command(name = "album", version)]
pub struct AlbumArgs {
    /// 待ち受けアドレス (例: 127.0.0.1:8083、0.0.0.0:8083)。
    #[arg(long, env = "ALBUM_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// イベントストアのベース URL。
    #[arg(long, env = "EVENTSTORE_URL", default_value = DEFAULT_EVENTSTORE_URL)]
    pub eventstore_url: String,

    /// 読みモデルの SQLite のファイル。無ければディレクトリごと作ります。
    #[arg(long, env = "ALBUM_DATABASE", default_value = DEFAULT_DATABASE)]
    pub database: PathBuf,

    /// クエリの min_position を待つ最長の時間 (ミリ秒、1〜60000)。
    #[arg(
        long,
        env = "ALBUM_READ_WAIT_MS",
        default_value_t = 5000,
        value_parser = clap::value_parser!(u64).range(1..=60_000)
    )]
    pub read_wait_ms: u64,

    /// JWT の設定。
    #[command(flatten)]
    pub auth: AuthArgs,
}

impl AlbumArgs {
    /// 引数から設定を作ります。
    ///
    /// # エラー
    /// `JWT_SECRET` が使えなければ [`ArgsError`]。
    pub fn into_config(self) -> Result<AlbumConfig, ArgsError> {
        Ok(
            AlbumConfig::new(self.eventstore_url, &self.database, self.auth.keys()?)
                .listen(self.listen)
                .read_wait(Duration::from_millis(self.read_wait_ms)),
        )
    }
}
