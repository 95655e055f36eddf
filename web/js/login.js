// ログイン画面: 有効なプロバイダー (GitHub / Google) のボタンと、開発用ログイン。
//
// プロバイダーのボタンはゲートウェイの /auth/<provider>/login へ画面遷移するだけです。
// 認可の後、ゲートウェイは `#token=<jwt>` 付きでこの UI に戻してきます (auth.js が読み取ります)。

import { GATEWAY_URL } from "../config.js";
import * as api from "./api.js";
import { t } from "./i18n.js";
import { describeError, h, replaceChildren, showError } from "./ui.js";

const PROVIDER_LABELS = Object.freeze({ github: "GitHub", google: "Google" });

/**
 * ログイン画面を準備します (プロバイダーの一覧を読み、ボタンを並べます)。
 * @param {HTMLElement} view ログイン画面の要素
 * @param {{onToken: (token: string) => void, signal: AbortSignal}} options トークンを受け取る関数と、画面を離れる合図
 */
export function mountLogin(view, { onToken, signal }) {
  const $ = (role) => /** @type {HTMLElement} */ (view.querySelector(`[data-role="${role}"]`));
  const providersBox = $("providers");
  const devForm = /** @type {HTMLFormElement} */ ($("dev-form"));
  const errorBanner = $("login-error");
  $("gateway-url").textContent = GATEWAY_URL;

  async function loadProviders() {
    replaceChildren(providersBox, h("p", { class: "placeholder placeholder--loading", text: t("common.loading") }));
    errorBanner.hidden = true;
    try {
      const { providers, devLogin } = await api.getProviders();
      if (signal.aborted) return;
      replaceChildren(
        providersBox,
        providers.length === 0
          ? h("p", { class: "hint", text: t("login.noProviders") })
          : providers.map((p) =>
              h("button", {
                type: "button",
                class: ["button", "button--provider", `button--${p}`],
                "data-testid": `login-${p}`,
                text: t("login.with", { provider: PROVIDER_LABELS[/** @type {keyof typeof PROVIDER_LABELS} */ (p)] ?? p }),
                onclick: () => window.location.assign(api.providerLoginUrl(p)),
              }),
            ),
      );
      devForm.hidden = !devLogin;
    } catch (error) {
      if (signal.aborted) return;
      replaceChildren(providersBox);
      // ゲートウェイに届かないときも開発用ログインの欄は出しておく (起動したらそのまま使える)
      devForm.hidden = false;
      const d = describeError(error);
      replaceChildren(
        errorBanner,
        h("p", null, h("strong", { text: t("login.providersFailed") }), " ", d.text),
        d.server ? h("p", { class: "hint", text: d.server }) : null,
        h("button", { type: "button", class: "button", "data-testid": "retry-button", text: t("common.retry"), onclick: loadProviders }),
      );
      errorBanner.hidden = false;
    }
  }

  devForm.addEventListener(
    "submit",
    async (event) => {
      event.preventDefault();
      const login = String(new FormData(devForm).get("login") ?? "").trim();
      const button = devForm.querySelector("button");
      if (button) button.disabled = true;
      try {
        const { token } = await api.devToken(login);
        onToken(token);
      } catch (error) {
        showError(error, t("login.devFailed"));
      } finally {
        if (button) button.disabled = false;
      }
    },
    { signal },
  );

  loadProviders();
}
