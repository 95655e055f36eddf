// ログイン中ずっと動く、自分のイベントのライブ購読。
//
// 1. GET /api/v1/events をページごとに読み、これまでのイベントを store.events に入れる
// 2. GET /api/v1/events/stream?after=<最後の position> を fetch で読み続ける (sse.js)
// 新しいイベントはバスの "domain-event" で各タブに届き、タブはそれを合図に読み直します
// (固定間隔のポーリングはしません)。

import { apiUrl, authHeaders, listEvents, networkError, problemFromResponse } from "./api.js";
import { runEventStream } from "./sse.js";
import { emit, MAX_BUFFERED_EVENTS, store } from "./state.js";
import { showError } from "./ui.js";
import { t } from "./i18n.js";

const PAGE_SIZE = 500;
const MAX_PAGES = 20;

/**
 * イベントをバッファに加えます (position が既知のものは捨てます)。加えたら true。
 * @param {any} envelope エンベロープ
 * @returns {boolean} 新しいイベントなら true
 */
function remember(envelope) {
  const position = Number(envelope?.position);
  if (!Number.isFinite(position)) {
    return false;
  }
  if (store.lastPosition !== null && position <= store.lastPosition) {
    return false;
  }
  store.lastPosition = position;
  store.events.push(envelope);
  if (store.events.length > MAX_BUFFERED_EVENTS) {
    store.events.splice(0, store.events.length - MAX_BUFFERED_EVENTS);
  }
  return true;
}

/**
 * これまでのイベントを読み込みます。
 * @param {AbortSignal} signal 中止の合図
 */
async function loadBacklog(signal) {
  let after = 0;
  for (let page = 0; page < MAX_PAGES && !signal.aborted; page += 1) {
    const events = await listEvents({ after, limit: PAGE_SIZE });
    for (const e of events) {
      remember(e);
    }
    if (events.length < PAGE_SIZE || store.lastPosition === null) {
      break;
    }
    after = store.lastPosition;
  }
}

/**
 * ライブ購読を始めます。signal が abort される (ログアウト) まで動き続けます。
 * @param {AbortSignal} signal セッションの合図
 */
export async function startLiveEvents(signal) {
  try {
    await loadBacklog(signal);
  } catch (error) {
    showError(error, t("events.loadFailed"));
  }
  emit("events-reset");
  let failures = 0;
  await runEventStream({
    signal,
    url: (lastEventId) => {
      const fromId = Number(lastEventId);
      const after = Number.isFinite(fromId) && lastEventId !== "" ? Math.max(fromId, store.lastPosition ?? 0) : store.lastPosition ?? 0;
      return apiUrl("/api/v1/events/stream", { after });
    },
    lastEventId: store.lastPosition !== null ? String(store.lastPosition) : "",
    headers: authHeaders,
    onHttpError: problemFromResponse,
    onMessage: (message) => {
      let envelope;
      try {
        envelope = JSON.parse(message.data);
      } catch {
        return; // JSON でないもの (キープアライブなど) は無視
      }
      if (remember(envelope)) {
        emit("domain-event", envelope);
      }
    },
    onStatus: (status, error) => {
      store.live.events = status;
      emit("live-status", { stream: "events", status });
      if (status === "open") {
        failures = 0;
      }
      if (status === "retrying" && error) {
        failures += 1;
        if (failures === 1) {
          showError(error instanceof TypeError ? networkError() : error, t("live.eventsLost"));
        }
      }
      if (status === "unauthorized") {
        emit("unauthorized");
      }
    },
  });
}
