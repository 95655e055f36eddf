//! OpenAPI 文書の部品: 状態なしで文書だけを作る型と、405 に `Allow` を付けるミドルウェア。
//!
//! - [`SpecOnly`] はサービスの API 型 (`#[OpenApi]` を付けた型) の **型だけ** から文書を作るための
//!   ゼロサイズの型です。poem-openapi の文書はメタデータ (`OpenApi::meta`) と型の登録
//!   (`OpenApi::register`) だけから作られ、ハンドラーの状態は要りません。ゲートウェイは
//!   これを使って、上流のサービスを起動しないまま各サービスの文書を組み立て、公開の契約に
//!   まとめます ([`crate::gateway`] の `openapi`)。
//! - [`AllowedMethods`] は文書の `paths` から「パスのパターン → 受け付けるメソッド」を作り、
//!   [`AllowOn405`] は 405 の応答に RFC 9110 §15.5.6 が求める `Allow` ヘッダーを付けます。

use super::request::expand_param_groups;
use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::sync::Arc;

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, Middleware, Request, Response};
use poem_openapi::OpenApi;
use poem_openapi::registry::{MetaApi, Registry};
use serde_json::Value;

/// API 型 `T` の文書だけを持つゼロサイズの型 (経路は持ちません)。
///
/// `OpenApiService::new(SpecOnly::<T>::new(), …).spec()` で、`T` の値 (= 状態) を作らずに
/// `T` と同じ文書が得られます。
#[derive(Debug)]
pub struct SpecOnly<T>(PhantomData<fn() -> T>);

impl<T> SpecOnly<T> {
    /// 作ります。
    #[must_use]
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for SpecOnly<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: OpenApi> OpenApi for SpecOnly<T> {
    fn meta() -> Vec<MetaApi> {
        T::meta()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn add_routes(
        self,
        _route_table: &mut HashMap<String, HashMap<Method, poem::endpoint::BoxEndpoint<'static>>>,
    ) {
    }
}

/// 知らないフィールドを拒む (`#[oai(deny_unknown_fields)]`) 要求本体のスキーマ名。
///
/// poem-openapi はこの指定を文書に書かないので、[`close_schemas`] が `additionalProperties: false`
/// を足して、文書とサーバーの振る舞いを一致させます。`deny_unknown_fields` を付けた型を足したら
/// ここにも足してください (テスト `closed_schemas_match_deny_unknown_fields_in_source` が確かめます)。
pub const CLOSED_SCHEMAS: &[&str] = &[
    "NewEvent",
    "AppendBody",
    "CommitBody",
    "SnapshotWriteBody",
    "CreateAlbumBody",
    "RenameAlbumBody",
    "AddMediaBody",
    "DefaultAlbumMediaBody",
    "SendNotificationBody",
    "DevTokenRequest",
];

/// 文書 `doc` の [`CLOSED_SCHEMAS`] に `additionalProperties: false` を足します。
pub fn close_schemas(doc: &mut Value) {
    if let Some(schemas) = doc
        .get_mut("components")
        .and_then(|c| c.get_mut("schemas"))
        .and_then(Value::as_object_mut)
    {
        for name in CLOSED_SCHEMAS {
            if let Some(schema) = schemas.get_mut(*name).and_then(Value::as_object_mut) {
                schema.insert("additionalProperties".into(), Value::Bool(false));
            }
        }
    }
}

/// poem-openapi が書いた文書を、サーバーの振る舞いどおりに仕上げます: 型付きの取り出しの
/// ヘッダーの展開 ([`expand_param_groups`])、[`close_schemas`]、[`bound_unsigned`]。すべてのサービスの文書がここを通ります。
pub fn finish_document(doc: &mut Value) {
    expand_param_groups(doc);
    close_schemas(doc);
    bound_unsigned(doc);
}

/// 符号なし整数 (`format: uint8`〜`uint64`) のスキーマに `minimum: 0` を足します。
///
/// poem-openapi は `u64` を `integer` + `format: uint64` とだけ書くので、`format` を知らない
/// 利用者 (と schemathesis) には負の数も正しい値に見えてしまいます。サーバーは負の数を 400 で
/// 断るので、文書にもその下限を書きます。
pub fn bound_unsigned(doc: &mut Value) {
    match doc {
        Value::Object(map) => {
            let unsigned = map
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| f.starts_with("uint"));
            if unsigned && !map.contains_key("minimum") {
                map.insert("minimum".into(), Value::from(0));
            }
            map.values_mut().for_each(bound_unsigned);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_unsigned),
        _ => {}
    }
}

/// 1 つの OpenAPI 文書の 2 つの顔: `/openapi.json` の JSON と、それを埋め込んだ Swagger UI の HTML。
#[derive(Debug, Clone)]
pub struct DocumentPages {
    json: Arc<str>,
    swagger_html: Arc<str>,
}

impl DocumentPages {
    /// 文書 `json` から作ります。`swagger_html` は poem-openapi が文書 `embedded` を埋め込んで
    /// 作った Swagger UI の HTML で、埋め込まれた文書を `json` に差し替えます。
    #[must_use]
    pub fn new(json: String, swagger_html: &str, embedded: &str) -> Self {
        Self {
            swagger_html: swagger_html.replace(embedded, &json).into(),
            json: json.into(),
        }
    }

    /// `/openapi.json` の応答。
    #[must_use]
    pub fn json_response(&self) -> Response {
        Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(self.json.to_string())
    }

    /// `/swagger` の応答。
    #[must_use]
    pub fn swagger_response(&self) -> Response {
        Response::builder()
            .content_type("text/html; charset=utf-8")
            .body(self.swagger_html.to_string())
    }
}

/// 文書の `paths` から作った「パスのパターン → 受け付けるメソッド」の表。
#[derive(Debug, Clone, Default)]
pub struct AllowedMethods {
    rows: Vec<(Vec<String>, String)>,
}

impl AllowedMethods {
    /// OpenAPI 文書 (JSON) の `paths` から作ります。読めない文書なら空の表です。
    #[must_use]
    pub fn from_spec(spec: &Value) -> Self {
        let mut rows = Vec::new();
        if let Some(paths) = spec.get("paths").and_then(Value::as_object) {
            for (pattern, item) in paths {
                let Some(item) = item.as_object() else {
                    continue;
                };
                let methods: BTreeSet<String> = item
                    .keys()
                    .filter(|k| {
                        matches!(
                            k.as_str(),
                            "get" | "put" | "post" | "delete" | "patch" | "head" | "options"
                        )
                    })
                    .map(|k| k.to_ascii_uppercase())
                    .collect();
                if methods.is_empty() {
                    continue;
                }
                rows.push((segments(pattern), join_methods(&methods)));
            }
        }
        Self { rows }
    }

    /// `path` に一致するパターンが受け付けるメソッド (`GET, POST` の形)。一致しなければ `None`。
    ///
    /// 固定の文字列のセグメントを多く持つパターンを優先します (`/a/read-all` は `/a/{id}` より先)。
    #[must_use]
    pub fn allow_for(&self, path: &str) -> Option<&str> {
        let actual = segments(path);
        self.rows
            .iter()
            .filter(|(pattern, _)| matches_pattern(pattern, &actual))
            .max_by_key(|(pattern, _)| pattern.iter().filter(|s| !is_param(s)).count())
            .map(|(_, allow)| allow.as_str())
    }
}

fn segments(path: &str) -> Vec<String> {
    path.trim_end_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

fn matches_pattern(pattern: &[String], actual: &[String]) -> bool {
    pattern.len() == actual.len()
        && pattern
            .iter()
            .zip(actual)
            .all(|(p, a)| if is_param(p) { !a.is_empty() } else { p == a })
}

fn join_methods(methods: &BTreeSet<String>) -> String {
    methods.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// 405 の応答に `Allow` ヘッダーを付けるミドルウェア (すでに付いていれば変えません)。
#[derive(Debug, Clone)]
pub struct AllowOn405 {
    table: Arc<AllowedMethods>,
}

impl AllowOn405 {
    /// 表 `table` で作ります。
    #[must_use]
    pub fn new(table: AllowedMethods) -> Self {
        Self {
            table: Arc::new(table),
        }
    }
}

impl<E: Endpoint<Output = Response>> Middleware<E> for AllowOn405 {
    type Output = AllowOn405Endpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        AllowOn405Endpoint {
            inner: ep,
            table: Arc::clone(&self.table),
        }
    }
}

/// [`AllowOn405`] が包んだエンドポイント。
#[derive(Debug)]
pub struct AllowOn405Endpoint<E> {
    inner: E,
    table: Arc<AllowedMethods>,
}

impl<E: Endpoint<Output = Response>> Endpoint for AllowOn405Endpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let path = req.uri().path().to_owned();
        let mut response = match self.inner.call(req).await {
            Ok(response) => response,
            Err(err) => err.into_response(),
        };
        if response.status() == StatusCode::METHOD_NOT_ALLOWED
            && !response.headers().contains_key(header::ALLOW)
        {
            if let Some(allow) = self
                .table
                .allow_for(&path)
                .and_then(|a| HeaderValue::from_str(a).ok())
            {
                response.headers_mut().insert(header::ALLOW, allow);
            }
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table() -> AllowedMethods {
        AllowedMethods::from_spec(&json!({
            "paths": {
                "/api/v1/albums/{id}": { "get": {}, "patch": {}, "delete": {}, "parameters": [] },
                "/api/v1/notifications/{id}/read": { "put": {} },
                "/api/v1/notifications/read-all": { "put": {} },
                "/api/v1/notifications/{id}": { "get": {} },
                "/health": { "get": {} }
            }
        }))
    }

    #[test]
    fn closed_schemas_match_deny_unknown_fields_in_source() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
                let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
                let lines: Vec<&str> = text.lines().collect();
                for (i, line) in lines.iter().enumerate() {
                    if !(line.trim_start().starts_with("#[oai(")
                        && line.contains("deny_unknown_fields"))
                    {
                        continue;
                    }
                    let renamed = line
                        .split("rename = \"")
                        .nth(1)
                        .and_then(|rest| rest.split('"').next());
                    let declared = lines[i..]
                        .iter()
                        .find_map(|l| l.trim_start().strip_prefix("pub struct "))
                        .and_then(|rest| rest.split([' ', '{', '<']).next());
                    if let Some(name) = renamed.or(declared) {
                        found.push(name.to_owned());
                    }
                }
            }
        }
        found.sort();
        let mut listed: Vec<String> = CLOSED_SCHEMAS.iter().map(|s| (*s).to_owned()).collect();
        listed.sort();
        assert_eq!(found, listed);
    }

    #[test]
    fn bound_unsigned_adds_minimum_0_to_uint_formats_and_keeps_existing_minimum() {
        let mut doc = serde_json::json!({
            "a": { "type": "integer", "format": "uint64" },
            "b": [{ "type": "integer", "format": "uint32", "minimum": 1 }],
            "c": { "type": "integer", "format": "int64" }
        });
        bound_unsigned(&mut doc);
        assert_eq!(doc["a"]["minimum"], 0);
        assert_eq!(doc["b"][0]["minimum"], 1);
        assert!(doc["c"].get("minimum").is_none());
    }

    #[test]
    fn close_schemas_closes_listed_schemas_only() {
        let mut doc = json!({
            "components": { "schemas": { "NewEvent": { "type": "object" }, "Other": { "type": "object" } } }
        });
        close_schemas(&mut doc);
        assert_eq!(
            doc["components"]["schemas"]["NewEvent"]["additionalProperties"],
            false
        );
        assert!(
            doc["components"]["schemas"]["Other"]
                .get("additionalProperties")
                .is_none()
        );
    }

    #[test]
    fn album_path_with_id_allows_delete_get_patch_sorted() {
        assert_eq!(
            table().allow_for("/api/v1/albums/abc"),
            Some("DELETE, GET, PATCH")
        );
    }

    #[test]
    fn literal_segment_wins_over_parameter_segment() {
        assert_eq!(
            table().allow_for("/api/v1/notifications/read-all"),
            Some("PUT")
        );
        assert_eq!(table().allow_for("/api/v1/notifications/xyz"), Some("GET"));
    }

    #[test]
    fn trailing_slash_and_unknown_path_behave() {
        assert_eq!(table().allow_for("/health/"), Some("GET"));
        assert_eq!(table().allow_for("/nope"), None);
        assert_eq!(table().allow_for("/api/v1/albums//"), None);
    }
}
