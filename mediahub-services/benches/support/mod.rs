//! ベンチマークどうしで共有する小さな道具 (`benches/*.rs` が `mod support;` で読みます)。

use std::time::Duration;

/// このプロセスがこれまでに使った CPU 時間 (全スレッドのユーザー + カーネル、`/proc/self/stat`)。
///
/// 読めない・形が違う環境 (Linux 以外など) では `None` を返し、表の CPU の列は「—」になります
/// (0 と書いて、測れたように見せない)。
pub fn process_cpu_time() -> Option<Duration> {
    // 2 つ目の欄 (コマンド名) は空白や括弧を含みうるので、最後の ')' の後から数える。
    // その後の 12・13 番目 (0 始まりで 11・12) が utime・stime で、単位は USER_HZ (Linux では 100)。
    const USER_HZ: u64 = 100;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (_, fields) = stat.rsplit_once(')')?;
    let mut times = fields.split_whitespace().skip(11);
    let utime: u64 = times.next()?.parse().ok()?;
    let stime: u64 = times.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

/// `before` から今までの CPU 時間を `count` で割ったもの (どちらかを読めなければ `None`)。
pub fn cpu_per(before: Option<Duration>, count: usize) -> Option<Duration> {
    let used = process_cpu_time()?.saturating_sub(before?);
    Some(used / u32::try_from(count.max(1)).unwrap_or(u32::MAX))
}
