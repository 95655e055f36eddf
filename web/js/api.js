// ゲートウェイの公開 API を呼ぶモジュール。
//
// すべての呼び出しは config.js の GATEWAY_URL に向かい、トークンは Authorization ヘッダーで
// 送ります (URL には決して入れません)。失敗は RFC 9457 の problem+json を読んだ ApiError になり、
// 画面はその detail (無ければ title) を表示します。

import { GATEWAY_URL } from "../config.js";
import { emit, notePosition, store } from "./state.js";
import { t } from "./i18n.js";

/** API のエラー (problem+json を読んだもの、またはネットワークエラー)。 */
export class ApiError extends Error {
  /**
   * @param {{status:number, title?:string, detail?:string, code?:string, type?:string, instance?:string}} problem 問題の内容
   */
  constructor(problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.name = "ApiError";
    /** HTTP 状態コード (ネットワークエラーは 0) */
    this.status = problem.status;
    /** 状態コードの名前 */
    this.title = problem.title ?? "";
    /** 人が読む説明 */
    this.detail = problem.detail ?? "";
    /** 機械が読むエラーコード (例: "media.not_found"、ネットワークエラーは "network") */
    this.code = problem.code ?? "";
    /** 問題の種類の URI */
    this.type = problem.type ?? "";
  }
}

/**
 * ゲートウェイのパスとクエリから URL を作ります。値が空 (undefined, null, "") の項目は省きます。
 * @param {string} path "/api/v1/..." のようなパス
 * @param {Record<string, unknown>} [query] クエリ
 * @returns {string} 完全な URL
 */
export function apiUrl(path, query = {}) {
  const url = new URL(GATEWAY_URL + path);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "" && !(key === "min_position" && !value)) {
      url.searchParams.set(key, String(value));
    }
  }
  return url.toString();
}

/**
 * 認証ヘッダーを返します (ログインしていなければ空)。
 * @returns {Record<string,string>} ヘッダー
 */
export function authHeaders() {
  return store.token ? { Authorization: `Bearer ${store.token}` } : {};
}

/**
 * 2xx 以外の応答を ApiError に変えます。problem+json でなくても読める文にします。
 * @param {Response} response 応答
 * @returns {Promise<ApiError>} エラー
 */
export async function problemFromResponse(response) {
  let body = null;
  try {
    const text = await response.text();
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  return problemFromBody(response.status, body, response.statusText);
}

/**
 * 状態コードと本文 (JSON を読んだもの) から ApiError を作ります。
 * @param {number} status HTTP 状態コード
 * @param {any} body 本文
 * @param {string} [statusText] 状態の名前
 * @returns {ApiError} エラー
 */
export function problemFromBody(status, body, statusText = "") {
  if (body && typeof body === "object") {
    return new ApiError({
      status: Number(body.status) || status,
      title: stringOr(body.title, statusText),
      detail: stringOr(body.detail, stringOr(body.message, stringOr(body.error, ""))),
      code: stringOr(body.code, ""),
      type: stringOr(body.type, ""),
    });
  }
  return new ApiError({ status, title: statusText || t("error.http", { status }), detail: "" });
}

/**
 * @param {unknown} value 値
 * @param {string} fallback 文字列でないときの値
 * @returns {string} 文字列
 */
function stringOr(value, fallback) {
  return typeof value === "string" && value ? value : fallback;
}

/**
 * ネットワークエラー (ゲートウェイに届かない) を表す ApiError を作ります。
 * @returns {ApiError} エラー
 */
export function networkError() {
  return new ApiError({
    status: 0,
    title: t("error.networkTitle"),
    detail: t("error.network", { url: GATEWAY_URL }),
    code: "network",
  });
}

/**
 * ゲートウェイに要求を送り、JSON (または null) を返します。
 * 401 のときはバスに "unauthorized" を流してから ApiError を投げます。
 * @param {string} path パス
 * @param {{method?:string, query?:Record<string,unknown>, json?:unknown, headers?:Record<string,string>, signal?:AbortSignal, blob?:boolean}} [options] 設定
 * @returns {Promise<any>} 応答の JSON (blob: true なら Blob)
 */
export async function request(path, options = {}) {
  const { method = "GET", query, json, headers = {}, signal, blob = false } = options;
  const init = {
    method,
    headers: { Accept: blob ? "*/*" : "application/json", ...authHeaders(), ...headers },
    signal: signal ?? store.session?.signal,
    cache: /** @type {RequestCache} */ ("no-store"),
  };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(apiUrl(path, query), init);
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") {
      throw error;
    }
    throw networkError();
  }
  if (!response.ok) {
    const problem = await problemFromResponse(response);
    if (response.status === 401 && store.token) {
      // セッションを終わらせる (main.js がログイン画面に戻し、理由を 1 回だけ表示する)。
      // 呼び出し側には「中止」として伝え、同じエラーを何度も表示させない。
      emit("unauthorized");
      throw new DOMException(problem.message, "AbortError");
    }
    throw problem;
  }
  if (blob) {
    return response.blob();
  }
  if (response.status === 204) {
    return null;
  }
  const text = await response.text();
  if (!text) {
    return null;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError({ status: response.status, title: t("error.badJson"), detail: t("error.badJson") });
  }
}

/**
 * 一覧の応答から配列を取り出します (配列そのもの、または指定したキーの配列)。
 * @param {any} body 応答
 * @param {...string} keys 探すキー (先にあるものを優先)
 * @returns {any[]} 配列 (見つからなければ空)
 */
export function pickItems(body, ...keys) {
  if (Array.isArray(body)) {
    return body;
  }
  if (body && typeof body === "object") {
    for (const key of [...keys, "items", "data", "results"]) {
      if (Array.isArray(body[key])) {
        return body[key];
      }
    }
  }
  return [];
}

// --- 認証 -------------------------------------------------------------------------

/**
 * 有効なログイン方法を取得します。形が想定と違っても安全な値を返します。
 * @returns {Promise<{providers: string[], devLogin: boolean}>} プロバイダー名の一覧と開発用ログインの有無
 */
export async function getProviders() {
  const body = await request("/auth/providers");
  const raw = Array.isArray(body) ? body : pickItems(body, "providers");
  const providers = raw
    .map((p) => (typeof p === "string" ? p : p && typeof p === "object" ? p.name ?? p.id : null))
    .filter((p) => typeof p === "string" && /^[a-z0-9_-]+$/i.test(p));
  const devLogin = Boolean(body && typeof body === "object" && !Array.isArray(body) && (body.dev_login ?? body.devLogin));
  return { providers, devLogin };
}

/**
 * OAuth2 ログインを始める URL (画面遷移で開きます)。
 * @param {string} provider "github" | "google"
 * @returns {string} URL
 */
export function providerLoginUrl(provider) {
  return apiUrl(`/auth/${encodeURIComponent(provider)}/login`);
}

/**
 * 開発用ログインでトークンを受け取ります。
 * @param {string} login ログイン名
 * @returns {Promise<{token: string, user_id?: string}>} トークン
 */
export async function devToken(login) {
  const body = await request("/auth/dev-token", { method: "POST", json: login ? { login } : {} });
  if (!body || typeof body.token !== "string") {
    throw new ApiError({ status: 200, title: t("error.badJson"), detail: t("error.noToken") });
  }
  return body;
}

/**
 * ログイン中のユーザーを取得します。
 * @returns {Promise<{id:string, email?:string, display_name?:string, provider?:string}>} ユーザー
 */
export function getMe() {
  return request("/api/v1/me");
}

// --- メディア -----------------------------------------------------------------------

/**
 * メディアの一覧 (read-your-writes のため、直近のコマンドの position を min_position に付けます)。
 * @param {{limit?:number, cursor?:string, kind?:string, status?:string, q?:string, minPosition?:number}} params 条件
 * @returns {Promise<{items:any[], next_cursor:string|null}>} 一覧
 */
export async function listMedia(params = {}) {
  const body = await request("/api/v1/media", {
    query: {
      limit: params.limit,
      cursor: params.cursor,
      kind: params.kind,
      status: params.status,
      q: params.q,
      min_position: Math.max(params.minPosition ?? 0, store.positions.media),
    },
  });
  return { items: pickItems(body, "items", "media"), next_cursor: body?.next_cursor ?? null };
}

/**
 * メディアの詳細。
 * @param {string} id メディア ID
 * @returns {Promise<any>} 詳細
 */
export function getMedia(id) {
  return request(`/api/v1/media/${encodeURIComponent(id)}`, {
    query: { min_position: store.positions.media },
  });
}

/**
 * メディアの履歴 (各イベントとその後の状態、タイムトラベル用)。
 * @param {string} id メディア ID
 * @returns {Promise<any[]>} 版の昇順のイベント
 */
export async function getMediaHistory(id) {
  const body = await request(`/api/v1/media/${encodeURIComponent(id)}/history`);
  return pickItems(body, "versions").slice().sort((a, b) => Number(a.version) - Number(b.version));
}

/**
 * サムネイルまたは元ファイルを Blob で取得します (Authorization ヘッダーが要るため img の src に直接書けません)。
 * @param {string} id メディア ID
 * @param {"thumbnail"|"original"} which どちらか
 * @param {AbortSignal} [signal] 中止の合図
 * @returns {Promise<Blob>} 中身
 */
export function getMediaBlob(id, which, signal) {
  return request(`/api/v1/media/${encodeURIComponent(id)}/${which}`, { blob: true, signal });
}

/**
 * メディアを削除します。
 * @param {string} id メディア ID
 * @returns {Promise<any>} `{position}`
 */
export async function deleteMedia(id) {
  const body = await request(`/api/v1/media/${encodeURIComponent(id)}`, { method: "DELETE" });
  notePosition("media", body?.position);
  return body;
}

/**
 * ファイルをアップロードします。進捗を出すため XMLHttpRequest を使います。
 * @param {File} file ファイル
 * @param {{fault?: string, paceMs?: number, onProgress?: (fraction: number) => void, signal?: AbortSignal}} [options]
 *   障害注入・スローモーション (Saga の各ステップの前に置く間、ミリ秒。0 なら送らない)・進捗・中止
 * @returns {Promise<{media_id:string, saga_id:string, position:number}>} 受け付けの結果
 */
export function uploadMedia(file, options = {}) {
  const { fault = "", paceMs = 0, onProgress = () => {}, signal } = options;
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", apiUrl("/api/v1/media"));
    xhr.setRequestHeader("Accept", "application/json");
    for (const [key, value] of Object.entries(authHeaders())) {
      xhr.setRequestHeader(key, value);
    }
    if (fault) {
      xhr.setRequestHeader("X-Fault-Inject", fault);
    }
    if (paceMs > 0) {
      xhr.setRequestHeader("X-Saga-Pace-Ms", String(Math.min(Math.round(paceMs), 5000)));
    }
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable && e.total > 0) {
        onProgress(e.loaded / e.total);
      }
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        notePosition("media", body?.position);
        resolve(body ?? {});
        return;
      }
      if (xhr.status === 401 && store.token) {
        emit("unauthorized");
        reject(new DOMException("unauthorized", "AbortError"));
        return;
      }
      reject(problemFromBody(xhr.status, body, xhr.statusText));
    });
    xhr.addEventListener("error", () => reject(networkError()));
    xhr.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    const abortSignal = signal ?? store.session?.signal;
    abortSignal?.addEventListener("abort", () => xhr.abort(), { once: true });
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

// --- アルバム -----------------------------------------------------------------------

/**
 * アルバムの一覧。
 * @returns {Promise<any[]>} アルバム
 */
export async function listAlbums() {
  const body = await request("/api/v1/albums", { query: { min_position: store.positions.album } });
  return pickItems(body, "items", "albums");
}

/**
 * アルバムを作ります。
 * @param {string} name 名前
 * @returns {Promise<any>} 作ったアルバム (または `{id, position}`)
 */
export async function createAlbum(name) {
  const body = await request("/api/v1/albums", { method: "POST", json: { name } });
  notePosition("album", body?.position);
  return body;
}

/**
 * アルバムの詳細。
 * @param {string} id アルバム ID
 * @returns {Promise<any>} アルバム
 */
export function getAlbum(id) {
  return request(`/api/v1/albums/${encodeURIComponent(id)}`, { query: { min_position: store.positions.album } });
}

/**
 * アルバムの名前を変えます。
 * @param {string} id アルバム ID
 * @param {string} name 新しい名前
 * @returns {Promise<any>} 結果
 */
export async function renameAlbum(id, name) {
  const body = await request(`/api/v1/albums/${encodeURIComponent(id)}`, { method: "PATCH", json: { name } });
  notePosition("album", body?.position);
  return body;
}

/**
 * アルバムを削除します。
 * @param {string} id アルバム ID
 * @returns {Promise<any>} 結果
 */
export async function deleteAlbum(id) {
  const body = await request(`/api/v1/albums/${encodeURIComponent(id)}`, { method: "DELETE" });
  notePosition("album", body?.position);
  return body;
}

/**
 * アルバムの中身。
 * @param {string} id アルバム ID
 * @returns {Promise<any[]>} 中身 (各要素に media_id または id)
 */
export async function listAlbumMedia(id) {
  const body = await request(`/api/v1/albums/${encodeURIComponent(id)}/media`, {
    query: { min_position: store.positions.album },
  });
  return pickItems(body, "items", "media");
}

/**
 * アルバムにメディアを加えます。
 * @param {string} albumId アルバム ID
 * @param {string} mediaId メディア ID
 * @returns {Promise<any>} 結果
 */
export async function addMediaToAlbum(albumId, mediaId) {
  const body = await request(`/api/v1/albums/${encodeURIComponent(albumId)}/media`, {
    method: "POST",
    json: { media_id: mediaId },
  });
  notePosition("album", body?.position);
  return body;
}

/**
 * アルバムからメディアを外します。
 * @param {string} albumId アルバム ID
 * @param {string} mediaId メディア ID
 * @returns {Promise<any>} 結果
 */
export async function removeMediaFromAlbum(albumId, mediaId) {
  const body = await request(
    `/api/v1/albums/${encodeURIComponent(albumId)}/media/${encodeURIComponent(mediaId)}`,
    { method: "DELETE" },
  );
  notePosition("album", body?.position);
  return body;
}

// --- Saga ---------------------------------------------------------------------------

/**
 * Saga の一覧 (新しい順、カーソルでページ送り)。
 * @param {{limit?:number, cursor?:string|null, status?:string, q?:string}} [params] 条件
 *   (status は running / compensating / completed / compensated / failed、q はファイル名の部分一致か
 *   Saga ID・メディア ID の前方一致)
 * @returns {Promise<{items:any[], next_cursor:string|null}>} 1 ページ
 */
export async function listSagas(params = {}) {
  const body = await request("/api/v1/sagas", {
    query: { limit: params.limit, cursor: params.cursor, status: params.status, q: params.q },
  });
  return { items: pickItems(body, "items", "sagas"), next_cursor: body?.next_cursor ?? null };
}

/**
 * Saga の詳細 (ステップのタイムラインとイベント)。
 * @param {string} id Saga ID
 * @returns {Promise<any>} 詳細
 */
export function getSaga(id) {
  return request(`/api/v1/sagas/${encodeURIComponent(id)}`);
}

// --- イベント -----------------------------------------------------------------------

/**
 * 自分のイベントのログを位置の順に読みます。`before` を付けると、その位置より前の (一致する) イベントの
 * うち新しい方から `limit` 件を、位置の昇順で返します (ログを後ろ向きにページ送りするとき)。
 * @param {{after?:number, before?:number, limit?:number, aggregate_type?:string, aggregate_id?:string, event_type?:string, correlation_id?:string}} params 条件
 * @returns {Promise<any[]>} エンベロープ (position の昇順)
 */
export async function listEvents(params = {}) {
  const body = await request("/api/v1/events", { query: params });
  return pickItems(body, "events", "items");
}

// --- 通知 ---------------------------------------------------------------------------

/**
 * 通知の一覧 (新しい順、カーソルでページ送り)。read-your-writes のため、直近の既読操作の position を
 * min_position に付けます。
 * @param {{limit?:number, cursor?:string|null}} [params] 条件
 * @returns {Promise<{items:any[], next_cursor:string|null}>} 1 ページ
 */
export async function listNotifications(params = {}) {
  const body = await request("/api/v1/notifications", {
    query: { limit: params.limit, cursor: params.cursor, min_position: store.positions.notification },
  });
  return { items: pickItems(body, "items", "notifications"), next_cursor: body?.next_cursor ?? null };
}

/**
 * 未読の件数。応答が件数でも一覧でも数えます。直近の既読操作の position を min_position に付けるので、
 * 既読にした直後に古い件数が返ることはありません。
 * @returns {Promise<number>} 件数
 */
export async function unreadCount() {
  const body = await request("/api/v1/notifications/unread", { query: { min_position: store.positions.notification } });
  if (typeof body === "number") {
    return body;
  }
  for (const key of ["count", "unread", "unread_count", "total"]) {
    if (body && typeof body[key] === "number") {
      return body[key];
    }
  }
  return pickItems(body, "items", "notifications").length;
}

/**
 * 通知を既読にします。応答の position を記録します (次の一覧・未読数の min_position)。
 * @param {string} id 通知 ID
 * @returns {Promise<any>} `{position}`
 */
export async function markNotificationRead(id) {
  const body = await request(`/api/v1/notifications/${encodeURIComponent(id)}/read`, { method: "PUT" });
  notePosition("notification", body?.position);
  return body;
}

/**
 * すべての通知を既読にします。応答の position を記録します (次の一覧・未読数の min_position)。
 * @returns {Promise<any>} `{updated, position}`
 */
export async function markAllNotificationsRead() {
  const body = await request("/api/v1/notifications/read-all", { method: "PUT" });
  notePosition("notification", body?.position);
  return body;
}

// --- ラボ (学習用の操作) -------------------------------------------------------------

/**
 * サービスの地図 (8 サービスの状態)。
 * @returns {Promise<{controls_enabled: boolean, rebuild_enabled: boolean, items: Array<{name: string, state: string, latency_ms: number|null, controllable: boolean}>}>} 状態
 */
export async function getLabServices() {
  const body = await request("/api/v1/lab/services");
  return {
    controls_enabled: Boolean(body?.controls_enabled),
    rebuild_enabled: Boolean(body?.rebuild_enabled),
    items: pickItems(body, "items", "services"),
  };
}

/**
 * サービスを本当に止めます (make run の開発モードだけ。album・saga・media-query)。
 * @param {string} name サービス名
 * @returns {Promise<{name: string, state: string}>} 操作の後の状態
 */
export function stopService(name) {
  return request(`/api/v1/lab/services/${encodeURIComponent(name)}/stop`, { method: "POST" });
}

/**
 * 止めたサービスを起こします。
 * @param {string} name サービス名
 * @returns {Promise<{name: string, state: string}>} 操作の後の状態
 */
export function startService(name) {
  return request(`/api/v1/lab/services/${encodeURIComponent(name)}/start`, { method: "POST" });
}

/**
 * 読み側 4 サービスのプロジェクションの進み具合。
 * @returns {Promise<Array<{service: string, status: {name: string, checkpoint: number, head: number, lag: number}|null}>>} 一覧
 */
export async function getProjections() {
  return pickItems(await request("/api/v1/lab/projections"), "items", "projections");
}

/**
 * 読みモデルを位置 0 から作り直します (終わるまで待ちます)。
 * @param {string} name サービス名 (media-query / album / notification / saga)
 * @returns {Promise<{position: number, events: number}>} 作り直した後のチェックポイントと再生したイベントの数
 */
export function rebuildProjection(name) {
  return request(`/api/v1/lab/projections/${encodeURIComponent(name)}/rebuild`, { method: "POST" });
}
