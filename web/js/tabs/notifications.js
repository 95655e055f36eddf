// 通知のタブ: ライブの一覧、ヘッダーの未読バッジ、既読・すべて既読。
//
// 新しい通知は GET /api/v1/notifications/stream (SSE、fetch で読む) で届きます。
// そのストリームが使えないときも、NotificationSent / NotificationRead のイベントを合図に
// 未読数を読み直すので、バッジは動き続けます。

import * as api from "../api.js";
import { localizeServerText, t } from "../i18n.js";
import { emit, on, store } from "../state.js";
import { runEventStream } from "../sse.js";
import {
  backoffLoop,
  debounce,
  errorPlaceholder,
  formatTime,
  h,
  isAbort,
  placeholder,
  reconcile,
  replaceChildren,
  serialized,
  showError,
  showToast,
} from "../ui.js";

/** 一覧の 1 ページの件数 */
const PAGE_SIZE = 20;
/** 読み直すときに一度に読む最大の件数 (API の上限) */
const MAX_REFRESH_LIMIT = 100;

/**
 * 通知のタブを作ります。
 * @param {import("./media.js").TabContext & {badge: HTMLElement}} ctx 文脈 (badge はヘッダーの未読バッジ)
 * @returns {{activate: () => void}} 操作
 */
export function createNotificationsTab({ panel, signal, badge }) {
  const $ = (role) => /** @type {HTMLElement} */ (panel.querySelector(`[data-role="${role}"]`));
  const list = $("list");
  const listStatus = $("list-status");
  const readAllButton = /** @type {HTMLButtonElement} */ ($("read-all"));
  const unreadOnly = /** @type {HTMLInputElement} */ ($("unread-only"));
  const moreButton = /** @type {HTMLButtonElement} */ ($("more"));

  /** @type {any[]} */
  let items = [];
  /** @type {string|null} 次のページのカーソル */
  let nextCursor = null;
  let loaded = false;
  let unread = 0;
  /**
   * 終わった既読操作の回数。読み直しは、送ってから返るまでに既読操作が終わっていれば読み直します
   * (操作の前に送った問い合わせの古い件数で、0 にしたバッジが戻らないように)。
   */
  let writes = 0;

  /** @param {number} count 未読数 */
  function setBadge(count) {
    unread = Math.max(0, count);
    badge.textContent = String(unread);
    badge.dataset.count = String(unread);
    badge.classList.toggle("is-zero", unread === 0);
    badge.setAttribute("aria-label", t("notifications.unreadCount", { count: unread }));
    emit("unread-changed", { count: unread });
  }

  const refreshUnread = serialized(async () => {
    try {
      let before, count;
      do {
        before = writes;
        count = await api.unreadCount();
      } while (before !== writes);
      setBadge(count);
    } catch (error) {
      if (!isAbort(error)) showError(error, t("notifications.unreadFailed"));
    }
  });

  const refreshList = serialized(async () => {
    try {
      // 読み込み済みの件数ぶん (最大 100) を最初から読み直す (「さらに読み込む」で読んだ分も保つ)
      const limit = Math.min(Math.max(items.length, PAGE_SIZE), MAX_REFRESH_LIMIT);
      let before, page;
      do {
        before = writes;
        page = await api.listNotifications({ limit });
      } while (before !== writes);
      items = page.items;
      nextCursor = page.next_cursor;
      loaded = true;
      render();
    } catch (error) {
      if (!isAbort(error)) {
        showError(error, t("notifications.loadFailed"));
        if (!loaded) replaceChildren(listStatus, errorPlaceholder(t("notifications.loadFailed"), error, () => refreshList()));
      }
    }
  });

  /** 次のページを読み、一覧の後ろに足します。 */
  async function loadMore() {
    if (!nextCursor) return;
    moreButton.disabled = true;
    try {
      const page = await api.listNotifications({ limit: PAGE_SIZE, cursor: nextCursor });
      const known = new Set(items.map((n) => String(n.id)));
      items = [...items, ...page.items.filter((n) => !known.has(String(n.id)))];
      nextCursor = page.next_cursor;
      render();
    } catch (error) {
      if (!isAbort(error)) showError(error, t("notifications.loadFailed"));
    } finally {
      moreButton.disabled = false;
    }
  }

  function render() {
    const shown = unreadOnly.checked ? items.filter((n) => !n.read) : items;
    reconcile(list, shown, (n) => String(n.id), createRow, updateRow);
    replaceChildren(listStatus, shown.length === 0 ? placeholder(t("notifications.empty")) : null);
    readAllButton.disabled = !items.some((n) => !n.read) && unread === 0;
    moreButton.hidden = !nextCursor;
    moreButton.dataset.state = nextCursor ? "more" : "end";
  }

  /**
   * @param {any} n 通知
   * @returns {HTMLElement} 行
   */
  function createRow(n) {
    const li = h("li", { class: "notification", dataset: { testid: "notification-row" } });
    updateRow(li, n);
    return li;
  }

  /**
   * @param {HTMLElement} li 行
   * @param {any} n 通知
   */
  function updateRow(li, n) {
    const signature = JSON.stringify([n.read, n.message, document.documentElement.lang]);
    li.dataset.read = n.read ? "true" : "false";
    li.dataset.kind = String(n.kind ?? "");
    li.dataset.notificationId = String(n.id);
    li.classList.toggle("is-unread", !n.read);
    if (li.dataset.signature === signature) return;
    li.dataset.signature = signature;
    replaceChildren(
      li,
      h(
        "div",
        { class: "notification__body" },
        h("p", { class: "notification__title" }, h("span", { class: "badge badge--kind", dataset: { kind: n.kind }, text: t(`notificationKind.${n.kind}`, {}, n.kind ?? "—") }), " ", n.read ? "" : h("span", { class: "dot", "aria-label": t("notifications.unread") })),
        notificationMessage(n),
        h(
          "p",
          { class: "notification__meta" },
          formatTime(n.created_at),
          n.media_id ? " · " : null,
          n.media_id ? h("button", { type: "button", class: "link", text: t("notifications.openMedia"), onclick: () => emit("navigate", { tab: "media", mediaId: n.media_id }) }) : null,
          n.saga_id ? " · " : null,
          n.saga_id ? h("button", { type: "button", class: "link", text: t("notifications.openSaga"), onclick: () => emit("navigate", { tab: "sagas", sagaId: n.saga_id }) }) : null,
        ),
      ),
      n.read ? null : h("button", { type: "button", class: "button", "data-testid": "mark-read-button", text: t("notifications.markRead"), onclick: () => markRead(n) }),
    );
  }

  /**
   * 通知の本文。本文はサーバーが日本語で作るので、英語のときは知っている型の文を訳し、
   * 原文は title に残します (`data-localized="true"`)。
   * @param {any} n 通知
   * @returns {HTMLElement} 本文の要素
   */
  function notificationMessage(n) {
    const original = String(n.message ?? "");
    const shown = localizeServerText(original);
    return h("p", {
      class: "notification__message",
      "data-testid": "notification-message",
      dataset: { localized: shown !== original ? "true" : "false" },
      title: shown !== original ? t("notifications.original", { text: original }) : null,
      text: shown,
    });
  }

  /** @param {any} n 通知 */
  async function markRead(n) {
    try {
      await api.markNotificationRead(n.id);
      writes += 1;
      n.read = true;
      render();
      await refreshUnread();
    } catch (error) {
      showError(error, t("notifications.markFailed"));
    }
  }

  readAllButton.addEventListener("click", async () => {
    readAllButton.disabled = true;
    try {
      await api.markAllNotificationsRead();
      writes += 1;
      for (const n of items) n.read = true;
      setBadge(0);
      render();
      await refreshUnread();
    } catch (error) {
      showError(error, t("notifications.markFailed"));
    } finally {
      render();
    }
  });
  unreadOnly.addEventListener("change", render);
  moreButton.addEventListener("click", loadMore);

  // --- ライブ更新 --------------------------------------------------------------------

  const unreadSoon = debounce(() => refreshUnread(), 150);
  const listSoon = debounce(() => loaded && refreshList(), 150);

  /** @param {any} n SSE で届いた通知 */
  function receive(n) {
    if (!n || typeof n !== "object" || n.id === undefined) return;
    const known = items.findIndex((x) => x.id === n.id);
    if (known >= 0) {
      items[known] = { ...items[known], ...n };
    } else {
      items.unshift(n);
      if (!n.read) {
        setBadge(unread + 1);
        showToast(n.message ? localizeServerText(n.message) : t("notifications.new"), { kind: "info" });
      }
    }
    if (loaded) render();
    emit("notification", n);
    unreadSoon();
  }

  on(
    "domain-event",
    (e) => {
      if (e?.aggregate_type === "Notification" || /^Notification/.test(String(e?.event_type ?? ""))) {
        unreadSoon();
        listSoon();
      }
    },
    signal,
  );
  on(
    "locale-changed",
    () => {
      setBadge(unread);
      render();
    },
    signal,
  );

  // どちらのライブ接続も無いときだけ: アップロードの後しばらく、バックオフで未読数を読み直す
  let fallbackRuns = 0;
  const fallback = backoffLoop({
    signal,
    minMs: 500,
    maxMs: 8000,
    run: async () => {
      fallbackRuns -= 1;
      await refreshUnread();
      if (loaded) await refreshList();
    },
    shouldRun: () => fallbackRuns > 0 && store.live.notifications !== "open" && store.live.events !== "open",
  });
  on(
    "upload-accepted",
    () => {
      fallbackRuns = 8;
      fallback.kick();
    },
    signal,
  );

  let failures = 0;
  runEventStream({
    signal,
    url: () => api.apiUrl("/api/v1/notifications/stream"),
    headers: api.authHeaders,
    onHttpError: api.problemFromResponse,
    onMessage: (message) => {
      try {
        receive(JSON.parse(message.data));
      } catch {
        // JSON でないもの (キープアライブなど) は無視
      }
    },
    onStatus: (status, error) => {
      store.live.notifications = status;
      emit("live-status", { stream: "notifications", status });
      if (status === "open") {
        failures = 0;
        unreadSoon();
        listSoon();
      } else if (status === "retrying" && error) {
        failures += 1;
        if (failures === 1) showError(error instanceof TypeError ? api.networkError() : error, t("live.notificationsLost"));
      } else if (status === "unauthorized") {
        emit("unauthorized");
      }
    },
  });

  setBadge(0);
  refreshUnread();

  return {
    activate() {
      refreshList();
      refreshUnread();
    },
  };
}
