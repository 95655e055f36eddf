//! ブラウザーテストの補助: 本物の chromedriver と headless Chromium を起動し、
//! fantoccini (WebDriver) で操作します。
//!
//! chromedriver と chromium は Debian のパッケージ (`make tools` と `.ci/run` が入れます)。

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::system::testdata_path;

/// 要素や状態を待つ期限。
pub const UI_DEADLINE: Duration = Duration::from_secs(30);

/// 動いている chromedriver とブラウザーのセッション。
pub struct Browser {
    /// WebDriver のクライアント。
    pub client: Client,
    driver: Child,
    screenshots: PathBuf,
}

impl Browser {
    /// chromedriver をポート 0 で起動し、headless Chromium のセッションを開きます。
    pub async fn launch(screenshot_dir: &str) -> Self {
        let mut driver = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("chromedriver を起動できません ({e})。`make tools` で chromium と chromium-driver を入れてください")
            });
        let stdout = driver
            .stdout
            .take()
            .unwrap_or_else(|| panic!("chromedriver の標準出力がありません"));
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(UI_DEADLINE, async {
            while let Some(line) = lines.next_line().await.unwrap_or_else(|e| panic!("{e}")) {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return rest.trim_end_matches('.').parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("chromedriver のポートが分かりません"));
        // 残りの出力は読み捨てる (パイプが詰まらないように)。
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--window-size=1280,900",
                    "--lang=ja"
                ]
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("WebDriver のセッションを開けません: {e}"));
        let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target")
            .join(screenshot_dir);
        std::fs::create_dir_all(&screenshots).unwrap_or_else(|e| panic!("{e}"));
        Self {
            client,
            driver,
            screenshots,
        }
    }

    /// CSS セレクターに合う要素が現れるまで待ちます (期限つき)。
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(UI_DEADLINE)
            .every(Duration::from_millis(50))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                self.screenshot(&format!("timeout-{}", sanitize(css))).await;
                panic!("期限内に要素が現れませんでした: {css} ({e})")
            }
        }
    }

    /// CSS セレクターに合う要素の文字列が `accept` を満たすまで待ち、その文字列を返します (期限つき)。
    ///
    /// ライブ更新で描き直された要素 (stale) は探し直すので、描き直しと競争しません。
    pub async fn wait_for_text(&self, css: &str, accept: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + UI_DEADLINE;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if let Ok(text) = element.text().await {
                    if accept(&text) {
                        return text;
                    }
                    last = text;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.screenshot(&format!("timeout-text-{}", sanitize(css)))
            .await;
        panic!("期限内に {css} の文字列が期待どおりになりませんでした (最後: {last:?})")
    }

    /// 要素をクリックします (現れるまで待ってから)。
    pub async fn click(&self, css: &str) {
        self.wait_for(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("{css} をクリックできません: {e}"));
    }

    /// 入力欄を空にしてから文字を入れます。
    pub async fn type_into(&self, css: &str, text: &str) {
        let input = self.wait_for(css).await;
        input.clear().await.unwrap_or_else(|e| panic!("{e}"));
        input
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// UI (`url`) を開き、起動が終わる (`html[data-ready='true']`) まで待ちます。
    pub async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{url} を開けません: {e}"));
        self.wait_for("html[data-ready='true']").await;
    }

    /// 開発用ログインでログインし、イベントのライブ接続が開くまで待ちます。
    pub async fn dev_login(&self, login: &str) {
        self.type_into("[data-testid='dev-login-input']", login)
            .await;
        self.click("[data-testid='dev-login-button']").await;
        self.wait_for("[data-testid='live-status'][data-state='open']")
            .await;
    }

    /// アップロードのファイル入力に `testdata/` のファイルを選びます。
    pub async fn choose_file(&self, relative: &str) {
        let input = self.wait_for("[data-testid='upload-input']").await;
        let path = testdata_path(relative)
            .canonicalize()
            .unwrap_or_else(|e| panic!("{relative}: {e}"));
        input
            .send_keys(&path.display().to_string())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// `testdata/` のファイルを選んでアップロードし、進捗が `done` になるまで待ちます。
    pub async fn upload(&self, relative: &str) {
        self.choose_file(relative).await;
        self.click("[data-testid='upload-button']").await;
        self.wait_for("[data-testid='upload-progress'][data-state='done']")
            .await;
    }

    /// CSS セレクターに合う要素の数 (今の時点)。
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|found| found.len())
            .unwrap_or_default()
    }

    /// 要素の数が `accept` を満たすまで待ち、その数を返します (期限つき)。
    pub async fn wait_for_count(&self, css: &str, accept: impl Fn(usize) -> bool) -> usize {
        let deadline = tokio::time::Instant::now() + UI_DEADLINE;
        let mut last = 0;
        while tokio::time::Instant::now() < deadline {
            last = self.count(css).await;
            if accept(last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.screenshot(&format!("timeout-count-{}", sanitize(css)))
            .await;
        panic!("期限内に {css} の数が期待どおりになりませんでした (最後: {last})")
    }

    /// `<select>` の選択肢を値で選びます。
    pub async fn select(&self, css: &str, value: &str) {
        self.wait_for(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("{css} で {value} を選べません: {e}"));
    }

    /// 画面を PNG で保存し、そのパスを返します。
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    /// セッションを閉じ、chromedriver を止めます。
    pub async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
    }
}

fn sanitize(css: &str) -> String {
    css.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}
