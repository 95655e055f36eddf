//! 公開パスの経路表と、経路を選ぶ前のパスの安全検査。
//!
//! ゲートウェイが上流へ中継するのは [`ROUTES`] に書いたパスとメソッドの組だけです。
//! 表に無いパス (`/internal/...` を含む) は 404、パスはあるがメソッドが違えば 405 になります。
//! パターンの `{name}` は空でない 1 セグメントに一致します。
//!
//! | メソッド | パス | 上流 | 種類 |
//! |---|---|---|---|
//! | GET | `/api/v1/media` | media-query | 通常 |
//! | POST | `/api/v1/media` | media-command | アップロード |
//! | GET | `/api/v1/media/{id}` | media-query | 通常 |
//! | DELETE | `/api/v1/media/{id}` | media-command | 通常 |
//! | GET | `/api/v1/media/{id}/history` | media-query | 通常 |
//! | GET | `/api/v1/media/{id}/original` | media-command | 通常 |
//! | GET | `/api/v1/media/{id}/thumbnail` | media-command | 通常 |
//! | GET, POST | `/api/v1/albums` | album | 通常 |
//! | GET, PATCH, DELETE | `/api/v1/albums/{id}` | album | 通常 |
//! | GET, POST | `/api/v1/albums/{id}/media` | album | 通常 |
//! | DELETE | `/api/v1/albums/{id}/media/{media_id}` | album | 通常 |
//! | GET | `/api/v1/notifications` | notification | 通常 |
//! | GET | `/api/v1/notifications/unread` | notification | 通常 |
//! | GET | `/api/v1/notifications/stream` | notification | SSE (流したまま) |
//! | PUT | `/api/v1/notifications/read-all` | notification | 通常 |
//! | PUT | `/api/v1/notifications/{id}/read` | notification | 通常 |
//! | GET | `/api/v1/sagas` | saga | 通常 |
//! | GET | `/api/v1/sagas/{id}` | saga | 通常 |
//! | GET | `/api/v1/events` | eventstore | 自分のイベント |
//! | GET | `/api/v1/events/stream` | eventstore | 自分のイベント (SSE) |

use poem::http::Method;

use super::error::RequestError;

/// 中継先のサービス。
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Upstream {
    /// media-command サービス (既定のポート 8081)。
    MediaCommand,
    /// media-query サービス (既定のポート 8082)。
    MediaQuery,
    /// album サービス (既定のポート 8083)。
    Album,
    /// eventstore サービス (既定のポート 8084)。
    EventStore,
    /// saga サービス (既定のポート 8085)。
    Saga,
    /// notification サービス (既定のポート 8086)。
    Notification,
}

impl Upstream {
    /// サービス名 (problem+json の `upstream` と OpenAPI の `x-upstream` に入ります)。
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::MediaCommand => "media-command",
            Self::MediaQuery => "media-query",
            Self::Album => "album",
            Self::EventStore => "eventstore",
            Self::Saga => "saga",
            Self::Notification => "notification",
        }
    }
}

/// 経路の種類 (中継のしかたの違い)。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// 普通の要求。上流の応答ヘッダーまでの時間に `upstream_timeout` を適用します。
    Plain,
    /// 大きな本体のアップロード。時間制限は `upload_timeout`。
    Upload,
    /// Server-Sent Events。時間制限なし。
    Stream,
    /// 呼び出し元自身のイベント: ゲートウェイのサービス用トークンで中継し、
    /// クエリの `user_id` を呼び出し元に強制します。`stream` なら SSE (時間制限なし)。
    OwnEvents {
        /// SSE なら `true`。
        stream: bool,
    },
}

/// 中継してよい HTTP メソッド。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// GET メソッド。
    Get,
    /// POST メソッド。
    Post,
    /// PUT メソッド。
    Put,
    /// PATCH メソッド。
    Patch,
    /// DELETE メソッド。
    Delete,
}

impl Verb {
    /// 対応する HTTP メソッド。
    #[must_use]
    pub fn method(self) -> Method {
        match self {
            Self::Get => Method::GET,
            Self::Post => Method::POST,
            Self::Put => Method::PUT,
            Self::Patch => Method::PATCH,
            Self::Delete => Method::DELETE,
        }
    }

    /// OpenAPI の操作名 (小文字)。
    #[must_use]
    pub const fn lowercase(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "post",
            Self::Put => "put",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }
}

/// 経路表の 1 行。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRule {
    /// 受け付けるメソッド。
    pub verbs: &'static [Verb],
    /// パスのパターン (`{name}` は 1 セグメント)。
    pub pattern: &'static str,
    /// 中継先。
    pub upstream: Upstream,
    /// 中継のしかた。
    pub kind: RouteKind,
    /// 一行の説明 (OpenAPI の `summary`)。
    pub summary: &'static str,
}

const fn rule(
    verbs: &'static [Verb],
    pattern: &'static str,
    upstream: Upstream,
    kind: RouteKind,
    summary: &'static str,
) -> RouteRule {
    RouteRule {
        verbs,
        pattern,
        upstream,
        kind,
        summary,
    }
}

use RouteKind::{OwnEvents, Plain, Stream, Upload};
use Upstream::{Album, EventStore, MediaCommand, MediaQuery, Notification, Saga};
use Verb::{Delete, Get, Patch, Post, Put};

/// 公開パスの経路表 (契約書の公開 API そのもの)。同じパスが別の上流に分かれる行
/// (`/api/v1/media` の GET と POST など) は、メソッドで選ばれます。
pub const ROUTES: &[RouteRule] = &[
    rule(
        &[Get],
        "/api/v1/media",
        MediaQuery,
        Plain,
        "自分のメディアの一覧 (新しい順、検索・絞り込み)",
    ),
    rule(
        &[Post],
        "/api/v1/media",
        MediaCommand,
        Upload,
        "メディアのアップロード (multipart の file)",
    ),
    rule(
        &[Get],
        "/api/v1/media/{id}",
        MediaQuery,
        Plain,
        "メディアの詳細",
    ),
    rule(
        &[Delete],
        "/api/v1/media/{id}",
        MediaCommand,
        Plain,
        "メディアの削除",
    ),
    rule(
        &[Get],
        "/api/v1/media/{id}/history",
        MediaQuery,
        Plain,
        "メディアのイベント履歴と各時点の状態",
    ),
    rule(
        &[Get],
        "/api/v1/media/{id}/original",
        MediaCommand,
        Plain,
        "元のファイル",
    ),
    rule(
        &[Get],
        "/api/v1/media/{id}/thumbnail",
        MediaCommand,
        Plain,
        "サムネイル",
    ),
    rule(
        &[Get, Post],
        "/api/v1/albums",
        Album,
        Plain,
        "アルバムの一覧 / 作成",
    ),
    rule(
        &[Get, Patch, Delete],
        "/api/v1/albums/{id}",
        Album,
        Plain,
        "アルバムの詳細 / 名前の変更 / 削除",
    ),
    rule(
        &[Get, Post],
        "/api/v1/albums/{id}/media",
        Album,
        Plain,
        "アルバムのメディアの一覧 / 追加",
    ),
    rule(
        &[Delete],
        "/api/v1/albums/{id}/media/{media_id}",
        Album,
        Plain,
        "アルバムからメディアを外す",
    ),
    rule(
        &[Get],
        "/api/v1/notifications",
        Notification,
        Plain,
        "通知の一覧 (新しい順)",
    ),
    rule(
        &[Get],
        "/api/v1/notifications/unread",
        Notification,
        Plain,
        "未読の通知と件数",
    ),
    rule(
        &[Get],
        "/api/v1/notifications/stream",
        Notification,
        Stream,
        "新しい通知の Server-Sent Events",
    ),
    rule(
        &[Put],
        "/api/v1/notifications/read-all",
        Notification,
        Plain,
        "すべて既読にする",
    ),
    rule(
        &[Put],
        "/api/v1/notifications/{id}/read",
        Notification,
        Plain,
        "既読にする",
    ),
    rule(
        &[Get],
        "/api/v1/sagas",
        Saga,
        Plain,
        "自分の Saga の一覧 (新しい順)",
    ),
    rule(
        &[Get],
        "/api/v1/sagas/{id}",
        Saga,
        Plain,
        "Saga の詳細 (ステップとイベント)",
    ),
    rule(
        &[Get],
        "/api/v1/events",
        EventStore,
        OwnEvents { stream: false },
        "自分のイベント (グローバルログのページ読み / ロングポーリング)",
    ),
    rule(
        &[Get],
        "/api/v1/events/stream",
        EventStore,
        OwnEvents { stream: true },
        "自分のイベントの Server-Sent Events",
    ),
];

/// 経路を探した結果。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// パスとメソッドが一致した行。
    Found(&'static RouteRule),
    /// パスは表にあるがメソッドが違う (許されるメソッドを添えて 405 にします)。
    MethodNotAllowed(&'static str),
    /// 表に無いパス (中継しない)。
    NotRouted,
}

/// パターンがパスに一致するか (`{x}` は空でない 1 セグメント)。
fn pattern_matches(pattern: &str, path: &str) -> bool {
    let mut pattern_segments = pattern.split('/');
    let mut path_segments = path.split('/');
    loop {
        match (pattern_segments.next(), path_segments.next()) {
            (None, None) => return true,
            (Some(p), Some(s)) if p.starts_with('{') && p.ends_with('}') => {
                if s.is_empty() {
                    return false;
                }
            }
            (Some(p), Some(s)) if p == s => {}
            _ => return false,
        }
    }
}

/// メソッドとパスから経路を探します。
#[must_use]
pub fn lookup(method: &Method, path: &str) -> Lookup {
    let mut allowed: Option<&'static RouteRule> = None;
    for rule in ROUTES.iter().filter(|r| pattern_matches(r.pattern, path)) {
        if rule.verbs.iter().any(|v| v.method() == *method) {
            return Lookup::Found(rule);
        }
        allowed.get_or_insert(rule);
    }
    match allowed {
        Some(rule) => Lookup::MethodNotAllowed(rule.pattern),
        None => Lookup::NotRouted,
    }
}

/// あるパターンのパスに許されるメソッドの一覧 (`Allow` ヘッダー用、`, ` 区切り)。
#[must_use]
pub fn allowed_methods(pattern: &str) -> String {
    ROUTES
        .iter()
        .filter(|r| r.pattern == pattern)
        .flat_map(|r| r.verbs.iter().map(|v| v.method().to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// 百分率符号化を 1 回だけ解きます (不正な並びはそのまま残します)。
fn percent_decode(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'%'));
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// 経路を選ぶ前にパスの安全を確かめます。
///
/// 拒否するもの: `..` (生のままでも、`%2e%2e` のように符号化されていても、大文字小文字を問わず)、
/// 空のセグメント (`//`)、符号化された区切り文字 (`%2f`・`%5c`)、バックスラッシュ、
/// 制御文字 (符号化された `%00` などを含む)。
///
/// # エラー
/// 安全でなければ [`RequestError::UnsafePath`] (400)。
pub fn check_path(raw_path: &str) -> Result<(), RequestError> {
    let lower = raw_path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(RequestError::UnsafePath("符号化された区切り文字"));
    }
    let decoded = percent_decode(raw_path);
    if decoded.windows(2).any(|w| w == b"..") {
        return Err(RequestError::UnsafePath(".."));
    }
    if decoded.windows(2).any(|w| w == b"//") {
        return Err(RequestError::UnsafePath("//"));
    }
    if decoded.iter().any(|b| *b == b'\\' || b.is_ascii_control()) {
        return Err(RequestError::UnsafePath("バックスラッシュまたは制御文字"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_get_goes_to_query_and_post_to_command() {
        let Lookup::Found(get) = lookup(&Method::GET, "/api/v1/media") else {
            panic!("not found");
        };
        assert_eq!(get.upstream, Upstream::MediaQuery);
        let Lookup::Found(post) = lookup(&Method::POST, "/api/v1/media") else {
            panic!("not found");
        };
        assert_eq!(post.upstream, Upstream::MediaCommand);
        assert_eq!(post.kind, RouteKind::Upload);
    }

    #[test]
    fn original_and_thumbnail_go_to_command_but_history_to_query() {
        for (path, upstream) in [
            ("/api/v1/media/abc/original", Upstream::MediaCommand),
            ("/api/v1/media/abc/thumbnail", Upstream::MediaCommand),
            ("/api/v1/media/abc/history", Upstream::MediaQuery),
            ("/api/v1/media/abc", Upstream::MediaQuery),
        ] {
            match lookup(&Method::GET, path) {
                Lookup::Found(rule) => assert_eq!(rule.upstream, upstream, "{path}"),
                other => panic!("{path}: {other:?}"),
            }
        }
    }

    #[test]
    fn internal_and_unknown_paths_are_not_routed() {
        for path in [
            "/internal/v1/rebuild",
            "/api/v1/media/abc/process",
            "/api/v1/streams/User/x/events",
            "/api/v1/media/",
            "/api/v2/media",
        ] {
            assert_eq!(lookup(&Method::POST, path), Lookup::NotRouted, "{path}");
        }
    }

    #[test]
    fn known_path_with_other_method_is_method_not_allowed_with_allow_list() {
        assert_eq!(
            lookup(&Method::PUT, "/api/v1/albums"),
            Lookup::MethodNotAllowed("/api/v1/albums")
        );
        assert_eq!(allowed_methods("/api/v1/albums"), "GET, POST");
        assert_eq!(allowed_methods("/api/v1/media/{id}"), "GET, DELETE");
    }

    #[test]
    fn dot_dot_in_any_encoding_and_double_slash_are_rejected() {
        for path in [
            "/api/v1/media/../internal",
            "/api/v1/media/%2e%2e/internal",
            "/api/v1/media/%2E%2e/x",
            "/api/v1/media/.%2E/x",
            "/api/v1//media",
            "/api/v1/media/a%2fb",
            "/api/v1/media/a%5Cb",
            "/api/v1/media/a\\b",
            "/api/v1/media/a%00",
        ] {
            assert!(check_path(path).is_err(), "{path}");
        }
        assert!(check_path("/api/v1/media/0b1c-2d/original").is_ok());
        assert!(check_path("/api/v1/media/a%20b").is_ok());
        assert!(check_path("/api/v1/media/%zz").is_ok());
    }
}
