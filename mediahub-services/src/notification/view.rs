//! 通知の読みモデルの形 ([`NotificationView`]) と、通知の種類の API 表現。

use chrono::{DateTime, Utc};
use mediahub_core::notification::NotificationKind;
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// 通知の種類 (API と読みモデルでの表現)。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename = "NotificationKind", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ApiNotificationKind {
    /// アップロードが最後まで成功した。
    UploadCompleted,
    /// アップロードが失敗し、補償された。
    UploadFailed,
}

impl ApiNotificationKind {
    /// 読みモデルに保存する文字列 (`upload_completed` / `upload_failed`)。
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UploadCompleted => "upload_completed",
            Self::UploadFailed => "upload_failed",
        }
    }

    /// 保存された文字列から読みます (知らない値なら `None`)。
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "upload_completed" => Some(Self::UploadCompleted),
            "upload_failed" => Some(Self::UploadFailed),
            _ => None,
        }
    }
}

impl From<NotificationKind> for ApiNotificationKind {
    fn from(kind: NotificationKind) -> Self {
        match kind {
            NotificationKind::UploadCompleted => Self::UploadCompleted,
            NotificationKind::UploadFailed => Self::UploadFailed,
        }
    }
}

impl From<ApiNotificationKind> for NotificationKind {
    fn from(kind: ApiNotificationKind) -> Self {
        match kind {
            ApiNotificationKind::UploadCompleted => Self::UploadCompleted,
            ApiNotificationKind::UploadFailed => Self::UploadFailed,
        }
    }
}

/// 通知 1 件 (読みモデル)。
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct NotificationView {
    /// 通知 ID。
    pub id: Uuid,
    /// 宛先ユーザー。
    pub user_id: Uuid,
    /// 種類。
    pub kind: ApiNotificationKind,
    /// 本文。
    pub message: String,
    /// 関係するメディア。
    #[oai(nullable)]
    pub media_id: Option<Uuid>,
    /// 送らせた Saga。
    #[oai(nullable)]
    pub saga_id: Option<Uuid>,
    /// 既読か。
    pub read: bool,
    /// 送られた時刻 (`NotificationSent` の保存時刻)。
    pub created_at: DateTime<Utc>,
    /// 既読になった時刻 (`NotificationRead` の保存時刻)。
    #[oai(nullable)]
    pub read_at: Option<DateTime<Utc>>,
    /// `NotificationSent` のグローバル位置 (並び順と SSE の `id:`。既読にしても変わりません)。
    pub position: u64,
}

/// 通知を送る要求の本体。
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
#[oai(deny_unknown_fields)]
pub struct SendNotificationBody {
    /// 通知 ID (Saga は `NotificationId::for_saga(saga_id, 目的)` で決めます)。
    pub notification_id: Uuid,
    /// 宛先ユーザー。
    pub user_id: Uuid,
    /// 種類。
    pub kind: ApiNotificationKind,
    /// 本文 (空白だけは不可)。
    pub message: String,
    /// 関係するメディア。
    #[oai(nullable)]
    pub media_id: Option<Uuid>,
    /// 送らせた Saga。
    #[oai(nullable)]
    pub saga_id: Option<Uuid>,
    /// `true` なら何も書かずに 503 `fault.injected` で失敗します (開発用の障害注入)。
    #[oai(default)]
    pub inject_fault: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_round_trips_through_core_kind_and_stored_string() {
        for kind in [
            NotificationKind::UploadCompleted,
            NotificationKind::UploadFailed,
        ] {
            let api = ApiNotificationKind::from(kind);
            assert_eq!(NotificationKind::from(api), kind);
            assert_eq!(ApiNotificationKind::parse(api.as_str()), Some(api));
        }
        assert_eq!(ApiNotificationKind::parse("other"), None);
    }
}
