//! Saga のステップ・状態・障害注入点。

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Saga のステップ。前進ステップ 3 つと補償ステップ 2 つです。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaStep {
    /// media-command にサムネイルとメタデータの生成を頼む。
    ProcessMedia,
    /// album にユーザーのデフォルトアルバムへの追加を頼む (なければ作る)。
    AddToAlbum,
    /// notification に通知を頼む。再試行はするが補償はしない最後のステップ。
    Notify,
    /// 補償: アップロードされたファイルを削除する (アップロードの取り消し)。
    DeleteUploadedFile,
    /// 補償: 処理済みのメディアを無効化する (処理とアップロードの取り消し)。
    InvalidateMedia,
}

impl SagaStep {
    /// すべてのステップ。
    pub const ALL: [Self; 5] = [
        Self::ProcessMedia,
        Self::AddToAlbum,
        Self::Notify,
        Self::DeleteUploadedFile,
        Self::InvalidateMedia,
    ];

    /// API とログで使う名前 (`process_media` など)。
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ProcessMedia => "process_media",
            Self::AddToAlbum => "add_to_album",
            Self::Notify => "notify",
            Self::DeleteUploadedFile => "delete_uploaded_file",
            Self::InvalidateMedia => "invalidate_media",
        }
    }

    /// 補償ステップか。
    #[must_use]
    pub const fn is_compensation(self) -> bool {
        matches!(self, Self::DeleteUploadedFile | Self::InvalidateMedia)
    }
}

impl fmt::Display for SagaStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Saga の状態。`Completed`・`Compensated`・`Failed` が終端です。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaStatus {
    /// まだ始まっていない。
    #[default]
    NotStarted,
    /// 前進中。
    Running,
    /// 補償中。
    Compensating,
    /// 成功して終わった (終端)。
    Completed,
    /// 補償を終えた (終端)。
    Compensated,
    /// 補償すら最後まで行えなかった (終端、人手での対応が必要)。
    Failed,
}

impl SagaStatus {
    /// API で使う名前 (`running`, `compensating`, `completed`, `compensated`, `failed`)。
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::Running => "running",
            Self::Compensating => "compensating",
            Self::Completed => "completed",
            Self::Compensated => "compensated",
            Self::Failed => "failed",
        }
    }

    /// 終端状態か。
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Compensated | Self::Failed)
    }
}

/// 学習用の障害注入点 (開発時のみ。アップロード時に `X-Fault-Inject` で指定します)。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultPoint {
    /// 処理ステップを失敗させる (補償: ファイル削除)。
    Process,
    /// アルバム追加ステップを再試行の上限まで失敗させる (補償: 無効化)。
    Album,
    /// 通知ステップを最初の 2 回だけ失敗させる (再試行で回復)。
    Notification,
}

impl FaultPoint {
    /// ヘッダーやメタデータで使う名前 (`process`, `album`, `notification`)。
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Process => "process",
            Self::Album => "album",
            Self::Notification => "notification",
        }
    }
}

/// 障害注入点の名前が不正だったときのエラー。
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("障害注入点は process / album / notification のいずれかです: {0}")]
pub struct UnknownFaultPoint(pub String);

impl FromStr for FaultPoint {
    type Err = UnknownFaultPoint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "process" => Ok(Self::Process),
            "album" => Ok(Self::Album),
            "notification" => Ok(Self::Notification),
            _ => Err(UnknownFaultPoint(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_are_snake_case_and_only_two_are_compensations() {
        let names: Vec<String> = SagaStep::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "process_media",
                "add_to_album",
                "notify",
                "delete_uploaded_file",
                "invalidate_media"
            ]
        );
        let compensations = SagaStep::ALL.iter().filter(|s| s.is_compensation()).count();
        assert_eq!(compensations, 2);
    }

    #[test]
    fn only_completed_compensated_and_failed_are_terminal() {
        let terminal: Vec<&str> = [
            SagaStatus::NotStarted,
            SagaStatus::Running,
            SagaStatus::Compensating,
            SagaStatus::Completed,
            SagaStatus::Compensated,
            SagaStatus::Failed,
        ]
        .into_iter()
        .filter(|s| s.is_terminal())
        .map(SagaStatus::as_str)
        .collect();
        assert_eq!(terminal, ["completed", "compensated", "failed"]);
        assert_eq!(SagaStatus::NotStarted.as_str(), "not_started");
        assert_eq!(SagaStatus::Running.as_str(), "running");
        assert_eq!(SagaStatus::Compensating.as_str(), "compensating");
    }

    #[test]
    fn fault_point_parses_case_insensitively_and_rejects_unknown() {
        assert_eq!("Album".parse(), Ok(FaultPoint::Album));
        assert_eq!(" process ".parse(), Ok(FaultPoint::Process));
        assert_eq!("notification".parse(), Ok(FaultPoint::Notification));
        assert_eq!(
            "disk".parse::<FaultPoint>(),
            Err(UnknownFaultPoint("disk".into()))
        );
        for point in [
            FaultPoint::Process,
            FaultPoint::Album,
            FaultPoint::Notification,
        ] {
            assert_eq!(point.as_str().parse(), Ok(point));
        }
    }
}
