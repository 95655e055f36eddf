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
//! 書き、[`crate::platform::openapi::finish_document`] が [`expand_header_groups`] でそれを
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
use serde_json::{Value, json};
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

/// 目印のパラメーターのスキーマの `title` の接頭辞 (文書の仕上げで本物のヘッダーに置き換えます)。
const GROUP_MARKER: &str = "x-mediahub-headers:";
/// [`ActingUser`] の目印。
const ACTING_USER_GROUP: &str = "acting-user";
/// [`CommandContext`] の目印。
const COMMAND_CONTEXT_GROUP: &str = "command-context";

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

/// 目印のパラメーターのスキーマ。
fn marker(group: &str) -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        title: Some(format!("{GROUP_MARKER}{group}")),
        ..MetaSchema::new("string")
    }))
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
    }

    fn security_schemes() -> Vec<&'static str> {
        <A as ApiExtractor<'static>>::security_schemes()
    }

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(marker(ACTING_USER_GROUP))
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
    }

    fn security_schemes() -> Vec<&'static str> {
        <A as ApiExtractor<'static>>::security_schemes()
    }

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(marker(COMMAND_CONTEXT_GROUP))
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

/// 文書に載せるヘッダーパラメーター 1 つ。
fn header_param(name: &str, description: &str, schema: Value) -> Value {
    json!({
        "name": name,
        "in": "header",
        "description": description,
        "required": false,
        "deprecated": false,
        "explode": true,
        "schema": schema,
    })
}

/// 目印の名前に当たるヘッダーの並び。
fn group_params(group: &str) -> Option<Vec<Value>> {
    let user = header_param(
        USER_ID_HEADER,
        "代理で操作するユーザーの ID (サービス用トークンのときだけ。ユーザー用トークンで送ると 403)。",
        json!({ "type": "string" }),
    );
    match group {
        ACTING_USER_GROUP => Some(vec![user]),
        COMMAND_CONTEXT_GROUP => Some(vec![
            user,
            header_param(
                CORRELATION_ID_HEADER,
                "相関 ID (無ければ新しく作ります)。書いたイベントのメタデータに入ります。",
                json!({ "type": "string", "format": "uuid" }),
            ),
            header_param(
                CAUSATION_ID_HEADER,
                "因果 ID (このコマンドを引き起こしたイベントの ID)。",
                json!({ "type": "string", "format": "uuid" }),
            ),
            header_param(
                IDEMPOTENCY_KEY_HEADER,
                "冪等性キー (イベントのメタデータに記録します)。",
                json!({
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_IDEMPOTENCY_KEY_LEN,
                    "pattern": IDEMPOTENCY_KEY_PATTERN,
                }),
            ),
        ]),
        _ => None,
    }
}

/// 文書の各操作の、[`ActingUser`]・[`CommandContext`] の目印のパラメーターを、それが取り出す
/// 本物のヘッダーパラメーターの並びに置き換えます。
pub fn expand_header_groups(doc: &mut Value) {
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
                    .pointer("/schema/title")
                    .and_then(Value::as_str)
                    .and_then(|title| title.strip_prefix(GROUP_MARKER))
                    .and_then(group_params);
                match group {
                    Some(headers) => expanded.extend(headers),
                    None => expanded.push(param),
                }
            }
            *params = expanded;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_context_marker_expands_to_four_headers_in_order_and_other_params_stay() {
        let mut doc = json!({
            "paths": {"/x": {"post": {"parameters": [
                {"name": "id", "in": "path", "schema": {"type": "string"}},
                {"name": "ctx", "in": "header", "schema": {"type": "string", "title": "x-mediahub-headers:command-context"}},
            ]}}}
        });
        expand_header_groups(&mut doc);
        let names: Vec<&str> = doc["paths"]["/x"]["post"]["parameters"]
            .as_array()
            .map(|params| params.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            names,
            [
                "id",
                "X-User-ID",
                "X-Correlation-ID",
                "X-Causation-ID",
                "Idempotency-Key"
            ]
        );
        assert_eq!(
            doc["paths"]["/x"]["post"]["parameters"][4]["schema"]["maxLength"],
            json!(MAX_IDEMPOTENCY_KEY_LEN)
        );
    }

    #[test]
    fn acting_user_marker_expands_to_x_user_id_and_unknown_marker_is_kept() {
        let mut doc = json!({
            "paths": {"/x": {"get": {"parameters": [
                {"name": "user", "in": "header", "schema": {"type": "string", "title": "x-mediahub-headers:acting-user"}},
                {"name": "other", "in": "header", "schema": {"type": "string", "title": "x-mediahub-headers:nope"}},
            ]}}}
        });
        expand_header_groups(&mut doc);
        let params = &doc["paths"]["/x"]["get"]["parameters"];
        assert_eq!(params[0]["name"], "X-User-ID");
        assert_eq!(params[1]["name"], "other");
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
