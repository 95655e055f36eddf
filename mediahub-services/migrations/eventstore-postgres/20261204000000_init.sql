-- イベントストアのスキーマ (PostgreSQL)。列と意味は SQLite 版 (migrations/eventstore) と同じです。
--
-- position はシーケンス (BIGSERIAL) ではありません。シーケンスの値は「取った順」に配られますが、
-- トランザクションは「コミットした順」に見えるようになるので、シーケンスでは後ろの位置が先に
-- 見え、購読者が前の位置を読み飛ばすことがあります。イベントストアはトランザクションの初めに
-- 勧告ロック (pg_advisory_xact_lock) を取り、ロックの中で MAX(position) を読み直してから
-- 続きの位置を割り当てます。ロックはコミットの後で外れるので、位置はコミットの順に 1 から
-- 隙間なく並びます (docs/tutorial/09-beyond-one-machine.md)。
--
-- payload と metadata は JSON の文字列をそのまま (TEXT で) 保存します。SQLite 版と同じ
-- バイト列を返し、冪等な再送の比較も同じ結果になるようにするためです。
CREATE TABLE events
(
  position       BIGINT PRIMARY KEY CHECK (position >= 1),
  aggregate_type TEXT   NOT NULL,
  aggregate_id   TEXT   NOT NULL,
  sequence       BIGINT NOT NULL CHECK (sequence >= 1),
  event_type     TEXT   NOT NULL,
  event_version  TEXT   NOT NULL,
  payload        TEXT   NOT NULL,
  metadata       TEXT   NOT NULL,
  event_id       TEXT   NOT NULL UNIQUE,
  created_at     TEXT   NOT NULL,
  correlation_id TEXT,
  causation_id   TEXT,
  user_id        TEXT,
  UNIQUE (aggregate_type, aggregate_id, sequence)
);

-- グローバルログの絞り込み用。
CREATE INDEX events_by_type ON events (aggregate_type, position);
CREATE INDEX events_by_correlation ON events (correlation_id, position) WHERE correlation_id IS NOT NULL;
CREATE INDEX events_by_user ON events (user_id, position) WHERE user_id IS NOT NULL;

-- スナップショット。集約ごとに 1 行です。
CREATE TABLE snapshots
(
  aggregate_type   TEXT   NOT NULL,
  aggregate_id     TEXT   NOT NULL,
  last_sequence    BIGINT NOT NULL CHECK (last_sequence >= 0),
  current_snapshot BIGINT NOT NULL CHECK (current_snapshot >= 0),
  payload          TEXT   NOT NULL,
  PRIMARY KEY (aggregate_type, aggregate_id)
);
