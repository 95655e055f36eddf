//! 集約を識別する型付き ID。
//!
//! すべて UUID の薄いラッパーです。型を分けることで「アルバム ID をメディア ID の引数に渡す」
//! といった取り違えをコンパイル時に防ぎます。一部の ID は別の ID から **決定的に** 導出されます
//! (UUID v5)。たとえば Saga ID はメディア ID から導出されるため、`MediaUploaded` が重複配信
//! されても二つ目の Saga は生まれません。

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// 決定的な ID を導出するための MediaHub 固有の UUID v5 名前空間。
const MEDIAHUB_NAMESPACE: Uuid = Uuid::from_u128(0x6d65_6469_6168_7562_8000_0000_0000_0001);

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// ランダムな (UUID v4) ID を新しく作ります。
            #[must_use]
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            /// 時刻順に並ぶ ID (UUID v7、RFC 9562) を新しく作ります。
            ///
            /// 先頭 48 ビットがミリ秒の時刻で、同じプロセスで作った ID は作った順に並びます
            /// (同じミリ秒の中は、乱数から始めて 1 ずつ増えるカウンターで並べます)。ID から
            /// 作った時刻が読め、乱数は 32 ビットほどなので、推測されては困る ID には
            /// [`Self::new_random`] を使ってください。イベント ID のように一意索引に入る ID に
            /// 使うと、新しい行が索引の末尾に並び、書き込みで汚れるページが減ります
            /// (MediaHub はイベント ID と、新しく始まる操作の相関 ID をこれで作ります)。
            ///
            /// 先頭 8 文字は 1 分ほど同じなので、ID を短く見せるときは末尾も見せてください
            /// (MediaHub の UI は `019af3c2…7d41` のように先頭 8 文字と末尾 4 文字を見せます)。
            #[must_use]
            pub fn new_time_ordered() -> Self {
                Self(Uuid::now_v7())
            }

            /// 既存の UUID から ID を作ります。
            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// 内側の UUID を返します。
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

typed_id!(
    /// メディア (画像・動画) 集約の ID。
    MediaId
);
typed_id!(
    /// アルバム集約の ID。
    AlbumId
);
typed_id!(
    /// ユーザー集約の ID。JWT の `sub` にもこの値が入ります。
    UserId
);
typed_id!(
    /// 通知集約の ID。
    NotificationId
);
typed_id!(
    /// メディアアップロード Saga の ID。
    SagaId
);
typed_id!(
    /// 一つの利用者操作を全サービスにわたって追跡する相関 ID。
    CorrelationId
);
typed_id!(
    /// イベントストアに保存されたイベント 1 件の ID。
    EventId
);

fn derive(kind: &str, parts: &[&[u8]]) -> Uuid {
    let mut name = Vec::with_capacity(64);
    name.extend_from_slice(kind.as_bytes());
    for part in parts {
        name.push(b'/');
        name.extend_from_slice(part);
    }
    Uuid::new_v5(&MEDIAHUB_NAMESPACE, &name)
}

impl SagaId {
    /// メディア ID から Saga ID を決定的に導出します。
    ///
    /// 同じメディアに対しては常に同じ Saga ID が返るため、`MediaUploaded` の再配信で
    /// 二つ目の Saga が始まることはありません。
    ///
    /// ```
    /// use mediahub_core::ids::{MediaId, SagaId};
    /// let media = MediaId::new_random();
    /// assert_eq!(SagaId::for_media(media), SagaId::for_media(media));
    /// ```
    #[must_use]
    pub fn for_media(media_id: MediaId) -> Self {
        Self(derive("saga", &[media_id.0.as_bytes()]))
    }
}

impl AlbumId {
    /// ユーザーの「デフォルトアルバム」の ID を決定的に導出します。
    ///
    /// ID がユーザーから一意に決まるので、デフォルトアルバムは必ず一人一つになり、
    /// 「なければ作る」処理を何度繰り返しても一つしかできません。
    #[must_use]
    pub fn default_for(user_id: UserId) -> Self {
        Self(derive("default-album", &[user_id.0.as_bytes()]))
    }
}

impl UserId {
    /// 外部 ID プロバイダ上の利用者からユーザー ID を決定的に導出します。
    ///
    /// 同じプロバイダの同じ利用者は、何度ログインしても同じユーザーになります。
    #[must_use]
    pub fn for_identity(provider: &str, provider_user_id: &str) -> Self {
        Self(derive(
            "user",
            &[provider.as_bytes(), provider_user_id.as_bytes()],
        ))
    }
}

impl NotificationId {
    /// Saga の通知ステップから通知 ID を決定的に導出します (冪等性キー)。
    ///
    /// Saga が通知を何度再試行しても、同じ通知が二通届くことはありません。
    #[must_use]
    pub fn for_saga(saga_id: SagaId, purpose: &str) -> Self {
        Self(derive(
            "notification",
            &[saga_id.0.as_bytes(), purpose.as_bytes()],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saga_id_for_same_media_is_identical_and_differs_from_media_id() {
        let media = MediaId::new_random();
        assert_eq!(SagaId::for_media(media), SagaId::for_media(media));
        assert_ne!(SagaId::for_media(media).as_uuid(), media.as_uuid());
    }

    #[test]
    fn default_album_ids_of_two_users_differ() {
        let a = AlbumId::default_for(UserId::new_random());
        let b = AlbumId::default_for(UserId::new_random());
        assert_ne!(a, b);
    }

    #[test]
    fn same_identity_gives_same_user_and_other_provider_gives_other_user() {
        let github = UserId::for_identity("github", "42");
        assert_eq!(github, UserId::for_identity("github", "42"));
        assert_ne!(github, UserId::for_identity("google", "42"));
    }

    #[test]
    fn notification_id_depends_on_purpose() {
        let saga = SagaId::new_random();
        assert_eq!(
            NotificationId::for_saga(saga, "success"),
            NotificationId::for_saga(saga, "success")
        );
        assert_ne!(
            NotificationId::for_saga(saga, "success"),
            NotificationId::for_saga(saga, "failure")
        );
    }

    #[test]
    fn id_round_trips_through_display_and_from_str() {
        let id = MediaId::new_random();
        let parsed: MediaId = id.to_string().parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, id);
        assert!("not-a-uuid".parse::<MediaId>().is_err());
    }

    #[test]
    fn time_ordered_ids_created_one_after_another_are_v7_and_sort_in_creation_order() {
        let ids: Vec<EventId> = (0..1000).map(|_| EventId::new_time_ordered()).collect();
        assert!(ids.iter().all(|id| id.as_uuid().get_version_num() == 7));
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
        // 文字列でも同じ順 (データベースの索引は TEXT で比べるため)。
        let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert!(texts.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn id_serializes_as_plain_uuid_string() {
        let uuid = Uuid::new_v4();
        let json = serde_json::to_string(&UserId::from(uuid)).unwrap_or_default();
        assert_eq!(json, format!("\"{uuid}\""));
        assert_eq!(UserId::from_uuid(uuid).as_uuid(), uuid);
    }
}
