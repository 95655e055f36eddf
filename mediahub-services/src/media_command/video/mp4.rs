//! MP4 / QuickTime (ISO-BMFF) のコンテナから、長さと映像の寸法だけを読む小さなパーサー。
//!
//! ファイルは「箱 (box)」の入れ子です。各箱は `[大きさ 4 バイト][型 4 文字][中身]`
//! (大きさが 1 なら直後の 8 バイトが本当の大きさ、0 ならファイルの終わりまで)。
//! 読むのは次の三つだけです。
//!
//! - `moov/mvhd`: タイムスケール (1 秒の刻み数) と長さ (刻み数) → ミリ秒
//! - `moov/trak/tkhd`: トラックの幅と高さ (16.16 固定小数点)。幅と高さが 0 でない最初の
//!   トラックを映像とみなし、変換行列が 90°/270° 回転なら幅と高さを入れ替えます。
//!
//! 映像のデータ (`mdat`) は読み飛ばすので、大きなファイルでもメモリは `moov` の分しか使いません。

use std::io::{Read, Seek, SeekFrom};

use super::info::{ContainerError, VideoInfo};

/// `moov` 箱の大きさの上限 (これを超えるファイルは壊れているとみなします)。
const MAX_MOOV_BYTES: u64 = 16 * 1024 * 1024;

/// 箱 1 つの位置。
#[derive(Debug, Clone, Copy)]
struct BoxHeader {
    kind: [u8; 4],
    /// 中身の開始位置 (見出しの直後)。
    body_start: u64,
    /// 中身の長さ。
    body_len: u64,
}

/// `reader` の現在位置から箱の見出しを読みます。`limit` は親の終わりの位置です。
fn read_header<R: Read + Seek>(
    reader: &mut R,
    limit: u64,
) -> Result<Option<BoxHeader>, ContainerError> {
    let start = reader.stream_position()?;
    if start + 8 > limit {
        return Ok(None);
    }
    let mut head = [0u8; 8];
    reader.read_exact(&mut head)?;
    let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let kind = [head[4], head[5], head[6], head[7]];
    let (header_len, size) = match size32 {
        0 => (8, limit - start),
        1 => {
            let mut large = [0u8; 8];
            reader.read_exact(&mut large)?;
            (16, u64::from_be_bytes(large))
        }
        n => (8, u64::from(n)),
    };
    if size < header_len || start + size > limit {
        return Err(ContainerError::Malformed(
            "箱の大きさが親からはみ出しています",
        ));
    }
    Ok(Some(BoxHeader {
        kind,
        body_start: start + header_len,
        body_len: size - header_len,
    }))
}

/// 範囲 `[start, end)` の中で `kind` の箱を探します (見つかった箱の中身の範囲を返します)。
fn find_child<R: Read + Seek>(
    reader: &mut R,
    start: u64,
    end: u64,
    kind: &[u8; 4],
) -> Result<Option<BoxHeader>, ContainerError> {
    let mut pos = start;
    loop {
        reader.seek(SeekFrom::Start(pos))?;
        let Some(header) = read_header(reader, end)? else {
            return Ok(None);
        };
        if &header.kind == kind {
            return Ok(Some(header));
        }
        pos = header.body_start + header.body_len;
    }
}

fn be_u32(bytes: &[u8], at: usize) -> Result<u32, ContainerError> {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or(ContainerError::Malformed("箱が短すぎます"))
}

fn be_u64(bytes: &[u8], at: usize) -> Result<u64, ContainerError> {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or(ContainerError::Malformed("箱が短すぎます"))
}

/// `mvhd` の中身からミリ秒の長さを計算します。
fn duration_ms(mvhd: &[u8]) -> Result<u64, ContainerError> {
    let version = *mvhd
        .first()
        .ok_or(ContainerError::Malformed("mvhd が空です"))?;
    let (timescale, duration) = if version == 1 {
        (be_u32(mvhd, 20)?, be_u64(mvhd, 24)?)
    } else {
        (be_u32(mvhd, 12)?, u64::from(be_u32(mvhd, 16)?))
    };
    if timescale == 0 {
        return Err(ContainerError::Malformed("mvhd のタイムスケールが 0 です"));
    }
    let ms = u128::from(duration) * 1000 / u128::from(timescale);
    u64::try_from(ms).map_err(|_| ContainerError::Malformed("長さが大きすぎます"))
}

/// `tkhd` の中身から (幅, 高さ) を読みます (回転していれば入れ替えます)。
fn track_size(tkhd: &[u8]) -> Result<(u32, u32), ContainerError> {
    let version = *tkhd
        .first()
        .ok_or(ContainerError::Malformed("tkhd が空です"))?;
    // 版 0: 見出し 4 + 作成 4 + 更新 4 + ID 4 + 予約 4 + 長さ 4 = 24
    // 版 1: 見出し 4 + 作成 8 + 更新 8 + ID 4 + 予約 4 + 長さ 8 = 36
    // その後: 予約 8 + layer 2 + alternate 2 + volume 2 + 予約 2 = 16、行列 36、幅 4、高さ 4
    let matrix = if version == 1 { 36 + 16 } else { 24 + 16 };
    let width = be_u32(tkhd, matrix + 36)? >> 16;
    let height = be_u32(tkhd, matrix + 40)? >> 16;
    // 行列の a (0 番目) と d (4 番目) が 0 なら 90° か 270° の回転。
    let rotated = be_u32(tkhd, matrix)? == 0 && be_u32(tkhd, matrix + 16)? == 0;
    Ok(if rotated {
        (height, width)
    } else {
        (width, height)
    })
}

fn read_body<R: Read + Seek>(reader: &mut R, header: BoxHeader) -> Result<Vec<u8>, ContainerError> {
    let len = usize::try_from(header.body_len)
        .map_err(|_| ContainerError::Malformed("箱が大きすぎます"))?;
    let mut body = vec![0u8; len];
    reader.seek(SeekFrom::Start(header.body_start))?;
    reader.read_exact(&mut body)?;
    Ok(body)
}

/// コンテナから長さと映像の寸法を読みます。
///
/// # エラー
/// 入出力エラー、箱の構造の破損、`moov`/`mvhd`/映像の `tkhd` が無ければ [`ContainerError`]。
pub fn read_info<R: Read + Seek>(reader: &mut R) -> Result<VideoInfo, ContainerError> {
    let end = reader.seek(SeekFrom::End(0))?;
    let moov = find_child(reader, 0, end, b"moov")?.ok_or(ContainerError::Missing("moov"))?;
    if moov.body_len > MAX_MOOV_BYTES {
        return Err(ContainerError::Malformed("moov が大きすぎます"));
    }
    let moov_end = moov.body_start + moov.body_len;
    let mvhd = find_child(reader, moov.body_start, moov_end, b"mvhd")?
        .ok_or(ContainerError::Missing("mvhd"))?;
    let duration_ms = duration_ms(&read_body(reader, mvhd)?)?;
    let mut pos = moov.body_start;
    while let Some(trak) = find_child(reader, pos, moov_end, b"trak")? {
        let trak_end = trak.body_start + trak.body_len;
        if let Some(tkhd) = find_child(reader, trak.body_start, trak_end, b"tkhd")? {
            let (width, height) = track_size(&read_body(reader, tkhd)?)?;
            if width > 0 && height > 0 {
                return Ok(VideoInfo {
                    width,
                    height,
                    duration_ms: Some(duration_ms),
                });
            }
        }
        pos = trak_end;
    }
    Err(ContainerError::Missing("映像トラックの tkhd"))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn testdata(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/videos")
            .join(name);
        std::fs::read(path).unwrap_or_else(|e| panic!("{e}"))
    }

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let size = u32::try_from(body.len() + 8).unwrap_or_else(|e| panic!("{e}"));
        let mut out = size.to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn tkhd_v1(width: u32, height: u32, rotated: bool) -> Vec<u8> {
        let mut body = vec![1, 0, 0, 0];
        body.extend_from_slice(&[0; 32]); // 作成・更新・ID・予約・長さ
        body.extend_from_slice(&[0; 16]);
        let (a, b, c, d) = if rotated {
            (0, 0x0001_0000u32, 0xFFFF_0000u32, 0)
        } else {
            (0x0001_0000u32, 0, 0, 0x0001_0000u32)
        };
        for value in [a, b, 0, c, d, 0, 0, 0, 0x4000_0000] {
            body.extend_from_slice(&value.to_be_bytes());
        }
        body.extend_from_slice(&(width << 16).to_be_bytes());
        body.extend_from_slice(&(height << 16).to_be_bytes());
        boxed(b"tkhd", &body)
    }

    fn mvhd_v1(timescale: u32, duration: u64) -> Vec<u8> {
        let mut body = vec![1, 0, 0, 0];
        body.extend_from_slice(&[0; 16]);
        body.extend_from_slice(&timescale.to_be_bytes());
        body.extend_from_slice(&duration.to_be_bytes());
        body.extend_from_slice(&[0; 80]);
        boxed(b"mvhd", &body)
    }

    #[test]
    fn tiny_mp4_is_320x240_and_2500_ms() {
        let info = read_info(&mut Cursor::new(testdata("tiny-320x240-2500ms.mp4")));
        let info = info.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            info,
            VideoInfo {
                width: 320,
                height: 240,
                duration_ms: Some(2500)
            }
        );
    }

    #[test]
    fn tiny_mov_is_640x360_and_1200_ms() {
        let info = read_info(&mut Cursor::new(testdata("tiny-640x360-1200ms.mov")));
        let info = info.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (info.width, info.height, info.duration_ms),
            (640, 360, Some(1200))
        );
    }

    #[test]
    fn version_1_boxes_with_audio_track_first_and_rotation_swap_width_and_height() {
        let audio = boxed(b"trak", &tkhd_v1(0, 0, false));
        let video = boxed(b"trak", &tkhd_v1(1920, 1080, true));
        let moov_body = [mvhd_v1(90_000, 270_000), audio, video].concat();
        let mut file = boxed(b"ftyp", b"isom\0\0\0\0");
        file.extend(boxed(b"free", &[]));
        file.extend(boxed(b"moov", &moov_body));
        let info = read_info(&mut Cursor::new(file)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (info.width, info.height, info.duration_ms),
            (1080, 1920, Some(3000))
        );
    }

    #[test]
    fn file_without_moov_or_with_overflowing_box_is_an_error() {
        let no_moov = boxed(b"ftyp", b"isom\0\0\0\0");
        assert!(matches!(
            read_info(&mut Cursor::new(no_moov)),
            Err(ContainerError::Missing("moov"))
        ));
        let mut broken = 100u32.to_be_bytes().to_vec();
        broken.extend_from_slice(b"moov");
        assert!(matches!(
            read_info(&mut Cursor::new(broken)),
            Err(ContainerError::Malformed(_))
        ));
        let no_video = boxed(b"moov", &mvhd_v1(1000, 1000));
        assert!(matches!(
            read_info(&mut Cursor::new(no_video)),
            Err(ContainerError::Missing(_))
        ));
    }

    #[test]
    fn zero_timescale_and_truncated_mvhd_are_malformed() {
        assert!(matches!(
            duration_ms(&[0; 20]),
            Err(ContainerError::Malformed(_))
        ));
        assert!(matches!(
            duration_ms(&[0; 4]),
            Err(ContainerError::Malformed(_))
        ));
        assert!(matches!(
            duration_ms(&[]),
            Err(ContainerError::Malformed(_))
        ));
    }
}
