//! media-query サービス (8082) のテスト: 一覧、詳細と履歴、読みモデルのライフサイクル。

mod detail;
mod lifecycle;
mod list;
