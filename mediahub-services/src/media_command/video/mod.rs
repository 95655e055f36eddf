//! 動画: コンテナから読む情報 (寸法と長さ) と、最初のフレームの取り出し。
//!
//! - [`info`]: 読んだ情報 [`VideoInfo`] と、読めなかった理由 [`ContainerError`]
//! - [`mp4`] (MP4 / QuickTime) と [`webm`] (WebM): 形式ごとのパーサー。どちらも映像のデータは
//!   読み飛ばし、メタデータの部分だけを読みます
//! - [`ffmpeg`]: サムネイル用に最初のフレームを PNG で取り出す (ffmpeg があるときだけ)

pub mod ffmpeg;
pub mod info;
pub mod mp4;
pub mod webm;

use std::io::{Read, Seek};

use mediahub_core::media::ContentType;

pub use self::info::{ContainerError, VideoInfo};

/// 形式に合ったパーサーで寸法と長さを読みます。
///
/// # エラー
/// 読めなければ [`ContainerError`]。
pub fn read_info<R: Read + Seek>(
    content_type: ContentType,
    reader: &mut R,
) -> Result<VideoInfo, ContainerError> {
    match content_type {
        ContentType::Mp4 | ContentType::QuickTime => mp4::read_info(reader),
        ContentType::Webm => webm::read_info(reader),
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
