//! MediaHub のサンプル集の共有部品 (実行できるサンプルの本体は `examples/*.rs`)。
//!
//! | サンプル | 見せること |
//! |---|---|
//! | `upload_saga_in_memory` | アップロード Saga を 1 プロセス・インメモリで最後まで (成功と 2 種の補償) |
//! | `tags_aggregate` | `mediahub-core` の決まりで書いた新しい集約 [`tags::MediaTags`] |
//! | `uploads_per_day_projection` | 購読ランナーの上の自作プロジェクション (チェックポイントと作り直し) |
//! | `tags_service` | サービスの部品 (`platform`・`consumer`・`store_client`) で作る小さな新サービス |
//!
//! 実行: `cargo run -p mediahub-examples --example <名前>`。イベントストアを使うサンプルは、
//! 環境変数 `MEDIAHUB_EVENTSTORE_URL` (と `make run` と同じ `JWT_SECRET`) があれば動いている
//! イベントストアにつなぎ、無ければ一時ディレクトリに自分のイベントストアを起動します
//! ([`store::EventStoreTarget`])。

pub mod store;
pub mod tags;
