//! フロントエンドサービスの結合テスト: 本物のサーバーをポート 0 で起動し、本物の `web/` を配ります。

use std::path::PathBuf;

use mediahub_services::frontend::{FrontendConfig, FrontendHandle, start};

fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web")
}

async fn frontend(gateway_url: &str) -> FrontendHandle {
    start(FrontendConfig::new(web_dir(), gateway_url).listen("127.0.0.1:0"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn get(url: String) -> reqwest::Response {
    mediahub_services::platform::http_client::builder()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn root_serves_index_with_runtime_config_script_instead_of_marker() {
    let fe = frontend("http://127.0.0.1:18080").await;
    let response = get(format!("{}/", fe.base_url())).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type"),
        "text/html; charset=utf-8"
    );
    assert!(
        header(&response, "content-security-policy")
            .contains("connect-src 'self' http://127.0.0.1:18080")
    );
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    let html = response.text().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(html.contains("<script src=\"./runtime-config.js\"></script>"));
    assert!(!html.contains("MEDIAHUB_RUNTIME_CONFIG"));
    fe.stop().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn runtime_config_js_sets_gateway_url_given_at_start() {
    let fe = frontend("http://127.0.0.1:18080/").await;
    let response = get(format!("{}/runtime-config.js", fe.base_url())).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type"),
        "text/javascript; charset=utf-8"
    );
    let body = response.text().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        body,
        "window.MEDIAHUB_GATEWAY_URL = \"http://127.0.0.1:18080\";\n"
    );
    fe.stop().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn javascript_module_is_served_as_text_javascript_and_css_as_text_css() {
    let fe = frontend("http://localhost:8080").await;
    let js = get(format!("{}/js/tabs/media.js", fe.base_url())).await;
    assert_eq!(js.status(), 200);
    assert_eq!(
        header(&js, "content-type"),
        "text/javascript; charset=utf-8"
    );
    let css = get(format!("{}/styles.css", fe.base_url())).await;
    assert_eq!(header(&css, "content-type"), "text/css; charset=utf-8");
    fe.stop().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn missing_file_is_404_and_dotfile_is_400_both_problem_json() {
    let fe = frontend("http://localhost:8080").await;
    let missing = get(format!("{}/js/nope.js", fe.base_url())).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(header(&missing, "content-type"), "application/problem+json");
    let hidden = get(format!("{}/.hidden.js", fe.base_url())).await;
    assert_eq!(hidden.status(), 400);
    assert_eq!(header(&hidden, "content-type"), "application/problem+json");
    fe.stop().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn encoded_dot_dot_path_never_leaves_web_dir() {
    let fe = frontend("http://localhost:8080").await;
    for path in [
        "/%2e%2e/Cargo.toml",
        "/js/%2E%2E/%2E%2E/Makefile.txt",
        "/..%2fREADME.md",
    ] {
        let response = get(format!("{}{path}", fe.base_url())).await;
        assert!(
            [400, 404].contains(&response.status().as_u16()),
            "{path}: {}",
            response.status()
        );
    }
    fe.stop().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn health_and_ready_answer_200_with_service_name() {
    let fe = frontend("http://localhost:8080").await;
    for path in ["/health", "/ready"] {
        let response = get(format!("{}{path}", fe.base_url())).await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["service"], "frontend");
    }
    fe.stop().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn start_without_index_html_fails_with_missing_index() {
    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let result =
        start(FrontendConfig::new(empty.path(), "http://localhost:8080").listen("127.0.0.1:0"))
            .await;
    assert!(matches!(
        result,
        Err(mediahub_services::frontend::StartError::MissingIndex(_))
    ));
}
