//! media-command の設定 ([`MediaCommandConfig`]) と、バイナリ `media-command` の引数 ([`MediaCommandArgs`])。

use std::path::{Path, PathBuf};
use std::time::Duration;

use mediahub_core::media::DEFAULT_MAX_UPLOAD_BYTES;

use super::video::ffmpeg;
use crate::platform::auth::JwtKeys;
use crate::platform::config::AuthArgs;
use crate::platform::server::DEFAULT_GRACE;
use crate::platform::service::ArgsError;

/// 既定の待ち受けアドレス。
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";
/// 既定のファイルの保存先。
pub const DEFAULT_STORAGE_DIR: &str = "./data/media";
/// 既定のイベントストアの URL。
pub const DEFAULT_EVENTSTORE_URL: &str = "http://127.0.0.1:8084";

/// media-command の設定。
#[derive(Debug, Clone)]
pub struct MediaCommandConfig {
    /// 待ち受けアドレス (テストでは `127.0.0.1:0`)。
    pub listen: String,
    /// イベントストアのベース URL (例: `http://127.0.0.1:8084`)。
    pub eventstore_url: String,
    /// ファイルの保存先のディレクトリ (無ければ作ります)。
    pub storage_dir: PathBuf,
    /// JWT の鍵 (利用者の検証と、イベントストアへのサービス用トークンの発行に使います)。
    pub keys: JwtKeys,
    /// アップロードの上限 (バイト)。
    pub max_upload_bytes: u64,
    /// `X-Fault-Inject` と障害注入を受け付けるか (開発用。既定は `false`)。
    pub fault_injection: bool,
    /// 動画のサムネイルに最初のフレームを取り出す `ffmpeg` (既定は `PATH` から探したもの。
    /// `None` ならプレースホルダー)。
    pub ffmpeg: Option<PathBuf>,
    /// グレースフルシャットダウンの猶予。
    pub grace: Duration,
}

impl MediaCommandConfig {
    /// イベントストアの URL、保存先、JWT の鍵から、ほかは既定値で設定を作ります。
    #[must_use]
    pub fn new(
        eventstore_url: impl Into<String>,
        storage_dir: impl AsRef<Path>,
        keys: JwtKeys,
    ) -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            eventstore_url: eventstore_url.into(),
            storage_dir: storage_dir.as_ref().to_path_buf(),
            keys,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            fault_injection: false,
            ffmpeg: ffmpeg::find_on_path(),
            grace: DEFAULT_GRACE,
        }
    }

    /// 待ち受けアドレスを変えたコピーを返します。
    #[must_use]
    pub fn listen(mut self, listen: impl Into<String>) -> Self {
        self.listen = listen.into();
        self
    }

    /// アップロードの上限を変えたコピーを返します。
    #[must_use]
    pub fn max_upload_bytes(mut self, max_upload_bytes: u64) -> Self {
        self.max_upload_bytes = max_upload_bytes;
        self
    }

    /// 障害注入の有無を変えたコピーを返します。
    #[must_use]
    pub fn fault_injection(mut self, enabled: bool) -> Self {
        self.fault_injection = enabled;
        self
    }

    /// 動画のフレームを取り出す `ffmpeg` を変えたコピーを返します (`None` で使わない)。
    #[must_use]
    pub fn ffmpeg(mut self, ffmpeg: Option<PathBuf>) -> Self {
        self.ffmpeg = ffmpeg;
        self
    }

    /// グレースフルシャットダウンの猶予を変えたコピーを返します。
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

/// MediaHub の media-command: メディアのアップロード (流したまま保存)・削除・ファイル取得と、
/// Saga から呼ばれる処理 (サムネイル生成) と補償。
#[derive(Debug, clap::Parser)]
#[command(name = "media-command", version)]
pub struct MediaCommandArgs {
    /// 待ち受けアドレス (例: 127.0.0.1:8081、0.0.0.0:8081)。
    #[arg(long, env = "MEDIA_COMMAND_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// イベントストアのベース URL。
    #[arg(long, env = "EVENTSTORE_URL", default_value = DEFAULT_EVENTSTORE_URL)]
    pub eventstore_url: String,

    /// 元ファイルとサムネイルの保存先ディレクトリ。無ければ作ります。
    #[arg(long, env = "MEDIA_COMMAND_STORAGE_DIR", default_value = DEFAULT_STORAGE_DIR)]
    pub storage_dir: PathBuf,

    /// アップロードの上限 (バイト、1 以上)。既定は 50 MB (50,000,000 バイト)。
    #[arg(
        long,
        env = "MEDIA_MAX_UPLOAD_BYTES",
        default_value_t = DEFAULT_MAX_UPLOAD_BYTES,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub max_upload_bytes: u64,

    /// 障害注入 (アップロードの X-Fault-Inject ヘッダー) を受け付ける (開発・学習用)。
    #[arg(long, env = "FAULT_INJECTION")]
    pub fault_injection: bool,

    /// JWT の設定。
    #[command(flatten)]
    pub auth: AuthArgs,
}

impl MediaCommandArgs {
    /// 引数から設定を作ります。
    ///
    /// # エラー
    /// `JWT_SECRET` が使えなければ [`ArgsError`]。
    pub fn into_config(self) -> Result<MediaCommandConfig, ArgsError> {
        Ok(
            MediaCommandConfig::new(&self.eventstore_url, &self.storage_dir, self.auth.keys()?)
                .listen(self.listen)
                .max_upload_bytes(self.max_upload_bytes)
                .fault_injection(self.fault_injection),
        )
    }
}
