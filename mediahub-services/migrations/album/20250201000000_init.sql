-- album サービスの読みモデル (DESIGN §5)。すべて Album と Media のイベントから作られ、
-- `POST /internal/v1/rebuild` で空にして位置 0 から作り直せます。
--
-- - albums: アルバムの一覧と詳細 (削除されたアルバムの行は消します)。
-- - album_media: アルバムに入っているメディア (追加されたイベントの時刻と位置つき)。
-- - media_owners: album サービス自身が持つ「メディアの所有者と状態」の射影。
--   メディアの追加はこれで所有者を確かめます (media-command への同期呼び出しはしません)。
-- - pending_removals: MediaDeleted / MediaInvalidated を見たときに「このアルバムから外す」と
--   記録した予定。射影のトランザクションの中で書き、コミットの後に別のタスクが
--   RemoveMedia コマンドを実行して行を消します (副作用をトランザクションの外に出すため)。
CREATE TABLE albums
(
  id               TEXT    PRIMARY KEY NOT NULL,
  owner_id         TEXT    NOT NULL,
  name             TEXT    NOT NULL,
  is_default       INTEGER NOT NULL CHECK (is_default IN (0, 1)),
  created_at       TEXT    NOT NULL,
  updated_at       TEXT    NOT NULL,
  version          INTEGER NOT NULL,
  created_position INTEGER NOT NULL
) STRICT;

CREATE INDEX albums_by_owner ON albums (owner_id, is_default, created_position);

CREATE TABLE album_media
(
  album_id TEXT    NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
  media_id TEXT    NOT NULL,
  added_at TEXT    NOT NULL,
  position INTEGER NOT NULL,
  PRIMARY KEY (album_id, media_id)
) STRICT;

CREATE INDEX album_media_by_media ON album_media (media_id);

CREATE TABLE media_owners
(
  media_id TEXT    PRIMARY KEY NOT NULL,
  owner_id TEXT    NOT NULL,
  status   TEXT    NOT NULL,
  position INTEGER NOT NULL
) STRICT;

CREATE TABLE pending_removals
(
  album_id       TEXT    NOT NULL,
  media_id       TEXT    NOT NULL,
  owner_id       TEXT    NOT NULL,
  cause_event_id TEXT    NOT NULL,
  cause_position INTEGER NOT NULL,
  correlation_id TEXT,
  user_id        TEXT,
  PRIMARY KEY (album_id, media_id)
) STRICT;
