-- 一覧に注入した障害を出し、詳細に「次の試行の予定時刻」を出すための列。
-- 既存の行は NULL のまま (読みモデルを作り直せば埋まります)。
ALTER TABLE sagas ADD COLUMN fault TEXT;
ALTER TABLE sagas ADD COLUMN next_attempt_at TEXT;
