//! album の API が読み書きする JSON の形 (読みモデルのビューと、要求・応答の本体)。

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use crate::platform::schema::StrictString;
use uuid::Uuid;

/// アルバム 1 件のビュー。
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct AlbumView {
    /// アルバム ID。
    pub id: Uuid,
    /// 所有者のユーザー ID。
    pub owner_id: Uuid,
    /// 名前。
    pub name: String,
    /// デフォルトアルバム (アップロードしたメディアが自動で入る、削除できないアルバム) か。
    pub is_default: bool,
    /// 入っているメディアの数。
    pub media_count: u64,
    /// 作成時刻 (`AlbumCreated` の保存時刻)。
    pub created_at: DateTime<Utc>,
    /// 最後に変わった時刻 (最後のイベントの保存時刻)。
    pub updated_at: DateTime<Utc>,
    /// 集約の版 (反映した最後のイベントの版)。
    pub version: u64,
}

/// アルバムの一覧。
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct AlbumList {
    /// 呼び出したユーザーのアルバム (デフォルトアルバムが先頭、ほかは作成順)。
    pub items: Vec<AlbumView>,
}

/// アルバムに入っているメディア 1 件。
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct AlbumMediaItem {
    /// メディア ID。
    pub media_id: Uuid,
    /// 追加された時刻 (`MediaAddedToAlbum` の保存時刻)。
    pub added_at: DateTime<Utc>,
    /// `MediaAddedToAlbum` のグローバル位置。
    pub position: u64,
}

/// アルバムの中身。
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct AlbumMediaList {
    /// 入っているメディア (新しく追加されたものが先頭)。
    pub items: Vec<AlbumMediaItem>,
}

/// アルバム作成の本体。
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct CreateAlbumBody {
    /// 名前 (前後の空白を除いて 1〜100 文字、制御文字なし)。
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\x00-\x1F\x7F-\x9F\s][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: StrictString,
}

/// 改名の本体。
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct RenameAlbumBody {
    /// 新しい名前 (前後の空白を除いて 1〜100 文字、制御文字なし)。
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\x00-\x1F\x7F-\x9F\s][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: StrictString,
}

/// メディア追加の本体。
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct AddMediaBody {
    /// 加えるメディア (呼び出したユーザーのもの)。
    pub media_id: Uuid,
}

/// アルバム作成の結果。
#[derive(Debug, Clone, Object)]
pub struct CreatedAlbum {
    /// 新しいアルバムの ID。
    pub id: Uuid,
    /// `AlbumCreated` のグローバル位置 (クエリの `min_position` に渡せます)。
    pub position: u64,
}

/// コマンドの結果。
#[derive(Debug, Clone, Object)]
pub struct CommandResult {
    /// このコマンドで最後に書かれたイベントのグローバル位置。何も書かれなかった
    /// (冪等な再実行) なら 0。
    pub position: u64,
}

/// 内部 API: デフォルトアルバムへの追加の本体 (Saga が送る側でも使います)。
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize)]
#[oai(deny_unknown_fields)]
pub struct DefaultAlbumMediaBody {
    /// メディアの所有者 (= デフォルトアルバムの所有者)。
    pub owner_id: Uuid,
    /// 加えるメディア。
    pub media_id: Uuid,
    /// 所有者の射影がこの位置に届くまで待ちます (例: `MediaProcessed` の位置)。
    #[oai(nullable, default)]
    pub min_position: Option<u64>,
    /// `true` なら何も書かずに 503 `fault.injected` (開発用の障害注入)。
    #[oai(default)]
    pub inject_fault: bool,
}

/// 内部 API: デフォルトアルバムへの追加の結果。
#[derive(Debug, Clone, Object)]
pub struct DefaultAlbumMediaResult {
    /// 所有者のデフォルトアルバムの ID。
    pub album_id: Uuid,
    /// 最後に書かれたイベントの位置。何も書かれなかった (既に入っていた) なら 0。
    pub position: u64,
}
