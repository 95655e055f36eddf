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

/// mimalloc.h の `mi_option_e` の `mi_option_arena_eager_commit` の番号
/// (libmimalloc-sys 0.1.49 はこの二つに名前を付けていません)。
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
/// mimalloc.h の `mi_option_e` の `mi_option_purge_delay` の番号。
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc を、使い終わったメモリをすぐ OS に返す設定にします (サービスのバイナリと `mediahub` が
/// `main` の初めに呼びます)。
///
/// mimalloc の既定は、アリーナを確保と同時にコミットし (`arena_eager_commit`)、空いたページを
/// 1 秒待ってから返します (`purge_delay`)。待つあいだに次の確保や解放が無いと返す機会が来ないので、
/// 起動の途中で使って手放したメモリが残り、全部入りの `mediahub` の待機 RSS は 80 MB ほどでした
/// (glibc の `malloc` だった 2026-11-24 は 40.7 MB)。これを呼ぶと 52 MB ほどになり (最初のアリーナは
/// `main` より前に既定の設定でコミットされるので、環境変数で両方を 0 にしたときの 39 MB には届きません)、
/// コマンドの経路の速さと 1 コマンドあたりの CPU は変わりませんでした (`docs/development.md`、9 台目のマシン)。
///
/// 何度呼んでも同じです。ベンチマークは呼ばず、mimalloc の既定のままです。
pub fn tune_allocator() {
    #[allow(unsafe_code)]
    // SAFETY: `mi_option_set` は mimalloc の設定の値を書き換えるだけの C の関数で、ポインターを受け取らず、
    // どのスレッドからいつ呼んでもよい (mimalloc の文書)。番号は上のとおり mimalloc.h の列挙と同じです。
    unsafe {
        libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::{ARENA_EAGER_COMMIT, PURGE_DELAY};

    #[test]
    fn option_numbers_sit_where_mimalloc_h_puts_them_next_to_the_named_neighbours() {
        // mimalloc.h: verbose(2), deprecated_eager_commit(3), arena_eager_commit(4) …
        // purge_delay(15), use_numa_nodes(16)
        assert_eq!(ARENA_EAGER_COMMIT, libmimalloc_sys::mi_option_verbose + 2);
        assert_eq!(PURGE_DELAY, libmimalloc_sys::mi_option_use_numa_nodes - 1);
    }

    #[test]
    #[allow(unsafe_code)]
    fn tune_allocator_twice_turns_default_eager_commit_and_purge_delay_into_zero() {
        // SAFETY: `mi_option_get` は設定の値を読むだけの C の関数 (番号は `tune_allocator` と同じ)。
        let read = || unsafe {
            (
                libmimalloc_sys::mi_option_get(ARENA_EAGER_COMMIT),
                libmimalloc_sys::mi_option_get(PURGE_DELAY),
            )
        };
        assert_ne!(read(), (0, 0), "mimalloc の既定は 0 ではないはず");
        super::tune_allocator();
        super::tune_allocator();
        assert_eq!(read(), (0, 0));
    }
}
