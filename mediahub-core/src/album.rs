//! アルバム集約。
//!
//! | コマンド | イベント | 規則 |
//! |---|---|---|
//! | [`AlbumCommand::Create`] | [`AlbumEvent::AlbumCreated`] | 名前は 1〜100 文字。デフォルトアルバムの ID はユーザーから決まる ([`AlbumId::default_for`]) ので一人一つ。同じ内容の再作成は冪等 |
//! | [`AlbumCommand::Rename`] | [`AlbumEvent::AlbumRenamed`] | 所有者のみ。同じ名前なら何もしない。改名してもデフォルトのまま |
//! | [`AlbumCommand::Delete`] | [`AlbumEvent::AlbumDeleted`] | 所有者のみ。デフォルトアルバムは削除できない |
//! | [`AlbumCommand::AddMedia`] | [`AlbumEvent::MediaAddedToAlbum`] | 所有者のみ、自分のメディアのみ。既に入っていれば何もしない (冪等) |
//! | [`AlbumCommand::RemoveMedia`] | [`AlbumEvent::MediaRemovedFromAlbum`] | 利用者による削除は所有者のみ。メディア削除に伴う削除は冪等 |

use std::collections::BTreeSet;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, ErrorKind};
use crate::ids::{AlbumId, MediaId, UserId};

/// アルバム名の最大文字数。
pub const MAX_ALBUM_NAME_CHARS: usize = 100;

/// デフォルトアルバムの既定の名前。
pub const DEFAULT_ALBUM_NAME: &str = "すべてのメディア";

/// アルバムからメディアを外す理由。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// 所有者が外した。
    User,
    /// メディアが削除または無効化された。
    MediaDeleted,
}

/// アルバム集約へのコマンド。
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlbumCommand {
    /// アルバムを作る。
    Create {
        /// アルバム ID (デフォルトアルバムなら [`AlbumId::default_for`] の値)。
        album_id: AlbumId,
        /// 所有者。
        owner_id: UserId,
        /// 名前。
        name: String,
        /// デフォルトアルバムか。
        is_default: bool,
    },
    /// 改名する。
    Rename {
        /// 要求者。
        requested_by: UserId,
        /// 新しい名前。
        name: String,
    },
    /// 削除する。
    Delete {
        /// 要求者。
        requested_by: UserId,
    },
    /// メディアを加える。
    AddMedia {
        /// 要求者。
        requested_by: UserId,
        /// 加えるメディア。
        media_id: MediaId,
        /// そのメディアの所有者 (アルバムサービスが自前の射影で調べた値。不明なら `None`)。
        media_owner: Option<UserId>,
    },
    /// メディアを外す。
    RemoveMedia {
        /// 要求者。
        requested_by: UserId,
        /// 外すメディア。
        media_id: MediaId,
        /// 理由。
        reason: RemovalReason,
    },
}

/// アルバム集約のイベント。
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlbumEvent {
    /// アルバムが作られた。
    AlbumCreated {
        /// アルバム ID。
        album_id: AlbumId,
        /// 所有者。
        owner_id: UserId,
        /// 名前。
        name: String,
        /// デフォルトアルバムか。
        is_default: bool,
    },
    /// 改名された。
    AlbumRenamed {
        /// 新しい名前。
        name: String,
    },
    /// 削除された。
    AlbumDeleted,
    /// メディアが加えられた。
    MediaAddedToAlbum {
        /// メディア ID。
        media_id: MediaId,
    },
    /// メディアが外された。
    MediaRemovedFromAlbum {
        /// メディア ID。
        media_id: MediaId,
        /// 理由。
        reason: RemovalReason,
    },
}

impl DomainEvent for AlbumEvent {
    fn event_type(&self) -> String {
        match self {
            Self::AlbumCreated { .. } => "AlbumCreated",
            Self::AlbumRenamed { .. } => "AlbumRenamed",
            Self::AlbumDeleted => "AlbumDeleted",
            Self::MediaAddedToAlbum { .. } => "MediaAddedToAlbum",
            Self::MediaRemovedFromAlbum { .. } => "MediaRemovedFromAlbum",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// アルバム集約のエラー。
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlbumError {
    /// アルバムが存在しない (他人のアルバムや削除済みも含む)。
    #[error("アルバムが見つかりません")]
    NotFound,
    /// 同じ ID で別の内容のアルバムが既にある。
    #[error("同じ ID のアルバムが既に存在します")]
    AlreadyExists,
    /// 名前が空か長すぎる。
    #[error("アルバム名は 1〜{MAX_ALBUM_NAME_CHARS} 文字でなければなりません")]
    InvalidName,
    /// デフォルトアルバムは削除できない。
    #[error("デフォルトアルバムは削除できません")]
    CannotDeleteDefault,
    /// メディアが存在しないか、アルバムの所有者のものではない。
    #[error("メディアが見つかりません")]
    MediaNotFound,
    /// メディアがアルバムに入っていない。
    #[error("メディアはこのアルバムに入っていません")]
    MediaNotInAlbum,
}

impl DomainError for AlbumError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "album.not_found",
            Self::AlreadyExists => "album.already_exists",
            Self::InvalidName => "album.invalid_name",
            Self::CannotDeleteDefault => "album.default_not_deletable",
            Self::MediaNotFound => "media.not_found",
            Self::MediaNotInAlbum => "album.media_not_in_album",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound | Self::MediaNotFound | Self::MediaNotInAlbum => ErrorKind::NotFound,
            Self::AlreadyExists | Self::CannotDeleteDefault => ErrorKind::Conflict,
            Self::InvalidName => ErrorKind::Invalid,
        }
    }
}

/// アルバム名を検証し、前後の空白を除いた名前を返します。
///
/// # エラー
/// 空白を除いて空か、[`MAX_ALBUM_NAME_CHARS`] 文字を超えるか、制御文字を含むなら
/// [`AlbumError::InvalidName`]。
pub fn validate_album_name(name: &str) -> Result<String, AlbumError> {
    let trimmed = name.trim();
    if trimmed.is_empty()
        || trimmed.chars().count() > MAX_ALBUM_NAME_CHARS
        || trimmed.chars().any(char::is_control)
    {
        return Err(AlbumError::InvalidName);
    }
    Ok(trimmed.to_owned())
}

/// アルバム集約の状態。
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Album {
    id: Option<AlbumId>,
    owner_id: Option<UserId>,
    name: String,
    is_default: bool,
    deleted: bool,
    media: BTreeSet<MediaId>,
}

impl Album {
    /// アルバム ID (作成前は `None`)。
    #[must_use]
    pub const fn id(&self) -> Option<AlbumId> {
        self.id
    }

    /// 所有者。
    #[must_use]
    pub const fn owner_id(&self) -> Option<UserId> {
        self.owner_id
    }

    /// 名前。
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// デフォルトアルバムか。
    #[must_use]
    pub const fn is_default(&self) -> bool {
        self.is_default
    }

    /// 削除済みか。
    #[must_use]
    pub const fn is_deleted(&self) -> bool {
        self.deleted
    }

    /// 入っているメディア (ID 順)。
    pub fn media(&self) -> impl Iterator<Item = MediaId> + '_ {
        self.media.iter().copied()
    }

    /// 作成済みで削除されておらず、指定の利用者が所有者か。
    fn is_live_and_owned_by(&self, user: UserId) -> bool {
        self.id.is_some() && !self.deleted && self.owner_id == Some(user)
    }

    fn decide(&self, command: AlbumCommand) -> Result<Option<AlbumEvent>, AlbumError> {
        match command {
            AlbumCommand::Create {
                album_id,
                owner_id,
                name,
                is_default,
            } => {
                let name = validate_album_name(&name)?;
                if self.id.is_some() {
                    let same = self.id == Some(album_id)
                        && self.owner_id == Some(owner_id)
                        && self.is_default == is_default
                        && !self.deleted;
                    return if same {
                        Ok(None)
                    } else {
                        Err(AlbumError::AlreadyExists)
                    };
                }
                Ok(Some(AlbumEvent::AlbumCreated {
                    album_id,
                    owner_id,
                    name,
                    is_default,
                }))
            }
            AlbumCommand::Rename { requested_by, name } => {
                if !self.is_live_and_owned_by(requested_by) {
                    return Err(AlbumError::NotFound);
                }
                let name = validate_album_name(&name)?;
                if name == self.name {
                    return Ok(None);
                }
                Ok(Some(AlbumEvent::AlbumRenamed { name }))
            }
            AlbumCommand::Delete { requested_by } => {
                if !self.is_live_and_owned_by(requested_by) {
                    return Err(AlbumError::NotFound);
                }
                if self.is_default {
                    return Err(AlbumError::CannotDeleteDefault);
                }
                Ok(Some(AlbumEvent::AlbumDeleted))
            }
            AlbumCommand::AddMedia {
                requested_by,
                media_id,
                media_owner,
            } => {
                if !self.is_live_and_owned_by(requested_by) {
                    return Err(AlbumError::NotFound);
                }
                if media_owner != Some(requested_by) {
                    return Err(AlbumError::MediaNotFound);
                }
                if self.media.contains(&media_id) {
                    return Ok(None);
                }
                Ok(Some(AlbumEvent::MediaAddedToAlbum { media_id }))
            }
            AlbumCommand::RemoveMedia {
                requested_by,
                media_id,
                reason,
            } => {
                if self.id.is_none() || self.deleted {
                    return match reason {
                        RemovalReason::MediaDeleted => Ok(None),
                        RemovalReason::User => Err(AlbumError::NotFound),
                    };
                }
                if reason == RemovalReason::User && self.owner_id != Some(requested_by) {
                    return Err(AlbumError::NotFound);
                }
                match (self.media.contains(&media_id), reason) {
                    (true, _) => Ok(Some(AlbumEvent::MediaRemovedFromAlbum { media_id, reason })),
                    (false, RemovalReason::MediaDeleted) => Ok(None),
                    (false, RemovalReason::User) => Err(AlbumError::MediaNotInAlbum),
                }
            }
        }
    }
}

impl Aggregate for Album {
    const TYPE: &'static str = "Album";
    type Command = AlbumCommand;
    type Event = AlbumEvent;
    type Error = AlbumError;
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
            AlbumEvent::AlbumCreated {
                album_id,
                owner_id,
                name,
                is_default,
            } => {
                self.id = Some(album_id);
                self.owner_id = Some(owner_id);
                self.name = name;
                self.is_default = is_default;
            }
            AlbumEvent::AlbumRenamed { name } => self.name = name,
            AlbumEvent::AlbumDeleted => self.deleted = true,
            AlbumEvent::MediaAddedToAlbum { media_id } => {
                self.media.insert(media_id);
            }
            AlbumEvent::MediaRemovedFromAlbum { media_id, .. } => {
                self.media.remove(&media_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    struct Fixture {
        album_id: AlbumId,
        owner: UserId,
        media: MediaId,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                album_id: AlbumId::new_random(),
                owner: UserId::new_random(),
                media: MediaId::new_random(),
            }
        }

        fn created(&self, is_default: bool) -> AlbumEvent {
            AlbumEvent::AlbumCreated {
                album_id: self.album_id,
                owner_id: self.owner,
                name: "旅行".into(),
                is_default,
            }
        }

        fn create(&self, is_default: bool) -> AlbumCommand {
            AlbumCommand::Create {
                album_id: self.album_id,
                owner_id: self.owner,
                name: "  旅行 ".into(),
                is_default,
            }
        }

        fn add(&self, by: UserId) -> AlbumCommand {
            AlbumCommand::AddMedia {
                requested_by: by,
                media_id: self.media,
                media_owner: Some(self.owner),
            }
        }

        fn added(&self) -> AlbumEvent {
            AlbumEvent::MediaAddedToAlbum {
                media_id: self.media,
            }
        }
    }

    fn framework() -> TestFramework<Album> {
        TestFramework::with(())
    }

    #[test]
    fn create_with_valid_name_emits_album_created_with_trimmed_name() {
        let f = Fixture::new();
        framework()
            .given_no_previous_events()
            .when(f.create(false))
            .then_expect_events(vec![f.created(false)]);
    }

    #[test]
    fn create_default_album_twice_emits_nothing_the_second_time() {
        let f = Fixture::new();
        framework()
            .given(vec![f.created(true)])
            .when(f.create(true))
            .then_expect_events(vec![]);
    }

    #[test]
    fn create_on_existing_album_with_other_owner_is_already_exists() {
        let f = Fixture::new();
        framework()
            .given(vec![f.created(false)])
            .when(AlbumCommand::Create {
                album_id: f.album_id,
                owner_id: UserId::new_random(),
                name: "x".into(),
                is_default: false,
            })
            .then_expect_error(AlbumError::AlreadyExists);
    }

    #[test]
    fn create_with_blank_or_101_char_name_is_invalid_name() {
        for name in ["   ".to_owned(), "a".repeat(101), "a\nb".to_owned()] {
            framework()
                .given_no_previous_events()
                .when(AlbumCommand::Create {
                    album_id: AlbumId::new_random(),
                    owner_id: UserId::new_random(),
                    name,
                    is_default: false,
                })
                .then_expect_error(AlbumError::InvalidName);
        }
    }

    #[test]
    fn rename_by_owner_emits_album_renamed_and_same_name_emits_nothing() {
        let f = Fixture::new();
        framework()
            .given(vec![f.created(false)])
            .when(AlbumCommand::Rename {
                requested_by: f.owner,
                name: "家族".into(),
            })
            .then_expect_events(vec![AlbumEvent::AlbumRenamed {
                name: "家族".into(),
            }]);
        framework()
            .given(vec![f.created(false)])
            .when(AlbumCommand::Rename {
                requested_by: f.owner,
                name: "旅行".into(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn rename_of_default_album_keeps_it_default() {
        let f = Fixture::new();
        let mut album = Album::default();
        album.apply(f.created(true));
        album.apply(AlbumEvent::AlbumRenamed {
            name: "新しい名前".into(),
        });
        assert!(album.is_default());
        assert_eq!(album.name(), "新しい名前");
    }

    #[test]
    fn rename_by_another_user_or_of_missing_album_is_not_found() {
        let f = Fixture::new();
        framework()
            .given(vec![f.created(false)])
            .when(AlbumCommand::Rename {
                requested_by: UserId::new_random(),
                name: "x".into(),
            })
            .then_expect_error(AlbumError::NotFound);
        framework()
            .given_no_previous_events()
            .when(AlbumCommand::Rename {
                requested_by: f.owner,
                name: "x".into(),
            })
            .then_expect_error(AlbumError::NotFound);
    }

    #[test]
    fn rename_to_blank_name_is_invalid_name() {
        let f = Fixture::new();
        framework()
            .given(vec![f.created(false)])
            .when(AlbumCommand::Rename {
                requested_by: f.owner,
                name: " ".into(),
            })
            .then_expect_error(AlbumError::InvalidName);
    }

    #[test]
    fn delete_regular_album_by_owner_emits_album_deleted() {
        let f = Fixture::new();
        framework()
            .given(vec![f.created(false)])
            .when(AlbumCommand::Delete {
                requested_by: f.owner,
            })
            .then_expect_events(vec![AlbumEvent::AlbumDeleted]);
    }

    #[test]
    fn delete_default_album_is_cannot_delete_default() {
        let f = Fixture::new();
        framework()
            .given(vec![f.created(true)])
            .when(AlbumCommand::Delete {
                requested_by: f.owner,
            })
            .then_expect_error(AlbumError::CannotDeleteDefault);
    }

    #[test]
    fn delete_of_deleted_album_or_by_stranger_is_not_found() {
        let f = Fixture::new();
        framework()
            .given(vec![f.created(false), AlbumEvent::AlbumDeleted])
            .when(AlbumCommand::Delete {
                requested_by: f.owner,
            })
            .then_expect_error(AlbumError::NotFound);
        framework()
            .given(vec![f.created(false)])
            .when(AlbumCommand::Delete {
                requested_by: UserId::new_random(),
            })
            .then_expect_error(AlbumError::NotFound);
    }

    #[test]
    fn add_own_media_emits_media_added_and_adding_again_emits_nothing() {
        let f = Fixture::new();
        framework()
            .given(vec![f.created(true)])
            .when(f.add(f.owner))
            .then_expect_events(vec![f.added()]);
        framework()
            .given(vec![f.created(true), f.added()])
            .when(f.add(f.owner))
            .then_expect_events(vec![]);
    }

    #[test]
    fn add_media_of_another_user_or_unknown_media_is_media_not_found() {
        let f = Fixture::new();
        for media_owner in [Some(UserId::new_random()), None] {
            framework()
                .given(vec![f.created(false)])
                .when(AlbumCommand::AddMedia {
                    requested_by: f.owner,
                    media_id: f.media,
                    media_owner,
                })
                .then_expect_error(AlbumError::MediaNotFound);
        }
    }

    #[test]
    fn add_media_to_another_users_album_is_not_found() {
        let f = Fixture::new();
        framework()
            .given(vec![f.created(false)])
            .when(f.add(UserId::new_random()))
            .then_expect_error(AlbumError::NotFound);
    }

    #[test]
    fn remove_media_by_owner_emits_removed_with_user_reason() {
        let f = Fixture::new();
        framework()
            .given(vec![f.created(false), f.added()])
            .when(AlbumCommand::RemoveMedia {
                requested_by: f.owner,
                media_id: f.media,
                reason: RemovalReason::User,
            })
            .then_expect_events(vec![AlbumEvent::MediaRemovedFromAlbum {
                media_id: f.media,
                reason: RemovalReason::User,
            }]);
    }

    #[test]
    fn remove_absent_media_by_user_is_media_not_in_album() {
        let f = Fixture::new();
        framework()
            .given(vec![f.created(false)])
            .when(AlbumCommand::RemoveMedia {
                requested_by: f.owner,
                media_id: f.media,
                reason: RemovalReason::User,
            })
            .then_expect_error(AlbumError::MediaNotInAlbum);
    }

    #[test]
    fn remove_because_media_deleted_is_idempotent_even_on_deleted_album() {
        let f = Fixture::new();
        let removal = AlbumCommand::RemoveMedia {
            requested_by: UserId::new_random(),
            media_id: f.media,
            reason: RemovalReason::MediaDeleted,
        };
        framework()
            .given(vec![f.created(false), f.added()])
            .when(removal.clone())
            .then_expect_events(vec![AlbumEvent::MediaRemovedFromAlbum {
                media_id: f.media,
                reason: RemovalReason::MediaDeleted,
            }]);
        framework()
            .given(vec![f.created(false)])
            .when(removal.clone())
            .then_expect_events(vec![]);
        framework()
            .given(vec![f.created(false), f.added(), AlbumEvent::AlbumDeleted])
            .when(removal)
            .then_expect_events(vec![]);
    }

    #[test]
    fn remove_by_stranger_or_from_missing_album_is_not_found() {
        let f = Fixture::new();
        let by_stranger = AlbumCommand::RemoveMedia {
            requested_by: UserId::new_random(),
            media_id: f.media,
            reason: RemovalReason::User,
        };
        framework()
            .given(vec![f.created(false), f.added()])
            .when(by_stranger.clone())
            .then_expect_error(AlbumError::NotFound);
        framework()
            .given_no_previous_events()
            .when(by_stranger)
            .then_expect_error(AlbumError::NotFound);
    }

    #[test]
    fn applying_history_tracks_media_membership_and_accessors() {
        let f = Fixture::new();
        let mut album = Album::default();
        album.apply(f.created(false));
        album.apply(f.added());
        assert_eq!(album.media().collect::<Vec<_>>(), vec![f.media]);
        album.apply(AlbumEvent::MediaRemovedFromAlbum {
            media_id: f.media,
            reason: RemovalReason::User,
        });
        album.apply(AlbumEvent::AlbumDeleted);
        assert_eq!(album.media().count(), 0);
        assert!(album.is_deleted());
        assert_eq!(album.id(), Some(f.album_id));
        assert_eq!(album.owner_id(), Some(f.owner));
    }

    #[test]
    fn every_error_has_its_public_code_and_kind_and_events_are_catalogued() {
        let errors = [
            (AlbumError::NotFound, "album.not_found", ErrorKind::NotFound),
            (
                AlbumError::AlreadyExists,
                "album.already_exists",
                ErrorKind::Conflict,
            ),
            (
                AlbumError::InvalidName,
                "album.invalid_name",
                ErrorKind::Invalid,
            ),
            (
                AlbumError::CannotDeleteDefault,
                "album.default_not_deletable",
                ErrorKind::Conflict,
            ),
            (
                AlbumError::MediaNotFound,
                "media.not_found",
                ErrorKind::NotFound,
            ),
            (
                AlbumError::MediaNotInAlbum,
                "album.media_not_in_album",
                ErrorKind::NotFound,
            ),
        ];
        for (error, code, kind) in errors {
            assert_eq!(error.code(), code);
            assert_eq!(error.kind(), kind);
        }
        let f = Fixture::new();
        let names: Vec<String> = [
            f.created(false),
            AlbumEvent::AlbumRenamed { name: "n".into() },
            AlbumEvent::AlbumDeleted,
            f.added(),
            AlbumEvent::MediaRemovedFromAlbum {
                media_id: f.media,
                reason: RemovalReason::User,
            },
        ]
        .iter()
        .map(|e| format!("{}@{}", e.event_type(), e.event_version()))
        .collect();
        assert_eq!(
            names,
            [
                "AlbumCreated@1.0",
                "AlbumRenamed@1.0",
                "AlbumDeleted@1.0",
                "MediaAddedToAlbum@1.0",
                "MediaRemovedFromAlbum@1.0"
            ]
        );
    }
}
