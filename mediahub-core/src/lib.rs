//! # mediahub-core — MediaHub のドメイン層
//!
//! MediaHub は **CQRS・イベントソーシング・Saga** を、実際に動く 8 つのサービスで学ぶための
//! メディア (画像・動画) 共有システムです。このクレートはその中心にある **純粋なドメイン**
//! で、I/O (HTTP・データベース・ファイル) を一切含みません。サービス層 (`mediahub-services`)
//! はこのクレートを SQLite のイベントストアと HTTP につなぐ薄いシェルにすぎません。
//!
//! ## このクレートが表現する 3 つの考え方
//!
//! ### イベントソーシング
//! 集約の状態は保存しません。保存するのは「起きたこと」= **イベント** の列だけで、状態は
//! イベントを最初から順に当て直して ([`cqrs_es::Aggregate::apply`]) 得ます。だから
//! 「ある時点の状態」もいつでも再現できます (タイムトラベル)。
//!
//! ### CQRS (コマンドとクエリの責務分離)
//! 書き込み側は **コマンド** を受け、集約がビジネスルールに照らして受理すればイベントを出し、
//! 拒否すれば型付きのエラーを返します ([`cqrs_es::Aggregate::handle`])。読み取り側は
//! イベントを購読して、検索しやすい形の **読み取りモデル** (プロジェクション) を別に作ります。
//!
//! ### Saga (オーケストレーション)
//! アップロード → 処理 → アルバム追加 → 通知 のように複数サービスにまたがる処理を、
//! 分散トランザクションなしに最後まで進め、途中で失敗したら成功済みのステップを逆順に
//! **補償** して取り消します。詳しくは [`saga`] を見てください。
//!
//! ## モジュール
//!
//! | モジュール | 内容 |
//! |---|---|
//! | [`envelope`] | イベントストアに保存されるイベントの形 (グローバル位置・メタデータ付き) |
//! | [`ids`] | 型付き ID と、決定的な ID の導出 (Saga ID・デフォルトアルバム ID など) |
//! | [`media`] | メディア集約と受け入れ方針 (形式・サイズ・ファイル名) |
//! | [`album`] | アルバム集約 (デフォルトアルバムの規則) |
//! | [`notification`] | 通知集約 |
//! | [`user`] | ユーザー集約 (初回ログインの記録) |
//! | [`saga`] | メディアアップロード Saga と再試行の方針 |
//! | [`error`] | ドメインエラーの共通の分類 |
//!
//! ## 例: コマンドからイベントへ、イベントから状態へ
//!
//! ```
//! use cqrs_es::Aggregate;
//! use cqrs_es::event_sink::EventSink;
//! use mediahub_core::ids::{MediaId, UserId};
//! use mediahub_core::media::{ContentType, Media, MediaCommand, MediaStatus, UploadPolicy};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let mut media = Media::default();
//! let sink = EventSink::default();
//! let media_id = MediaId::new_random();
//! let command = MediaCommand::Upload {
//!     media_id,
//!     owner_id: UserId::new_random(),
//!     filename: "../../猫.jpg".into(),
//!     content_type: ContentType::Jpeg,
//!     size_bytes: 2048,
//!     sha256: "ab".repeat(32),
//!     storage_key: format!("{media_id}/original"),
//! };
//! media.handle(command, &UploadPolicy::default(), &sink).await.unwrap();
//!
//! let events = sink.collect().await;
//! assert_eq!(events.len(), 1); // MediaUploaded
//! assert_eq!(media.status(), MediaStatus::Uploaded);
//! assert_eq!(media.filename(), "猫.jpg"); // 表示用に無害化済み
//! # });
//! ```
//!
//! ## 例: Saga の純粋な判断
//!
//! ```
//! use cqrs_es::Aggregate;
//! use mediahub_core::ids::{MediaId, UserId};
//! use mediahub_core::saga::{ActionCommand, MediaUploadSaga, SagaInput, SagaPolicy, SagaStatus};
//!
//! let policy = SagaPolicy::default();
//! let mut saga = MediaUploadSaga::default();
//! let media_id = MediaId::new_random();
//! let uploaded = SagaInput::MediaUploaded {
//!     media_id,
//!     owner_id: UserId::new_random(),
//!     filename: "cat.jpg".into(),
//!     fault: None,
//! };
//! let reaction = saga.react(&uploaded, &policy);
//! for event in reaction.events { saga.apply(event); }
//! assert_eq!(saga.status(), SagaStatus::Running);
//! assert!(matches!(
//!     reaction.action.map(|a| a.command),
//!     Some(ActionCommand::ProcessMedia { .. })
//! ));
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod album;
pub mod envelope;
pub mod error;
pub mod ids;
pub mod media;
pub mod notification;
pub mod saga;
pub mod user;

pub use error::{DomainError, ErrorKind};
