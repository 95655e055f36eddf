//! # mediahub-core — MediaHub のドメイン層
//!
//! MediaHub は **CQRS・イベントソーシング・Saga** を、実際に動く 8 つのサービスで学ぶための
//! メディア (画像・動画) 共有システムです。このクレートはその中心にある **純粋なドメイン**
//! で、I/O (HTTP・データベース・ファイル) を一切含みません。サービス層 (`mediahub-services`)
//! はこのクレートを SQLite のイベントストアと HTTP につなぐ薄いシェルにすぎません。
//!
//! ## 5 分で一周: 集約 → コマンド → イベント → Saga
//!
//! 下の 4 つの例は、どれもそのままコンパイルされ、doctest として実行されて確かめられています。
//! 順に読むと、アップロード 1 件がこのクレートの中をどう流れるかを一周できます。
//!
//! ### 1. 集約: 状態はイベントを当て直して作る (イベントソーシング)
//!
//! 集約の状態は保存しません。保存するのは「起きたこと」= **イベント** の列だけで、状態は
//! 空の集約にイベントを最初から順に当てて ([`cqrs_es::Aggregate::apply`]) 得ます。途中までの
//! イベントだけを当てれば、その時点の状態も再現できます (タイムトラベル)。`apply` は過去の事実を
//! 写すだけなので失敗しません。
//!
//! ```
//! use cqrs_es::Aggregate;
//! use mediahub_core::album::{Album, AlbumEvent, DEFAULT_ALBUM_NAME};
//! use mediahub_core::ids::{AlbumId, MediaId, UserId};
//!
//! let owner = UserId::new_random();
//! let media = MediaId::new_random();
//! let history = [
//!     AlbumEvent::AlbumCreated {
//!         album_id: AlbumId::default_for(owner), // 利用者から決まる ID: デフォルトアルバムは一人一つ
//!         owner_id: owner,
//!         name: DEFAULT_ALBUM_NAME.into(),
//!         is_default: true,
//!     },
//!     AlbumEvent::MediaAddedToAlbum { media_id: media },
//!     AlbumEvent::AlbumRenamed { name: "旅行".into() },
//! ];
//!
//! let mut album = Album::default();
//! for event in history.clone() {
//!     album.apply(event);
//! }
//! assert_eq!(album.name(), "旅行");
//! assert!(album.is_default()); // 改名してもデフォルトのまま
//! assert_eq!(album.media().collect::<Vec<_>>(), [media]);
//!
//! // 最初の 2 件だけを当てると、改名する前の状態
//! let mut before_rename = Album::default();
//! for event in history.into_iter().take(2) {
//!     before_rename.apply(event);
//! }
//! assert_eq!(before_rename.name(), DEFAULT_ALBUM_NAME);
//! ```
//!
//! ### 2. コマンド: 規則に照らして、イベントを出すか型付きのエラーで断る (CQRS の書き込み側)
//!
//! **コマンド** は「こうしてほしい」という依頼です。集約は今の状態と規則に照らして判断し
//! ([`cqrs_es::Aggregate::handle`])、受理すればイベントを出し、拒めば型付きのエラーを返します。
//! 判断は I/O も時計も乱数も使わない純粋なコードなので、同じ状態と同じコマンドからは必ず同じ結果が
//! 出ます (サービス層は版の衝突のあと、安心して判断をやり直せます)。「もうそうなっている」依頼は
//! エラーにせず、イベントを出さずに成功します (冪等)。エラーはすべて [`DomainError`] を実装し、
//! サービス層はその `code` を problem+json の `code` に、[`ErrorKind`] を HTTP の状態コードに
//! 一様に写します。
//!
//! ```
//! use cqrs_es::Aggregate;
//! use cqrs_es::event_sink::EventSink;
//! use mediahub_core::ids::{MediaId, UserId};
//! use mediahub_core::media::{ContentType, Media, MediaCommand, MediaEvent, MediaStatus, UploadPolicy};
//! use mediahub_core::{DomainError, ErrorKind};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let (media_id, owner_id) = (MediaId::new_random(), UserId::new_random());
//! let upload = |filename: &str, size_bytes| MediaCommand::Upload {
//!     media_id,
//!     owner_id,
//!     filename: filename.into(),
//!     content_type: ContentType::Jpeg,
//!     size_bytes,
//!     sha256: "ab".repeat(32),
//!     storage_key: format!("{media_id}/original"),
//! };
//! let policy = UploadPolicy::default();
//!
//! // 受理: イベントが出る。状態もそのイベントの apply で変わる
//! let mut media = Media::default();
//! let sink = EventSink::default();
//! media.handle(upload("../../猫.jpg", 2048), &policy, &sink).await.unwrap();
//! let events = sink.collect().await;
//! assert!(matches!(
//!     &events[..],
//!     [MediaEvent::MediaUploaded { filename, .. }] if filename == "猫.jpg" // 表示用に無害化済み
//! ));
//! assert_eq!(media.status(), MediaStatus::Uploaded);
//!
//! // 同じ依頼の再送: もうアップロード済みなので、イベントを出さずに成功 (冪等)
//! let sink = EventSink::default();
//! media.handle(upload("../../猫.jpg", 2048), &policy, &sink).await.unwrap();
//! assert!(sink.collect().await.is_empty());
//!
//! // 拒否: イベントは出ず、型付きのエラー (HTTP では 400 と code "media.empty_file")
//! let mut fresh = Media::default();
//! let err = fresh
//!     .handle(upload("空.jpg", 0), &policy, &EventSink::default())
//!     .await
//!     .unwrap_err();
//! assert_eq!((err.code(), err.kind()), ("media.empty_file", ErrorKind::Invalid));
//! # });
//! ```
//!
//! ### 3. イベント: グローバルログに並ぶ 1 件 (CQRS の読み取り側へ)
//!
//! イベントストアに保存されるイベントは [`envelope::Envelope`] の形をしています。本体 (`data`) は
//! ドメインイベントの JSON で、イベントストアが **グローバル位置** (`position`、全集約を通した
//! コミット順) と **版** (`version`、集約ごとの連番) を振ります。読む側は
//! [`envelope::Envelope::decode`] で型に戻します。集約の再構築も、読み取り側の **読みモデル**
//! (プロジェクション) の更新も、同じイベントを読むだけです。
//!
//! ```
//! use chrono::Utc;
//! use cqrs_es::Aggregate;
//! use mediahub_core::envelope::{Envelope, EventMetadata, NewEvent};
//! use mediahub_core::ids::{CorrelationId, EventId, MediaId, UserId};
//! use mediahub_core::media::{Media, MediaEvent, MediaKind, MediaStatus};
//!
//! let media_id = MediaId::new_random();
//! let uploaded = MediaEvent::MediaUploaded {
//!     media_id,
//!     owner_id: UserId::new_random(),
//!     filename: "cat.jpg".into(),
//!     content_type: "image/jpeg".into(),
//!     size_bytes: 2048,
//!     sha256: "ab".repeat(32),
//!     kind: MediaKind::Image,
//!     storage_key: format!("{media_id}/original"),
//! };
//!
//! // 追記する形: 型名・スキーマ版・JSON の本体と、操作を追うためのメタデータ (相関 ID など)
//! let correlation = CorrelationId::new_random();
//! let metadata = EventMetadata::correlated(correlation);
//! let new = NewEvent::from_domain(&uploaded, EventId::new_time_ordered(), metadata)?;
//! assert_eq!(new.event_type, "MediaUploaded");
//! assert_eq!(new.data["MediaUploaded"]["filename"], "cat.jpg");
//!
//! // イベントストアが位置と版を振って保存した形 (ここでは手で作ります)
//! let stored = Envelope {
//!     id: new.id,
//!     position: 42, // グローバルログ上の位置
//!     aggregate_id: media_id.to_string(),
//!     aggregate_type: Media::TYPE.into(),
//!     event_type: new.event_type,
//!     event_version: new.event_version,
//!     data: new.data,
//!     version: 1, // この集約の 1 件目
//!     created_at: Utc::now(),
//!     metadata: new.metadata,
//! };
//! assert_eq!(stored.metadata.correlation_id, Some(correlation));
//!
//! // 読む側は型に戻して当てる
//! let mut media = Media::default();
//! media.apply(stored.decode::<MediaEvent>()?);
//! assert_eq!(media.status(), MediaStatus::Uploaded);
//! assert_eq!(media.id(), Some(media_id));
//! # Ok::<(), mediahub_core::envelope::EnvelopeError>(())
//! ```
//!
//! ### 4. Saga: イベントに反応して、次の行動を決める
//!
//! アップロード → 処理 → アルバム追加 → 通知 のように複数のサービスにまたがる処理を、分散
//! トランザクションなしに最後まで進め、途中で失敗したら成功済みのステップを逆順に **補償** して
//! 取り消すのが [`saga::MediaUploadSaga`] です。判断関数 [`saga::MediaUploadSaga::react`] は
//! 「Saga の状態 + 入力 1 件 → 記録する Saga のイベント + 次の行動」を返すだけの純粋な関数で、
//! 実際に参加者を HTTP で呼ぶのはサービス層です。ドメインイベントは
//! [`saga::SagaInput::from_envelope`] で Saga への入力に写されます。
//!
//! ```
//! use cqrs_es::Aggregate;
//! use mediahub_core::ids::{MediaId, SagaId};
//! use mediahub_core::saga::{ActionCommand, MediaUploadSaga, SagaInput, SagaPolicy, SagaStatus};
//! # use chrono::Utc;
//! # use mediahub_core::envelope::{Envelope, EventMetadata, NewEvent};
//! # use mediahub_core::ids::{EventId, UserId};
//! # use mediahub_core::media::{Media, MediaEvent, MediaKind};
//!
//! let media_id = MediaId::new_random();
//! // ログに保存された MediaUploaded のエンベロープ (作り方は 3 と同じなので省略)
//! # let uploaded = MediaEvent::MediaUploaded {
//! #     media_id,
//! #     owner_id: UserId::new_random(),
//! #     filename: "cat.jpg".into(),
//! #     content_type: "image/jpeg".into(),
//! #     size_bytes: 2048,
//! #     sha256: "ab".repeat(32),
//! #     kind: MediaKind::Image,
//! #     storage_key: format!("{media_id}/original"),
//! # };
//! # let new = NewEvent::from_domain(&uploaded, EventId::new_random(), EventMetadata::default())
//! #     .unwrap();
//! # let stored = Envelope {
//! #     id: new.id,
//! #     position: 42,
//! #     aggregate_id: media_id.to_string(),
//! #     aggregate_type: Media::TYPE.into(),
//! #     event_type: new.event_type,
//! #     event_version: new.event_version,
//! #     data: new.data,
//! #     version: 1,
//! #     created_at: Utc::now(),
//! #     metadata: new.metadata,
//! # };
//!
//! // ドメインイベントを、届け先の Saga と入力に写す (Saga ID はメディア ID から決まる)
//! let (saga_id, input) = SagaInput::from_envelope(&stored).unwrap().unwrap();
//! assert_eq!(saga_id, SagaId::for_media(media_id));
//!
//! // MediaUploaded で Saga が始まり、最初の行動「メディアを処理して」が返る
//! let policy = SagaPolicy::default();
//! let mut saga = MediaUploadSaga::default();
//! let reaction = saga.react(&input, &policy);
//! for event in reaction.events {
//!     saga.apply(event);
//! }
//! assert_eq!(saga.status(), SagaStatus::Running);
//! let action = reaction.action.unwrap();
//! assert!(matches!(action.command, ActionCommand::ProcessMedia { .. }));
//! // 受け手はこのキーで重複を見分ける (再試行しても変わらない)
//! assert_eq!(action.idempotency_key(), format!("{saga_id}:process_media"));
//!
//! // 同じイベントがもう一度届いても (配信は「少なくとも一回」) 何も起きない
//! assert!(saga.react(&input, &policy).events.is_empty());
//!
//! // 処理が失敗したら補償へ: まずアップロードされたファイルの削除を頼む
//! let failed = SagaInput::MediaProcessingFailed {
//!     reason: "JPEG を復号できません".into(),
//! };
//! let reaction = saga.react(&failed, &policy);
//! for event in reaction.events {
//!     saga.apply(event);
//! }
//! assert_eq!(saga.status(), SagaStatus::Compensating);
//! assert!(matches!(
//!     reaction.action.map(|a| a.command),
//!     Some(ActionCommand::DeleteUploadedFile { .. })
//! ));
//! ```
//!
//! ## 自分の集約・プロジェクション・サービスを足す
//!
//! リポジトリ (<https://github.com/nao1215/mediahub>) の `examples/` に、このクレートと
//! `mediahub-services` の部品を使う実行可能なサンプルがあります (`make examples` ですべて実行できます)。
//!
//! - リポジトリの `examples/src/tags.rs` と `examples/tags_aggregate.rs` — このクレートの決まり
//!   (純粋な `decide`、[`DomainError`] を実装した型付きのエラー、`apply`) で書いた新しい集約
//!   `MediaTags` と、given / when / then のテスト。実行は
//!   `cargo run -p mediahub-examples --example tags_aggregate`
//! - リポジトリの `examples/uploads_per_day_projection.rs` — 購読ランナーの上に作る自作の
//!   プロジェクション (チェックポイントからの再開と、位置 0 からの作り直し)
//! - リポジトリの `examples/tags_service.rs` — サービスの部品 (コマンド側・購読ランナー・
//!   `/openapi.json` と Swagger UI・JWT) だけで組み立てた小さなタグのサービス
//! - リポジトリの `examples/upload_saga_in_memory.rs` — 4 つの集約と Saga を 1 プロセス・
//!   インメモリで動かし、成功と 2 種類の補償を最後まで見る
//!
//! 手順を追った解説は、リポジトリの `docs/tutorial/10-your-own-service.md` にあります。
//! 手本にする集約は [`album::Album`] (コマンド・イベント・エラーの表がモジュールの先頭にあります) です。
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
