-- イベントストアのスキーマ (DESIGN §4)。
--
-- `events` と `snapshots` の列名は sqlite-es 0.5 (`SqliteEventRepository`) と同じです。
-- そのため sqlite-es の問い合わせ (集約の型と ID で `sequence` 順に読む、スナップショットを読む)
-- はこのファイルに対してそのまま動きます。MediaHub はそこに次を足しています。
--
-- - position: グローバルログ上の位置。rowid の別名 (INTEGER PRIMARY KEY) で、
--   書き込みは 1 本の書き込みタスクだけが行い、コミットが成功したときだけ進むので
--   1 から隙間なく、コミット順に並びます。
-- - event_id: エンベロープの id。一意 (同じ id の二重追記は一度だけ保存)。
-- - created_at: 保存時刻 (RFC 3339、UTC、マイクロ秒)。
-- - correlation_id / causation_id / user_id: メタデータから取り出した絞り込み用の列。
--   メタデータ全体は sqlite-es と同じく `metadata` に文字列の対応表 (JSON) で入ります。
CREATE TABLE events
(
  position       INTEGER PRIMARY KEY,
  aggregate_type TEXT    NOT NULL,
  aggregate_id   TEXT    NOT NULL,
  sequence       INTEGER NOT NULL CHECK (sequence >= 1),
  event_type     TEXT    NOT NULL,
  event_version  TEXT    NOT NULL,
  payload        TEXT    NOT NULL,
  metadata       TEXT    NOT NULL,
  event_id       TEXT    NOT NULL UNIQUE,
  created_at     TEXT    NOT NULL,
  correlation_id TEXT,
  causation_id   TEXT,
  user_id        TEXT,
  UNIQUE (aggregate_type, aggregate_id, sequence)
) STRICT;

-- グローバルログの絞り込み用。
CREATE INDEX events_by_type ON events (aggregate_type, position);
CREATE INDEX events_by_correlation ON events (correlation_id, position) WHERE correlation_id IS NOT NULL;
CREATE INDEX events_by_user ON events (user_id, position) WHERE user_id IS NOT NULL;

-- スナップショット。sqlite-es と同じ列で、集約ごとに 1 行です。
CREATE TABLE snapshots
(
  aggregate_type   TEXT    NOT NULL,
  aggregate_id     TEXT    NOT NULL,
  last_sequence    INTEGER NOT NULL CHECK (last_sequence >= 0),
  current_snapshot INTEGER NOT NULL CHECK (current_snapshot >= 0),
  payload          TEXT    NOT NULL,
  PRIMARY KEY (aggregate_type, aggregate_id)
) STRICT;
