//! HTTP のイベントリポジトリ (store_client) のテスト: HTTP の往復と CqrsFramework との組み合わせ。

mod cqrs;
mod http;
