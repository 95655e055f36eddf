//! ゲートウェイの OpenAPI 文書 (公開 API の契約を 1 か所で)。
//!
//! 文書は起動時に一度だけ組み立てます:
//!
//! 1. ゲートウェイ自身のエンドポイント (`/health`, `/ready`, `/auth/...`, `/api/v1/me`) は
//!    poem-openapi が生成した文書そのもの。
//! 2. 中継するパスは、経路表 ([`ROUTES`]) の各行について **上流のサービス自身の文書** から
//!    同じパス・メソッドの操作を写します: パラメーター (`format: uuid`、範囲、列挙)、要求本体
//!    (アップロードの multipart を含む)、2xx の応答スキーマ、problem+json のエラー。参照される
//!    スキーマも一緒に写します (同じ名前で形の違うスキーマはサービス名を前に付けて区別します)。
//!    上流の文書は [`crate::platform::server::openapi_spec`] が **型だけから** 作るので、上流が
//!    落ちていても文書は変わらず、ゲートウェイと上流で食い違うこともありません。
//! 3. 写した操作には、ゲートウェイが変えるところだけを反映します: `X-User-ID` ヘッダーは
//!    (ゲートウェイが外して付け直すので) 載せない、自分のイベントの経路では `user_id` を
//!    載せない、認証は利用者の `BearerToken`、ゲートウェイ自身が返しうるエラー
//!    (401・403・413・502・504) を足し、中継先を `x-upstream` に書きます。
//!
//! 内部用のパス (`/internal/**`) は経路表に無いので、文書にも載りません。

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::routes::{ROUTES, RouteKind, RouteRule, Upstream};

/// 上流のサービスの OpenAPI 文書を、サービスを起動せずに作ります。
#[must_use]
pub fn upstream_spec(upstream: Upstream) -> Value {
    match upstream {
        Upstream::MediaCommand => crate::media_command::openapi_spec(),
        Upstream::MediaQuery => crate::media_query::openapi_spec(),
        Upstream::Album => crate::album::openapi_spec(),
        Upstream::EventStore => crate::eventstore::openapi_spec(),
        Upstream::Saga => crate::saga::openapi_spec(),
        Upstream::Notification => crate::notification::openapi_spec(),
    }
}

const SCHEMA_PREFIX: &str = "#/components/schemas/";

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {
            "application/problem+json": {
                "schema": { "$ref": format!("{SCHEMA_PREFIX}Problem") }
            }
        }
    })
}

/// ゲートウェイ自身が返しうるエラー (上流の応答に足します)。
fn gateway_errors(kind: RouteKind) -> Vec<(&'static str, &'static str)> {
    let mut errors = vec![
        ("401", "トークンが無い・不正・期限切れ"),
        ("403", "サービス用トークンは使えません"),
        ("502", "上流に接続できない (`upstream.unavailable`)"),
        ("504", "上流が時間内に応答しない (`upstream.timeout`)"),
    ];
    if kind == RouteKind::Upload {
        errors.push(("413", "リクエスト本体が上限を超えた"));
    }
    errors
}

/// 操作の中の `$ref` が指すスキーマ名をすべて集めます。
fn collect_refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref" {
                    if let Some(name) = v.as_str().and_then(|r| r.strip_prefix(SCHEMA_PREFIX)) {
                        out.insert(name.to_owned());
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// `$ref` の名前を `renames` に従って書き換えます。
fn rename_refs(value: &mut Value, renames: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref" {
                    let renamed = v
                        .as_str()
                        .and_then(|r| r.strip_prefix(SCHEMA_PREFIX))
                        .and_then(|name| renames.get(name));
                    if let Some(new) = renamed {
                        *v = Value::String(format!("{SCHEMA_PREFIX}{new}"));
                    }
                } else {
                    rename_refs(v, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renames)),
        _ => {}
    }
}

/// サービス名 (`media-command`) をスキーマ名の接頭辞 (`MediaCommand`) にします。
fn pascal(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// 上流の 1 サービスの文書 (読み込み済み) と、そこから写したスキーマの名前の対応。
struct UpstreamDoc {
    spec: Value,
    renames: BTreeMap<String, String>,
}

impl UpstreamDoc {
    fn operation(&self, rule: &RouteRule, verb: &str) -> Option<Value> {
        self.spec
            .get("paths")
            .and_then(|paths| paths.get(rule.pattern))
            .and_then(|item| item.get(verb))
            .cloned()
    }

    fn schema(&self, name: &str) -> Option<&Value> {
        self.spec
            .get("components")
            .and_then(|c| c.get("schemas"))
            .and_then(|s| s.get(name))
    }

    /// 操作が参照するスキーマを (参照の参照まで) `schemas` に写し、名前の対応を覚えます。
    fn copy_schemas(&mut self, op: &Value, upstream: Upstream, schemas: &mut Map<String, Value>) {
        let mut pending = BTreeSet::new();
        collect_refs(op, &mut pending);
        let mut needed = BTreeSet::new();
        while let Some(name) = pending.pop_first() {
            if !needed.insert(name.clone()) {
                continue;
            }
            if let Some(schema) = self.schema(&name) {
                let mut inner = BTreeSet::new();
                collect_refs(schema, &mut inner);
                pending.extend(inner.into_iter().filter(|n| !needed.contains(n)));
            }
        }
        for name in &needed {
            if self.renames.contains_key(name) {
                continue;
            }
            let Some(schema) = self.schema(name) else {
                continue;
            };
            let target = match schemas.get(name) {
                Some(existing) if existing != schema => {
                    format!("{}{name}", pascal(upstream.name()))
                }
                _ => name.clone(),
            };
            self.renames.insert(name.clone(), target);
        }
        for name in &needed {
            let (Some(target), Some(schema)) = (self.renames.get(name), self.schema(name)) else {
                continue;
            };
            let mut schema = schema.clone();
            rename_refs(&mut schema, &self.renames);
            schemas.entry(target.clone()).or_insert(schema);
        }
    }
}

/// 上流の操作を、ゲートウェイの公開 API としての操作に直します。
fn public_operation(rule: &RouteRule, mut op: Value) -> Value {
    let upstream = rule.upstream.name();
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        params.retain(|param| {
            let name = param.get("name").and_then(Value::as_str).unwrap_or("");
            let location = param.get("in").and_then(Value::as_str).unwrap_or("");
            let stripped_header = location == "header" && name.eq_ignore_ascii_case("X-User-ID");
            let forced_user = matches!(rule.kind, RouteKind::OwnEvents { .. })
                && location == "query"
                && name == "user_id";
            !(stripped_header || forced_user)
        });
    }
    let mut description = op
        .get("description")
        .and_then(Value::as_str)
        .map(|d| format!("{d}\n\n"))
        .unwrap_or_default();
    description.push_str(&format!("ゲートウェイが {upstream} へ中継します。"));
    match rule.kind {
        RouteKind::OwnEvents { .. } => description.push_str(
            " 呼び出し元自身のイベント (`metadata.user_id` が自分のもの) だけを返します。",
        ),
        RouteKind::Upload => description.push_str(
            " 本体は流したまま中継され、上限を超えると 413 (`request.payload_too_large`) です。",
        ),
        RouteKind::Stream => {
            description
                .push_str(" Server-Sent Events (`text/event-stream`) で、時間制限はありません。");
        }
        RouteKind::Plain => {}
    }
    if let Some(map) = op.as_object_mut() {
        map.insert("description".into(), Value::String(description));
        map.insert("security".into(), json!([ { "BearerToken": [] } ]));
        map.insert("x-upstream".into(), Value::String(upstream.into()));
        if !map.contains_key("summary") {
            map.insert("summary".into(), Value::String(rule.summary.into()));
        }
        let responses = map
            .entry("responses")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(responses) = responses.as_object_mut() {
            for (status, text) in gateway_errors(rule.kind) {
                responses
                    .entry(status)
                    .or_insert_with(|| problem_response(text));
            }
        }
    }
    op
}

fn object_entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(inner) => inner,
        _ => unreachable!("直前で object にしています"),
    }
}

/// ゲートウェイ自身の文書 (JSON 文字列) に、経路表の各行を上流の文書 (`upstream_spec` が返す)
/// から写して足した文書を返します。
///
/// # エラー
/// 自身の文書が JSON として読めなければ `serde_json::Error`。
pub fn document(
    own_spec: &str,
    upstream_spec: impl Fn(Upstream) -> Value,
) -> Result<Value, serde_json::Error> {
    let mut spec: Value = serde_json::from_str(own_spec)?;
    let mut upstreams: BTreeMap<&'static str, UpstreamDoc> = BTreeMap::new();
    for rule in ROUTES {
        if !upstreams.contains_key(rule.upstream.name()) {
            let doc = UpstreamDoc {
                spec: upstream_spec(rule.upstream),
                renames: BTreeMap::new(),
            };
            upstreams.insert(rule.upstream.name(), doc);
        }
    }
    let Some(root) = spec.as_object_mut() else {
        return Ok(spec);
    };
    let mut schemas = std::mem::take(object_entry(object_entry(root, "components"), "schemas"));
    let mut tags: Vec<Value> = root
        .get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let paths = object_entry(root, "paths");
    for rule in ROUTES {
        let Some(doc) = upstreams.get_mut(rule.upstream.name()) else {
            continue;
        };
        for verb in rule.verbs {
            // 上流に無い操作は載せません (経路表と上流の食い違いはテストが見つけます)。
            let Some(op) = doc.operation(rule, verb.lowercase()) else {
                continue;
            };
            doc.copy_schemas(&op, rule.upstream, &mut schemas);
            let mut op = public_operation(rule, op);
            rename_refs(&mut op, &doc.renames);
            object_entry(paths, rule.pattern).insert(verb.lowercase().into(), op);
        }
    }
    // 上流のタグの説明は、公開の操作が使っているものだけ写します。
    let used: BTreeSet<&str> = paths
        .values()
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
        .filter_map(|op| op.get("tags").and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let upstream_tags = upstreams
        .values()
        .filter_map(|doc| doc.spec.get("tags").and_then(Value::as_array))
        .flatten()
        .filter(|tag| tag["name"].as_str().is_some_and(|name| used.contains(name)))
        .cloned()
        .collect::<Vec<_>>();
    for tag in upstream_tags {
        if !tags.iter().any(|t| t["name"] == tag["name"]) {
            tags.push(tag);
        }
    }
    // `POST /auth/dev-token` の本体は省略でき、`null` も「指定なし」です (`curl -X POST` だけで使える)。
    if let Some(body) = paths
        .get_mut("/auth/dev-token")
        .and_then(|item| item.get_mut("post"))
        .and_then(|op| op.get_mut("requestBody"))
        .and_then(Value::as_object_mut)
    {
        body.insert("required".into(), Value::Bool(false));
        for media in body
            .get_mut("content")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|c| c.values_mut())
        {
            if let Some(schema) = media.get_mut("schema") {
                *schema = json!({ "allOf": [schema.take()], "nullable": true });
            }
        }
    }
    root.insert("tags".into(), Value::Array(tags));
    let components = object_entry(root, "components");
    components.insert("schemas".into(), Value::Object(schemas));
    object_entry(components, "securitySchemes")
        .entry("BearerToken")
        .or_insert_with(|| json!({ "type": "http", "scheme": "bearer", "bearerFormat": "JWT" }));
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_row_and_verb_appears_in_document_with_upstream() {
        let spec = document(
            r#"{"openapi":"3.0.0","paths":{"/api/v1/me":{"get":{}}}}"#,
            upstream_spec,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(spec["paths"]["/api/v1/me"]["get"].is_object());
        for rule in ROUTES {
            for verb in rule.verbs {
                let op = &spec["paths"][rule.pattern][verb.lowercase()];
                assert_eq!(op["x-upstream"], rule.upstream.name(), "{}", rule.pattern);
            }
        }
        let params = &spec["paths"]["/api/v1/albums/{id}/media/{media_id}"]["delete"]["parameters"];
        let path_params: Vec<&str> = params
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(path_params, ["id", "media_id"]);
        let headers: Vec<&str> = params
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|p| p["in"] == "header")
                    .filter_map(|p| p["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            headers.contains(&"X-Correlation-ID") && headers.contains(&"If-Match"),
            "{headers:?}"
        );
        assert_eq!(
            spec["components"]["securitySchemes"]["BearerToken"]["scheme"],
            "bearer"
        );
        assert!(spec["paths"].get("/internal/v1/rebuild").is_none());
    }
}
