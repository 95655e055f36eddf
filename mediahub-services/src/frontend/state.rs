//! リクエストが共有する状態 ([`FrontendState`])。

use std::path::PathBuf;

use crate::platform::server::Readiness;

/// リクエストが共有する状態。
#[derive(Debug)]
pub struct FrontendState {
    /// UI のファイルのディレクトリ。
    pub web_dir: PathBuf,
    /// `runtime-config.js` の中身。
    pub runtime_config: String,
    /// 付ける Content-Security-Policy。
    pub content_security_policy: String,
    /// `/ready` が答える準備の状態。
    pub readiness: Readiness,
}
