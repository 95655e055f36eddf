// アプリ全体の状態を持つ唯一のモジュール。
//
// ほかのモジュールは可変な状態をモジュールの最上位に置きません。ログイン中だけ意味のある状態は
// ここの `store` に置き、画面どうしの連絡は `bus` (EventTarget) のイベントで行います。
//
// bus のイベント名:
//   "domain-event"      detail: エンベロープ (SSE で新しく届いたイベント)
//   "events-reset"      detail: なし (イベントの一覧を読み直した)
//   "live-status"       detail: {stream: "events"|"notifications", status}
//   "notification"      detail: 通知 (SSE で届いた)
//   "unread-changed"    detail: {count}
//   "upload-accepted"   detail: {media_id, saga_id, position, correlation_id, fault, pace_ms} (アップロードが受け付けられた)
//   "navigate"          detail: {tab, sagaId?, mediaId?, correlationId?}
//   "locale-changed"    detail: {locale}
//   "unauthorized"      detail: なし (トークンが無効になった)

/** イベント一覧のバッファに残す最大件数。 */
export const MAX_BUFFERED_EVENTS = 2000;

/**
 * アプリの状態。ログアウトで `resetSession()` により初期状態に戻ります。
 * トークンはここと sessionStorage だけに置き、URL やログには決して出しません。
 */
export const store = {
  /** @type {string|null} ゲートウェイが発行した JWT */
  token: null,
  /** @type {{id:string,email?:string,display_name?:string,provider?:string}|null} */
  user: null,
  /** @type {AbortController|null} ログイン中のセッション (ログアウトで abort) */
  session: null,
  /** read-your-writes 用: 読み取り側ごとに、直近のコマンド応答が返した position */
  positions: { media: 0, album: 0, notification: 0 },
  /** @type {object[]} SSE で受け取ったイベントのバッファ (position の昇順) */
  events: [],
  /** 受け取ったイベントの最大の position (未取得なら null) */
  lastPosition: /** @type {number|null} */ (null),
  /** ストリームの状態 */
  live: { events: "idle", notifications: "idle" },
  /** 表示言語 ("ja" | "en")。ログアウトしても保持します */
  locale: "ja",
  /** @type {Map<string,string>} 画像 Blob の Object URL (キー → URL) */
  blobUrls: new Map(),
  /**
   * @type {Map<string,string>} このセッションでアップロードしたメディアの障害注入 (メディア ID → "process" など)。
   * Saga の一覧の API (SagaSummary) には障害注入の欄が無いので、ここと受け取ったイベントから補います。
   */
  faults: new Map(),
};

/** 画面どうしの連絡に使うイベントバス。 */
export const bus = new EventTarget();

/**
 * バスにイベントを流します。
 * @param {string} type イベント名
 * @param {unknown} [detail] 付随する値
 */
export function emit(type, detail) {
  bus.dispatchEvent(new CustomEvent(type, { detail }));
}

/**
 * バスのイベントを購読します。`signal` が abort されると自動で解除されます。
 * @param {string} type イベント名
 * @param {(detail: any) => void} handler 受け取る関数
 * @param {AbortSignal} [signal] 購読をやめる合図
 */
export function on(type, handler, signal) {
  bus.addEventListener(type, (e) => handler(/** @type {CustomEvent} */ (e).detail), { signal });
}

/**
 * コマンド応答の position を記録します (次の問い合わせの min_position になります)。
 * @param {"media"|"album"|"notification"} side 読み取り側
 * @param {unknown} position コマンド応答の position
 */
export function notePosition(side, position) {
  const n = Number(position);
  if (Number.isFinite(n) && n > store.positions[side]) {
    store.positions[side] = n;
  }
}

/**
 * Blob の Object URL を覚えます。同じキーの古い URL は解放 (revoke) します。
 * @param {string} key キー (例: "thumb:<media id>")
 * @param {string} url `URL.createObjectURL` の結果
 */
export function rememberBlobUrl(key, url) {
  const old = store.blobUrls.get(key);
  if (old && old !== url) {
    URL.revokeObjectURL(old);
  }
  store.blobUrls.set(key, url);
}

/**
 * 覚えている Object URL を解放して忘れます。
 * @param {string} key キー
 */
export function forgetBlobUrl(key) {
  const old = store.blobUrls.get(key);
  if (old) {
    URL.revokeObjectURL(old);
    store.blobUrls.delete(key);
  }
}

/**
 * セッションに属する状態をすべて捨てます (ログアウト時)。
 * 進行中の通信とストリームを止め、Object URL を解放します。
 */
export function resetSession() {
  store.session?.abort();
  store.session = null;
  store.token = null;
  store.user = null;
  store.positions = { media: 0, album: 0, notification: 0 };
  store.events = [];
  store.lastPosition = null;
  store.live = { events: "idle", notifications: "idle" };
  for (const url of store.blobUrls.values()) {
    URL.revokeObjectURL(url);
  }
  store.blobUrls.clear();
  store.faults = new Map();
}
