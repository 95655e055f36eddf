// DOM を組み立てる小さな道具と、トースト・バッジ・書式などの共通部品。
//
// 値は必ず textContent / 属性として入れ、innerHTML は使いません (API の値をそのまま HTML に
// しないため)。

import { t } from "./i18n.js";

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

/**
 * トーストを表示します。エラーは role="alert"、ほかは role="status" で読み上げられます。
 * 同じ文のトーストが表示中なら重ねて出しません。
 * @param {string} message 本文
 * @param {{kind?: "error"|"info"|"success", detail?: string, timeoutMs?: number}} [options] 種類・補足・表示時間
 * @returns {HTMLElement|null} トーストの要素 (重複で出さなかったときは null)
 */
export function showToast(message, options = {}) {
  const { kind = "info", detail = "", timeoutMs = kind === "error" ? 10000 : 4000 } = options;
  const region = document.getElementById("toasts");
  if (!region) {
    return null;
  }
  for (const el of region.children) {
    if (/** @type {HTMLElement} */ (el).dataset.message === message) {
      return null;
    }
  }
  const toast = h(
    "div",
    {
      class: ["toast", `toast--${kind}`],
      role: kind === "error" ? "alert" : "status",
      "aria-live": kind === "error" ? "assertive" : "polite",
      dataset: { message, testid: kind === "error" ? "error-toast" : `${kind}-toast` },
    },
    h("div", { class: "toast__body" }, h("p", { class: "toast__message", text: message }), detail ? h("p", { class: "toast__detail", text: detail }) : null),
    h("button", { type: "button", class: "toast__close", "aria-label": t("common.close"), text: "×", onclick: () => toast.remove() }),
  );
  region.append(toast);
  // 多すぎるときは古いものから消す (エラーは最後まで残す)
  const MAX_TOASTS = 5;
  while (region.childElementCount > MAX_TOASTS) {
    const oldest = Array.from(region.children).find((el) => !el.classList.contains("toast--error")) ?? region.firstElementChild;
    oldest?.remove();
  }
  if (timeoutMs > 0) {
    setTimeout(() => toast.remove(), timeoutMs);
  }
  return toast;
}

/**
 * エラーをトーストで表示します (中止されたものは黙って無視します)。
 * @param {unknown} error エラー (ApiError なら detail・code を使います)
 * @param {string} [context] 何をしていたか (例: "アップロード")
 */
export function showError(error, context = "") {
  if (isAbort(error)) {
    return;
  }
  const e = /** @type {any} */ (error);
  const text = e?.detail || e?.title || e?.message || String(error);
  if (e?.code === "network") {
    // 原因は 1 つ (ゲートウェイに届かない) なので、何をしていたかは補足に回し、同じトーストにまとめる
    showToast(text, { kind: "error", detail: context });
    return;
  }
  const message = context ? `${context}: ${text}` : text;
  const extra = [e?.status ? `HTTP ${e.status}` : "", e?.code ?? ""].filter(Boolean).join(" · ");
  showToast(message, { kind: "error", detail: extra });
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
 * 日時を表示言語の書式にします (ミリ秒まで)。
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
  const locale = document.documentElement.lang === "en" ? "en-GB" : "ja-JP";
  const date = d.toLocaleDateString(locale, { month: "2-digit", day: "2-digit" });
  const time = d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  return `${date} ${time}.${String(d.getMilliseconds()).padStart(3, "0")}`;
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

/**
 * UUID などの長い ID を先頭 8 文字にします (title に全体を入れて使います)。
 * @param {unknown} id ID
 * @returns {string} 短い ID
 */
export function shortId(id) {
  const s = String(id ?? "");
  return s.length > 8 ? s.slice(0, 8) : s || "—";
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
  const e = /** @type {any} */ (error);
  const reason = e?.detail || e?.title || e?.message || "";
  return h(
    "div",
    { class: "placeholder placeholder--error", role: "alert", "data-testid": "load-error" },
    h("p", null, h("strong", { text: message }), reason ? ` — ${reason}` : ""),
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
