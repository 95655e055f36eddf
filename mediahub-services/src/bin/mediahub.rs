//! `mediahub`: 全 8 サービスを 1 つのプロセスで動かす全部入りのバイナリ (`make run`)。
//!
//! ```text
//! mediahub run                       # 既定: ./data、開発用ログインと障害注入は有効
//! mediahub run --data-dir /tmp/mh    # データの場所を変える (環境変数 MEDIAHUB_DATA_DIR でも可)
//! mediahub openapi --out docs/openapi  # 各サービスの OpenAPI 文書を書き出す (make generate)
//! mediahub healthcheck http://127.0.0.1:8084/ready  # 2xx なら 0 (コンテナの HEALTHCHECK)
//! ```
//!
//! JWT の秘密鍵は環境変数 `JWT_SECRET` で渡せます。無ければ起動のたびに新しいランダムな鍵を
//! 作ります (再起動すると以前のトークンは使えなくなります)。Ctrl-C で全サービスをグレースフルに
//! 止めます。

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    mediahub_services::system::cli::main().await
}
