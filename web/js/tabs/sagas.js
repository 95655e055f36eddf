// Saga のタブ: 一覧 (状態つき) と、選んだ Saga の縦のタイムライン (ステップ・試行・再試行・補償)。
//
// 実行中の Saga は、その Saga・そのメディア・その相関 ID のイベントが SSE で届くたびに読み直します。
// ライブ接続が無いときだけ、タブが見えていて実行中の Saga がある間、バックオフつきで読み直します。

import * as api from "../api.js";
import { t } from "../i18n.js";
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

/**
 * タイムラインの 1 件を分類します (色分けのため)。
 * @param {{step?: string, outcome?: string, attempt?: number}} entry ステップの記録
 * @returns {{result: "success"|"failure"|"retry"|"pending", compensation: boolean, retry: boolean}} 分類
 */
export function classifyStep(entry) {
  const step = String(entry?.step ?? "").toLowerCase();
  const outcome = String(entry?.outcome ?? "").toLowerCase();
  const compensation = /compensat|invalidat|delete|rollback/.test(`${step} ${outcome}`);
  let result = /** @type {"success"|"failure"|"retry"|"pending"} */ ("pending");
  if (/fail|error|timeout|timed_out|exhaust|reject/.test(outcome)) {
    result = "failure";
  } else if (/retry/.test(outcome)) {
    result = "retry";
  } else if (/succe|^ok$|done|complete|compensated|sent|added|processed/.test(outcome)) {
    result = "success";
  }
  return { result, compensation, retry: Number(entry?.attempt ?? 1) > 1 };
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
  const refreshButton = $("refresh");
  const detail = $("detail");

  /** @type {any[]} */
  let sagas = [];
  let loaded = false;
  /** @type {{id: string, saga: any|null}|null} */
  let selected = null;
  let settleTimer = 0;

  const isVisible = () => !panel.hidden;

  const refreshList = serialized(async () => {
    try {
      sagas = await api.listSagas();
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

  const refreshDetail = serialized(async () => {
    if (!selected) {
      return;
    }
    const current = selected;
    try {
      const saga = await api.getSaga(current.id);
      if (selected === current) {
        current.saga = saga;
        renderDetail();
      }
    } catch (error) {
      if (!isAbort(error) && selected === current) {
        showError(error, t("sagas.detailFailed"));
        if (!current.saga) {
          delete detail.dataset.signature;
          replaceChildren(detail, detailHeader(current.id), placeholder(t("sagas.detailFailed"), "error"));
        }
      }
    }
  });

  function renderList() {
    const filter = statusFilter.value;
    const shown = filter ? sagas.filter((s) => s.status === filter) : sagas;
    reconcile(list, shown, (s) => String(s.id), createRow, updateRow);
    replaceChildren(listStatus, shown.length === 0 ? placeholder(t("sagas.empty")) : null);
  }

  /**
   * @param {any} s Saga
   * @returns {HTMLElement} 行
   */
  function createRow(s) {
    const li = h("li", { class: "list-row", dataset: { testid: "saga-row" } });
    updateRow(li, s);
    return li;
  }

  /**
   * @param {HTMLElement} li 行
   * @param {any} s Saga
   */
  function updateRow(li, s) {
    li.dataset.status = String(s.status ?? "");
    li.dataset.sagaId = String(s.id);
    li.dataset.mediaId = String(s.media_id ?? "");
    li.classList.toggle("is-selected", selected?.id === s.id);
    // 変わっていなければ作り直さない (テストが持っている要素の参照を古くしないため)
    const signature = JSON.stringify([s.status, s.current_step, s.updated_at, selected?.id === s.id, document.documentElement.lang]);
    if (li.dataset.signature === signature) return;
    li.dataset.signature = signature;
    replaceChildren(
      li,
      h(
        "button",
        { type: "button", class: "list-row__button", "aria-pressed": selected?.id === s.id ? "true" : "false", onclick: () => open(s.id) },
        h("span", { class: "list-row__title" }, statusBadge(s.status), " ", t("sagas.saga"), " ", idCode(s.id)),
        h(
          "span",
          { class: "list-row__meta" },
          s.current_step ? `${t("sagas.currentStep")}: ${t(`step.${s.current_step}`, {}, s.current_step)} · ` : "",
          `${t("sagas.media")} `,
          idCode(s.media_id),
          ` · ${formatTime(s.updated_at ?? s.created_at)}`,
        ),
      ),
    );
  }

  /**
   * Saga を開きます。
   * @param {string} id Saga ID
   */
  function open(id) {
    selected = { id, saga: null };
    detail.hidden = false;
    renderList();
    renderDetail();
    refreshDetail().then(() => fallback.kick());
  }

  /**
   * メディアの Saga を開きます (一覧から media_id で探します)。
   * @param {string} mediaId メディア ID
   */
  async function openForMedia(mediaId) {
    let saga = sagas.find((s) => s.media_id === mediaId);
    if (!saga) {
      await refreshList();
      saga = sagas.find((s) => s.media_id === mediaId);
    }
    if (saga) {
      open(saga.id);
    } else {
      showToast(t("sagas.notFoundForMedia"), { kind: "info" });
    }
  }

  function close() {
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
      replaceChildren(detail, detailHeader(selected.id), placeholder(t("common.loading"), "loading"));
      return;
    }
    // 同じ内容なら作り直さない (確かめのための再取得で画面がちらつかないように)
    const signature = JSON.stringify([saga, document.documentElement.lang]);
    if (detail.dataset.signature === signature) {
      return;
    }
    detail.dataset.signature = signature;
    const steps = Array.isArray(saga.steps) ? saga.steps : [];
    const events = Array.isArray(saga.events) ? saga.events : [];
    const correlationId = correlationOf(saga);
    const running = !TERMINAL_STATUSES.has(saga.status);

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
        h("dt", { text: t("sagas.media") }),
        h("dd", null, idCode(saga.media_id)),
        correlationId ? h("dt", { text: t("events.correlation") }) : null,
        correlationId ? h("dd", null, idCode(correlationId)) : null,
        h("dt", { text: t("sagas.createdAt") }),
        h("dd", { text: formatTime(saga.created_at) }),
        h("dt", { text: t("sagas.updatedAt") }),
        h("dd", { text: formatTime(saga.updated_at) }),
      ),
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
    return h(
      "ol",
      { class: "pipeline", "aria-label": t("sagas.pipeline") },
      [...latest.values()].map((s) => {
        const c = classifyStep(s);
        return h(
          "li",
          { class: ["pipeline__step", `is-${c.result}`, c.compensation ? "is-compensation" : ""] },
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
        const at = Date.parse(s.at ?? "");
        const offset = Number.isFinite(at) && Number.isFinite(first) ? `+${at - first} ms` : "";
        return h(
          "li",
          {
            class: ["timeline__item", `is-${c.result}`, c.compensation ? "is-compensation" : "", c.retry ? "is-retry" : ""],
            dataset: { testid: "saga-step", step: s.step, outcome: s.outcome, attempt: s.attempt },
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
              h("span", { class: ["badge", "badge--outcome"], dataset: { result: c.result }, text: t(`outcome.${s.outcome}`, {}, s.outcome ?? "—") }),
              c.retry ? h("span", { class: "badge badge--retry", text: t("sagas.retry", { attempt: s.attempt }) }) : null,
              c.compensation ? h("span", { class: "badge badge--compensation", text: t("sagas.compensation") }) : null,
            ),
            h("p", { class: "timeline__meta" }, `${t("sagas.attempt", { attempt: s.attempt ?? 1 })} · ${formatTime(s.at)} `, offset ? h("span", { class: "hint", text: offset }) : null),
            s.reason ? h("p", { class: "timeline__reason", text: `${t("sagas.reason")}: ${s.reason}` }) : null,
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

  statusFilter.addEventListener("change", renderList);
  refreshButton.addEventListener("click", () => {
    refreshList();
    refreshDetail();
  });
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
