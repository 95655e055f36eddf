// MediaHub デバッグ UI の実行時設定。
//
// ゲートウェイの URL はここだけで決まります。優先順位:
//   1. window.MEDIAHUB_GATEWAY_URL — frontend サービスが index.html の
//      `<!-- MEDIAHUB_RUNTIME_CONFIG -->` を小さなインラインスクリプトに置き換えて注入する値
//      (例: <script>window.MEDIAHUB_GATEWAY_URL = "http://127.0.0.1:54321";</script>)
//   2. ページと同じホストのポート 8080 (http://<ページのホスト>:8080)
//   3. http://localhost:8080 (file:// で開いたときなど、ホストが分からないとき)
//
// 各サービスの Swagger UI のリンクはゲートウェイのホストから作ります。別の URL を使うときは
// window.MEDIAHUB_SERVICE_URLS = { "media-query": "http://host:port", ... } で上書きできます。

/**
 * ページのホストから既定のゲートウェイ URL を作ります。
 * @returns {string} ゲートウェイの URL
 */
function defaultGatewayUrl() {
  const { protocol, hostname } = window.location;
  if ((protocol === "http:" || protocol === "https:") && hostname) {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    return `${protocol}//${host}:8080`;
  }
  return "http://localhost:8080";
}

/** ゲートウェイのベース URL (末尾のスラッシュなし)。UI はこの URL だけを呼びます。 */
export const GATEWAY_URL = String(window.MEDIAHUB_GATEWAY_URL ?? defaultGatewayUrl()).replace(/\/+$/, "");

/** 各サービスの名前とポート (DESIGN §2)。Swagger UI へのリンクに使います。 */
export const SERVICES = Object.freeze([
  { name: "gateway", port: 8080 },
  { name: "media-command", port: 8081 },
  { name: "media-query", port: 8082 },
  { name: "album", port: 8083 },
  { name: "eventstore", port: 8084 },
  { name: "saga", port: 8085 },
  { name: "notification", port: 8086 },
]);

/**
 * サービスの Swagger UI の URL を返します。
 * ゲートウェイ URL のホストとサービスのポートから作ります (window.MEDIAHUB_SERVICE_URLS が優先)。
 * @param {{name: string, port: number}} service サービス
 * @returns {string} Swagger UI の URL
 */
export function swaggerUrl(service) {
  const overrides = window.MEDIAHUB_SERVICE_URLS;
  if (overrides && typeof overrides[service.name] === "string") {
    return `${overrides[service.name].replace(/\/+$/, "")}/swagger`;
  }
  if (service.name === "gateway") {
    return `${GATEWAY_URL}/swagger`;
  }
  try {
    const url = new URL(GATEWAY_URL);
    url.port = String(service.port);
    url.pathname = "/swagger";
    url.search = "";
    url.hash = "";
    return url.toString();
  } catch {
    return `http://localhost:${service.port}/swagger`;
  }
}
