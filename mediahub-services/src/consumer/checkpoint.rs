//! 購読者ごとのチェックポイント (処理済みのグローバル位置) を SQLite に保存する。
//!
//! 表は購読者自身のデータベースにあり、`checkpoints (consumer, position, updated_at)` です。
//! サービスごとの sqlx マイグレーションと衝突しないよう、`CREATE TABLE IF NOT EXISTS` で作ります。

use sqlx::{SqliteConnection, SqlitePool};

use super::ConsumerError;

/// チェックポイント表を (なければ) 作ります。
pub(crate) async fn ensure_table(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS checkpoints (
            consumer   TEXT    PRIMARY KEY NOT NULL,
            position   INTEGER NOT NULL CHECK (position >= 0),
            updated_at TEXT    NOT NULL
        )",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// 購読者 `name` のチェックポイントを読みます (なければ 0)。
pub(crate) async fn load(pool: &SqlitePool, name: &str) -> Result<u64, ConsumerError> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT position FROM checkpoints WHERE consumer = ?")
        .bind(name)
        .fetch_optional(pool)
        .await?;
    match row {
        None => Ok(0),
        Some((position,)) => u64::try_from(position)
            .map_err(|_| ConsumerError::CorruptCheckpoint { stored: position }),
    }
}

/// 購読者 `name` のチェックポイントを `position` にします (呼び出し側のトランザクションの中で)。
pub(crate) async fn save(
    conn: &mut SqliteConnection,
    name: &str,
    position: u64,
) -> Result<(), ConsumerError> {
    let stored =
        i64::try_from(position).map_err(|_| ConsumerError::PositionOutOfRange { position })?;
    sqlx::query(
        "INSERT INTO checkpoints (consumer, position, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (consumer) DO UPDATE
            SET position = excluded.position, updated_at = excluded.updated_at",
    )
    .bind(name)
    .bind(stored)
    .bind(chrono::Utc::now().to_rfc3339())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// 購読者 `name` のチェックポイントを `from` から `to` に進めます (呼び出し側のトランザクションの中で)。
///
/// 保存されている値が `from` でなければ (同じ名前の別のランナーが先に進めた) 何もせず `false`。
/// 行がまだなければ (`from` が何であれ) 作ります。
pub(crate) async fn advance(
    conn: &mut SqliteConnection,
    name: &str,
    from: u64,
    to: u64,
) -> Result<bool, ConsumerError> {
    let from =
        i64::try_from(from).map_err(|_| ConsumerError::PositionOutOfRange { position: from })?;
    let stored =
        i64::try_from(to).map_err(|_| ConsumerError::PositionOutOfRange { position: to })?;
    let result = sqlx::query(
        "INSERT INTO checkpoints (consumer, position, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (consumer) DO UPDATE
            SET position = excluded.position, updated_at = excluded.updated_at
            WHERE checkpoints.position = ?",
    )
    .bind(name)
    .bind(stored)
    .bind(chrono::Utc::now().to_rfc3339())
    .bind(from)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}
