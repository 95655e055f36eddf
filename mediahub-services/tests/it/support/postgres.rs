//! テスト用の本物の PostgreSQL。
//!
//! 環境変数 `MEDIAHUB_TEST_POSTGRES_URL` (管理用の接続 URL、例:
//! `postgres://mediahub@127.0.0.1:55432/postgres`) があればそのサーバーを使います
//! (`make test` と `.ci/run` は `scripts/pg-test-cluster.sh` で 1 つ起動して渡します)。
//! 無ければ、このテストのためだけのクラスターを一時ディレクトリに `initdb` + `pg_ctl` で作り、
//! 終わったら止めます (PostgreSQL 15 の `pg_config --bindir` にあるもの。root で動いているときは
//! `postgres` ユーザーで起動します。サーバーは root では動かないためです)。
//!
//! どちらの場合も、テストごとに新しいデータベース (`mh_<乱数>`) を作って渡すので、
//! テストどうしは互いのイベントを見ません。

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::Connection;
use tempfile::TempDir;
use uuid::Uuid;

/// 管理用の URL を渡す環境変数。
pub const URL_ENV: &str = "MEDIAHUB_TEST_POSTGRES_URL";

/// テストが使う PostgreSQL サーバー。
pub struct PgServer {
    admin_url: String,
    _cluster: Option<Cluster>,
}

/// このテストのために起動したクラスター (落とすと止まります)。
struct Cluster {
    bindir: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    _dir: TempDir,
}

fn run(command: &mut Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what} を実行できません: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{what} が失敗しました: {text}");
    text
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u"), "id -u").trim() == "0"
}

/// 必要なら `postgres` ユーザーとして動かすコマンドを作ります。
fn pg_command(bindir: &Path, program: &str, as_postgres: bool) -> Command {
    let path = bindir.join(program);
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port()
}

impl Cluster {
    fn start() -> (Self, String) {
        let bindir = PathBuf::from(
            run(
                Command::new("pg_config").arg("--bindir"),
                "pg_config --bindir (PostgreSQL 15 が必要です)",
            )
            .trim(),
        );
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("mediahub-pg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("{e}"));
        if as_postgres {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let data = dir.path().join("data");
        run(
            pg_command(&bindir, "initdb", as_postgres)
                .args([
                    "-A",
                    "trust",
                    "-U",
                    "mediahub",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "-D",
                ])
                .arg(&data),
            "initdb",
        );
        let mut last = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let options = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200"
            );
            let started = pg_command(&bindir, "pg_ctl", as_postgres)
                .args(["-w", "-t", "60", "-D"])
                .arg(&data)
                .arg("-l")
                .arg(dir.path().join("server.log"))
                .args(["-o", &options, "start"])
                .output()
                .unwrap_or_else(|e| panic!("pg_ctl を実行できません: {e}"));
            if started.status.success() {
                let cluster = Self {
                    bindir,
                    data,
                    as_postgres,
                    _dir: dir,
                };
                return (
                    cluster,
                    format!("postgres://mediahub@127.0.0.1:{port}/postgres"),
                );
            }
            last = String::from_utf8_lossy(&started.stderr).into_owned();
        }
        let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
        panic!("PostgreSQL を起動できません: {last}\n{log}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _stopped = pg_command(&self.bindir, "pg_ctl", self.as_postgres)
            .args(["-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
    }
}

impl PgServer {
    /// サーバーを用意します (環境変数が無ければクラスターを起動します)。
    pub fn start() -> Self {
        match std::env::var(URL_ENV) {
            Ok(admin_url) if !admin_url.is_empty() => Self {
                admin_url,
                _cluster: None,
            },
            _ => {
                let (cluster, admin_url) = Cluster::start();
                Self {
                    admin_url,
                    _cluster: Some(cluster),
                }
            }
        }
    }

    /// 新しい空のデータベースを作り、その URL を返します。
    pub async fn database(&self) -> String {
        let name = format!("mh_{}", Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.admin_url));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let _closed = admin.close().await;
        let base = self
            .admin_url
            .rsplit_once('/')
            .map_or(self.admin_url.as_str(), |(base, _)| base);
        format!("{base}/{name}")
    }
}
