//! ゲートウェイの SQL: ユーザー索引 (`users` 表、マイグレーションは `migrations/gateway/`)。

use std::path::Path;

use mediahub_core::envelope::Envelope;
use mediahub_core::ids::UserId;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::error::StartError;
use crate::consumer;

/// 索引の 1 行 (`GET /api/v1/me` の中身)。
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// ユーザー ID。
    pub id: UserId,
    /// プロバイダ名。
    pub provider: String,
    /// メールアドレス。
    pub email: Option<String>,
    /// 表示名。
    pub display_name: String,
}

/// ユーザー索引を開きます (無ければディレクトリごと作り、マイグレーションを適用します)。
///
/// # エラー
/// 開けない・マイグレーションに失敗したなら [`StartError`]。
pub async fn open(path: &Path) -> Result<SqlitePool, StartError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| StartError::Database(sqlx::Error::Io(e)))?;
    }
    let pool = consumer::open_database(path).await?;
    sqlx::migrate!("./migrations/gateway").run(&pool).await?;
    Ok(pool)
}

/// ユーザーを ID で探します。
///
/// # エラー
/// 読み取りに失敗すれば `sqlx::Error`。
pub async fn find_user(pool: &SqlitePool, id: UserId) -> Result<Option<UserRecord>, sqlx::Error> {
    let row = sqlx::query("SELECT provider, email, display_name FROM users WHERE user_id = ?")
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?;
    row.map(|row| {
        Ok(UserRecord {
            id,
            provider: row.try_get("provider")?,
            email: row.try_get("email")?,
            display_name: row.try_get("display_name")?,
        })
    })
    .transpose()
}

/// `UserRegistered` を索引に書きます (同じユーザーがいれば何もしません)。
///
/// # エラー
/// 書き込みに失敗すれば `sqlx::Error`。
pub async fn insert_user(
    tx: &mut SqliteConnection,
    user: &UserRecord,
    provider_user_id: &str,
    event: &Envelope,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO users (user_id, provider, provider_user_id, email, display_name, \
         registered_at, position) VALUES (?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user.id.to_string())
    .bind(&user.provider)
    .bind(provider_user_id)
    .bind(&user.email)
    .bind(&user.display_name)
    .bind(event.created_at.to_rfc3339())
    .bind(i64::try_from(event.position).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// 索引を空にします (作り直しの始め)。
///
/// # エラー
/// 書き込みに失敗すれば `sqlx::Error`。
pub async fn clear_users(tx: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM users").execute(&mut *tx).await?;
    Ok(())
}
