//! メディアアップロード Saga (オーケストレーション)。
//!
//! Saga は「複数のサービスにまたがる一連の処理」を、分散トランザクションなしで最後まで
//! 進める (あるいはきれいに取り消す) ための仕組みです。MediaHub では次の流れになります。
//!
//! ```text
//! 成功:  MediaUploaded → [ProcessMedia] → MediaProcessed → [AddToAlbum] → MediaAddedToAlbum
//!        → [Notify] → NotificationSent → SagaCompleted
//! 失敗1: MediaUploaded → [ProcessMedia] → MediaProcessingFailed
//!        → 補償 [DeleteUploadedFile] → MediaDeleted → [Notify (失敗の通知)] → SagaCompensated
//! 失敗2: … MediaProcessed → [AddToAlbum] ×再試行の上限まで失敗
//!        → 補償 [InvalidateMedia] → MediaInvalidated → [Notify (失敗の通知)] → SagaCompensated
//! ```
//!
//! 通知は最後の「再試行可能な」ステップで、補償はされません (届かなくても Saga は終わり、
//! `notification_failed` として記録されます)。
//!
//! このモジュールは純粋なコードだけでできています。
//!
//! - [`MediaUploadSaga`]: Saga 集約。状態はイベント ([`SagaEvent`]) から再構築されるので、
//!   Saga の経過そのものがイベントログに残ります。
//! - [`MediaUploadSaga::react`]: (Saga の状態, 入力 1 件) → (記録するイベント, 次の行動)
//!   という純粋な判断関数。
//! - [`SagaInput::from_envelope`]: ドメインイベントを届け先の Saga に写す関数
//!   (Saga ID はメディア ID から決定的に導出)。
//! - [`RetryPolicy`] / [`SagaPolicy`]: 指数バックオフと締め切りの純粋な方針。
//!
//! 実際に HTTP を呼び、時間を待ち、締め切りを監視するのはサービス層 (saga サービス) です。

mod action;
mod aggregate;
mod input;
mod policy;
mod step;
#[cfg(test)]
mod tests;

pub use action::{ActionCommand, SagaAction};
pub use aggregate::{
    InFlight, MediaUploadSaga, NOTIFICATION_FAULT_ATTEMPTS, Reaction, SagaCommand, SagaError,
    SagaEvent,
};
pub use input::{FAULT_INJECT_METADATA_KEY, MAX_SAGA_PACE_MS, SAGA_PACE_METADATA_KEY, SagaInput};
pub use policy::{DEFAULT_RETRY_DEADLINE, RetryPolicy, SagaPolicy};
pub use step::{FaultPoint, SagaStatus, SagaStep, UnknownFaultPoint};
