// 起動処理: 言語、ログイン画面とアプリ画面の切り替え、タブ、ヘッダー、Swagger UI へのリンク。
//
// ログインするたびにアプリ画面を <template id="app-template"> から作り直し、各タブの
// コントローラーをそのセッションの AbortSignal つきで作ります。ログアウトで signal を abort し、
// 通信・ストリーム・Object URL をすべて片付けて、画面を取り除きます。

import { GATEWAY_URL, SERVICES, swaggerUrl } from "../config.js";
import * as api from "./api.js";
import { clearToken, loadToken, saveToken, takeFragment, tokenExpiresAt } from "./auth.js";
import { applyI18n, getLocale, initLocale, setLocale, t } from "./i18n.js";
import { startLiveEvents } from "./live.js";
import { mountLogin } from "./login.js";
import { emit, on, resetSession, store } from "./state.js";
import { createThumbnailLoader } from "./thumbs.js";
import { h, relabelToasts, replaceChildren, showError, showToast } from "./ui.js";
import { createAlbumsTab } from "./tabs/albums.js";
import { createEventsTab } from "./tabs/events.js";
import { createLabTab } from "./tabs/lab.js";
import { createMediaTab } from "./tabs/media.js";
import { createNotificationsTab } from "./tabs/notifications.js";
import { createSagasTab } from "./tabs/sagas.js";

const TABS = /** @type {const} */ (["media", "albums", "sagas", "events", "notifications", "lab"]);
const TAB_KEY = "mediahub.tab";

const loginView = /** @type {HTMLElement} */ (document.getElementById("login-view"));
const appRoot = /** @type {HTMLElement} */ (document.getElementById("app-root"));
const appTemplate = /** @type {HTMLTemplateElement} */ (document.getElementById("app-template"));
const sessionBar = /** @type {HTMLElement} */ (document.querySelector('[data-role="session-bar"]'));
const userName = /** @type {HTMLElement} */ (document.querySelector('[data-role="user-name"]'));
const liveStatus = /** @type {HTMLElement} */ (document.querySelector('[data-testid="live-status"]'));
const badge = /** @type {HTMLElement} */ (document.querySelector('[data-testid="notification-badge"]'));

/**
 * ログイン画面を表示します。
 */
function showLogin() {
  appRoot.replaceChildren();
  sessionBar.hidden = true;
  loginView.hidden = false;
  const controller = new AbortController();
  on("session-started", () => controller.abort(), controller.signal);
  mountLogin(loginView, {
    signal: controller.signal,
    onToken: (token) => {
      saveToken(token);
      startSession(token);
    },
  });
  /** @type {HTMLElement|null} */ (loginView.querySelector('[data-testid="dev-login-input"]'))?.focus();
}

/**
 * ログインした状態を始めます (アプリ画面を作り、ライブ購読を始めます)。
 * @param {string} token JWT
 */
function startSession(token) {
  resetSession();
  store.token = token;
  store.session = new AbortController();
  const signal = store.session.signal;
  emit("session-started");

  loginView.hidden = true;
  sessionBar.hidden = false;
  userName.textContent = "…";
  const app = /** @type {DocumentFragment} */ (appTemplate.content.cloneNode(true));
  applyI18n(app);
  appRoot.replaceChildren(app);

  const panel = (name) => /** @type {HTMLElement} */ (appRoot.querySelector(`#panel-${name}`));
  const thumbs = createThumbnailLoader(signal);
  const controllers = {
    media: createMediaTab({ panel: panel("media"), signal, thumbs }),
    albums: createAlbumsTab({ panel: panel("albums"), signal, thumbs }),
    sagas: createSagasTab({ panel: panel("sagas"), signal, thumbs }),
    events: createEventsTab({ panel: panel("events"), signal, thumbs }),
    notifications: createNotificationsTab({ panel: panel("notifications"), signal, thumbs, badge }),
    lab: createLabTab({ panel: panel("lab"), signal, thumbs }),
  };
  wireTabs(signal);
  on("tab-selected", ({ tab }) => controllers[/** @type {keyof typeof controllers} */ (tab)]?.activate(), signal);
  on(
    "navigate",
    ({ tab, sagaId, mediaId, correlationId }) => {
      selectTab(tab);
      if (tab === "sagas" && sagaId) controllers.sagas.open(sagaId);
      else if (tab === "sagas" && mediaId) controllers.sagas.openForMedia(mediaId);
      if (tab === "media" && mediaId) controllers.media.open(mediaId);
      if (tab === "events" && correlationId) controllers.events.follow(correlationId);
    },
    signal,
  );

  let last = "media";
  try {
    last = window.sessionStorage.getItem(TAB_KEY) ?? "media";
  } catch {
    // 既定のタブのまま
  }
  selectTab(TABS.includes(/** @type {any} */ (last)) ? last : "media");

  loadUser(signal);
  startLiveEvents(signal);

  const expiresAt = tokenExpiresAt(token);
  if (expiresAt !== null) {
    const timer = window.setTimeout(() => endSession(t("login.expired")), Math.min(Math.max(expiresAt - Date.now(), 0), 2 ** 31 - 1));
    signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  }
}

/**
 * ログイン中のユーザーを読み、ヘッダーに表示します。
 * @param {AbortSignal} signal セッションの合図
 */
async function loadUser(signal) {
  try {
    const me = await api.getMe();
    if (signal.aborted) return;
    store.user = me;
    userName.textContent = me?.display_name || me?.email || me?.id || "?";
    userName.title = [me?.email, me?.provider, me?.id].filter(Boolean).join(" · ");
  } catch (error) {
    if (signal.aborted) return;
    userName.textContent = "?";
    if (/** @type {any} */ (error)?.status !== 401) showError(error, t("login.meFailed"));
  }
}

/**
 * ログアウトします (サーバー側の状態は無いので、トークンを捨てるだけです)。
 * @param {string} [message] 表示する理由 (期限切れなど)
 */
function endSession(message) {
  if (!store.token) return;
  resetSession();
  clearToken();
  setBadge(0);
  setLive("idle");
  userName.textContent = "";
  if (message) showToast(message, { kind: "error" });
  showLogin();
}

/** @param {number} count 未読数 */
function setBadge(count) {
  badge.textContent = String(count);
  badge.dataset.count = String(count);
  badge.classList.toggle("is-zero", count === 0);
}

/** @param {string} status ライブ接続の状態 */
function setLive(status) {
  liveStatus.dataset.state = status;
  liveStatus.textContent = t(`live.${status}`, {}, status);
}

// --- タブ ---------------------------------------------------------------------------

/**
 * タブを選びます。
 * @param {string} name タブの名前
 */
function selectTab(name) {
  for (const tab of TABS) {
    const button = appRoot.querySelector(`#tab-${tab}`);
    const panel = /** @type {HTMLElement|null} */ (appRoot.querySelector(`#panel-${tab}`));
    const active = tab === name;
    button?.setAttribute("aria-selected", String(active));
    button?.setAttribute("tabindex", active ? "0" : "-1");
    if (panel) panel.hidden = !active;
  }
  try {
    window.sessionStorage.setItem(TAB_KEY, name);
  } catch {
    // 覚えられなくても困らない
  }
  emit("tab-selected", { tab: name });
}

/**
 * タブのボタンにクリックとキーボード操作 (←→ Home End) を付けます。
 * @param {AbortSignal} signal セッションの合図
 */
function wireTabs(signal) {
  const list = appRoot.querySelector('[role="tablist"]');
  if (!list) return;
  list.addEventListener(
    "click",
    (e) => {
      const button = /** @type {HTMLElement} */ (e.target).closest('[role="tab"]');
      if (button) selectTab(button.id.replace(/^tab-/, ""));
    },
    { signal },
  );
  list.addEventListener(
    "keydown",
    (e) => {
      const ev = /** @type {KeyboardEvent} */ (e);
      const current = TABS.findIndex((tab) => appRoot.querySelector(`#tab-${tab}`)?.getAttribute("aria-selected") === "true");
      let next = -1;
      if (ev.key === "ArrowRight") next = (current + 1) % TABS.length;
      else if (ev.key === "ArrowLeft") next = (current - 1 + TABS.length) % TABS.length;
      else if (ev.key === "Home") next = 0;
      else if (ev.key === "End") next = TABS.length - 1;
      if (next >= 0) {
        ev.preventDefault();
        selectTab(TABS[next]);
        /** @type {HTMLElement|null} */ (appRoot.querySelector(`#tab-${TABS[next]}`))?.focus();
      }
    },
    { signal },
  );
}

// --- ヘッダー・フッター -------------------------------------------------------------

function renderSwaggerLinks() {
  const box = document.querySelector('[data-role="swagger-links"]');
  if (box) {
    replaceChildren(
      box,
      SERVICES.map((s) =>
        h("li", null, h("a", { href: swaggerUrl(s), target: "_blank", rel: "noopener noreferrer", "data-testid": `swagger-${s.name}`, text: `${s.name} :${s.port}` })),
      ),
    );
  }
  const gw = document.querySelector('[data-role="footer-gateway"]');
  if (gw) gw.textContent = GATEWAY_URL;
}

function wireHeader() {
  document.querySelector('[data-testid="logout-button"]')?.addEventListener("click", () => endSession());
  document.querySelector('[data-testid="notification-button"]')?.addEventListener("click", () => selectTab("notifications"));
  const langButton = document.querySelector('[data-testid="lang-toggle"]');
  langButton?.addEventListener("click", () => setLocale(getLocale() === "ja" ? "en" : "ja"));
  on("live-status", ({ stream, status }) => stream === "events" && store.token && setLive(status));
  on("locale-changed", () => {
    setLive(liveStatus.dataset.state ?? "idle");
    relabelToasts();
  });
  on("unauthorized", () => endSession(t("login.expired")));
}

/**
 * 予期しない例外も画面に出します (真っ白な画面にしないため)。
 */
function catchUnexpected() {
  window.addEventListener("error", (e) => {
    showToast(t("error.unexpected"), { kind: "error", detail: String(e.message ?? "") });
  });
  window.addEventListener("unhandledrejection", (e) => {
    const reason = e.reason;
    if (reason instanceof DOMException && reason.name === "AbortError") {
      e.preventDefault();
      return;
    }
    e.preventDefault();
    showError(reason, t("error.unexpected"));
  });
}

function boot() {
  catchUnexpected();
  initLocale();
  applyI18n(document);
  setLive("idle");
  renderSwaggerLinks();
  wireHeader();
  const token = readFragment() ?? loadToken();
  if (token) {
    startSession(token);
  } else {
    showLogin();
  }
  // 同じ文書のままフラグメントだけが変わったとき (#token=... を開き直したなど) も受け取る
  window.addEventListener("hashchange", () => {
    const fresh = readFragment();
    if (fresh) startSession(fresh);
  });
  document.documentElement.dataset.ready = "true";
}

/**
 * OAuth2 の戻り (`#token=...` / `#error=...`) を読み、トークンなら保存して返します。
 * @returns {string|null} トークン
 */
function readFragment() {
  const fragment = takeFragment();
  if (fragment.error) {
    showToast(t("login.oauthFailed"), { kind: "error", detail: fragment.error });
  }
  if (fragment.token) {
    saveToken(fragment.token);
    return fragment.token;
  }
  return null;
}

boot();
