//! メディアのタグ集約 `MediaTags`: `mediahub-core` の決まりで書いた、新しい集約の見本です。
//!
//! 決まりは三つです (アルバム集約 [`mediahub_core::album::Album`] と同じ形)。
//!
//! 1. **判断は純粋な関数** `decide(&self, command) -> Result<Option<Event>, Error>`。I/O も
//!    時計も乱数も使わず、今の状態とコマンドだけから「起きたこと」を決めます。`Ok(None)` は
//!    「もうそうなっている」(冪等な再送) の意味で、イベントを出しません。
//! 2. **エラーは型付き** (`thiserror`) で、[`DomainError`] の `code` と `kind` を持ちます。
//!    サービス層はそれを problem+json の `code` と HTTP 状態コードに一様に写します。
//! 3. **状態はイベントから** `apply` で作り、`apply` は失敗しません (過去は変えられない)。
//!
//! テストは `cqrs_es::test::TestFramework` の given / when / then で書きます
//! (このファイルの末尾)。
//!
//! ```
//! use cqrs_es::Aggregate;
//! use cqrs_es::event_sink::EventSink;
//! use mediahub_core::ids::{MediaId, UserId};
//! use mediahub_examples::tags::{MediaTags, TagsCommand, TagsEvent};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let mut tags = MediaTags::default();
//! let sink = EventSink::default();
//! let command = TagsCommand::AddTag {
//!     media_id: MediaId::new_random(),
//!     requested_by: UserId::new_random(),
//!     tag: "  Sunset ".into(),
//! };
//! tags.handle(command, &(), &sink).await.unwrap();
//! let events = sink.collect().await;
//! assert!(matches!(&events[0], TagsEvent::TagAdded { tag, .. } if tag == "sunset"));
//! # });
//! ```

use std::collections::BTreeSet;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use mediahub_core::error::{DomainError, ErrorKind};
use mediahub_core::ids::{MediaId, UserId};
use serde::{Deserialize, Serialize};

/// 一つのメディアに付けられるタグの最大数。
pub const MAX_TAGS: usize = 10;
/// タグの最大文字数 (正規化した後の文字数)。
pub const MAX_TAG_CHARS: usize = 32;

/// タグ集約へのコマンド。
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TagsCommand {
    /// タグを付ける。最初のタグを付けた利用者がこのメディアのタグの持ち主になります。
    AddTag {
        /// タグを付けるメディア。
        media_id: MediaId,
        /// 操作した利用者。
        requested_by: UserId,
        /// タグ (前後の空白を除き小文字にしてから判断します)。
        tag: String,
    },
    /// タグを外す。
    RemoveTag {
        /// 操作した利用者。
        requested_by: UserId,
        /// 外すタグ。
        tag: String,
    },
}

/// タグ集約のイベント。
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TagsEvent {
    /// タグが付いた。
    TagAdded {
        /// メディア ID。
        media_id: MediaId,
        /// タグの持ち主 (最初にタグを付けた利用者)。
        owner_id: UserId,
        /// 正規化したタグ。
        tag: String,
    },
    /// タグが外れた。
    TagRemoved {
        /// 正規化したタグ。
        tag: String,
    },
}

impl DomainEvent for TagsEvent {
    fn event_type(&self) -> String {
        match self {
            Self::TagAdded { .. } => "TagAdded",
            Self::TagRemoved { .. } => "TagRemoved",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// タグ集約のエラー。
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagsError {
    /// タグが空、長すぎる、または空白・制御文字を含む。
    #[error("タグは空白を含まない 1〜{MAX_TAG_CHARS} 文字にしてください")]
    InvalidTag,
    /// タグが多すぎる。
    #[error("一つのメディアに付けられるタグは {MAX_TAGS} 個までです")]
    TooManyTags,
    /// タグの持ち主ではない (他人の物は「存在しない」として扱います)。
    #[error("メディアのタグが見つかりません")]
    NotFound,
    /// 付いていないタグを外そうとした。
    #[error("そのタグは付いていません")]
    NotTagged,
}

impl DomainError for TagsError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidTag => "tags.invalid_tag",
            Self::TooManyTags => "tags.too_many",
            Self::NotFound => "tags.not_found",
            Self::NotTagged => "tags.not_tagged",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidTag => ErrorKind::Invalid,
            Self::TooManyTags | Self::NotTagged => ErrorKind::Conflict,
            Self::NotFound => ErrorKind::NotFound,
        }
    }
}

/// タグを正規化します (前後の空白を除き、小文字にする)。
///
/// # エラー
/// 空、[`MAX_TAG_CHARS`] 文字超、空白や制御文字を含むなら [`TagsError::InvalidTag`]。
pub fn normalize_tag(raw: &str) -> Result<String, TagsError> {
    let tag = raw.trim().to_lowercase();
    let chars = tag.chars().count();
    let clean = tag.chars().all(|c| !c.is_whitespace() && !c.is_control());
    if chars == 0 || chars > MAX_TAG_CHARS || !clean {
        return Err(TagsError::InvalidTag);
    }
    Ok(tag)
}

/// メディア一つのタグ集約 (集約 ID はメディア ID)。
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaTags {
    media_id: Option<MediaId>,
    owner_id: Option<UserId>,
    tags: BTreeSet<String>,
}

impl MediaTags {
    /// 付いているタグ (辞書順)。
    pub fn tags(&self) -> impl Iterator<Item = &str> + '_ {
        self.tags.iter().map(String::as_str)
    }

    /// タグの持ち主 (まだタグが一度も付いていなければ `None`)。
    #[must_use]
    pub const fn owner_id(&self) -> Option<UserId> {
        self.owner_id
    }

    /// 純粋な判断: 今の状態とコマンドから、起きること (イベント) を決めます。
    ///
    /// # エラー
    /// 業務ルールに反すれば [`TagsError`]。
    pub fn decide(&self, command: TagsCommand) -> Result<Option<TagsEvent>, TagsError> {
        match command {
            TagsCommand::AddTag {
                media_id,
                requested_by,
                tag,
            } => {
                let tag = normalize_tag(&tag)?;
                if self.owner_id.is_some_and(|owner| owner != requested_by) {
                    return Err(TagsError::NotFound);
                }
                if self.tags.contains(&tag) {
                    return Ok(None);
                }
                if self.tags.len() >= MAX_TAGS {
                    return Err(TagsError::TooManyTags);
                }
                Ok(Some(TagsEvent::TagAdded {
                    media_id: self.media_id.unwrap_or(media_id),
                    owner_id: self.owner_id.unwrap_or(requested_by),
                    tag,
                }))
            }
            TagsCommand::RemoveTag { requested_by, tag } => {
                if self.owner_id != Some(requested_by) {
                    return Err(TagsError::NotFound);
                }
                let tag = normalize_tag(&tag)?;
                if !self.tags.contains(&tag) {
                    return Err(TagsError::NotTagged);
                }
                Ok(Some(TagsEvent::TagRemoved { tag }))
            }
        }
    }
}

impl Aggregate for MediaTags {
    const TYPE: &'static str = "MediaTags";
    type Command = TagsCommand;
    type Event = TagsEvent;
    type Error = TagsError;
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
            TagsEvent::TagAdded {
                media_id,
                owner_id,
                tag,
            } => {
                self.media_id = Some(media_id);
                self.owner_id = Some(owner_id);
                self.tags.insert(tag);
            }
            TagsEvent::TagRemoved { tag } => {
                self.tags.remove(&tag);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    struct Fixture {
        media: MediaId,
        alice: UserId,
        bob: UserId,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                media: MediaId::new_random(),
                alice: UserId::new_random(),
                bob: UserId::new_random(),
            }
        }

        fn added(&self, tag: &str) -> TagsEvent {
            TagsEvent::TagAdded {
                media_id: self.media,
                owner_id: self.alice,
                tag: tag.to_owned(),
            }
        }

        fn add(&self, by: UserId, tag: &str) -> TagsCommand {
            TagsCommand::AddTag {
                media_id: self.media,
                requested_by: by,
                tag: tag.to_owned(),
            }
        }
    }

    fn framework() -> TestFramework<MediaTags> {
        TestFramework::with(())
    }

    #[test]
    fn given_no_events_when_alice_adds_padded_uppercase_tag_then_normalized_tag_added_with_alice_as_owner()
     {
        let f = Fixture::new();
        framework()
            .given_no_previous_events()
            .when(f.add(f.alice, "  Sunset "))
            .then_expect_events(vec![f.added("sunset")]);
    }

    #[test]
    fn given_tag_sunset_when_alice_adds_sunset_again_then_no_event() {
        let f = Fixture::new();
        framework()
            .given(vec![f.added("sunset")])
            .when(f.add(f.alice, "SUNSET"))
            .then_expect_events(vec![]);
    }

    #[test]
    fn given_alice_owns_tags_when_bob_adds_tag_then_not_found() {
        let f = Fixture::new();
        framework()
            .given(vec![f.added("sunset")])
            .when(f.add(f.bob, "beach"))
            .then_expect_error(TagsError::NotFound);
    }

    #[test]
    fn given_ten_tags_when_alice_adds_eleventh_then_too_many_tags() {
        let f = Fixture::new();
        let ten = (0..MAX_TAGS).map(|i| f.added(&format!("t{i}"))).collect();
        framework()
            .given(ten)
            .when(f.add(f.alice, "one-more"))
            .then_expect_error(TagsError::TooManyTags);
    }

    #[test]
    fn given_no_events_when_tag_is_blank_or_has_space_or_is_33_chars_then_invalid_tag() {
        let f = Fixture::new();
        for bad in ["", "   ", "two words", &"x".repeat(MAX_TAG_CHARS + 1)] {
            framework()
                .given_no_previous_events()
                .when(f.add(f.alice, bad))
                .then_expect_error(TagsError::InvalidTag);
        }
    }

    #[test]
    fn given_tag_sunset_when_alice_removes_sunset_then_tag_removed() {
        let f = Fixture::new();
        framework()
            .given(vec![f.added("sunset")])
            .when(TagsCommand::RemoveTag {
                requested_by: f.alice,
                tag: "Sunset".into(),
            })
            .then_expect_events(vec![TagsEvent::TagRemoved {
                tag: "sunset".into(),
            }]);
    }

    #[test]
    fn given_tag_sunset_when_alice_removes_beach_then_not_tagged() {
        let f = Fixture::new();
        framework()
            .given(vec![f.added("sunset")])
            .when(TagsCommand::RemoveTag {
                requested_by: f.alice,
                tag: "beach".into(),
            })
            .then_expect_error(TagsError::NotTagged);
    }

    #[test]
    fn given_tag_sunset_when_bob_removes_sunset_then_not_found() {
        let f = Fixture::new();
        framework()
            .given(vec![f.added("sunset")])
            .when(TagsCommand::RemoveTag {
                requested_by: f.bob,
                tag: "sunset".into(),
            })
            .then_expect_error(TagsError::NotFound);
    }

    #[test]
    fn applying_added_added_removed_leaves_one_tag_and_owner() {
        let f = Fixture::new();
        let mut tags = MediaTags::default();
        tags.apply(f.added("sunset"));
        tags.apply(f.added("beach"));
        tags.apply(TagsEvent::TagRemoved {
            tag: "sunset".into(),
        });
        assert_eq!(tags.tags().collect::<Vec<_>>(), vec!["beach"]);
        assert_eq!(tags.owner_id(), Some(f.alice));
    }

    #[test]
    fn error_codes_and_kinds_are_stable() {
        let table = [
            (
                TagsError::InvalidTag,
                "tags.invalid_tag",
                ErrorKind::Invalid,
            ),
            (TagsError::TooManyTags, "tags.too_many", ErrorKind::Conflict),
            (TagsError::NotFound, "tags.not_found", ErrorKind::NotFound),
            (TagsError::NotTagged, "tags.not_tagged", ErrorKind::Conflict),
        ];
        for (error, code, kind) in table {
            assert_eq!((error.code(), error.kind()), (code, kind), "{error}");
        }
    }
}
