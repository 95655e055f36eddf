//! media-command サービス (8081) のテスト: アップロード、ファイルの取得、処理と補償。

mod files;
mod process;
mod upload;
