// Server-Sent Events を fetch() で読むモジュール。
//
// ブラウザーの EventSource は Authorization ヘッダーを送れないので、fetch() と ReadableStream で
// text/event-stream を読み、この小さなパーサーで `id:` `event:` `data:` `retry:` を解釈します。
// 切れたら指数バックオフで再接続し、最後に受け取った id を `Last-Event-ID` ヘッダーと
// 呼び出し側が作る URL (例: `after=<id>`) の両方で伝えます。AbortSignal で止まります (ログアウト時)。

/**
 * @typedef {object} SseMessage
 * @property {string} type  イベント型 (`event:` が無ければ "message")
 * @property {string} data  データ (複数の `data:` 行は改行でつなぐ)
 * @property {string} id    直近の `id:` の値 (無ければ "")
 */

/**
 * text/event-stream の増分パーサー (WHATWG HTML の仕様どおり)。
 * 行の区切りは CRLF・LF・CR のいずれでもよく、チャンクの境目が行の途中でも構いません。
 */
export class SseParser {
  /** @type {string} */ #buffer = "";
  /** @type {string} */ #data = "";
  /** @type {string} */ #type = "";
  /** @type {string} */ #lastEventId = "";
  /** @type {boolean} */ #sawData = false;
  /** @type {boolean} */ #first = true;
  /** @type {(message: SseMessage) => void} */ #onMessage;
  /** @type {(ms: number) => void} */ #onRetry;

  /**
   * @param {(message: SseMessage) => void} onMessage イベントを受け取る関数
   * @param {(ms: number) => void} [onRetry] `retry:` を受け取る関数
   */
  constructor(onMessage, onRetry = () => {}) {
    this.#onMessage = onMessage;
    this.#onRetry = onRetry;
  }

  /** 直近の `id:` の値。 */
  get lastEventId() {
    return this.#lastEventId;
  }

  /**
   * 受け取った文字列を読み進めます。完成したイベントごとに onMessage が呼ばれます。
   * @param {string} chunk デコード済みの文字列
   */
  feed(chunk) {
    let text = this.#buffer + chunk;
    if (this.#first && text.length > 0) {
      this.#first = false;
      if (text.charCodeAt(0) === 0xfeff) {
        text = text.slice(1);
      }
    }
    let start = 0;
    let i = 0;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x0a || c === 0x0d) {
        if (c === 0x0d && i + 1 === text.length) {
          // CR がチャンクの最後: 次のチャンクの LF と組で CRLF かもしれないので待つ
          break;
        }
        this.#line(text.slice(start, i));
        i += c === 0x0d && text.charCodeAt(i + 1) === 0x0a ? 2 : 1;
        start = i;
      } else {
        i += 1;
      }
    }
    this.#buffer = text.slice(start);
  }

  /**
   * ストリームの終わり。最後の空行が無い途中のイベントは仕様どおり捨てます。
   */
  end() {
    if (this.#buffer.endsWith("\r")) {
      this.#line(this.#buffer.slice(0, -1));
    }
    this.#buffer = "";
    this.#data = "";
    this.#type = "";
    this.#sawData = false;
  }

  /** @param {string} line 改行を除いた 1 行 */
  #line(line) {
    if (line === "") {
      this.#dispatch();
      return;
    }
    if (line.startsWith(":")) {
      return; // コメント (キープアライブ)
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) {
      value = value.slice(1);
    }
    switch (field) {
      case "event":
        this.#type = value;
        break;
      case "data":
        this.#data += `${value}\n`;
        this.#sawData = true;
        break;
      case "id":
        if (!value.includes("\0")) {
          this.#lastEventId = value;
        }
        break;
      case "retry":
        if (/^\d+$/.test(value)) {
          this.#onRetry(Number(value));
        }
        break;
      default:
        break; // 知らないフィールドは無視
    }
  }

  #dispatch() {
    if (!this.#sawData) {
      this.#type = "";
      return;
    }
    const data = this.#data.endsWith("\n") ? this.#data.slice(0, -1) : this.#data;
    const message = { type: this.#type || "message", data, id: this.#lastEventId };
    this.#data = "";
    this.#type = "";
    this.#sawData = false;
    this.#onMessage(message);
  }
}

/**
 * @typedef {"connecting"|"open"|"retrying"|"closed"|"unauthorized"} StreamStatus
 */

/**
 * @typedef {object} StreamOptions
 * @property {(lastEventId: string) => string} url  接続先 URL を作る関数 (再接続のたびに呼ばれる)
 * @property {() => Record<string,string>} headers  送るヘッダーを作る関数 (Authorization など)
 * @property {(message: SseMessage) => void} onMessage  イベントを受け取る関数
 * @property {(status: StreamStatus, error?: unknown) => void} [onStatus]  接続状態の変化
 * @property {(response: Response) => Promise<unknown>} [onHttpError]  2xx 以外の応答をエラーに変える関数
 * @property {AbortSignal} signal  止める合図 (ログアウト)
 * @property {string} [lastEventId]  最初の接続で使う id
 * @property {number} [minDelayMs]  再接続の最初の待ち時間 (既定 1000)
 * @property {number} [maxDelayMs]  再接続の最大の待ち時間 (既定 30000)
 * @property {typeof fetch} [fetchImpl]  テスト用の fetch
 */

/**
 * fetch() で SSE を読み、切れたら再接続し続けます。`signal` が abort されると止まります。
 * 401 を受け取ったときは再接続せず、状態 "unauthorized" で終わります。
 * @param {StreamOptions} options 設定
 * @returns {Promise<void>} 止まったときに解決する Promise
 */
export async function runEventStream(options) {
  const {
    url,
    headers,
    onMessage,
    onStatus = () => {},
    onHttpError = async (r) => new Error(`HTTP ${r.status}`),
    signal,
    minDelayMs = 1000,
    maxDelayMs = 30000,
    fetchImpl = (...args) => fetch(...args),
  } = options;
  let lastEventId = options.lastEventId ?? "";
  let baseDelay = minDelayMs;
  let delay = baseDelay;
  // ゲートウェイの CORS が Last-Event-ID を許していないと、そのヘッダー付きの要求は
  // ネットワークエラーになる。そのときは URL の after だけで続ける。
  let sendLastEventIdHeader = true;

  while (!signal.aborted) {
    onStatus("connecting");
    let received = false;
    let usedHeader = false;
    try {
      const h = { Accept: "text/event-stream", ...headers() };
      if (lastEventId && sendLastEventIdHeader) {
        h["Last-Event-ID"] = lastEventId;
        usedHeader = true;
      }
      const response = await fetchImpl(url(lastEventId), { headers: h, signal, cache: "no-store" });
      if (response.status === 401) {
        onStatus("unauthorized", await onHttpError(response));
        return;
      }
      if (!response.ok || !response.body) {
        throw await onHttpError(response);
      }
      onStatus("open");
      const parser = new SseParser(
        (message) => {
          received = true;
          if (message.id) {
            lastEventId = message.id;
          }
          onMessage(message);
        },
        (ms) => {
          baseDelay = Math.min(Math.max(ms, 100), maxDelayMs);
        },
      );
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const cancel = () => reader.cancel().catch(() => {});
      signal.addEventListener("abort", cancel, { once: true });
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            break;
          }
          parser.feed(decoder.decode(value, { stream: true }));
        }
        parser.feed(decoder.decode());
        parser.end();
      } finally {
        signal.removeEventListener("abort", cancel);
      }
      // サーバーが閉じた: 少し待って再接続
      if (received) {
        delay = baseDelay;
      }
      if (signal.aborted) {
        break;
      }
      onStatus("retrying");
    } catch (error) {
      if (signal.aborted) {
        break;
      }
      if (usedHeader && error instanceof TypeError) {
        sendLastEventIdHeader = false;
      }
      if (received) {
        delay = baseDelay;
      }
      onStatus("retrying", error);
    }
    await sleep(withJitter(delay), signal);
    delay = Math.min(delay * 2, maxDelayMs);
  }
  onStatus("closed");
}

/**
 * 待ち時間に ±20% のゆらぎを加えます (再接続が一斉に起きないように)。
 * @param {number} ms 待ち時間
 * @returns {number} ゆらぎを加えた待ち時間
 */
function withJitter(ms) {
  return Math.round(ms * (0.8 + Math.random() * 0.4));
}

/**
 * 指定時間待ちます。signal が abort されたらすぐに戻ります。
 * @param {number} ms 待ち時間 (ミリ秒)
 * @param {AbortSignal} signal 止める合図
 * @returns {Promise<void>}
 */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
