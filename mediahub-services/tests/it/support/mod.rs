//! 結合テストで共有する補助。
//!
//! 下の層から順に: 期限つきの待ち合わせ ([`common`])、イベントストア ([`eventstore`]、
//! [`store_client`])、ドメインサービス共通 ([`services`])、サービスごとの起動補助、
//! 全サービスの起動 ([`system`]) とブラウザー ([`browser`])。

pub mod album;
pub mod browser;
pub mod common;
pub mod eventstore;
pub mod gateway;
pub mod media_command;
pub mod media_query;
pub mod notification;
pub mod postgres;
pub mod process;
pub mod saga;
pub mod services;
pub mod store_client;
pub mod system;
