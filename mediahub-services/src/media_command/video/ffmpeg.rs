//! 動画の最初のフレームを `ffmpeg` で取り出します (`ffmpeg` が PATH にあるときだけ)。
//!
//! `ffmpeg` は外部のプログラムなので、入力は信用しない前提で扱います:
//!
//! - 引数は配列で渡し、シェルを通しません (ファイル名はメディア ID から作ったパスだけ)。
//! - 出力は標準出力への PNG 1 枚だけ (`-frames:v 1 -f image2pipe -c:v png -`) で、デコードには
//!   画像と同じ上限 ([`super::processing`] の `Limits`) を付けます。
//! - [`FRAME_TIMEOUT`] を過ぎても終わらなければプロセスを止めます。
//!
//! 取り出せなかったとき (コンテナだけでフレームの無いファイルなど) は、呼び出し側が
//! プレースホルダーのサムネイルに切り替えます。

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `ffmpeg` 一回にかけてよい最長の時間。
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// 取り出した PNG の大きさの上限 (これを超える出力は読みません)。
const MAX_FRAME_BYTES: u64 = 64 * 1024 * 1024;

/// フレームを取り出せなかった理由。
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// `ffmpeg` を起動できない、または出力を読めない。
    #[error("ffmpeg を実行できません: {0}")]
    Io(#[from] std::io::Error),
    /// `ffmpeg` が失敗した (フレームの無いファイルなど)。
    #[error("ffmpeg が失敗しました ({status}): {stderr}")]
    Failed {
        /// 終了状態。
        status: String,
        /// 標準エラー出力 (先頭だけ)。
        stderr: String,
    },
    /// [`FRAME_TIMEOUT`] を過ぎた。
    #[error("ffmpeg が {0:?} 以内に終わりませんでした")]
    Timeout(Duration),
}

/// 環境変数 `PATH` から `ffmpeg` の実行ファイルを探します。
#[must_use]
pub fn find_on_path() -> Option<PathBuf> {
    find_in(std::env::var_os("PATH")?.as_os_str())
}

/// `PATH` の形の文字列 `path` から `ffmpeg` の実行ファイルを探します。
fn find_in(path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join("ffmpeg"))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// 動画 `video` の最初のフレームを PNG のバイト列で返します (同期処理)。
///
/// # エラー
/// 起動できない・失敗した・時間切れなら [`FrameError`]。
pub fn first_frame_png(ffmpeg: &Path, video: &Path) -> Result<Vec<u8>, FrameError> {
    let mut child = Command::new(ffmpeg)
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(video)
        .args(["-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // 出力を読む間に時間切れを見張るため、読み取りは別のスレッドで行います。
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || read_limited(stdout, MAX_FRAME_BYTES));
    let errors = std::thread::spawn(move || read_limited(stderr, 4096));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > FRAME_TIMEOUT {
            child.kill()?;
            child.wait()?;
            return Err(FrameError::Timeout(FRAME_TIMEOUT));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let png = join(reader)?;
    let stderr = String::from_utf8_lossy(&join(errors)?).trim().to_owned();
    if !status.success() || png.is_empty() {
        return Err(FrameError::Failed {
            status: status.to_string(),
            stderr,
        });
    }
    Ok(png)
}

fn read_limited(source: Option<impl Read>, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if let Some(source) = source {
        source.take(limit).read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}

fn join(handle: std::thread::JoinHandle<std::io::Result<Vec<u8>>>) -> Result<Vec<u8>, FrameError> {
    handle
        .join()
        .map_err(|_| {
            FrameError::Io(std::io::Error::other(
                "出力を読むスレッドが異常終了しました",
            ))
        })?
        .map_err(FrameError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_in_path_without_ffmpeg_is_none_and_with_executable_ffmpeg_is_found() {
        let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let with = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let fake = with.path().join("ffmpeg");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(find_in(empty.path().as_os_str()), None);
        // 実行権の無いファイルは見つけない。
        assert_eq!(find_in(with.path().as_os_str()), None);
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let path =
            std::env::join_paths([empty.path(), with.path()]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(find_in(&path), Some(fake));
    }

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/videos")
            .join(name)
    }

    fn real_ffmpeg() -> PathBuf {
        find_on_path()
            .unwrap_or_else(|| panic!("ffmpeg が PATH にありません (make tools で入ります)"))
    }

    #[test]
    fn red_video_gives_a_png_frame() {
        let png = first_frame_png(&real_ffmpeg(), &testdata("red-160x90-1000ms.mp4"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "PNG ではありません");
    }

    #[test]
    fn container_without_frames_is_failed_with_ffmpeg_stderr() {
        let result = first_frame_png(&real_ffmpeg(), &testdata("tiny-320x240-2500ms.mp4"));
        assert!(
            matches!(&result, Err(FrameError::Failed { stderr, .. }) if !stderr.is_empty()),
            "{result:?}"
        );
    }

    #[test]
    fn missing_program_is_io_error() {
        let result = first_frame_png(Path::new("/nonexistent/ffmpeg"), Path::new("/x.mp4"));
        assert!(matches!(result, Err(FrameError::Io(_))), "{result:?}");
    }
}
