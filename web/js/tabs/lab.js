// ラボのタブ: サービスの地図 (状態・遅延・止める / 起こす) と、読みモデル (プロジェクション) の
// 進み具合 (チェックポイント・先頭・遅れ・作り直し)、それに「やってみよう」の案内。
//
// タブが見えている間だけ、サービスの地図とプロジェクションを 1 秒ごとに読み直します
// (作り直しの最中はプロジェクションだけ 0.2 秒ごと)。止める・起こす・作り直すは開発モード
// (make run) でだけサーバーが受け付けます。断られたら problem+json の理由を表示します。

import * as api from "../api.js";
import { t } from "../i18n.js";
import { on } from "../state.js";
import { describeError, errorPlaceholder, h, isAbort, reconcile, replaceChildren } from "../ui.js";

/** 読み直しの間隔 (ミリ秒) */
const POLL_MS = 1000;
/** 作り直しの最中のプロジェクションの読み直しの間隔 (ミリ秒) */
const REBUILD_POLL_MS = 200;

/** サービスの既定のポート (DESIGN §2。--ephemeral-ports や compose では違うことがあります) */
const DEFAULT_PORTS = Object.freeze({
  gateway: 8080,
  "media-command": 8081,
  "media-query": 8082,
  album: 8083,
  eventstore: 8084,
  saga: 8085,
  notification: 8086,
  frontend: 3000,
});

/** サービスの状態の値 */
const STATES = new Set(["ready", "starting", "down", "unknown"]);

/**
 * @typedef {{name: string, state: string, latency_ms: number|null, controllable: boolean}} LabService
 * @typedef {{service: string, status: {name: string, checkpoint: number, head: number, lag: number}|null}} LabProjection
 * @typedef {{state: "running"|"done"|"error", result?: {position: number, events: number}, error?: unknown}} RebuildState
 */

/**
 * ラボのタブを作ります。
 * @param {import("./media.js").TabContext} ctx 文脈
 * @returns {{activate: () => void}} 操作
 */
export function createLabTab({ panel, signal }) {
  const $ = (role) => /** @type {HTMLElement} */ (panel.querySelector(`[data-role="${role}"]`));
  const banner = $("banner");
  const message = $("message");
  const servicesBox = $("services");
  const servicesStatus = $("services-status");
  const projectionsBody = $("projections");
  const projectionsStatus = $("projections-status");

  /** @type {LabService[]} */
  let services = [];
  /** @type {boolean|null} 止める・起こすが使えるか (読むまでは null) */
  let controlsEnabled = null;
  /** @type {boolean|null} 作り直しが使えるか (読むまでは null) */
  let rebuildEnabled = null;
  /** @type {LabProjection[]} */
  let projections = [];
  /** @type {unknown} サービスの地図を読めなかった理由 (読めたら null) */
  let servicesError = null;
  /** @type {unknown} プロジェクションを読めなかった理由 (読めたら null) */
  let projectionsError = null;
  /** @type {Map<string, "stop"|"start">} 止める・起こすの要求中のサービス */
  const busy = new Map();
  /** @type {Map<string, RebuildState>} 作り直しの状態 (サービス名ごと) */
  const rebuilds = new Map();
  /**
   * 直前の操作の結果 (言語を切り替えたら描き直すため)。
   * @type {{kind: "ok", action: "stop"|"start", name: string, state: string}|{kind: "error", action: "stop"|"start", name: string, error: unknown}|null}
   */
  let lastMessage = null;

  const isVisible = () => !panel.hidden && document.visibilityState === "visible";

  /**
   * タブが見えている間だけ、一定の間隔で run を呼び続けます。`kick()` ですぐに (実行中なら
   * 終わった直後に) もう一度呼びます。見えなくなったら止まり、`kick()` で再び動きます。
   * @param {() => Promise<void>} run 読み直す関数
   * @param {() => number} interval 次までの間隔
   * @returns {{kick: () => void}} 操作
   */
  function poller(run, interval) {
    let timer = 0;
    let running = false;
    let again = false;
    const tick = async () => {
      clearTimeout(timer);
      if (signal.aborted || !isVisible()) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await run();
      } finally {
        running = false;
      }
      if (again) {
        again = false;
        tick();
        return;
      }
      if (!signal.aborted && isVisible()) timer = window.setTimeout(tick, interval());
    };
    signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
    return { kick: () => void tick() };
  }

  // --- サービスの地図 ----------------------------------------------------------------

  async function loadServices() {
    try {
      const body = await api.getLabServices();
      services = body.items;
      controlsEnabled = body.controls_enabled;
      rebuildEnabled = body.rebuild_enabled;
      servicesError = null;
    } catch (error) {
      if (isAbort(error)) return;
      servicesError = error;
    }
    renderBanner();
    renderServices();
    renderProjections();
  }

  function renderBanner() {
    if (controlsEnabled === null) {
      banner.hidden = true;
      return;
    }
    banner.hidden = false;
    banner.dataset.enabled = String(controlsEnabled);
    replaceChildren(
      banner,
      h(
        "div",
        null,
        h("p", null, h("strong", { text: controlsEnabled ? t("lab.bannerOnTitle") : t("lab.bannerOffTitle") })),
        h("p", { text: controlsEnabled ? t("lab.bannerOn") : t("lab.bannerOff") }),
        controlsEnabled ? null : h("p", null, h("code", { text: "docker stop mediahub_album_1" }), " / ", h("code", { text: "docker start mediahub_album_1" })),
      ),
    );
  }

  function renderServices() {
    reconcile(servicesBox, services, (s) => String(s.name), createCard, updateCard);
    if (servicesError) {
      replaceChildren(servicesStatus, errorPlaceholder(t("lab.servicesFailed"), servicesError, () => servicesPoller.kick()));
    } else {
      replaceChildren(servicesStatus);
    }
  }

  /**
   * @param {LabService} s サービス
   * @returns {HTMLElement} カード
   */
  function createCard(s) {
    const card = h("article", { class: "service-card", role: "listitem", dataset: { testid: "service-card", service: s.name } });
    updateCard(card, s);
    return card;
  }

  /**
   * カードを更新します。変わっていなければ作り直しません (テストが持つ要素の参照を保つため)。
   * @param {HTMLElement} card カード
   * @param {LabService} s サービス
   */
  function updateCard(card, s) {
    const state = STATES.has(s.state) ? s.state : "unknown";
    const pending = busy.get(s.name) ?? null;
    card.dataset.service = String(s.name);
    card.dataset.state = state;
    card.dataset.busy = pending ? "true" : "false";
    const signature = JSON.stringify([state, s.latency_ms, s.controllable, controlsEnabled, pending, document.documentElement.lang]);
    if (card.dataset.signature === signature) return;
    card.dataset.signature = signature;
    const port = DEFAULT_PORTS[/** @type {keyof typeof DEFAULT_PORTS} */ (s.name)];
    const latency = typeof s.latency_ms === "number" ? t("lab.latency", { ms: s.latency_ms }) : t("lab.noLatency");
    const controlTitle = controlsEnabled === false ? t("lab.controlsDisabledHint") : "";
    replaceChildren(
      card,
      h(
        "header",
        { class: "service-card__head" },
        h("strong", { class: "service-card__name", "data-testid": "service-name", text: s.name }),
        port ? h("span", { class: "service-card__port", title: t("lab.defaultPort"), text: `:${port}` }) : null,
        h("span", { class: "badge badge--state", "data-testid": "service-state", dataset: { state }, text: t(`lab.state.${state}`, {}, state) }),
      ),
      h("p", { class: "service-card__role", text: t(`lab.role.${s.name}`, {}, "") }),
      h("p", { class: "service-card__latency hint", "data-testid": "service-latency", dataset: { latency: s.latency_ms ?? undefined }, text: latency }),
      s.controllable
        ? h(
            "div",
            { class: "service-card__actions" },
            h("button", {
              type: "button",
              class: "button button--danger",
              "data-testid": "service-stop",
              "data-service": s.name,
              disabled: Boolean(pending) || state !== "ready" || controlsEnabled === false,
              title: controlTitle || null,
              text: pending === "stop" ? t("lab.stopping") : t("lab.stop"),
              onclick: () => control(s.name, "stop"),
            }),
            h("button", {
              type: "button",
              class: "button",
              "data-testid": "service-start",
              "data-service": s.name,
              disabled: Boolean(pending) || state !== "down" || controlsEnabled === false,
              title: controlTitle || null,
              text: pending === "start" ? t("lab.starting") : t("lab.start"),
              onclick: () => control(s.name, "start"),
            }),
          )
        : h("p", { class: "service-card__fixed hint", text: t("lab.notControllable") }),
    );
  }

  /**
   * サービスを止める・起こす。結果 (または problem+json の理由) を lab-message に出し、すぐに地図を読み直します。
   * @param {string} name サービス名
   * @param {"stop"|"start"} action 操作
   */
  async function control(name, action) {
    if (busy.has(name)) return;
    busy.set(name, action);
    renderServices();
    try {
      const result = action === "stop" ? await api.stopService(name) : await api.startService(name);
      lastMessage = { kind: "ok", action, name, state: String(result?.state ?? "") };
      const known = services.find((s) => s.name === name);
      if (known && result?.state) known.state = String(result.state);
    } catch (error) {
      if (isAbort(error)) return;
      lastMessage = { kind: "error", action, name, error };
    } finally {
      busy.delete(name);
    }
    renderMessage();
    renderServices();
    servicesPoller.kick();
    projectionsPoller.kick();
  }

  function renderMessage() {
    if (!lastMessage) {
      message.hidden = true;
      message.dataset.state = "idle";
      replaceChildren(message);
      return;
    }
    message.hidden = false;
    if (lastMessage.kind === "ok") {
      message.dataset.state = "ok";
      message.setAttribute("role", "status");
      replaceChildren(
        message,
        h("span", {
          text: t(lastMessage.action === "stop" ? "lab.stopped" : "lab.started", {
            name: lastMessage.name,
            state: t(`lab.state.${lastMessage.state}`, {}, lastMessage.state || "—"),
          }),
        }),
      );
      return;
    }
    const d = describeError(lastMessage.error);
    message.dataset.state = "error";
    message.setAttribute("role", "alert");
    replaceChildren(
      message,
      h("strong", { text: t(lastMessage.action === "stop" ? "lab.stopFailed" : "lab.startFailed", { name: lastMessage.name }) }),
      d.text ? ` — ${d.text}` : "",
      d.server ? h("span", { class: "hint lab-message__server", dataset: { code: d.code || undefined }, text: d.server }) : null,
    );
  }

  // --- プロジェクション --------------------------------------------------------------

  async function loadProjections() {
    try {
      projections = await api.getProjections();
      projectionsError = null;
    } catch (error) {
      if (isAbort(error)) return;
      projectionsError = error;
    }
    renderProjections();
  }

  function renderProjections() {
    reconcile(projectionsBody, projections, (p) => String(p.service), createProjectionRow, updateProjectionRow);
    if (projectionsError) {
      replaceChildren(projectionsStatus, errorPlaceholder(t("lab.projectionsFailed"), projectionsError, () => projectionsPoller.kick()));
    } else {
      replaceChildren(projectionsStatus);
    }
  }

  /**
   * 行の骨組みを作ります (中身は updateProjectionRow が書き換えます。セルの要素は使い回します)。
   * @param {LabProjection} p プロジェクション
   * @returns {HTMLElement} 行
   */
  function createProjectionRow(p) {
    const service = String(p.service);
    const rebuildButton = h("button", {
      type: "button",
      class: "button",
      "data-testid": "projection-rebuild",
      "data-service": service,
      onclick: () => rebuild(service),
    });
    const row = h(
      "tr",
      { class: "projection-row", dataset: { testid: "projection-row", service, rebuild: "idle" } },
      h("th", { scope: "row", class: "projection-row__service" }, h("strong", { text: service }), h("span", { class: "hint projection-row__name", dataset: { role: "subscriber" } })),
      h("td", { class: "num", "data-testid": "projection-checkpoint" }),
      h("td", { class: "num", "data-testid": "projection-head" }),
      h("td", { class: "num", "data-testid": "projection-lag" }),
      h("td", null, h("progress", { class: "projection-row__bar", "data-testid": "projection-progress", max: "1", value: "0" })),
      h("td", { class: "projection-row__actions" }, rebuildButton, h("span", { class: "projection-row__result", "data-testid": "projection-rebuild-result", hidden: true })),
    );
    updateProjectionRow(row, p);
    return row;
  }

  /**
   * @param {HTMLElement} row 行
   * @param {LabProjection} p プロジェクション
   */
  function updateProjectionRow(row, p) {
    const service = String(p.service);
    const s = p.status;
    const cell = (testid) => /** @type {HTMLElement} */ (row.querySelector(`[data-testid="${testid}"]`));
    const setText = (el, text) => {
      if (el.textContent !== text) el.textContent = text;
    };
    row.dataset.state = s ? (s.lag === 0 ? "caught-up" : "behind") : "down";
    if (s) {
      row.dataset.lag = String(s.lag);
    } else {
      delete row.dataset.lag;
    }
    setText(/** @type {HTMLElement} */ (row.querySelector('[data-role="subscriber"]')), s?.name && s.name !== service ? ` (${s.name})` : "");
    setText(cell("projection-checkpoint"), s ? String(s.checkpoint) : "—");
    setText(cell("projection-head"), s ? String(s.head) : "—");
    const lagCell = cell("projection-lag");
    setText(lagCell, s ? String(s.lag) : t("lab.serviceDown"));
    lagCell.classList.toggle("is-behind", Boolean(s && s.lag > 0));
    const bar = /** @type {HTMLProgressElement} */ (cell("projection-progress"));
    const head = s ? Math.max(Number(s.head) || 0, 0) : 0;
    const checkpoint = s ? Math.max(Number(s.checkpoint) || 0, 0) : 0;
    bar.max = head > 0 ? head : 1;
    bar.value = head > 0 ? Math.min(checkpoint, head) : s ? 1 : 0;
    bar.setAttribute("aria-label", t("lab.progressLabel", { service, checkpoint: s ? checkpoint : "—", head: s ? head : "—" }));

    const rb = rebuilds.get(service) ?? null;
    row.dataset.rebuild = rb ? rb.state : "idle";
    const button = /** @type {HTMLButtonElement} */ (cell("projection-rebuild"));
    button.hidden = rebuildEnabled !== true;
    button.disabled = rb?.state === "running" || !s;
    button.title = !s ? t("lab.rebuildDown") : "";
    setText(button, rb?.state === "running" ? t("lab.rebuilding") : t("lab.rebuild"));
    const result = cell("projection-rebuild-result");
    if (!rb || rb.state === "running") {
      result.hidden = true;
      delete result.dataset.state;
      setText(result, "");
    } else if (rb.state === "done") {
      result.hidden = false;
      result.dataset.state = "done";
      result.dataset.position = String(rb.result?.position ?? "");
      result.dataset.events = String(rb.result?.events ?? "");
      setText(result, t("lab.rebuildDone", { position: rb.result?.position ?? "—", events: rb.result?.events ?? "—" }));
    } else {
      const d = describeError(rb.error);
      result.hidden = false;
      result.dataset.state = "error";
      if (d.code) result.dataset.code = d.code;
      result.title = d.server;
      setText(result, t("lab.rebuildFailed", { reason: d.text }));
    }
  }

  /**
   * 読みモデルを作り直します。要求の間は行の data-rebuild が running で、プロジェクションを
   * 0.2 秒ごとに読み直してチェックポイントの進みを見せます。
   * @param {string} service サービス名
   */
  async function rebuild(service) {
    if (rebuilds.get(service)?.state === "running") return;
    /** @type {RebuildState} */
    const state = { state: "running" };
    rebuilds.set(service, state);
    renderProjections();
    projectionsPoller.kick();
    try {
      state.result = await api.rebuildProjection(service);
      state.state = "done";
    } catch (error) {
      if (isAbort(error)) return;
      state.state = "error";
      state.error = error;
    }
    if (rebuilds.get(service) === state) {
      renderProjections();
      projectionsPoller.kick();
    }
  }

  const anyRebuilding = () => [...rebuilds.values()].some((r) => r.state === "running");

  const servicesPoller = poller(loadServices, () => POLL_MS);
  const projectionsPoller = poller(loadProjections, () => (anyRebuilding() ? REBUILD_POLL_MS : POLL_MS));

  document.addEventListener(
    "visibilitychange",
    () => {
      if (document.visibilityState === "visible") {
        servicesPoller.kick();
        projectionsPoller.kick();
      }
    },
    { signal },
  );
  on(
    "locale-changed",
    () => {
      renderBanner();
      for (const card of servicesBox.children) delete /** @type {HTMLElement} */ (card).dataset.signature;
      renderServices();
      renderProjections();
      renderMessage();
    },
    signal,
  );

  return {
    activate() {
      servicesPoller.kick();
      projectionsPoller.kick();
    },
  };
}
