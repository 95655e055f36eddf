//! メディアの処理: 寸法 (と動画の長さ) を読み、200×200 に収まるサムネイルを作ります。
//!
//! CPU を使う同期処理なので、呼び出し側は `tokio::task::spawn_blocking` の中で呼びます。
//!
//! - 画像: [`image::ImageReader`] に [`Limits`] (幅・高さ 12,000 ピクセル、確保 256 MiB まで) を
//!   付けてデコードします。展開爆弾 (小さなファイルで巨大な寸法を宣言する画像) はピクセルを
//!   確保する前に拒否されます。EXIF の向き (Orientation) を適用してから寸法を記録し、
//!   縦横比を保って縮小します (拡大はしません)。透明度のある画像は PNG、それ以外は JPEG。
//! - 動画 (MP4 / QuickTime / WebM): [`super::video`] でコンテナから寸法と長さを読みます。
//!   サムネイルは、`ffmpeg` が使えれば最初のフレーム ([`super::ffmpeg`]) を画像と同じ上限で
//!   デコードして縮小したもの、使えなければ (またはフレームを取り出せなければ) 動画の縦横比の
//!   暗い画像に再生ボタン (三角形) を描いたプレースホルダーです。

use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, Rgb, RgbImage};
use mediahub_core::ids::MediaId;
use mediahub_core::media::{ContentType, ProcessingOutput};

use super::storage::{Storage, ThumbnailFormat};
use super::video;

/// サムネイルが収まる枠の一辺 (ピクセル)。
pub const THUMBNAIL_BOX: u32 = 200;
/// デコードを許す最大の幅と高さ (ピクセル)。
pub const MAX_DIMENSION: u32 = 12_000;
/// デコーダーが確保してよい最大のバイト数。
pub const MAX_DECODE_ALLOC: u64 = 256 * 1024 * 1024;
/// JPEG サムネイルの品質。
const JPEG_QUALITY: u8 = 85;

/// 処理の失敗。
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// ファイルの中身が原因の失敗 (壊れたファイル・上限超え・未対応の形式)。
    /// 再試行しても変わらないので `MediaProcessingFailed` として記録します。
    #[error("{0}")]
    Content(String),
    /// 入出力の失敗 (ディスクなど)。一時的かもしれないので 500 として返します。
    #[error("ファイルの入出力エラー: {0}")]
    Io(#[from] io::Error),
}

/// 1 件のメディアを処理し、サムネイルを保存して結果を返します (同期処理)。
///
/// サムネイルは一時ファイルに書いてから rename するので、途中で止まっても壊れたサムネイルは
/// 残りません。
///
/// # エラー
/// 中身が原因なら [`ProcessError::Content`]、ディスクの失敗なら [`ProcessError::Io`]。
/// 元ファイルが無いときも [`ProcessError::Content`] です (再試行しても現れないため)。
pub fn process(
    storage: &Storage,
    id: MediaId,
    content_type: ContentType,
    ffmpeg: Option<&Path>,
) -> Result<ProcessingOutput, ProcessError> {
    let original = storage.original_path(id);
    let file = match File::open(&original) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ProcessError::Content("元のファイルがありません".into()));
        }
        Err(e) => return Err(e.into()),
    };
    let (thumbnail, width, height, duration_ms) = match content_type {
        ContentType::Mp4 | ContentType::QuickTime | ContentType::Webm => {
            let info = video::read_info(content_type, &mut BufReader::new(file))
                .map_err(|e| ProcessError::Content(e.to_string()))?;
            let thumb = ffmpeg
                .and_then(|ffmpeg| video_frame(ffmpeg, &original))
                .map_or_else(
                    || video_placeholder(info.width, info.height),
                    |frame| thumbnail_of(&frame),
                );
            (thumb, info.width, info.height, info.duration_ms)
        }
        ContentType::Jpeg | ContentType::Png | ContentType::Gif | ContentType::Webp => {
            let image = decode_image(BufReader::new(file), content_type)?;
            let (width, height) = (image.width(), image.height());
            (thumbnail_of(&image), width, height, None)
        }
    };
    let format = if thumbnail.color().has_alpha() {
        ThumbnailFormat::Png
    } else {
        ThumbnailFormat::Jpeg
    };
    save_thumbnail(&thumbnail, &storage.thumbnail_path(id, format), format)?;
    Ok(ProcessingOutput {
        thumbnail_key: Storage::thumbnail_key(id, format),
        width,
        height,
        duration_ms,
    })
}

fn decoder_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    limits
}

fn image_format(content_type: ContentType) -> Option<image::ImageFormat> {
    match content_type {
        ContentType::Jpeg => Some(image::ImageFormat::Jpeg),
        ContentType::Png => Some(image::ImageFormat::Png),
        ContentType::Gif => Some(image::ImageFormat::Gif),
        ContentType::Webp => Some(image::ImageFormat::WebP),
        ContentType::Mp4 | ContentType::Webm | ContentType::QuickTime => None,
    }
}

/// 上限つきでデコードし、EXIF の向きを適用します。
fn decode_image(
    reader: BufReader<File>,
    content_type: ContentType,
) -> Result<DynamicImage, ProcessError> {
    let content = |e: image::ImageError| ProcessError::Content(format!("画像を読めません: {e}"));
    let format = image_format(content_type)
        .ok_or_else(|| ProcessError::Content("画像の形式ではありません".into()))?;
    let mut reader = ImageReader::with_format(reader, format);
    reader.limits(decoder_limits());
    let mut decoder = reader.into_decoder().map_err(content)?;
    let orientation = decoder.orientation().map_err(content)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(content)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// `ffmpeg` で動画の最初のフレームを取り出し、画像と同じ上限でデコードします。
/// 取り出せなければ理由をログに書いて `None` (呼び出し側はプレースホルダーにします)。
fn video_frame(ffmpeg: &Path, video: &Path) -> Option<DynamicImage> {
    let decoded = video::ffmpeg::first_frame_png(ffmpeg, video)
        .map_err(|e| e.to_string())
        .and_then(|png| {
            let mut reader =
                ImageReader::with_format(io::Cursor::new(png), image::ImageFormat::Png);
            reader.limits(decoder_limits());
            reader
                .decode()
                .map_err(|e| format!("フレームを読めません: {e}"))
        });
    match decoded {
        Ok(frame) => Some(frame),
        Err(reason) => {
            tracing::info!(
                video = %video.display(),
                %reason,
                "動画のフレームを取り出せないので、プレースホルダーのサムネイルにします"
            );
            None
        }
    }
}

/// 縦横比を保って [`THUMBNAIL_BOX`] の枠に収めます (小さい画像は拡大しません)。
///
/// フィルターは `Triangle` (縮小率に合わせて幅を広げる三角フィルター。縮小では十分に
/// エイリアスを抑えます)。1280×800 の JPEG を 200×125 にする時間をリリースビルドで測ると
/// Triangle 約 12 ms、CatmullRom 約 23 ms、Lanczos3 約 34 ms で、アップロードから Saga 完了まで
/// p50 60 ms という目標 ([開発ガイド「ベンチマークの結果」](https://github.com/nao1215/mediahub/blob/main/docs/development.md#ベンチマークの結果-参考)) に収めるために Triangle を選びました。
fn thumbnail_of(image: &DynamicImage) -> DynamicImage {
    if image.width() <= THUMBNAIL_BOX && image.height() <= THUMBNAIL_BOX {
        return image.clone();
    }
    image.resize(THUMBNAIL_BOX, THUMBNAIL_BOX, FilterType::Triangle)
}

/// 縦横比 `width:height` を保って枠に収まる大きさ (各辺 1 以上)。
fn fit(width: u32, height: u32) -> (u32, u32) {
    let (w, h) = (u64::from(width.max(1)), u64::from(height.max(1)));
    let box_side = u64::from(THUMBNAIL_BOX);
    let (tw, th) = if w >= h {
        (box_side, (box_side * h / w).max(1))
    } else {
        ((box_side * w / h).max(1), box_side)
    };
    (
        u32::try_from(tw).unwrap_or(THUMBNAIL_BOX),
        u32::try_from(th).unwrap_or(THUMBNAIL_BOX),
    )
}

/// 動画用のプレースホルダー: 暗い背景の中央に白い再生ボタン (右向きの三角形)。
fn video_placeholder(width: u32, height: u32) -> DynamicImage {
    let (tw, th) = fit(width, height);
    let background = Rgb([32u8, 32, 40]);
    let triangle = Rgb([235u8, 235, 235]);
    let mut image = RgbImage::from_pixel(tw, th, background);
    // 三角形の高さ (縦の辺の長さ) は短い辺の半分。
    let side = i64::from(tw.min(th) / 2);
    let (cx, cy) = (i64::from(tw / 2), i64::from(th / 2));
    let left = cx - side / 3;
    let top = cy - side / 2;
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        let (dx, dy) = (i64::from(x) - left, i64::from(y) - top);
        // 左辺が縦、頂点が右にある三角形: 横の進み dx が、上端・下端からの近さの比に収まる。
        let inside = dx >= 0 && dy >= 0 && dy <= side && dx * 2 <= (side - (2 * dy - side).abs());
        if inside {
            *pixel = triangle;
        }
    }
    DynamicImage::ImageRgb8(image)
}

/// 一時ファイルに書いてから rename します (読み手が書きかけのサムネイルを見ることはありません)。
fn save_thumbnail(
    image: &DynamicImage,
    path: &Path,
    format: ThumbnailFormat,
) -> Result<(), ProcessError> {
    // 同じメディアの処理が同時に走っても互いの書きかけを壊さないよう、一時ファイルの名前は毎回変えます。
    let mut temp = PathBuf::from(path);
    temp.set_extension(format!(
        "{}.{}.tmp",
        format.extension(),
        uuid::Uuid::new_v4().simple()
    ));
    let written = write_thumbnail(image, &temp, format);
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, path).map_err(Into::into)) {
        let _ignored = std::fs::remove_file(&temp);
        return Err(e);
    }
    Ok(())
}

fn write_thumbnail(
    image: &DynamicImage,
    path: &Path,
    format: ThumbnailFormat,
) -> Result<(), ProcessError> {
    let mut out = BufWriter::new(File::create(path)?);
    let encoded = match format {
        ThumbnailFormat::Jpeg => {
            let rgb = image.to_rgb8();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
                .encode_image(&rgb)
        }
        ThumbnailFormat::Png => image.write_to(&mut out, image::ImageFormat::Png),
    };
    encoded.map_err(|e| match e {
        image::ImageError::IoError(io) => ProcessError::Io(io),
        other => ProcessError::Content(format!("サムネイルを書けません: {other}")),
    })?;
    out.into_inner().map_err(io::IntoInnerError::into_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_ratio_inside_the_box() {
        assert_eq!(fit(320, 240), (200, 150));
        assert_eq!(fit(640, 360), (200, 112));
        assert_eq!(fit(1080, 1920), (112, 200));
        assert_eq!(fit(0, 0), (200, 200));
        assert_eq!(fit(10_000, 1), (200, 1));
    }

    #[test]
    fn video_placeholder_has_dark_corners_and_a_light_centre() {
        let image = video_placeholder(320, 240).to_rgb8();
        assert_eq!(image.dimensions(), (200, 150));
        assert_eq!(image.get_pixel(0, 0), &Rgb([32, 32, 40]));
        assert_eq!(image.get_pixel(100, 75), &Rgb([235, 235, 235]));
    }

    /// 保存先に `testdata/videos/<name>` を置いて処理し、結果とサムネイルを返す。
    fn process_video(name: &str, ffmpeg: Option<&Path>) -> (ProcessingOutput, image::RgbImage) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let storage = Storage::new(dir.path());
        storage.prepare().unwrap_or_else(|(_, e)| panic!("{e}"));
        let id = MediaId::new_random();
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/videos")
            .join(name);
        std::fs::copy(source, storage.original_path(id)).unwrap_or_else(|e| panic!("{e}"));
        let output =
            process(&storage, id, ContentType::Mp4, ffmpeg).unwrap_or_else(|e| panic!("{e}"));
        let thumbnail = image::open(storage.thumbnail_path(id, ThumbnailFormat::Jpeg))
            .unwrap_or_else(|e| panic!("{e}"))
            .to_rgb8();
        (output, thumbnail)
    }

    #[test]
    fn red_mp4_with_ffmpeg_gets_its_red_first_frame_as_thumbnail() {
        let ffmpeg = super::super::video::ffmpeg::find_on_path()
            .unwrap_or_else(|| panic!("ffmpeg が PATH にありません (make tools で入ります)"));
        let (output, thumbnail) = process_video("red-160x90-1000ms.mp4", Some(&ffmpeg));
        assert_eq!(
            (output.width, output.height, output.duration_ms),
            (160, 90, Some(1000))
        );
        assert_eq!(thumbnail.dimensions(), (160, 90), "小さい動画は拡大しない");
        let Rgb([r, g, b]) = *thumbnail.get_pixel(80, 45);
        assert!(
            r > 200 && g < 60 && b < 60,
            "赤いフレームのはず: {:?}",
            (r, g, b)
        );
    }

    #[test]
    fn red_mp4_without_ffmpeg_gets_the_placeholder() {
        let (_, thumbnail) = process_video("red-160x90-1000ms.mp4", None);
        assert_eq!(thumbnail.dimensions(), (200, 112));
        let Rgb([r, g, b]) = *thumbnail.get_pixel(0, 0);
        assert!(
            r < 60 && g < 60 && b < 70,
            "暗い背景のはず: {:?}",
            (r, g, b)
        );
    }

    #[test]
    fn container_without_frames_with_ffmpeg_falls_back_to_placeholder() {
        let ffmpeg = super::super::video::ffmpeg::find_on_path()
            .unwrap_or_else(|| panic!("ffmpeg が PATH にありません (make tools で入ります)"));
        let (output, thumbnail) = process_video("tiny-320x240-2500ms.mp4", Some(&ffmpeg));
        assert_eq!((output.width, output.height), (320, 240));
        assert_eq!(thumbnail.dimensions(), (200, 150));
    }

    #[test]
    fn small_image_is_not_enlarged() {
        let image = DynamicImage::ImageRgb8(RgbImage::new(32, 16));
        assert_eq!(thumbnail_of(&image).width(), 32);
    }

    #[test]
    fn image_format_exists_only_for_images() {
        for ct in ContentType::ALL {
            assert_eq!(
                image_format(ct).is_some(),
                ct.kind() == mediahub_core::media::MediaKind::Image
            );
        }
    }
}
