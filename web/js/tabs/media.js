// メディアのタブ: アップロード (進捗・障害注入)、サムネイルの一覧、詳細、履歴 (タイムトラベル)、削除。
//
// 一覧は "domain-event" (Media 集約のイベント) を合図に、そのイベントの position を
// min_position に付けて読み直します (read-your-writes)。ライブ接続が切れている間だけ、
// 処理中のメディアがあればバックオフつきで読み直します。

import * as api from "../api.js";
import { localizeServerText, t } from "../i18n.js";
import { emit, forgetBlobUrl, on, rememberBlobUrl, store } from "../state.js";
import {
  backoffLoop,
  confirmButton,
  debounce,
  describeError,
  formatBytes,
  formatDuration,
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

const PAGE_SIZE = 24;
/** スローモーションのとき、Saga の各ステップの前に置く間 (ミリ秒、X-Saga-Pace-Ms) */
const SLOW_MOTION_PACE_MS = 1500;
/** スローモーションの選択を覚えておく localStorage のキー */
const SLOW_MOTION_KEY = "mediahub.slowMotion";
const MAX_REFRESH_LIMIT = 100;
/** 処理中 (サーバーで次のイベントを待っている) とみなす状態 */
const PENDING_STATUSES = new Set(["uploaded", "processing"]);

/**
 * @typedef {object} TabContext
 * @property {HTMLElement} panel タブのパネル
 * @property {AbortSignal} signal セッションの合図
 * @property {ReturnType<typeof import("../thumbs.js").createThumbnailLoader>} thumbs サムネイルの読み込み係
 */

/**
 * メディアのタブを作ります。
 * @param {TabContext} ctx 文脈
 * @returns {{activate: () => void, open: (mediaId: string) => void}} 操作
 */
export function createMediaTab({ panel, signal, thumbs }) {
  const $ = (role) => /** @type {HTMLElement} */ (panel.querySelector(`[data-role="${role}"]`));
  const uploadForm = /** @type {HTMLFormElement} */ ($("upload-form"));
  const fileInput = /** @type {HTMLInputElement} */ (panel.querySelector('[data-testid="upload-input"]'));
  const faultSelect = /** @type {HTMLSelectElement} */ (panel.querySelector('[data-testid="fault-select"]'));
  const slowMotion = /** @type {HTMLInputElement} */ (panel.querySelector('[data-testid="slow-motion-toggle"]'));
  const uploadButton = /** @type {HTMLButtonElement} */ (panel.querySelector('[data-testid="upload-button"]'));
  const progress = /** @type {HTMLProgressElement} */ (panel.querySelector('[data-testid="upload-progress"]'));
  const progressText = $("progress-text");
  const uploadResult = $("upload-result");
  const filters = /** @type {HTMLFormElement} */ ($("filters"));
  const grid = $("grid");
  const gridStatus = $("grid-status");
  const moreButton = /** @type {HTMLButtonElement} */ ($("more"));
  const detail = $("detail");

  /** @type {any[]} */
  let items = [];
  /** @type {string|null} */
  let nextCursor = null;
  let loaded = false;
  /** @type {unknown} 最初の読み込みの失敗 (言語を切り替えたら案内を描き直すため) */
  let loadError = null;
  /**
   * 直前のアップロードの結果 (言語を切り替えたら描き直すため)。
   * @type {{kind: "accepted", name: string, result: any, fault: string, paceMs: number}|{kind: "rejected", name: string, error: unknown}|null}
   */
  let lastResult = null;
  /** @type {{state: "uploading"|"done"|"error", name: string}|null} 進捗の文 (同上) */
  let lastProgress = null;
  let pendingPosition = 0;
  /** @type {{id: string, media: any, history: any[], version: number|null, followLatest: boolean, controller: AbortController}|null} */
  let selected = null;

  // --- アップロード ------------------------------------------------------------------

  // スローモーションの選択は localStorage に覚えます (ログインし直しても残るように)
  try {
    slowMotion.checked = window.localStorage.getItem(SLOW_MOTION_KEY) === "true";
  } catch {
    slowMotion.checked = false;
  }
  slowMotion.addEventListener("change", () => {
    try {
      window.localStorage.setItem(SLOW_MOTION_KEY, String(slowMotion.checked));
    } catch {
      // 覚えられなくても、このページの間は効く
    }
  });

  uploadForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = Array.from(fileInput.files ?? []);
    if (files.length === 0) {
      showToast(t("media.chooseFile"), { kind: "error" });
      fileInput.focus();
      return;
    }
    uploadButton.disabled = true;
    try {
      for (const [index, file] of files.entries()) {
        await uploadOne(file, index, files.length);
      }
      fileInput.value = "";
    } finally {
      uploadButton.disabled = false;
    }
  });

  /**
   * 1 つのファイルをアップロードします。
   * @param {File} file ファイル
   * @param {number} index 何番目か
   * @param {number} total 全部で何個か
   */
  async function uploadOne(file, index, total) {
    const label = total > 1 ? `(${index + 1}/${total}) ${file.name}` : file.name;
    const fault = faultSelect.value;
    const paceMs = slowMotion.checked ? SLOW_MOTION_PACE_MS : 0;
    lastProgress = { state: "uploading", name: file.name };
    setProgress(0, label);
    progress.dataset.state = "uploading";
    try {
      const result = await api.uploadMedia(file, {
        fault,
        paceMs,
        signal,
        onProgress: (fraction) => setProgress(fraction, label),
      });
      if (result?.media_id && fault) {
        store.faults.set(String(result.media_id), fault);
      }
      progress.dataset.state = "done";
      lastProgress = { state: "done", name: file.name };
      renderProgressText();
      lastResult = { kind: "accepted", name: file.name, result, fault, paceMs };
      renderUploadResult();
      emit("upload-accepted", { ...result, fault, pace_ms: paceMs });
      showToast(t("media.uploadAccepted", { name: file.name }), { kind: "success" });
      await refresh();
      fallback.kick();
    } catch (error) {
      progress.dataset.state = "error";
      lastProgress = { state: "error", name: file.name };
      renderProgressText();
      if (!isAbort(error)) {
        lastResult = { kind: "rejected", name: file.name, error };
        renderUploadResult();
      }
      showError(error, t("media.uploadFailed"));
    }
  }

  /** 進捗の文を今の言語で書きます (送信中は「ファイル名 — n%」のまま)。 */
  function renderProgressText() {
    if (lastProgress?.state === "done") {
      progressText.textContent = t("media.uploaded", { name: lastProgress.name });
    } else if (lastProgress?.state === "error") {
      progressText.textContent = t("media.uploadFailed");
    }
  }

  /**
   * @param {number} fraction 0〜1
   * @param {string} label 表示するファイル名
   */
  function setProgress(fraction, label) {
    const percent = Math.round(fraction * 100);
    progress.value = percent;
    progressText.textContent = `${label} — ${percent}%`;
  }

  /**
   * 直前のアップロードの結果を今の言語で表示します。受け付けられたらメディア ID・Saga ID・position、
   * 断られたら理由 (problem+json の title・detail を「サーバーの応答」の前置きつきで) を出します。
   * `upload-result` の `data-state` は `accepted` / `rejected`。
   */
  function renderUploadResult() {
    if (!lastResult) {
      uploadResult.dataset.state = "idle";
      replaceChildren(uploadResult);
      return;
    }
    const name = lastResult.name;
    if (lastResult.kind === "rejected") {
      const d = describeError(lastResult.error);
      uploadResult.dataset.state = "rejected";
      replaceChildren(
        uploadResult,
        h("span", { class: "upload__error", "data-testid": "upload-error", dataset: { code: d.code || undefined }, text: t("media.uploadRejected", { name, reason: d.text }) }),
        d.server ? " " : null,
        d.server ? h("span", { class: "hint", text: d.server }) : null,
      );
      return;
    }
    const { result, fault, paceMs } = lastResult;
    uploadResult.dataset.state = "accepted";
    replaceChildren(
      uploadResult,
      h("span", { text: `${name}: ` }),
      h("span", { text: t("media.mediaId") }),
      " ",
      idCode(result.media_id),
      " · ",
      h("span", { text: t("media.position") }),
      ` ${result.position ?? "—"} · `,
      fault ? h("span", { class: "tag tag--fault", "data-testid": "upload-result-fault", dataset: { fault }, text: t("sagas.faultTag", { fault }) }) : null,
      fault ? " · " : null,
      paceMs > 0 ? h("span", { class: "tag tag--dev", "data-testid": "upload-result-slow-motion", text: t("media.slowMotionTag", { ms: paceMs }) }) : null,
      paceMs > 0 ? " · " : null,
      result.saga_id
        ? h("button", {
            type: "button",
            class: "link",
            text: t("media.showSaga"),
            onclick: () => emit("navigate", { tab: "sagas", sagaId: result.saga_id }),
          })
        : null,
      result.media_id
        ? h("button", {
            type: "button",
            class: "link",
            text: t("media.openDetail"),
            onclick: () => open(result.media_id),
          })
        : null,
    );
  }

  // --- 一覧 --------------------------------------------------------------------------

  const filterValues = () => {
    const data = new FormData(filters);
    return {
      kind: String(data.get("kind") ?? ""),
      status: String(data.get("status") ?? ""),
      q: String(data.get("q") ?? "").trim(),
    };
  };

  /**
   * 一覧の問い合わせの条件。状態が「すべて」(選択肢の値は "") のときは status=all を送り、
   * 削除済み (補償で削除された失敗のアップロードを含む) も一覧に入れます。
   * @returns {{kind: string, status: string, q: string}} 条件
   */
  const queryValues = () => {
    const f = filterValues();
    return { ...f, status: f.status || "all" };
  };

  const refresh = serialized(async () => {
    const minPosition = pendingPosition;
    pendingPosition = 0;
    try {
      const f = queryValues();
      const limit = Math.min(Math.max(items.length, PAGE_SIZE), MAX_REFRESH_LIMIT);
      const page = await api.listMedia({ ...f, limit, minPosition });
      items = page.items;
      nextCursor = page.next_cursor;
      grid.dataset.includesDeleted = String(f.status === "all");
      loaded = true;
      loadError = null;
      render();
    } catch (error) {
      if (!isAbort(error)) {
        showError(error, t("media.loadFailed"));
        if (!loaded) {
          loadError = error;
          replaceChildren(gridStatus, errorPlaceholder(t("media.loadFailed"), error, () => refresh()));
        }
      }
    }
  });

  async function loadMore() {
    if (!nextCursor) {
      return;
    }
    moreButton.disabled = true;
    try {
      const page = await api.listMedia({ ...queryValues(), limit: PAGE_SIZE, cursor: nextCursor });
      const known = new Set(items.map((m) => String(m.id)));
      items = [...items, ...page.items.filter((m) => !known.has(String(m.id)))];
      nextCursor = page.next_cursor;
      render();
    } catch (error) {
      showError(error, t("media.loadFailed"));
    } finally {
      moreButton.disabled = false;
    }
  }

  function render() {
    reconcile(grid, items, (m) => String(m.id), createCard, updateCard);
    if (items.length === 0) {
      replaceChildren(gridStatus, placeholder(t("media.empty")));
    } else {
      replaceChildren(gridStatus);
    }
    moreButton.hidden = !nextCursor;
    moreButton.dataset.state = nextCursor ? "more" : "end";
    for (const m of items) {
      if (wantsThumbnail(m) && !thumbs.cached(m.id) && !thumbs.failed(m.id)) {
        thumbs.load(m.id).then((url) => {
          if (url) {
            const card = grid.querySelector(`[data-media-id="${CSS.escape(String(m.id))}"]`);
            if (card) {
              setThumb(/** @type {HTMLElement} */ (card), m);
            }
          }
        });
      }
    }
  }

  /**
   * @param {any} m メディア
   * @returns {boolean} サムネイルを読むべきなら true
   */
  function wantsThumbnail(m) {
    return m.status !== "deleted" && (m.status === "processed" || Boolean(m.thumbnail_url));
  }

  /**
   * @param {any} m メディア
   * @returns {HTMLElement} カード
   */
  function createCard(m) {
    const card = h("article", { class: "media-card", role: "listitem", dataset: { testid: "media-card" } });
    updateCard(card, m);
    return card;
  }

  /**
   * @param {HTMLElement} card カード
   * @param {any} m メディア
   */
  function updateCard(card, m) {
    card.dataset.mediaId = String(m.id);
    card.dataset.status = String(m.status ?? "");
    card.classList.toggle("is-selected", selected?.id === m.id);
    const signature = JSON.stringify([m.status, m.filename, m.size, m.kind, m.failure_reason, document.documentElement.lang, selected?.id === m.id]);
    if (card.dataset.signature === signature) {
      setThumb(card, m);
      return;
    }
    card.dataset.signature = signature;
    const thumb = h("span", { class: "media-card__thumb", "aria-hidden": "true" });
    const button = h(
      "button",
      {
        type: "button",
        class: "media-card__button",
        "aria-label": t("media.openNamed", { name: m.filename ?? m.id }),
        "aria-pressed": selected?.id === m.id ? "true" : "false",
        onclick: () => open(m.id),
      },
      thumb,
      h("span", { class: "media-card__name", title: m.filename ?? "", text: m.filename ?? m.id }),
      h(
        "span",
        { class: "media-card__meta" },
        statusBadge(m.status),
        h("span", { text: t(`kind.${m.kind}`, {}, m.kind ?? "") }),
        h("span", { text: formatBytes(m.size) }),
      ),
      m.failure_reason
        ? h("span", {
            class: "media-card__reason failure-reason",
            "data-testid": "media-failure-reason",
            title: `${t("media.failureReason")}: ${m.failure_reason}`,
            text: localizeServerText(m.failure_reason),
          })
        : null,
    );
    replaceChildren(card, button);
    setThumb(card, m);
  }

  /**
   * カードのサムネイル部分を、読み込み済みなら img、まだなら印にします。
   * @param {HTMLElement} card カード
   * @param {any} m メディア
   */
  function setThumb(card, m) {
    const slot = card.querySelector(".media-card__thumb");
    if (!slot) {
      return;
    }
    const url = wantsThumbnail(m) ? thumbs.cached(m.id) : null;
    const current = slot.querySelector("img");
    if (url) {
      if (current?.getAttribute("src") !== url) {
        replaceChildren(slot, h("img", { src: url, alt: "", "data-testid": "thumbnail", decoding: "async" }));
      }
      return;
    }
    const want = PENDING_STATUSES.has(m.status) ? "pending" : m.kind === "video" ? "video" : "image";
    if (current || slot.dataset.icon !== want) {
      slot.dataset.icon = want;
      replaceChildren(slot, want === "pending" ? h("span", { class: "spinner" }) : h("span", { class: "media-card__icon", text: want === "video" ? "▶" : "▣" }));
    }
  }

  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    items = [];
    refresh();
  });
  filters.addEventListener("change", () => {
    items = [];
    refresh();
  });
  const searchLater = debounce(() => {
    items = [];
    refresh();
  }, 300);
  filters.querySelector('input[name="q"]')?.addEventListener("input", searchLater);
  moreButton.addEventListener("click", loadMore);

  // --- 詳細と履歴 --------------------------------------------------------------------

  /**
   * メディアの詳細を開きます。
   * @param {string} id メディア ID
   */
  function open(id) {
    selected?.controller.abort();
    forgetBlobUrl("original");
    selected = { id, media: items.find((m) => m.id === id) ?? null, history: [], version: null, followLatest: true, controller: new AbortController() };
    detail.hidden = false;
    renderDetail();
    render();
    loadDetail();
  }

  function close() {
    selected?.controller.abort();
    selected = null;
    forgetBlobUrl("original");
    detail.hidden = true;
    delete detail.dataset.signature;
    replaceChildren(detail);
    render();
  }

  const loadDetail = serialized(async () => {
    if (!selected) {
      return;
    }
    const current = selected;
    try {
      const [media, history] = await Promise.all([api.getMedia(current.id), api.getMediaHistory(current.id)]);
      if (selected !== current) {
        return;
      }
      current.media = media;
      current.history = history;
      if (current.followLatest || current.version === null) {
        current.version = history.length > 0 ? history.length - 1 : null;
      }
      renderDetail();
    } catch (error) {
      if (!isAbort(error) && selected === current) {
        showError(error, t("media.detailFailed"));
        if (!current.media) {
          delete detail.dataset.signature;
          replaceChildren(detail, detailHeader(current.id), placeholder(t("media.detailFailed"), "error"));
        }
      }
    }
  });

  /**
   * @param {string} title 見出し
   * @returns {HTMLElement} 見出しと閉じるボタン
   */
  function detailHeader(title) {
    return h(
      "header",
      { class: "detail__header" },
      h("h2", { class: "detail__title", text: title }),
      h("button", { type: "button", class: "button button--ghost", "aria-label": t("common.close"), text: "×", onclick: close }),
    );
  }

  function renderDetail() {
    if (!selected) {
      return;
    }
    const m = selected.media;
    if (!m) {
      delete detail.dataset.signature;
      replaceChildren(detail, detailHeader(selected.id), placeholder(t("common.loading"), "loading"));
      return;
    }
    const correlationId = findCorrelation(m.id);
    const originalUrl = store.blobUrls.get("original");
    // ライブ更新で同じ内容が届いたときは作り直さない (スライダーの操作やフォーカスを保つため)
    const signature = JSON.stringify([m, selected.history.length, selected.history.at(-1)?.position, selected.version, originalUrl, correlationId, document.documentElement.lang]);
    if (detail.dataset.signature === signature) {
      return;
    }
    detail.dataset.signature = signature;
    const preview = h("div", { class: "detail__preview", dataset: { role: "preview" } });
    if (originalUrl) {
      preview.append(originalPreview(originalUrl, m));
    }
    replaceChildren(
      detail,
      detailHeader(m.filename ?? m.id),
      h(
        "div",
        { class: "detail__actions" },
        statusBadge(m.status),
        m.status !== "deleted"
          ? h("button", { type: "button", class: "button", text: t("media.showOriginal"), onclick: () => loadOriginal(m) })
          : null,
        h("button", { type: "button", class: "button", text: t("media.showSaga"), onclick: () => emit("navigate", { tab: "sagas", mediaId: m.id }) }),
        correlationId
          ? h("button", { type: "button", class: "button", text: t("events.follow"), onclick: () => emit("navigate", { tab: "events", correlationId }) })
          : null,
        m.status !== "deleted"
          ? confirmButton({
              label: t("common.delete"),
              confirmLabel: t("common.confirmDelete"),
              testid: "media-delete-button",
              action: () => remove(m),
            })
          : null,
      ),
      preview,
      h(
        "dl",
        { class: "props" },
        prop(t("media.id"), idCode(m.id)),
        prop(t("media.contentType"), m.content_type),
        prop(t("media.kind"), t(`kind.${m.kind}`, {}, m.kind ?? "—")),
        prop(t("media.size"), h("span", { "data-testid": "media-size", text: formatBytes(m.size) })),
        prop(t("media.dimensions"), m.width && m.height ? `${m.width} × ${m.height}` : "—"),
        m.kind === "video" ? prop(t("media.duration"), formatDuration(m.duration_ms)) : null,
        prop(t("media.createdAt"), formatTime(m.created_at)),
        m.failure_reason
          ? prop(t("media.failureReason"), h("span", { class: "failure-reason", "data-testid": "media-failure-reason", title: m.failure_reason, text: localizeServerText(m.failure_reason) }))
          : null,
        m.sha256 ? prop("SHA-256", h("code", { class: "id", title: m.sha256, text: `${String(m.sha256).slice(0, 16)}…` })) : null,
      ),
      historyView(),
    );
  }

  /**
   * @param {string} label 項目名
   * @param {any} value 値 (文字列または要素)
   * @returns {HTMLElement[]} dt と dd
   */
  function prop(label, value) {
    return /** @type {any} */ ([h("dt", { text: label }), h("dd", null, value ?? "—")]);
  }

  /**
   * このメディアの相関 ID を、受け取ったイベントから探します。
   * @param {string} mediaId メディア ID
   * @returns {string|null} 相関 ID
   */
  function findCorrelation(mediaId) {
    const e = store.events.find((x) => x.aggregate_id === mediaId && x.metadata?.correlation_id);
    return e ? e.metadata.correlation_id : null;
  }

  /** @param {any} m メディア */
  async function loadOriginal(m) {
    const current = selected;
    try {
      const blob = await api.getMediaBlob(m.id, "original", current?.controller.signal);
      if (selected !== current) {
        return;
      }
      const url = URL.createObjectURL(blob);
      rememberBlobUrl("original", url);
      const slot = detail.querySelector('[data-role="preview"]');
      if (slot) {
        replaceChildren(slot, originalPreview(url, m));
      }
    } catch (error) {
      showError(error, t("media.originalFailed"));
    }
  }

  /**
   * @param {string} url Object URL
   * @param {any} m メディア
   * @returns {HTMLElement} 表示とダウンロードのリンク
   */
  function originalPreview(url, m) {
    const isVideo = m.kind === "video" || String(m.content_type ?? "").startsWith("video/");
    const caption = h("figcaption", null, h("a", { href: url, download: m.filename ?? "media", text: t("media.download") }));
    // 再生・表示できなければ (CSP に media-src blob: が無い、形式に対応していないなど) 案内を出す
    const onError = () => {
      figure.dataset.state = "error";
      if (!figure.querySelector('[data-testid="original-error"]')) {
        figure.insertBefore(h("p", { class: "placeholder placeholder--error", role: "alert", "data-testid": "original-error", text: t("media.originalPlayFailed") }), caption);
      }
    };
    const figure = h(
      "figure",
      { class: "original", dataset: { state: "loading", testid: "original-figure" } },
      isVideo
        ? h("video", { src: url, controls: true, preload: "metadata", "data-testid": "original", onerror: onError, onloadedmetadata: () => (figure.dataset.state = "ready") })
        : h("img", { src: url, alt: m.filename ?? "", "data-testid": "original", onerror: onError, onload: () => (figure.dataset.state = "ready") }),
      caption,
    );
    return figure;
  }

  /** @param {any} m メディア */
  async function remove(m) {
    try {
      const result = await api.deleteMedia(m.id);
      showToast(t("media.deleteAccepted", { name: m.filename ?? m.id, position: result?.position ?? "—" }), { kind: "success" });
      thumbs.forget(m.id);
      await Promise.all([refresh(), loadDetail()]);
    } catch (error) {
      showError(error, t("media.deleteFailed"));
    }
  }

  /**
   * 履歴 (タイムトラベル) の表示。スライダーで版を選ぶと、その版の後の状態を表示します。
   * @returns {HTMLElement} 履歴の節
   */
  function historyView() {
    const history = selected?.history ?? [];
    const section = h("section", { class: "history", "aria-labelledby": "history-title" }, h("h3", { id: "history-title", text: t("history.title") }));
    if (history.length === 0) {
      section.append(placeholder(t("history.empty")));
      return section;
    }
    section.append(h("p", { class: "hint", text: t("history.hint") }));
    const index = Math.min(selected?.version ?? history.length - 1, history.length - 1);
    const entry = history[index];
    const before = index > 0 ? history[index - 1].state : null;
    const changed = changedKeys(before, entry.state);
    const select = (i) => {
      if (!selected) {
        return;
      }
      selected.version = Math.max(0, Math.min(history.length - 1, i));
      selected.followLatest = selected.version === history.length - 1;
      renderDetail();
      detail.querySelector("#history-slider")?.focus();
    };
    const slider = h("input", {
      id: "history-slider",
      type: "range",
      min: "0",
      max: String(history.length - 1),
      step: "1",
      value: String(index),
      "data-testid": "history-slider",
      "aria-valuetext": `v${entry.version} ${entry.event_type}`,
      onchange: (e) => select(Number(e.target.value)),
    });
    slider.addEventListener("input", (e) => {
      const i = Number(/** @type {HTMLInputElement} */ (e.target).value);
      const label = section.querySelector(".history__label");
      if (label) {
        label.textContent = versionLabel(history[i], history.length);
      }
    });
    section.append(
      h(
        "div",
        { class: "history__controls" },
        h("button", { type: "button", class: "button button--ghost", "aria-label": t("history.prev"), text: "◀", disabled: index === 0, onclick: () => select(index - 1) }),
        h("label", { for: "history-slider", class: "visually-hidden", text: t("history.version") }),
        slider,
        h("button", { type: "button", class: "button button--ghost", "aria-label": t("history.next"), text: "▶", disabled: index === history.length - 1, onclick: () => select(index + 1) }),
        h("output", { class: "history__label", for: "history-slider", text: versionLabel(entry, history.length) }),
      ),
      h(
        "ol",
        { class: "history__versions" },
        history.map((e, i) =>
          h(
            "li",
            null,
            h(
              "button",
              { type: "button", class: ["chip", i === index ? "is-current" : ""], "aria-current": i === index ? "step" : null, onclick: () => select(i) },
              `v${e.version} ${e.event_type}`,
            ),
          ),
        ),
      ),
      h(
        "div",
        { class: "history__panes" },
        h(
          "div",
          null,
          h("h4", { text: t("history.event", { type: entry.event_type, position: entry.position ?? "—" }) }),
          h("p", { class: "hint", text: formatTime(entry.created_at) }),
          jsonView(entry.event, { testid: "history-event" }),
        ),
        h(
          "div",
          null,
          h("h4", { text: t("history.stateAfter", { version: entry.version }) }),
          changed.size > 0
            ? h("p", { class: "chips", "aria-label": t("history.changed") }, h("span", { class: "hint", text: `${t("history.changed")}: ` }), [...changed].map((k) => h("span", { class: "chip chip--changed", text: k })))
            : null,
          jsonView(entry.state, { highlightKeys: changed, testid: "history-state" }),
        ),
      ),
    );
    return section;
  }

  /**
   * @param {any} entry 履歴の 1 件
   * @param {number} total 件数
   * @returns {string} 例: "v2 / 3 — MediaProcessed"
   */
  function versionLabel(entry, total) {
    return `v${entry.version} / ${total} — ${entry.event_type}`;
  }

  /**
   * 2 つの状態の最上位のキーのうち、値が変わったもの。
   * @param {any} before 前
   * @param {any} after 後
   * @returns {Set<string>} 変わったキー
   */
  function changedKeys(before, after) {
    const keys = new Set();
    const a = before && typeof before === "object" ? before : {};
    const b = after && typeof after === "object" ? after : {};
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) {
        keys.add(key);
      }
    }
    return keys;
  }

  // --- ライブ更新 --------------------------------------------------------------------

  const refreshSoon = debounce(() => refresh(), 80);
  const detailSoon = debounce(() => loadDetail(), 80);

  on(
    "domain-event",
    (e) => {
      if (e?.aggregate_type !== "Media") {
        return;
      }
      pendingPosition = Math.max(pendingPosition, Number(e.position) || 0);
      if (loaded) {
        refreshSoon();
      }
      if (selected && selected.id === e.aggregate_id) {
        detailSoon();
      }
    },
    signal,
  );

  // ライブ接続が無いときだけ: 処理中のメディアがあればバックオフで読み直す
  const fallback = backoffLoop({
    signal,
    run: async () => {
      await refresh();
      if (selected && PENDING_STATUSES.has(selected.media?.status)) {
        await loadDetail();
      }
    },
    shouldRun: () => store.live.events !== "open" && items.some((m) => PENDING_STATUSES.has(m.status)),
  });
  on("live-status", ({ stream, status }) => stream === "events" && status !== "open" && fallback.kick(), signal);
  on(
    "locale-changed",
    () => {
      if (loaded) {
        render();
      } else if (loadError) {
        replaceChildren(gridStatus, errorPlaceholder(t("media.loadFailed"), loadError, () => refresh()));
      }
      renderDetail();
      renderProgressText();
      renderUploadResult();
    },
    signal,
  );

  return {
    activate() {
      if (!loaded) {
        refresh();
      }
    },
    open(mediaId) {
      open(mediaId);
    },
  };
}
