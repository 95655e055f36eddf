//! 動画のコンテナから読む情報 (寸法と長さ) と、その読み取りの失敗。
//!
//! 形式ごとのパーサーは [`super::mp4`] (MP4 / QuickTime) と [`super::webm`] (WebM) です。
//! どちらも映像のデータは読み飛ばし、メタデータの部分だけを読みます。

use std::io::{self, Read, Seek};

use mediahub_core::media::ContentType;

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

/// 形式に合ったパーサーで寸法と長さを読みます。
///
/// # エラー
/// 読めなければ [`ContainerError`]。
pub fn read_info<R: Read + Seek>(
    content_type: ContentType,
    reader: &mut R,
) -> Result<VideoInfo, ContainerError> {
    match content_type {
        ContentType::Mp4 | ContentType::QuickTime => super::mp4::read_info(reader),
        ContentType::Webm => super::webm::read_info(reader),
        ContentType::Jpeg | ContentType::Png | ContentType::Gif | ContentType::Webp => {
            Err(ContainerError::NotVideo)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn read_info_of_an_image_type_is_not_video() {
        let result = read_info(ContentType::Png, &mut Cursor::new(Vec::new()));
        assert!(matches!(result, Err(ContainerError::NotVideo)));
    }
}
