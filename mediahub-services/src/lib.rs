//! MediaHub のサービス層。
//!
//! `mediahub-core` の純粋なドメインを、SQLite のイベントストアと HTTP (poem + poem-openapi)
//! につなぐ薄いシェルです。すべてのサービスは同じ形をしています:
//! **config → state → routes → run**。
//!
//! - [`platform`] — 全サービス共通の部品 (JWT 検証、problem+json、ログ、起動と停止)
//! - [`eventstore`] — イベントストアサービス (ポート 8084)
//! - [`store_client`] — イベントストアへの HTTP クライアントと `cqrs-es` のリポジトリ実装
//! - [`consumer`] — プロジェクション / リアクター共通の購読ランナー
//! - [`media_command`] — メディアの書き込み側: アップロード・処理・補償 (ポート 8081)
//! - [`media_query`] — メディアの読み取り側: 一覧・詳細・検索・履歴 (ポート 8082)
//! - [`album`] — アルバムサービス (ポート 8083)
//! - [`notification`] — 通知サービス (ポート 8086)
//! - [`saga`] — アップロード Saga のオーケストレーター (ポート 8085)
//! - [`gateway`] — ゲートウェイ: OAuth2 ログイン・JWT・ルーティング・CORS (ポート 8080)
//! - [`frontend`] — デバッグ UI (`web/`) を配るフロントエンドサービス (ポート 3000)
//! - [`system`] — 全サービスを 1 プロセスで起動する全部入りの起動 (`mediahub run`)

pub mod album;
pub mod consumer;
pub mod eventstore;
pub mod frontend;
pub mod gateway;
pub mod media_command;
pub mod media_query;
pub mod notification;
pub mod platform;
pub mod saga;
pub mod store_client;
pub mod system;

/// プロセス全体のメモリアロケータ: glibc の `malloc` の代わりに mimalloc を使います。
///
/// このクレートにつながるすべてのバイナリ (8 つのサービスと全部入りの `mediahub`、テスト、ベンチ、サンプル) が同じものを使います。
/// `make bench` の `commands` のプロファイルでは、時間の 14 % が glibc の `malloc`/`free` でした。
/// mimalloc にすると、ゲートウェイ越しの改名は同時実行 16 で 1,584 → 1,967 コマンド/秒、
/// 同時実行 1 の p50 は 2.80 → 2.24 ms になりました (3 回ずつ交互に測った中央値、issue #17)。
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
