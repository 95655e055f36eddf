// Saga のタブ: 一覧 (状態つき) と、選んだ Saga の縦のタイムライン (ステップ・試行・再試行・補償)。
//
// 実行中の Saga は、その Saga・そのメディア・その相関 ID のイベントが SSE で届くたびに読み直します。
// ライブ接続が無いときだけ、タブが見えていて実行中の Saga がある間、バックオフつきで読み直します。

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
  const refreshButton = $("refresh");
  const detail = $("detail");

  /** @type {any[]} */
  let sagas = [];
  let loaded = false;
  /** @type {{id: string, saga: any|null}|null} */
  let selected = null;
  let settleTimer = 0;
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
    const index = faultIndex();
    reconcile(list, shown, (s) => String(s.id), createRow, (li, s) => updateRow(li, s, index));
    replaceChildren(listStatus, shown.length === 0 ? placeholder(t("sagas.empty")) : null);
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
