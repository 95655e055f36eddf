-- saga サービスの読みモデル: sagas (Saga ごとの要約) と saga_steps (タイムライン)。
-- round 1 は同じ表を起動時に CREATE TABLE IF NOT EXISTS で作っていたので、既存のファイルでも
-- 通るように IF NOT EXISTS のままにしています。
CREATE TABLE IF NOT EXISTS sagas (
    id               TEXT    PRIMARY KEY NOT NULL,
    media_id         TEXT    NOT NULL,
    owner_id         TEXT    NOT NULL,
    filename         TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    current_step     TEXT,
    attempt          INTEGER NOT NULL DEFAULT 0,
    correlation_id   TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    failure_reason   TEXT,
    version          INTEGER NOT NULL,
    position         INTEGER NOT NULL,
    started_position INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sagas_by_owner ON sagas (owner_id, started_position DESC);
CREATE INDEX IF NOT EXISTS sagas_by_status ON sagas (status);
CREATE TABLE IF NOT EXISTS saga_steps (
    saga_id  TEXT    NOT NULL,
    position INTEGER NOT NULL,
    step     TEXT    NOT NULL,
    attempt  INTEGER NOT NULL,
    outcome  TEXT    NOT NULL,
    reason   TEXT,
    at       TEXT    NOT NULL,
    PRIMARY KEY (saga_id, position)
);
