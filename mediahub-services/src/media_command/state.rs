//! ハンドラーが共有する状態 ([`MediaCommandState`])。

use std::path::PathBuf;
use std::sync::Arc;

use mediahub_core::media::UploadPolicy;

use super::commands::MediaCommands;
use super::storage::Storage;

/// API が共有する状態。
#[derive(Debug)]
pub struct MediaCommandState {
    /// コマンドの実行と集約の読み込み。
    pub commands: MediaCommands,
    /// ファイルの保存場所。
    pub storage: Storage,
    /// アップロードの方針 (上限)。
    pub policy: UploadPolicy,
    /// 障害注入を受け付けるか。
    pub fault_injection: bool,
    /// 動画のフレームを取り出す `ffmpeg` (無ければプレースホルダー)。
    pub ffmpeg: Option<PathBuf>,
}

/// 共有の状態への参照。
pub type SharedState = Arc<MediaCommandState>;
