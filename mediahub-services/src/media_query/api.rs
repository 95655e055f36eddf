//! media-query の HTTP API: 公開の `/api/v1/media…` と内部の `/internal/v1/rebuild`。

use std::sync::Arc;

use cqrs_es::Aggregate;
use mediahub_core::ids::MediaId;
use mediahub_core::media::{Media, MediaKind, MediaStatus};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, Tags};
use uuid::Uuid;

use super::db::{self, ListFilter};
use super::error::QueryError;
use super::history::{self, MediaHistory};
use super::search::match_expression;
use super::state::QueryState;
use super::view::{MediaFilterParams, MediaPage, MediaView};
use crate::platform::concurrency::etag;
use crate::platform::paging::Cursor;
use crate::platform::problem::Problem;
use crate::platform::request::{ActingUser, Params};
use crate::platform::schema::LogPosition;

/// 一覧の既定の件数。
pub const DEFAULT_LIMIT: u64 = 20;
/// 一覧の最大の件数。
pub const MAX_LIMIT: u64 = 100;

/// media-query の API。
#[derive(Debug, Clone)]
pub struct MediaQueryApi {
    state: Arc<QueryState>,
}

impl MediaQueryApi {
    /// 共有の状態から API を作ります。
    #[must_use]
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

#[derive(Debug, Tags)]
enum ApiTags {
    /// メディアの一覧・詳細・検索・履歴 (自分のメディアだけ)
    Media,
}

fn check_limit(limit: Option<u64>) -> Result<u32, QueryError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(QueryError::invalid(
            "limit",
            format!("1〜{MAX_LIMIT} にしてください (受け取った値 {limit})"),
        ));
    }
    u32::try_from(limit).map_err(|_| QueryError::invalid("limit", "大きすぎます"))
}

/// `value` が `known` のどれかであることを確かめます。
fn check_one_of(
    name: &'static str,
    value: Option<String>,
    known: &[&str],
) -> Result<Option<String>, QueryError> {
    match value {
        Some(v) if !known.contains(&v.as_str()) => Err(QueryError::invalid(
            name,
            format!("{} のどれかにしてください", known.join(" / ")),
        )),
        other => Ok(other),
    }
}

fn check_kind(kind: Option<String>) -> Result<Option<String>, QueryError> {
    check_one_of(
        "kind",
        kind,
        &[MediaKind::Image, MediaKind::Video].map(MediaKind::as_str),
    )
}

/// `status` に渡すと削除済みを含むすべての状態を返す値。
const STATUS_ALL: &str = "all";

fn check_status(status: Option<String>) -> Result<Option<String>, QueryError> {
    let known = [
        MediaStatus::Uploaded,
        MediaStatus::Processed,
        MediaStatus::Failed,
        MediaStatus::Deleted,
        MediaStatus::Invalidated,
    ]
    .map(MediaStatus::as_str);
    let mut with_all = known.to_vec();
    with_all.push(STATUS_ALL);
    check_one_of("status", status, &with_all)
}

fn check_cursor(cursor: Option<String>) -> Result<Option<Cursor>, QueryError> {
    cursor
        .map(|text| {
            Cursor::decode(&text).ok_or_else(|| {
                QueryError::invalid("cursor", "前の応答の next_cursor をそのまま渡してください")
            })
        })
        .transpose()
}

/// メディア 1 件の応答 (`ETag` に版)。
#[derive(Debug, ApiResponse)]
pub enum MediaResponse {
    /// メディア。
    #[oai(status = 200)]
    Ok(
        Json<MediaView>,
        /// メディアの版 (`"<version>"`)。`DELETE` の `If-Match` に使えます。
        #[oai(header = "ETag")]
        String,
    ),
}

#[OpenApi]
impl MediaQueryApi {
    /// 自分のメディアの一覧 (新しいアップロードから順、カーソルでページ送り)。
    ///
    /// - `limit`: 1〜100 (既定 20)。範囲外は 400 (`request.invalid_parameter`)。
    /// - `cursor`: 前の応答の `next_cursor`。読めなければ 400。
    /// - `kind`: `image` / `video`。`status`: `uploaded` / `processed` / `failed` /
    ///   `deleted` / `invalidated` / `all` (省略時は `deleted` 以外、`all` は削除済みも含むすべて)。
    /// - `q`: ファイル名の前方一致検索 (空白区切りの語をすべて含む)。記号だけの語は無視します。
    /// - `min_position`: 読みモデルがこの位置に届くまで待ちます。届かなければ 503
    ///   (`read_model.not_caught_up`)。
    #[oai(path = "/api/v1/media", method = "get", tag = "ApiTags::Media")]
    async fn list(
        &self,
        user: ActingUser,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u64>>,
        #[oai(validator(
            pattern = "^(3[0-9]){1,18}3a(3[0-9]|6[1-6]){8}2d(3[0-9]|6[1-6]){4}2d(3[0-9]|6[1-6]){4}2d(3[0-9]|6[1-6]){4}2d(3[0-9]|6[1-6]){12}$"
        ))]
        cursor: Query<Option<String>>,
        filter: Params<MediaFilterParams>,
        min_position: Query<Option<LogPosition>>,
    ) -> Result<Json<MediaPage>, Problem> {
        let owner = user.user;
        let MediaFilterParams { kind, status, q } = filter.0;
        let filter = ListFilter {
            kind: check_kind(kind)?,
            status: check_status(status)?,
            matching: None,
            after: check_cursor(cursor.0)?,
            limit: check_limit(limit.0)?,
        };
        let q = q.filter(|q| !q.trim().is_empty());
        let matching = match q.as_deref().map(match_expression) {
            // 検索語はあるが、検索できる文字が一つも無い: 何にも一致しない。
            Some(None) => {
                return Ok(Json(MediaPage {
                    items: Vec::new(),
                    next_cursor: None,
                }));
            }
            Some(Some(expression)) => Some(expression),
            None => None,
        };
        self.state.wait_for(min_position.0.map(u64::from)).await?;
        let (items, next) =
            db::list(&self.state.pool, owner, &ListFilter { matching, ..filter }).await?;
        Ok(Json(MediaPage {
            items,
            next_cursor: next.map(|c| c.encode()),
        }))
    }

    /// 自分のメディア 1 件。無い・他人のものなら 404 (`media.not_found`)。
    ///
    /// `min_position` は一覧と同じです。削除済みのメディアも `status: deleted` で返します。
    ///
    /// `ETag` は読みモデルが知るメディアの版 (`"<version>"`)。`DELETE` の `If-Match` に
    /// そのまま使えます。
    #[oai(path = "/api/v1/media/:id", method = "get", tag = "ApiTags::Media")]
    async fn detail(
        &self,
        user: ActingUser,
        id: Path<Uuid>,
        min_position: Query<Option<LogPosition>>,
    ) -> Result<MediaResponse, Problem> {
        let owner = user.user;
        self.state.wait_for(min_position.0.map(u64::from)).await?;
        let view = db::get(&self.state.pool, owner, MediaId::from_uuid(id.0))
            .await?
            .ok_or(QueryError::NotFound)?;
        let tag = etag(view.version);
        Ok(MediaResponse::Ok(Json(view), tag))
    }

    /// 自分のメディアの履歴 (タイムトラベル)。
    ///
    /// イベントストアからこのメディアのイベントを読み、コアの集約の `apply` で 1 件ずつ
    /// 畳み込んで、各版の時点の状態を返します。読みモデルを通らないので常に最新で、
    /// `min_position` は受け付けますが待つ必要がありません。無い・他人のものなら 404。
    #[oai(
        path = "/api/v1/media/:id/history",
        method = "get",
        tag = "ApiTags::Media"
    )]
    async fn history(
        &self,
        user: ActingUser,
        id: Path<Uuid>,
        min_position: Query<Option<LogPosition>>,
    ) -> Result<Json<MediaHistory>, Problem> {
        let owner = user.user;
        // 履歴はイベントストアから直接読むので常に最新ですが、`min_position` の意味
        // (ログにまだ無い位置は 409) はほかの読み取りと揃えます。
        self.state.wait_for(min_position.0.map(u64::from)).await?;
        let media_id = MediaId::from_uuid(id.0);
        let events = self
            .state
            .client
            .read_stream(Media::TYPE, &media_id.to_string(), 0)
            .await
            .map_err(QueryError::from)?;
        Ok(Json(history::fold(owner, media_id, &events)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_of_0_or_101_is_invalid_and_default_is_20() {
        assert!(check_limit(Some(0)).is_err());
        assert!(check_limit(Some(101)).is_err());
        assert_eq!(check_limit(None).ok(), Some(20));
        assert_eq!(check_limit(Some(100)).ok(), Some(100));
    }

    #[test]
    fn unknown_kind_status_or_cursor_is_invalid() {
        assert!(check_kind(Some("audio".into())).is_err());
        assert_eq!(
            check_kind(Some("video".into())).ok(),
            Some(Some("video".into()))
        );
        assert!(check_status(Some("new".into())).is_err());
        assert_eq!(check_status(None).ok(), Some(None));
        assert!(check_cursor(Some("nope".into())).is_err());
    }
}
