//! 書き込みタスク (グループコミット)。
//!
//! イベントストアへの書き込みは、すべてこのモジュールの **1 本のタスク** が専用の接続で行います。
//!
//! 1. HTTP ハンドラーは追記の要求をチャネル ([`WriterHandle`]) に入れ、返事を待ちます。
//! 2. タスクはチャネルから要求を 1 件受け取り、その時点で溜まっている要求もまとめて取り出し
//!    (最大 [`MAX_COMMANDS_PER_COMMIT`] 件)、**1 つのトランザクション** で処理します。
//!    受け取った 1 件と溜まっている要求を合わせても前のコミットの束より少なければ、取り出す前に
//!    少しだけ順番を譲り、返事を受け取ったばかりの送り手が次の要求を入れるのを待ちます (`linger`)。
//!    要求ごとに SAVEPOINT を切るので、ある要求の失敗 (版の衝突など) は他の要求に影響しません。
//! 3. コミットが成功してから、全員に返事をし、ログの先頭 (`head`) を `watch` チャネルで
//!    知らせます。ロングポーリングや SSE はこの知らせで起きます (ポーリング間隔はありません)。
//!
//! 書き手がこのタスクだけの保存先 (SQLite) では、タスクはコミットしたストリームの版を覚えて
//! おきます (`KnownVersions`)。束のどの追記も覚えた版 (覚えていないストリームは 0) を期待して
//! いれば、版と ID を読まずに `BEGIN IMMEDIATE`・`INSERT`・`COMMIT` を (行が 1 つの文に入れば) 1 回の受け渡しで送ります。
//! 仮定が外れていれば (再起動前に書かれたストリーム、冪等な再送) 一意制約で挿入が失敗して何も
//! 書かれないので、巻き戻して読み取りのある手順でやり直します。答えはどちらの手順でも同じです。
//!
//! 手順は保存先によりません。接続は [`WriteConnection`] (SQLite か PostgreSQL) で、
//! トランザクションを始めるときに「このトランザクションから見たログの先頭」を受け取り、
//! 位置はその続きから割り当てます。SQLite では書き込み手がこのタスクだけなので先頭は
//! タスクが数えたもの、PostgreSQL では勧告ロックの中で読み直したものです。どちらでも
//! 位置はコミットが成功したときだけ進み、1 から隙間なく、コミット順に並びます。
//! また、版の確認 (楽観的並行性制御) と書き込みの間に他の書き込みが割り込むこともありません。

use std::collections::{HashMap, HashSet};

use mediahub_core::envelope::{Envelope, EventMetadata, NewEvent};
use mediahub_core::ids::EventId;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::db::{self, BatchStart, EventValues, StreamKey, WriteConnection, now_micros, to_db_int};
use super::error::StoreError;

/// 1 回の追記で送れるイベントの最大件数。
pub const MAX_EVENTS_PER_APPEND: usize = 1000;
/// 1 回のコミットにまとめる要求の最大件数。
pub const MAX_COMMANDS_PER_COMMIT: usize = 256;
/// 1 回のコミットにまとめるイベントの目安の上限 (これを超えたら次のコミットに回します)。
pub const MAX_EVENTS_PER_COMMIT: usize = 5000;
/// 書き込み要求の待ち行列の長さ (満杯なら送り手が待ちます)。
const QUEUE_CAPACITY: usize = 1024;
/// 束を取り出す前に、前のコミットと同じ数の要求が溜まるのを待つ最大の回数 (`yield_now` の回数)。
const MAX_LINGER_YIELDS: usize = 8;
/// 書き込みタスクが版を覚えておくストリームの数の上限 (超えたら一度すべて忘れます)。
const KNOWN_STREAMS: usize = 65_536;

/// スナップショットの書き込み。
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotWrite {
    /// 集約の状態 (JSON)。
    pub aggregate: Value,
    /// スナップショットに含まれる最後のイベントの版。
    pub current_sequence: u64,
    /// 新しいスナップショットの版。
    pub current_snapshot: u64,
    /// 今あるスナップショットの版として期待する値 (`None` は「まだ無い」)。
    pub expected_snapshot: Option<u64>,
}

/// 追記の要求。
#[derive(Debug, Clone, PartialEq)]
pub struct AppendRequest {
    /// 追記先のストリーム。
    pub stream: StreamKey,
    /// 呼び出し側が期待するストリームの現在の版 (新しいストリームなら 0)。
    pub expected_version: u64,
    /// 追記するイベント (この順に版 `expected_version + 1, + 2, …` が付きます)。
    pub events: Vec<NewEvent>,
    /// 同じトランザクションで書くスナップショット (省略可)。
    pub snapshot: Option<SnapshotWrite>,
}

/// 追記の結果。
#[derive(Debug, Clone, PartialEq)]
pub struct AppendOutcome {
    /// 保存されたイベント。
    pub events: Vec<Envelope>,
    /// 最後のイベントの位置 (イベントが無ければ 0)。
    pub last_position: u64,
    /// ストリームの最後の版。
    pub last_version: u64,
    /// `true` なら、同じイベントがすでに保存されていた (冪等な再送) ので何も書いていない。
    pub idempotent: bool,
}

enum Command {
    Append(
        AppendRequest,
        oneshot::Sender<Result<AppendOutcome, StoreError>>,
    ),
    Snapshot(
        StreamKey,
        SnapshotWrite,
        oneshot::Sender<Result<(), StoreError>>,
    ),
    Stop,
}

impl Command {
    fn weight(&self) -> usize {
        match self {
            Command::Append(req, _) => req.events.len().max(1),
            Command::Snapshot(..) | Command::Stop => 1,
        }
    }
}

/// 書き込みタスクへの窓口。複製して配れます。
#[derive(Debug, Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Append(req, _) => write!(f, "Append({})", req.stream),
            Command::Snapshot(key, ..) => write!(f, "Snapshot({key})"),
            Command::Stop => write!(f, "Stop"),
        }
    }
}

impl WriterHandle {
    /// イベントを追記します (スナップショットがあれば同じトランザクションで書きます)。
    ///
    /// # エラー
    /// 版の衝突は [`StoreError::VersionConflict`]、ID の重複は [`StoreError::DuplicateEventId`]、
    /// 要求の誤りは [`StoreError::InvalidBatch`]、停止中は [`StoreError::Unavailable`]。
    pub async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Append(request, reply))
            .await
            .map_err(|_| StoreError::Unavailable)?;
        rx.await.map_err(|_| StoreError::Unavailable)?
    }

    /// スナップショットだけを書きます。
    ///
    /// # エラー
    /// 版の衝突は [`StoreError::SnapshotConflict`]、停止中は [`StoreError::Unavailable`]。
    pub async fn put_snapshot(
        &self,
        stream: StreamKey,
        snapshot: SnapshotWrite,
    ) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Snapshot(stream, snapshot, reply))
            .await
            .map_err(|_| StoreError::Unavailable)?;
        rx.await.map_err(|_| StoreError::Unavailable)?
    }

    /// それまでに受け付けた要求をすべて処理してからタスクを止めるよう頼みます。
    pub async fn stop(&self) {
        // 送れない = すでに止まっている。
        let _already_stopped = self.tx.send(Command::Stop).await;
    }
}

/// 書き込みタスクを起動します。
///
/// `head` は今のログの先頭、`head_tx` はコミットのたびに新しい先頭を知らせるチャネルです
/// (先頭は大きくなるときだけ書き換えます。ほかのプロセスのコミットの通知も同じチャネルを進めます)。
/// タスクは止まるときに接続を閉じ、その結果を返します。
pub fn spawn_writer<C: WriteConnection>(
    conn: C,
    head: u64,
    head_tx: watch::Sender<u64>,
) -> (WriterHandle, JoinHandle<Result<(), StoreError>>) {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let task = tokio::spawn(async move { run(conn, rx, head, head_tx).await.close().await });
    (WriterHandle { tx }, task)
}

async fn run<C: WriteConnection>(
    mut conn: C,
    mut rx: mpsc::Receiver<Command>,
    mut head: u64,
    head_tx: watch::Sender<u64>,
) -> C {
    let mut last_batch = 1;
    let mut known = conn.sole_writer().then(KnownVersions::default);
    while let Some(first) = rx.recv().await {
        if matches!(first, Command::Stop) {
            break;
        }
        linger(&rx, last_batch).await;
        let mut weight = first.weight();
        let mut batch = vec![first];
        let mut stop = false;
        while batch.len() < MAX_COMMANDS_PER_COMMIT && weight < MAX_EVENTS_PER_COMMIT {
            match rx.try_recv() {
                Ok(Command::Stop) => {
                    stop = true;
                    break;
                }
                Ok(command) => {
                    weight += command.weight();
                    batch.push(command);
                }
                Err(_) => break,
            }
        }
        last_batch = batch.len();
        // 同じコミットの中で先の要求と同じイベント ID を使う要求は、次のコミットに回します
        // (回した要求の ID は先の要求が書いたばかりなので、読み取りを省く手順は使いません)。
        let mut may_skip_reads = true;
        while !batch.is_empty() {
            let (new_head, deferred) = commit_batch(
                &mut conn,
                batch,
                head,
                &head_tx,
                known.as_mut(),
                may_skip_reads,
            )
            .await;
            head = new_head;
            batch = deferred;
            may_skip_reads = false;
        }
        if stop {
            break;
        }
    }
    tracing::debug!(head, "書き込みタスクを止めます");
    conn
}

/// 前のコミットの束と同じ数 (`expected`) の要求が溜まるまで、高々 [`MAX_LINGER_YIELDS`] 回
/// ほかのタスクに順番を譲ります (取り出し済みの 1 件を含めて数える)。
///
/// コミットの返事で起きた送り手は、次の要求を入れるまでに少し時間がかかります。すぐに取り出すと
/// 束が小さくなり、コミット (と fsync) の回数が増えます。1 件ずつの送り手が 1 人なら `expected` は 1
/// なので待ちません。
async fn linger(rx: &mpsc::Receiver<Command>, expected: usize) {
    for _ in 0..MAX_LINGER_YIELDS {
        if rx.len() + 1 >= expected {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// 要求への返事の予定。元の要求も持っているので、コミットに失敗したときは要求に戻して
/// 別の手順でやり直せます ([`Reply::into_command`])。
enum Reply {
    Append(
        AppendRequest,
        oneshot::Sender<Result<AppendOutcome, StoreError>>,
        Result<AppendOutcome, StoreError>,
    ),
    Snapshot(
        StreamKey,
        SnapshotWrite,
        oneshot::Sender<Result<(), StoreError>>,
        Result<(), StoreError>,
    ),
}

impl Reply {
    fn send(self) {
        // 受け手がもういない (接続が切れた) なら返事は捨てるしかありません。
        // 書いた結果はログに残っているので、再送すれば冪等な追記として同じ結果を受け取れます。
        match self {
            Reply::Append(_, tx, result) => {
                let _gone = tx.send(result);
            }
            Reply::Snapshot(_, _, tx, result) => {
                let _gone = tx.send(result);
            }
        }
    }

    fn fail(self, message: &str) {
        match self {
            Reply::Append(_, tx, _) => {
                let _gone = tx.send(Err(StoreError::Commit(message.to_owned())));
            }
            Reply::Snapshot(_, _, tx, _) => {
                let _gone = tx.send(Err(StoreError::Commit(message.to_owned())));
            }
        }
    }

    /// 返事をせずに、元の要求に戻します。
    fn into_command(self) -> Command {
        match self {
            Reply::Append(request, tx, _) => Command::Append(request, tx),
            Reply::Snapshot(stream, snapshot, tx, _) => Command::Snapshot(stream, snapshot, tx),
        }
    }
}

fn fail_all(batch: Vec<Command>, message: &str) {
    for command in batch {
        match command {
            Command::Append(_, tx) => {
                let _gone = tx.send(Err(StoreError::Commit(message.to_owned())));
            }
            Command::Snapshot(_, _, tx) => {
                let _gone = tx.send(Err(StoreError::Commit(message.to_owned())));
            }
            Command::Stop => {}
        }
    }
}

/// 束を処理した結果 (返事の予定) と、次のコミットに回す要求。
struct Plan {
    replies: Vec<Reply>,
    deferred: Vec<Command>,
    next: u64,
    /// コミットした後のストリームの版。読む手順では束のストリームのうちデータベースにあったもの
    /// (読んだ版 + この束の追記) で、正しい版です。読み取りを省いた手順では覚えた版から決めたものです。
    versions: HashMap<StreamKey, u64>,
}

impl Plan {
    /// このコミットで新しく書く追記 (成功し、冪等な再送ではないもの) の要求と結果。
    fn appended(&self) -> impl Iterator<Item = (&AppendRequest, &AppendOutcome)> {
        self.replies.iter().filter_map(|reply| match reply {
            Reply::Append(request, _, Ok(outcome)) if !outcome.idempotent => {
                Some((request, outcome))
            }
            _ => None,
        })
    }

    /// 返事をせずに、束の要求 (次に回す要求を含む) に戻します。
    fn into_commands(self) -> Vec<Command> {
        let mut commands: Vec<Command> =
            self.replies.into_iter().map(Reply::into_command).collect();
        commands.extend(self.deferred);
        commands
    }
}

/// 束の追記が触れるストリーム (重複なし、最初に現れた順) とイベント ID。
fn lookups(batch: &[Command]) -> (Vec<&StreamKey>, Vec<String>) {
    let mut streams: Vec<&StreamKey> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for command in batch {
        if let Command::Append(request, _) = command {
            if seen.insert(&request.stream) {
                streams.push(&request.stream);
            }
            ids.extend(request.events.iter().map(|e| e.id.to_string()));
        }
    }
    (streams, ids)
}

/// トランザクションの中で、束の要求を順に検査し、書く内容を決めます。
///
/// 版の確認は「束の前の版 + この束で先に決まった追記」で行うので、同じストリームへの
/// 複数の要求が同じ束に入っても、ちょうど 1 つだけが成功します。
async fn plan_batch<C: WriteConnection>(
    conn: &mut C,
    batch: Vec<Command>,
    start: BatchStart,
) -> Result<Plan, StoreError> {
    let BatchStart {
        head,
        mut versions,
        existing,
    } = start;
    let now = now_micros();
    let mut claimed: HashSet<EventId> = HashSet::new();
    let mut next = head;
    let mut replies = Vec::with_capacity(batch.len());
    let mut deferred = Vec::new();
    let mut commands = batch.into_iter();
    while let Some(command) = commands.next() {
        let fatal = match command {
            Command::Append(request, tx) => {
                if request.events.iter().any(|e| claimed.contains(&e.id)) {
                    deferred.push(Command::Append(request, tx));
                    continue;
                }
                let result = plan_append(conn, &request, &mut versions, &existing, next, now).await;
                match result {
                    Err(err @ (StoreError::Database(_) | StoreError::Corrupt(_))) => {
                        replies.push(Reply::Append(request, tx, Err(StoreError::Unavailable)));
                        Some(err)
                    }
                    other => {
                        if let Ok(outcome) = &other {
                            if !outcome.idempotent {
                                claimed.extend(request.events.iter().map(|e| e.id));
                                next += outcome.events.len() as u64;
                            }
                        }
                        replies.push(Reply::Append(request, tx, other));
                        None
                    }
                }
            }
            Command::Snapshot(stream, snapshot, tx) => {
                match write_snapshot(conn, &stream, &snapshot).await {
                    Err(err @ (StoreError::Database(_) | StoreError::Corrupt(_))) => {
                        replies.push(Reply::Snapshot(
                            stream,
                            snapshot,
                            tx,
                            Err(StoreError::Unavailable),
                        ));
                        Some(err)
                    }
                    other => {
                        replies.push(Reply::Snapshot(stream, snapshot, tx, other));
                        None
                    }
                }
            }
            Command::Stop => None,
        };
        if let Some(err) = fatal {
            // 個々の要求の誤りではなく、データベースそのものの失敗。束の全員に失敗を返します。
            for reply in replies {
                reply.fail("追記の準備に失敗しました");
            }
            fail_all(deferred, "追記の準備に失敗しました");
            fail_all(commands.collect(), "追記の準備に失敗しました");
            return Err(err);
        }
    }
    Ok(Plan {
        replies,
        deferred,
        next,
        versions,
    })
}

/// 追記 1 件を検査し、成功なら書くエンベロープを決めます (イベントの行はまだ書きません)。
async fn plan_append<C: WriteConnection>(
    conn: &mut C,
    request: &AppendRequest,
    versions: &mut HashMap<StreamKey, u64>,
    existing: &HashSet<String>,
    next: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<AppendOutcome, StoreError> {
    validate(request)?;
    let stream = &request.stream;
    let current = versions.get(stream).copied().unwrap_or(0);
    let first_existing = request
        .events
        .iter()
        .find(|e| existing.contains(&e.id.to_string()))
        .map(|e| e.id);
    if current != request.expected_version {
        if first_existing.is_some() {
            if let Some(outcome) = check_retry(conn, request).await? {
                return Ok(outcome);
            }
        }
        return Err(StoreError::VersionConflict {
            stream: stream.to_string(),
            expected: request.expected_version,
            current,
        });
    }
    if let Some(event_id) = first_existing {
        return Err(StoreError::DuplicateEventId { event_id });
    }
    if let Some(snapshot) = &request.snapshot {
        // 0 行なら何も変わっていないので、衝突として返すだけで済みます。
        write_snapshot(conn, stream, snapshot).await?;
    }
    let mut position = next;
    let mut version = request.expected_version;
    let events: Vec<Envelope> = request
        .events
        .iter()
        .map(|event| {
            position += 1;
            version += 1;
            Envelope {
                id: event.id,
                position,
                aggregate_id: stream.aggregate_id.clone(),
                aggregate_type: stream.aggregate_type.clone(),
                event_type: event.event_type.clone(),
                event_version: event.event_version.clone(),
                data: event.data.clone(),
                version,
                created_at: now,
                metadata: event.metadata.clone(),
            }
        })
        .collect();
    versions.insert(stream.clone(), version);
    Ok(AppendOutcome {
        last_position: if events.is_empty() { 0 } else { position },
        events,
        last_version: version,
        idempotent: false,
    })
}

/// 要求の束を 1 つのトランザクションで処理し、新しい先頭と、次に回す要求を返します。
///
/// 1 回のコミットで発行する文は、要求の数によらず数個です: BEGIN (PostgreSQL はロックと
/// 先頭の読み直しを含む)、版の読み取り、ID の存在確認、まとめた INSERT (行数に応じて数文)、
/// COMMIT (スナップショットは 1 件 1 文)。SQLite はこれを 2 回の受け渡し
/// (BEGIN と読み取り、INSERT と COMMIT) で送ります ([`WriteConnection::begin_batch`])。
///
/// 書き手が自分だけの保存先 (`known` が `Some`) で、`may_skip_reads` が `true` で、束の版がすべて
/// 覚えた版から決まるなら、読み取りを省き、BEGIN から COMMIT までを (行が 1 つの文に入れば) 1 回で送ります
/// ([`WriteConnection::begin_insert_and_commit`])。仮定が外れていれば一意制約で挿入が失敗するので、
/// 巻き戻して読み取りのある手順でやり直します ([`KnownVersions`])。
async fn commit_batch<C: WriteConnection>(
    conn: &mut C,
    mut batch: Vec<Command>,
    head: u64,
    head_tx: &watch::Sender<u64>,
    mut known: Option<&mut KnownVersions>,
    may_skip_reads: bool,
) -> (u64, Vec<Command>) {
    let predicted = match known.as_deref() {
        Some(known) if may_skip_reads => known.predict(&batch, head),
        _ => None,
    };
    if let Some(start) = predicted {
        match plan_batch(conn, batch, start).await {
            Ok(plan) => {
                match finish_batch(conn, plan, head, head_tx, known.as_deref_mut(), true).await {
                    Ok(done) => return done,
                    Err(plan) => {
                        tracing::debug!("巻き戻して、版と ID を読む手順でやり直します");
                        conn.rollback().await;
                        batch = plan.into_commands();
                        if let Some(known) = known.as_deref_mut() {
                            known.forget(&batch);
                        }
                    }
                }
            }
            Err(err) => {
                // plan_batch が束の全員にすでに失敗を返しています (読み取りが無いので起きないはず)。
                tracing::error!(error = %err, "追記の準備に失敗しました");
                return (head, Vec::new());
            }
        }
    }
    let started = {
        let (streams, ids) = lookups(&batch);
        conn.begin_batch(head, &streams, &ids).await
    };
    let start = match started {
        Ok(start) => start,
        Err(err) => {
            tracing::error!(error = %err, "トランザクションを始められません");
            fail_all(batch, "トランザクションを始められません");
            return (head, Vec::new());
        }
    };
    let head = start.head;
    let plan = match plan_batch(conn, batch, start).await {
        Ok(plan) => plan,
        Err(err) => {
            // plan_batch が束の全員にすでに失敗を返しています。
            tracing::error!(error = %err, "追記の準備に失敗しました");
            conn.rollback().await;
            return (head, Vec::new());
        }
    };
    match finish_batch(conn, plan, head, head_tx, known, false).await {
        Ok(done) => done,
        Err(plan) => {
            conn.rollback().await;
            for reply in plan.replies {
                reply.fail("イベントを書けませんでした");
            }
            (head, plan.deferred)
        }
    }
}

/// 決まった行を挿入してコミットし、返事をします。`begin` が `true` ならトランザクションは
/// まだ始まっていないので、始めるところから 1 回で送ります。
///
/// 成功なら新しい先頭と次に回す要求を返し、失敗なら返事をしないまま予定を返します
/// (巻き戻しは呼び出し側)。
async fn finish_batch<C: WriteConnection>(
    conn: &mut C,
    plan: Plan,
    head: u64,
    head_tx: &watch::Sender<u64>,
    known: Option<&mut KnownVersions>,
    begin: bool,
) -> Result<(u64, Vec<Command>), Plan> {
    let rows: Result<Vec<EventValues>, StoreError> = plan
        .appended()
        .flat_map(|(_, outcome)| &outcome.events)
        .map(EventValues::of)
        .collect();
    let committed = match rows {
        Ok(rows) if begin => conn.begin_insert_and_commit(head, &rows, plan.next).await,
        Ok(rows) => conn.insert_and_commit(&rows, plan.next).await,
        Err(err) => Err(err),
    };
    if let Err(err) = committed {
        if begin {
            // 覚えた版の仮定が外れた (一意制約) か、データベースの失敗。どちらも読む手順でやり直します。
            tracing::debug!(error = %err, "読み取りを省いたコミットに失敗しました");
        } else {
            tracing::error!(error = %err, "イベントの挿入かコミットに失敗しました");
        }
        return Err(plan);
    }
    // 先頭の `watch` で起きた読み手が、読む範囲を最近のイベントの窓に見つけられるように、先に入れます。
    conn.committed(plan.appended().flat_map(|(_, outcome)| &outcome.events));
    db::advance_head(head_tx, plan.next);
    if let Some(known) = known {
        if begin {
            // 読まずに決めた版のうち、確かめられたのは書けたストリームの版だけです。
            known.remember(
                plan.appended()
                    .map(|(request, outcome)| (request.stream.clone(), outcome.last_version)),
            );
        } else {
            known.remember(plan.versions);
        }
    }
    for reply in plan.replies {
        reply.send();
    }
    Ok((plan.next, plan.deferred))
}

/// 書き込みタスクが覚えているストリームの版 (書き手が自分だけの保存先でだけ使います)。
///
/// 版はこのタスクのコミットでしか進まないので、覚えた版はデータベースの版と同じです。
/// 覚えていないストリームは版 0 (新しいストリーム) と仮定します。仮定が外れていれば
/// `(aggregate_type, aggregate_id, sequence)` とイベント ID の一意制約で挿入が失敗し、
/// 何も書かれないので、読み取りのある手順でやり直せば答えは変わりません。
#[derive(Debug, Default)]
struct KnownVersions(HashMap<StreamKey, u64>);

impl KnownVersions {
    /// 読み取りを省ける束なら、読み取りの結果にあたるものを返します。
    ///
    /// 省けるのは、すべてが追記 (スナップショットなし) で、ストリームが互いに違い、どの期待する版も
    /// 覚えた版 (覚えていなければ 0) と同じ束です。それ以外 (版の衝突や冪等な再送かもしれない束) は
    /// `None` で、データベースを読んで確かめます。
    fn predict(&self, batch: &[Command], head: u64) -> Option<BatchStart> {
        let mut versions = HashMap::with_capacity(batch.len());
        for command in batch {
            let Command::Append(request, _) = command else {
                return None;
            };
            let known = self.0.get(&request.stream).copied().unwrap_or(0);
            if request.snapshot.is_some() || request.expected_version != known {
                return None;
            }
            if versions.insert(request.stream.clone(), known).is_some() {
                return None;
            }
        }
        Some(BatchStart {
            head,
            versions,
            existing: HashSet::new(),
        })
    }

    /// コミットした後の版を覚えます (覚えすぎたら一度すべて忘れます)。
    fn remember(&mut self, versions: impl IntoIterator<Item = (StreamKey, u64)>) {
        for (stream, version) in versions {
            if self.0.len() >= KNOWN_STREAMS && !self.0.contains_key(&stream) {
                self.0.clear();
            }
            self.0.insert(stream, version);
        }
    }

    /// 束のストリームの版を忘れます (次は読み直します)。
    fn forget(&mut self, batch: &[Command]) {
        for command in batch {
            if let Command::Append(request, _) = command {
                self.0.remove(&request.stream);
            }
        }
    }
}

/// 追記の要求を検査します (件数 1〜1000、同じ ID の重複なし、版が大きすぎない)。
///
/// # エラー
/// 不正なら [`StoreError::InvalidBatch`]。
pub fn validate(request: &AppendRequest) -> Result<(), StoreError> {
    let count = request.events.len();
    if count == 0 && request.snapshot.is_none() {
        return Err(StoreError::InvalidBatch(
            "events には 1 件以上のイベントが必要です".into(),
        ));
    }
    if count > MAX_EVENTS_PER_APPEND {
        return Err(StoreError::InvalidBatch(format!(
            "events は {MAX_EVENTS_PER_APPEND} 件までです (送られたのは {count} 件)"
        )));
    }
    let mut seen = HashSet::with_capacity(count);
    for event in &request.events {
        if !seen.insert(event.id) {
            return Err(StoreError::InvalidBatch(format!(
                "同じイベント ID {} が 1 回の追記に 2 回以上含まれています",
                event.id
            )));
        }
        if event.event_type.is_empty() || event.event_type.len() > db::MAX_NAME_LEN {
            return Err(StoreError::InvalidBatch(format!(
                "event_type は 1〜{} バイトにしてください",
                db::MAX_NAME_LEN
            )));
        }
    }
    let last = u64::try_from(count)
        .ok()
        .and_then(|n| request.expected_version.checked_add(n));
    match last {
        Some(last) if to_db_int(last).is_ok() => Ok(()),
        _ => Err(StoreError::InvalidBatch(format!(
            "expected_version {} は大きすぎます",
            request.expected_version
        ))),
    }
}

fn same_event(stored: &Envelope, request: &AppendRequest, event: &NewEvent, version: u64) -> bool {
    // メタデータは保存時に「文字列の対応表」に変換されるので、同じ変換を通してから比べます。
    let requested_metadata =
        EventMetadata::from_json(&event.metadata.to_json()).unwrap_or_default();
    stored.aggregate_type == request.stream.aggregate_type
        && stored.aggregate_id == request.stream.aggregate_id
        && stored.version == version
        && stored.event_type == event.event_type
        && stored.event_version == event.event_version
        && stored.data == event.data
        && stored.metadata == requested_metadata
}

/// 版が合わなかった要求が「以前の追記のそのままの再送」かどうかを調べます。
///
/// - どのイベント ID も保存されていなければ `Ok(None)` (ただの版の衝突)。
/// - すべてが同じストリーム・同じ版・同じ内容で保存されていれば、保存済みのイベントを返します。
/// - それ以外 (一部だけ保存済み、内容やストリームが違う) は [`StoreError::DuplicateEventId`]。
async fn check_retry<C: WriteConnection>(
    conn: &mut C,
    request: &AppendRequest,
) -> Result<Option<AppendOutcome>, StoreError> {
    let mut stored = Vec::with_capacity(request.events.len());
    let mut first_found = None;
    let mut missing = false;
    let mut version = request.expected_version;
    for event in &request.events {
        version += 1;
        match conn.event_by_id(event.id).await? {
            Some(envelope) => {
                if !same_event(&envelope, request, event, version) {
                    return Err(StoreError::DuplicateEventId { event_id: event.id });
                }
                first_found.get_or_insert(event.id);
                stored.push(envelope);
            }
            None => missing = true,
        }
    }
    match (first_found, missing) {
        (None, _) => Ok(None),
        (Some(event_id), true) => Err(StoreError::DuplicateEventId { event_id }),
        (Some(_), false) => {
            let last_position = stored.last().map_or(0, |e| e.position);
            Ok(Some(AppendOutcome {
                events: stored,
                last_position,
                last_version: version,
                idempotent: true,
            }))
        }
    }
}

async fn write_snapshot<C: WriteConnection>(
    conn: &mut C,
    stream: &StreamKey,
    snapshot: &SnapshotWrite,
) -> Result<(), StoreError> {
    let payload = snapshot.aggregate.to_string();
    let expected = snapshot.expected_snapshot.map(to_db_int).transpose()?;
    let affected = conn
        .put_snapshot(
            stream,
            to_db_int(snapshot.current_sequence)?,
            to_db_int(snapshot.current_snapshot)?,
            expected,
            &payload,
        )
        .await?;
    if affected == 1 {
        Ok(())
    } else {
        // 0 行なら何も変わっていないので、衝突として返すだけで済みます。
        Err(StoreError::SnapshotConflict {
            expected: snapshot.expected_snapshot,
            current: conn.snapshot_version(stream).await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// 1 スレッドの実行時 (譲った先のタスクが必ずその間に動く) で `body` を動かします。
    fn on_one_thread<F: Future<Output = ()>>(body: F) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        runtime.block_on(body);
    }

    /// 順番が回ってくるたびに数を 1 つ増やして譲り返すタスクを起こし、その数を返します
    /// (`linger` が譲らなければ 0 のまま)。
    fn count_turns() -> (Arc<AtomicUsize>, JoinHandle<()>) {
        let turns = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&turns);
        let task = tokio::spawn(async move {
            loop {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        });
        (turns, task)
    }

    #[test]
    fn linger_with_as_many_queued_as_the_last_batch_returns_without_yielding() {
        on_one_thread(async {
            let (tx, rx) = mpsc::channel(8);
            for _ in 0..2 {
                tx.try_send(Command::Stop).unwrap_or_else(|e| panic!("{e}"));
            }
            let (turns, task) = count_turns();

            // 取り出し済みの 1 件 + 溜まっている 2 件 = 前の束の 3 件
            linger(&rx, 3).await;

            assert_eq!(turns.load(Ordering::SeqCst), 0, "一度も譲らない");
            task.abort();
        });
    }

    #[test]
    fn linger_after_a_batch_of_three_waits_until_a_sender_queues_two_more() {
        on_one_thread(async {
            let (tx, rx) = mpsc::channel(8);
            let sender = tokio::spawn(async move {
                for _ in 0..2 {
                    tokio::task::yield_now().await;
                    tx.send(Command::Stop)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                }
            });

            linger(&rx, 3).await;

            assert_eq!(rx.len(), 2, "送り手の 2 件が溜まってから返る");
            sender.await.unwrap_or_else(|e| panic!("{e}"));
        });
    }

    #[test]
    fn linger_with_nobody_sending_gives_up_after_max_linger_yields() {
        on_one_thread(async {
            let (_tx, rx) = mpsc::channel::<Command>(8);
            let (turns, task) = count_turns();

            linger(&rx, 16).await;

            assert_eq!(rx.len(), 0);
            assert_eq!(
                turns.load(Ordering::SeqCst),
                MAX_LINGER_YIELDS,
                "ちょうど上限の回数だけ譲ってあきらめる"
            );
            task.abort();
        });
    }

    fn stream(id: &str) -> StreamKey {
        StreamKey {
            aggregate_type: "Album".into(),
            aggregate_id: id.into(),
        }
    }

    fn append_to(id: &str, expected_version: u64) -> AppendRequest {
        AppendRequest {
            stream: stream(id),
            expected_version,
            events: vec![NewEvent {
                id: EventId::new_time_ordered(),
                event_type: "AlbumRenamed".into(),
                event_version: "1.0".into(),
                data: serde_json::json!({ "name": id }),
                metadata: EventMetadata::default(),
            }],
            snapshot: None,
        }
    }

    fn appends(requests: Vec<AppendRequest>) -> Vec<Command> {
        requests
            .into_iter()
            .map(|request| Command::Append(request, oneshot::channel().0))
            .collect()
    }

    fn known(entries: &[(&str, u64)]) -> KnownVersions {
        KnownVersions(entries.iter().map(|(id, v)| (stream(id), *v)).collect())
    }

    #[test]
    fn predict_with_versions_equal_to_known_or_0_for_unknown_streams_returns_them_and_no_existing_ids()
     {
        let batch = appends(vec![append_to("a", 3), append_to("new", 0)]);

        let start = known(&[("a", 3)])
            .predict(&batch, 42)
            .unwrap_or_else(|| panic!("読み取りを省けるはず"));

        assert_eq!(start.head, 42);
        assert_eq!(
            start.versions,
            HashMap::from([(stream("a"), 3), (stream("new"), 0)])
        );
        assert!(start.existing.is_empty());
    }

    #[test]
    fn predict_with_a_version_other_than_known_or_unknown_stream_above_0_returns_none() {
        let known = known(&[("a", 3)]);

        assert!(
            known
                .predict(&appends(vec![append_to("a", 2)]), 0)
                .is_none()
        );
        assert!(
            known
                .predict(&appends(vec![append_to("b", 1)]), 0)
                .is_none()
        );
    }

    #[test]
    fn predict_with_two_appends_to_one_stream_or_a_snapshot_returns_none() {
        let known = known(&[("a", 3)]);
        let mut with_snapshot = append_to("a", 3);
        with_snapshot.snapshot = Some(SnapshotWrite {
            aggregate: serde_json::json!({}),
            current_sequence: 4,
            current_snapshot: 1,
            expected_snapshot: None,
        });

        assert!(
            known
                .predict(&appends(vec![append_to("a", 3), append_to("a", 4)]), 0)
                .is_none()
        );
        assert!(known.predict(&appends(vec![with_snapshot]), 0).is_none());
    }

    /// 本物の SQLite の書き込み接続を包み、読み取りのある始め方と省いた始め方の回数を数えます。
    struct Counted {
        inner: db::sqlite::SqliteWriter,
        with_reads: Arc<AtomicUsize>,
        without_reads: Arc<AtomicUsize>,
    }

    impl WriteConnection for Counted {
        async fn begin(&mut self, known_head: u64) -> Result<u64, StoreError> {
            self.inner.begin(known_head).await
        }
        async fn stream_versions(
            &mut self,
            streams: &[&StreamKey],
        ) -> Result<HashMap<StreamKey, u64>, StoreError> {
            self.inner.stream_versions(streams).await
        }
        async fn existing_ids(&mut self, ids: &[String]) -> Result<HashSet<String>, StoreError> {
            self.inner.existing_ids(ids).await
        }
        async fn event_by_id(&mut self, id: EventId) -> Result<Option<Envelope>, StoreError> {
            self.inner.event_by_id(id).await
        }
        async fn snapshot_version(
            &mut self,
            stream: &StreamKey,
        ) -> Result<Option<u64>, StoreError> {
            self.inner.snapshot_version(stream).await
        }
        async fn put_snapshot(
            &mut self,
            stream: &StreamKey,
            sequence: i64,
            version: i64,
            expected: Option<i64>,
            payload: &str,
        ) -> Result<u64, StoreError> {
            self.inner
                .put_snapshot(stream, sequence, version, expected, payload)
                .await
        }
        async fn insert_events(&mut self, rows: &[EventValues]) -> Result<(), StoreError> {
            self.inner.insert_events(rows).await
        }
        async fn commit(&mut self, head: u64) -> Result<(), StoreError> {
            self.inner.commit(head).await
        }
        async fn rollback(&mut self) {
            self.inner.rollback().await;
        }
        async fn close(self) -> Result<(), StoreError> {
            self.inner.close().await
        }
        async fn begin_batch(
            &mut self,
            known_head: u64,
            streams: &[&StreamKey],
            ids: &[String],
        ) -> Result<BatchStart, StoreError> {
            self.with_reads.fetch_add(1, Ordering::SeqCst);
            self.inner.begin_batch(known_head, streams, ids).await
        }
        fn sole_writer(&self) -> bool {
            self.inner.sole_writer()
        }
        async fn begin_insert_and_commit(
            &mut self,
            known_head: u64,
            rows: &[EventValues],
            head: u64,
        ) -> Result<(), StoreError> {
            self.without_reads.fetch_add(1, Ordering::SeqCst);
            self.inner
                .begin_insert_and_commit(known_head, rows, head)
                .await
        }
        async fn insert_and_commit(
            &mut self,
            rows: &[EventValues],
            head: u64,
        ) -> Result<(), StoreError> {
            self.inner.insert_and_commit(rows, head).await
        }
    }

    /// 一時ディレクトリの SQLite ファイルに書き込みタスクを起動し、窓口と
    /// (読み取りのある始め方, 省いた始め方) の回数を返します。
    async fn start_counted(
        dir: &tempfile::TempDir,
    ) -> (
        WriterHandle,
        JoinHandle<Result<(), StoreError>>,
        Arc<AtomicUsize>,
        Arc<AtomicUsize>,
    ) {
        let mut inner =
            db::sqlite::open_writer(&dir.path().join("events.db"), db::Durability::Full)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        let head = inner.read_head().await.unwrap_or_else(|e| panic!("{e}"));
        let with_reads = Arc::new(AtomicUsize::new(0));
        let without_reads = Arc::new(AtomicUsize::new(0));
        let conn = Counted {
            inner,
            with_reads: Arc::clone(&with_reads),
            without_reads: Arc::clone(&without_reads),
        };
        let (handle, task) = spawn_writer(conn, head, watch::channel(head).0);
        (handle, task, with_reads, without_reads)
    }

    async fn stop(handle: WriterHandle, task: JoinHandle<Result<(), StoreError>>) {
        handle.stop().await;
        task.await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[tokio::test]
    async fn sqlite_appends_at_known_versions_commit_without_reads_and_a_stale_expected_version_reads_and_gets_409()
     {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (handle, task, with_reads, without_reads) = start_counted(&dir).await;

        let first = handle.append(append_to("a", 0)).await;
        let second = handle.append(append_to("a", 1)).await;
        let stale = handle.append(append_to("a", 1)).await;

        assert_eq!(
            first.map(|o| (o.last_position, o.last_version)).ok(),
            Some((1, 1))
        );
        assert_eq!(
            second.map(|o| (o.last_position, o.last_version)).ok(),
            Some((2, 2))
        );
        assert!(
            matches!(
                stale,
                Err(StoreError::VersionConflict {
                    expected: 1,
                    current: 2,
                    ..
                })
            ),
            "{stale:?}"
        );
        assert_eq!(
            without_reads.load(Ordering::SeqCst),
            2,
            "新しいストリームと覚えた版の 2 回"
        );
        assert_eq!(
            with_reads.load(Ordering::SeqCst),
            1,
            "覚えた版と違う 1 回だけ読む"
        );
        stop(handle, task).await;
    }

    #[tokio::test]
    async fn sqlite_writer_restarted_on_the_file_assumes_version_0_and_on_unique_violation_rereads_for_409_or_idempotent_200()
     {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let original = append_to("a", 0);
        let (handle, task, _, _) = start_counted(&dir).await;
        let stored = handle
            .append(original.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        stop(handle, task).await;
        let (handle, task, with_reads, without_reads) = start_counted(&dir).await;

        // 覚えていないストリームは版 0 と仮定して読まずに書こうとし、一意制約で失敗して読み直す。
        let resent = handle.append(original).await;
        let other_at_0 = handle.append(append_to("a", 0)).await;
        let next = handle.append(append_to("a", 1)).await;

        let resent = resent.unwrap_or_else(|e| panic!("{e}"));
        assert!(resent.idempotent, "同じ要求の再送は冪等");
        assert_eq!(resent.events, stored.events);
        assert!(
            matches!(
                other_at_0,
                Err(StoreError::VersionConflict {
                    expected: 0,
                    current: 1,
                    ..
                })
            ),
            "{other_at_0:?}"
        );
        assert_eq!(
            next.map(|o| (o.last_position, o.last_version)).ok(),
            Some((2, 2))
        );
        assert_eq!(
            (
                without_reads.load(Ordering::SeqCst),
                with_reads.load(Ordering::SeqCst)
            ),
            (2, 2),
            "再送は省いて失敗 → 読む、版 0 は覚えた版 1 と違うので読む、版 1 は省いて成功"
        );
        stop(handle, task).await;
    }

    #[tokio::test]
    async fn sqlite_append_of_3_events_spanning_two_insert_statements_commits_without_reads_at_positions_1_to_3()
     {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (handle, task, with_reads, without_reads) = start_counted(&dir).await;
        let mut request = append_to("a", 0);
        let event = request.events[0].clone();
        request.events.extend((0..2).map(|_| NewEvent {
            id: EventId::new_time_ordered(),
            ..event.clone()
        }));

        let outcome = handle
            .append(request)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        stop(handle, task).await;

        let stored: Vec<(u64, u64)> = outcome
            .events
            .iter()
            .map(|e| (e.position, e.version))
            .collect();
        assert_eq!(stored, vec![(1, 1), (2, 2), (3, 3)]);
        assert_eq!(
            (
                without_reads.load(Ordering::SeqCst),
                with_reads.load(Ordering::SeqCst)
            ),
            (1, 0)
        );
        let mut reopened =
            db::sqlite::open_writer(&dir.path().join("events.db"), db::Durability::Full)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            reopened.read_head().await.ok(),
            Some(3),
            "3 行ともコミットされている"
        );
    }

    #[tokio::test]
    async fn sqlite_log_window_of_fresh_commits_is_answered_from_the_writers_recent_events_not_the_file()
     {
        use db::EventReads;
        use sqlx::Connection;

        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("events.db");
        let writer = db::sqlite::open_writer(&path, db::Durability::Full)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let open_reader = || db::sqlite::open_reader(&path, db::Durability::Full, 1);
        let windowed = open_reader()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .with_recent_of(&writer);
        let file_only = open_reader().await.unwrap_or_else(|e| panic!("{e}"));
        let (handle, task) = spawn_writer(writer, 0, watch::channel(0).0);
        for id in ["a", "b"] {
            handle
                .append(append_to(id, 0))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // 本番では起きないこと: 行をファイルから消して、どちらから答えたかを見分けます。
        let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        sqlx::query("DELETE FROM events")
            .execute(&mut other)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let read = |reads: &db::sqlite::SqliteReads| {
            let reads = reads.clone();
            async move {
                reads
                    .read_window(&db::LogFilter::default(), 0, 2, 10, db::Order::OldestFirst)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
                    .iter()
                    .map(|e| (e.position, e.aggregate_id.clone()))
                    .collect::<Vec<_>>()
            }
        };

        assert_eq!(
            read(&windowed).await,
            [(1, "a".to_owned()), (2, "b".to_owned())],
            "窓から答える"
        );
        assert_eq!(read(&file_only).await, [], "窓の無い読み手はファイルを読む");
        stop(handle, task).await;
    }
}
