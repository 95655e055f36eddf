//! Saga の行動を参加者に対して実行する実行役 (executor)。
//!
//! # 流れ
//!
//! 1. リアクターや再起動時の再駆動が、状態の変わった Saga の ID を [`Kicker::kick`] で知らせます。
//! 2. 1 本の振り分けタスクが ID を順に受け取り、Saga をイベントストアから読み込んで
//!    [`in_flight_action`](mediahub_core::saga::MediaUploadSaga::in_flight_action) を求めます。
//!    読み込みは順番に行うので、後の読み込みほど新しい状態を見ます。
//! 3. 行動があり、同じ Saga の同じ (ステップ, 試行) がまだ動いていなければ、行動を別タスクで
//!    実行します (Saga ごとに高々 1 つ。遅い Saga が他を止めることはありません)。
//!    Saga が先に進んでいれば (結果のイベントが届いた)、古い試行のタスクは取り消されます。
//! 4. 行動のタスクはバックオフ (`delay`) だけ待ってから HTTP で送り、`deadline` を時間制限にします。
//!    - 失敗 (接続できない・時間切れ・5xx → 再試行可、4xx → 不可) は
//!      `React(StepAttemptFailed)` として Saga に記録し、もう一度 1. から始めます
//!      (Saga が再試行か補償かを決めます)。
//!    - 2xx なら、参加者の成功は **結果のドメインイベント** (`MediaProcessed` など) がログに
//!      届くことで分かります。イベントが届けばリアクターが Saga を進め、このタスクは取り消されます。
//!      **締め切り (送信からの `deadline`) までに届かなければ**、再試行可能な失敗として記録します。
//!      これで「200 は返ったがイベントが来ない」ときも Saga は止まりません。
//!      ただし記録の前に、リアクターが締め切り時点のログの先頭まで読むのを待ちます。結果のイベントはもうログにあって、混み合いでリアクターが遅れているだけ
//!      かもしれないからです (届いていれば Saga が進み、この試行は取り消されます)。
//!
//! 停止の合図が出ると、待っている試行はすべて取り消され、失敗を記録している途中のタスクは
//! 記録を終えてから終わります (取り消された試行は、再起動後の再駆動でやり直されます)。

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mediahub_core::ids::SagaId;
use mediahub_core::saga::{SagaAction, SagaInput, SagaStep};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::participants::{ActionContext, AttemptFailure, Participants};
use super::runtime::{LoadedSaga, SagaRuntime, saga_metadata};
use crate::consumer::{PositionWaiter, WaitError};
use crate::platform::server::Shutdown;

/// イベントストアが読めなかったときに Saga を読み直すまでの時間。
const RELOAD_DELAY: Duration = Duration::from_millis(500);
/// 失敗の記録に失敗したときの最初の待ち時間 (2 倍ずつ延び、[`MAX_FEED_BACKOFF`] で止まる)。
const FEED_BACKOFF: Duration = Duration::from_millis(100);
/// 失敗の記録を再試行する待ち時間の上限。
const MAX_FEED_BACKOFF: Duration = Duration::from_secs(5);

/// 実行役に「この Saga の状態が変わったかもしれない」と知らせる窓口。`clone` は安価です。
#[derive(Debug, Clone)]
pub struct Kicker {
    tx: mpsc::UnboundedSender<SagaId>,
}

impl Kicker {
    /// Saga を見直すよう知らせます (実行役が止まっていれば何もしません)。
    pub fn kick(&self, saga_id: SagaId) {
        if self.tx.send(saga_id).is_err() {
            tracing::debug!(%saga_id, "実行役は停止しています");
        }
    }
}

/// 動いている試行 1 つ。`_cancel` を捨てるとタスクが取り消されます。
struct Running {
    step: SagaStep,
    attempt: u32,
    _cancel: oneshot::Sender<()>,
}

/// 行動のタスクが共有する部品。
struct Shared {
    runtime: Arc<SagaRuntime>,
    participants: Participants,
    shutdown: Shutdown,
    kicker: Kicker,
    reactor: Arc<OnceLock<PositionWaiter>>,
}

/// 実行役を起動します。返り値は窓口と、停止の合図の後に実行中の試行を片付けて終わるタスク。
///
/// `reactor` にはリアクターを開いた後でその位置の係を入れます (リアクターは窓口を使うので、
/// 実行役より後に開くため)。入るまでは、結果のイベントを待つ締め切りの延長はしません。
pub fn spawn_executor(
    runtime: Arc<SagaRuntime>,
    participants: Participants,
    shutdown: Shutdown,
    reactor: Arc<OnceLock<PositionWaiter>>,
) -> (Kicker, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let kicker = Kicker { tx };
    let shared = Arc::new(Shared {
        runtime,
        participants,
        shutdown,
        kicker: kicker.clone(),
        reactor,
    });
    (kicker, tokio::spawn(dispatch_loop(shared, rx)))
}

async fn dispatch_loop(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<SagaId>) {
    let mut running: HashMap<SagaId, Running> = HashMap::new();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = shared.shutdown.wait() => break,
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => log_join(joined),
            kicked = rx.recv() => {
                let Some(saga_id) = kicked else { break };
                tokio::select! {
                    biased;
                    () = shared.shutdown.wait() => break,
                    () = dispatch(&shared, saga_id, &mut running, &mut tasks) => {}
                }
            }
        }
    }
    // 取り消し用の送信側を捨てると、待っている試行はすべて終わります。
    running.clear();
    while let Some(joined) = tasks.join_next().await {
        log_join(joined);
    }
    tracing::info!("Saga の実行役を止めました");
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(error) = joined {
        tracing::error!(%error, "Saga の行動のタスクが異常終了しました");
    }
}

/// Saga を読み込み、必要なら行動のタスクを始めます。
async fn dispatch(
    shared: &Arc<Shared>,
    saga_id: SagaId,
    running: &mut HashMap<SagaId, Running>,
    tasks: &mut JoinSet<()>,
) {
    let loaded = match shared.runtime.load(saga_id).await {
        Ok(loaded) => loaded,
        Err(error) => {
            tracing::warn!(%saga_id, %error, "Saga を読み込めません。待ってから読み直します");
            let shared = Arc::clone(shared);
            tasks.spawn(async move {
                tokio::select! {
                    () = shared.shutdown.wait() => {}
                    () = tokio::time::sleep(RELOAD_DELAY) => shared.kicker.kick(saga_id),
                }
            });
            return;
        }
    };
    let Some(action) = loaded.state.in_flight_action(shared.runtime.policy()) else {
        running.remove(&saga_id);
        return;
    };
    if running
        .get(&saga_id)
        .is_some_and(|r| r.step == action.step && r.attempt == action.attempt)
    {
        return;
    }
    let (cancel_tx, cancel_rx) = oneshot::channel();
    running.insert(
        saga_id,
        Running {
            step: action.step,
            attempt: action.attempt,
            _cancel: cancel_tx,
        },
    );
    tasks.spawn(perform(Arc::clone(shared), loaded, action, cancel_rx));
}

/// 行動 1 回: 待ち、送り、失敗なら Saga に記録して実行役に知らせます。
async fn perform(
    shared: Arc<Shared>,
    loaded: LoadedSaga,
    action: SagaAction,
    cancel: oneshot::Receiver<()>,
) {
    let saga_id = loaded.saga_id;
    let context = ActionContext {
        correlation_id: loaded.correlation_id,
        causation_id: loaded.step_event_id,
        min_position: loaded.trigger_position,
        acting_user: loaded.state.owner_id(),
    };
    let failure = tokio::select! {
        biased;
        _ = cancel => {
            tracing::debug!(%saga_id, step = %action.step, attempt = action.attempt, "試行を取り消しました");
            return;
        }
        failure = attempt(&shared, &action, &context) => failure,
    };
    tracing::info!(
        %saga_id,
        step = %action.step,
        attempt = action.attempt,
        retriable = failure.retriable,
        reason = failure.reason.as_str(),
        "Saga の行動が失敗しました"
    );
    let input = SagaInput::StepAttemptFailed {
        step: action.step,
        attempt: action.attempt,
        reason: failure.reason,
        retriable: failure.retriable,
        elapsed: loaded.step_elapsed(chrono::Utc::now()),
    };
    let metadata = saga_metadata(
        loaded.correlation_id,
        loaded.step_event_id,
        loaded.state.owner_id(),
        None,
    );
    let mut backoff = FEED_BACKOFF;
    loop {
        match shared.runtime.react(saga_id, &input, &metadata).await {
            Ok(_) => break,
            Err(error) => {
                tracing::warn!(%saga_id, %error, "失敗を Saga に記録できません。待ってから再試行します");
                tokio::select! {
                    () = shared.shutdown.wait() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_FEED_BACKOFF);
            }
        }
    }
    shared.kicker.kick(saga_id);
}

/// ログの先頭を問い合わせ直すまでの間隔 (イベントストアに届かないとき)。
const HEAD_RETRY: Duration = Duration::from_secs(1);

/// リアクターの遅れを知らせるログを出す間隔。
const CATCH_UP_REPORT: Duration = Duration::from_secs(30);

/// リアクターが今のログの先頭まで読むのを待ちます (停止の合図かリアクターの停止まで)。
///
/// 「結果のイベントが届かない」と言えるのは、リアクターが締め切りの時点のログを読み終えた後だけです。
/// それまでに結果のイベントがあれば、リアクターが Saga を進め、この試行は実行役に取り消されます。
/// イベントストアに届かない間やリアクターが遅れている間は、判断できないので待ち続けます
/// (失敗の記録もイベントストアに書くので、待たずに進んでも記録できません)。
async fn reactor_catch_up(shared: &Shared, action: &SagaAction) {
    let Some(reactor) = shared.reactor.get() else {
        return;
    };
    let head = loop {
        match shared.runtime.client().head().await {
            Ok(head) => break head,
            Err(error) => {
                tracing::debug!(%error, "ログの先頭が分からないので、問い合わせ直します");
                tokio::select! {
                    () = shared.shutdown.wait() => return,
                    () = tokio::time::sleep(HEAD_RETRY) => {}
                }
            }
        }
    };
    loop {
        match reactor.wait(Some(head), CATCH_UP_REPORT).await {
            Ok(_) => return,
            Err(WaitError::Timeout { reached, .. }) => tracing::warn!(
                saga_id = %action.saga_id,
                step = %action.step,
                head,
                reached,
                "リアクターがまだログの先頭に追いつかないので、試行の失敗の記録を待ちます"
            ),
            Err(error) => {
                tracing::debug!(%error, "リアクターを待てません");
                return;
            }
        }
    }
}

/// バックオフだけ待って送り、締め切りまでに結果のイベントが届かなければ失敗を返します。
///
/// 結果のイベントが届けば、この future は実行役に取り消されるので終わりません。
async fn attempt(shared: &Shared, action: &SagaAction, context: &ActionContext) -> AttemptFailure {
    tokio::time::sleep(action.delay).await;
    let deadline = Instant::now() + action.deadline;
    tracing::info!(
        saga_id = %action.saga_id,
        step = %action.step,
        attempt = action.attempt,
        "Saga の行動を送ります"
    );
    match tokio::time::timeout_at(deadline, shared.participants.send(action, context)).await {
        Err(_elapsed) => AttemptFailure {
            reason: format!(
                "締め切り ({} ms) までに応答がありませんでした",
                action.deadline.as_millis()
            ),
            retriable: true,
        },
        Ok(Err(failure)) => failure,
        Ok(Ok(())) => {
            tokio::time::sleep_until(deadline).await;
            reactor_catch_up(shared, action).await;
            AttemptFailure {
                reason: format!(
                    "受け付けられましたが、締め切り ({} ms) までに結果のイベントが届きませんでした",
                    action.deadline.as_millis()
                ),
                retriable: true,
            }
        }
    }
}
