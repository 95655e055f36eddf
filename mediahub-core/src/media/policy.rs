//! メディアの受け入れ方針: 許可する形式、サイズ上限、表示用ファイル名の無害化。
//!
//! これらはビジネスルールなのでコア側にあります。サービス層はバイト列の先頭 (マジックバイト)
//! から形式を判定し ([`ContentType::sniff`])、申告された形式と一致するかをここで確かめます。

use serde::{Deserialize, Serialize};

/// 既定のアップロードサイズ上限 (50 MB = 50,000,000 バイト)。
///
/// 10 進の MB にしているのは、「50 MB まで」と説明したときに 51 MB (10 進でも 2 進でも) が
/// 必ず拒まれ、ちょうど 50 MB のファイルが必ず受け付けられるようにするためです。
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 50_000_000;

/// 表示用ファイル名の最大文字数。
pub const MAX_FILENAME_CHARS: usize = 255;

/// メディアの大分類。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// 静止画。
    Image,
    /// 動画。
    Video,
}

impl MediaKind {
    /// API や読み取りモデルで使う小文字の名前 (`image` / `video`)。
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
        }
    }
}

/// 受け入れるメディア形式 (許可リスト)。これ以外はすべて拒否します。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContentType {
    /// JPEG 画像 (`image/jpeg`)。
    Jpeg,
    /// PNG 画像 (`image/png`)。
    Png,
    /// GIF 画像 (`image/gif`)。
    Gif,
    /// WebP 画像 (`image/webp`)。
    Webp,
    /// MP4 動画 (`video/mp4`)。
    Mp4,
    /// WebM 動画 (`video/webm`)。
    Webm,
    /// QuickTime 動画 (`video/quicktime`)。
    QuickTime,
}

impl ContentType {
    /// 許可されているすべての形式。
    pub const ALL: [Self; 7] = [
        Self::Jpeg,
        Self::Png,
        Self::Gif,
        Self::Webp,
        Self::Mp4,
        Self::Webm,
        Self::QuickTime,
    ];

    /// MIME 型の文字列。
    #[must_use]
    pub const fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Mp4 => "video/mp4",
            Self::Webm => "video/webm",
            Self::QuickTime => "video/quicktime",
        }
    }

    /// 画像か動画か。
    #[must_use]
    pub const fn kind(self) -> MediaKind {
        match self {
            Self::Jpeg | Self::Png | Self::Gif | Self::Webp => MediaKind::Image,
            Self::Mp4 | Self::Webm | Self::QuickTime => MediaKind::Video,
        }
    }

    /// MIME 型の文字列から形式を得ます (大文字小文字と `; charset=…` などの引数は無視)。
    /// 許可リストにない型なら `None`。
    #[must_use]
    pub fn from_mime(mime: &str) -> Option<Self> {
        let essence = mime.split(';').next().unwrap_or_default().trim();
        Self::ALL
            .into_iter()
            .find(|ct| ct.mime().eq_ignore_ascii_case(essence))
    }

    /// ファイル先頭のバイト列 (マジックバイト) から形式を判定します。
    ///
    /// 先頭 16 バイトあれば十分です。どの許可形式にも当てはまらなければ `None`。
    ///
    /// ```
    /// use mediahub_core::media::ContentType;
    /// let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    /// assert_eq!(ContentType::sniff(png), Some(ContentType::Png));
    /// assert_eq!(ContentType::sniff(b"hello, I am text"), None);
    /// ```
    #[must_use]
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Some(Self::Jpeg);
        }
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Some(Self::Png);
        }
        if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
            return Some(Self::Gif);
        }
        if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
            return Some(Self::Webp);
        }
        if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
            return Some(Self::Webm);
        }
        if head.len() >= 12 && &head[4..8] == b"ftyp" {
            return Some(if &head[8..12] == b"qt  " {
                Self::QuickTime
            } else {
                Self::Mp4
            });
        }
        None
    }
}

/// アップロードを受け入れる際の方針 (サイズ上限など)。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadPolicy {
    /// 1 ファイルの最大バイト数。
    pub max_bytes: u64,
}

impl Default for UploadPolicy {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_UPLOAD_BYTES,
        }
    }
}

/// アップロード方針に反したときのエラー。
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    /// 空のファイル。
    #[error("ファイルが空です")]
    Empty,
    /// サイズ上限を超えた。
    #[error("ファイルが大きすぎます: {size} バイト (上限 {max} バイト)")]
    TooLarge {
        /// 実際のサイズ。
        size: u64,
        /// 上限。
        max: u64,
    },
    /// 許可されていない形式。
    #[error("許可されていない形式です: {0}")]
    UnsupportedType(String),
    /// 申告された形式と中身 (マジックバイト) が一致しない。
    #[error("申告された形式 {declared} と中身の形式 {detected} が一致しません")]
    TypeMismatch {
        /// 申告された MIME 型。
        declared: String,
        /// 中身から判定した MIME 型 (判定できなければ `unknown`)。
        detected: String,
    },
}

impl UploadPolicy {
    /// サイズが方針の範囲内か確かめます。
    ///
    /// # エラー
    /// 0 バイトなら [`PolicyViolation::Empty`]、上限超過なら [`PolicyViolation::TooLarge`]。
    pub fn check_size(&self, size: u64) -> Result<(), PolicyViolation> {
        match size {
            0 => Err(PolicyViolation::Empty),
            s if s > self.max_bytes => Err(PolicyViolation::TooLarge {
                size: s,
                max: self.max_bytes,
            }),
            _ => Ok(()),
        }
    }

    /// 申告された MIME 型と、中身から判定した形式が一致するか確かめ、形式を返します。
    ///
    /// `declared` が `None` か `application/octet-stream` のときは中身の判定だけで決めます。
    ///
    /// # エラー
    /// 中身が許可形式でなければ [`PolicyViolation::UnsupportedType`]、申告と中身が
    /// 食い違えば [`PolicyViolation::TypeMismatch`]。
    pub fn check_type(
        &self,
        declared: Option<&str>,
        detected: Option<ContentType>,
    ) -> Result<ContentType, PolicyViolation> {
        let declared = declared
            .map(str::trim)
            .filter(|d| !d.is_empty() && !d.eq_ignore_ascii_case("application/octet-stream"));
        match (declared, detected) {
            (None, Some(detected)) => Ok(detected),
            (None, None) => Err(PolicyViolation::UnsupportedType("unknown".to_owned())),
            (Some(declared), detected) => {
                let Some(declared_type) = ContentType::from_mime(declared) else {
                    return Err(PolicyViolation::UnsupportedType(declared.to_owned()));
                };
                match detected {
                    Some(detected) if detected == declared_type => Ok(detected),
                    // MP4 と QuickTime は同じコンテナ系統なので相互に許します。
                    Some(ContentType::Mp4 | ContentType::QuickTime)
                        if matches!(declared_type, ContentType::Mp4 | ContentType::QuickTime) =>
                    {
                        Ok(declared_type)
                    }
                    other => Err(PolicyViolation::TypeMismatch {
                        declared: declared_type.mime().to_owned(),
                        detected: other.map_or("unknown", ContentType::mime).to_owned(),
                    }),
                }
            }
        }
    }
}

/// 利用者が付けたファイル名を **表示用に** 無害化します。
///
/// ディレクトリ部分 (`/` と `\` より前) を捨て、制御文字を取り除き、前後の空白と先頭の `.` を
/// 削り、最大 [`MAX_FILENAME_CHARS`] 文字に切り詰めます。何も残らなければ `"untitled"`。
/// 保存先のパスには **決して** 使いません (保存先はメディア ID だけから作ります)。
///
/// ```
/// use mediahub_core::media::sanitize_filename;
/// assert_eq!(sanitize_filename("../../etc/passwd.jpg"), "passwd.jpg");
/// assert_eq!(sanitize_filename("C:\\Users\\me\\cat.png"), "cat.png");
/// assert_eq!(sanitize_filename("\u{0}\n"), "untitled");
/// ```
#[must_use]
pub fn sanitize_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let truncated: String = trimmed.chars().take(MAX_FILENAME_CHARS).collect();
    if truncated.is_empty() {
        "untitled".to_owned()
    } else {
        truncated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_recognises_every_allowed_format_from_its_magic_bytes() {
        let cases: [(&[u8], ContentType); 8] = [
            (b"\xFF\xD8\xFF\xE0\0\x10JFIF", ContentType::Jpeg),
            (b"\x89PNG\r\n\x1a\n\0\0", ContentType::Png),
            (b"GIF89a\x01\0", ContentType::Gif),
            (b"GIF87a\x01\0", ContentType::Gif),
            (b"RIFF\0\0\0\0WEBPVP8 ", ContentType::Webp),
            (b"\x1A\x45\xDF\xA3\x01\0", ContentType::Webm),
            (b"\0\0\0\x18ftypisom", ContentType::Mp4),
            (b"\0\0\0\x14ftypqt  ", ContentType::QuickTime),
        ];
        for (head, expected) in cases {
            assert_eq!(ContentType::sniff(head), Some(expected), "{expected:?}");
        }
    }

    #[test]
    fn sniff_of_testdata_files_matches_their_real_format() {
        let cases: [(&[u8], Option<ContentType>); 8] = [
            (
                include_bytes!("../../../testdata/images/sunset-640x427.jpg"),
                Some(ContentType::Jpeg),
            ),
            (
                include_bytes!("../../../testdata/images/small-64x48.png"),
                Some(ContentType::Png),
            ),
            (
                include_bytes!("../../../testdata/images/small-32x32.gif"),
                Some(ContentType::Gif),
            ),
            (
                include_bytes!("../../../testdata/images/small-80x60.webp"),
                Some(ContentType::Webp),
            ),
            (
                include_bytes!("../../../testdata/images/corrupt.jpg"),
                Some(ContentType::Jpeg),
            ),
            (
                include_bytes!("../../../testdata/images/not-an-image.jpg"),
                None,
            ),
            (
                include_bytes!("../../../testdata/videos/tiny-320x240-2500ms.mp4"),
                Some(ContentType::Mp4),
            ),
            (
                include_bytes!("../../../testdata/videos/tiny-640x360-1200ms.mov"),
                Some(ContentType::QuickTime),
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(ContentType::sniff(&bytes[..16]), expected);
        }
    }

    #[test]
    fn sniff_of_text_or_short_input_is_none() {
        assert_eq!(ContentType::sniff(b"this is text"), None);
        assert_eq!(ContentType::sniff(b""), None);
        assert_eq!(ContentType::sniff(b"RIFF"), None);
    }

    #[test]
    fn from_mime_ignores_case_and_parameters_and_rejects_unknown() {
        assert_eq!(
            ContentType::from_mime("IMAGE/JPEG"),
            Some(ContentType::Jpeg)
        );
        assert_eq!(
            ContentType::from_mime("video/mp4; codecs=avc1"),
            Some(ContentType::Mp4)
        );
        assert_eq!(ContentType::from_mime("text/plain"), None);
    }

    #[test]
    fn every_content_type_round_trips_through_mime_and_has_a_kind() {
        for ct in ContentType::ALL {
            assert_eq!(ContentType::from_mime(ct.mime()), Some(ct));
            let expected = if ct.mime().starts_with("image/") {
                MediaKind::Image
            } else {
                MediaKind::Video
            };
            assert_eq!(ct.kind(), expected);
        }
        assert_eq!(MediaKind::Image.as_str(), "image");
        assert_eq!(MediaKind::Video.as_str(), "video");
    }

    #[test]
    fn check_size_zero_is_empty_over_limit_is_too_large_at_limit_is_ok() {
        let policy = UploadPolicy { max_bytes: 10 };
        assert_eq!(policy.check_size(0), Err(PolicyViolation::Empty));
        assert_eq!(
            policy.check_size(11),
            Err(PolicyViolation::TooLarge { size: 11, max: 10 })
        );
        assert_eq!(policy.check_size(10), Ok(()));
        assert_eq!(UploadPolicy::default().max_bytes, 50_000_000);
    }

    #[test]
    fn check_type_text_declared_as_jpeg_is_type_mismatch() {
        let result = UploadPolicy::default().check_type(Some("image/jpeg"), None);
        assert_eq!(
            result,
            Err(PolicyViolation::TypeMismatch {
                declared: "image/jpeg".into(),
                detected: "unknown".into()
            })
        );
    }

    #[test]
    fn check_type_png_declared_as_jpeg_is_type_mismatch() {
        let result = UploadPolicy::default().check_type(Some("image/jpeg"), Some(ContentType::Png));
        assert!(matches!(result, Err(PolicyViolation::TypeMismatch { .. })));
    }

    #[test]
    fn check_type_unsupported_declared_type_is_rejected() {
        let result =
            UploadPolicy::default().check_type(Some("application/pdf"), Some(ContentType::Png));
        assert_eq!(
            result,
            Err(PolicyViolation::UnsupportedType("application/pdf".into()))
        );
    }

    #[test]
    fn check_type_without_declaration_uses_detected_type_or_rejects_unknown() {
        let policy = UploadPolicy::default();
        assert_eq!(
            policy.check_type(None, Some(ContentType::Gif)),
            Ok(ContentType::Gif)
        );
        assert_eq!(
            policy.check_type(Some("application/octet-stream"), Some(ContentType::Webp)),
            Ok(ContentType::Webp)
        );
        assert!(matches!(
            policy.check_type(None, None),
            Err(PolicyViolation::UnsupportedType(_))
        ));
    }

    #[test]
    fn check_type_quicktime_container_declared_as_mp4_is_accepted_as_mp4() {
        let result =
            UploadPolicy::default().check_type(Some("video/mp4"), Some(ContentType::QuickTime));
        assert_eq!(result, Ok(ContentType::Mp4));
    }

    #[test]
    fn sanitize_filename_strips_paths_controls_and_leading_dots() {
        assert_eq!(sanitize_filename("../../etc/passwd.jpg"), "passwd.jpg");
        assert_eq!(sanitize_filename("..\\..\\x.png"), "x.png");
        assert_eq!(sanitize_filename(".hidden.gif"), "hidden.gif");
        assert_eq!(sanitize_filename("  cat\t.jpg "), "cat.jpg");
        assert_eq!(sanitize_filename("dir/"), "untitled");
        assert_eq!(sanitize_filename("猫の写真.jpg"), "猫の写真.jpg");
    }

    #[test]
    fn sanitize_filename_truncates_to_max_chars() {
        let long = "あ".repeat(300);
        assert_eq!(sanitize_filename(&long).chars().count(), MAX_FILENAME_CHARS);
    }
}
