//! ユーザーの登録 (User 集約へのコマンド) と、ゲートウェイ自身のユーザー索引 (読みモデル)。
//!
//! - 登録: ログインのたびに `UserCommand::Register` を共通の [`AggregateCommands`] (中央のイベントストアの上の
//!   [`RemoteEventRepository`]) で実行します。ユーザー ID は `UserId::for_identity(provider, id)`
//!   で決まり、登録済みなら集約は何も出さないので、**二回目以降のログインは何も変えません**。
//! - 索引: [`UserProjection`] が `User` 集約のイベントを購読ランナー ([`Consumer`](crate::consumer::Consumer)) で
//!   ゲートウェイの SQLite の `users` 表に写します (`GET /api/v1/me` が読みます)。

use std::time::Duration;

use mediahub_core::envelope::{Envelope, EventMetadata};
use mediahub_core::ids::{CorrelationId, UserId};
use mediahub_core::user::{User, UserCommand, UserEvent};
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::watch;

use super::db::{self, UserRecord};
use super::error::RequestError;
use crate::consumer::{EventFilter, EventHandler, HandlerError, wait_for_position};
use crate::platform::problem::Problem;
use crate::store_client::{AggregateCommands, EventStoreClient, RemoteEventRepository};
/// `GET /api/v1/me` が索引の追いつきを待つ最長時間。
pub const ME_WAIT: Duration = Duration::from_secs(5);

/// ログインした利用者の ID とプロフィール。
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// プロバイダ名 (`github` / `google` / `dev`)。
    pub provider: String,
    /// プロバイダ上の利用者 ID。
    pub provider_user_id: String,
    /// 検証済みのメールアドレス。
    pub email: Option<String>,
    /// 表示名。
    pub display_name: String,
}

/// ユーザーの登録と検索。
pub struct Users {
    commands: AggregateCommands<User>,
    client: EventStoreClient,
    pool: SqlitePool,
    positions: watch::Receiver<u64>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl Users {
    /// イベントストアのクライアント、索引のプール、購読ランナーの位置から作ります。
    #[must_use]
    pub fn new(
        client: EventStoreClient,
        pool: SqlitePool,
        positions: watch::Receiver<u64>,
    ) -> Self {
        Self {
            commands: AggregateCommands::new(RemoteEventRepository::new(client.clone()), ()),
            client,
            pool,
            positions,
        }
    }

    /// 初回なら `UserRegistered` を追記し、ユーザー ID を返します (二回目以降は何も書きません)。
    ///
    /// # エラー
    /// 業務ルール違反やイベントストアの失敗を [`Problem`] で返します。
    pub async fn register(&self, identity: Identity) -> Result<UserId, Problem> {
        let user_id = UserId::for_identity(&identity.provider, &identity.provider_user_id);
        let metadata =
            EventMetadata::correlated(CorrelationId::new_time_ordered()).by_user(user_id);
        self.commands
            .execute(
                &user_id.to_string(),
                None,
                || UserCommand::Register {
                    user_id,
                    provider: identity.provider.clone(),
                    provider_user_id: identity.provider_user_id.clone(),
                    email: identity.email.clone(),
                    display_name: identity.display_name.clone(),
                },
                &metadata,
            )
            .await
            .map_err(|e| e.problem())?;
        Ok(user_id)
    }

    async fn find(&self, id: UserId) -> Result<Option<UserRecord>, sqlx::Error> {
        db::find_user(&self.pool, id).await
    }

    /// 索引からユーザーを探します。見つからなければ、索引がイベントストアの現在の先頭に
    /// 追いつくまで (最長 [`ME_WAIT`]) 待ってからもう一度探します (ログイン直後の read-your-writes)。
    ///
    /// # エラー
    /// 登録されていなければ 404 (`gateway.user_not_found`)、索引やストアの失敗は [`Problem`]。
    pub async fn me(&self, id: UserId) -> Result<UserRecord, Problem> {
        let db_problem = |e: sqlx::Error| Problem::internal("gateway.users", &e);
        if let Some(found) = self.find(id).await.map_err(db_problem)? {
            return Ok(found);
        }
        let head =
            self.client.head().await.map_err(|e| {
                Problem::unavailable(format!("イベントストアに接続できません: {e}"))
            })?;
        if wait_for_position(self.positions.clone(), head, ME_WAIT)
            .await
            .is_err()
        {
            return Err(Problem::unavailable("ユーザー索引がまだ追いついていません"));
        }
        self.find(id)
            .await
            .map_err(db_problem)?
            .ok_or_else(|| RequestError::UserNotFound.into())
    }
}

/// `User` 集約のイベントを `users` 表に写すプロジェクション。
#[derive(Debug, Clone, Copy, Default)]
pub struct UserProjection;

impl EventHandler for UserProjection {
    async fn handle(
        &self,
        tx: &mut SqliteConnection,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        let UserEvent::UserRegistered {
            user_id,
            provider,
            provider_user_id,
            email,
            display_name,
        } = event.decode::<UserEvent>()?;
        db::insert_user(
            tx,
            &UserRecord {
                id: user_id,
                provider,
                email,
                display_name,
            },
            &provider_user_id,
            event,
        )
        .await?;
        Ok(())
    }

    async fn reset(&self, tx: &mut SqliteConnection) -> Result<(), HandlerError> {
        db::clear_users(tx).await?;
        Ok(())
    }

    fn filter(&self) -> EventFilter {
        EventFilter::aggregate_types(["User"])
    }
}
