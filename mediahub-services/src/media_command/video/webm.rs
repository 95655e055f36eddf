//! WebM (Matroska / EBML) のコンテナから、長さと映像の寸法だけを読む小さなパーサー。
//!
//! EBML は「要素」の入れ子です。各要素は `[ID (1〜4 バイトの可変長)][大きさ (1〜8 バイトの
//! 可変長)][中身]`。可変長整数は先頭バイトの先頭の 0 の数で長さが決まります。大きさのビットが
//! すべて 1 なら「大きさ不明」(ライブ配信や録画中のファイル。親の終わりまで続く) です。
//!
//! 読むのは次だけです。`Cluster` (映像のデータ) に来たらそこで止まります。
//!
//! - `Segment/Info/TimestampScale` (ナノ秒、既定 1,000,000) と `Info/Duration` (浮動小数点)
//!   → ミリ秒。`Duration` の無いファイル (ブラウザーの録画など) は長さ不明 (`None`)。
//! - `Segment/Tracks/TrackEntry/Video/PixelWidth`・`PixelHeight`: 最初の映像トラックの寸法。

use std::io::{Read, Seek, SeekFrom};

use super::info::{ContainerError, VideoInfo};

const EBML: u64 = 0x1A45_DFA3;
const SEGMENT: u64 = 0x1853_8067;
const INFO: u64 = 0x1549_A966;
const TIMESTAMP_SCALE: u64 = 0x2A_D7B1;
const DURATION: u64 = 0x4489;
const TRACKS: u64 = 0x1654_AE6B;
const TRACK_ENTRY: u64 = 0xAE;
const VIDEO: u64 = 0xE0;
const PIXEL_WIDTH: u64 = 0xB0;
const PIXEL_HEIGHT: u64 = 0xBA;
const CLUSTER: u64 = 0x1F43_B675;
/// メモリに読み込む要素 (`Info`・`Tracks`) の大きさの上限。
const MAX_METADATA_BYTES: u64 = 1024 * 1024;
/// 既定のタイムスタンプの単位 (ナノ秒)。
const DEFAULT_TIMESTAMP_SCALE: u64 = 1_000_000;

/// 要素の見出し。
#[derive(Debug, Clone, Copy)]
struct Header {
    id: u64,
    /// 中身の大きさ (`None` は「大きさ不明」)。
    size: Option<u64>,
    /// 見出しのバイト数。
    len: usize,
}

/// 可変長整数を読みます。`keep_marker` なら長さを示す 1 のビットを残します (ID の場合)。
fn vint(bytes: &[u8], keep_marker: bool) -> Option<(u64, usize)> {
    let first = *bytes.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return None;
    }
    let rest = bytes.get(1..len)?;
    let first = if keep_marker {
        first
    } else {
        first & (0xFF_u16 >> len) as u8
    };
    let value = rest
        .iter()
        .fold(u64::from(first), |acc, b| (acc << 8) | u64::from(*b));
    Some((value, len))
}

fn header(bytes: &[u8]) -> Option<Header> {
    let (id, id_len) = vint(bytes, true)?;
    if id_len > 4 {
        return None;
    }
    let (size, size_len) = vint(bytes.get(id_len..)?, false)?;
    let unknown = size == (1u64 << (7 * size_len)) - 1;
    Some(Header {
        id,
        size: (!unknown).then_some(size),
        len: id_len + size_len,
    })
}

/// 中身がメモリにある要素の子を順に返します。
fn children(mut bytes: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    std::iter::from_fn(move || {
        let h = header(bytes)?;
        let body = bytes.get(h.len..)?;
        let size = usize::try_from(h.size.unwrap_or(body.len() as u64)).ok()?;
        let (child, rest) = body.split_at_checked(size)?;
        bytes = rest;
        Some((h.id, child))
    })
}

fn child(bytes: &[u8], id: u64) -> Option<&[u8]> {
    children(bytes).find(|(i, _)| *i == id).map(|(_, b)| b)
}

fn uint(bytes: &[u8]) -> Option<u64> {
    (bytes.len() <= 8).then(|| bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

fn float(bytes: &[u8]) -> Option<f64> {
    match bytes.len() {
        4 => Some(f64::from(f32::from_be_bytes(bytes.try_into().ok()?))),
        8 => Some(f64::from_be_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

/// `Info` の中身から長さ (ミリ秒) を計算します。
fn duration_ms(info: &[u8]) -> Option<u64> {
    let scale = child(info, TIMESTAMP_SCALE)
        .and_then(uint)
        .unwrap_or(DEFAULT_TIMESTAMP_SCALE);
    let duration = child(info, DURATION).and_then(float)?;
    let ms = (duration * scale as f64 / 1_000_000.0).round();
    (ms.is_finite() && ms >= 0.0 && ms < u64::MAX as f64).then_some(ms as u64)
}

/// `Tracks` の中身から最初の映像トラックの寸法を読みます。
fn video_size(tracks: &[u8]) -> Option<(u32, u32)> {
    children(tracks)
        .filter(|(id, _)| *id == TRACK_ENTRY)
        .filter_map(|(_, entry)| child(entry, VIDEO))
        .find_map(|video| {
            let width = u32::try_from(child(video, PIXEL_WIDTH).and_then(uint)?).ok()?;
            let height = u32::try_from(child(video, PIXEL_HEIGHT).and_then(uint)?).ok()?;
            (width > 0 && height > 0).then_some((width, height))
        })
}

/// 現在位置の要素の見出しを読みます (ファイルの終わりなら `None`)。
fn read_header<R: Read + Seek>(reader: &mut R, end: u64) -> Result<Option<Header>, ContainerError> {
    let pos = reader.stream_position()?;
    if pos >= end {
        return Ok(None);
    }
    let mut buf = [0u8; 12];
    let available = usize::try_from((end - pos).min(12)).unwrap_or(12);
    reader.read_exact(&mut buf[..available])?;
    let h =
        header(&buf[..available]).ok_or(ContainerError::Malformed("要素の見出しが読めません"))?;
    reader.seek(SeekFrom::Start(pos + h.len as u64))?;
    Ok(Some(h))
}

fn read_body<R: Read>(reader: &mut R, size: Option<u64>) -> Result<Vec<u8>, ContainerError> {
    let size = size
        .filter(|s| *s <= MAX_METADATA_BYTES)
        .ok_or(ContainerError::Malformed("メタデータの要素が大きすぎます"))?;
    let mut body = vec![0u8; usize::try_from(size).unwrap_or_default()];
    reader.read_exact(&mut body)?;
    Ok(body)
}

/// コンテナから長さと映像の寸法を読みます。
///
/// # エラー
/// 入出力エラー、構造の破損、`Segment`・映像トラックが無ければ [`ContainerError`]。
pub fn read_info<R: Read + Seek>(reader: &mut R) -> Result<VideoInfo, ContainerError> {
    let end = reader.seek(SeekFrom::End(0))?;
    reader.seek(SeekFrom::Start(0))?;
    let first = read_header(reader, end)?.ok_or(ContainerError::Missing("EBML"))?;
    if first.id != EBML {
        return Err(ContainerError::Missing("EBML"));
    }
    let skip = first
        .size
        .ok_or(ContainerError::Malformed("EBML の大きさが不明です"))?;
    reader.seek(SeekFrom::Current(i64::try_from(skip).unwrap_or(i64::MAX)))?;
    let segment = read_header(reader, end)?
        .filter(|h| h.id == SEGMENT)
        .ok_or(ContainerError::Missing("Segment"))?;
    let segment_end = match segment.size {
        Some(size) => (reader.stream_position()? + size).min(end),
        None => end,
    };
    let (mut duration, mut size) = (None, None);
    while let Some(h) = read_header(reader, segment_end)? {
        match h.id {
            INFO => duration = duration_ms(&read_body(reader, h.size)?),
            TRACKS => size = video_size(&read_body(reader, h.size)?),
            CLUSTER => break,
            _ => {
                let skip = h
                    .size
                    .ok_or(ContainerError::Malformed("要素の大きさが不明です"))?;
                reader.seek(SeekFrom::Current(i64::try_from(skip).unwrap_or(i64::MAX)))?;
            }
        }
        if size.is_some() && duration.is_some() {
            break;
        }
    }
    let (width, height) = size.ok_or(ContainerError::Missing("映像トラック"))?;
    Ok(VideoInfo {
        width,
        height,
        duration_ms: duration,
    })
}

/// テスト用に WebM を組み立てる部品。
#[cfg(test)]
pub(crate) mod build {
    /// 要素を 1 つ作ります (大きさは 8 バイトの可変長で書きます)。
    pub fn element(id: u64, body: &[u8]) -> Vec<u8> {
        let id_bytes = id.to_be_bytes();
        let skip = id_bytes.iter().take_while(|b| **b == 0).count();
        let mut out = id_bytes[skip..].to_vec();
        let size = 0x0100_0000_0000_0000u64 | body.len() as u64;
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    /// 幅・高さ・長さ (ミリ秒、`None` なら Duration なし) の WebM。
    pub fn webm(width: u32, height: u32, duration_ms: Option<f64>) -> Vec<u8> {
        let mut info = element(super::TIMESTAMP_SCALE, &1_000_000u32.to_be_bytes());
        if let Some(ms) = duration_ms {
            info.extend(element(super::DURATION, &ms.to_be_bytes()));
        }
        let audio = element(super::TRACK_ENTRY, &element(0xD7, &[1]));
        let video = element(
            super::TRACK_ENTRY,
            &element(
                super::VIDEO,
                &[
                    element(super::PIXEL_WIDTH, &width.to_be_bytes()),
                    element(super::PIXEL_HEIGHT, &height.to_be_bytes()),
                ]
                .concat(),
            ),
        );
        let mut segment_body = element(0x114D_9B74, &[0; 4]); // SeekHead (読み飛ばされる)
        segment_body.extend(element(super::INFO, &info));
        segment_body.extend(element(super::TRACKS, &[audio, video].concat()));
        segment_body.extend(element(super::CLUSTER, &[0; 32]));
        let mut out = element(super::EBML, &element(0x4282, b"webm"));
        // Segment は「大きさ不明」で書きます (録画中のファイルと同じ)。
        out.extend_from_slice(&[0x18, 0x53, 0x80, 0x67, 0xFF]);
        out.extend(segment_body);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn webm_with_unknown_size_segment_gives_first_video_track_size_and_duration() {
        let file = build::webm(1280, 720, Some(1500.0));
        let info = read_info(&mut Cursor::new(file)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            info,
            VideoInfo {
                width: 1280,
                height: 720,
                duration_ms: Some(1500)
            }
        );
    }

    #[test]
    fn webm_without_duration_has_unknown_length() {
        let file = build::webm(640, 480, None);
        let info = read_info(&mut Cursor::new(file)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (info.width, info.height, info.duration_ms),
            (640, 480, None)
        );
    }

    #[test]
    fn file_without_ebml_header_or_video_track_is_an_error() {
        assert!(matches!(
            read_info(&mut Cursor::new(b"not a webm file".to_vec())),
            Err(ContainerError::Missing("EBML"))
        ));
        let mut no_tracks = build::element(EBML, &[]);
        no_tracks.extend(build::element(SEGMENT, &build::element(CLUSTER, &[])));
        assert!(matches!(
            read_info(&mut Cursor::new(no_tracks)),
            Err(ContainerError::Missing(_))
        ));
        assert!(matches!(
            read_info(&mut Cursor::new(Vec::new())),
            Err(ContainerError::Missing("EBML"))
        ));
    }

    #[test]
    fn vint_reads_one_to_eight_byte_values_and_unknown_size() {
        assert_eq!(vint(&[0x81], false), Some((1, 1)));
        assert_eq!(vint(&[0x40, 0x02], false), Some((2, 2)));
        assert_eq!(vint(&[0x1A, 0x45, 0xDF, 0xA3], true), Some((EBML, 4)));
        assert_eq!(vint(&[0x01, 0, 0, 0, 0, 0, 0, 9], false), Some((9, 8)));
        assert_eq!(vint(&[0x00], false), None);
        assert_eq!(vint(&[0x40], false), None);
        let unknown = header(&[0xAE, 0xFF]).unwrap_or_else(|| panic!("見出し"));
        assert_eq!((unknown.id, unknown.size), (TRACK_ENTRY, None));
    }

    #[test]
    fn float_and_uint_accept_only_valid_widths() {
        assert_eq!(float(&1.5f32.to_be_bytes()), Some(1.5));
        assert_eq!(float(&[0; 3]), None);
        assert_eq!(uint(&[1, 0]), Some(256));
        assert_eq!(uint(&[0; 9]), None);
    }
}
