// Saga のタブ: 一覧 (状態つき、サーバーでの絞り込み・検索・ページ送り) と、選んだ Saga の縦の
// タイムライン (ステップ・試行・再試行・補償)、実行中なら「次の試行」の秒読み。
//
// 実行中の Saga は、その Saga・そのメディア・その相関 ID のイベントが SSE で届くたびに読み直し、
// さらに詳細を開いている間は 0.5 秒ごとに読み直します (終わるまで)。一覧はライブ接続が無いときだけ、
// タブが見えていて実行中の Saga がある間、バックオフつきで読み直します。
// 「新しい Saga を自動で開く」に印があれば、アップロードが受け付けられたときにその Saga を開きます。

import * as api from "../api.js";
import { localizeServerText, t } from "../i18n.js";
import { emit, on, store } from "../state.js";
import {
  backoffLoop,
  debounce,
  formatTime,
  h,
  idCode,
  isAbort,
  jsonView,
  placeholder,
  reconcile,
  replaceChildren,
  serialized,
  showError,
  showToast,
  statusBadge,
  errorPlaceholder,
} from "../ui.js";

/** 終わった (もう変わらない) Saga の状態 */
export const TERMINAL_STATUSES = new Set(["completed", "compensated", "failed"]);

/** 一覧の 1 ページの件数 */
const PAGE_SIZE = 20;
/** 読み直すときに一度に読む最大の件数 (API の上限) */
const MAX_REFRESH_LIMIT = 100;
/** 開いている実行中の Saga を読み直す間隔 (ミリ秒) */
const DETAIL_POLL_MS = 500;
/** 秒読みを書き換える間隔 (ミリ秒) */
const COUNTDOWN_MS = 100;
/** 開いたばかりの Saga が読みモデルにまだ無い (404) とき、エラーにせず待つ時間 (ミリ秒) */
const NOT_YET_GRACE_MS = 15000;

/**
 * 次の試行までの残り時間の文。
 * @param {unknown} nextAttemptAt 次の試行の予定時刻 (RFC 3339)
 * @param {number} now 今の時刻 (ミリ秒)
 * @returns {{state: "waiting"|"sent"|"none", text: string, remainingMs: number|null}} 状態と文
 */
export function countdown(nextAttemptAt, now) {
  const at = Date.parse(String(nextAttemptAt ?? ""));
  if (!nextAttemptAt || !Number.isFinite(at)) {
    return { state: "none", text: "—", remainingMs: null };
  }
  const remaining = at - now;
  if (remaining > 0) {
    return { state: "waiting", text: t("sagas.countdown", { s: (Math.ceil(remaining / 100) / 10).toFixed(1) }), remainingMs: remaining };
  }
  return { state: "sent", text: t("sagas.sentWaiting"), remainingMs: 0 };
}

/**
 * タイムラインの 1 件を分類します (色分けのため)。
 * `compensation_started` は「その前進ステップが最終的に失敗した」印なので failure に数えます
 * (その行の step は失敗した前進ステップです)。
 * @param {{step?: string, outcome?: string, attempt?: number}} entry ステップの記録
 * @returns {{result: "success"|"failure"|"retry"|"pending", compensation: boolean, retry: boolean}} 分類
 */
export function classifyStep(entry) {
  const step = String(entry?.step ?? "").toLowerCase();
  const outcome = String(entry?.outcome ?? "").toLowerCase();
  const compensation = /compensat|invalidat|delete|rollback/.test(`${step} ${outcome}`);
  let result = /** @type {"success"|"failure"|"retry"|"pending"} */ ("pending");
  if (/fail|error|timeout|timed_out|exhaust|reject|^compensation_started$/.test(outcome)) {
    result = "failure";
  } else if (/retry/.test(outcome)) {
    result = "retry";
  } else if (/succe|^ok$|done|complete|compensated|sent|added|processed/.test(outcome)) {
    result = "success";
  }
  return { result, compensation, retry: Number(entry?.attempt ?? 1) > 1 };
}

/**
 * 分類を `data-state` の値にします (ブラウザーテストと CSS 用)。
 * @param {{result: string}} c classifyStep の結果
 * @returns {"succeeded"|"failed"|"retrying"|"running"} 状態
 */
export function stepState(c) {
  return c.result === "success" ? "succeeded" : c.result === "failure" ? "failed" : c.result === "retry" ? "retrying" : "running";
}

/**
 * Saga の `SagaStarted` イベントの本体から障害注入の値を読みます
 * (本体は `{"SagaStarted": {..., "fault": "album"}}` の形。中身だけの形でも読めます)。
 * @param {any} envelope エンベロープ
 * @returns {string|null} 障害注入 ("process" / "album" / "notification")、無ければ null
 */
export function sagaStartedFault(envelope) {
  if (envelope?.event_type !== "SagaStarted") return null;
  const data = envelope?.data;
  const body = data && typeof data === "object" && data.SagaStarted ? data.SagaStarted : data;
  const fault = body?.fault;
  return typeof fault === "string" && fault ? fault : null;
}

/**
 * Saga のタブを作ります。
 * @param {import("./media.js").TabContext} ctx 文脈
 * @returns {{activate: () => void, open: (sagaId: string) => void, openForMedia: (mediaId: string) => void}} 操作
 */
export function createSagasTab({ panel, signal }) {
  const $ = (role) => /** @type {HTMLElement} */ (panel.querySelector(`[data-role="${role}"]`));
  const list = $("list");
  const listStatus = $("list-status");
  const statusFilter = /** @type {HTMLSelectElement} */ ($("status-filter"));
  const searchInput = /** @type {HTMLInputElement} */ ($("search"));
  const followBox = /** @type {HTMLInputElement} */ ($("follow"));
  const refreshButton = $("refresh");
  const moreButton = /** @type {HTMLButtonElement} */ ($("more"));
  const detail = $("detail");

  /** @type {any[]} */
  let sagas = [];
  let loaded = false;
  /** @type {string|null} 次のページのカーソル */
  let nextCursor = null;
  /** 一覧の条件が変わった回数 (古い条件の応答を捨てるため) */
  let generation = 0;
  /** @type {{id: string, saga: any|null, openedAt: number, notYet?: boolean}|null} */
  let selected = null;
  let settleTimer = 0;
  let detailTimer = 0;
  /** @type {Map<string, string>} 詳細のイベントから分かった障害注入 (Saga ID → 値) */
  const detailFaults = new Map();

  /**
   * 障害注入の値の索引を作ります。GET /api/v1/sagas の要約 (SagaSummary) には障害注入の欄が無いので、
   * このセッションでのアップロード (store.faults)、受け取ったイベント (MediaUploaded の
   * metadata.fault_inject と SagaStarted の fault)、開いた Saga の詳細のイベントから補います。
   * @returns {{byMedia: Map<string, string>, bySaga: Map<string, string>}} 索引
   */
  function faultIndex() {
    const byMedia = new Map(store.faults);
    const bySaga = new Map(detailFaults);
    for (const e of store.events) {
      const env = /** @type {any} */ (e);
      if (env?.event_type === "MediaUploaded" && env.metadata?.fault_inject) {
        byMedia.set(String(env.aggregate_id), String(env.metadata.fault_inject));
      } else {
        const fault = sagaStartedFault(env);
        if (fault) bySaga.set(String(env.aggregate_id), fault);
      }
    }
    return { byMedia, bySaga };
  }

  /**
   * @param {any} s Saga (要約または詳細)
   * @param {{byMedia: Map<string, string>, bySaga: Map<string, string>}} index faultIndex() の結果
   * @returns {string|null} 障害注入の値 (分からなければ null)
   */
  function faultOf(s, index) {
    const direct = s?.fault ?? s?.fault_inject;
    if (typeof direct === "string" && direct) return direct;
    return index.bySaga.get(String(s?.id)) ?? index.byMedia.get(String(s?.media_id)) ?? null;
  }

  const isVisible = () => !panel.hidden;

  /**
   * 一覧の問い合わせの条件 (状態はサーバーの status、検索は q)。
   * @returns {{status: string, q: string}} 条件
   */
  const queryValues = () => ({ status: statusFilter.value, q: searchInput.value.trim() });

  const refreshList = serialized(async () => {
    const current = generation;
    try {
      const limit = Math.min(Math.max(sagas.length, PAGE_SIZE), MAX_REFRESH_LIMIT);
      const page = await api.listSagas({ ...queryValues(), limit });
      if (current !== generation) return;
      sagas = page.items;
      nextCursor = page.next_cursor;
      loaded = true;
      renderList();
    } catch (error) {
      if (!isAbort(error)) {
        showError(error, t("sagas.loadFailed"));
        if (!loaded) {
          replaceChildren(listStatus, errorPlaceholder(t("sagas.loadFailed"), error, () => refreshList()));
        }
      }
    }
  });

  /** 次のページを読み、一覧の後ろに足します。 */
  async function loadMore() {
    if (!nextCursor) return;
    const current = generation;
    moreButton.disabled = true;
    try {
      const page = await api.listSagas({ ...queryValues(), limit: PAGE_SIZE, cursor: nextCursor });
      if (current !== generation) return;
      const known = new Set(sagas.map((s) => String(s.id)));
      sagas = [...sagas, ...page.items.filter((s) => !known.has(String(s.id)))];
      nextCursor = page.next_cursor;
      renderList();
    } catch (error) {
      if (!isAbort(error)) showError(error, t("sagas.loadFailed"));
    } finally {
      moreButton.disabled = false;
    }
  }

  /** 条件が変わったので、一覧を最初のページから読み直します。 */
  function resetList() {
    generation += 1;
    sagas = [];
    nextCursor = null;
    refreshList();
  }

  const refreshDetail = serialized(async () => {
    if (!selected) {
      return;
    }
    const current = selected;
    try {
      const saga = await api.getSaga(current.id);
      current.notYet = false;
      const fault = (Array.isArray(saga?.events) ? saga.events : []).map(sagaStartedFault).find(Boolean);
      if (fault && !detailFaults.has(String(current.id))) {
        detailFaults.set(String(current.id), fault);
        renderList();
      }
      if (selected === current) {
        current.saga = saga;
        renderDetail();
      }
    } catch (error) {
      if (!isAbort(error) && selected === current) {
        // アップロード直後は、Saga がまだ読みモデルに無いことがある (404)。しばらくは黙って待つ
        const e = /** @type {any} */ (error);
        if (!current.saga && e?.status === 404 && Date.now() - current.openedAt < NOT_YET_GRACE_MS) {
          if (!current.notYet) {
            current.notYet = true;
            renderDetail();
          }
          return;
        }
        showError(error, t("sagas.detailFailed"));
        if (!current.saga) {
          delete detail.dataset.signature;
          replaceChildren(detail, detailHeader(current.id), placeholder(t("sagas.detailFailed"), "error"));
        }
      }
    } finally {
      scheduleDetailPoll();
    }
  });

  /**
   * 開いている Saga が終わっていなければ、0.5 秒後にもう一度読みます (タブが見えている間だけ。
   * 見えていなければ、タブを開いたときに activate() が読み直します)。
   */
  function scheduleDetailPoll() {
    clearTimeout(detailTimer);
    if (signal.aborted || !selected) return;
    const status = selected.saga?.status;
    if (status && TERMINAL_STATUSES.has(status)) return;
    if (!selected.saga && !selected.notYet) return;
    detailTimer = window.setTimeout(() => {
      if (!signal.aborted && isVisible() && document.visibilityState === "visible") refreshDetail();
    }, DETAIL_POLL_MS);
  }

  function renderList() {
    const filter = statusFilter.value;
    const shown = filter ? sagas.filter((s) => s.status === filter) : sagas;
    const index = faultIndex();
    reconcile(list, shown, (s) => String(s.id), createRow, (li, s) => updateRow(li, s, index));
    const searching = Boolean(searchInput.value.trim()) || Boolean(filter);
    replaceChildren(listStatus, shown.length === 0 ? placeholder(searching ? t("sagas.noMatch") : t("sagas.empty")) : null);
    moreButton.hidden = !nextCursor;
    moreButton.dataset.state = nextCursor ? "more" : "end";
  }

  /**
   * @param {any} s Saga
   * @returns {HTMLElement} 行
   */
  function createRow(s) {
    const li = h("li", { class: "list-row", dataset: { testid: "saga-row" } });
    updateRow(li, s, faultIndex());
    return li;
  }

  /**
   * 行を更新します: 状態・ファイル名・障害注入・結果 (実行中ならステップと試行、終わっていれば理由)。
   * 行の title に Saga ID の全体を入れます。
   * @param {HTMLElement} li 行
   * @param {any} s Saga (SagaSummary)
   * @param {{byMedia: Map<string, string>, bySaga: Map<string, string>}} index 障害注入の索引
   */
  function updateRow(li, s, index) {
    const fault = faultOf(s, index);
    li.dataset.status = String(s.status ?? "");
    li.dataset.sagaId = String(s.id);
    li.dataset.mediaId = String(s.media_id ?? "");
    li.dataset.fault = fault ?? "";
    li.title = t("sagas.fullId", { id: s.id });
    li.classList.toggle("is-selected", selected?.id === s.id);
    // 変わっていなければ作り直さない (テストが持っている要素の参照を古くしないため)
    const signature = JSON.stringify([
      s.status,
      s.current_step,
      s.attempt,
      s.filename,
      s.failure_reason,
      fault,
      s.updated_at,
      selected?.id === s.id,
      document.documentElement.lang,
    ]);
    if (li.dataset.signature === signature) return;
    li.dataset.signature = signature;
    const running = !TERMINAL_STATUSES.has(s.status);
    replaceChildren(
      li,
      h(
        "button",
        { type: "button", class: "list-row__button", title: String(s.id), "aria-pressed": selected?.id === s.id ? "true" : "false", onclick: () => open(s.id) },
        h(
          "span",
          { class: "list-row__title" },
          statusBadge(s.status),
          " ",
          h("span", { class: "saga-row__filename", "data-testid": "saga-row-filename", title: s.filename ?? "", text: s.filename || "—" }),
          fault ? h("span", { class: "tag tag--fault", "data-testid": "saga-row-fault", dataset: { fault }, text: t("sagas.faultTag", { fault }) }) : null,
        ),
        h(
          "span",
          { class: "list-row__meta saga-row__outcome", "data-testid": "saga-row-outcome", dataset: { status: s.status } },
          running && s.current_step
            ? `${t("sagas.currentStep")}: ${t(`step.${s.current_step}`, {}, s.current_step)} (${t("sagas.attempt", { attempt: s.attempt ?? 1 })})`
            : `${t("sagas.outcome")}: ${t(`status.${s.status}`, {}, s.status ?? "—")}`,
          s.failure_reason
            ? h("span", { class: "saga-row__reason", "data-testid": "saga-row-reason", title: s.failure_reason, text: ` — ${localizeServerText(s.failure_reason)}` })
            : null,
        ),
        h(
          "span",
          { class: "list-row__meta" },
          `${t("sagas.saga")} `,
          idCode(s.id),
          ` · ${t("sagas.media")} `,
          idCode(s.media_id),
          ` · ${formatTime(s.updated_at ?? s.created_at)}`,
        ),
      ),
    );
  }

  /**
   * Saga を開きます。
   * @param {string} id Saga ID
   * @param {{justStarted?: boolean}} [options] justStarted: アップロードの直後 (Saga がまだ読みモデルに
   *   無いかもしれないので、すぐには読まず、その Saga のイベントが届くか 0.5 秒後に読みます)
   */
  function open(id, options = {}) {
    if (selected?.id === id) {
      refreshDetail();
      return;
    }
    clearTimeout(detailTimer);
    selected = { id, saga: null, openedAt: Date.now(), notYet: Boolean(options.justStarted) };
    detail.hidden = false;
    renderList();
    renderDetail();
    if (options.justStarted) {
      scheduleDetailPoll();
      return;
    }
    refreshDetail().then(() => fallback.kick());
  }

  /**
   * メディアの Saga を開きます (一覧から media_id で探します)。
   * @param {string} mediaId メディア ID
   */
  async function openForMedia(mediaId) {
    let saga = sagas.find((s) => s.media_id === mediaId);
    if (!saga) {
      try {
        // 一覧に読み込んでいない古い Saga も、メディア ID の検索 (q) で探せます
        const page = await api.listSagas({ q: mediaId, limit: 5 });
        saga = page.items.find((s) => s.media_id === mediaId);
      } catch (error) {
        if (!isAbort(error)) showError(error, t("sagas.loadFailed"));
        return;
      }
    }
    if (saga) {
      open(saga.id);
    } else {
      showToast(t("sagas.notFoundForMedia"), { kind: "info" });
    }
  }

  function close() {
    clearTimeout(detailTimer);
    selected = null;
    detail.hidden = true;
    delete detail.dataset.signature;
    replaceChildren(detail);
    renderList();
  }

  /**
   * @param {string} id Saga ID
   * @returns {HTMLElement} 見出し
   */
  function detailHeader(id) {
    return h(
      "header",
      { class: "detail__header" },
      h("h2", { class: "detail__title" }, t("sagas.saga"), " ", idCode(id)),
      h("button", { type: "button", class: "button button--ghost", "aria-label": t("common.close"), text: "×", onclick: close }),
    );
  }

  /**
   * @param {any} saga Saga の詳細
   * @returns {string|null} 相関 ID
   */
  function correlationOf(saga) {
    const fromEvents = (saga?.events ?? []).find((e) => e?.metadata?.correlation_id)?.metadata?.correlation_id;
    return saga?.correlation_id ?? fromEvents ?? null;
  }

  function renderDetail() {
    if (!selected) {
      return;
    }
    const saga = selected.saga;
    if (!saga) {
      delete detail.dataset.signature;
      const waiting = placeholder(selected.notYet ? t("sagas.waitingForSaga") : t("common.loading"), "loading");
      if (selected.notYet) waiting.dataset.testid = "saga-waiting";
      replaceChildren(detail, detailHeader(selected.id), waiting);
      return;
    }
    // 同じ内容なら作り直さない (確かめのための再取得で画面がちらつかないように)
    const signature = JSON.stringify([saga, detailFaults.get(String(saga.id)) ?? null, document.documentElement.lang]);
    if (detail.dataset.signature === signature) {
      return;
    }
    detail.dataset.signature = signature;
    const steps = Array.isArray(saga.steps) ? saga.steps : [];
    const events = Array.isArray(saga.events) ? saga.events : [];
    const correlationId = correlationOf(saga);
    const running = !TERMINAL_STATUSES.has(saga.status);
    const fault = faultOf(saga, faultIndex());

    replaceChildren(
      detail,
      detailHeader(saga.id ?? selected.id),
      h(
        "div",
        { class: "detail__actions" },
        h("span", { "data-testid": "saga-status", dataset: { status: saga.status } }, statusBadge(saga.status)),
        running ? h("span", { class: "hint live-hint", text: t("sagas.liveHint") }) : null,
        saga.media_id
          ? h("button", { type: "button", class: "button", text: t("sagas.openMedia"), onclick: () => emit("navigate", { tab: "media", mediaId: saga.media_id }) })
          : null,
        correlationId
          ? h("button", { type: "button", class: "button", text: t("events.follow"), onclick: () => emit("navigate", { tab: "events", correlationId }) })
          : null,
      ),
      h(
        "dl",
        { class: "props" },
        saga.filename ? h("dt", { text: t("sagas.filename") }) : null,
        saga.filename ? h("dd", { "data-testid": "saga-filename", text: saga.filename }) : null,
        h("dt", { text: t("sagas.media") }),
        h("dd", null, idCode(saga.media_id)),
        fault ? h("dt", { text: t("sagas.fault") }) : null,
        fault ? h("dd", null, h("span", { class: "tag tag--fault", "data-testid": "saga-fault", dataset: { fault }, text: fault })) : null,
        saga.failure_reason ? h("dt", { text: t("sagas.failureReason") }) : null,
        saga.failure_reason
          ? h("dd", { class: "failure-reason", "data-testid": "saga-failure-reason", title: saga.failure_reason, text: localizeServerText(saga.failure_reason) })
          : null,
        correlationId ? h("dt", { text: t("events.correlation") }) : null,
        correlationId ? h("dd", null, idCode(correlationId)) : null,
        h("dt", { text: t("sagas.createdAt") }),
        h("dd", { text: formatTime(saga.created_at) }),
        h("dt", { text: t("sagas.updatedAt") }),
        h("dd", { text: formatTime(saga.updated_at) }),
      ),
      running ? pendingView(saga) : null,
      pipeline(steps),
      h("h3", { text: t("sagas.timeline") }),
      steps.length === 0 ? placeholder(t("sagas.noSteps")) : timeline(steps),
      h(
        "details",
        { class: "saga-events" },
        h("summary", { text: t("sagas.events", { count: events.length }) }),
        h(
          "ol",
          { class: "saga-events__list" },
          events.map((e) =>
            h("li", null, h("code", { text: `#${e.position ?? "—"}` }), ` v${e.version ?? "—"} `, h("strong", { text: e.event_type ?? "—" }), ` ${formatTime(e.created_at)}`),
          ),
        ),
        jsonView(events),
      ),
    );
  }

  /**
   * 実行中・補償中の Saga の「次の試行」: ステップ・試行の番号・送る予定の時刻と秒読み。
   * 秒読みの文は tickCountdown() が 0.1 秒ごとに書き換えます (要素は作り直しません)。
   * @param {any} saga Saga の詳細
   * @returns {HTMLElement|null} 表示 (ステップが分からなければ null)
   */
  function pendingView(saga) {
    if (!saga.current_step) return null;
    const attempt = Number(saga.attempt ?? 1) || 1;
    const c = countdown(saga.next_attempt_at, Date.now());
    return h(
      "section",
      {
        class: ["saga-pending", attempt > 1 ? "is-retry" : ""],
        "data-testid": "saga-pending",
        "aria-label": t("sagas.pendingTitle"),
        dataset: { step: saga.current_step, attempt, status: saga.status },
      },
      h("p", { class: "saga-pending__title" }, h("span", { class: "spinner spinner--small", "aria-hidden": "true" }), h("strong", { text: t("sagas.pendingTitle") })),
      h(
        "dl",
        { class: "props" },
        h("dt", { text: t("sagas.pendingStep") }),
        h("dd", { "data-testid": "saga-pending-step", dataset: { step: saga.current_step }, text: t(`step.${saga.current_step}`, {}, saga.current_step) }),
        h("dt", { text: t("sagas.pendingAttempt") }),
        h("dd", { "data-testid": "saga-pending-attempt", dataset: { attempt }, text: t("sagas.attemptNth", { attempt }) }),
        h("dt", { text: t("sagas.nextAttempt") }),
        h(
          "dd",
          { "data-testid": "saga-next-attempt", dataset: { state: c.state, at: saga.next_attempt_at ?? undefined } },
          saga.next_attempt_at ? h("time", { datetime: saga.next_attempt_at, text: formatTime(saga.next_attempt_at) }) : null,
          saga.next_attempt_at ? " " : null,
          h("span", { class: "saga-pending__countdown", "data-testid": "saga-countdown", dataset: { role: "countdown" }, text: c.text }),
        ),
      ),
      h("p", { class: "hint", text: t(attempt > 1 ? "sagas.pendingRetryHint" : "sagas.pendingHint") }),
    );
  }

  /** 秒読みの文を書き換えます (詳細に「次の試行」が出ている間だけ)。 */
  function tickCountdown() {
    const el = /** @type {HTMLElement|null} */ (detail.querySelector('[data-testid="saga-next-attempt"]'));
    if (!el) return;
    const c = countdown(el.dataset.at, Date.now());
    if (el.dataset.state !== c.state) el.dataset.state = c.state;
    const text = /** @type {HTMLElement|null} */ (el.querySelector('[data-role="countdown"]'));
    if (text && text.textContent !== c.text) text.textContent = c.text;
  }
  const countdownTimer = window.setInterval(() => {
    if (!detail.hidden && selected?.saga && !TERMINAL_STATUSES.has(selected.saga.status)) tickCountdown();
  }, COUNTDOWN_MS);
  signal.addEventListener(
    "abort",
    () => {
      clearInterval(countdownTimer);
      clearTimeout(detailTimer);
    },
    { once: true },
  );
  document.addEventListener(
    "visibilitychange",
    () => {
      if (document.visibilityState === "visible" && isVisible() && selected) refreshDetail();
    },
    { signal },
  );

  /**
   * ステップの流れ (各ステップの最新の結果) を横並びで表示します。
   * @param {any[]} steps タイムライン
   * @returns {HTMLElement|null} 流れ
   */
  function pipeline(steps) {
    /** @type {Map<string, any>} */
    const latest = new Map();
    for (const s of steps) {
      latest.set(String(s.step), s);
    }
    if (latest.size === 0) {
      return null;
    }
    // 補償のきっかけになった (最終的に失敗した) 前進ステップ
    const failing = steps.find((s) => s.outcome === "compensation_started")?.step ?? null;
    return h(
      "ol",
      { class: "pipeline", "aria-label": t("sagas.pipeline") },
      [...latest.values()].map((s) => {
        const c = classifyStep(s);
        const state = stepState(c);
        // 補償を始めた行は「失敗した前進ステップ」の行なので、流れの上では失敗 (赤) として見せる
        const compensation = c.compensation && s.outcome !== "compensation_started";
        return h(
          "li",
          {
            class: ["pipeline__step", `is-${c.result}`, compensation ? "is-compensation" : ""],
            title: t(`outcome.${s.outcome}`, {}, s.outcome ?? ""),
            dataset: { testid: "saga-pipeline-step", step: s.step, state, outcome: s.outcome, failing: failing !== null && s.step === failing ? "true" : undefined },
          },
          t(`step.${s.step}`, {}, s.step),
        );
      }),
    );
  }

  /**
   * 縦のタイムラインを作ります。
   * @param {any[]} steps ステップの記録 (時刻順)
   * @returns {HTMLElement} タイムライン
   */
  function timeline(steps) {
    const first = Date.parse(steps[0]?.at ?? "");
    return h(
      "ol",
      { class: "timeline", "data-testid": "saga-timeline" },
      steps.map((s) => {
        const c = classifyStep(s);
        const state = stepState(c);
        const at = Date.parse(s.at ?? "");
        const offset = Number.isFinite(at) && Number.isFinite(first) ? `+${at - first} ms` : "";
        return h(
          "li",
          {
            class: ["timeline__item", `is-${c.result}`, c.compensation ? "is-compensation" : "", c.retry ? "is-retry" : ""],
            dataset: { testid: "saga-step", step: s.step, outcome: s.outcome, attempt: s.attempt, state },
          },
          h("span", { class: "timeline__marker", "aria-hidden": "true" }),
          h(
            "div",
            { class: "timeline__body" },
            h(
              "p",
              { class: "timeline__title" },
              h("strong", { text: t(`step.${s.step}`, {}, s.step ?? "—") }),
              " ",
              h("span", { class: ["badge", "badge--outcome"], dataset: { result: c.result, state, testid: "saga-step-outcome" }, text: t(`outcome.${s.outcome}`, {}, s.outcome ?? "—") }),
              c.retry ? h("span", { class: "badge badge--retry", text: t("sagas.retry", { attempt: s.attempt }) }) : null,
              c.compensation ? h("span", { class: "badge badge--compensation", text: t("sagas.compensation") }) : null,
            ),
            h("p", { class: "timeline__meta" }, `${t("sagas.attempt", { attempt: s.attempt ?? 1 })} · ${formatTime(s.at)} `, offset ? h("span", { class: "hint", text: offset }) : null),
            s.reason ? h("p", { class: "timeline__reason", title: s.reason, text: `${t("sagas.reason")}: ${localizeServerText(s.reason)}` }) : null,
          ),
        );
      }),
    );
  }

  // --- ライブ更新 --------------------------------------------------------------------

  /** SSE を合図に読み直した後、実行中ならもう一度だけ確かめる (ビューの更新がわずかに遅れる場合のため) */
  function settleLater() {
    clearTimeout(settleTimer);
    settleTimer = window.setTimeout(() => {
      if (signal.aborted) return;
      const anyRunning = sagas.some((s) => !TERMINAL_STATUSES.has(s.status));
      if (anyRunning) refreshList();
      if (selected?.saga && !TERMINAL_STATUSES.has(selected.saga.status)) refreshDetail();
    }, 750);
  }

  const listSoon = debounce(() => refreshList().then(settleLater), 100);
  const detailSoon = debounce(() => refreshDetail().then(settleLater), 60);

  on(
    "domain-event",
    (e) => {
      if (!e) return;
      if (loaded) {
        listSoon();
      }
      if (selected) {
        const saga = selected.saga;
        const related =
          e.aggregate_id === selected.id ||
          (saga && (e.aggregate_id === saga.media_id || (e.metadata?.correlation_id && e.metadata.correlation_id === correlationOf(saga))));
        if (related) {
          detailSoon();
        }
      }
    },
    signal,
  );

  // ライブ接続が無いときだけ: タブが見えていて実行中の Saga がある間、バックオフで読み直す
  const fallback = backoffLoop({
    signal,
    minMs: 500,
    maxMs: 8000,
    run: async () => {
      await refreshList();
      if (selected) await refreshDetail();
    },
    shouldRun: () =>
      store.live.events !== "open" &&
      isVisible() &&
      (sagas.some((s) => !TERMINAL_STATUSES.has(s.status)) || (selected !== null && !TERMINAL_STATUSES.has(selected.saga?.status))),
  });
  on("live-status", ({ stream, status }) => stream === "events" && status !== "open" && fallback.kick(), signal);

  statusFilter.addEventListener("change", resetList);
  const searchLater = debounce(resetList, 300);
  searchInput.addEventListener("input", searchLater);
  searchInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      searchLater.cancel();
      resetList();
    }
  });
  moreButton.addEventListener("click", loadMore);
  refreshButton.addEventListener("click", () => {
    refreshList();
    refreshDetail();
  });

  // 新しい Saga を自動で開く: アップロードが受け付けられたら、その Saga を詳細に出す
  // (ほかのタブにいても。Saga のタブを開けばそれが見えます)
  on(
    "upload-accepted",
    (result) => {
      if (!followBox.checked || !result?.saga_id) return;
      open(String(result.saga_id), { justStarted: true });
      if (loaded) listSoon();
    },
    signal,
  );
  on(
    "locale-changed",
    () => {
      renderList();
      renderDetail();
    },
    signal,
  );

  return {
    activate() {
      refreshList().then(() => fallback.kick());
      if (selected) refreshDetail();
    },
    open,
    openForMedia,
  };
}
