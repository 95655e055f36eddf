//! 内部 API (`/internal/v1/…`、サービス用トークンのみ)。media-query の内部の経路は、読み側で
//! 共通の [`ProjectionApi`] (読みモデルの作り直しと進み具合) だけです。

use super::projection::MediaProjection;
use crate::consumer::ProjectionApi;

/// media-query の内部 API (読みモデルの作り直しと進み具合)。
pub type InternalApi = ProjectionApi<MediaProjection>;
