//! Saga のシナリオテストと性質テスト (I/O なし)。

use std::time::Duration;

use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use proptest::prelude::*;

use super::*;
use crate::ids::{MediaId, NotificationId, SagaId, UserId};
use crate::notification::NotificationKind;

/// 再試行の期限 (既定 30 秒) を確実に過ぎた経過時間。
const PAST_RETRY_DEADLINE: Duration = Duration::from_secs(3600);

/// 入力を順に与え、記録されたイベントと行動を集める小さな実行器。
struct Run {
    saga: MediaUploadSaga,
    policy: SagaPolicy,
    events: Vec<SagaEvent>,
    actions: Vec<SagaAction>,
}

impl Run {
    fn new() -> Self {
        Self {
            saga: MediaUploadSaga::default(),
            policy: SagaPolicy::default(),
            events: Vec::new(),
            actions: Vec::new(),
        }
    }

    fn feed(&mut self, input: &SagaInput) -> Reaction {
        let reaction = self.saga.react(input, &self.policy);
        for event in &reaction.events {
            self.saga.apply(event.clone());
            self.events.push(event.clone());
        }
        if let Some(action) = &reaction.action {
            self.actions.push(action.clone());
        }
        reaction
    }

    /// 再試行の期限を過ぎてからの失敗 (回数だけで再試行が決まる)。
    fn fail(&mut self, step: SagaStep, attempt: u32, retriable: bool) -> Reaction {
        self.fail_after(step, attempt, retriable, PAST_RETRY_DEADLINE)
    }

    /// ステップを始めて `elapsed` 経ってからの失敗。
    fn fail_after(
        &mut self,
        step: SagaStep,
        attempt: u32,
        retriable: bool,
        elapsed: Duration,
    ) -> Reaction {
        self.feed(&SagaInput::StepAttemptFailed {
            step,
            attempt,
            reason: "503 Service Unavailable".into(),
            retriable,
            elapsed,
        })
    }

    fn last_action(&self) -> &SagaAction {
        self.actions
            .last()
            .unwrap_or_else(|| panic!("no action yet"))
    }
}

fn media() -> (MediaId, UserId) {
    (MediaId::new_random(), UserId::new_random())
}

fn uploaded(media_id: MediaId, owner_id: UserId, fault: Option<FaultPoint>) -> SagaInput {
    SagaInput::MediaUploaded {
        media_id,
        owner_id,
        filename: "cat.jpg".into(),
        fault,
        pace_ms: 0,
    }
}

fn started(step: SagaStep, attempt: u32) -> SagaEvent {
    SagaEvent::SagaStepStarted {
        step,
        attempt,
        delay_ms: 0,
    }
}

fn succeeded(step: SagaStep, attempt: u32) -> SagaEvent {
    SagaEvent::SagaStepSucceeded { step, attempt }
}

#[test]
fn upload_then_every_step_succeeding_completes_the_saga() {
    let (media_id, owner) = media();
    let saga_id = SagaId::for_media(media_id);
    let mut run = Run::new();

    let r = run.feed(&uploaded(media_id, owner, None));
    assert_eq!(
        r.action.map(|a| a.command),
        Some(ActionCommand::ProcessMedia {
            media_id,
            inject_fault: false
        })
    );
    let r = run.feed(&SagaInput::MediaProcessed);
    assert_eq!(
        r.action.map(|a| a.command),
        Some(ActionCommand::AddToDefaultAlbum {
            media_id,
            owner_id: owner,
            inject_fault: false
        })
    );
    let r = run.feed(&SagaInput::MediaAddedToAlbum);
    assert_eq!(
        r.action.map(|a| a.command),
        Some(ActionCommand::Notify {
            notification_id: NotificationId::for_saga(saga_id, "completed"),
            user_id: owner,
            kind: NotificationKind::UploadCompleted,
            message: "「cat.jpg」のアップロードが完了しました".into(),
            media_id,
            inject_fault: false,
        })
    );
    let r = run.feed(&SagaInput::NotificationSent);
    assert_eq!(r.action, None);

    assert_eq!(
        run.events,
        vec![
            SagaEvent::SagaStarted {
                saga_id,
                media_id,
                owner_id: owner,
                filename: "cat.jpg".into(),
                fault: None,
                pace_ms: 0,
            },
            started(SagaStep::ProcessMedia, 1),
            succeeded(SagaStep::ProcessMedia, 1),
            started(SagaStep::AddToAlbum, 1),
            succeeded(SagaStep::AddToAlbum, 1),
            started(SagaStep::Notify, 1),
            succeeded(SagaStep::Notify, 1),
            SagaEvent::SagaCompleted {
                notification_failed: false
            },
        ]
    );
    assert_eq!(run.saga.status(), SagaStatus::Completed);
    assert_eq!(run.saga.id(), Some(saga_id));
    assert_eq!(run.saga.media_id(), Some(media_id));
    assert_eq!(run.saga.owner_id(), Some(owner));
    assert_eq!(
        run.saga.succeeded_steps(),
        [
            SagaStep::ProcessMedia,
            SagaStep::AddToAlbum,
            SagaStep::Notify
        ]
    );
}

#[test]
fn processing_failure_deletes_the_upload_notifies_and_ends_compensated() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, None));
    let r = run.feed(&SagaInput::MediaProcessingFailed {
        reason: "JPEG が壊れています".into(),
    });
    assert_eq!(
        r.action.map(|a| a.command),
        Some(ActionCommand::DeleteUploadedFile { media_id })
    );
    assert_eq!(run.saga.status(), SagaStatus::Compensating);
    assert_eq!(run.saga.failure(), Some("JPEG が壊れています"));

    let r = run.feed(&SagaInput::MediaDeleted);
    let Some(ActionCommand::Notify { kind, message, .. }) = r.action.map(|a| a.command) else {
        panic!("expected a failure notification");
    };
    assert_eq!(kind, NotificationKind::UploadFailed);
    assert!(message.contains("JPEG が壊れています"));
    run.feed(&SagaInput::NotificationSent);

    assert_eq!(
        run.events[2..],
        [
            SagaEvent::SagaStepFailed {
                step: SagaStep::ProcessMedia,
                attempt: 1,
                reason: "JPEG が壊れています".into(),
                will_retry: false
            },
            SagaEvent::SagaCompensationStarted {
                failed_step: SagaStep::ProcessMedia,
                reason: "JPEG が壊れています".into(),
                plan: vec![SagaStep::DeleteUploadedFile]
            },
            started(SagaStep::DeleteUploadedFile, 1),
            succeeded(SagaStep::DeleteUploadedFile, 1),
            started(SagaStep::Notify, 1),
            succeeded(SagaStep::Notify, 1),
            SagaEvent::SagaCompensated {
                notification_failed: false
            },
        ]
    );
    assert_eq!(run.saga.status(), SagaStatus::Compensated);
}

#[test]
fn album_failing_all_three_attempts_invalidates_media_and_ends_compensated() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, Some(FaultPoint::Album)));
    let r = run.feed(&SagaInput::MediaProcessed);
    assert!(matches!(
        r.action.map(|a| a.command),
        Some(ActionCommand::AddToDefaultAlbum {
            inject_fault: true,
            ..
        })
    ));

    let r2 = run.fail(SagaStep::AddToAlbum, 1, true);
    let a2 = r2.action.unwrap_or_else(|| panic!("retry expected"));
    assert_eq!((a2.attempt, a2.delay), (2, Duration::from_millis(50)));
    let r3 = run.fail(SagaStep::AddToAlbum, 2, true);
    let a3 = r3.action.unwrap_or_else(|| panic!("retry expected"));
    assert_eq!((a3.attempt, a3.delay), (3, Duration::from_millis(100)));
    let r = run.fail(SagaStep::AddToAlbum, 3, true);
    assert_eq!(
        r.action.map(|a| a.command),
        Some(ActionCommand::InvalidateMedia {
            media_id,
            reason: "503 Service Unavailable".into()
        })
    );
    assert!(r.events.contains(&SagaEvent::SagaCompensationStarted {
        failed_step: SagaStep::AddToAlbum,
        reason: "503 Service Unavailable".into(),
        plan: vec![SagaStep::InvalidateMedia],
    }));

    run.feed(&SagaInput::MediaInvalidated);
    run.feed(&SagaInput::NotificationSent);
    assert_eq!(run.saga.status(), SagaStatus::Compensated);
    let compensations: Vec<SagaStep> = run
        .actions
        .iter()
        .map(|a| a.step)
        .filter(|s| s.is_compensation())
        .collect();
    assert_eq!(compensations, [SagaStep::InvalidateMedia]);
}

#[test]
fn album_transient_failure_past_max_attempts_but_within_retry_deadline_is_retried() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, None));
    run.feed(&SagaInput::MediaProcessed);
    let max = run.policy.album.max_attempts;
    for attempt in 1..=max + 5 {
        let r = run.fail_after(SagaStep::AddToAlbum, attempt, true, Duration::from_secs(3));
        assert_eq!(
            r.action.map(|a| (a.step, a.attempt)),
            Some((SagaStep::AddToAlbum, attempt + 1)),
            "3 秒の停止では諦めない"
        );
    }
    run.feed(&SagaInput::MediaAddedToAlbum);
    run.feed(&SagaInput::NotificationSent);
    assert_eq!(run.saga.status(), SagaStatus::Completed);
}

#[test]
fn album_transient_failure_past_max_attempts_and_past_retry_deadline_compensates() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, None));
    run.feed(&SagaInput::MediaProcessed);
    let max = run.policy.album.max_attempts;
    let beyond = run.policy.retry_deadline + Duration::from_millis(1);
    for attempt in 1..max {
        run.fail_after(SagaStep::AddToAlbum, attempt, true, beyond);
    }
    let r = run.fail_after(SagaStep::AddToAlbum, max, true, beyond);
    assert_eq!(r.action.map(|a| a.step), Some(SagaStep::InvalidateMedia));
}

#[test]
fn album_business_failure_within_retry_deadline_compensates_at_once() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, None));
    run.feed(&SagaInput::MediaProcessed);
    let r = run.fail_after(SagaStep::AddToAlbum, 1, false, Duration::ZERO);
    assert_eq!(r.action.map(|a| a.step), Some(SagaStep::InvalidateMedia));
}

#[test]
fn injected_album_fault_gives_up_after_max_attempts_even_within_retry_deadline() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, Some(FaultPoint::Album)));
    run.feed(&SagaInput::MediaProcessed);
    let max = run.policy.album.max_attempts;
    for attempt in 1..max {
        run.fail_after(SagaStep::AddToAlbum, attempt, true, Duration::ZERO);
    }
    let r = run.fail_after(SagaStep::AddToAlbum, max, true, Duration::ZERO);
    assert_eq!(r.action.map(|a| a.step), Some(SagaStep::InvalidateMedia));
}

#[test]
fn album_non_retriable_failure_compensates_without_retrying() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, None));
    run.feed(&SagaInput::MediaProcessed);
    let r = run.fail(SagaStep::AddToAlbum, 1, false);
    assert_eq!(r.action.map(|a| a.step), Some(SagaStep::InvalidateMedia));
}

#[test]
fn notification_fault_fails_two_attempts_then_third_is_clean_and_saga_completes() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, Some(FaultPoint::Notification)));
    run.feed(&SagaInput::MediaProcessed);
    run.feed(&SagaInput::MediaAddedToAlbum);
    let inject = |a: &SagaAction| {
        matches!(
            a.command,
            ActionCommand::Notify {
                inject_fault: true,
                ..
            }
        )
    };
    assert!(inject(run.last_action()));
    run.fail(SagaStep::Notify, 1, true);
    assert!(inject(run.last_action()));
    run.fail(SagaStep::Notify, 2, true);
    assert_eq!(run.last_action().attempt, 3);
    assert!(!inject(run.last_action()));
    run.feed(&SagaInput::NotificationSent);
    assert_eq!(
        run.events.last(),
        Some(&SagaEvent::SagaCompleted {
            notification_failed: false
        })
    );
}

#[test]
fn notification_exhausting_its_attempts_completes_with_failure_recorded_and_no_compensation() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, None));
    run.feed(&SagaInput::MediaProcessed);
    run.feed(&SagaInput::MediaAddedToAlbum);
    for attempt in 1..=5 {
        run.fail(SagaStep::Notify, attempt, true);
    }
    assert_eq!(
        run.events.last(),
        Some(&SagaEvent::SagaCompleted {
            notification_failed: true
        })
    );
    assert!(run.actions.iter().all(|a| !a.step.is_compensation()));
}

#[test]
fn failure_notification_exhausting_attempts_still_ends_compensated() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, None));
    run.feed(&SagaInput::MediaProcessingFailed { reason: "x".into() });
    run.feed(&SagaInput::MediaDeleted);
    run.fail(SagaStep::Notify, 1, false);
    assert_eq!(
        run.events.last(),
        Some(&SagaEvent::SagaCompensated {
            notification_failed: true
        })
    );
}

#[test]
fn compensation_exhausting_its_attempts_ends_failed() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, None));
    run.feed(&SagaInput::MediaProcessingFailed { reason: "x".into() });
    for attempt in 1..=10 {
        run.fail(SagaStep::DeleteUploadedFile, attempt, true);
    }
    assert_eq!(run.saga.status(), SagaStatus::Failed);
    assert!(matches!(
        run.events.last(),
        Some(SagaEvent::SagaFailed { .. })
    ));
    assert!(run.feed(&SagaInput::MediaDeleted).events.is_empty());
}

#[test]
fn process_fault_is_carried_to_the_process_action() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    let r = run.feed(&uploaded(media_id, owner, Some(FaultPoint::Process)));
    assert_eq!(
        r.action.map(|a| a.command),
        Some(ActionCommand::ProcessMedia {
            media_id,
            inject_fault: true
        })
    );
}

#[test]
fn redelivered_media_uploaded_starts_no_second_saga() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, None));
    let again = run.feed(&uploaded(media_id, owner, None));
    assert_eq!(again, Reaction::default());
}

#[test]
fn inputs_before_start_and_after_terminal_are_ignored() {
    let mut run = Run::new();
    assert!(run.feed(&SagaInput::MediaProcessed).events.is_empty());
    let (media_id, owner) = media();
    run.feed(&uploaded(media_id, owner, None));
    run.feed(&SagaInput::MediaProcessed);
    run.feed(&SagaInput::MediaAddedToAlbum);
    run.feed(&SagaInput::NotificationSent);
    for input in [
        SagaInput::MediaProcessingFailed {
            reason: "late".into(),
        },
        SagaInput::MediaDeleted,
        SagaInput::NotificationSent,
        uploaded(media_id, owner, None),
    ] {
        assert_eq!(run.feed(&input), Reaction::default(), "{input:?}");
    }
}

#[test]
fn stale_or_duplicated_attempt_failure_is_ignored() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, None));
    run.fail(SagaStep::ProcessMedia, 1, true);
    assert!(run.fail(SagaStep::ProcessMedia, 1, true).events.is_empty());
    assert!(run.fail(SagaStep::AddToAlbum, 2, true).events.is_empty());
    assert!(run.feed(&SagaInput::MediaAddedToAlbum).events.is_empty());
}

#[test]
fn late_success_after_a_timeout_is_accepted_for_the_retried_step() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, None));
    run.fail(SagaStep::ProcessMedia, 1, true);
    let r = run.feed(&SagaInput::MediaProcessed);
    assert_eq!(
        r.events.first(),
        Some(&succeeded(SagaStep::ProcessMedia, 2))
    );
}

#[test]
fn state_rebuilt_from_events_re_drives_the_same_in_flight_action() {
    let (media_id, owner) = media();
    let mut run = Run::new();
    run.feed(&uploaded(media_id, owner, None));
    run.feed(&SagaInput::MediaProcessed);
    run.fail(SagaStep::AddToAlbum, 1, true);
    let mut rebuilt = MediaUploadSaga::default();
    for event in &run.events {
        rebuilt.apply(event.clone());
    }
    assert_eq!(rebuilt, run.saga);
    let action = rebuilt.in_flight_action(&run.policy);
    assert_eq!(action.as_ref(), Some(run.last_action()));
    assert_eq!(
        rebuilt.in_flight(),
        Some(InFlight {
            step: SagaStep::AddToAlbum,
            attempt: 2
        })
    );
    let key = action.map(|a| a.idempotency_key()).unwrap_or_default();
    assert_eq!(key, format!("{}:add_to_album", SagaId::for_media(media_id)));
}

#[test]
fn saga_aggregate_given_started_when_media_processed_then_step_succeeds_and_album_starts() {
    let (media_id, owner) = media();
    TestFramework::<MediaUploadSaga>::with(SagaPolicy::default())
        .given(vec![
            SagaEvent::SagaStarted {
                saga_id: SagaId::for_media(media_id),
                media_id,
                owner_id: owner,
                filename: "a.png".into(),
                fault: None,
                pace_ms: 0,
            },
            started(SagaStep::ProcessMedia, 1),
        ])
        .when(SagaCommand::React(SagaInput::MediaProcessed))
        .then_expect_events(vec![
            succeeded(SagaStep::ProcessMedia, 1),
            started(SagaStep::AddToAlbum, 1),
        ]);
}

#[test]
fn saga_aggregate_given_completed_when_any_input_then_no_events() {
    let (media_id, owner) = media();
    TestFramework::<MediaUploadSaga>::with(SagaPolicy::default())
        .given(vec![
            SagaEvent::SagaStarted {
                saga_id: SagaId::for_media(media_id),
                media_id,
                owner_id: owner,
                filename: "a.png".into(),
                fault: None,
                pace_ms: 0,
            },
            SagaEvent::SagaCompleted {
                notification_failed: false,
            },
        ])
        .when(SagaCommand::React(SagaInput::MediaProcessed))
        .then_expect_events(vec![]);
}

#[test]
fn saga_event_types_are_catalogued_and_terminal_ones_flagged() {
    let events = [
        (started(SagaStep::Notify, 1), "SagaStepStarted", false),
        (succeeded(SagaStep::Notify, 1), "SagaStepSucceeded", false),
        (
            SagaEvent::SagaStepFailed {
                step: SagaStep::Notify,
                attempt: 1,
                reason: "r".into(),
                will_retry: true,
            },
            "SagaStepFailed",
            false,
        ),
        (
            SagaEvent::SagaCompensationStarted {
                failed_step: SagaStep::ProcessMedia,
                reason: "r".into(),
                plan: vec![],
            },
            "SagaCompensationStarted",
            false,
        ),
        (
            SagaEvent::SagaCompleted {
                notification_failed: false,
            },
            "SagaCompleted",
            true,
        ),
        (
            SagaEvent::SagaCompensated {
                notification_failed: false,
            },
            "SagaCompensated",
            true,
        ),
        (
            SagaEvent::SagaFailed { reason: "r".into() },
            "SagaFailed",
            true,
        ),
    ];
    for (event, name, terminal) in events {
        assert_eq!(cqrs_es::DomainEvent::event_type(&event), name);
        assert_eq!(cqrs_es::DomainEvent::event_version(&event), "1.0");
        assert_eq!(event.is_terminal(), terminal);
    }
    assert!(SagaError("x".into()).to_string().contains('x'));
}

// ---------------------------------------------------------------------------
// 性質テスト: 参加者が成功・失敗をランダムに返し、イベントが重複・遅延して届いても
// Saga は必ずちょうど一つの終端状態で終わり、成功したステップだけを逆順に補償し、
// 終端後は何も頼まない。
// ---------------------------------------------------------------------------

/// 参加者の振る舞い。
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Succeed,
    FailRetriable,
    FailPermanent,
    /// 締め切りを過ぎて失敗扱いになったが、実際には遅れて成功した。
    TimeoutThenSucceed,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        4 => Just(Outcome::Succeed),
        3 => Just(Outcome::FailRetriable),
        1 => Just(Outcome::FailPermanent),
        1 => Just(Outcome::TimeoutThenSucceed),
    ]
}

fn success_input(step: SagaStep) -> SagaInput {
    match step {
        SagaStep::ProcessMedia => SagaInput::MediaProcessed,
        SagaStep::AddToAlbum => SagaInput::MediaAddedToAlbum,
        SagaStep::Notify => SagaInput::NotificationSent,
        SagaStep::DeleteUploadedFile => SagaInput::MediaDeleted,
        SagaStep::InvalidateMedia => SagaInput::MediaInvalidated,
    }
}

/// 補償ステップが取り消す前進ステップ (`None` はアップロードそのもの)。
fn compensated_by(step: SagaStep) -> Option<SagaStep> {
    match step {
        SagaStep::InvalidateMedia => Some(SagaStep::ProcessMedia),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn saga_with_random_outcomes_duplicates_and_delays_ends_in_exactly_one_terminal_state(
        outcomes in prop::collection::vec(outcome(), 0..30),
        duplicate in prop::collection::vec(any::<bool>(), 64),
        delays in prop::collection::vec(0_u32..5, 128),
        fault in prop::option::of(prop_oneof![
            Just(FaultPoint::Process), Just(FaultPoint::Album), Just(FaultPoint::Notification)
        ]),
    ) {
        let (media_id, owner) = media();
        let policy = SagaPolicy::default();
        let mut saga = MediaUploadSaga::default();
        let mut log: Vec<SagaEvent> = Vec::new();
        let mut actions: Vec<SagaAction> = Vec::new();
        // (届く時刻, 追加順, 入力)
        let mut mailbox: Vec<(u32, usize, SagaInput)> = vec![(0, 0, uploaded(media_id, owner, fault))];
        if duplicate[0] {
            mailbox.push((delays[0] + 3, 1, uploaded(media_id, owner, fault)));
        }
        let (mut seq, mut next_outcome, mut draw) = (2_usize, 0_usize, 1_usize);
        let mut take_delay = || { draw += 1; delays[draw % delays.len()] };
        let mut steps = 0;
        while !mailbox.is_empty() {
            steps += 1;
            prop_assert!(steps < 10_000, "simulation did not settle");
            mailbox.sort_by_key(|(at, s, _)| (*at, *s));
            let (now, _, input) = mailbox.remove(0);
            let was_terminal = saga.status().is_terminal();
            let reaction = saga.react(&input, &policy);
            if was_terminal {
                prop_assert!(reaction.events.is_empty() && reaction.action.is_none());
            }
            for event in &reaction.events {
                saga.apply(event.clone());
                log.push(event.clone());
            }
            let Some(action) = reaction.action else { continue };
            prop_assert!(!saga.status().is_terminal(), "asked for {action:?} after terminal");
            let outcome = outcomes.get(next_outcome).copied().unwrap_or(Outcome::Succeed);
            next_outcome += 1;
            let failed = |retriable| SagaInput::StepAttemptFailed {
                step: action.step, attempt: action.attempt, reason: "boom".into(), retriable,
                elapsed: PAST_RETRY_DEADLINE,
            };
            let mut responses = match outcome {
                Outcome::Succeed => vec![(take_delay(), success_input(action.step))],
                Outcome::FailRetriable => vec![(take_delay(), failed(true))],
                Outcome::FailPermanent if action.step == SagaStep::ProcessMedia => vec![(
                    take_delay(),
                    SagaInput::MediaProcessingFailed { reason: "corrupt".into() },
                )],
                Outcome::FailPermanent => vec![(take_delay(), failed(false))],
                Outcome::TimeoutThenSucceed => vec![
                    (0, failed(true)),
                    (take_delay() + 2, success_input(action.step)),
                ],
            };
            if duplicate[seq % duplicate.len()] {
                let (delay, input) = responses[0].clone();
                responses.push((delay + take_delay(), input));
            }
            for (delay, input) in responses {
                seq += 1;
                mailbox.push((now + 1 + delay, seq, input));
            }
            actions.push(action);
        }

        // ちょうど一つの終端イベントで終わる。
        let terminals = log.iter().filter(|e| e.is_terminal()).count();
        prop_assert_eq!(terminals, 1);
        prop_assert!(log.last().is_some_and(SagaEvent::is_terminal));
        prop_assert!(saga.status().is_terminal());

        // 補償は成功した前進ステップだけを、その成功の逆順に取り消す。
        let forward_successes: Vec<SagaStep> = log.iter().filter_map(|e| match e {
            SagaEvent::SagaStepSucceeded { step, .. } if !step.is_compensation() => Some(*step),
            _ => None,
        }).collect();
        let mut compensation_steps: Vec<SagaStep> =
            actions.iter().map(|a| a.step).filter(|s| s.is_compensation()).collect();
        compensation_steps.dedup();
        let mut last_position = usize::MAX;
        for step in &compensation_steps {
            let position = match compensated_by(*step) {
                Some(forward) => forward_successes.iter().position(|s| *s == forward),
                None => Some(0), // アップロードは Saga の開始前に必ず成功している
            };
            prop_assert!(position.is_some(), "compensated {step:?} whose step never succeeded");
            let position = position.unwrap_or_default();
            prop_assert!(position <= last_position, "compensations out of reverse order");
            last_position = position;
        }
        let compensation_started = log.iter().filter(|e| matches!(e, SagaEvent::SagaCompensationStarted { .. })).count();
        match saga.status() {
            SagaStatus::Completed => prop_assert_eq!(compensation_started, 0),
            SagaStatus::Compensated | SagaStatus::Failed => prop_assert_eq!(compensation_started, 1),
            other => prop_assert!(false, "non-terminal end state {other:?}"),
        }
        // 通知は補償されない: 通知の成功後に補償が始まることはない。
        if let Some(notified) = log.iter().position(|e| matches!(e, SagaEvent::SagaStepSucceeded { step: SagaStep::Notify, .. })) {
            let compensated_after_notify = log[notified..]
                .iter()
                .any(|e| matches!(e, SagaEvent::SagaCompensationStarted { .. }));
            prop_assert!(!compensated_after_notify, "compensation after notification");
        }
    }
}

#[test]
fn upload_with_pace_1500_ms_starts_every_step_1500_ms_later_and_action_waits_the_same() {
    let (media_id, owner_id) = media();
    let mut run = Run::new();
    run.feed(&SagaInput::MediaUploaded {
        media_id,
        owner_id,
        filename: "cat.jpg".into(),
        fault: None,
        pace_ms: 1500,
    });
    run.feed(&SagaInput::MediaProcessed);
    // アルバム追加の 1 回目が一時的に失敗 → 2 回目はバックオフ + 1500 ms 後
    run.fail_after(SagaStep::AddToAlbum, 1, true, Duration::ZERO);
    run.feed(&SagaInput::MediaAddedToAlbum);
    run.feed(&SagaInput::NotificationSent);

    let delays: Vec<(SagaStep, u32, u64)> = run
        .events
        .iter()
        .filter_map(|e| match e {
            SagaEvent::SagaStepStarted {
                step,
                attempt,
                delay_ms,
            } => Some((*step, *attempt, *delay_ms)),
            _ => None,
        })
        .collect();
    let backoff = |step: SagaStep, attempt| {
        u64::try_from(
            run.policy
                .retry_for(step)
                .backoff_before(attempt)
                .as_millis(),
        )
        .unwrap_or_default()
    };
    assert_eq!(
        delays,
        vec![
            (SagaStep::ProcessMedia, 1, 1500),
            (SagaStep::AddToAlbum, 1, 1500),
            (
                SagaStep::AddToAlbum,
                2,
                1500 + backoff(SagaStep::AddToAlbum, 2)
            ),
            (SagaStep::Notify, 1, 1500),
        ]
    );
    let action_delays: Vec<u64> = run
        .actions
        .iter()
        .map(|a| u64::try_from(a.delay.as_millis()).unwrap_or_default())
        .collect();
    assert_eq!(
        action_delays,
        delays.iter().map(|d| d.2).collect::<Vec<_>>(),
        "行動の待ち時間がイベントの delay_ms と違います"
    );
    assert_eq!(run.saga.status(), SagaStatus::Completed);
}

#[test]
fn saga_events_without_pace_serialize_exactly_as_before() {
    let event = started(SagaStep::Notify, 1);
    let json = serde_json::to_value(&event).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        json,
        serde_json::json!({"SagaStepStarted": {"step": "notify", "attempt": 1}})
    );
    let old: SagaEvent = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(old, event);
}
