// DOM を組み立てる小さな道具と、トースト・バッジ・書式などの共通部品。
//
// 値は必ず textContent / 属性として入れ、innerHTML は使いません (API の値をそのまま HTML に
// しないため)。

import { getLocale, hasMessage, localizeServerText, t } from "./i18n.js";

/**
 * 要素を作ります。
 * @param {string} tag タグ名
 * @param {Record<string, any>|null} [attrs] 属性 (`class`, `dataset`, `on<Event>`、真偽値、`text` も可)
 * @param {...(Node|string|number|null|undefined|false)} children 子要素
 * @returns {HTMLElement} 作った要素
 */
export function h(tag, attrs = null, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) {
        continue;
      }
      if (key === "class") {
        el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
      } else if (key === "text") {
        el.textContent = String(value);
      } else if (key === "dataset") {
        for (const [k, v] of Object.entries(value)) {
          if (v !== undefined && v !== null) {
            el.dataset[k] = String(v);
          }
        }
      } else if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (key === "value" && "value" in el) {
        /** @type {any} */ (el).value = value;
      } else if (value === true) {
        el.setAttribute(key, "");
      } else {
        el.setAttribute(key, String(value));
      }
    }
  }
  append(el, children);
  return el;
}

/**
 * 子要素を加えます (null・false は飛ばします)。
 * @param {Element} parent 親
 * @param {Array<any>} children 子
 */
function append(parent, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    parent.append(child instanceof Node ? child : String(child));
  }
}

/**
 * 要素の中身を入れ替えます。
 * @param {Element} el 要素
 * @param {...any} children 新しい子要素
 */
export function replaceChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * キー付きで一覧を更新します。同じキーの要素は作り直さず update し、順番を合わせます
 * (WebDriver のテストが持っている要素の参照が古くならないように)。
 * @template T
 * @param {Element} container 一覧の親要素
 * @param {T[]} items 表示する項目 (表示順)
 * @param {(item: T) => string} keyOf 項目のキー
 * @param {(item: T) => HTMLElement} create 要素を作る関数
 * @param {(el: HTMLElement, item: T) => void} update 既存の要素を更新する関数
 */
export function reconcile(container, items, keyOf, create, update) {
  /** @type {Map<string, HTMLElement>} */
  const existing = new Map();
  for (const child of Array.from(container.children)) {
    const key = /** @type {HTMLElement} */ (child).dataset.key;
    if (key !== undefined) {
      existing.set(key, /** @type {HTMLElement} */ (child));
    } else {
      child.remove();
    }
  }
  let cursor = container.firstElementChild;
  for (const item of items) {
    const key = keyOf(item);
    let el = existing.get(key);
    if (el) {
      existing.delete(key);
      update(el, item);
    } else {
      el = create(item);
      el.dataset.key = key;
    }
    if (el !== cursor) {
      container.insertBefore(el, cursor);
    } else {
      cursor = cursor.nextElementSibling;
    }
  }
  for (const el of existing.values()) {
    el.remove();
  }
}

// --- トースト -------------------------------------------------------------------------

/** 同時に見せるトーストの最大数 (まとめの「ほかに N 件」を含む) */
const MAX_VISIBLE_TOASTS = 3;
/** まとめのトーストを出しておく時間 (ミリ秒、畳むたびに延びます) */
const SUMMARY_TIMEOUT_MS = 8000;

/**
 * トーストを表示します。エラーは role="alert"、ほかは role="status" で読み上げられます。
 *
 * 積み上がらないようにまとめます:
 * - 同じ文のトーストが表示中なら新しく出さず、その回数 (`data-count`、「×N」) を増やして時間を延ばします。
 * - 見えるのは最大 3 つ (`data-testid="toast"`、まとめを含む)。あふれたら古いもの (エラーは後回し) を
 *   畳み、先頭の 1 つ (`data-testid="toast-summary"`) に「ほかに N 件」とまとめます。
 *
 * 種類ごとの testid (`error-toast` / `success-toast` / `info-toast`) は本文の要素に付いています。
 * @param {string} message 本文
 * @param {{kind?: "error"|"info"|"success", detail?: string, timeoutMs?: number, code?: string, httpStatus?: number}} [options] 種類・補足・表示時間・エラーコード・HTTP 状態
 * @returns {HTMLElement|null} トーストの要素 (表示できなかったときは null)
 */
export function showToast(message, options = {}) {
  const { kind = "info", detail = "", timeoutMs = kind === "error" ? 10000 : 4000, code = "", httpStatus } = options;
  const region = document.getElementById("toasts");
  if (!region) {
    return null;
  }
  for (const el of region.querySelectorAll(':scope > [data-testid="toast"]')) {
    const existing = /** @type {HTMLElement} */ (el);
    if (existing.dataset.message === message) {
      const count = Number(existing.dataset.count || "1") + 1;
      existing.dataset.count = String(count);
      const counter = /** @type {HTMLElement|null} */ (existing.querySelector(".toast__count"));
      if (counter) {
        counter.hidden = false;
        counter.textContent = t("toast.repeat", { count });
      }
      const detailEl = existing.querySelector(".toast__detail");
      if (detail && detailEl) {
        detailEl.textContent = detail;
        /** @type {HTMLElement} */ (detailEl).hidden = false;
      }
      armToastTimer(existing, timeoutMs);
      return existing;
    }
  }
  const toast = h(
    "div",
    {
      class: ["toast", `toast--${kind}`],
      role: kind === "error" ? "alert" : "status",
      "aria-live": kind === "error" ? "assertive" : "polite",
      dataset: { message, testid: "toast", kind, count: "1", code: code || undefined, httpStatus: httpStatus || undefined },
    },
    h(
      "div",
      { class: "toast__body", dataset: { testid: kind === "error" ? "error-toast" : `${kind}-toast` } },
      h("p", { class: "toast__message" }, h("span", { text: message }), " ", h("span", { class: "toast__count", dataset: { testid: "toast-count" }, hidden: true })),
      detail ? h("p", { class: "toast__detail", text: detail }) : h("p", { class: "toast__detail", hidden: true }),
    ),
    h("button", { type: "button", class: "toast__close", "aria-label": t("common.close"), text: "×", onclick: () => toast.remove() }),
  );
  region.append(toast);
  collapseToasts(region);
  armToastTimer(toast, timeoutMs);
  return toast;
}

/**
 * トーストを消すタイマーを (掛け直して) 掛けます。タイマーの番号は要素の data-timer に置きます。
 * @param {HTMLElement} toast トースト
 * @param {number} timeoutMs 表示時間 (0 以下なら消さない)
 */
function armToastTimer(toast, timeoutMs) {
  clearTimeout(Number(toast.dataset.timer));
  if (timeoutMs > 0) {
    toast.dataset.timer = String(window.setTimeout(() => toast.remove(), timeoutMs));
  }
}

/**
 * 見えるトーストが多すぎるとき、古いものを畳んで「ほかに N 件」のまとめに数えます。
 * @param {HTMLElement} region トーストの置き場
 */
function collapseToasts(region) {
  const visible = () => /** @type {HTMLElement[]} */ (Array.from(region.querySelectorAll(':scope > [data-testid="toast"]')));
  let summary = /** @type {HTMLElement|null} */ (region.querySelector(':scope > [data-testid="toast-summary"]'));
  let toasts = visible();
  if (toasts.length + (summary ? 1 : 0) <= MAX_VISIBLE_TOASTS) {
    return;
  }
  let folded = 0;
  let foldedErrors = 0;
  // まとめが 1 枠を使うので、個別のトーストは MAX_VISIBLE_TOASTS - 1 個まで
  while (toasts.length > MAX_VISIBLE_TOASTS - 1) {
    const victim = toasts.find((el) => el.dataset.kind !== "error") ?? toasts[0];
    folded += Number(victim.dataset.count || "1");
    if (victim.dataset.kind === "error") {
      foldedErrors += 1;
    }
    clearTimeout(Number(victim.dataset.timer));
    victim.remove();
    toasts = visible();
  }
  if (!summary) {
    summary = h("div", {
      class: "toast toast--summary",
      role: "status",
      "aria-live": "polite",
      dataset: { testid: "toast-summary", count: "0", errors: "0" },
    });
    region.prepend(summary);
  }
  summary.dataset.count = String(Number(summary.dataset.count || "0") + folded);
  summary.dataset.errors = String(Number(summary.dataset.errors || "0") + foldedErrors);
  renderToastSummary(summary);
  armToastTimer(summary, SUMMARY_TIMEOUT_MS);
}

/**
 * まとめのトーストの文を (今の言語で) 書きます。
 * @param {HTMLElement} summary まとめのトースト
 */
function renderToastSummary(summary) {
  const count = Number(summary.dataset.count || "0");
  const errors = Number(summary.dataset.errors || "0");
  summary.dataset.kind = errors > 0 ? "error" : "info";
  summary.setAttribute("aria-label", t("toast.label"));
  replaceChildren(
    summary,
    h("p", { class: "toast__message", text: errors > 0 ? t("toast.moreWithErrors", { count, errors }) : t("toast.more", { count }) }),
    h("button", { type: "button", class: "toast__close", "aria-label": t("common.close"), text: "×", onclick: () => summary.remove() }),
  );
}

/**
 * 表示中のトーストのうち、UI が作る部分 (まとめの文・閉じるボタンのラベル) を今の言語で書き直します
 * (言語を切り替えたときに呼びます。本文は出したときの文のままです)。
 */
export function relabelToasts() {
  const region = document.getElementById("toasts");
  if (!region) {
    return;
  }
  const summary = /** @type {HTMLElement|null} */ (region.querySelector(':scope > [data-testid="toast-summary"]'));
  if (summary) {
    renderToastSummary(summary);
  }
  for (const button of region.querySelectorAll(".toast__close")) {
    button.setAttribute("aria-label", t("common.close"));
  }
}

/**
 * エラーを画面に出す文にします。problem+json の `code` が辞書 (`problem.<code>`) にあれば
 * 今の言語の文を使い (日本語で、サーバーの detail があるときはそちらを優先)、無ければサーバーの
 * detail (無ければ title) を使います。サーバーの title・detail は `server` に「サーバーの応答」の
 * 前置きつきで入ります。
 * @param {unknown} error エラー
 * @returns {{text: string, server: string, code: string, status: number, translated: boolean}} 表示する文
 */
export function describeError(error) {
  const e = /** @type {any} */ (error);
  const code = typeof e?.code === "string" ? e.code : "";
  const status = Number(e?.status) || 0;
  const title = typeof e?.title === "string" ? e.title : "";
  const detail = typeof e?.detail === "string" ? e.detail : "";
  const key = code && code !== "network" ? `problem.${code}` : "";
  const preferServer = getLocale() === "ja" && Boolean(detail);
  const translated = key && hasMessage(key) && !preferServer ? t(key) : "";
  const serverText = localizeServerText(detail || title);
  const text = translated || serverText || e?.message || String(error);
  const head = [status ? `HTTP ${status}` : "", title && title !== detail && title !== text ? title : "", code].filter(Boolean).join(" · ");
  let server = "";
  if (code === "network") {
    server = "";
  } else if (head || (translated && detail)) {
    server = `${t("error.serverPrefix")}: ${head}${translated && detail ? ` — ${detail}` : ""}`;
  }
  return { text, server, code, status, translated: Boolean(translated) };
}

/**
 * エラーをトーストで表示します (中止されたものは黙って無視します)。
 * 本文は「何をしていたか: 理由」、補足は「サーバーの応答: HTTP 状態 · title · code — detail」です。
 * @param {unknown} error エラー (ApiError なら title・detail・code を使います)
 * @param {string} [context] 何をしていたか (例: "アップロード")
 */
export function showError(error, context = "") {
  if (isAbort(error)) {
    return;
  }
  const d = describeError(error);
  if (d.code === "network") {
    // 原因は 1 つ (ゲートウェイに届かない) なので、何をしていたかは補足に回し、同じトーストにまとめる
    showToast(d.text, { kind: "error", detail: context, code: d.code });
    return;
  }
  const message = context ? `${context}: ${d.text}` : d.text;
  showToast(message, { kind: "error", detail: d.server, code: d.code, httpStatus: d.status });
}

/**
 * 中止 (AbortError) かどうか。
 * @param {unknown} error エラー
 * @returns {boolean} 中止なら true
 */
export function isAbort(error) {
  return error instanceof DOMException && error.name === "AbortError";
}

// --- バッジ・書式 ---------------------------------------------------------------------

/**
 * 状態のバッジ (色は CSS の data-status で決まります)。
 * @param {string} status 状態 (例: "processed", "running")
 * @returns {HTMLElement} バッジ
 */
export function statusBadge(status) {
  const s = String(status ?? "unknown");
  return h("span", { class: "badge badge--status", dataset: { status: s }, text: t(`status.${s}`, {}, s) });
}

/**
 * バイト数を読みやすくします。
 * @param {unknown} bytes バイト数
 * @returns {string} 例: "1.2 MB"
 */
export function formatBytes(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n) || n < 0) {
    return "—";
  }
  const units = ["B", "KB", "MB", "GB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/**
 * 日時を表示言語の書式にします。どちらの言語でも並びは同じ「YYYY-MM-DD HH:mm:ss.SSS」(24 時間制、
 * ブラウザーのタイムゾーン) で、数字の書き方だけを Intl.DateTimeFormat に選んだ言語で任せます
 * (言語を切り替えても日と月が入れ替わらないように)。
 * @param {unknown} value ISO 8601 の文字列
 * @returns {string} 表示用の文字列
 */
export function formatTime(value) {
  if (!value) {
    return "—";
  }
  const d = new Date(String(value));
  if (Number.isNaN(d.getTime())) {
    return String(value);
  }
  const locale = getLocale() === "en" ? "en-US" : "ja-JP";
  const parts = new Intl.DateTimeFormat(locale, {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
    numberingSystem: "latn",
  }).formatToParts(d);
  /** @type {Record<string, string>} */
  const p = {};
  for (const part of parts) {
    p[part.type] = part.value;
  }
  const pad = (v, n = 2) => String(v ?? "").padStart(n, "0");
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/**
 * 再生時間 (ミリ秒) を "m:ss.s" にします。
 * @param {unknown} ms ミリ秒
 * @returns {string} 表示用の文字列
 */
export function formatDuration(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n) || ms === null) {
    return "—";
  }
  const minutes = Math.floor(n / 60000);
  const seconds = ((n % 60000) / 1000).toFixed(1).padStart(4, "0");
  return `${minutes}:${seconds}`;
}

/** 時刻順の UUID v7 (先頭 48 ビットが作った時刻)。 */
const TIME_ORDERED_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/**
 * UUID などの長い ID を短くします (title に全体を入れて使います)。
 *
 * 先頭 8 文字を見せます。イベント ID や相関 ID のような時刻順の UUID v7 は、先頭 8 文字が
 * 作った時刻で 1 分ほど同じなので、末尾 4 文字 (乱数) を `…` の後ろに足して見分けられるようにします。
 * @param {unknown} id ID
 * @returns {string} 短い ID (例: `3f2a9c1e`、v7 なら `019af3c2…7d41`)
 */
export function shortId(id) {
  const s = String(id ?? "");
  if (s.length <= 8) return s || "—";
  return TIME_ORDERED_UUID.test(s) ? `${s.slice(0, 8)}…${s.slice(-4)}` : s.slice(0, 8);
}

/**
 * 短い ID の code 要素 (title に全体)。
 * @param {unknown} id ID
 * @returns {HTMLElement} 要素
 */
export function idCode(id) {
  return h("code", { class: "id", title: String(id ?? ""), text: shortId(id) });
}

/**
 * JSON を色分けして表示する pre 要素を作ります。
 * @param {unknown} value 値
 * @param {{highlightKeys?: Set<string>, testid?: string}} [options] 強調する最上位のキー・testid
 * @returns {HTMLElement} pre 要素
 */
export function jsonView(value, options = {}) {
  const { highlightKeys = new Set(), testid } = options;
  const pre = h("pre", { class: "json", tabindex: "0", dataset: { testid } });
  const text = JSON.stringify(value ?? null, null, 2) ?? "null";
  const lines = text.split("\n");
  for (const line of lines) {
    const keyMatch = /^ {2}"((?:[^"\\]|\\.)*)":/.exec(line);
    const lineEl = h("span", { class: ["json__line", keyMatch && highlightKeys.has(JSON.parse(`"${keyMatch[1]}"`)) ? "json__line--changed" : ""] });
    const tokens = /("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
    let last = 0;
    for (const m of line.matchAll(tokens)) {
      if (m.index > last) {
        lineEl.append(line.slice(last, m.index));
      }
      let cls = "json__num";
      if (m[1]) {
        cls = m[2] ? "json__key" : "json__str";
      } else if (m[3]) {
        cls = "json__lit";
      }
      lineEl.append(h("span", { class: cls, text: m[1] ?? m[0] }));
      if (m[2]) {
        lineEl.append(m[2]);
      }
      last = m.index + m[0].length;
    }
    if (last < line.length) {
      lineEl.append(line.slice(last));
    }
    pre.append(lineEl, "\n");
  }
  return pre;
}

/**
 * 空の状態・読み込み中などの案内文。
 * @param {string} message 本文
 * @param {string} [kind] "empty" | "loading" | "error"
 * @returns {HTMLElement} 要素
 */
export function placeholder(message, kind = "empty") {
  return h("p", { class: ["placeholder", `placeholder--${kind}`], text: message });
}

/**
 * 読み込みに失敗したときの案内 (理由と再試行ボタン)。
 * @param {string} message 何に失敗したか
 * @param {unknown} error エラー (detail を理由として表示します)
 * @param {() => void} onRetry 再試行で呼ぶ関数
 * @returns {HTMLElement} 要素
 */
export function errorPlaceholder(message, error, onRetry) {
  const d = describeError(error);
  return h(
    "div",
    { class: "placeholder placeholder--error", role: "alert", "data-testid": "load-error", dataset: { code: d.code || undefined } },
    h("p", null, h("strong", { text: message }), d.text ? ` — ${d.text}` : ""),
    d.server ? h("p", { class: "hint", text: d.server }) : null,
    h("button", { type: "button", class: "button", text: t("common.retry"), onclick: onRetry }),
  );
}

/**
 * 2 回押して実行するボタン (confirm ダイアログの代わり。WebDriver からも押しやすい)。
 * 1 回目で「本当に…?」に変わり、4 秒以内にもう一度押すと action を実行します。
 * @param {{label: string, confirmLabel: string, action: () => Promise<void>|void, testid?: string, className?: string}} options 設定
 * @returns {HTMLButtonElement} ボタン
 */
export function confirmButton({ label, confirmLabel, action, testid, className = "button--danger" }) {
  let armedUntil = 0;
  let timer = 0;
  const button = /** @type {HTMLButtonElement} */ (
    h("button", { type: "button", class: ["button", className], dataset: { testid }, text: label })
  );
  button.addEventListener("click", async () => {
    const now = Date.now();
    if (now > armedUntil) {
      armedUntil = now + 4000;
      button.textContent = confirmLabel;
      button.classList.add("is-armed");
      clearTimeout(timer);
      timer = window.setTimeout(() => {
        button.textContent = label;
        button.classList.remove("is-armed");
      }, 4000);
      return;
    }
    clearTimeout(timer);
    armedUntil = 0;
    button.textContent = label;
    button.classList.remove("is-armed");
    button.disabled = true;
    try {
      await action();
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/**
 * 一定時間の間に何度呼ばれても、最後の呼び出しから wait ミリ秒後に 1 回だけ実行します。
 * @param {() => void} fn 関数
 * @param {number} wait 待ち時間
 * @returns {(() => void) & {cancel: () => void}} まとめて呼ぶ関数
 */
export function debounce(fn, wait) {
  let timer = 0;
  const wrapped = () => {
    clearTimeout(timer);
    timer = window.setTimeout(fn, wait);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/**
 * バックオフつきの再取得ループ。ライブ接続が無いときの代わりに使います。
 * タブが見えている間だけ、shouldRun() が true の間だけ動き、間隔は minMs から倍々で maxMs まで伸びます。
 * `kick()` で間隔を最初に戻して動かし直します。signal が abort されると止まります。
 * @param {{run: () => Promise<void>, shouldRun: () => boolean, signal: AbortSignal, minMs?: number, maxMs?: number}} options 設定
 * @returns {{kick: () => void}} 操作
 */
export function backoffLoop({ run, shouldRun, signal, minMs = 500, maxMs = 8000 }) {
  let delay = minMs;
  let timer = 0;
  let running = false;
  const schedule = () => {
    clearTimeout(timer);
    if (signal.aborted || !shouldRun() || document.visibilityState !== "visible") {
      return;
    }
    timer = window.setTimeout(tick, delay);
  };
  const tick = async () => {
    if (running || signal.aborted) {
      return;
    }
    if (!shouldRun() || document.visibilityState !== "visible") {
      return;
    }
    running = true;
    try {
      await run();
    } catch {
      // run() 自身がエラーを表示する。ここでは間隔を伸ばすだけ
    } finally {
      running = false;
    }
    delay = Math.min(delay * 2, maxMs);
    schedule();
  };
  const onVisible = () => {
    if (document.visibilityState === "visible") {
      delay = minMs;
      schedule();
    }
  };
  document.addEventListener("visibilitychange", onVisible, { signal });
  signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  return {
    kick() {
      delay = minMs;
      schedule();
    },
  };
}

/**
 * 非同期の関数を直列にします。実行中に呼ばれたら、終わった後にもう 1 回だけ実行します
 * (何度呼ばれても 1 回にまとめます)。
 * @param {() => Promise<void>} fn 関数
 * @returns {() => Promise<void>} 直列化した関数
 */
export function serialized(fn) {
  let current = null;
  let again = false;
  const run = async () => {
    if (current) {
      again = true;
      return current;
    }
    current = (async () => {
      try {
        do {
          again = false;
          await fn();
        } while (again);
      } finally {
        current = null;
      }
    })();
    return current;
  };
  return run;
}
