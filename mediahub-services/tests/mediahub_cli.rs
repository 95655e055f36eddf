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
