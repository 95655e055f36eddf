// サムネイルを Blob で読み、Object URL を覚えておく仕組み。
//
// <img src> には Authorization ヘッダーを付けられないので、fetch で Blob を取り、
// URL.createObjectURL で表示します。URL は state.js の store.blobUrls に覚え、置き換えるとき・
// ログアウトのときに revoke します。

import { getMediaBlob } from "./api.js";
import { forgetBlobUrl, rememberBlobUrl, store } from "./state.js";

/**
 * サムネイルの読み込み係を作ります (ログインのたびに 1 つ)。
 * @param {AbortSignal} signal セッションの合図
 * @returns {{cached: (id: string) => string|null, load: (id: string) => Promise<string|null>, forget: (id: string) => void, failed: (id: string) => boolean}} 読み込み係
 */
export function createThumbnailLoader(signal) {
  /** @type {Map<string, Promise<string|null>>} */
  const inflight = new Map();
  /** @type {Map<string, number>} 失敗した時刻 (しばらく再試行しない) */
  const failures = new Map();
  const key = (id) => `thumb:${id}`;
  return {
    cached(id) {
      return store.blobUrls.get(key(id)) ?? null;
    },
    failed(id) {
      const at = failures.get(id);
      return at !== undefined && Date.now() - at < 5000;
    },
    load(id) {
      const hit = store.blobUrls.get(key(id));
      if (hit) {
        return Promise.resolve(hit);
      }
      const running = inflight.get(id);
      if (running) {
        return running;
      }
      const promise = getMediaBlob(id, "thumbnail", signal)
        .then((blob) => {
          if (signal.aborted) {
            return null;
          }
          const url = URL.createObjectURL(blob);
          rememberBlobUrl(key(id), url);
          failures.delete(id);
          return url;
        })
        .catch(() => {
          failures.set(id, Date.now());
          return null;
        })
        .finally(() => inflight.delete(id));
      inflight.set(id, promise);
      return promise;
    },
    forget(id) {
      forgetBlobUrl(key(id));
      failures.delete(id);
    },
  };
}
