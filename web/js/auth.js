// トークンの受け取り・保存・破棄。
//
// トークンは sessionStorage (タブを閉じると消える) とメモリにだけ置きます。URL に入れず、
// ログにも出しません。OAuth2 の後、ゲートウェイはフロントエンドへ `#token=<jwt>` 付きで
// リダイレクトしてくるので、読み取ったらすぐに history.replaceState でフラグメントを消します。

const TOKEN_KEY = "mediahub.token";

/**
 * URL のフラグメント (`#token=...` または `#error=...`) を読み、読んだらフラグメントを消します。
 * @returns {{token?: string, error?: string}} 読み取った値 (無ければ空)
 */
export function takeFragment() {
  const hash = window.location.hash.startsWith("#") ? window.location.hash.slice(1) : "";
  if (!hash) {
    return {};
  }
  const params = new URLSearchParams(hash);
  const token = params.get("token") ?? params.get("access_token") ?? undefined;
  const error = params.get("error_description") ?? params.get("error") ?? undefined;
  if (token || error) {
    const clean = window.location.pathname + window.location.search;
    window.history.replaceState(window.history.state, "", clean);
  }
  return { token: token || undefined, error: error || undefined };
}

/**
 * JWT のペイロードを読みます (署名は検証しません。表示と有効期限の確認だけに使います)。
 * @param {string} token JWT
 * @returns {Record<string, any>|null} ペイロード (読めなければ null)
 */
export function decodeJwtPayload(token) {
  const part = String(token).split(".")[1];
  if (!part) {
    return null;
  }
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/**
 * トークンの有効期限 (ミリ秒の時刻)。分からなければ null。
 * @param {string} token JWT
 * @returns {number|null} 有効期限
 */
export function tokenExpiresAt(token) {
  const exp = decodeJwtPayload(token)?.exp;
  return typeof exp === "number" ? exp * 1000 : null;
}

/**
 * 保存済みのトークンを読みます。有効期限が切れていれば捨てて null を返します。
 * @returns {string|null} トークン
 */
export function loadToken() {
  let token = null;
  try {
    token = window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
  if (!token) {
    return null;
  }
  const expiresAt = tokenExpiresAt(token);
  if (expiresAt !== null && expiresAt <= Date.now()) {
    clearToken();
    return null;
  }
  return token;
}

/**
 * トークンを sessionStorage に保存します。
 * @param {string} token JWT
 */
export function saveToken(token) {
  try {
    window.sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // 保存できない (プライベートモードなど) ときはメモリだけで続ける
  }
}

/**
 * 保存したトークンを消します。
 */
export function clearToken() {
  try {
    window.sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // 何もしない
  }
}
