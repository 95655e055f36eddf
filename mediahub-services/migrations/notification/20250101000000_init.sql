-- 通知サービスの読みモデル (Notification 集約のイベントから作る)。
CREATE TABLE IF NOT EXISTS notifications (
    id            TEXT    PRIMARY KEY NOT NULL,
    user_id       TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    message       TEXT    NOT NULL,
    media_id      TEXT,
    saga_id       TEXT,
    read          INTEGER NOT NULL DEFAULT 0 CHECK (read IN (0, 1)),
    created_at    TEXT    NOT NULL,
    read_at       TEXT,
    -- NotificationSent のグローバル位置 (並び順と SSE の id に使う。既読にしても変わらない)
    position      INTEGER NOT NULL CHECK (position > 0)
);

CREATE INDEX IF NOT EXISTS notifications_by_user
    ON notifications (user_id, position);

CREATE INDEX IF NOT EXISTS notifications_unread_by_user
    ON notifications (user_id, read, position);
