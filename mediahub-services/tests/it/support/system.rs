//! 全サービスを 1 つのテストプロセスの中で起動する結合テスト (end-to-end・ブラウザー) の補助。
//!
//! [`TestSystem::start`] は `mediahub run` と同じ起動 ([`System`]) をポート 0 と一時ディレクトリで
//! 行います (開発用ログインと障害注入は有効、Saga の再試行は短め)。呼び出しはすべて
//! ゲートウェイを通る本物の HTTP です。

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use mediahub_core::saga::SagaPolicy;
use mediahub_services::platform::server::Shutdown;
use mediahub_services::system::{Ports, System, SystemConfig, SystemUrls};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinHandle;

pub use super::services::{Caller, DEADLINE, keys, service_token, wait_until};

/// 一時ディレクトリの上で動く全サービス。
pub struct TestSystem {
    /// データのディレクトリ (テストが終わるまで消さないために持つだけ)。
    _dir: TempDir,
    /// 動いているサービス。
    pub system: System,
}

/// `testdata/` の下のファイルの絶対パス。
pub fn testdata_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(relative)
}

/// テスト用の Saga の方針: 既定と同じ試行回数で、再試行の待ち時間を 10 ms に縮め、回数を
/// 使い切ったら期限を待たずに諦めます (期限まで再試行することは専用のテストで確かめます)。
pub fn fast_policy() -> SagaPolicy {
    let mut policy = SagaPolicy {
        retry_deadline: Duration::ZERO,
        ..SagaPolicy::default()
    };
    for retry in [
        &mut policy.process,
        &mut policy.album,
        &mut policy.notify,
        &mut policy.compensation,
    ] {
        retry.initial_backoff = Duration::from_millis(10);
        retry.max_backoff = Duration::from_millis(40);
    }
    policy
}

impl TestSystem {
    /// 全サービスをポート 0 で起動します。
    pub async fn start() -> Self {
        Self::start_with_policy(fast_policy()).await
    }

    /// Saga の方針を指定して、全サービスをポート 0 で起動します。
    pub async fn start_with_policy(policy: SagaPolicy) -> Self {
        Self::start_configured(policy, false).await
    }

    /// `make run` と同じく UI からサービスを止めたり起こしたりできる形で起動し、その依頼を
    /// 実行するタスクを動かします ([`LabSystem`])。
    pub async fn start_lab(policy: SagaPolicy) -> LabSystem {
        let mut test = Self::start_configured(policy, true).await;
        let shutdown = Shutdown::new();
        let urls = test.system.urls().clone();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                test.system.serve_until(shutdown.wait()).await;
                test
            }
        });
        LabSystem {
            urls,
            shutdown,
            task,
        }
    }

    async fn start_configured(policy: SagaPolicy, lab_controls: bool) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web");
        let config = SystemConfig::new(dir.path(), web, keys())
            .ports(Ports::EPHEMERAL)
            .dev_login(true)
            .fault_injection(true)
            .lab_controls(lab_controls)
            .saga_policy(policy);
        let system = System::start(config)
            .await
            .unwrap_or_else(|e| panic!("起動できません: {e}"));
        Self { _dir: dir, system }
    }

    /// UI の URL。
    pub fn frontend_url(&self) -> String {
        self.system.urls().frontend.clone()
    }

    /// ゲートウェイの URL。
    pub fn gateway_url(&self) -> String {
        self.system.urls().gateway.clone()
    }

    /// 開発用ログインでトークンを得て、ゲートウェイを呼ぶ人を作ります。
    pub async fn login(&self, login: &str) -> (Caller, String) {
        dev_login(&self.gateway_url(), login).await
    }

    /// イベントストアをサービス用トークンで直接呼ぶ人。
    pub fn store(&self) -> Caller {
        Caller::new(
            self.system.urls().eventstore.clone(),
            service_token(&keys(), "e2e-test"),
        )
    }

    /// グローバルログ全体 (位置の順)。
    pub async fn whole_log(&self) -> Vec<Value> {
        let store = self.store();
        let mut events = Vec::new();
        let mut after = 0u64;
        loop {
            let (status, body) = store
                .get(&format!("/api/v1/events?after={after}&limit=1000"))
                .await;
            assert_eq!(status, 200, "{body}");
            let page = body["events"].as_array().cloned().unwrap_or_default();
            if page.is_empty() {
                return events;
            }
            after = page
                .last()
                .and_then(|e| e["position"].as_u64())
                .unwrap_or_else(|| panic!("{body}"));
            events.extend(page);
        }
    }

    /// ログの整合性: 位置は 1 から隙間も重複もなく、イベント ID は重複せず、
    /// 各ストリームの版は 1 から隙間なく並ぶ。
    pub async fn assert_log_is_consistent(&self) -> Vec<Value> {
        let log = self.whole_log().await;
        let mut ids = HashSet::new();
        let mut versions: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (index, event) in log.iter().enumerate() {
            assert_eq!(
                event["position"].as_u64(),
                Some(index as u64 + 1),
                "位置に隙間: {event}"
            );
            let id = event["id"].as_str().unwrap_or_default().to_owned();
            assert!(ids.insert(id), "イベント ID の重複: {event}");
            let key = (
                event["aggregate_type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                event["aggregate_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
            let expected = versions.get(&key).copied().unwrap_or(0) + 1;
            assert_eq!(
                event["version"].as_u64(),
                Some(expected),
                "版に隙間: {event}"
            );
            versions.insert(key, expected);
        }
        log
    }

    /// 全サービスを止めます。
    pub async fn stop(self) {
        self.system
            .stop()
            .await
            .unwrap_or_else(|e| panic!("停止できません: {e}"));
    }
}

/// UI からの「サービスを止める・起こす」を実行するタスクつきの全サービス
/// ([`TestSystem::start_lab`])。
pub struct LabSystem {
    urls: SystemUrls,
    shutdown: Shutdown,
    task: JoinHandle<TestSystem>,
}

impl LabSystem {
    /// 各サービスの URL。
    pub fn urls(&self) -> &SystemUrls {
        &self.urls
    }

    /// UI の URL。
    pub fn frontend_url(&self) -> String {
        self.urls.frontend.clone()
    }

    /// 開発用ログインでトークンを得て、ゲートウェイを呼ぶ人を作ります。
    pub async fn login(&self, login: &str) -> (Caller, String) {
        dev_login(&self.urls.gateway, login).await
    }

    /// 依頼を実行するタスクを終え、全サービスを止めます。
    pub async fn stop(self) {
        self.shutdown.trigger();
        let test = self.task.await.unwrap_or_else(|e| panic!("{e}"));
        test.stop().await;
    }
}

/// 開発用ログインでトークンを得て、ゲートウェイを呼ぶ人と利用者 ID を返します。
pub async fn dev_login(gateway_url: &str, login: &str) -> (Caller, String) {
    let (status, body) = Caller::anonymous(gateway_url)
        .post("/auth/dev-token", &json!({ "login": login }))
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap_or_else(|| panic!("{body}"));
    let user_id = body["user_id"].as_str().unwrap_or_else(|| panic!("{body}"));
    (Caller::new(gateway_url, token), user_id.to_owned())
}

/// `testdata/` のファイルを multipart でアップロードします (障害注入の指定つき)。
pub async fn upload(caller: &Caller, relative: &str, fault: Option<&str>) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = fault.map(|f| ("X-Fault-Inject", f)).into_iter().collect();
    upload_with(caller, relative, &headers).await
}

/// `testdata/` のファイルを、ヘッダー (`X-Fault-Inject`・`X-Saga-Pace-Ms` など) つきで
/// multipart でアップロードします。
pub async fn upload_with(
    caller: &Caller,
    relative: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let bytes = std::fs::read(testdata_path(relative)).unwrap_or_else(|e| panic!("{e}"));
    let filename = relative.rsplit('/').next().unwrap_or(relative).to_owned();
    let mime = match filename.rsplit('.').next() {
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("mp4") => "video/mp4",
        Some("mov") => "video/quicktime",
        _ => "image/jpeg",
    };
    let part = Part::bytes(bytes)
        .file_name(filename)
        .mime_str(mime)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut request = caller
        .request(Method::POST, "/api/v1/media")
        .multipart(Form::new().part("file", part));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    caller.send(request).await
}

/// Saga が `status` になるまで待ち、その詳細を返します。
pub async fn wait_for_saga(caller: &Caller, saga_id: &str, status: &str) -> Value {
    let path = format!("/api/v1/sagas/{saga_id}");
    let mut last = Value::Null;
    let reached = tokio::time::timeout(DEADLINE, async {
        loop {
            let (code, body) = caller.get(&path).await;
            if code == 200 && body["status"] == status {
                return body;
            }
            last = body;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    reached.unwrap_or_else(|_| panic!("Saga {saga_id} が期限内に {status} になりません: {last}"))
}

/// あるメディアのイベントの型を、ログの順に並べます。
pub fn event_types_of(log: &[Value], aggregate_id: &str) -> Vec<String> {
    log.iter()
        .filter(|e| e["aggregate_id"] == aggregate_id)
        .map(|e| e["event_type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// ある相関 ID のイベントの型を、ログの順に並べます。
pub fn event_types_with_correlation(log: &[Value], correlation_id: &str) -> Vec<String> {
    log.iter()
        .filter(|e| e["metadata"]["correlation_id"] == correlation_id)
        .map(|e| e["event_type"].as_str().unwrap_or_default().to_owned())
        .collect()
}
