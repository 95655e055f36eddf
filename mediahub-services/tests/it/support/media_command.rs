//! media-command の結合テストで共有する補助。
//!
//! 本物のイベントストアと本物の media-command をポート 0 に起動し、ファイルは一時ディレクトリに
//! 置きます。モックはありません。

use std::path::{Path, PathBuf};

use mediahub_core::envelope::Envelope;
use mediahub_core::ids::UserId;
use mediahub_services::media_command::{MediaCommandConfig, MediaCommandHandle, start};
use mediahub_services::store_client::LogQuery;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use tempfile::TempDir;

pub use super::services::{Caller, Store, keys, service_token, testdata, user_token};

/// イベントストアと media-command の組。
pub struct Service {
    /// 本物のイベントストア。
    pub store: Store,
    /// 動いている media-command。
    pub handle: Option<MediaCommandHandle>,
    /// ファイルの保存先。
    pub storage: TempDir,
    /// ベース URL。
    pub base_url: String,
}

impl Service {
    /// 既定の設定 (障害注入なし、上限 50 MiB) で起動します。
    pub async fn start() -> Self {
        Self::start_with(|config| config).await
    }

    /// 設定を変えて起動します。
    pub async fn start_with(
        configure: impl FnOnce(MediaCommandConfig) -> MediaCommandConfig,
    ) -> Self {
        let store = Store::start().await;
        let storage = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config =
            MediaCommandConfig::new(store.base_url(), storage.path(), keys()).listen("127.0.0.1:0");
        let handle = start(configure(config))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let base_url = handle.base_url();
        Self {
            store,
            handle: Some(handle),
            storage,
            base_url,
        }
    }

    /// 新しいユーザーとして呼ぶ人。
    pub fn new_user(&self) -> (UserId, Caller) {
        let user = UserId::new_random();
        (user, Caller::new(&self.base_url, user_token(&keys(), user)))
    }

    /// サービス用トークン (Saga) で呼ぶ人。
    pub fn saga(&self) -> Caller {
        Caller::new(&self.base_url, service_token(&keys(), "saga"))
    }

    /// 保存先の下のすべてのファイル (ディレクトリを除く)。
    pub fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{e}")) {
                let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.storage.path(), &mut out);
        out
    }

    /// メディアのイベント (版の順)。
    pub async fn events(&self, media_id: &str) -> Vec<Envelope> {
        self.store
            .client()
            .read_stream("Media", media_id, 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// メディアのイベント型の一覧。
    pub async fn event_types(&self, media_id: &str) -> Vec<String> {
        self.events(media_id)
            .await
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }

    /// ログ全体のイベントの件数。
    pub async fn log_len(&self) -> usize {
        self.store
            .client()
            .read_log(&LogQuery::after(0))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .events
            .len()
    }

    /// testdata のファイルをアップロードし、成功 (202) を確かめてメディア ID を返します。
    pub async fn upload_ok(&self, caller: &Caller, relative: &str, mime: &str) -> String {
        let name = relative.rsplit('/').next().unwrap_or(relative);
        let (status, body) = upload(caller, testdata(relative), name, Some(mime)).await;
        assert_eq!(status, 202, "{relative}: {body}");
        body["media_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned()
    }

    /// 何も保存されていない (ファイルもイベントも無い) ことを確かめます。
    pub async fn assert_nothing_stored(&self) {
        assert_eq!(self.files(), Vec::<PathBuf>::new());
        assert_eq!(self.log_len().await, 0);
    }

    /// testdata のファイルをアップロードして処理させ、処理の応答が 200 であることを確かめて
    /// メディア ID と応答本体を返します。
    pub async fn upload_and_process(
        &self,
        caller: &Caller,
        relative: &str,
        mime: &str,
    ) -> (String, Value) {
        let id = self.upload_ok(caller, relative, mime).await;
        let (status, body) = self.process(&id, false).await;
        assert_eq!(status, 200, "{relative}: {body}");
        (id, body)
    }

    /// 内部 API で処理させます。
    pub async fn process(&self, media_id: &str, inject_fault: bool) -> (u16, Value) {
        self.saga()
            .post(
                &format!("/internal/v1/media/{media_id}/process"),
                &json!({ "inject_fault": inject_fault }),
            )
            .await
    }
}

/// バイト列を `file` フィールドに入れてアップロードします。
pub async fn upload(
    caller: &Caller,
    bytes: Vec<u8>,
    filename: &str,
    mime: Option<&str>,
) -> (u16, Value) {
    let mut part = Part::bytes(bytes).file_name(filename.to_owned());
    if let Some(mime) = mime {
        part = part.mime_str(mime).unwrap_or_else(|e| panic!("{e}"));
    }
    upload_form(caller, Form::new().part("file", part), &[]).await
}

/// testdata のファイルを名前と申告の形式を付けて `file` パートにします。
pub fn testdata_part(relative: &str, filename: &str, mime: &str) -> Part {
    Part::bytes(testdata(relative))
        .file_name(filename.to_owned())
        .mime_str(mime)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// フォームとヘッダーでアップロードします。
pub async fn upload_form(caller: &Caller, form: Form, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = caller
        .request(Method::POST, "/api/v1/media")
        .multipart(form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    caller.send(request).await
}

/// GET してバイト列と主要なヘッダーを返します。
pub async fn get_bytes(
    caller: &Caller,
    path: &str,
) -> (u16, Option<String>, Option<String>, Vec<u8>) {
    let response = caller
        .request(Method::GET, path)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type");
    let cache_control = header("cache-control");
    let bytes = response.bytes().await.unwrap_or_else(|e| panic!("{e}"));
    (status, content_type, cache_control, bytes.to_vec())
}
