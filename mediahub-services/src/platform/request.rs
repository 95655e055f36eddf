//! 型付きの要求の取り出し: 誰として操作するか ([`ActingUser`]) と、コマンドの文脈
//! ([`CommandContext`] = 利用者・相関 ID・因果 ID・冪等性キー)。
//!
//! どちらも poem-openapi の [`ApiExtractor`] を実装するので、ハンドラーは引数に一つ書くだけです。
//! トークンの検証 (セキュリティスキーム `A`、既定は [`BearerAuth`]) もここで済みます。
//!
//! ```text
//! async fn rename(&self, ctx: CommandContext, id: Path<Uuid>, body: Json<RenameBody>) -> …
//! ```
//!
//! OpenAPI 文書には、取り出すヘッダー (`X-User-ID`・`X-Correlation-ID`・`X-Causation-ID`・
//! `Idempotency-Key`) がそれぞれ一つのヘッダーパラメーターとして載ります。poem-openapi の
//! 取り出しは一つの引数で一つのパラメーターしか書けないので、取り出しは目印のパラメーターを一つ
//! 書き、[`crate::platform::openapi::finish_document`] が [`expand_param_groups`] でそれを
//! 本物のヘッダーの並びに置き換えます。
//!
//! 不正な値は 400 (`request.invalid_parameter`、`X-User-ID` は `auth.invalid_user_id_header`)、
//! 利用者が決まらない (サービス用トークンで `X-User-ID` が無い) ときは 403 `auth.user_required`
//! です。

use mediahub_core::envelope::EventMetadata;
use mediahub_core::ids::UserId;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaParamIn, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::ParseFromParameter;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::auth::{
    BearerAuth, Claims, ServiceAuth, USER_ID_HEADER, acting_user, require_service, verify_bearer,
};
use super::metadata::{
    IDEMPOTENCY_KEY_PATTERN, IdempotencyKey, MAX_IDEMPOTENCY_KEY_LEN, metadata_for,
};
use super::problem::{Problem, codes};

/// 相関 ID のヘッダー。
pub const CORRELATION_ID_HEADER: &str = "X-Correlation-ID";
/// 因果 ID のヘッダー。
pub const CAUSATION_ID_HEADER: &str = "X-Causation-ID";
/// 冪等性キーのヘッダー。
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// [`ActingUser`] の組の名前。
const ACTING_USER_GROUP: &str = "ActingUser";
/// [`CommandContext`] の組の名前。
const COMMAND_CONTEXT_GROUP: &str = "CommandContext";
/// パラメーターの組の、文書の中でのスキーマ名の接頭辞 (文書の仕上げで本物のパラメーターに置き換えて消します)。
const GROUP_SCHEMA_PREFIX: &str = "MediahubParamGroup_";

/// パラメーターの置き場所。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamLocation {
    /// クエリ文字列。
    Query,
    /// ヘッダー。
    Header,
}

impl ParamLocation {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Header => "header",
        }
    }
}

/// まとめて取り出すパラメーター 1 つ (文書に載せる形)。
#[derive(Debug)]
pub struct GroupParam {
    /// 名前。
    pub name: &'static str,
    /// 置き場所。
    pub location: ParamLocation,
    /// 説明。
    pub description: &'static str,
    /// 値のスキーマ。
    pub schema: MetaSchema,
}

/// いくつかのパラメーターを一つの型として取り出す組 ([`Params`] で使います)。
///
/// poem-openapi の取り出しは一つの引数で一つのパラメーターしか文書に書けないので、組は文書に
/// 目印を一つ書き、[`expand_param_groups`] が [`ParamGroup::params`] の並びに置き換えます。
pub trait ParamGroup: Sized + Send + 'static {
    /// 組の名前 (文書の中の目印に使います。crate の中で一意に)。
    const NAME: &'static str;

    /// 組のパラメーター (文書用)。
    fn params() -> Vec<GroupParam>;

    /// 要求から取り出して検査します。
    ///
    /// # エラー
    /// 値が不正なら 400 などの [`Problem`]。
    fn extract(req: &Request) -> Result<Self, Problem>;
}

/// パラメーターの組 `G` の取り出し。ハンドラーは `filter: Params<LogFilterParams>` のように書きます。
#[derive(Debug)]
pub struct Params<G>(pub G);

impl<'a, G: ParamGroup> ApiExtractor<'a> for Params<G> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_group::<G>(registry, G::NAME, G::params());
    }

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Query)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(group_ref(G::NAME))
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(Self(G::extract(req)?))
    }
}

fn group_ref(name: &str) -> MetaSchemaRef {
    MetaSchemaRef::Reference(format!("{GROUP_SCHEMA_PREFIX}{name}"))
}

/// 組の目印のスキーマを登録します: 性質 (properties) が一つずつのパラメーターで、`title` に置き場所。
fn register_group<T: 'static>(registry: &mut Registry, name: &str, params: Vec<GroupParam>) {
    registry.create_schema::<T, _>(format!("{GROUP_SCHEMA_PREFIX}{name}"), |_| MetaSchema {
        properties: params
            .into_iter()
            .map(|param| {
                let schema = MetaSchema {
                    title: Some(param.location.as_str().to_owned()),
                    description: Some(param.description),
                    ..param.schema
                };
                (param.name, MetaSchemaRef::Inline(Box::new(schema)))
            })
            .collect(),
        ..MetaSchema::new("object")
    });
}

/// クエリ文字列の `name` の値 (無ければ `None`。読めない組は無視します)。
#[must_use]
pub fn query_value(req: &Request, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// クエリ文字列の `name` の値すべて (`name=a&name=b` なら `["a", "b"]`、現れた順)。
#[must_use]
pub fn query_values(req: &Request, name: &str) -> Vec<String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .collect()
}

/// トークンを検証するセキュリティスキーム ([`BearerAuth`] と [`ServiceAuth`])。
pub trait Caller: Sized + Send {
    /// 要求のトークンを検証します。
    ///
    /// # エラー
    /// トークンが無い・不正なら 401、サービス用が要るのにユーザー用なら 403 の problem。
    fn verify(req: &Request) -> poem::Result<Self>;

    /// 検証済みのトークンの主張。
    fn claims(&self) -> &Claims;
}

impl Caller for BearerAuth {
    fn verify(req: &Request) -> poem::Result<Self> {
        Ok(Self(verify_bearer(req)?))
    }

    fn claims(&self) -> &Claims {
        &self.0
    }
}

impl Caller for ServiceAuth {
    fn verify(req: &Request) -> poem::Result<Self> {
        let claims = verify_bearer(req)?;
        require_service(&claims)?;
        Ok(Self(claims))
    }

    fn claims(&self) -> &Claims {
        &self.0
    }
}

/// 誰として操作するか: ユーザー用トークンならそのユーザー、サービス用トークンなら `X-User-ID`。
///
/// 決まらなければ 403 `auth.user_required`。
#[derive(Debug)]
pub struct ActingUser<A = BearerAuth> {
    /// 操作するユーザー。
    pub user: UserId,
    /// 検証済みのトークン。
    pub auth: A,
}

/// コマンドの文脈: 利用者 (サービス用トークンで `X-User-ID` が無ければ `None`)・相関 ID・
/// 因果 ID・冪等性キー。[`CommandContext::metadata`] がイベントのメタデータを作ります。
#[derive(Debug)]
pub struct CommandContext<A = BearerAuth> {
    /// 検証済みのトークン。
    pub auth: A,
    /// 操作するユーザー (決まらなければ `None`。要るなら [`CommandContext::user`])。
    pub user: Option<UserId>,
    /// 相関 ID (無ければメタデータを作るときに新しく作ります)。
    pub correlation_id: Option<Uuid>,
    /// 因果 ID。
    pub causation_id: Option<Uuid>,
    /// 冪等性キー。
    pub idempotency_key: Option<IdempotencyKey>,
}

impl<A> CommandContext<A> {
    /// 操作するユーザー。決まっていなければ 403 `auth.user_required`。
    ///
    /// # エラー
    /// ユーザーが決まらなければ [`Problem`] (403)。
    pub fn user(&self) -> Result<UserId, Problem> {
        self.user.ok_or_else(user_required)
    }

    /// このコマンドが書くイベントのメタデータ (相関 ID が無ければ新しく作ります)。
    #[must_use]
    pub fn metadata(&self) -> EventMetadata {
        metadata_for(
            self.correlation_id,
            self.causation_id,
            self.idempotency_key.as_ref(),
            self.user,
        )
    }

    /// ユーザーを `user` にしたメタデータ (サービス用トークンで、操作の相手を後から決めるとき)。
    #[must_use]
    pub fn metadata_as(&self, user: UserId) -> EventMetadata {
        metadata_for(
            self.correlation_id,
            self.causation_id,
            self.idempotency_key.as_ref(),
            Some(user),
        )
    }
}

/// 403 `auth.user_required`。
#[must_use]
pub fn user_required() -> Problem {
    Problem::forbidden(
        codes::USER_REQUIRED,
        "サービス用トークンで呼ぶときは X-User-ID ヘッダーでユーザーを指定してください",
    )
}

fn header<'r>(req: &'r Request, name: &str) -> Result<Option<&'r str>, Problem> {
    req.headers()
        .get(name)
        .map(|value| {
            value.to_str().map_err(|_| {
                Problem::bad_request(
                    codes::INVALID_PARAMETER,
                    format!("{name} ヘッダーが表示できる文字ではありません"),
                )
            })
        })
        .transpose()
}

fn uuid_header(req: &Request, name: &str) -> Result<Option<Uuid>, Problem> {
    header(req, name)?
        .map(|raw| {
            Uuid::parse_str(raw.trim()).map_err(|_| {
                Problem::bad_request(
                    codes::INVALID_PARAMETER,
                    format!("{name} ヘッダーは UUID にしてください: {raw}"),
                )
            })
        })
        .transpose()
}

/// セキュリティスキーム `A` でトークンを検証し、`X-User-ID` と合わせて利用者を決めます。
fn authenticate<A: Caller>(req: &Request) -> poem::Result<(A, Option<UserId>)> {
    let auth = A::verify(req)?;
    let user = acting_user(auth.claims(), header(req, USER_ID_HEADER)?)?;
    Ok((auth, user))
}

impl<'a, A> ApiExtractor<'a> for ActingUser<A>
where
    A: Caller + ApiExtractor<'static>,
{
    const TYPES: &'static [ApiExtractorType] = &[
        ApiExtractorType::SecurityScheme,
        ApiExtractorType::Parameter,
    ];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <A as ApiExtractor<'static>>::register(registry);
        register_group::<ActingUser>(registry, ACTING_USER_GROUP, vec![user_param()]);
    }

    fn security_schemes() -> Vec<&'static str> {
        <A as ApiExtractor<'static>>::security_schemes()
    }

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(group_ref(ACTING_USER_GROUP))
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let (auth, user) = authenticate::<A>(req)?;
        let user = user.ok_or_else(user_required)?;
        Ok(Self { user, auth })
    }
}

impl<'a, A> ApiExtractor<'a> for CommandContext<A>
where
    A: Caller + ApiExtractor<'static>,
{
    const TYPES: &'static [ApiExtractorType] = &[
        ApiExtractorType::SecurityScheme,
        ApiExtractorType::Parameter,
    ];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <A as ApiExtractor<'static>>::register(registry);
        register_group::<CommandContext>(registry, COMMAND_CONTEXT_GROUP, context_params());
    }

    fn security_schemes() -> Vec<&'static str> {
        <A as ApiExtractor<'static>>::security_schemes()
    }

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(group_ref(COMMAND_CONTEXT_GROUP))
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let (auth, user) = authenticate::<A>(req)?;
        let idempotency_key = header(req, IDEMPOTENCY_KEY_HEADER)?
            .map(|raw| {
                IdempotencyKey::parse_from_parameter(raw).map_err(|err| {
                    Problem::bad_request(
                        codes::INVALID_PARAMETER,
                        format!(
                            "{IDEMPOTENCY_KEY_HEADER} ヘッダーが不正です: {}",
                            err.message()
                        ),
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            auth,
            user,
            correlation_id: uuid_header(req, CORRELATION_ID_HEADER)?,
            causation_id: uuid_header(req, CAUSATION_ID_HEADER)?,
            idempotency_key,
        })
    }
}

/// `X-User-ID`。
fn user_param() -> GroupParam {
    GroupParam {
        name: USER_ID_HEADER,
        location: ParamLocation::Header,
        description: "代理で操作するユーザーの ID (サービス用トークンのときだけ。ユーザー用トークンで送ると 403)。",
        schema: MetaSchema::new("string"),
    }
}

/// [`CommandContext`] が読むヘッダー。
fn context_params() -> Vec<GroupParam> {
    let uuid = || MetaSchema::new_with_format("string", "uuid");
    vec![
        user_param(),
        GroupParam {
            name: CORRELATION_ID_HEADER,
            location: ParamLocation::Header,
            description: "相関 ID (無ければ新しく作ります)。書いたイベントのメタデータに入ります。",
            schema: uuid(),
        },
        GroupParam {
            name: CAUSATION_ID_HEADER,
            location: ParamLocation::Header,
            description: "因果 ID (このコマンドを引き起こしたイベントの ID)。",
            schema: uuid(),
        },
        GroupParam {
            name: IDEMPOTENCY_KEY_HEADER,
            location: ParamLocation::Header,
            description: "冪等性キー (イベントのメタデータに記録します)。",
            schema: MetaSchema {
                min_length: Some(1),
                max_length: Some(MAX_IDEMPOTENCY_KEY_LEN),
                pattern: Some(IDEMPOTENCY_KEY_PATTERN.to_owned()),
                ..MetaSchema::new("string")
            },
        },
    ]
}

/// 文書の各操作の、パラメーターの組 ([`Params`]・[`ActingUser`]・[`CommandContext`]) の目印を、
/// その組の本物のパラメーターの並びに置き換え、目印のスキーマを消します。
pub fn expand_param_groups(doc: &mut Value) {
    let prefix = format!("#/components/schemas/{GROUP_SCHEMA_PREFIX}");
    let groups: Map<String, Value> = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .map(|schemas| {
            let names: Vec<String> = schemas
                .keys()
                .filter(|name| name.starts_with(GROUP_SCHEMA_PREFIX))
                .cloned()
                .collect();
            names
                .into_iter()
                .filter_map(|name| schemas.remove(&name).map(|schema| (name, schema)))
                .collect()
        })
        .unwrap_or_default();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in operation.values_mut() {
            let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
                continue;
            };
            let mut expanded = Vec::with_capacity(params.len());
            for param in params.drain(..) {
                let group = param
                    .pointer("/schema/$ref")
                    .and_then(Value::as_str)
                    .and_then(|reference| reference.strip_prefix(&prefix))
                    .and_then(|name| groups.get(&format!("{GROUP_SCHEMA_PREFIX}{name}")));
                match group {
                    Some(group) => expanded.extend(group_members(group)),
                    None => expanded.push(param),
                }
            }
            *params = expanded;
        }
    }
}

/// 組の目印のスキーマから、本物のパラメーターの並びを作ります。
fn group_members(group: &Value) -> Vec<Value> {
    let Some(properties) = group.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, schema)| {
            let mut schema = schema.clone();
            let (location, description) = match schema.as_object_mut() {
                Some(fields) => (fields.remove("title"), fields.remove("description")),
                None => (None, None),
            };
            json!({
                "name": name,
                "in": location.unwrap_or_else(|| Value::from("query")),
                "description": description.unwrap_or_default(),
                "required": false,
                "deprecated": false,
                "explode": true,
                "schema": schema,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use poem_openapi::OpenApi;
    use poem_openapi::payload::PlainText;

    use super::*;

    struct Demo;

    struct DemoFilter {
        kind: Option<String>,
    }

    impl ParamGroup for DemoFilter {
        const NAME: &'static str = "DemoFilter";

        fn params() -> Vec<GroupParam> {
            vec![GroupParam {
                name: "kind",
                location: ParamLocation::Query,
                description: "種類。",
                schema: MetaSchema {
                    pattern: Some("^(a|b)$".to_owned()),
                    ..MetaSchema::new("string")
                },
            }]
        }

        fn extract(req: &Request) -> Result<Self, Problem> {
            Ok(Self {
                kind: query_value(req, "kind"),
            })
        }
    }

    #[OpenApi]
    impl Demo {
        /// 文書の形を確かめるための操作。
        #[oai(path = "/demo/:id", method = "post")]
        async fn demo(
            &self,
            ctx: CommandContext,
            id: poem_openapi::param::Path<String>,
            filter: Params<DemoFilter>,
        ) -> PlainText<String> {
            PlainText(format!(
                "{}{}{:?}",
                id.0,
                ctx.correlation_id.is_some(),
                filter.0.kind
            ))
        }

        /// ユーザーだけを取り出す操作。
        #[oai(path = "/me", method = "get")]
        async fn me(&self, user: ActingUser<ServiceAuth>) -> PlainText<String> {
            PlainText(user.user.to_string())
        }
    }

    fn document() -> Value {
        let spec = poem_openapi::OpenApiService::new(Demo, "t", "1").spec();
        let mut doc: Value = serde_json::from_str(&spec).unwrap_or_default();
        expand_param_groups(&mut doc);
        doc
    }

    fn names(params: &Value) -> Vec<(String, String)> {
        params
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|p| {
                        (
                            p["name"].as_str().unwrap_or_default().to_owned(),
                            p["in"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn command_context_and_param_group_expand_to_their_parameters_and_markers_disappear() {
        let doc = document();
        let op = &doc["paths"]["/demo/{id}"]["post"];
        let mut found = names(&op["parameters"]);
        found.sort();
        let mut expected: Vec<(String, String)> = [
            ("Idempotency-Key", "header"),
            ("X-Causation-ID", "header"),
            ("X-Correlation-ID", "header"),
            ("X-User-ID", "header"),
            ("id", "path"),
            ("kind", "query"),
        ]
        .iter()
        .map(|(n, l)| ((*n).to_owned(), (*l).to_owned()))
        .collect();
        expected.sort();
        assert_eq!(found, expected);
        let kind = op["parameters"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == "kind"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(kind["schema"]["pattern"], "^(a|b)$");
        assert_eq!(kind["description"], "種類。");
        assert!(kind["schema"].get("title").is_none());
        assert_eq!(op["security"], json!([{ "BearerToken": [] }]));
        let schemas = doc["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(
            schemas
                .keys()
                .all(|name| !name.starts_with(GROUP_SCHEMA_PREFIX)),
            "{schemas:?}"
        );
    }

    #[test]
    fn acting_user_with_service_auth_documents_x_user_id_and_service_token() {
        let doc = document();
        let op = &doc["paths"]["/me"]["get"];
        assert_eq!(
            names(&op["parameters"]),
            [("X-User-ID".to_owned(), "header".to_owned())]
        );
        assert_eq!(op["security"], json!([{ "ServiceToken": [] }]));
    }

    #[test]
    fn context_without_user_is_403_user_required_and_metadata_keeps_headers() {
        let ctx = CommandContext {
            auth: (),
            user: None,
            correlation_id: Some(Uuid::nil()),
            causation_id: None,
            idempotency_key: None,
        };
        let err = ctx.user().err();
        assert_eq!(err.as_ref().map(Problem::code), Some(codes::USER_REQUIRED));
        assert_eq!(err.map(|p| p.status().as_u16()), Some(403));
        let metadata = ctx.metadata();
        assert_eq!(
            metadata.correlation_id.map(|c| c.as_uuid()),
            Some(Uuid::nil())
        );
        assert_eq!(metadata.user_id, None);
        let user = UserId::new_random();
        assert_eq!(ctx.metadata_as(user).user_id, Some(user));
    }
}
