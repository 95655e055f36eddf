//! `web/` の静的ファイルを安全に解決し、種類 (Content-Type) を決めます。
//!
//! - パスは `web/` の中だけ: `..`・絶対パス・隠しファイル (`.` で始まる部分)・バックスラッシュ・
//!   NUL を含むものは [`AssetError::InvalidPath`] です (ファイルシステムに触れる前に拒みます)。
//! - 種類は拡張子の固定表から決めます。表に無い拡張子は配りません
//!   ([`AssetError::UnsupportedExtension`])。JavaScript は `text/javascript` です
//!   (モジュールスクリプトは正しい種類でないとブラウザーが実行しません)。
//! - `index.html` のマーカー [`RUNTIME_CONFIG_MARKER`] は、実行時設定を読み込む
//!   `<script src="./runtime-config.js"></script>` に置き換えます。インラインスクリプトを
//!   使わないので、CSP の `script-src 'self'` のままで動きます。

use std::path::{Path, PathBuf};

/// `index.html` の中の、実行時設定に置き換えるマーカー。
pub const RUNTIME_CONFIG_MARKER: &str = "<!-- MEDIAHUB_RUNTIME_CONFIG -->";

/// 実行時設定のスクリプトのパス (ページからの相対)。
pub const RUNTIME_CONFIG_PATH: &str = "runtime-config.js";

/// 静的ファイルの解決のエラー。
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AssetError {
    /// `web/` の外を指す、または使えない文字を含むパス。
    #[error("使えないパスです: {0}")]
    InvalidPath(String),
    /// 配らない種類のファイル。
    #[error("配らない種類のファイルです: {0}")]
    UnsupportedExtension(String),
}

/// 拡張子から Content-Type を決めます (表に無ければ `None`)。
#[must_use]
pub fn content_type_for(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => return None,
    })
}

/// 要求のパス (先頭の `/` を除いたもの) を `root` の中のファイルに解決します。
/// 空なら `index.html` です。
///
/// # エラー
/// `web/` の外を指すなら [`AssetError::InvalidPath`]、配らない拡張子なら
/// [`AssetError::UnsupportedExtension`]。
pub fn resolve(root: &Path, request_path: &str) -> Result<(PathBuf, &'static str), AssetError> {
    let relative = request_path.trim_start_matches('/');
    let relative = if relative.is_empty() {
        "index.html"
    } else {
        relative
    };
    let mut resolved = root.to_path_buf();
    for part in relative.split('/') {
        let safe = !part.is_empty() && !part.starts_with('.') && !part.contains(['\\', '\0', ':']);
        if !safe {
            return Err(AssetError::InvalidPath(request_path.to_owned()));
        }
        resolved.push(part);
    }
    let content_type = content_type_for(&resolved)
        .ok_or_else(|| AssetError::UnsupportedExtension(request_path.to_owned()))?;
    Ok((resolved, content_type))
}

/// `index.html` のマーカーを実行時設定のスクリプトの読み込みに置き換えます。
/// マーカーが無ければそのまま返します (UI は既定のゲートウェイ URL を使います)。
#[must_use]
pub fn inject_runtime_config(index_html: &str) -> String {
    index_html.replacen(
        RUNTIME_CONFIG_MARKER,
        &format!("<script src=\"./{RUNTIME_CONFIG_PATH}\"></script>"),
        1,
    )
}

/// 実行時設定のスクリプト本体 (`window.MEDIAHUB_GATEWAY_URL` と、あれば
/// `window.MEDIAHUB_SERVICE_URLS`)。値は JSON で書くので、URL にどんな文字があっても
/// スクリプトとして壊れません。
#[must_use]
pub fn runtime_config_script(gateway_url: &str, service_urls: &[(String, String)]) -> String {
    let gateway = serde_json::Value::String(gateway_url.trim_end_matches('/').to_owned());
    let mut script = format!("window.MEDIAHUB_GATEWAY_URL = {gateway};\n");
    if !service_urls.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = service_urls
            .iter()
            .map(|(name, url)| (name.clone(), serde_json::Value::String(url.clone())))
            .collect();
        script.push_str(&format!(
            "window.MEDIAHUB_SERVICE_URLS = {};\n",
            serde_json::Value::Object(map)
        ));
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_path_resolves_to_index_html_as_html() {
        let (path, ty) = resolve(Path::new("/w"), "/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(path, Path::new("/w/index.html"));
        assert_eq!(ty, "text/html; charset=utf-8");
    }

    #[test]
    fn nested_js_module_resolves_inside_root_as_text_javascript() {
        let (path, ty) =
            resolve(Path::new("/w"), "/js/tabs/media.js").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(path, Path::new("/w/js/tabs/media.js"));
        assert_eq!(ty, "text/javascript; charset=utf-8");
    }

    #[test]
    fn dot_dot_hidden_backslash_and_empty_segments_are_invalid_paths() {
        for bad in [
            "/../etc/passwd.html",
            "/js/../../x.js",
            "/.git/config.txt",
            "/js\\x.js",
            "/js//x.js",
            "/c:/x.js",
        ] {
            assert_eq!(
                resolve(Path::new("/w"), bad),
                Err(AssetError::InvalidPath(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_extension_is_unsupported() {
        assert_eq!(
            resolve(Path::new("/w"), "/Cargo.toml"),
            Err(AssetError::UnsupportedExtension("/Cargo.toml".into()))
        );
    }

    #[test]
    fn marker_in_index_is_replaced_by_runtime_config_script_tag_once() {
        let html = format!("<head>{RUNTIME_CONFIG_MARKER}<script type=module></script></head>");
        let out = inject_runtime_config(&html);
        assert_eq!(
            out,
            "<head><script src=\"./runtime-config.js\"></script><script type=module></script></head>"
        );
    }

    #[test]
    fn runtime_config_quotes_urls_as_json_strings() {
        let script = runtime_config_script(
            "http://127.0.0.1:1234/\";alert(1)//x",
            &[("saga".into(), "http://127.0.0.1:9".into())],
        );
        assert!(script.starts_with(
            "window.MEDIAHUB_GATEWAY_URL = \"http://127.0.0.1:1234/\\\";alert(1)//x\";"
        ));
        assert!(
            script.contains("window.MEDIAHUB_SERVICE_URLS = {\"saga\":\"http://127.0.0.1:9\"};")
        );
    }
}
