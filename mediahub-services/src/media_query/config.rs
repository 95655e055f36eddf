//! media-query の設定 ([`MediaQueryConfig`]) と、バイナリ `media-query` の引数 ([`MediaQueryArgs`])。

use std::path::PathBuf;
use std::time::Duration;

use crate::consumer::{ReadSideConfig, ReadSideService};
use crate::platform::config::AuthArgs;
use crate::platform::service::ArgsError;

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8082";
/// 既定のデータベースファイル。
pub const DEFAULT_DATABASE: &str = "./data/media-query.db";
/// 既定のイベントストアの URL。
pub const DEFAULT_EVENTSTORE_URL: &str = "http://127.0.0.1:8084";

/// media-query の印 (既定の待ち受けアドレス [`DEFAULT_LISTEN`])。
pub enum MediaQueryService {}

impl ReadSideService for MediaQueryService {
    const DEFAULT_LISTEN: &'static str = DEFAULT_LISTEN;
}

/// media-query の設定 (形は読み側のサービスで共通の [`ReadSideConfig`])。
pub type MediaQueryConfig = ReadSideConfig<MediaQueryService>;

/// MediaHub の media-query: イベントストアの Media イベントから読みモデルを作り、
/// メディアの一覧・詳細・ファイル名検索・履歴を返します。
#[derive(Debug, clap::Parser)]
#[command(name = "media-query", version)]
pub struct MediaQueryArgs {
    /// 待ち受けアドレス (例: 127.0.0.1:8082、0.0.0.0:8082)。
    #[arg(long, env = "MEDIA_QUERY_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// イベントストアのベース URL。
    #[arg(long, env = "EVENTSTORE_URL", default_value = DEFAULT_EVENTSTORE_URL)]
    pub eventstore_url: String,

    /// 読みモデルの SQLite ファイル。無ければディレクトリごと作ります。
    #[arg(long, env = "MEDIA_QUERY_DATABASE", default_value = DEFAULT_DATABASE)]
    pub database: PathBuf,

    /// min_position を待つ最長のミリ秒 (超えたら 503 read_model.not_caught_up)。
    #[arg(
        long,
        env = "MEDIA_QUERY_READ_WAIT_MS",
        default_value_t = 5000,
        value_parser = clap::value_parser!(u64).range(1..=60_000)
    )]
    pub read_wait_ms: u64,

    /// JWT の設定。
    #[command(flatten)]
    pub auth: AuthArgs,
}

impl MediaQueryArgs {
    /// 引数から設定を作ります。
    ///
    /// # エラー
    /// `JWT_SECRET` が使えなければ [`ArgsError`]。
    pub fn into_config(self) -> Result<MediaQueryConfig, ArgsError> {
        Ok(
            MediaQueryConfig::new(self.eventstore_url, &self.database, self.auth.keys()?)
                .listen(self.listen)
                .read_wait(Duration::from_millis(self.read_wait_ms)),
        )
    }
}
