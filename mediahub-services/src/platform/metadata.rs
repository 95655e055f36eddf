//! 要求のヘッダーから、イベントに付けるメタデータ ([`EventMetadata`]) を作ります。
//!
//! コマンドを受け付けるサービス (media-command・album・notification) が共有します。
//!
//! | ヘッダー | メタデータ |
//! |---|---|
//! | `X-Correlation-ID` (UUID) | `correlation_id`。無ければ新しい時刻順の v7 (1 回の操作の始まり) |
//! | `X-Causation-ID` (UUID) | `causation_id` (この操作を起こしたイベントやコマンド) |
//! | `Idempotency-Key` (情報用) | `extra["idempotency_key"]` (Saga は `"{saga_id}:{step}"` を送ります) |
//! | 誰として操作したか | `user_id` (ユーザーごとのイベントの一覧に載るように) |
//!
//! 冪等性そのものはドメインのコマンドが保証します (同じ依頼を 2 回受けても状態は 1 回しか
//! 変わりません)。`Idempotency-Key` は記録して、ログを読む人が再試行を見分けられるようにするだけです。

use mediahub_core::envelope::EventMetadata;
use mediahub_core::ids::{CorrelationId, UserId};
use poem_openapi::registry::MetaSchema;
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult};
use uuid::Uuid;

use super::problem::Problem;
use super::schema::inline_schema_type;

/// `Idempotency-Key` を残すメタデータのキー。
pub const IDEMPOTENCY_KEY_METADATA_KEY: &str = "idempotency_key";
/// `Idempotency-Key` の最大の文字数。
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;
/// `Idempotency-Key` に使える文字 (表示できる ASCII と空白) の正規表現 (OpenAPI 文書の `pattern`)。
pub const IDEMPOTENCY_KEY_PATTERN: &str = r"^[\x20-\x7E]+$";
/// `Idempotency-Key` が不正なときの problem の `code`。
pub const INVALID_IDEMPOTENCY_KEY: &str = "request.invalid_idempotency_key";

/// ヘッダーからメタデータを作れないときのエラー。
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// `Idempotency-Key` が空・長すぎる・表示できる ASCII 以外を含む。
    #[error(
        "Idempotency-Key は 1〜{MAX_IDEMPOTENCY_KEY_LEN} 文字の、表示できる ASCII (空白を含む) にしてください"
    )]
    InvalidIdempotencyKey,
}

impl From<MetadataError> for Problem {
    fn from(err: MetadataError) -> Self {
        Self::bad_request(INVALID_IDEMPOTENCY_KEY, err.to_string())
    }
}

/// 検査済みの値からイベントのメタデータを作ります (相関 ID が無ければ新しく作ります)。
#[must_use]
pub fn metadata_for(
    correlation_id: Option<Uuid>,
    causation_id: Option<Uuid>,
    idempotency_key: Option<&IdempotencyKey>,
    user: Option<UserId>,
) -> EventMetadata {
    let correlation =
        correlation_id.map_or_else(CorrelationId::new_time_ordered, CorrelationId::from);
    let mut metadata = EventMetadata::correlated(correlation);
    metadata.causation_id = causation_id;
    metadata.user_id = user;
    if let Some(key) = idempotency_key {
        metadata.extra.insert(
            IDEMPOTENCY_KEY_METADATA_KEY.to_owned(),
            key.as_str().to_owned(),
        );
    }
    metadata
}

/// 要求のヘッダーの値からイベントのメタデータを作ります。
///
/// ```
/// use mediahub_core::ids::UserId;
/// use mediahub_services::platform::metadata::request_metadata;
///
/// let user = UserId::new_random();
/// let metadata = request_metadata(None, None, Some("saga:process_media".into()), Some(user))?;
/// assert!(metadata.correlation_id.is_some());
/// assert_eq!(metadata.user_id, Some(user));
/// assert_eq!(metadata.extra["idempotency_key"], "saga:process_media");
/// # Ok::<(), mediahub_services::platform::metadata::MetadataError>(())
/// ```
///
/// # エラー
/// `Idempotency-Key` が空・[`MAX_IDEMPOTENCY_KEY_LEN`] バイト超・制御文字を含むなら
/// [`MetadataError::InvalidIdempotencyKey`] (HTTP では 400)。
pub fn request_metadata(
    correlation_id: Option<Uuid>,
    causation_id: Option<Uuid>,
    idempotency_key: Option<String>,
    user: Option<UserId>,
) -> Result<EventMetadata, MetadataError> {
    let key = idempotency_key
        .map(|key| {
            check_idempotency_key(&key)?;
            Ok(IdempotencyKey(key))
        })
        .transpose()?;
    Ok(metadata_for(
        correlation_id,
        causation_id,
        key.as_ref(),
        user,
    ))
}

/// `Idempotency-Key` の規則 (1〜[`MAX_IDEMPOTENCY_KEY_LEN`] 文字、[`IDEMPOTENCY_KEY_PATTERN`])。
///
/// # エラー
/// 規則に合わなければ [`MetadataError::InvalidIdempotencyKey`]。
pub fn check_idempotency_key(key: &str) -> Result<(), MetadataError> {
    let printable = key.bytes().all(|b| (0x20..=0x7E).contains(&b));
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN || !printable {
        return Err(MetadataError::InvalidIdempotencyKey);
    }
    Ok(())
}

/// 要求の `Idempotency-Key` ヘッダー。読むときに [`check_idempotency_key`] の規則を確かめ、
/// 文書にも同じ規則 (`minLength`・`maxLength`・`pattern`) を載せます。
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// 中の文字列。
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 中の文字列を取り出します。
    #[must_use]
    pub fn into_inner(self) -> String {
        self.0
    }
}

inline_schema_type!(
    IdempotencyKey,
    "string",
    MetaSchema {
        min_length: Some(1),
        max_length: Some(MAX_IDEMPOTENCY_KEY_LEN),
        pattern: Some(IDEMPOTENCY_KEY_PATTERN.to_owned()),
        ..MetaSchema::new("string")
    }
);

impl ParseFromParameter for IdempotencyKey {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        check_idempotency_key(value).map_err(ParseError::custom)?;
        Ok(Self(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_correlation_and_causation_are_kept_and_absent_correlation_is_new_time_ordered() {
        let correlation = Uuid::new_v4();
        let cause = Uuid::new_v4();
        let kept = request_metadata(Some(correlation), Some(cause), None, None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(kept.correlation_id.map(|c| c.as_uuid()), Some(correlation));
        assert_eq!(kept.causation_id, Some(cause));
        let generated = request_metadata(None, None, None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            generated
                .correlation_id
                .map(|c| c.as_uuid().get_version_num()),
            Some(7)
        );
        assert_eq!(generated.causation_id, None);
    }

    #[test]
    fn empty_too_long_or_control_character_idempotency_key_is_rejected_as_400() {
        for bad in [
            String::new(),
            "k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1),
            "a\nb".to_owned(),
        ] {
            let err = request_metadata(None, None, Some(bad), None).err();
            assert_eq!(err, Some(MetadataError::InvalidIdempotencyKey));
        }
        let problem = Problem::from(MetadataError::InvalidIdempotencyKey);
        assert_eq!(problem.status().as_u16(), 400);
        assert_eq!(problem.code(), INVALID_IDEMPOTENCY_KEY);
    }
}
