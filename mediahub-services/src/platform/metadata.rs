//! 要求のヘッダーから、イベントに付けるメタデータ ([`EventMetadata`]) を作ります。
//!
//! コマンドを受け付けるサービス (media-command・album・notification) が共有します。
//!
//! | ヘッダー | メタデータ |
//! |---|---|
//! | `X-Correlation-ID` (UUID) | `correlation_id`。無ければ新しい v4 (1 回の操作の始まり) |
//! | `X-Causation-ID` (UUID) | `causation_id` (この操作を起こしたイベントやコマンド) |
//! | `Idempotency-Key` (情報用) | `extra["idempotency_key"]` (Saga は `"{saga_id}:{step}"` を送ります) |
//! | 誰として操作したか | `user_id` (ユーザーごとのイベントの一覧に載るように) |
//!
//! 冪等性そのものはドメインのコマンドが保証します (同じ依頼を 2 回受けても状態は 1 回しか
//! 変わりません)。`Idempotency-Key` は記録して、ログを読む人が再試行を見分けられるようにするだけです。

use mediahub_core::envelope::EventMetadata;
use mediahub_core::ids::{CorrelationId, UserId};
use uuid::Uuid;

use super::problem::Problem;

/// `Idempotency-Key` を残すメタデータのキー。
pub const IDEMPOTENCY_KEY_METADATA_KEY: &str = "idempotency_key";
/// `Idempotency-Key` の最大のバイト数。
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;
/// `Idempotency-Key` が不正なときの problem の `code`。
pub const INVALID_IDEMPOTENCY_KEY: &str = "request.invalid_idempotency_key";

/// ヘッダーからメタデータを作れないときのエラー。
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// `Idempotency-Key` が空・長すぎる・制御文字を含む。
    #[error(
        "Idempotency-Key は 1〜{MAX_IDEMPOTENCY_KEY_LEN} バイトの、制御文字を含まない値にしてください"
    )]
    InvalidIdempotencyKey,
}

impl From<MetadataError> for Problem {
    fn from(err: MetadataError) -> Self {
        Self::bad_request(INVALID_IDEMPOTENCY_KEY, err.to_string())
    }
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
    let correlation = correlation_id.map_or_else(CorrelationId::new_random, CorrelationId::from);
    let mut metadata = EventMetadata::correlated(correlation);
    metadata.causation_id = causation_id;
    metadata.user_id = user;
    if let Some(key) = idempotency_key {
        if key.is_empty()
            || key.chars().count() > MAX_IDEMPOTENCY_KEY_LEN
            || key.chars().any(char::is_control)
        {
            return Err(MetadataError::InvalidIdempotencyKey);
        }
        metadata
            .extra
            .insert(IDEMPOTENCY_KEY_METADATA_KEY.to_owned(), key);
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_correlation_and_causation_are_kept_and_absent_correlation_is_generated() {
        let correlation = Uuid::new_v4();
        let cause = Uuid::new_v4();
        let kept = request_metadata(Some(correlation), Some(cause), None, None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(kept.correlation_id.map(|c| c.as_uuid()), Some(correlation));
        assert_eq!(kept.causation_id, Some(cause));
        let generated = request_metadata(None, None, None, None).unwrap_or_else(|e| panic!("{e}"));
        assert!(generated.correlation_id.is_some());
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
