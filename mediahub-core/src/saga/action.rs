//! Saga が参加者に頼む「次の行動」。
//!
//! 行動は純粋なデータです。実際に HTTP で呼ぶのはサービス層 (saga サービス) で、
//! [`SagaAction::idempotency_key`] を付けて送るので、受け手は同じ依頼を何度受けても一度しか
//! 実行しません。

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::step::SagaStep;
use crate::ids::{MediaId, NotificationId, SagaId, UserId};
use crate::notification::NotificationKind;

/// 参加者への依頼の中身。
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionCommand {
    /// media-command にメディアの処理を頼む。
    ProcessMedia {
        /// メディア ID。
        media_id: MediaId,
        /// 学習用: 処理を失敗させる。
        inject_fault: bool,
    },
    /// album にデフォルトアルバムへの追加を頼む (なければ作る)。
    AddToDefaultAlbum {
        /// メディア ID。
        media_id: MediaId,
        /// 所有者 (デフォルトアルバムの持ち主)。
        owner_id: UserId,
        /// 学習用: 追加を失敗させる。
        inject_fault: bool,
    },
    /// notification に通知を頼む。
    Notify {
        /// 通知 ID (Saga から決定的に導出)。
        notification_id: NotificationId,
        /// 宛先。
        user_id: UserId,
        /// 種類。
        kind: NotificationKind,
        /// 本文。
        message: String,
        /// 関係するメディア。
        media_id: MediaId,
        /// 学習用: 通知を失敗させる。
        inject_fault: bool,
    },
    /// 補償: media-command にアップロードされたファイルの削除を頼む。
    DeleteUploadedFile {
        /// メディア ID。
        media_id: MediaId,
    },
    /// 補償: media-command にメディアの無効化を頼む。
    InvalidateMedia {
        /// メディア ID。
        media_id: MediaId,
        /// 理由。
        reason: String,
    },
}

/// Saga が次に行うべき行動 1 件。
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaAction {
    /// どの Saga の行動か。
    pub saga_id: SagaId,
    /// ステップ。
    pub step: SagaStep,
    /// 何回目の試行か (1 始まり)。
    pub attempt: u32,
    /// 行う前に待つ時間 (再試行のバックオフ)。
    pub delay: Duration,
    /// この試行の締め切り。過ぎたら失敗として扱います。
    pub deadline: Duration,
    /// 依頼の中身。
    pub command: ActionCommand,
}

impl SagaAction {
    /// 冪等性キー: Saga ID とステップから決まり、再試行しても変わりません。
    #[must_use]
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.saga_id, self.step)
    }
}
