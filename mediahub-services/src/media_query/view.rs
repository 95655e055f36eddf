//! API が返すメディアの見え方 [`MediaView`] と、その組み立て。

use poem::Request;
use poem_openapi::registry::MetaSchema;

use crate::platform::problem::Problem;
use crate::platform::request::{GroupParam, ParamGroup, ParamLocation, query_value};
use chrono::{DateTime, Utc};
use mediahub_core::ids::MediaId;
use poem_openapi::Object;
use uuid::Uuid;

/// メディア 1 件の見え方 (読みモデルの 1 行、または履歴のある版の時点の状態)。
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct MediaView {
    /// メディア ID。
    pub id: Uuid,
    /// 所有者のユーザー ID。
    pub owner_id: Uuid,
    /// 表示用のファイル名。
    pub filename: String,
    /// MIME 型 (例: `image/jpeg`)。
    pub content_type: String,
    /// `image` または `video`。
    pub kind: String,
    /// バイト数。
    pub size: u64,
    /// 中身の SHA-256 (小文字 16 進)。
    pub sha256: String,
    /// `uploaded` / `processed` / `failed` / `deleted` / `invalidated`。
    pub status: String,
    /// 幅 (ピクセル、処理済みのときだけ)。
    #[oai(nullable)]
    pub width: Option<u32>,
    /// 高さ (ピクセル、処理済みのときだけ)。
    #[oai(nullable)]
    pub height: Option<u32>,
    /// 動画の長さ (ミリ秒、処理済みの動画のときだけ)。
    #[oai(nullable)]
    pub duration_ms: Option<u64>,
    /// サムネイルの URL (`/api/v1/media/{id}/thumbnail`、処理済みになってから)。
    #[oai(nullable)]
    pub thumbnail_url: Option<String>,
    /// 失敗・無効化の理由。
    #[oai(nullable)]
    pub failure_reason: Option<String>,
    /// 最後に反映したイベントの版 (集約内の連番)。
    pub version: u64,
    /// 最後に反映したイベントのグローバル位置。
    pub position: u64,
    /// アップロードの相関 ID (一つのアップロードに属するすべてのイベントで共通)。
    #[oai(nullable)]
    pub correlation_id: Option<Uuid>,
    /// アップロードの時刻 (`MediaUploaded` の保存時刻)。
    pub created_at: DateTime<Utc>,
    /// 最後に反映したイベントの保存時刻。
    pub updated_at: DateTime<Utc>,
}

/// サムネイルの URL (media-command の `GET /api/v1/media/{id}/thumbnail`)。
#[must_use]
pub fn thumbnail_url(id: MediaId) -> String {
    format!("/api/v1/media/{id}/thumbnail")
}

/// 一覧の 1 ページ。
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct MediaPage {
    /// メディア (新しいアップロードから順)。
    pub items: Vec<MediaView>,
    /// 次のページのカーソル (最後のページなら `null`)。
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}
/// 一覧の絞り込み (`kind`・`status`・`q`)。`GET /api/v1/media` のクエリパラメーターの組です。
/// 値の検査は一覧のハンドラーがします。
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaFilterParams {
    /// `image` / `video`。
    pub kind: Option<String>,
    /// `uploaded` / `processed` / `failed` / `deleted` / `invalidated` / `all`。
    pub status: Option<String>,
    /// ファイル名の検索語。
    pub q: Option<String>,
}

impl ParamGroup for MediaFilterParams {
    const NAME: &'static str = "MediaFilter";

    fn params() -> Vec<GroupParam> {
        let pattern = |pattern: &str| MetaSchema {
            pattern: Some(pattern.to_owned()),
            ..MetaSchema::new("string")
        };
        vec![
            GroupParam {
                name: "kind",
                location: ParamLocation::Query,
                description: "種類 (`image` / `video`)。",
                schema: pattern("^(image|video)$"),
            },
            GroupParam {
                name: "status",
                location: ParamLocation::Query,
                description: "状態。省略時は削除済み以外、`all` は削除済みも含むすべて。",
                schema: pattern("^(uploaded|processed|failed|deleted|invalidated|all)$"),
            },
            GroupParam {
                name: "q",
                location: ParamLocation::Query,
                description: "ファイル名の前方一致検索 (空白区切りの語をすべて含む)。",
                schema: MetaSchema::new("string"),
            },
        ]
    }

    fn extract(req: &Request) -> Result<Self, Problem> {
        Ok(Self {
            kind: query_value(req, "kind"),
            status: query_value(req, "status"),
            q: query_value(req, "q"),
        })
    }
}
