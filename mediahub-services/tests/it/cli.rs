//! 全部入りのバイナリ `mediahub` のサブコマンドを、本物のプロセスとして実行して確かめます。

use mediahub_services::platform::auth::JwtKeys;

const SECRET: &str = "mediahub-cli-test-secret-0123456789abcdef";

fn mediahub(args: &[&str], secret: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mediahub"))
        .args(args)
        .env("JWT_SECRET", secret)
        .output()
        .unwrap_or_else(|e| panic!("mediahub を実行できません: {e}"))
}

#[test]
fn service_token_with_name_tour_prints_a_service_token_signed_with_jwt_secret() {
    let output = mediahub(&["service-token", "--name", "tour"], SECRET);
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let keys = JwtKeys::from_secret(SECRET.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let claims = keys.verify(&token).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claims.service_name(), Some("tour"));
}

#[test]
fn service_token_with_31_byte_secret_exits_1_with_a_message_about_jwt_secret() {
    let output = mediahub(&["service-token"], &"x".repeat(31));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("JWT_SECRET"),
        "{output:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_of_ready_event_store_exits_0_and_of_closed_port_exits_1() {
    let store = crate::support::store_client::Store::start().await;
    let ready = mediahub(
        &["healthcheck", &format!("{}/ready", store.base_url())],
        SECRET,
    );
    assert!(ready.status.success(), "{ready:?}");

    let port = crate::support::common::ClosedPort::bind();
    let closed = format!("{}/ready", port.url());
    let down = mediahub(&["healthcheck", "--timeout-ms", "500", &closed], SECRET);
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("届きません"),
        "{down:?}"
    );
}

/// `docs/openapi/` のファイル名と中身の一覧 (名前順)。
fn json_files_in(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap_or_else(|e| panic!("{e}")).path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name, text)
        })
        .collect();
    files.sort();
    files
}

/// CI で古い OpenAPI 文書を見逃さないための検査 (`make check-generated` と同じ内容)。
/// テストのビルドをそのまま使うので、CI で別のビルドを必要としません。
#[test]
fn openapi_out_to_empty_dir_writes_exactly_the_committed_docs_openapi_files() {
    let out = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out_arg = out.path().to_string_lossy().into_owned();
    let web = concat!(env!("CARGO_MANIFEST_DIR"), "/../web");
    let output = mediahub(&["openapi", "--out", &out_arg, "--web-dir", web], SECRET);
    assert!(output.status.success(), "{output:?}");

    let committed_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi");
    let generated = json_files_in(out.path());
    let committed = json_files_in(&committed_dir);
    let names =
        |files: &[(String, String)]| files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&generated),
        names(&committed),
        "docs/openapi のファイルの組が違います: make generate を実行してコミットしてください"
    );
    for ((name, fresh), (_, old)) in generated.iter().zip(&committed) {
        assert!(
            fresh == old,
            "docs/openapi/{name} が古くなっています: make generate を実行してコミットしてください"
        );
    }
    assert_eq!(generated.len(), 7, "7 サービス分の文書があるはずです");
}
