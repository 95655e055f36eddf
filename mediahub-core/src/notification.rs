//! 通知集約。
//!
//! | コマンド | イベント | 規則 |
//! |---|---|---|
//! | [`NotificationCommand::Send`] | [`NotificationEvent::NotificationSent`] | 通知 ID は Saga とその目的から決まる ([`NotificationId::for_saga`]) ので、再送しても一通だけ |
//! | [`NotificationCommand::MarkRead`] | [`NotificationEvent::NotificationRead`] | 宛先本人のみ。既読なら何もしない (冪等) |

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, ErrorKind};
use crate::ids::{MediaId, NotificationId, SagaId, UserId};

/// 通知の種類。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// アップロードが最後まで成功した。
    UploadCompleted,
    /// アップロードが失敗し、補償された。
    UploadFailed,
}

/// 通知集約へのコマンド。
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationCommand {
    /// 通知を送る。
    Send {
        /// 通知 ID。
        notification_id: NotificationId,
        /// 宛先ユーザー。
        user_id: UserId,
        /// 種類。
        kind: NotificationKind,
        /// 本文。
        message: String,
        /// 関係するメディア。
        media_id: Option<MediaId>,
        /// 送らせた Saga。
        saga_id: Option<SagaId>,
    },
    /// 既読にする。
    MarkRead {
        /// 要求者 (宛先本人でなければなりません)。
        requested_by: UserId,
    },
}

/// 通知集約のイベント。
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationEvent {
    /// 通知が送られた。
    NotificationSent {
        /// 通知 ID。
        notification_id: NotificationId,
        /// 宛先ユーザー。
        user_id: UserId,
        /// 種類。
        kind: NotificationKind,
        /// 本文。
        message: String,
        /// 関係するメディア。
        media_id: Option<MediaId>,
        /// 送らせた Saga。
        saga_id: Option<SagaId>,
    },
    /// 既読になった。
    NotificationRead,
}

impl DomainEvent for NotificationEvent {
    fn event_type(&self) -> String {
        match self {
            Self::NotificationSent { .. } => "NotificationSent",
            Self::NotificationRead => "NotificationRead",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// 通知集約のエラー。
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    /// 通知が存在しない (他人宛ても含む)。
    #[error("通知が見つかりません")]
    NotFound,
    /// 同じ ID で別の宛先の通知が既にある。
    #[error("同じ ID の通知が別の宛先に既に送られています")]
    AlreadyExists,
    /// 本文が空。
    #[error("通知の本文が空です")]
    EmptyMessage,
}

impl DomainError for NotificationError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "notification.not_found",
            Self::AlreadyExists => "notification.already_exists",
            Self::EmptyMessage => "notification.empty_message",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound => ErrorKind::NotFound,
            Self::AlreadyExists => ErrorKind::Conflict,
            Self::EmptyMessage => ErrorKind::Invalid,
        }
    }
}

/// 通知集約の状態。
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    id: Option<NotificationId>,
    user_id: Option<UserId>,
    read: bool,
}

impl Notification {
    /// 宛先ユーザー (送信前は `None`)。
    #[must_use]
    pub const fn user_id(&self) -> Option<UserId> {
        self.user_id
    }

    /// 既読か。
    #[must_use]
    pub const fn is_read(&self) -> bool {
        self.read
    }

    fn decide(
        &self,
        command: NotificationCommand,
    ) -> Result<Option<NotificationEvent>, NotificationError> {
        match command {
            NotificationCommand::Send {
                notification_id,
                user_id,
                kind,
                message,
                media_id,
                saga_id,
            } => {
                if self.id.is_some() {
                    return if self.user_id == Some(user_id) {
                        Ok(None)
                    } else {
                        Err(NotificationError::AlreadyExists)
                    };
                }
                if message.trim().is_empty() {
                    return Err(NotificationError::EmptyMessage);
                }
                Ok(Some(NotificationEvent::NotificationSent {
                    notification_id,
                    user_id,
                    kind,
                    message,
                    media_id,
                    saga_id,
                }))
            }
            NotificationCommand::MarkRead { requested_by } => {
                if self.id.is_none() || self.user_id != Some(requested_by) {
                    return Err(NotificationError::NotFound);
                }
                if self.read {
                    return Ok(None);
                }
                Ok(Some(NotificationEvent::NotificationRead))
            }
        }
    }
}

impl Aggregate for Notification {
    const TYPE: &'static str = "Notification";
    type Command = NotificationCommand;
    type Event = NotificationEvent;
    type Error = NotificationError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        if let Some(event) = self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            NotificationEvent::NotificationSent {
                notification_id,
                user_id,
                ..
            } => {
                self.id = Some(notification_id);
                self.user_id = Some(user_id);
            }
            NotificationEvent::NotificationRead => self.read = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    fn framework() -> TestFramework<Notification> {
        TestFramework::with(())
    }

    fn send(id: NotificationId, user: UserId) -> NotificationCommand {
        NotificationCommand::Send {
            notification_id: id,
            user_id: user,
            kind: NotificationKind::UploadCompleted,
            message: "cat.jpg のアップロードが完了しました".into(),
            media_id: None,
            saga_id: None,
        }
    }

    fn sent(id: NotificationId, user: UserId) -> NotificationEvent {
        NotificationEvent::NotificationSent {
            notification_id: id,
            user_id: user,
            kind: NotificationKind::UploadCompleted,
            message: "cat.jpg のアップロードが完了しました".into(),
            media_id: None,
            saga_id: None,
        }
    }

    #[test]
    fn send_new_notification_emits_notification_sent() {
        let (id, user) = (NotificationId::new_random(), UserId::new_random());
        framework()
            .given_no_previous_events()
            .when(send(id, user))
            .then_expect_events(vec![sent(id, user)]);
    }

    #[test]
    fn send_same_notification_twice_emits_nothing_the_second_time() {
        let (id, user) = (NotificationId::new_random(), UserId::new_random());
        framework()
            .given(vec![sent(id, user)])
            .when(send(id, user))
            .then_expect_events(vec![]);
    }

    #[test]
    fn send_same_id_to_another_user_is_already_exists() {
        let id = NotificationId::new_random();
        framework()
            .given(vec![sent(id, UserId::new_random())])
            .when(send(id, UserId::new_random()))
            .then_expect_error(NotificationError::AlreadyExists);
    }

    #[test]
    fn send_with_blank_message_is_empty_message() {
        framework()
            .given_no_previous_events()
            .when(NotificationCommand::Send {
                notification_id: NotificationId::new_random(),
                user_id: UserId::new_random(),
                kind: NotificationKind::UploadFailed,
                message: "  ".into(),
                media_id: None,
                saga_id: None,
            })
            .then_expect_error(NotificationError::EmptyMessage);
    }

    #[test]
    fn mark_read_by_recipient_emits_read_then_is_idempotent() {
        let (id, user) = (NotificationId::new_random(), UserId::new_random());
        framework()
            .given(vec![sent(id, user)])
            .when(NotificationCommand::MarkRead { requested_by: user })
            .then_expect_events(vec![NotificationEvent::NotificationRead]);
        framework()
            .given(vec![sent(id, user), NotificationEvent::NotificationRead])
            .when(NotificationCommand::MarkRead { requested_by: user })
            .then_expect_events(vec![]);
    }

    #[test]
    fn mark_read_by_another_user_or_of_unknown_notification_is_not_found() {
        let (id, user) = (NotificationId::new_random(), UserId::new_random());
        framework()
            .given(vec![sent(id, user)])
            .when(NotificationCommand::MarkRead {
                requested_by: UserId::new_random(),
            })
            .then_expect_error(NotificationError::NotFound);
        framework()
            .given_no_previous_events()
            .when(NotificationCommand::MarkRead { requested_by: user })
            .then_expect_error(NotificationError::NotFound);
    }

    #[test]
    fn applying_history_exposes_recipient_and_read_flag_and_catalogue_names() {
        let (id, user) = (NotificationId::new_random(), UserId::new_random());
        let mut n = Notification::default();
        n.apply(sent(id, user));
        assert_eq!(n.user_id(), Some(user));
        assert!(!n.is_read());
        n.apply(NotificationEvent::NotificationRead);
        assert!(n.is_read());
        assert_eq!(sent(id, user).event_type(), "NotificationSent");
        assert_eq!(
            NotificationEvent::NotificationRead.event_type(),
            "NotificationRead"
        );
        assert_eq!(NotificationEvent::NotificationRead.event_version(), "1.0");
        for (e, kind) in [
            (NotificationError::NotFound, ErrorKind::NotFound),
            (NotificationError::AlreadyExists, ErrorKind::Conflict),
            (NotificationError::EmptyMessage, ErrorKind::Invalid),
        ] {
            assert!(e.code().starts_with("notification."));
            assert_eq!(e.kind(), kind);
        }
    }
}
