//! 内部 API (`/internal/v1/…`、サービス用トークンのみ)。saga の内部の経路は、読み側で共通の
//! [`ProjectionApi`] (Saga の読みモデルの作り直しと進み具合) だけです。

use super::projection::SagaView;
use crate::consumer::ProjectionApi;

/// saga の内部 API (読みモデルの作り直しと進み具合)。
pub type InternalApi = ProjectionApi<SagaView>;
