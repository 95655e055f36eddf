-- ゲートウェイのユーザー索引 (User 集約の UserRegistered から作る読みモデル)。
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY NOT NULL,
    provider TEXT NOT NULL,
    provider_user_id TEXT NOT NULL,
    email TEXT,
    display_name TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    position INTEGER NOT NULL
);
