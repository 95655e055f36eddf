//! イベントストアサービスへの HTTP クライアントと、`cqrs-es` のリポジトリ実装。
//!
//! - [`EventStoreClient`] — すべてのエンドポイント (追記・コミット・ストリーム読み取り・
//!   スナップショット・グローバルログのページ読み / ロングポーリング / SSE・先頭位置) の型付きメソッド。
//!   一時的な通信失敗は同じイベント ID のまま再試行します (追記は一度だけ保存される)。
//! - [`RemoteEventRepository`] — `cqrs_es::persist::PersistedEventRepository` の HTTP 実装。
//!   コマンドサービスは `PersistedEventStore::new_event_store(repo)` で `CqrsFramework` を
//!   そのまま中央のストアの上に組み立てます。版の衝突は `AggregateError::AggregateConflict` になります。
//! - [`AggregateCommands`] — 一つの集約型へのコマンドの窓口。期待する版 (`If-Match`)、
//!   集約ごとの直列化、期限つきの衝突の再試行を行い、最後にコミットされたイベントの
//!   グローバル位置と新しい版 ([`CommandOutcome`]) を返します (read-your-writes)。
//!   位置の受け渡しは [`CommitTracker`] が担います。失敗は [`CommandError`] で、
//!   [`CommandError::to_problem`] がすべてのサービスで同じ problem+json にします。
//!
//! 組み立て方の例は [`AggregateCommands`] を見てください。

mod client;
mod command;
mod error;
mod repository;
mod sse;
mod tracker;
mod types;

pub use client::{EventStoreClient, RetryPolicy, ServiceTokenProvider, StaticToken, TokenProvider};
pub use command::{
    AggregateCommands, CommandError, CommandOutcome, DEFAULT_CONFLICT_DEADLINE, domain_problem,
};
pub use error::{RemoteProblem, StoreClientError, TokenError};
pub use repository::{RemoteEventRepository, to_persistence_error};
pub use tracker::{COMMIT_TICKET_KEY, CommitTicket, CommitTracker};
pub use types::{AppendOutcome, LogPage, LogQuery};
