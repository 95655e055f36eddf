//! サービスのバイナリを別のプロセスとして起動する補助 (落とすと SIGKILL で止めます)。

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// 別のプロセスとして動くサービス。
pub struct ServiceProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`。
    pub base_url: String,
}

impl ServiceProcess {
    /// `program` を環境変数 `envs` で起動し、待ち受けの一行
    /// (`"{service}: 127.0.0.1:PORT で待ち受けています …"`) が出るまで待ちます。
    /// 待ち受けのアドレスは環境変数でポート 0 にしておいてください。
    pub fn spawn(program: &str, service: &str, envs: &[(&str, &str)]) -> Self {
        let mut command = Command::new(program);
        command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in envs {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{program} を起動できません: {e}"));
        let stdout = child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("stdout がありません"));
        // ログ (tracing) も標準出力に出るので、待ち受けの一行が来るまで読み進めます。
        let prefix = format!("{service}: ");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("{service} が待ち受けの一行を出さずに終わりました"))
                .unwrap_or_else(|e| panic!("{e}"));
            if let Some(rest) = line.strip_prefix(&prefix) {
                if let Some(addr) = rest.split_whitespace().next() {
                    break addr.to_owned();
                }
            }
        };
        // 残りの出力は読み捨てます (パイプが詰まってプロセスが止まらないように)。
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            base_url: format!("http://{addr}"),
        }
    }

    /// シグナルを送ります (`STOP` で一時停止、`CONT` で再開など。`kill -<signal>` と同じ)。
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap_or_else(|e| panic!("kill を実行できません: {e}"));
        assert!(status.success(), "kill -{signal} が失敗しました");
    }

    /// SIGKILL で止め、終わるのを待ちます。
    pub fn kill(&mut self) {
        let _killed = self.child.kill();
        let _reaped = self.child.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
