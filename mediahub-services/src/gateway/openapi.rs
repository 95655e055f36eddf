//! ゲートウェイの OpenAPI 文書 (公開 API 全体を 1 か所で)。
//!
//! 文書は起動時に一度だけ組み立てます:
//!
//! 1. ゲートウェイ自身のエンドポイント (`/health`, `/ready`, `/auth/...`, `/api/v1/me`) は
//!    poem-openapi が生成した文書そのもの。
//! 2. 中継するパスは、経路表 ([`ROUTES`]) の各行から操作を 1 つずつ生成して足します
//!    (要約、パスパラメーター、`BearerToken` のセキュリティ、ゲートウェイが返しうるエラー、
//!    中継先を示す `x-upstream`)。要求と応答の本体の詳しい形は中継先のサービス自身の
//!    `/openapi.json` にあります (上流の文書を実行時に取り込まないのは、上流が落ちていても
//!    文書が変わらず、表と文書が食い違わないようにするためです)。
//!
//! 経路表から作るので、文書に載っているパスとゲートウェイが実際に中継するパスは必ず一致します。

use serde_json::{Map, Value, json};

use super::routes::{ROUTES, RouteKind, RouteRule};

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {
            "application/problem+json": {
                "schema": { "$ref": "#/components/schemas/Problem" }
            }
        }
    })
}

fn path_parameters(pattern: &str) -> Vec<Value> {
    pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": { "type": "string" }
            })
        })
        .collect()
}

fn query_parameter(name: &str, ty: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "required": false,
        "description": description,
        "schema": { "type": ty }
    })
}

/// 自分のイベントの経路で、ゲートウェイが意味を決めているパラメーター。
fn own_events_parameters(stream: bool) -> Vec<Value> {
    let mut params = vec![
        query_parameter("after", "integer", "この位置より後のイベント (既定 0)"),
        query_parameter("aggregate_type", "string", "集約の型で絞り込み"),
        query_parameter("aggregate_id", "string", "集約 ID で絞り込み"),
        query_parameter("correlation_id", "string", "相関 ID で絞り込み"),
    ];
    if stream {
        params.push(json!({
            "name": "Last-Event-ID",
            "in": "header",
            "required": false,
            "description": "再接続時の最後の位置 (after より優先)",
            "schema": { "type": "integer" }
        }));
    } else {
        params.push(query_parameter(
            "limit",
            "integer",
            "1 ページの最大件数 (1〜1000、既定 100)",
        ));
        params.push(query_parameter(
            "wait_ms",
            "integer",
            "ロングポーリングの最大待ち時間 (0〜30000)",
        ));
    }
    params
}

fn operation(rule: &RouteRule) -> Value {
    let upstream = rule.upstream.name();
    let mut parameters = path_parameters(rule.pattern);
    let mut description = format!(
        "ゲートウェイが {upstream} へ中継します。要求と応答の詳しい形は {upstream} の \
         `/openapi.json` を見てください。"
    );
    match rule.kind {
        RouteKind::OwnEvents { stream } => {
            parameters.extend(own_events_parameters(stream));
            description.push_str(
                " 呼び出し元自身のイベント (`metadata.user_id` が自分のもの) だけを返します。\
                 クエリの `user_id` は無視され、呼び出し元に置き換えられます。",
            );
        }
        RouteKind::Upload => description.push_str(
            " 本体は流したまま中継され、上限を超えると 413 (`request.payload_too_large`) です。",
        ),
        RouteKind::Stream => {
            description
                .push_str(" Server-Sent Events (`text/event-stream`) で、時間制限はありません。");
        }
        RouteKind::Plain => {}
    }
    let mut responses = Map::new();
    responses.insert(
        "default".into(),
        json!({ "description": format!("{upstream} の応答") }),
    );
    for (status, text) in [
        ("401", "トークンが無い・不正・期限切れ"),
        ("403", "サービス用トークンは使えません"),
        ("413", "リクエスト本体が上限を超えた"),
        ("502", "上流に接続できない (`upstream.unavailable`)"),
        ("504", "上流が時間内に応答しない (`upstream.timeout`)"),
    ] {
        responses.insert(status.into(), problem_response(text));
    }
    json!({
        "tags": [upstream],
        "summary": rule.summary,
        "description": description,
        "parameters": parameters,
        "security": [ { "BearerToken": [] } ],
        "responses": responses,
        "x-upstream": upstream,
    })
}

/// ゲートウェイ自身の文書 (JSON 文字列) に経路表のパスを足した文書を返します。
///
/// # エラー
/// 自身の文書が JSON として読めなければ `serde_json::Error`。
pub fn document(own_spec: &str) -> Result<Value, serde_json::Error> {
    let mut spec: Value = serde_json::from_str(own_spec)?;
    let Some(root) = spec.as_object_mut() else {
        return Ok(spec);
    };
    let paths = root
        .entry("paths")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(paths) = paths.as_object_mut() {
        for rule in ROUTES {
            let item = paths
                .entry(rule.pattern)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(item) = item.as_object_mut() {
                for verb in rule.verbs {
                    item.insert(verb.lowercase().into(), operation(rule));
                }
            }
        }
    }
    let schemes = root
        .entry("components")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .map(|c| c.entry("securitySchemes").or_insert_with(|| json!({})));
    if let Some(Value::Object(schemes)) = schemes {
        schemes.entry("BearerToken").or_insert_with(
            || json!({ "type": "http", "scheme": "bearer", "bearerFormat": "JWT" }),
        );
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_row_and_verb_appears_in_document_with_upstream() {
        let spec = document(r#"{"openapi":"3.0.0","paths":{"/api/v1/me":{"get":{}}}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(spec["paths"]["/api/v1/me"]["get"].is_object());
        for rule in ROUTES {
            for verb in rule.verbs {
                let op = &spec["paths"][rule.pattern][verb.lowercase()];
                assert_eq!(op["x-upstream"], rule.upstream.name(), "{}", rule.pattern);
            }
        }
        let params = &spec["paths"]["/api/v1/albums/{id}/media/{media_id}"]["delete"]["parameters"];
        assert_eq!(params[0]["name"], "id");
        assert_eq!(params[1]["name"], "media_id");
        assert_eq!(
            spec["components"]["securitySchemes"]["BearerToken"]["scheme"],
            "bearer"
        );
        assert!(spec["paths"].get("/internal/v1/rebuild").is_none());
    }
}
