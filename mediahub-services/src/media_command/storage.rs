//! メディアファイルの保存場所。
//!
//! パスは **メディア ID だけ** から作ります (利用者が付けたファイル名は決して使いません)。
//!
//! ```text
//! <storage_dir>/
//!   originals/<media-id>              元のファイル (保存キー `originals/<media-id>`)
//!   thumbnails/<media-id>.jpg|.png    サムネイル (保存キー `thumbnails/<media-id>.jpg` など)
//!   tmp/<media-id>.part               受信中のファイル (完了したら originals/ へ rename)
//! ```

use std::io;
use std::path::{Path, PathBuf};

use mediahub_core::ids::MediaId;

/// サムネイルの画像形式。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbnailFormat {
    /// JPEG (不透明な画像と動画のプレースホルダー)。
    Jpeg,
    /// PNG (透明度のある画像)。
    Png,
}

impl ThumbnailFormat {
    /// 拡張子。
    #[must_use]
    pub const fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
        }
    }

    /// MIME 型。
    #[must_use]
    pub const fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }

    /// 保存キー (`thumbnails/<id>.png` など) の拡張子から形式を得ます。
    #[must_use]
    pub fn from_key(key: &str) -> Option<Self> {
        [Self::Jpeg, Self::Png]
            .into_iter()
            .find(|f| key.ends_with(&format!(".{}", f.extension())))
    }
}

/// メディアファイルの保存場所。
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
}

impl Storage {
    /// 保存先のルートから作ります (ディレクトリはまだ作りません)。
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// ルートのディレクトリ。
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `originals/`・`thumbnails/`・`tmp/` を作り、前回の受信途中のファイル (`tmp/` の中身) を消します。
    ///
    /// # エラー
    /// ディレクトリを作れなければ入出力エラーと、そのディレクトリ。
    pub fn prepare(&self) -> Result<(), (PathBuf, io::Error)> {
        for dir in ["originals", "thumbnails"] {
            let path = self.root.join(dir);
            std::fs::create_dir_all(&path).map_err(|e| (path, e))?;
        }
        let tmp = self.root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| (tmp.clone(), e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| (tmp, e))
    }

    /// 元ファイルの保存キー。
    #[must_use]
    pub fn original_key(id: MediaId) -> String {
        format!("originals/{id}")
    }

    /// サムネイルの保存キー。
    #[must_use]
    pub fn thumbnail_key(id: MediaId, format: ThumbnailFormat) -> String {
        format!("thumbnails/{id}.{}", format.extension())
    }

    /// 元ファイルのパス。
    #[must_use]
    pub fn original_path(&self, id: MediaId) -> PathBuf {
        self.root.join(Self::original_key(id))
    }

    /// サムネイルのパス。
    #[must_use]
    pub fn thumbnail_path(&self, id: MediaId, format: ThumbnailFormat) -> PathBuf {
        self.root.join(Self::thumbnail_key(id, format))
    }

    /// 受信中のファイルのパス。
    #[must_use]
    pub fn temp_path(&self, id: MediaId) -> PathBuf {
        self.root.join("tmp").join(format!("{id}.part"))
    }

    /// メディアのファイル (元ファイルとすべての形式のサムネイル) を消します。
    /// 無いファイルは無視します (何度呼んでも同じ結果です)。
    ///
    /// # エラー
    /// 「無い」以外の理由で消せなければ入出力エラー。
    pub async fn remove_all(&self, id: MediaId) -> io::Result<()> {
        let paths = [
            self.original_path(id),
            self.thumbnail_path(id, ThumbnailFormat::Jpeg),
            self.thumbnail_path(id, ThumbnailFormat::Png),
        ];
        for path in paths {
            remove_if_exists(&path).await?;
        }
        Ok(())
    }
}

/// ファイルを消します。無ければ何もしません。
///
/// # エラー
/// 「無い」以外の理由で消せなければ入出力エラー。
pub async fn remove_if_exists(path: &Path) -> io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_built_from_the_media_id_only() {
        let storage = Storage::new("/data/media");
        let id = MediaId::new_random();
        assert_eq!(
            storage.original_path(id),
            PathBuf::from(format!("/data/media/originals/{id}"))
        );
        assert_eq!(
            storage.thumbnail_path(id, ThumbnailFormat::Png),
            PathBuf::from(format!("/data/media/thumbnails/{id}.png"))
        );
        assert_eq!(
            storage.temp_path(id),
            PathBuf::from(format!("/data/media/tmp/{id}.part"))
        );
    }

    #[test]
    fn thumbnail_format_is_recovered_from_its_key() {
        let id = MediaId::new_random();
        for format in [ThumbnailFormat::Jpeg, ThumbnailFormat::Png] {
            let key = Storage::thumbnail_key(id, format);
            assert_eq!(ThumbnailFormat::from_key(&key), Some(format));
        }
        assert_eq!(ThumbnailFormat::from_key("thumbnails/x.gif"), None);
        assert_eq!(ThumbnailFormat::Png.mime(), "image/png");
    }
}
