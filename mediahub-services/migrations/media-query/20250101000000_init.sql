-- media-query の読みモデル (DESIGN §5)。
--
-- `media` はメディア 1 件につき 1 行で、Media 集約のイベントを順に反映した結果です。
-- - pk: FTS5 (外部コンテンツ表) と結びつけるための整数の行 ID。
-- - version / position: 最後に反映したイベントの版とグローバル位置 (再適用の判定に使います)。
-- - created_position: MediaUploaded の位置。一覧の並び (新しい順) とカーソルに使います
--   (更新されても変わらないので、ページをまたいでも並びが安定します)。
-- - has_thumbnail: MediaProcessed を反映したら 1。
-- 時刻は RFC 3339 (UTC、マイクロ秒) の文字列です。
CREATE TABLE media
(
  pk               INTEGER PRIMARY KEY,
  id               TEXT    NOT NULL UNIQUE,
  owner_id         TEXT    NOT NULL,
  filename         TEXT    NOT NULL,
  content_type     TEXT    NOT NULL,
  kind             TEXT    NOT NULL,
  size             INTEGER NOT NULL CHECK (size >= 0),
  sha256           TEXT    NOT NULL,
  status           TEXT    NOT NULL,
  width            INTEGER,
  height           INTEGER,
  duration_ms      INTEGER,
  has_thumbnail    INTEGER NOT NULL DEFAULT 0 CHECK (has_thumbnail IN (0, 1)),
  failure_reason   TEXT,
  version          INTEGER NOT NULL CHECK (version >= 1),
  position         INTEGER NOT NULL CHECK (position >= 1),
  created_position INTEGER NOT NULL CHECK (created_position >= 1),
  correlation_id   TEXT,
  created_at       TEXT    NOT NULL,
  updated_at       TEXT    NOT NULL
) STRICT;

CREATE INDEX media_owner_newest ON media (owner_id, created_position DESC, id DESC);

-- ファイル名の全文検索 (外部コンテンツ表。本体は media に 1 つだけ持ちます)。
-- unicode61 は英数字以外 (`-` `_` `.` など) で区切るので、`sunset-640x427.jpg` は
-- `sunset` `640x427` `jpg` の 3 語になります。前方一致の検索 (`"sun"*`) を速くするため、
-- 1〜3 文字の接頭辞の索引も作ります。
CREATE VIRTUAL TABLE media_fts USING fts5(
  filename,
  content = 'media',
  content_rowid = 'pk',
  tokenize = 'unicode61 remove_diacritics 2',
  prefix = '1 2 3'
);

-- media と media_fts を同期させるトリガー (SQLite の文書にある外部コンテンツ表の定型)。
CREATE TRIGGER media_fts_after_insert AFTER INSERT ON media BEGIN
  INSERT INTO media_fts (rowid, filename) VALUES (new.pk, new.filename);
END;

CREATE TRIGGER media_fts_after_delete AFTER DELETE ON media BEGIN
  INSERT INTO media_fts (media_fts, rowid, filename) VALUES ('delete', old.pk, old.filename);
END;

CREATE TRIGGER media_fts_after_update AFTER UPDATE OF filename ON media BEGIN
  INSERT INTO media_fts (media_fts, rowid, filename) VALUES ('delete', old.pk, old.filename);
  INSERT INTO media_fts (rowid, filename) VALUES (new.pk, new.filename);
END;
