// イベントのタブ: 自分のグローバルログをライブで表示し、絞り込み、エンベロープを表示し、
// 1 つの相関 ID をサービスをまたいで追います (サービスごとの列に並べた「流れ」)。
// 「ストリームを開く」では集約 1 つのストリーム (版の順のイベント) を表示し、
// 「さらに古いイベントを読む」でログを後ろ向きに (before=) ページ送りします。

import * as api from "../api.js";
import { t } from "../i18n.js";
import { on, store } from "../state.js";
import { debounce, describeError, formatTime, h, idCode, isAbort, jsonView, placeholder, reconcile, replaceChildren, showError, showToast } from "../ui.js";

/** 画面に並べる最大の行数 (バッファはもっと持っています。「さらに古い」で増えます) */
const MAX_ROWS = 300;
/** 「さらに古いイベントを読む」1 回で読む件数 */
const OLDER_PAGE = 50;
/** ストリームを開くときに読む最大の件数 (API の上限) */
const STREAM_LIMIT = 1000;
/** before の上限 (バッファが空のときに使う。API の最大値) */
const MAX_POSITION = 1000000000000000;

/** 集約の型 → それを出すサービス (DESIGN §3) */
const SERVICE_OF = Object.freeze({
  User: "gateway",
  Media: "media-command",
  Saga: "saga",
  Album: "album",
  Notification: "notification",
});
const LANE_ORDER = ["gateway", "media-command", "saga", "album", "notification"];

/** 完全な UUID */
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** 先頭部分として受け付ける形 (区切りの "-" を除いて 16 進 8 文字以上) */
const PREFIX_RE = /^[0-9a-f-]+$/i;
/** 画面に出る時刻順 (v7) の短い ID の形 (`019af3c2…7d41`: 先頭部分と末尾のあいだを「…」か「...」で省く) */
const SHORT_ID_RE = /^([0-9a-f-]+)(?:…|\.\.\.)([0-9a-f-]+)$/i;

/**
 * 入力された相関 ID (UUID 全体、16 進 8 文字以上の先頭部分、または画面に出る短い ID
 * `019af3c2…7d41`) を、読み込み済みのイベントの相関 ID に解決します。先頭部分 (短い ID なら
 * 先頭部分と末尾) は相関 ID、イベント ID、集約 ID (Saga・メディアの ID など) の順に照らし、
 * 最初に見つかった種類で相関 ID が 1 つに決まれば採ります。相関 ID もイベント ID も時刻順の
 * UUID v7 で、先頭 8 文字は 1 分ほど同じなので、先頭部分だけでは複数に当たることがあります
 * (そのときは `ambiguous`。画面の短い ID をそのまま入れれば末尾で 1 つに決まります)。
 * API (GET /api/v1/events) の correlation_id は UUID 全体の完全一致だけなので、先頭一致はこの画面に
 * 読み込んだイベントの中でしか探せません。
 * @param {string} raw 入力
 * @param {any[]} events 読み込み済みのエンベロープ
 * @returns {{kind: "uuid"|"resolved", id: string} | {kind: "invalid"|"not-found"} | {kind: "ambiguous", count: number}} 結果
 */
export function resolveCorrelation(raw, events) {
  const value = String(raw ?? "").trim().toLowerCase();
  if (UUID_RE.test(value)) {
    return { kind: "uuid", id: value };
  }
  const short = SHORT_ID_RE.exec(value);
  const [head, tail] = short ? [short[1], short[2]] : [value, ""];
  if (!PREFIX_RE.test(head) || head.replace(/-/g, "").length < 8) {
    return { kind: "invalid" };
  }
  /** @type {Array<(e: any) => unknown>} */
  const sources = [(e) => e?.metadata?.correlation_id, (e) => e?.id, (e) => e?.aggregate_id];
  for (const source of sources) {
    const found = new Set();
    for (const e of events) {
      const key = String(source(e) ?? "").toLowerCase();
      const correlationId = e?.metadata?.correlation_id;
      if (key && correlationId && key.startsWith(head) && key.endsWith(tail)) {
        found.add(String(correlationId));
      }
    }
    if (found.size === 1) {
      return { kind: "resolved", id: [...found][0] };
    }
    if (found.size > 1) {
      return { kind: "ambiguous", count: found.size };
    }
  }
  return { kind: "not-found" };
}

/**
 * 入力された集約 ID (UUID 全体、または 16 進 8 文字以上の先頭部分) の形を確かめます。
 * @param {string} raw 入力
 * @returns {{kind: "uuid", id: string} | {kind: "prefix", prefix: string} | {kind: "invalid"}} 結果
 */
export function parseIdInput(raw) {
  const value = String(raw ?? "").trim().toLowerCase();
  if (UUID_RE.test(value)) {
    return { kind: "uuid", id: value };
  }
  if (!PREFIX_RE.test(value) || value.replace(/-/g, "").length < 8) {
    return { kind: "invalid" };
  }
  return { kind: "prefix", prefix: value };
}

/**
 * 先頭部分に合う ID を候補から選びます (重なりは 1 つに数えます)。
 * @param {string} prefix 先頭部分 (小文字)
 * @param {Iterable<unknown>} candidates 候補の ID
 * @returns {{kind: "resolved", id: string} | {kind: "not-found"} | {kind: "ambiguous", count: number}} 結果
 */
export function matchPrefix(prefix, candidates) {
  const found = new Set();
  for (const c of candidates) {
    const id = String(c ?? "");
    if (id && id.toLowerCase().startsWith(prefix)) found.add(id);
  }
  if (found.size === 1) return { kind: "resolved", id: [...found][0] };
  if (found.size > 1) return { kind: "ambiguous", count: found.size };
  return { kind: "not-found" };
}

/**
 * イベントを出したサービスの名前。
 * @param {any} envelope エンベロープ
 * @returns {string} サービス名 (知らない型は集約の型そのもの)
 */
export function serviceOf(envelope) {
  const type = String(envelope?.aggregate_type ?? "");
  return SERVICE_OF[/** @type {keyof typeof SERVICE_OF} */ (type)] ?? (type || "?");
}

/**
 * エンベロープが絞り込みの条件に合うか。
 * @param {any} e エンベロープ
 * @param {{aggregate_type: string, event_type: string, correlation_id: string}} f 条件 (空は「すべて」)
 * @returns {boolean} 合えば true
 */
export function matchesFilter(e, f) {
  if (f.aggregate_type && e.aggregate_type !== f.aggregate_type) return false;
  if (f.event_type && !String(e.event_type ?? "").toLowerCase().includes(f.event_type.toLowerCase())) return false;
  if (f.correlation_id && e.metadata?.correlation_id !== f.correlation_id) return false;
  return true;
}

/**
 * イベントのタブを作ります。
 * @param {import("./media.js").TabContext} ctx 文脈
 * @returns {{activate: () => void, follow: (correlationId: string) => void}} 操作
 */
export function createEventsTab({ panel, signal }) {
  const $ = (role) => /** @type {HTMLElement} */ (panel.querySelector(`[data-role="${role}"]`));
  const filters = /** @type {HTMLFormElement} */ ($("filters"));
  const pauseButton = /** @type {HTMLButtonElement} */ ($("pause"));
  const counter = $("counter");
  const typeList = $("type-list");
  const flow = $("flow");
  const list = $("list");
  const listStatus = $("list-status");
  const detail = $("detail");
  const olderButton = /** @type {HTMLButtonElement} */ ($("older"));
  const olderStatus = $("older-status");
  const streamForm = /** @type {HTMLFormElement} */ ($("stream-form"));
  const streamTypeSelect = /** @type {HTMLSelectElement} */ (panel.querySelector('[data-testid="stream-type"]'));
  const streamIdInput = /** @type {HTMLInputElement} */ (panel.querySelector('[data-testid="stream-id"]'));
  const streamStatus = $("stream-status");
  const streamView = $("stream-view");

  let paused = false;
  /** 前回描いたときの最新の position (それより新しい行だけを「新着」として光らせる) */
  let renderedHead = /** @type {number|null} */ (null);
  let missed = 0;
  /** @type {any|null} */
  let selected = null;
  /**
   * 追っている相関 ID。state: "loading" (サーバーから読んでいる) / "ready" / "empty" (イベントなし) /
   * "error" (読めなかった) / "invalid" (形が違う) / "not-found" (先頭部分に合うものがない) / "ambiguous"。
   * @type {{id: string, input: string, events: Map<number, any>, state: string, error?: unknown, count?: number, resolvedFrom?: string}|null}
   */
  let following = null;
  /** 一覧に並べる最大の行数 (「さらに古い」を読むたびに増やします) */
  let rowLimit = MAX_ROWS;
  /** これまでのイベント (バックログ) を読み終えたか (それまで「さらに古い」は押せません) */
  let backlogLoaded = false;
  /** @type {"idle"|"loading"|"end"|"error"} 「さらに古い」の状態 */
  let olderState = "idle";
  /** 「さらに古い」で読み足した件数 (直近の 1 回) */
  let olderAdded = /** @type {number|null} */ (null);
  /**
   * 開いているストリーム。state: "resolving" (短い ID を探している) / "loading" / "ready" / "empty" /
   * "error" / "invalid" / "not-found" / "ambiguous"。
   * @type {{type: string, id: string, input: string, state: string, events: Map<number, any>, error?: unknown, count?: number, resolvedFrom?: string}|null}
   */
  let stream = null;

  const filterValues = () => {
    const data = new FormData(filters);
    return {
      aggregate_type: String(data.get("aggregate_type") ?? ""),
      event_type: String(data.get("event_type") ?? "").trim(),
      correlation_id: String(data.get("correlation_id") ?? "").trim(),
    };
  };

  function renderList() {
    const f = filterValues();
    const rows = [];
    for (let i = store.events.length - 1; i >= 0 && rows.length < rowLimit; i -= 1) {
      const e = store.events[i];
      if (matchesFilter(e, f)) rows.push(e);
    }
    const head = renderedHead;
    reconcile(list, rows, (e) => String(e.position), (e) => {
      const li = createRow(e);
      if (head !== null && Number(e.position) > head) li.classList.add("is-new");
      return li;
    }, updateRow);
    renderedHead = store.lastPosition;
    replaceChildren(listStatus, rows.length === 0 ? placeholder(store.events.length === 0 ? t("events.empty") : t("events.noMatch")) : null);
    counter.textContent = t("events.counter", { shown: rows.length, total: store.events.length, head: store.lastPosition ?? "—" });
    const types = [...new Set(store.events.map((e) => e.event_type))].sort();
    if (typeList.childElementCount !== types.length) {
      replaceChildren(typeList, types.map((type) => h("option", { value: type })));
    }
    renderOlder();
  }

  // --- さらに古いイベント (before= で後ろ向きにページ送り) ---------------------------

  function renderOlder() {
    olderButton.dataset.state = olderState;
    olderButton.disabled = !backlogLoaded || olderState === "loading" || olderState === "end";
    olderButton.textContent = olderState === "loading" ? t("common.loading") : t("events.older");
    let text = "";
    if (olderState === "end") text = t("events.olderEnd");
    else if (olderAdded !== null) text = t("events.olderAdded", { count: olderAdded });
    if (olderStatus.textContent !== text) olderStatus.textContent = text;
  }

  /**
   * 一覧の下に、さらに古いイベントを足します。画面に出していないバッファの行があればまずそれを見せ、
   * 無ければ `GET /api/v1/events?before=<読み込み済みの最小の position>&limit=50` で読みます
   * (一覧は新しい順なので、古いイベントは下に付きます)。空のページが返ったら終わり (`data-state="end"`)。
   */
  async function loadOlder() {
    if (olderState === "loading" || olderState === "end" || !backlogLoaded) return;
    const f = filterValues();
    const matching = store.events.reduce((n, e) => n + (matchesFilter(e, f) ? 1 : 0), 0);
    if (matching > rowLimit) {
      rowLimit += OLDER_PAGE;
      olderAdded = Math.min(OLDER_PAGE, matching - (rowLimit - OLDER_PAGE));
      renderList();
      return;
    }
    olderState = "loading";
    renderOlder();
    const first = store.events.length > 0 ? Number(store.events[0].position) : null;
    try {
      const page = await api.listEvents({ before: first ?? MAX_POSITION, limit: OLDER_PAGE });
      const older = page
        .filter((e) => Number.isFinite(Number(e?.position)) && (first === null || Number(e.position) < first))
        .sort((a, b) => Number(a.position) - Number(b.position));
      if (older.length === 0) {
        olderState = "end";
        olderAdded = null;
      } else {
        store.events.unshift(...older);
        if (first === null) {
          // バッファが空だった (これまでの分を読めなかった): ライブ購読はこの続きから
          const last = Number(older[older.length - 1].position);
          if (store.lastPosition === null || last > store.lastPosition) store.lastPosition = last;
        }
        rowLimit += older.length;
        olderState = "idle";
        olderAdded = older.length;
      }
    } catch (error) {
      if (isAbort(error)) return;
      olderState = "error";
      showError(error, t("events.olderFailed"));
    }
    renderList();
  }

  // --- ストリーム (集約 1 つのイベント) ------------------------------------------------

  /**
   * 短い ID (先頭部分) を、その型の集約 ID に解決します。
   * Saga・Media は Saga の検索 (`GET /api/v1/sagas?q=`) で、Album はアルバムの一覧で、
   * ほかは読み込み済みのイベントの中で探します (どの型も、読み込み済みのイベントも候補に入れます)。
   * @param {string} type 集約の型
   * @param {string} prefix 先頭部分 (小文字)
   * @returns {Promise<{kind: "resolved", id: string} | {kind: "not-found"} | {kind: "ambiguous", count: number} | {kind: "error", error: unknown}>} 結果
   */
  async function resolveStreamId(type, prefix) {
    const candidates = new Set(store.events.filter((e) => e.aggregate_type === type).map((e) => String(e.aggregate_id)));
    /** @type {unknown} */
    let failure = null;
    try {
      if (type === "Saga" || type === "Media") {
        const page = await api.listSagas({ q: prefix, limit: 100 });
        for (const s of page.items) candidates.add(String(type === "Saga" ? s.id : s.media_id));
      } else if (type === "Album") {
        for (const a of await api.listAlbums()) candidates.add(String(a.id));
      }
    } catch (error) {
      if (isAbort(error)) throw error;
      failure = error;
    }
    const result = matchPrefix(prefix, candidates);
    if (result.kind === "not-found" && failure) {
      return { kind: "error", error: failure };
    }
    return result;
  }

  /**
   * ストリームを開きます: 型と ID (または先頭部分) からストリームのイベントを読み、版の順に並べます。
   * @param {string} type 集約の型
   * @param {string} raw ID (UUID 全体、または 16 進 8 文字以上の先頭部分)
   */
  async function openStream(type, raw) {
    const typed = String(raw ?? "").trim();
    streamTypeSelect.value = type;
    streamIdInput.value = typed;
    const parsed = parseIdInput(typed);
    if (parsed.kind === "invalid") {
      stream = { type, id: "", input: typed, state: "invalid", events: new Map() };
      renderStream();
      return;
    }
    const current = { type, id: parsed.kind === "uuid" ? parsed.id : "", input: typed, state: parsed.kind === "uuid" ? "loading" : "resolving", events: new Map() };
    stream = current;
    renderStream();
    if (parsed.kind === "prefix") {
      try {
        const resolved = await resolveStreamId(type, parsed.prefix);
        if (stream !== current) return;
        if (resolved.kind !== "resolved") {
          current.state = resolved.kind;
          if (resolved.kind === "ambiguous") current.count = resolved.count;
          if (resolved.kind === "error") current.error = resolved.error;
          renderStream();
          return;
        }
        current.id = resolved.id;
        current.resolvedFrom = typed;
        current.state = "loading";
        streamIdInput.value = resolved.id;
        renderStream();
      } catch (error) {
        if (isAbort(error) || stream !== current) return;
        current.state = "error";
        current.error = error;
        renderStream();
        return;
      }
    }
    try {
      const events = await api.listEvents({ aggregate_type: type, aggregate_id: current.id, after: 0, limit: STREAM_LIMIT });
      if (stream !== current) return;
      for (const e of events) {
        if (e.aggregate_type === type && String(e.aggregate_id) === current.id) current.events.set(Number(e.position), e);
      }
      current.state = current.events.size > 0 ? "ready" : "empty";
    } catch (error) {
      if (isAbort(error) || stream !== current) return;
      current.state = "error";
      current.error = error;
    }
    renderStream();
  }

  function closeStream() {
    stream = null;
    renderStream();
  }

  /**
   * ストリームの状態の案内。`data-testid="stream-error"` の `data-state` が理由です
   * (`invalid` / `not-found` / `ambiguous` / `error`)。
   * @param {NonNullable<typeof stream>} st ストリーム
   * @returns {HTMLElement|null} 案内
   */
  function streamMessage(st) {
    if (st.state === "resolving" || (st.state === "loading" && st.events.size === 0)) {
      const el = placeholder(st.state === "resolving" ? t("stream.resolving", { value: st.input }) : t("common.loading"), "loading");
      el.dataset.testid = "stream-loading";
      el.dataset.state = st.state;
      return el;
    }
    /** @type {Record<string, string>} */
    const messages = {
      invalid: t("stream.invalid", { value: st.input }),
      "not-found": t("stream.notFound", { value: st.input, type: st.type }),
      ambiguous: t("stream.ambiguous", { value: st.input, type: st.type, count: st.count ?? 0 }),
    };
    if (st.state === "error") {
      const d = describeError(st.error);
      return h(
        "div",
        { class: "placeholder placeholder--error", role: "alert", "data-testid": "stream-error", dataset: { state: "error", code: d.code || undefined } },
        h("p", null, h("strong", { text: t("stream.failed") }), d.text ? ` — ${d.text}` : ""),
        d.server ? h("p", { class: "hint", text: d.server }) : null,
      );
    }
    if (messages[st.state]) {
      return h("p", { class: "placeholder placeholder--error", role: "alert", "data-testid": "stream-error", dataset: { state: st.state }, text: messages[st.state] });
    }
    return null;
  }

  function renderStream() {
    if (!stream) {
      replaceChildren(streamStatus);
      replaceChildren(streamView);
      streamView.hidden = true;
      delete streamView.dataset.testid;
      return;
    }
    const st = stream;
    const message = streamMessage(st);
    const showView = Boolean(st.id) && (st.state === "loading" || st.state === "ready" || st.state === "empty" || (st.state === "error" && st.events.size > 0));
    replaceChildren(streamStatus, showView && st.state !== "error" ? null : message);
    if (!showView) {
      replaceChildren(streamView);
      streamView.hidden = true;
      delete streamView.dataset.testid;
      return;
    }
    const events = [...st.events.values()].sort((a, b) => Number(a.version) - Number(b.version) || Number(a.position) - Number(b.position));
    streamView.hidden = false;
    streamView.dataset.testid = "stream-view";
    streamView.dataset.aggregateId = st.id;
    streamView.dataset.aggregateType = st.type;
    streamView.dataset.state = st.state;
    streamView.dataset.count = String(events.length);
    const first = events[0];
    const last = events[events.length - 1];
    /** @type {HTMLElement} */
    let ol = /** @type {any} */ (streamView.querySelector('ol[data-role="stream-events"]'));
    const header = h(
      "header",
      { class: "flow__header" },
      h("h3", { class: "stream__title" }, t("stream.viewTitle", { type: st.type }), " ", idCode(st.id)),
      h("button", { type: "button", class: "button button--ghost", "data-testid": "stream-close", text: t("stream.close"), onclick: closeStream }),
    );
    const summary = h(
      "p",
      { class: "hint" },
      st.resolvedFrom ? h("span", { "data-testid": "stream-resolved", text: `${t("stream.resolved", { value: st.resolvedFrom, id: st.id })} ` }) : null,
      events.length > 0 ? t("stream.summary", { count: events.length, first: first.version ?? "—", last: last.version ?? "—" }) : null,
    );
    if (!ol) {
      ol = h("ol", { class: "stream-events", dataset: { role: "stream-events" } });
    }
    reconcile(ol, events, (e) => String(e.position), createStreamRow, () => {});
    replaceChildren(
      streamView,
      header,
      summary,
      st.state === "loading" && events.length === 0 ? message : null,
      st.state === "empty" ? h("p", { class: "placeholder", "data-testid": "stream-empty", text: t("stream.empty") }) : null,
      ol,
    );
  }

  /**
   * ストリームの 1 行 (版・型・position・時刻、開くと JSON)。
   * @param {any} e エンベロープ
   * @returns {HTMLElement} 行
   */
  function createStreamRow(e) {
    return h(
      "li",
      { class: "stream-event", dataset: { testid: "stream-event", version: e.version, eventType: e.event_type, position: e.position } },
      h(
        "details",
        null,
        h(
          "summary",
          { class: "stream-event__summary" },
          h("span", { class: "stream-event__version", text: `v${e.version ?? "—"}` }),
          h("strong", { class: "stream-event__type", text: e.event_type ?? "?" }),
          h("span", { class: "hint", text: `#${e.position}` }),
          h("time", { class: "hint", datetime: e.created_at ?? "", text: formatTime(e.created_at) }),
        ),
        jsonView(e, { testid: "stream-event-json" }),
      ),
    );
  }

  /**
   * @param {any} e エンベロープ
   * @returns {HTMLElement} 行
   */
  function createRow(e) {
    const li = h("li", { class: "event-row", dataset: { testid: "event-row", eventType: e.event_type, position: e.position, aggregateType: e.aggregate_type } });
    li.append(
      h(
        "button",
        { type: "button", class: "event-row__button", onclick: () => select(e) },
        h("span", { class: "event-row__pos", text: `#${e.position}` }),
        h("span", { class: "badge badge--aggregate", dataset: { aggregate: e.aggregate_type }, text: e.aggregate_type ?? "?" }),
        h("strong", { class: "event-row__type", text: e.event_type ?? "?" }),
        h("span", { class: "event-row__meta" }, `v${e.version ?? "—"} · `, idCode(e.aggregate_id), ` · ${t("events.corrShort")} `, idCode(e.metadata?.correlation_id)),
        h("time", { class: "event-row__time", datetime: e.created_at ?? "", text: formatTime(e.created_at) }),
      ),
    );
    updateRow(li, e);
    return li;
  }

  /**
   * @param {HTMLElement} li 行
   * @param {any} e エンベロープ
   */
  function updateRow(li, e) {
    li.classList.toggle("is-selected", selected?.position === e.position);
  }

  /**
   * エンベロープを横の欄に表示します。
   * @param {any} e エンベロープ
   */
  function select(e) {
    selected = e;
    detail.hidden = false;
    const correlationId = e.metadata?.correlation_id;
    replaceChildren(
      detail,
      h(
        "header",
        { class: "detail__header" },
        h("h2", { class: "detail__title", text: `#${e.position} ${e.event_type}` }),
        h("button", { type: "button", class: "button button--ghost", "aria-label": t("common.close"), text: "×", onclick: closeDetail }),
      ),
      h("p", { class: "hint", text: t("events.emittedBy", { service: serviceOf(e) }) }),
      h(
        "div",
        { class: "detail__actions" },
        correlationId
          ? h("button", { type: "button", class: "button button--primary", "data-testid": "follow-correlation-button", text: t("events.follow"), onclick: () => follow(correlationId) })
          : null,
        e.aggregate_type && e.aggregate_id
          ? h("button", {
              type: "button",
              class: "button",
              "data-testid": "open-stream-button",
              text: t("stream.openThis"),
              onclick: () => {
                openStream(String(e.aggregate_type), String(e.aggregate_id));
                streamForm.scrollIntoView({ block: "nearest" });
              },
            })
          : null,
        h("button", { type: "button", class: "button", text: t("events.copy"), onclick: () => copy(e) }),
      ),
      jsonView(e, { testid: "event-envelope" }),
    );
    for (const li of list.children) {
      /** @type {HTMLElement} */ (li).classList.toggle("is-selected", /** @type {HTMLElement} */ (li).dataset.position === String(e.position));
    }
    if (following) renderFlow();
  }

  function closeDetail() {
    selected = null;
    detail.hidden = true;
    replaceChildren(detail);
    for (const li of list.children) li.classList.remove("is-selected");
    if (following) renderFlow();
  }

  /** @param {any} e エンベロープ */
  async function copy(e) {
    try {
      await navigator.clipboard.writeText(JSON.stringify(e, null, 2));
      showToast(t("events.copied"), { kind: "success" });
    } catch {
      showToast(t("events.copyFailed"), { kind: "error" });
    }
  }

  // --- 相関 ID を追う ----------------------------------------------------------------

  /**
   * 相関 ID で絞り込み、その流れをサービスごとの列に並べて表示します。
   * 画面のバッファにない古いイベントはサーバーから読みます。16 進 8 文字以上の先頭部分と画面の
   * 短い ID (`019af3c2…7d41`) は、読み込み済みのイベントから相関 ID を探して解決します
   * ([`resolveCorrelation`])。形が違う・見つからない・サーバーが断ったときは、流れの欄に理由を
   * 出します (読み込み中のまま止まらないように)。
   * @param {string} raw 相関 ID (または先頭部分・短い ID)
   */
  async function follow(raw) {
    const input = /** @type {HTMLInputElement} */ (filters.elements.namedItem("correlation_id"));
    const typed = String(raw ?? "").trim();
    const resolved = resolveCorrelation(typed, store.events);
    if (resolved.kind !== "uuid" && resolved.kind !== "resolved") {
      following = {
        id: typed,
        input: typed,
        events: new Map(),
        state: resolved.kind,
        count: resolved.kind === "ambiguous" ? resolved.count : undefined,
      };
      renderList();
      renderFlow();
      return;
    }
    const correlationId = resolved.id;
    input.value = correlationId;
    following = {
      id: correlationId,
      input: typed,
      events: new Map(),
      state: "loading",
      resolvedFrom: resolved.kind === "resolved" ? typed : undefined,
    };
    for (const e of store.events) {
      if (e.metadata?.correlation_id === correlationId) following.events.set(Number(e.position), e);
    }
    renderList();
    renderFlow();
    const current = following;
    try {
      const events = await api.listEvents({ correlation_id: correlationId, after: 0, limit: 1000 });
      if (following !== current) return;
      for (const e of events) {
        if (e.metadata?.correlation_id === correlationId) {
          current.events.set(Number(e.position), e);
        }
      }
      current.state = current.events.size > 0 ? "ready" : "empty";
      renderFlow();
    } catch (error) {
      if (isAbort(error)) return;
      if (following === current) {
        current.state = current.events.size > 0 ? "ready" : "error";
        current.error = error;
        renderFlow();
      }
      showError(error, t("events.followFailed"));
    }
  }

  function unfollow() {
    following = null;
    const input = /** @type {HTMLInputElement} */ (filters.elements.namedItem("correlation_id"));
    input.value = "";
    flow.hidden = true;
    replaceChildren(flow);
    renderList();
  }

  /**
   * 追跡の状態の案内 (読み込み中・エラー・イベントなしなど)。`data-testid="correlation-error"` の
   * `data-state` が状態です (読み込み中は `correlation-loading`)。
   * @param {NonNullable<typeof following>} f 追跡
   * @returns {HTMLElement|null} 案内 (流れを描けるときは null)
   */
  function flowStatus(f) {
    if (f.state === "loading" && f.events.size === 0) {
      const el = placeholder(t("common.loading"), "loading");
      el.dataset.testid = "correlation-loading";
      el.dataset.state = "loading";
      return el;
    }
    /** @type {Record<string, string>} */
    const messages = {
      invalid: t("events.corrInvalid", { value: f.input }),
      "not-found": t("events.corrNotFound", { value: f.input }),
      ambiguous: t("events.corrAmbiguous", { value: f.input, count: f.count ?? 0 }),
      empty: t("events.corrEmpty"),
    };
    if (f.state === "error") {
      const d = describeError(f.error);
      return h(
        "div",
        { class: "placeholder placeholder--error flow__status", role: "alert", "data-testid": "correlation-error", dataset: { state: "error", code: d.code || undefined } },
        h("p", null, h("strong", { text: t("events.followFailed") }), d.text ? ` — ${d.text}` : ""),
        d.server ? h("p", { class: "hint", text: d.server }) : null,
      );
    }
    if (messages[f.state]) {
      return h("p", {
        class: ["placeholder", f.state === "empty" ? "placeholder--empty" : "placeholder--error", "flow__status"],
        role: f.state === "empty" ? "status" : "alert",
        "data-testid": "correlation-error",
        dataset: { state: f.state },
        text: messages[f.state],
      });
    }
    return null;
  }

  function renderFlow() {
    if (!following) {
      flow.hidden = true;
      delete flow.dataset.state;
      return;
    }
    flow.dataset.state = following.state;
    const status = flowStatus(following);
    if (status && following.events.size === 0) {
      flow.hidden = false;
      replaceChildren(
        flow,
        h(
          "header",
          { class: "flow__header" },
          h("h2", null, t("events.flowTitle"), " ", following.state === "loading" || following.state === "empty" || following.state === "error" ? idCode(following.id) : h("code", { class: "id", text: following.input })),
          h("button", { type: "button", class: "button", "data-testid": "unfollow-button", text: t("events.unfollow"), onclick: unfollow }),
        ),
        status,
      );
      return;
    }
    const events = [...following.events.values()].sort((a, b) => Number(a.position) - Number(b.position));
    const lanes = [...new Set(events.map(serviceOf))].sort((a, b) => laneIndex(a) - laneIndex(b));
    const first = Date.parse(events[0]?.created_at ?? "");
    const last = Date.parse(events[events.length - 1]?.created_at ?? "");
    const causeId = selected?.metadata?.causation_id;
    const grid = h("div", { class: "flow__grid", role: "list", "data-testid": "correlation-flow" });
    grid.style.gridTemplateColumns = `repeat(${Math.max(lanes.length, 1)}, minmax(9rem, 1fr))`;
    lanes.forEach((lane, i) => {
      const head = h("div", { class: "flow__lane-head", role: "presentation", text: lane });
      head.style.gridColumn = String(i + 1);
      head.style.gridRow = "1";
      grid.append(head);
    });
    events.forEach((e, row) => {
      const at = Date.parse(e.created_at ?? "");
      const offset = Number.isFinite(at) && Number.isFinite(first) ? `+${at - first} ms` : "";
      const isSelected = selected?.position === e.position;
      const isCause = causeId && e.id === causeId;
      const isEffect = selected && e.metadata?.causation_id && e.metadata.causation_id === selected.id;
      const cell = h(
        "button",
        {
          type: "button",
          role: "listitem",
          class: ["flow__event", isSelected ? "is-selected" : "", isCause ? "is-cause" : "", isEffect ? "is-effect" : ""],
          dataset: { eventType: e.event_type, aggregate: e.aggregate_type },
          title: isCause ? t("events.cause") : isEffect ? t("events.effect") : "",
          onclick: () => select(e),
        },
        h("strong", { text: e.event_type }),
        h("span", { class: "flow__meta", text: `#${e.position} ${offset}` }),
        h("span", { class: "flow__meta" }, `${e.aggregate_type} `, idCode(e.aggregate_id)),
        isCause ? h("span", { class: "badge badge--cause", text: t("events.cause") }) : null,
        isEffect ? h("span", { class: "badge badge--effect", text: t("events.effect") }) : null,
      );
      cell.style.gridColumn = String(lanes.indexOf(serviceOf(e)) + 1);
      cell.style.gridRow = String(row + 2);
      grid.append(cell);
    });
    flow.hidden = false;
    replaceChildren(
      flow,
      h(
        "header",
        { class: "flow__header" },
        h("h2", null, t("events.flowTitle"), " ", idCode(following.id)),
        h("button", { type: "button", class: "button", "data-testid": "unfollow-button", text: t("events.unfollow"), onclick: unfollow }),
      ),
      following.resolvedFrom
        ? h("p", { class: "hint flow__status", "data-testid": "correlation-resolved", dataset: { state: "resolved" }, text: t("events.corrResolved", { value: following.resolvedFrom, id: following.id }) })
        : null,
      h(
        "p",
        { class: "hint" },
        t("events.flowHint", { count: events.length, ms: Number.isFinite(first) && Number.isFinite(last) ? last - first : "—" }),
      ),
      grid,
    );
  }

  /**
   * @param {string} lane サービス名
   * @returns {number} 並び順
   */
  function laneIndex(lane) {
    const i = LANE_ORDER.indexOf(lane);
    return i === -1 ? LANE_ORDER.length : i;
  }

  // --- 操作とライブ更新 --------------------------------------------------------------

  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    applyFilters();
  });
  filters.addEventListener("change", applyFilters);
  filters.addEventListener("reset", () => {
    setTimeout(() => {
      if (following) unfollow();
      else renderList();
    });
  });
  filters.querySelector('input[name="event_type"]')?.addEventListener("input", debounce(renderList, 150));

  function applyFilters() {
    const { correlation_id: correlationId } = filterValues();
    if (correlationId && correlationId !== following?.id && correlationId !== following?.input) {
      follow(correlationId);
    } else if (!correlationId && following) {
      unfollow();
    } else {
      renderList();
    }
  }

  streamForm.addEventListener("submit", (e) => {
    e.preventDefault();
    openStream(streamTypeSelect.value, streamIdInput.value);
  });
  olderButton.addEventListener("click", loadOlder);

  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", String(paused));
    pauseButton.textContent = paused ? t("events.resume") : t("events.pause");
    if (!paused) {
      missed = 0;
      renderList();
    }
  });

  const renderSoon = debounce(renderList, 50);
  on(
    "domain-event",
    (e) => {
      if (stream && stream.id && e.aggregate_type === stream.type && String(e.aggregate_id) === stream.id && (stream.state === "ready" || stream.state === "empty")) {
        stream.events.set(Number(e.position), e);
        stream.state = "ready";
        renderStream();
      }
      if (following && e.metadata?.correlation_id === following.id) {
        following.events.set(Number(e.position), e);
        if (following.state !== "loading") following.state = "ready";
        renderFlow();
      }
      if (paused) {
        missed += 1;
        pauseButton.textContent = t("events.resumeWithCount", { count: missed });
        return;
      }
      renderSoon();
    },
    signal,
  );
  on(
    "events-reset",
    () => {
      backlogLoaded = true;
      renderList();
    },
    signal,
  );
  on(
    "locale-changed",
    () => {
      replaceChildren(list);
      renderList();
      if (selected) select(selected);
      renderFlow();
      replaceChildren(streamView);
      renderStream();
      pauseButton.textContent = paused ? t("events.resume") : t("events.pause");
    },
    signal,
  );

  return {
    activate() {
      renderList();
    },
    follow(correlationId) {
      follow(correlationId);
    },
  };
}
