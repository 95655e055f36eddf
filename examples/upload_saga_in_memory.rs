//! メディアアップロード Saga を、1 プロセスの中で最初から最後まで動かすサンプル。
//!
//! `mediahub-core` をライブラリとして使う例です。HTTP もデータベースも使わず、`cqrs-es` の
//! インメモリストア (`MemStore`) の上に 4 つの集約 (メディア・アルバム・通知・Saga) を置き、
//! 全集約のイベントを 1 本の「グローバルログ」に集めて Saga に配ります。
//!
//! 3 つのアップロードを流します。
//! 1. 普通の JPEG → 処理・アルバム追加・通知が成功して `completed`
//! 2. 壊れた JPEG → 処理が失敗し、ファイル削除で補償して `compensated`
//! 3. アルバム障害を注入 → 再試行の上限まで失敗し、無効化で補償して `compensated`
//!
//! 実行: `cargo run -p mediahub-examples --example upload_saga_in_memory`

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use cqrs_es::persist::{
    PersistedEventRepository, PersistedEventStore, PersistenceError, ReplayStream, SerializedEvent,
    SerializedSnapshot,
};
use cqrs_es::{Aggregate, AggregateContext, CqrsFramework, EventStore};
use mediahub_core::album::{Album, AlbumCommand, DEFAULT_ALBUM_NAME};
use mediahub_core::envelope::{Envelope, EventMetadata, NewEvent};
use mediahub_core::ids::{AlbumId, CorrelationId, EventId, MediaId, SagaId, UserId};
use mediahub_core::media::{ContentType, DeletionReason, Media, MediaCommand, ProcessingOutput};
use mediahub_core::notification::{Notification, NotificationCommand};
use mediahub_core::saga::{
    ActionCommand, FAULT_INJECT_METADATA_KEY, FaultPoint, MediaUploadSaga, SagaAction, SagaCommand,
    SagaInput, SagaPolicy,
};
use serde_json::Value;

type Error = Box<dyn std::error::Error>;

/// 全集約のイベントをコミット順に 1 本に並べる、インメモリのイベントストア。
///
/// `cqrs-es` の [`PersistedEventRepository`] を実装しているので、`CqrsFramework` は
/// 本物のサービスと同じ形で使えます (サービスではこれが HTTP 越しのイベントストアになります)。
/// 追記時に集約ごとの版を検査し (楽観的並行性制御)、グローバル位置を振ります。
#[derive(Clone, Default)]
struct InMemoryEventStore(Arc<Mutex<Vec<Envelope>>>);

impl InMemoryEventStore {
    fn after(&self, position: u64) -> Vec<Envelope> {
        let log = self.0.lock().map(|l| l.clone()).unwrap_or_default();
        log.into_iter().filter(|e| e.position > position).collect()
    }

    fn stream<A: Aggregate>(&self, aggregate_id: &str) -> Vec<SerializedEvent> {
        self.after(0)
            .iter()
            .filter(|e| e.aggregate_type == A::TYPE && e.aggregate_id == aggregate_id)
            .map(Envelope::to_serialized)
            .collect()
    }
}

fn unknown(error: impl std::error::Error + Send + Sync + 'static) -> PersistenceError {
    PersistenceError::UnknownError(Box::new(error))
}

async fn replay(events: Vec<SerializedEvent>) -> Result<ReplayStream, PersistenceError> {
    let (mut feed, stream) = ReplayStream::new(events.len() + 1);
    for event in events {
        feed.push(Ok(event)).await?;
    }
    Ok(stream)
}

impl PersistedEventRepository for InMemoryEventStore {
    async fn get_events<A: Aggregate>(
        &self,
        id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        Ok(self.stream::<A>(id))
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        id: &str,
        last: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        Ok(self
            .stream::<A>(id)
            .into_iter()
            .filter(|e| e.sequence > last)
            .collect())
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        _id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        Ok(None)
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        _snapshot: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        let current = self.stream::<A>(&first.aggregate_id).len();
        let mut log = self
            .0
            .lock()
            .map_err(|_| PersistenceError::OptimisticLockError)?;
        if first.sequence != current + 1 {
            return Err(PersistenceError::OptimisticLockError);
        }
        for event in events {
            let new = NewEvent::from_serialized(event, EventId::new_random()).map_err(unknown)?;
            let position = log.len() as u64 + 1;
            log.push(Envelope {
                id: new.id,
                position,
                aggregate_id: event.aggregate_id.clone(),
                aggregate_type: event.aggregate_type.clone(),
                event_type: new.event_type,
                event_version: new.event_version,
                data: new.data,
                version: event.sequence as u64,
                created_at: Utc::now(),
                metadata: new.metadata,
            });
        }
        Ok(())
    }

    async fn stream_events<A: Aggregate>(
        &self,
        id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        replay(self.stream::<A>(id)).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        let all = self
            .after(0)
            .iter()
            .filter(|e| e.aggregate_type == A::TYPE)
            .map(Envelope::to_serialized)
            .collect();
        replay(all).await
    }
}

/// `CqrsFramework` を共有のインメモリストアの上に作る。
type Framework<A> = CqrsFramework<A, PersistedEventStore<InMemoryEventStore, A>>;

fn framework<A: Aggregate>(store: &InMemoryEventStore, services: A::Services) -> Framework<A> {
    CqrsFramework::new(
        PersistedEventStore::new_event_store(store.clone()),
        vec![],
        services,
    )
}

/// 4 つの集約と、Saga を動かす小さなオーケストレーター。
struct World {
    media: Framework<Media>,
    albums: Framework<Album>,
    notifications: Framework<Notification>,
    sagas: Framework<MediaUploadSaga>,
    saga_store: PersistedEventStore<InMemoryEventStore, MediaUploadSaga>,
    log: InMemoryEventStore,
    policy: SagaPolicy,
    corrupt: HashSet<MediaId>,
    pending: VecDeque<(SagaId, SagaInput, EventMetadata)>,
}

impl World {
    fn new() -> Self {
        let log = InMemoryEventStore::default();
        let policy = SagaPolicy::default();
        Self {
            media: framework(&log, Default::default()),
            albums: framework(&log, ()),
            notifications: framework(&log, ()),
            sagas: framework(&log, policy),
            saga_store: PersistedEventStore::new_event_store(log.clone()),
            log,
            policy,
            corrupt: HashSet::new(),
            pending: VecDeque::new(),
        }
    }

    /// 利用者のアップロード (media-command の役)。
    async fn upload(
        &mut self,
        owner: UserId,
        filename: &str,
        corrupt: bool,
        fault: Option<FaultPoint>,
    ) -> Result<MediaId, Error> {
        let media_id = MediaId::new_random();
        if corrupt {
            self.corrupt.insert(media_id);
        }
        let mut metadata = EventMetadata::correlated(CorrelationId::new_random()).by_user(owner);
        if let Some(fault) = fault {
            metadata
                .extra
                .insert(FAULT_INJECT_METADATA_KEY.into(), fault.as_str().into());
        }
        let command = MediaCommand::Upload {
            media_id,
            owner_id: owner,
            filename: filename.into(),
            content_type: ContentType::Jpeg,
            size_bytes: 1_048_576,
            sha256: "ab".repeat(32),
            storage_key: format!("{media_id}/original"),
        };
        self.media
            .execute_with_metadata(&media_id.to_string(), command, metadata.to_map())
            .await?;
        Ok(media_id)
    }

    /// グローバルログを最後まで読み、Saga に配り、Saga の行動を実行する (saga サービスの役)。
    async fn drive(&mut self) -> Result<(), Error> {
        let mut cursor = 0;
        loop {
            if let Some((saga_id, input, metadata)) = self.pending.pop_front() {
                self.react(saga_id, input, metadata).await?;
                continue;
            }
            let fresh = self.log.after(cursor);
            if fresh.is_empty() {
                return Ok(());
            }
            for envelope in fresh {
                cursor = envelope.position;
                if let Some((saga_id, input)) = SagaInput::from_envelope(&envelope)? {
                    let metadata = EventMetadata {
                        causation_id: Some(envelope.id.as_uuid()),
                        ..envelope.metadata.clone()
                    };
                    self.react(saga_id, input, metadata).await?;
                }
            }
        }
    }

    async fn react(
        &mut self,
        saga_id: SagaId,
        input: SagaInput,
        metadata: EventMetadata,
    ) -> Result<(), Error> {
        let before = self.saga(saga_id).await?.in_flight();
        self.sagas
            .execute_with_metadata(
                &saga_id.to_string(),
                SagaCommand::React(input),
                metadata.to_map(),
            )
            .await?;
        let saga = self.saga(saga_id).await?;
        if saga.in_flight() != before {
            if let Some(action) = saga.in_flight_action(&self.policy) {
                if let Some(failure) = self.perform(&action, &metadata).await? {
                    self.pending.push_back((saga_id, failure, metadata));
                }
            }
        }
        Ok(())
    }

    async fn saga(&self, saga_id: SagaId) -> Result<MediaUploadSaga, Error> {
        let mut context = self.saga_store.load_aggregate(&saga_id.to_string()).await?;
        Ok(context.aggregate().clone())
    }

    /// 参加者 (media-command・album・notification) の役。失敗したら Saga への入力を返す。
    async fn perform(
        &self,
        action: &SagaAction,
        metadata: &EventMetadata,
    ) -> Result<Option<SagaInput>, Error> {
        let meta = metadata.to_map();
        let (step, attempt) = (action.step, action.attempt);
        if !action.delay.is_zero() {
            println!(
                "    … {step} を {} ms 待って再試行 ({attempt} 回目)",
                action.delay.as_millis()
            );
        }
        match &action.command {
            ActionCommand::ProcessMedia {
                media_id,
                inject_fault,
            } => {
                let command = if *inject_fault || self.corrupt.contains(media_id) {
                    MediaCommand::FailProcessing {
                        reason: "JPEG を復号できません (ファイルが壊れています)".into(),
                    }
                } else {
                    MediaCommand::CompleteProcessing(ProcessingOutput {
                        thumbnail_key: format!("{media_id}/thumbnail"),
                        width: 1280,
                        height: 800,
                        duration_ms: None,
                    })
                };
                self.media
                    .execute_with_metadata(&media_id.to_string(), command, meta)
                    .await?;
            }
            ActionCommand::AddToDefaultAlbum {
                media_id,
                owner_id,
                inject_fault,
            } => {
                if *inject_fault {
                    return Ok(Some(SagaInput::StepAttemptFailed {
                        step,
                        attempt,
                        reason: "障害注入: album サービスが 503 を返しました".into(),
                        retriable: true,
                        elapsed: Duration::ZERO,
                    }));
                }
                let album_id = AlbumId::default_for(*owner_id).to_string();
                let create = AlbumCommand::Create {
                    album_id: AlbumId::default_for(*owner_id),
                    owner_id: *owner_id,
                    name: DEFAULT_ALBUM_NAME.into(),
                    is_default: true,
                };
                self.albums
                    .execute_with_metadata(&album_id, create, meta.clone())
                    .await?;
                let add = AlbumCommand::AddMedia {
                    requested_by: *owner_id,
                    media_id: *media_id,
                    media_owner: Some(*owner_id),
                };
                self.albums
                    .execute_with_metadata(&album_id, add, meta)
                    .await?;
            }
            ActionCommand::Notify {
                notification_id,
                user_id,
                kind,
                message,
                media_id,
                inject_fault,
            } => {
                if *inject_fault {
                    return Ok(Some(SagaInput::StepAttemptFailed {
                        step,
                        attempt,
                        reason: "障害注入: 通知の送信に失敗".into(),
                        retriable: true,
                        elapsed: Duration::ZERO,
                    }));
                }
                let send = NotificationCommand::Send {
                    notification_id: *notification_id,
                    user_id: *user_id,
                    kind: *kind,
                    message: message.clone(),
                    media_id: Some(*media_id),
                    saga_id: Some(action.saga_id),
                };
                self.notifications
                    .execute_with_metadata(&notification_id.to_string(), send, meta)
                    .await?;
            }
            ActionCommand::DeleteUploadedFile { media_id } => {
                let delete = MediaCommand::Delete {
                    requested_by: UserId::new_random(),
                    reason: DeletionReason::Compensation,
                };
                self.media
                    .execute_with_metadata(&media_id.to_string(), delete, meta)
                    .await?;
            }
            ActionCommand::InvalidateMedia { media_id, reason } => {
                let invalidate = MediaCommand::Invalidate {
                    reason: reason.clone(),
                };
                self.media
                    .execute_with_metadata(&media_id.to_string(), invalidate, meta)
                    .await?;
            }
        }
        Ok(None)
    }

    /// 1 回のアップロード (相関 ID) に属するイベントをタイムラインとして表示する。
    async fn print_timeline(&self, title: &str, media_id: MediaId) -> Result<(), Error> {
        let log = self.log.after(0);
        let correlation = log
            .iter()
            .find(|e| e.aggregate_id == media_id.to_string())
            .and_then(|e| e.metadata.correlation_id);
        println!("\n■ {title}");
        for event in log
            .iter()
            .filter(|e| e.metadata.correlation_id == correlation)
        {
            let detail = summarize(event);
            println!(
                "  #{:<3} {:<12} {:<26} {detail}",
                event.position, event.aggregate_type, event.event_type
            );
        }
        let saga = self.saga(SagaId::for_media(media_id)).await?;
        println!("  => Saga の状態: {}", saga.status().as_str());
        Ok(())
    }
}

fn summarize(event: &Envelope) -> String {
    let data = &event.data;
    let field = |name: &str| {
        data.as_object()
            .and_then(|o| o.values().next())
            .and_then(|v| v.get(name))
            .cloned()
    };
    match event.event_type.as_str() {
        "SagaStepStarted" | "SagaStepSucceeded" => format!(
            "{} (試行 {})",
            field("step")
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            field("attempt").unwrap_or_default()
        ),
        "SagaStepFailed" => format!(
            "{} (試行 {}) 理由: {}",
            field("step")
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            field("attempt").unwrap_or_default(),
            field("reason")
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
        "SagaCompensationStarted" => format!("計画: {}", field("plan").unwrap_or_default()),
        "MediaUploaded" => field("filename").map(|f| f.to_string()).unwrap_or_default(),
        "MediaProcessingFailed" | "MediaInvalidated" => field("reason")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        "NotificationSent" => field("message")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    println!("メディアアップロード Saga (インメモリ実行)");
    let mut world = World::new();
    let alice = UserId::for_identity("dev", "alice");

    let ok = world.upload(alice, "夕焼け.jpg", false, None).await?;
    let corrupt = world.upload(alice, "壊れた.jpg", true, None).await?;
    let album_fault = world
        .upload(alice, "旅行.jpg", false, Some(FaultPoint::Album))
        .await?;
    world.drive().await?;
    println!("\n列: #グローバル位置  集約  イベント  詳細");

    world.print_timeline("1. 成功するアップロード", ok).await?;
    world
        .print_timeline("2. 壊れた JPEG → 処理失敗 → ファイル削除で補償", corrupt)
        .await?;
    world
        .print_timeline(
            "3. アルバム障害の注入 → 再試行の上限 → 無効化で補償",
            album_fault,
        )
        .await?;
    println!("\nグローバルログのイベント数: {}", world.log.after(0).len());
    Ok(())
}
