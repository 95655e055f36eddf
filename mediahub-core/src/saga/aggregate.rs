//! メディアアップロード Saga の集約と、その純粋な判断関数。

use std::time::Duration;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use super::action::{ActionCommand, SagaAction};
use super::input::SagaInput;
use super::policy::SagaPolicy;
use super::step::{FaultPoint, SagaStatus, SagaStep};
use crate::ids::{MediaId, NotificationId, SagaId, UserId};
use crate::notification::NotificationKind;

/// 障害注入で通知ステップを失敗させる回数 (この回数だけ失敗し、次で回復します)。
pub const NOTIFICATION_FAULT_ATTEMPTS: u32 = 2;

/// Saga 集約のイベント。Saga の経過 (タイムライン) そのものです。
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SagaEvent {
    /// Saga が始まった。
    SagaStarted {
        /// Saga の ID。
        saga_id: SagaId,
        /// 対象のメディア。
        media_id: MediaId,
        /// 所有者。
        owner_id: UserId,
        /// 表示用ファイル名。
        filename: String,
        /// 学習用の障害注入点。
        fault: Option<FaultPoint>,
        /// 学習用のスローモーション: 各ステップの前に置く間 (ミリ秒、0 なら無し)。
        /// 0 のときは保存しないので、以前のイベントと形が同じです。
        #[serde(default, skip_serializing_if = "is_zero")]
        pace_ms: u64,
    },
    /// ステップの試行を始めた。
    SagaStepStarted {
        /// ステップ。
        step: SagaStep,
        /// 何回目の試行か。
        attempt: u32,
        /// 依頼を送る前に待つ時間 (ミリ秒。再試行のバックオフ + スローモーションの間)。
        /// 「次の試行の予定時刻」= このイベントの時刻 + `delay_ms` です。0 のときは保存しません。
        #[serde(default, skip_serializing_if = "is_zero")]
        delay_ms: u64,
    },
    /// ステップが成功した。
    SagaStepSucceeded {
        /// ステップ。
        step: SagaStep,
        /// 成功した試行。
        attempt: u32,
    },
    /// ステップの試行が失敗した。
    SagaStepFailed {
        /// ステップ。
        step: SagaStep,
        /// 失敗した試行。
        attempt: u32,
        /// 理由。
        reason: String,
        /// 再試行するか。
        will_retry: bool,
    },
    /// 補償を始めた。
    SagaCompensationStarted {
        /// 失敗した前進ステップ。
        failed_step: SagaStep,
        /// 理由。
        reason: String,
        /// 行う補償ステップ (成功済みステップの逆順)。
        plan: Vec<SagaStep>,
    },
    /// 成功して終わった。
    SagaCompleted {
        /// 通知だけは届けられなかったか。
        notification_failed: bool,
    },
    /// 補償を終えた。
    SagaCompensated {
        /// 失敗の通知を届けられなかったか。
        notification_failed: bool,
    },
    /// 補償を最後まで行えなかった。
    SagaFailed {
        /// 理由。
        reason: String,
    },
}

impl SagaEvent {
    /// 終端イベント (`SagaCompleted`・`SagaCompensated`・`SagaFailed`) か。
    #[must_use]
    pub const fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::SagaCompleted { .. } | Self::SagaCompensated { .. } | Self::SagaFailed { .. }
        )
    }
}

impl DomainEvent for SagaEvent {
    fn event_type(&self) -> String {
        match self {
            Self::SagaStarted { .. } => "SagaStarted",
            Self::SagaStepStarted { .. } => "SagaStepStarted",
            Self::SagaStepSucceeded { .. } => "SagaStepSucceeded",
            Self::SagaStepFailed { .. } => "SagaStepFailed",
            Self::SagaCompensationStarted { .. } => "SagaCompensationStarted",
            Self::SagaCompleted { .. } => "SagaCompleted",
            Self::SagaCompensated { .. } => "SagaCompensated",
            Self::SagaFailed { .. } => "SagaFailed",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde の skip_serializing_if は参照を渡す
const fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// `step` の `attempt` 回目の依頼を送る前に待つ時間: 再試行のバックオフ + スローモーションの間。
fn step_delay(policy: &SagaPolicy, pace_ms: u64, step: SagaStep, attempt: u32) -> Duration {
    policy.retry_for(step).backoff_before(attempt) + Duration::from_millis(pace_ms)
}

/// 期間をミリ秒にします (`u64` に収まらなければ上限)。
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Saga 集約へのコマンド。
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SagaCommand {
    /// 入力 1 件に反応する。
    React(SagaInput),
}

/// Saga 集約のエラー。Saga は入力を拒否せず無視するので、実際には起きません。
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Saga の入力を処理できません: {0}")]
pub struct SagaError(pub String);

/// 実行中の試行。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    /// ステップ。
    pub step: SagaStep,
    /// 何回目の試行か。
    pub attempt: u32,
}

/// 判断の結果: 記録すべきイベントと、次に行うべき行動。
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reaction {
    /// 記録すべきイベント (空なら入力は無視された)。
    pub events: Vec<SagaEvent>,
    /// 次に行うべき行動 (あれば)。
    pub action: Option<SagaAction>,
}

/// メディアアップロード Saga の状態。
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaUploadSaga {
    id: Option<SagaId>,
    media_id: Option<MediaId>,
    owner_id: Option<UserId>,
    filename: String,
    fault: Option<FaultPoint>,
    #[serde(default)]
    pace_ms: u64,
    status: SagaStatus,
    in_flight: Option<InFlight>,
    succeeded: Vec<SagaStep>,
    remaining_compensations: Vec<SagaStep>,
    failure: Option<String>,
}

impl MediaUploadSaga {
    /// Saga ID (開始前は `None`)。
    #[must_use]
    pub const fn id(&self) -> Option<SagaId> {
        self.id
    }

    /// 対象のメディア。
    #[must_use]
    pub const fn media_id(&self) -> Option<MediaId> {
        self.media_id
    }

    /// 所有者。
    #[must_use]
    pub const fn owner_id(&self) -> Option<UserId> {
        self.owner_id
    }

    /// 現在の状態。
    #[must_use]
    pub const fn status(&self) -> SagaStatus {
        self.status
    }

    /// 実行中の試行。
    #[must_use]
    pub const fn in_flight(&self) -> Option<InFlight> {
        self.in_flight
    }

    /// 成功したステップ (成功順)。
    #[must_use]
    pub fn succeeded_steps(&self) -> &[SagaStep] {
        &self.succeeded
    }

    /// 補償の理由となった失敗。
    #[must_use]
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// 純粋な判断関数: 現在の状態と入力 1 件から、記録すべきイベントと次の行動を決めます。
    ///
    /// 終端状態の Saga、無関係な入力、古い (遅れて届いた・重複した) 入力は無視され、
    /// 空の [`Reaction`] が返ります。
    #[must_use]
    pub fn react(&self, input: &SagaInput, policy: &SagaPolicy) -> Reaction {
        let events = self.decide(input, policy);
        let mut after = self.clone();
        for event in &events {
            after.apply(event.clone());
        }
        let started_new_attempt = events
            .iter()
            .any(|e| matches!(e, SagaEvent::SagaStepStarted { .. }));
        let action = started_new_attempt
            .then(|| after.in_flight_action(policy))
            .flatten();
        Reaction { events, action }
    }

    /// 実行中の試行に対応する行動を返します。再起動後に「途中のステップをもう一度動かす」ため
    /// にも使います (受け手は冪等なので、やり直しても二重には実行されません)。
    #[must_use]
    pub fn in_flight_action(&self, policy: &SagaPolicy) -> Option<SagaAction> {
        let InFlight { step, attempt } = self.in_flight?;
        let (saga_id, media_id, owner_id) = (self.id?, self.media_id?, self.owner_id?);
        let command = match step {
            SagaStep::ProcessMedia => ActionCommand::ProcessMedia {
                media_id,
                inject_fault: self.fault == Some(FaultPoint::Process),
            },
            SagaStep::AddToAlbum => ActionCommand::AddToDefaultAlbum {
                media_id,
                owner_id,
                inject_fault: self.fault == Some(FaultPoint::Album),
            },
            SagaStep::Notify => {
                let (kind, purpose, message) = if self.status == SagaStatus::Compensating {
                    let reason = self.failure.as_deref().unwrap_or("不明なエラー");
                    (
                        NotificationKind::UploadFailed,
                        "failed",
                        format!(
                            "「{}」のアップロードは失敗し、取り消されました: {reason}",
                            self.filename
                        ),
                    )
                } else {
                    (
                        NotificationKind::UploadCompleted,
                        "completed",
                        format!("「{}」のアップロードが完了しました", self.filename),
                    )
                };
                ActionCommand::Notify {
                    notification_id: NotificationId::for_saga(saga_id, purpose),
                    user_id: owner_id,
                    kind,
                    message,
                    media_id,
                    inject_fault: self.fault == Some(FaultPoint::Notification)
                        && attempt <= NOTIFICATION_FAULT_ATTEMPTS,
                }
            }
            SagaStep::DeleteUploadedFile => ActionCommand::DeleteUploadedFile { media_id },
            SagaStep::InvalidateMedia => ActionCommand::InvalidateMedia {
                media_id,
                reason: self.failure.clone().unwrap_or_default(),
            },
        };
        Some(SagaAction {
            saga_id,
            step,
            attempt,
            delay: step_delay(policy, self.pace_ms, step, attempt),
            deadline: policy.deadline_for(step),
            command,
        })
    }

    /// 前進ステップが失敗したときの補償計画: 成功済みのステップを逆順にたどり、
    /// それぞれの補償を並べます。
    ///
    /// - 処理 (`ProcessMedia`) の補償は無効化 (`InvalidateMedia`)。無効化はメディアを
    ///   使えなくするのでアップロードの取り消しも兼ね、そこで計画は終わります。
    /// - アップロード (Saga の開始前に必ず成功している) の補償はファイル削除
    ///   (`DeleteUploadedFile`)。
    #[must_use]
    pub fn compensation_plan(&self) -> Vec<SagaStep> {
        if self.succeeded.contains(&SagaStep::ProcessMedia) {
            vec![SagaStep::InvalidateMedia]
        } else {
            vec![SagaStep::DeleteUploadedFile]
        }
    }

    fn is_in_flight(&self, step: SagaStep) -> Option<u32> {
        self.in_flight.filter(|f| f.step == step).map(|f| f.attempt)
    }

    fn decide(&self, input: &SagaInput, policy: &SagaPolicy) -> Vec<SagaEvent> {
        if self.status.is_terminal() {
            return Vec::new();
        }
        if let SagaInput::MediaUploaded {
            media_id,
            owner_id,
            filename,
            fault,
            pace_ms,
        } = input
        {
            if self.status != SagaStatus::NotStarted {
                return Vec::new();
            }
            return vec![
                SagaEvent::SagaStarted {
                    saga_id: SagaId::for_media(*media_id),
                    media_id: *media_id,
                    owner_id: *owner_id,
                    filename: filename.clone(),
                    fault: *fault,
                    pace_ms: *pace_ms,
                },
                SagaEvent::SagaStepStarted {
                    step: SagaStep::ProcessMedia,
                    attempt: 1,
                    delay_ms: millis(step_delay(policy, *pace_ms, SagaStep::ProcessMedia, 1)),
                },
            ];
        }
        match input {
            SagaInput::MediaProcessed => self.succeed(SagaStep::ProcessMedia, policy),
            SagaInput::MediaAddedToAlbum => self.succeed(SagaStep::AddToAlbum, policy),
            SagaInput::NotificationSent => self.succeed(SagaStep::Notify, policy),
            SagaInput::MediaDeleted => self.succeed(SagaStep::DeleteUploadedFile, policy),
            SagaInput::MediaInvalidated => self.succeed(SagaStep::InvalidateMedia, policy),
            SagaInput::MediaProcessingFailed { reason } => self
                .is_in_flight(SagaStep::ProcessMedia)
                .map(|attempt| self.give_up(SagaStep::ProcessMedia, attempt, reason, policy))
                .unwrap_or_default(),
            SagaInput::StepAttemptFailed {
                step,
                attempt,
                reason,
                retriable,
                elapsed,
            } => {
                if self.is_in_flight(*step) != Some(*attempt) {
                    return Vec::new();
                }
                // 学習用に注入した障害 (毎回失敗する) は回数だけで諦める。期限まで待つのは、
                // 治る見込みのある本物の一時的な失敗 (再起動中のコンテナなど) だけ。
                let may_retry = if self.fault_persists_in(*step) {
                    policy.retry_for(*step).allows_retry_after(*attempt)
                } else {
                    policy.allows_retry(*step, *attempt, *elapsed)
                };
                if *retriable && may_retry {
                    vec![
                        SagaEvent::SagaStepFailed {
                            step: *step,
                            attempt: *attempt,
                            reason: reason.clone(),
                            will_retry: true,
                        },
                        self.start_step(*step, attempt + 1, policy),
                    ]
                } else {
                    self.give_up(*step, *attempt, reason, policy)
                }
            }
            SagaInput::MediaUploaded { .. } => Vec::new(),
        }
    }

    /// `step` の試行に、毎回失敗する障害を注入しているか (処理とアルバム追加の障害注入)。
    fn fault_persists_in(&self, step: SagaStep) -> bool {
        matches!(
            (self.fault, step),
            (Some(FaultPoint::Process), SagaStep::ProcessMedia)
                | (Some(FaultPoint::Album), SagaStep::AddToAlbum)
        )
    }

    /// `step` の `attempt` 回目の試行を始めるイベント (送る前に待つ時間つき)。
    fn start_step(&self, step: SagaStep, attempt: u32, policy: &SagaPolicy) -> SagaEvent {
        SagaEvent::SagaStepStarted {
            step,
            attempt,
            delay_ms: millis(step_delay(policy, self.pace_ms, step, attempt)),
        }
    }

    fn succeed(&self, step: SagaStep, policy: &SagaPolicy) -> Vec<SagaEvent> {
        let Some(attempt) = self.is_in_flight(step) else {
            return Vec::new();
        };
        let mut events = vec![SagaEvent::SagaStepSucceeded { step, attempt }];
        let next = match step {
            SagaStep::ProcessMedia => Some(SagaStep::AddToAlbum),
            SagaStep::AddToAlbum => Some(SagaStep::Notify),
            SagaStep::Notify => None,
            SagaStep::DeleteUploadedFile | SagaStep::InvalidateMedia => Some(
                self.remaining_compensations
                    .iter()
                    .copied()
                    .find(|s| *s != step)
                    .unwrap_or(SagaStep::Notify),
            ),
        };
        match next {
            Some(step) => events.push(self.start_step(step, 1, policy)),
            None => events.push(self.terminal_after_notification(false)),
        }
        events
    }

    fn terminal_after_notification(&self, notification_failed: bool) -> SagaEvent {
        if self.status == SagaStatus::Compensating {
            SagaEvent::SagaCompensated {
                notification_failed,
            }
        } else {
            SagaEvent::SagaCompleted {
                notification_failed,
            }
        }
    }

    fn give_up(
        &self,
        step: SagaStep,
        attempt: u32,
        reason: &str,
        policy: &SagaPolicy,
    ) -> Vec<SagaEvent> {
        let mut events = vec![SagaEvent::SagaStepFailed {
            step,
            attempt,
            reason: reason.to_owned(),
            will_retry: false,
        }];
        match step {
            SagaStep::ProcessMedia | SagaStep::AddToAlbum => {
                let plan = self.compensation_plan();
                let first = plan.first().copied().unwrap_or(SagaStep::Notify);
                events.push(SagaEvent::SagaCompensationStarted {
                    failed_step: step,
                    reason: reason.to_owned(),
                    plan,
                });
                events.push(self.start_step(first, 1, policy));
            }
            SagaStep::Notify => events.push(self.terminal_after_notification(true)),
            SagaStep::DeleteUploadedFile | SagaStep::InvalidateMedia => {
                events.push(SagaEvent::SagaFailed {
                    reason: format!("補償 {step} を完了できませんでした: {reason}"),
                });
            }
        }
        events
    }
}

impl Aggregate for MediaUploadSaga {
    const TYPE: &'static str = "Saga";
    type Command = SagaCommand;
    type Event = SagaEvent;
    type Error = SagaError;
    type Services = SagaPolicy;

    async fn handle(
        &mut self,
        command: Self::Command,
        policy: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let SagaCommand::React(input) = command;
        for event in self.decide(&input, policy) {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            SagaEvent::SagaStarted {
                saga_id,
                media_id,
                owner_id,
                filename,
                fault,
                pace_ms,
            } => {
                self.id = Some(saga_id);
                self.media_id = Some(media_id);
                self.owner_id = Some(owner_id);
                self.filename = filename;
                self.fault = fault;
                self.pace_ms = pace_ms;
                self.status = SagaStatus::Running;
            }
            SagaEvent::SagaStepStarted { step, attempt, .. } => {
                self.in_flight = Some(InFlight { step, attempt });
            }
            SagaEvent::SagaStepSucceeded { step, .. } => {
                self.in_flight = None;
                self.succeeded.push(step);
                self.remaining_compensations.retain(|s| *s != step);
            }
            SagaEvent::SagaStepFailed { will_retry, .. } => {
                if !will_retry {
                    self.in_flight = None;
                }
            }
            SagaEvent::SagaCompensationStarted { reason, plan, .. } => {
                self.status = SagaStatus::Compensating;
                self.failure = Some(reason);
                self.remaining_compensations = plan;
            }
            SagaEvent::SagaCompleted { .. } => {
                self.status = SagaStatus::Completed;
                self.in_flight = None;
            }
            SagaEvent::SagaCompensated { .. } => {
                self.status = SagaStatus::Compensated;
                self.in_flight = None;
            }
            SagaEvent::SagaFailed { reason } => {
                self.status = SagaStatus::Failed;
                self.failure = Some(reason);
                self.in_flight = None;
            }
        }
    }
}
