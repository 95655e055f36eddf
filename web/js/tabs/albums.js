// アルバムのタブ: 一覧 (デフォルトアルバムに印)、作成・名前変更・削除、中身の表示・追加・削除。
//
// アルバムのコマンドの応答の position を次の問い合わせの min_position に付けます
// (api.js が store.positions.album に記録)。Album 集約のイベントが届いたら読み直します。

import * as api from "../api.js";
import { t } from "../i18n.js";
import { emit, notePosition, on } from "../state.js";
import {
  confirmButton,
  debounce,
  formatTime,
  h,
  idCode,
  isAbort,
  placeholder,
  reconcile,
  replaceChildren,
  serialized,
  showError,
  showToast,
  errorPlaceholder,
} from "../ui.js";

/** アルバムに加えられないメディアの状態 */
const UNUSABLE = new Set(["deleted", "invalidated", "failed"]);

/**
 * アルバムのタブを作ります。
 * @param {import("./media.js").TabContext} ctx 文脈
 * @returns {{activate: () => void}} 操作
 */
export function createAlbumsTab({ panel, signal, thumbs }) {
  const $ = (role) => /** @type {HTMLElement} */ (panel.querySelector(`[data-role="${role}"]`));
  const createForm = /** @type {HTMLFormElement} */ ($("create-form"));
  const list = $("list");
  const listStatus = $("list-status");
  const detail = $("detail");

  /** @type {any[]} */
  let albums = [];
  let loaded = false;
  /** @type {{id: string, album: any, items: any[], media: any[]} | null} */
  let selected = null;

  createForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = /** @type {HTMLInputElement} */ (createForm.elements.namedItem("name"));
    const name = input.value.trim();
    if (!name) {
      showToast(t("albums.nameRequired"), { kind: "error" });
      input.focus();
      return;
    }
    const button = createForm.querySelector("button");
    if (button) button.disabled = true;
    try {
      const result = await api.createAlbum(name);
      input.value = "";
      showToast(t("albums.created", { name }), { kind: "success" });
      await refresh();
      const id = result?.id ?? result?.album_id;
      if (id) {
        open(String(id));
      }
    } catch (error) {
      showError(error, t("albums.createFailed"));
    } finally {
      if (button) button.disabled = false;
    }
  });

  const refresh = serialized(async () => {
    try {
      albums = await api.listAlbums();
      albums.sort((a, b) => Number(Boolean(b.is_default)) - Number(Boolean(a.is_default)) || String(a.created_at ?? "").localeCompare(String(b.created_at ?? "")));
      loaded = true;
      render();
      if (selected) {
        const fresh = albums.find((a) => a.id === selected?.id);
        if (fresh) {
          selected.album = { ...selected.album, ...fresh };
        }
      }
    } catch (error) {
      if (!isAbort(error)) {
        showError(error, t("albums.loadFailed"));
        if (!loaded) {
          replaceChildren(listStatus, errorPlaceholder(t("albums.loadFailed"), error, () => refresh()));
        }
      }
    }
  });

  function render() {
    reconcile(list, albums, (a) => String(a.id), createRow, updateRow);
    replaceChildren(listStatus, albums.length === 0 ? placeholder(t("albums.empty")) : null);
  }

  /**
   * @param {any} a アルバム
   * @returns {HTMLElement} 行
   */
  function createRow(a) {
    const li = h("li", { class: "list-row", dataset: { testid: "album-row" } });
    updateRow(li, a);
    return li;
  }

  /**
   * @param {HTMLElement} li 行
   * @param {any} a アルバム
   */
  function updateRow(li, a) {
    li.dataset.albumId = String(a.id);
    li.dataset.default = a.is_default ? "true" : "false";
    li.classList.toggle("is-selected", selected?.id === a.id);
    // 変わっていなければ作り直さない (テストが持っている要素の参照を古くしないため)
    const signature = JSON.stringify([a.name, a.is_default, a.media_count, a.created_at, selected?.id === a.id, document.documentElement.lang]);
    if (li.dataset.signature === signature) return;
    li.dataset.signature = signature;
    replaceChildren(
      li,
      h(
        "button",
        { type: "button", class: "list-row__button", "aria-pressed": selected?.id === a.id ? "true" : "false", onclick: () => open(a.id) },
        h("span", { class: "list-row__title" }, a.is_default ? h("span", { class: "badge badge--default", title: t("albums.default"), text: `★ ${t("albums.default")}` }) : null, " ", a.name ?? "—"),
        h("span", { class: "list-row__meta" }, t("albums.count", { count: a.media_count ?? 0 }), " · ", formatTime(a.created_at)),
      ),
    );
  }

  /**
   * アルバムの詳細を開きます。
   * @param {string} id アルバム ID
   */
  function open(id) {
    selected = { id, album: albums.find((a) => a.id === id) ?? { id }, items: [], media: [] };
    detail.hidden = false;
    render();
    renderDetail();
    loadDetail();
  }

  function close() {
    selected = null;
    detail.hidden = true;
    replaceChildren(detail);
    renderDetail();
    render();
  }

  const loadDetail = serialized(async () => {
    if (!selected) {
      return;
    }
    const current = selected;
    try {
      const [album, items, media] = await Promise.all([
        api.getAlbum(current.id),
        api.listAlbumMedia(current.id),
        api.listMedia({ limit: 100 }).then((p) => p.items).catch(() => []),
      ]);
      if (selected !== current) {
        return;
      }
      current.album = album ?? current.album;
      current.items = items;
      current.media = media;
      renderDetail();
    } catch (error) {
      if (!isAbort(error) && selected === current) {
        showError(error, t("albums.detailFailed"));
        if (error?.status === 404) {
          close();
          refresh();
        }
      }
    }
  });

  /**
   * 詳細の骨組み (見出し・フォーム・中身の一覧) を作ります。開いたときに 1 回だけ作り、
   * ライブ更新では中身だけを書き換えます (入力中の文字や選択を消さないため)。
   * @returns {Record<string, HTMLElement>} 書き換える部分
   */
  function buildDetail() {
    const parts = {
      title: h("h2", { class: "detail__title" }),
      meta: h("p", { class: "hint" }),
      defaultHint: h("p", { class: "hint", text: t("albums.defaultHint") }),
      renameInput: h("input", { id: "album-rename-input", name: "name", type: "text", required: true, maxlength: "200", "data-testid": "album-rename-input" }),
      addSelect: h("select", { id: "album-add-select", name: "media_id", required: true, "data-testid": "album-add-select" }),
      addButton: h("button", { type: "submit", class: "button", "data-testid": "album-add-button", text: t("albums.add") }),
      contents: h("ul", { class: "album-items", "data-testid": "album-items" }),
      contentsEmpty: placeholder(t("albums.contentsEmpty")),
      // デフォルトアルバム (is_default) は削除できないので、削除ボタンの代わりに案内を出す
      deleteActions: h(
        "div",
        { class: "detail__actions", "data-testid": "album-delete-actions", dataset: { state: "unknown" } },
        confirmButton({ label: t("albums.delete"), confirmLabel: t("common.confirmDelete"), testid: "album-delete-button", action: () => removeAlbum() }),
        h("p", { class: "hint", "data-testid": "album-delete-unavailable", text: t("albums.defaultNotDeletable"), hidden: true }),
      ),
    };
    replaceChildren(
      detail,
      h(
        "header",
        { class: "detail__header" },
        parts.title,
        h("button", { type: "button", class: "button button--ghost", "aria-label": t("common.close"), text: "×", onclick: close }),
      ),
      parts.meta,
      parts.defaultHint,
      h(
        "form",
        { class: "inline-form", onsubmit: (e) => rename(e) },
        h("label", { for: "album-rename-input", text: t("albums.rename") }),
        parts.renameInput,
        h("button", { type: "submit", class: "button", "data-testid": "album-rename-button", text: t("albums.renameButton") }),
      ),
      parts.deleteActions,
      h("h3", { text: t("albums.contents") }),
      h(
        "form",
        { class: "inline-form", onsubmit: (e) => addMedia(e) },
        h("label", { for: "album-add-select", text: t("albums.addMedia") }),
        parts.addSelect,
        parts.addButton,
      ),
      parts.contentsEmpty,
      parts.contents,
    );
    return parts;
  }

  /** @type {Record<string, HTMLElement>|null} */
  let parts = null;
  /** @type {string|null} 骨組みを作ったアルバムと言語 */
  let partsFor = null;

  function renderDetail() {
    if (!selected) {
      parts = null;
      partsFor = null;
      return;
    }
    const key = `${selected.id}:${document.documentElement.lang}`;
    if (!parts || partsFor !== key || !detail.contains(parts.title)) {
      parts = buildDetail();
      partsFor = key;
    }
    const { album, items, media } = selected;
    const byId = new Map(media.map((m) => [m.id, m]));
    const inAlbum = new Set(items.map(itemMediaId));
    const candidates = media.filter((m) => !inAlbum.has(m.id) && !UNUSABLE.has(m.status));

    replaceChildren(parts.title, album.is_default ? h("span", { class: "badge badge--default", text: `★ ${t("albums.default")}` }) : null, " ", album.name ?? "—");
    replaceChildren(parts.meta, t("albums.id"), " ", idCode(album.id), " · ", t("albums.count", { count: album.media_count ?? items.length }), " · ", formatTime(album.created_at));
    parts.defaultHint.hidden = !album.is_default;
    // is_default が分かるまで (アルバムを読み終わるまで) は削除ボタンを出さない
    const deletable = album.is_default === false;
    parts.deleteActions.dataset.state = album.is_default === true ? "default" : deletable ? "deletable" : "unknown";
    const deleteButton = /** @type {HTMLButtonElement|null} */ (parts.deleteActions.querySelector('[data-testid="album-delete-button"]'));
    if (deleteButton) {
      deleteButton.hidden = !deletable;
      deleteButton.disabled = !deletable;
    }
    const unavailable = /** @type {HTMLElement|null} */ (parts.deleteActions.querySelector('[data-testid="album-delete-unavailable"]'));
    if (unavailable) unavailable.hidden = album.is_default !== true;
    const input = /** @type {HTMLInputElement} */ (parts.renameInput);
    if (document.activeElement !== input && input.dataset.original !== (album.name ?? "")) {
      input.value = album.name ?? "";
      input.dataset.original = album.name ?? "";
    }

    // 追加できるメディアの選択肢 (選んでいるものは残す)
    const select = /** @type {HTMLSelectElement} */ (parts.addSelect);
    const chosen = select.value;
    replaceChildren(
      select,
      h("option", { value: "", text: candidates.length === 0 ? t("albums.noCandidates") : t("albums.choose") }),
      candidates.map((m) => h("option", { value: m.id, text: `${m.filename ?? m.id} (${t(`status.${m.status}`, {}, m.status)})` })),
    );
    if (candidates.some((m) => m.id === chosen)) select.value = chosen;
    /** @type {HTMLSelectElement} */ (select).disabled = candidates.length === 0;
    /** @type {HTMLButtonElement} */ (parts.addButton).disabled = candidates.length === 0;

    parts.contentsEmpty.hidden = items.length > 0;
    parts.contents.hidden = items.length === 0;
    reconcile(
      parts.contents,
      items,
      itemMediaId,
      (item) => albumItem(item, byId),
      (el, item) => {
        const m = byId.get(itemMediaId(item));
        const name = el.querySelector(".album-item__name .link");
        if (m?.filename && name && name.textContent !== m.filename) name.textContent = m.filename;
      },
    );
  }

  /**
   * アルバムの中身の 1 行。
   * @param {any} item 中身の 1 件
   * @param {Map<string, any>} byId メディア ID → メディア
   * @returns {HTMLElement} 行
   */
  function albumItem(item, byId) {
    const mediaId = itemMediaId(item);
    const m = byId.get(mediaId) ?? item;
    const thumb = h("span", { class: "album-item__thumb", "aria-hidden": "true", text: "▣" });
    const url = thumbs.cached(mediaId);
    if (url) {
      replaceChildren(thumb, h("img", { src: url, alt: "" }));
    } else if (m.status === "processed" || m.thumbnail_url) {
      thumbs.load(mediaId).then((u) => u && replaceChildren(thumb, h("img", { src: u, alt: "" })));
    }
    return h(
      "li",
      { class: "album-item", dataset: { mediaId, testid: "album-item" } },
      thumb,
      h(
        "span",
        { class: "album-item__name" },
        h("button", { type: "button", class: "link", text: m.filename ?? mediaId, onclick: () => emit("navigate", { tab: "media", mediaId }) }),
        h("span", { class: "hint", text: ` ${formatTime(item.added_at ?? item.created_at)}` }),
      ),
      h("button", { type: "button", class: "button button--ghost", "data-testid": "album-remove-button", text: t("albums.remove"), onclick: () => removeMedia(mediaId) }),
    );
  }

  /**
   * @param {any} item アルバムの中身の 1 件
   * @returns {string} メディア ID
   */
  function itemMediaId(item) {
    return String(item?.media_id ?? item?.id ?? "");
  }

  /** @param {SubmitEvent} e 送信イベント */
  async function rename(e) {
    e.preventDefault();
    if (!selected) return;
    const form = /** @type {HTMLFormElement} */ (e.target);
    const name = String(new FormData(form).get("name") ?? "").trim();
    if (!name) {
      showToast(t("albums.nameRequired"), { kind: "error" });
      return;
    }
    try {
      await api.renameAlbum(selected.id, name);
      showToast(t("albums.renamed", { name }), { kind: "success" });
      await Promise.all([refresh(), loadDetail()]);
    } catch (error) {
      showError(error, t("albums.renameFailed"));
    }
  }

  async function removeAlbum() {
    if (!selected || selected.album.is_default !== false) return;
    const name = selected.album.name ?? selected.id;
    try {
      const result = await api.deleteAlbum(selected.id);
      notePosition("album", result?.position);
      showToast(t("albums.deleted", { name }), { kind: "success" });
      close();
      await refresh();
    } catch (error) {
      showError(error, t("albums.deleteFailed"));
    }
  }

  /** @param {SubmitEvent} e 送信イベント */
  async function addMedia(e) {
    e.preventDefault();
    if (!selected) return;
    const mediaId = String(new FormData(/** @type {HTMLFormElement} */ (e.target)).get("media_id") ?? "");
    if (!mediaId) {
      return;
    }
    try {
      await api.addMediaToAlbum(selected.id, mediaId);
      showToast(t("albums.added"), { kind: "success" });
      await Promise.all([refresh(), loadDetail()]);
    } catch (error) {
      showError(error, t("albums.addFailed"));
    }
  }

  /** @param {string} mediaId メディア ID */
  async function removeMedia(mediaId) {
    if (!selected) return;
    try {
      await api.removeMediaFromAlbum(selected.id, mediaId);
      showToast(t("albums.removed"), { kind: "success" });
      await Promise.all([refresh(), loadDetail()]);
    } catch (error) {
      showError(error, t("albums.removeFailed"));
    }
  }

  // Album のイベント (Saga による追加、メディア削除による取り外しも) が届いたら読み直す
  const refreshSoon = debounce(() => {
    refresh();
    loadDetail();
  }, 100);
  on(
    "domain-event",
    (e) => {
      if (e?.aggregate_type === "Album") {
        notePosition("album", e.position);
        if (loaded) refreshSoon();
      } else if (e?.aggregate_type === "Media" && selected) {
        refreshSoon();
      }
    },
    signal,
  );
  on(
    "locale-changed",
    () => {
      render();
      renderDetail();
    },
    signal,
  );

  return {
    activate() {
      refresh();
      if (selected) loadDetail();
    },
  };
}
