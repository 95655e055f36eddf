//! フロントエンドの起動のエラー ([`StartError`])。

use std::path::PathBuf;

use crate::platform::server::ServerError;

/// フロントエンドを起動できなかった理由。
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// UI のディレクトリに `index.html` が無い。
    #[error("UI のディレクトリに index.html がありません: {0}")]
    MissingIndex(PathBuf),
    /// サーバーのエラー。
    #[error(transparent)]
    Server(#[from] ServerError),
}
