//! 動画のコンテナから読む情報 ([`VideoInfo`]) と、その読み取りの失敗 ([`ContainerError`])。

use std::io;

/// コンテナから読んだ情報。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoInfo {
    /// 表示上の幅 (ピクセル)。
    pub width: u32,
    /// 表示上の高さ (ピクセル)。
    pub height: u32,
    /// 長さ (ミリ秒)。コンテナに記録されていなければ `None`。
    pub duration_ms: Option<u64>,
}

/// コンテナを読めなかった理由。
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// 入出力エラー。
    #[error("動画ファイルを読めません: {0}")]
    Io(#[from] io::Error),
    /// 構造が壊れている。
    #[error("動画のコンテナが壊れています: {0}")]
    Malformed(&'static str),
    /// 必要な要素が無い。
    #[error("動画のコンテナに {0} がありません")]
    Missing(&'static str),
    /// 動画の形式ではない。
    #[error("動画の形式ではありません")]
    NotVideo,
}
