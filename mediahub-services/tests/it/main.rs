//! mediahub-services の結合テスト (1 つのテストバイナリにまとめています)。
//!
//! どのテストも本物のサービスを 127.0.0.1 のポート 0 で起動し、一時ディレクトリの本物の SQLite
//! ファイルを使い、本物の HTTP で呼びます。モックはありません。
//!
//! テストファイルごとに別のバイナリにすると、ライブラリと依存をまるごとリンクしたバイナリが
//! ファイルの数だけでき、ビルド時間とディスクを大きく使います。そのため 1 つのバイナリに
//! まとめ、モジュールで分けています:
//!
//! - [`support`] … 共有の補助 (イベントストアやサービスの起動、HTTP の呼び出し、期限つきの待ち合わせ)
//! - サービスごとのモジュール (`eventstore`、`media_command`、`saga` など) … そのサービスのテスト
//! - [`system`] … 全サービスを起動する end-to-end テストとブラウザーテスト
//!
//! 一部だけを実行するには nextest のフィルターを使います: `cargo nextest run -E 'test(/^saga::/)'`。

mod support;

mod album;
mod cli;
mod consumer;
mod eventstore;
mod frontend;
mod gateway;
mod media_command;
mod media_query;
mod notification;
mod saga;
mod store_client;
mod support_smoke;
mod system;
