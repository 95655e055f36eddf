//! 参加者 (media-command・album・notification) の内部 API を HTTP で呼ぶ部分。
//!
//! [`SagaAction`] を契約どおりの要求に写し、サービス用トークン (`saga`)・`Idempotency-Key`・
//! `X-Correlation-ID`・`X-Causation-ID` を付けて送ります。応答は次のように分類します。
//!
//! | 応答 | 扱い |
//! |---|---|
//! | 2xx | 受け付けられた。成否は結果のドメインイベントがログに届くことで分かる |
//! | 接続できない・切れた | 一時的な失敗 (再試行する) |
//! | 5xx・408・429 | 一時的な失敗 (再試行する) |
//! | 409 `conflict` (参加者の集約が別インスタンスに更新され続けた) | 一時的な失敗 (再試行する) |
//! | そのほかの 4xx | 恒久的な失敗 (再試行しない) |

use crate::album::view::DefaultAlbumMediaBody;
use crate::media_command::view::{DeleteUploadedFileRequest, InvalidateRequest, ProcessRequest};
use crate::notification::view::{ApiNotificationKind, SendNotificationBody};
use std::time::Duration;

use mediahub_core::ids::{CorrelationId, EventId, UserId};
use mediahub_core::saga::{ActionCommand, SagaAction};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::platform::auth::USER_ID_HEADER;
use crate::platform::http_client;
use crate::store_client::{ServiceTokenProvider, TokenProvider};

/// 参加者の呼び出し口を作れなかったときのエラー。
#[derive(Debug, thiserror::Error)]
pub enum ParticipantsError {
    /// URL が不正。
    #[error("{name} の URL が不正です: {url}")]
    InvalidUrl {
        /// 設定項目の名前。
        name: &'static str,
        /// 渡された値。
        url: String,
    },
    /// HTTP クライアントを作れなかった。
    #[error("HTTP クライアントを作れません: {0}")]
    Http(#[from] reqwest::Error),
}

/// 参加者への依頼 1 回の失敗。
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFailure {
    /// 理由 (タイムラインに残ります)。
    pub reason: String,
    /// 再試行に意味があるか。
    pub retriable: bool,
}

/// 依頼に付ける追跡情報。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionContext {
    /// 相関 ID (Saga を始めたアップロードのもの)。
    pub correlation_id: Option<CorrelationId>,
    /// 因果 ID (この試行を始めた `SagaStepStarted` イベントの ID)。
    pub causation_id: Option<EventId>,
    /// album に待ってもらう位置 (このステップのきっかけになったドメインイベントの位置)。
    pub min_position: u64,
    /// 誰のための行動か (メディアの所有者)。`X-User-ID` で送り、参加者が書くイベントの
    /// `metadata.user_id` になります (ユーザーごとのイベントの一覧に載るように)。
    pub acting_user: Option<UserId>,
}

/// 参加者の呼び出し口。
#[derive(Debug, Clone)]
pub struct Participants {
    http: reqwest::Client,
    tokens: ServiceTokenProvider,
    media_command: String,
    album: String,
    notification: String,
}

fn base(name: &'static str, url: &str) -> Result<String, ParticipantsError> {
    let invalid = || ParticipantsError::InvalidUrl {
        name,
        url: url.to_owned(),
    };
    let parsed = Url::parse(url).map_err(|_| invalid())?;
    if parsed.cannot_be_a_base() || !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid());
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// 失敗の応答本体 (problem+json) から短い説明を作ります。
fn problem_summary(body: &str) -> String {
    let Ok(problem) = serde_json::from_str::<Value>(body) else {
        return body.chars().take(200).collect();
    };
    let detail = problem["detail"].as_str().unwrap_or("-");
    match problem["code"].as_str() {
        Some(code) => format!("{detail} ({code})"),
        None => detail.to_owned(),
    }
}

/// 状態コードが一時的な失敗を表すか。
#[must_use]
pub fn is_retriable_status(status: StatusCode) -> bool {
    !status.is_client_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// 応答の本体が、期限まで続いた版の衝突 (`conflict`) の problem か。業務ルールの拒否ではなく
/// 混み合いなので、Saga は再試行します。
fn is_conflict_problem(body: &str) -> bool {
    serde_json::from_str::<Value>(body)
        .is_ok_and(|problem| problem["code"] == crate::platform::problem::codes::CONFLICT)
}

impl Participants {
    /// 参加者のベース URL とトークンのプロバイダから作ります。
    ///
    /// # エラー
    /// URL が `http`/`https` の URL でなければ [`ParticipantsError::InvalidUrl`]。
    pub fn new(
        tokens: ServiceTokenProvider,
        media_command: &str,
        album: &str,
        notification: &str,
    ) -> Result<Self, ParticipantsError> {
        let media_command = base("MEDIA_COMMAND_URL", media_command)?;
        let album = base("ALBUM_URL", album)?;
        let notification = base("NOTIFICATION_URL", notification)?;
        Ok(Self {
            http: http_client::builder()
                .connect_timeout(Duration::from_secs(2))
                .build()?,
            tokens,
            media_command,
            album,
            notification,
        })
    }

    /// 行動を送る先の URL と本体。本体の型は受け手のサービスの型そのものです (一つの契約)。
    fn request_of(&self, action: &SagaAction, context: &ActionContext) -> (String, Value) {
        match &action.command {
            ActionCommand::ProcessMedia {
                media_id,
                inject_fault,
            } => (
                format!(
                    "{}/internal/v1/media/{media_id}/process",
                    self.media_command
                ),
                to_body(&ProcessRequest {
                    inject_fault: *inject_fault,
                }),
            ),
            ActionCommand::AddToDefaultAlbum {
                media_id,
                owner_id,
                inject_fault,
            } => (
                format!("{}/internal/v1/default-album/media", self.album),
                to_body(&DefaultAlbumMediaBody {
                    owner_id: owner_id.as_uuid(),
                    media_id: media_id.as_uuid(),
                    min_position: Some(context.min_position),
                    inject_fault: *inject_fault,
                }),
            ),
            ActionCommand::Notify {
                notification_id,
                user_id,
                kind,
                message,
                media_id,
                inject_fault,
            } => (
                format!("{}/internal/v1/notifications", self.notification),
                to_body(&SendNotificationBody {
                    notification_id: notification_id.as_uuid(),
                    user_id: user_id.as_uuid(),
                    kind: ApiNotificationKind::from(*kind),
                    message: message.clone(),
                    media_id: Some(media_id.as_uuid()),
                    saga_id: Some(action.saga_id.as_uuid()),
                    inject_fault: *inject_fault,
                }),
            ),
            ActionCommand::DeleteUploadedFile { media_id } => (
                format!(
                    "{}/internal/v1/media/{media_id}/delete-uploaded-file",
                    self.media_command
                ),
                to_body(&DeleteUploadedFileRequest {}),
            ),
            ActionCommand::InvalidateMedia { media_id, reason } => (
                format!(
                    "{}/internal/v1/media/{media_id}/invalidate",
                    self.media_command
                ),
                to_body(&InvalidateRequest {
                    reason: reason.clone(),
                }),
            ),
        }
    }

    /// 行動を 1 回送ります。2xx なら `Ok(())` (受け付けられた)。時間制限は呼び出し側が掛けます。
    ///
    /// # エラー
    /// 送れなかった・成功以外の応答なら [`AttemptFailure`] (再試行の可否つき)。
    pub async fn send(
        &self,
        action: &SagaAction,
        context: &ActionContext,
    ) -> Result<(), AttemptFailure> {
        let (url, body) = self.request_of(action, context);
        let token = self.tokens.bearer_token().map_err(|e| AttemptFailure {
            reason: e.to_string(),
            retriable: true,
        })?;
        let mut request = self
            .http
            .post(&url)
            .bearer_auth(token)
            .header("Idempotency-Key", action.idempotency_key())
            .json(&body);
        if let Some(correlation_id) = context.correlation_id {
            request = request.header("X-Correlation-ID", correlation_id.to_string());
        }
        if let Some(causation_id) = context.causation_id {
            request = request.header("X-Causation-ID", causation_id.to_string());
        }
        if let Some(user) = context.acting_user {
            request = request.header(USER_ID_HEADER, user.to_string());
        }
        let response = request.send().await.map_err(|e| AttemptFailure {
            reason: format!("{url} を呼べません: {}", describe(&e)),
            retriable: true,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(AttemptFailure {
            reason: format!("{url} が {status} を返しました: {}", problem_summary(&body)),
            retriable: is_retriable_status(status) || is_conflict_problem(&body),
        })
    }
}

/// 受け手の本体の型を JSON にします (これらの型は必ず JSON にできます。できなければ空の値)。
fn to_body<T: serde::Serialize>(body: &T) -> Value {
    serde_json::to_value(body).unwrap_or_else(|err| {
        tracing::error!(%err, "参加者への本体を JSON にできません");
        Value::Null
    })
}

#[cfg(test)]
mod tests {
    use mediahub_core::ids::{MediaId, NotificationId, SagaId, UserId};
    use mediahub_core::notification::NotificationKind;
    use mediahub_core::saga::SagaStep;

    use super::*;
    use crate::platform::auth::JwtKeys;
    use serde_json::json;

    fn participants() -> Participants {
        let keys = JwtKeys::from_secret(b"participants-test-secret-0123456789")
            .unwrap_or_else(|e| panic!("{e}"));
        Participants::new(
            ServiceTokenProvider::new(keys, "saga"),
            "http://media:8081/",
            "http://album:8083",
            "http://notification:8086",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn action(command: ActionCommand) -> SagaAction {
        SagaAction {
            saga_id: SagaId::new_random(),
            step: SagaStep::ProcessMedia,
            attempt: 1,
            delay: Duration::ZERO,
            deadline: Duration::from_secs(1),
            command,
        }
    }

    #[test]
    fn non_http_or_unparsable_participant_url_is_rejected_with_its_setting_name() {
        let keys = JwtKeys::from_secret(b"participants-test-secret-0123456789")
            .unwrap_or_else(|e| panic!("{e}"));
        let err = Participants::new(
            ServiceTokenProvider::new(keys, "saga"),
            "http://ok",
            "ftp://album",
            "http://ok",
        )
        .err();
        assert!(matches!(
            err,
            Some(ParticipantsError::InvalidUrl {
                name: "ALBUM_URL",
                ..
            })
        ));
    }

    #[test]
    fn every_action_maps_to_its_contract_path_and_body() {
        let p = participants();
        let media_id = MediaId::new_random();
        let owner = UserId::new_random();
        let context = ActionContext {
            correlation_id: None,
            causation_id: None,
            min_position: 7,
            acting_user: None,
        };
        let (url, body) = p.request_of(
            &action(ActionCommand::ProcessMedia {
                media_id,
                inject_fault: true,
            }),
            &context,
        );
        assert_eq!(
            url,
            format!("http://media:8081/internal/v1/media/{media_id}/process")
        );
        assert_eq!(body, json!({"inject_fault": true}));
        let (url, body) = p.request_of(
            &action(ActionCommand::AddToDefaultAlbum {
                media_id,
                owner_id: owner,
                inject_fault: false,
            }),
            &context,
        );
        assert_eq!(url, "http://album:8083/internal/v1/default-album/media");
        assert_eq!(body["min_position"], 7);
        assert_eq!(body["owner_id"], owner.to_string());
        let notify = action(ActionCommand::Notify {
            notification_id: NotificationId::new_random(),
            user_id: owner,
            kind: NotificationKind::UploadFailed,
            message: "m".into(),
            media_id,
            inject_fault: false,
        });
        let (url, body) = p.request_of(&notify, &context);
        assert_eq!(url, "http://notification:8086/internal/v1/notifications");
        assert_eq!(body["kind"], "upload_failed");
        assert_eq!(body["saga_id"], notify.saga_id.to_string());
        let (url, body) = p.request_of(
            &action(ActionCommand::DeleteUploadedFile { media_id }),
            &context,
        );
        assert!(url.ends_with(&format!("/media/{media_id}/delete-uploaded-file")));
        assert_eq!(body, json!({}));
        let (url, body) = p.request_of(
            &action(ActionCommand::InvalidateMedia {
                media_id,
                reason: "r".into(),
            }),
            &context,
        );
        assert!(url.ends_with(&format!("/media/{media_id}/invalidate")));
        assert_eq!(body, json!({"reason": "r"}));
    }

    #[test]
    fn conflict_problem_is_retriable_but_other_409_problems_are_not() {
        assert!(is_conflict_problem(r#"{"status":409,"code":"conflict"}"#));
        assert!(!is_conflict_problem(
            r#"{"status":409,"code":"album.default_not_deletable"}"#
        ));
        assert!(!is_conflict_problem("not json"));
    }

    #[test]
    fn server_errors_timeouts_and_throttling_are_retriable_other_client_errors_are_not() {
        for code in [500, 502, 503, 504, 408, 429] {
            let status = StatusCode::from_u16(code).unwrap_or_else(|e| panic!("{e}"));
            assert!(is_retriable_status(status), "{code}");
        }
        for code in [400, 401, 403, 404, 409, 422] {
            let status = StatusCode::from_u16(code).unwrap_or_else(|e| panic!("{e}"));
            assert!(!is_retriable_status(status), "{code}");
        }
    }

    #[test]
    fn problem_body_is_summarized_by_detail_and_code_and_plain_text_is_truncated() {
        assert_eq!(
            problem_summary(r#"{"detail":"fault","code":"fault.injected"}"#),
            "fault (fault.injected)"
        );
        assert_eq!(problem_summary(&"x".repeat(500)).len(), 200);
    }
}
