//! イベントストアサービスへの HTTP クライアントと、`cqrs-es` のリポジトリ実装。
//!
//! - [`EventStoreClient`] — すべてのエンドポイント (追記・コミット・ストリーム読み取り・
//!   スナップショット・グローバルログのページ読み / ロングポーリング / SSE・先頭位置) の型付きメソッド。
//!   一時的な通信失敗は同じイベント ID のまま再試行します (追記は一度だけ保存される)。
//! - [`RemoteEventRepository`] — `cqrs_es::persist::PersistedEventRepository` の HTTP 実装。
//!   コマンドサービスは `PersistedEventStore::new_event_store(repo)` で `CqrsFramework` を
//!   そのまま中央のストアの上に組み立てます。版の衝突は `AggregateError::AggregateConflict` になります。
//! - [`execute_with_retry`] — 衝突を限られた回数だけ再試行してコマンドを実行し、
//!   最後にコミットされたイベントのグローバル位置 ([`CommandOutcome`]) を返します
//!   (DESIGN §5 の read-your-writes)。位置の受け渡しは [`CommitTracker`] が担います。
//!
//! 組み立て方の例は [`execute_with_retry`] を見てください。

mod client;
mod command;
mod error;
mod repository;
mod sse;
mod tracker;
mod types;

pub use client::{EventStoreClient, RetryPolicy, ServiceTokenProvider, StaticToken, TokenProvider};
pub use command::{CommandOutcome, execute_with_retry};
pub use error::{
    Problem, SNAPSHOT_CONFLICT_CODE, SNAPSHOT_NOT_FOUND_CODE, StoreClientError, TokenError,
    VERSION_CONFLICT_CODE,
};
pub use repository::{RemoteEventRepository, to_persistence_error};
pub use tracker::{COMMIT_TICKET_KEY, CommitTicket, CommitTracker};
pub use types::{AppendOutcome, LogPage, LogQuery, SnapshotUpdate, StoredSnapshot};
