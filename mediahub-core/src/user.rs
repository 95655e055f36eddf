//! ユーザー集約。
//!
//! | コマンド | イベント | 規則 |
//! |---|---|---|
//! | [`UserCommand::Register`] | [`UserEvent::UserRegistered`] | 初回ログインで一度だけ。ユーザー ID はプロバイダと利用者から決まる ([`UserId::for_identity`]) ので、二回目以降のログインは何も起こさない (冪等) |

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, ErrorKind};
use crate::ids::UserId;

/// ユーザー集約へのコマンド。
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCommand {
    /// 初回ログインを記録する。
    Register {
        /// ユーザー ID。
        user_id: UserId,
        /// ID プロバイダ (`github`, `google`, `dev`)。
        provider: String,
        /// プロバイダ上の利用者 ID。
        provider_user_id: String,
        /// メールアドレス (検証済みのもののみ)。
        email: Option<String>,
        /// 表示名。
        display_name: String,
    },
}

/// ユーザー集約のイベント。
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserEvent {
    /// 初回ログインした。
    UserRegistered {
        /// ユーザー ID。
        user_id: UserId,
        /// ID プロバイダ。
        provider: String,
        /// プロバイダ上の利用者 ID。
        provider_user_id: String,
        /// メールアドレス。
        email: Option<String>,
        /// 表示名。
        display_name: String,
    },
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> String {
        match self {
            Self::UserRegistered { .. } => "UserRegistered".to_owned(),
        }
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// ユーザー集約のエラー。
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// プロバイダ名または利用者 ID が空。
    #[error("プロバイダと利用者 ID は必須です")]
    MissingIdentity,
    /// 同じユーザー ID に別の ID が結び付いている。
    #[error("このユーザー ID は別の ID に結び付いています")]
    IdentityMismatch,
}

impl DomainError for UserError {
    fn code(&self) -> &'static str {
        match self {
            Self::MissingIdentity => "user.missing_identity",
            Self::IdentityMismatch => "user.identity_mismatch",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::MissingIdentity => ErrorKind::Invalid,
            Self::IdentityMismatch => ErrorKind::Conflict,
        }
    }
}

/// ユーザー集約の状態。
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    id: Option<UserId>,
    provider: String,
    provider_user_id: String,
    email: Option<String>,
    display_name: String,
}

impl User {
    /// 登録済みか。
    #[must_use]
    pub const fn is_registered(&self) -> bool {
        self.id.is_some()
    }

    /// ユーザー ID。
    #[must_use]
    pub const fn id(&self) -> Option<UserId> {
        self.id
    }

    /// ID プロバイダ。
    #[must_use]
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// メールアドレス。
    #[must_use]
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// 表示名。
    #[must_use]
    pub fn display_name(&self) -> &str {
        &self.display_name
    }
}

impl Aggregate for User {
    const TYPE: &'static str = "User";
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let UserCommand::Register {
            user_id,
            provider,
            provider_user_id,
            email,
            display_name,
        } = command;
        if provider.trim().is_empty() || provider_user_id.trim().is_empty() {
            return Err(UserError::MissingIdentity);
        }
        if self.is_registered() {
            return if self.provider == provider && self.provider_user_id == provider_user_id {
                Ok(())
            } else {
                Err(UserError::IdentityMismatch)
            };
        }
        let display_name = match display_name.trim() {
            "" => provider_user_id.clone(),
            name => name.to_owned(),
        };
        let event = UserEvent::UserRegistered {
            user_id,
            provider,
            provider_user_id,
            email,
            display_name,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        let UserEvent::UserRegistered {
            user_id,
            provider,
            provider_user_id,
            email,
            display_name,
        } = event;
        self.id = Some(user_id);
        self.provider = provider;
        self.provider_user_id = provider_user_id;
        self.email = email;
        self.display_name = display_name;
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    fn register(name: &str) -> (UserCommand, UserEvent) {
        let user_id = UserId::for_identity("github", "42");
        (
            UserCommand::Register {
                user_id,
                provider: "github".into(),
                provider_user_id: "42".into(),
                email: Some("alice@example.com".into()),
                display_name: name.into(),
            },
            UserEvent::UserRegistered {
                user_id,
                provider: "github".into(),
                provider_user_id: "42".into(),
                email: Some("alice@example.com".into()),
                display_name: if name.trim().is_empty() {
                    "42".into()
                } else {
                    name.into()
                },
            },
        )
    }

    #[test]
    fn register_first_login_emits_user_registered() {
        let (command, event) = register("Alice");
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(command)
            .then_expect_events(vec![event]);
    }

    #[test]
    fn register_second_login_emits_nothing() {
        let (command, event) = register("Alice");
        TestFramework::<User>::with(())
            .given(vec![event])
            .when(command)
            .then_expect_events(vec![]);
    }

    #[test]
    fn register_with_blank_display_name_uses_provider_user_id() {
        let (command, event) = register(" ");
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(command)
            .then_expect_events(vec![event]);
    }

    #[test]
    fn register_with_blank_provider_is_missing_identity() {
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(UserCommand::Register {
                user_id: UserId::new_random(),
                provider: " ".into(),
                provider_user_id: "1".into(),
                email: None,
                display_name: "x".into(),
            })
            .then_expect_error(UserError::MissingIdentity);
    }

    #[test]
    fn register_other_identity_on_registered_id_is_identity_mismatch() {
        let (_, event) = register("Alice");
        TestFramework::<User>::with(())
            .given(vec![event])
            .when(UserCommand::Register {
                user_id: UserId::for_identity("github", "42"),
                provider: "google".into(),
                provider_user_id: "7".into(),
                email: None,
                display_name: "x".into(),
            })
            .then_expect_error(UserError::IdentityMismatch);
    }

    #[test]
    fn applying_registration_exposes_profile() {
        let (_, event) = register("Alice");
        let mut user = User::default();
        assert!(!user.is_registered());
        user.apply(event.clone());
        assert!(user.is_registered());
        assert_eq!(user.id(), Some(UserId::for_identity("github", "42")));
        assert_eq!(user.provider(), "github");
        assert_eq!(user.email(), Some("alice@example.com"));
        assert_eq!(user.display_name(), "Alice");
        assert_eq!(event.event_type(), "UserRegistered");
        assert_eq!(event.event_version(), "1.0");
        assert_eq!(UserError::MissingIdentity.kind(), ErrorKind::Invalid);
        assert_eq!(UserError::IdentityMismatch.code(), "user.identity_mismatch");
    }
}
