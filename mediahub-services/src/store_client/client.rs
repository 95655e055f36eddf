//! イベントストアの HTTP クライアント [`EventStoreClient`]。

use crate::eventstore::codes;
use crate::eventstore::view::{
    AppendBody, AppendResult, CommitBody, EventList, HeadBody, SnapshotBody, SnapshotWriteBody,
};
use crate::platform::schema::ApiNewEvent;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use mediahub_core::envelope::{Envelope, NewEvent};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::platform::auth::JwtKeys;
use crate::platform::http_client;

use super::error::{RemoteProblem, StoreClientError, TokenError};
use super::sse;
use super::types::{AppendOutcome, LogPage, LogQuery};

/// 要求ごとに Bearer トークンを用意するもの。
///
/// サービストークンは期限つきなので、クライアントは要求のたびにこれを呼びます。
/// クロージャ `Fn() -> Result<String, TokenError>` もそのまま使えます。
pub trait TokenProvider: Send + Sync + 'static {
    /// `Authorization: Bearer …` に入れるトークンを返します。
    ///
    /// # エラー
    /// トークンを発行できなければ [`TokenError`]。
    fn bearer_token(&self) -> Result<String, TokenError>;
}

impl<F> TokenProvider for F
where
    F: Fn() -> Result<String, TokenError> + Send + Sync + 'static,
{
    fn bearer_token(&self) -> Result<String, TokenError> {
        self()
    }
}

/// 決まったトークンをそのまま使うプロバイダ (テストや短命の道具向け)。
#[derive(Debug, Clone)]
pub struct StaticToken(pub String);

impl TokenProvider for StaticToken {
    fn bearer_token(&self) -> Result<String, TokenError> {
        Ok(self.0.clone())
    }
}

/// 共有の秘密鍵 ([`JwtKeys`]) から、要求ごとにサービストークンを発行するプロバイダ。
///
/// トークンは要求のたびに新しく署名する (HS256 の署名は数マイクロ秒) ので、期限切れを気にせず
/// 長く動くサービスで使えます。
#[derive(Debug, Clone)]
pub struct ServiceTokenProvider {
    keys: JwtKeys,
    service_name: String,
}

impl ServiceTokenProvider {
    /// 鍵とサービス名 (トークンの `sub` は `service:<名前>`) から作ります。
    #[must_use]
    pub fn new(keys: JwtKeys, service_name: impl Into<String>) -> Self {
        Self {
            keys,
            service_name: service_name.into(),
        }
    }
}

impl TokenProvider for ServiceTokenProvider {
    fn bearer_token(&self) -> Result<String, TokenError> {
        self.keys
            .issue_service_token(&self.service_name)
            .map_err(|e| TokenError(Box::new(e)))
    }
}

/// 一時的な失敗 (接続できない、応答が切れた、502/503/504) の再試行方針。
///
/// すべてのエンドポイントは冪等です。読み取りはもちろん、追記も同じイベント ID を
/// 再送すればサーバーは一度だけ保存するため、追記の再試行でイベントが二重になることはありません。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// 最初の試行を含む最大試行回数 (1 なら再試行しない)。
    pub max_attempts: u32,
    /// 最初の再試行までの待ち時間。以後は 2 倍ずつ増えます。
    pub initial_backoff: Duration,
    /// 待ち時間の上限。
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// 再試行しない方針。
    #[must_use]
    pub const fn none() -> Self {
        Self {
            max_attempts: 1,
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        }
    }

    /// `attempt` 回目 (1 始まり) の失敗の後に待つ時間。
    #[must_use]
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    tokens: Arc<dyn TokenProvider>,
    retry: RetryPolicy,
    request_timeout: Duration,
}

/// イベントストアサービスの HTTP クライアント。
///
/// 中身は `Arc` なので `clone` は安価です。各エンドポイントに型付きのメソッドがあり、
/// 一時的な通信失敗は [`RetryPolicy`] に従って再試行します (追記は同じイベント ID で再送するので
/// 一度だけ保存されます)。
///
/// ```no_run
/// # async fn demo() -> Result<(), mediahub_services::store_client::StoreClientError> {
/// use mediahub_services::store_client::{EventStoreClient, StaticToken};
///
/// let client = EventStoreClient::new("http://127.0.0.1:8084", StaticToken("token".into()))?;
/// let head = client.head().await?;
/// println!("ログの先頭: {head}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct EventStoreClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EventStoreClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStoreClient")
            .field("base", &self.inner.base.as_str())
            .field("retry", &self.inner.retry)
            .field("request_timeout", &self.inner.request_timeout)
            .finish_non_exhaustive()
    }
}

impl EventStoreClient {
    /// ベース URL (例: `http://127.0.0.1:8084`) とトークンのプロバイダからクライアントを作ります。
    ///
    /// # エラー
    /// URL が `http`/`https` の URL でなければ [`StoreClientError::InvalidUrl`]、
    /// HTTP クライアントを作れなければ [`StoreClientError::Http`]。
    pub fn new(base_url: &str, tokens: impl TokenProvider) -> Result<Self, StoreClientError> {
        let base = Url::parse(base_url)
            .map_err(|e| StoreClientError::InvalidUrl(format!("{base_url}: {e}")))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(StoreClientError::InvalidUrl(base_url.to_owned()));
        }
        let http = http_client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(StoreClientError::Http)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                tokens: Arc::new(tokens),
                retry: RetryPolicy::default(),
                request_timeout: Duration::from_secs(30),
            }),
        })
    }

    /// 再試行方針を差し替えたクライアントを返します。
    #[must_use]
    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        self.map_inner(|inner| Inner { retry, ..inner })
    }

    /// 1 回の要求の時間制限 (ロングポーリングでは待ち時間に加算) を差し替えたクライアントを返します。
    #[must_use]
    pub fn with_request_timeout(self, request_timeout: Duration) -> Self {
        self.map_inner(|inner| Inner {
            request_timeout,
            ..inner
        })
    }

    fn map_inner(self, f: impl FnOnce(Inner) -> Inner) -> Self {
        let inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                http: shared.http.clone(),
                base: shared.base.clone(),
                tokens: Arc::clone(&shared.tokens),
                retry: shared.retry,
                request_timeout: shared.request_timeout,
            },
        };
        Self {
            inner: Arc::new(f(inner)),
        }
    }

    /// ベース URL。
    #[must_use]
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// 1 本のストリームにイベントを原子的に追記します (`POST …/events`)。
    ///
    /// 同じイベント ID を再送すると、サーバーは保存済みのものを返します
    /// ([`AppendOutcome::replayed`] が `true`)。
    ///
    /// # エラー
    /// 版が一致しなければ [`StoreClientError::VersionConflict`] (何も書かれていない)。
    /// そのほか [`StoreClientError`] の各種。
    pub async fn append(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        expected_version: u64,
        events: &[NewEvent],
    ) -> Result<AppendOutcome, StoreClientError> {
        let body = AppendBody {
            expected_version,
            events: events.iter().cloned().map(ApiNewEvent).collect(),
        };
        let bytes = serde_json::to_vec(&body).map_err(StoreClientError::Encode)?;
        self.post_events(
            aggregate_type,
            aggregate_id,
            "events",
            bytes,
            expected_version,
            None,
        )
        .await
    }

    /// イベントとスナップショットを一つのトランザクションで保存します (`POST …/commit`)。
    ///
    /// # エラー
    /// 版 (またはスナップショット番号) が一致しなければ [`StoreClientError::VersionConflict`]。
    /// そのほか [`StoreClientError`] の各種。
    pub async fn commit(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        expected_version: u64,
        events: &[NewEvent],
        snapshot: Option<&SnapshotWriteBody>,
    ) -> Result<AppendOutcome, StoreClientError> {
        let body = CommitBody {
            expected_version,
            events: events.iter().cloned().map(ApiNewEvent).collect(),
            snapshot: snapshot.cloned(),
        };
        let bytes = serde_json::to_vec(&body).map_err(StoreClientError::Encode)?;
        let expected_snapshot = snapshot.and_then(|s| s.expected_snapshot);
        self.post_events(
            aggregate_type,
            aggregate_id,
            "commit",
            bytes,
            expected_version,
            expected_snapshot,
        )
        .await
    }

    async fn post_events(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        action: &str,
        bytes: Vec<u8>,
        expected_version: u64,
        expected_snapshot: Option<u64>,
    ) -> Result<AppendOutcome, StoreClientError> {
        let url = self.url(
            &["streams", aggregate_type, aggregate_id, action],
            Vec::new(),
        )?;
        let result = self
            .send(Method::POST, url, Some(bytes), self.inner.request_timeout)
            .await;
        let (status, body) = match result {
            Ok(ok) => ok,
            Err(StoreClientError::Status {
                status: 409,
                problem,
            }) => {
                return Err(conflict_or_status(
                    aggregate_type,
                    aggregate_id,
                    expected_version,
                    expected_snapshot,
                    problem,
                ));
            }
            Err(e) => return Err(e),
        };
        let result: AppendResult = decode(&body, "追記の結果")?;
        Ok(AppendOutcome::from_wire(result, status == StatusCode::OK))
    }

    /// 1 本のストリームのイベントのうち、版が `after_version` より大きいものを版の昇順で読みます
    /// (`GET …/events?from_version=N` は「N より後」の意味です)。
    ///
    /// `after_version` が 0 なら全件です。存在しないストリームは空の一覧です。
    ///
    /// # エラー
    /// [`StoreClientError`] の各種。
    pub async fn read_stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after_version: u64,
    ) -> Result<Vec<Envelope>, StoreClientError> {
        let mut query = Vec::new();
        if after_version > 0 {
            query.push(("from_version", after_version.to_string()));
        }
        let url = self.url(&["streams", aggregate_type, aggregate_id, "events"], query)?;
        let body: EventList = self
            .get_json(url, self.inner.request_timeout, "ストリームのイベント")
            .await?;
        Ok(body.events.into_iter().map(|e| e.0).collect())
    }

    /// 集約の最新スナップショットを読みます。なければ `None`。
    ///
    /// # エラー
    /// [`StoreClientError`] の各種 (`404` の `eventstore.snapshot_not_found` は `None` になります)。
    pub async fn snapshot(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<SnapshotBody>, StoreClientError> {
        let url = self.url(
            &["streams", aggregate_type, aggregate_id, "snapshot"],
            Vec::new(),
        )?;
        match self
            .send(Method::GET, url, None, self.inner.request_timeout)
            .await
        {
            Ok((_, body)) => Ok(Some(decode(&body, "スナップショット")?)),
            Err(StoreClientError::Status {
                status: 404,
                problem,
            }) if problem
                .as_deref()
                .and_then(|p| p.code.as_deref())
                .is_none_or(|code| code == codes::SNAPSHOT_NOT_FOUND) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// スナップショットだけを書きます (`PUT …/snapshot`)。
    ///
    /// # エラー
    /// 今のスナップショットの番号が `snapshot.expected_snapshot` でなければ
    /// [`StoreClientError::SnapshotConflict`]。そのほか [`StoreClientError`] の各種。
    pub async fn put_snapshot(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        snapshot: &SnapshotWriteBody,
    ) -> Result<(), StoreClientError> {
        let url = self.url(
            &["streams", aggregate_type, aggregate_id, "snapshot"],
            Vec::new(),
        )?;
        let bytes = serde_json::to_vec(snapshot).map_err(StoreClientError::Encode)?;
        match self
            .send(Method::PUT, url, Some(bytes), self.inner.request_timeout)
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreClientError::Status {
                status: 409,
                problem,
            }) => Err(conflict_or_status(
                aggregate_type,
                aggregate_id,
                0,
                snapshot.expected_snapshot,
                problem,
            )),
            Err(e) => Err(e),
        }
    }

    /// グローバルログを `query.after` より後から 1 ページ読みます (`GET /api/v1/events`)。
    ///
    /// `query.wait` を指定するとロングポーリングになり、合うイベントがコミットされた時点で
    /// 応答が返ります (待ち時間内に何もなければ空のページ)。
    ///
    /// # エラー
    /// [`StoreClientError`] の各種。
    pub async fn read_log(&self, query: &LogQuery) -> Result<LogPage, StoreClientError> {
        let url = self.url(&["events"], query.pairs())?;
        let timeout = self.inner.request_timeout + query.wait.unwrap_or_default();
        let page: crate::eventstore::view::LogPage =
            self.get_json(url, timeout, "グローバルログ").await?;
        Ok(page.into())
    }

    /// グローバルログの先頭位置 (最後にコミットされたイベントの位置、空なら 0) を返します。
    ///
    /// # エラー
    /// [`StoreClientError`] の各種。
    pub async fn head(&self) -> Result<u64, StoreClientError> {
        let url = self.url(&["head"], Vec::new())?;
        let head: HeadBody = self
            .get_json(url, self.inner.request_timeout, "ログの先頭")
            .await?;
        Ok(head.head)
    }

    /// グローバルログを Server-Sent Events で購読します (`GET /api/v1/events/stream`)。
    ///
    /// `query.after` より後のイベントを位置の順に流し続けます。接続の確立までは
    /// [`RetryPolicy`] に従って再試行しますが、確立後に切れたら流れはエラーで終わります
    /// (最後に受け取った位置から購読し直してください)。`query.wait` は使いません。
    ///
    /// # エラー
    /// 接続できない、または成功以外のステータスなら [`StoreClientError`]。
    pub async fn subscribe(
        &self,
        query: &LogQuery,
    ) -> Result<
        impl Stream<Item = Result<Envelope, StoreClientError>> + Send + use<>,
        StoreClientError,
    > {
        let mut query = query.clone();
        query.wait = None;
        let url = self.url(&["events", "stream"], query.pairs())?;
        let mut attempt = 1;
        let response = loop {
            let result = self.open_stream(url.clone()).await;
            match result {
                Err(e) if e.is_transient() && attempt < self.inner.retry.max_attempts => {
                    let delay = self.inner.retry.backoff(attempt);
                    tracing::debug!(error = %e, attempt, ?delay, "SSE 接続を再試行します");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => break other?,
            }
        };
        Ok(sse::envelopes(response))
    }

    async fn open_stream(&self, url: Url) -> Result<reqwest::Response, StoreClientError> {
        let token = self.inner.tokens.bearer_token()?;
        let response = self
            .inner
            .http
            .get(url)
            .bearer_auth(token)
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(StoreClientError::Http)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.map_err(StoreClientError::Http)?;
        Err(status_error(status, &body))
    }

    fn url(
        &self,
        segments: &[&str],
        query: Vec<(&'static str, String)>,
    ) -> Result<Url, StoreClientError> {
        let mut url = self.inner.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| StoreClientError::InvalidUrl(self.inner.base.to_string()))?;
            path.pop_if_empty();
            path.extend(["api", "v1"]);
            path.extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// `GET` を送り (再試行つき)、成功した本体を JSON として読みます。`what` はエラー文の主語です。
    async fn get_json<T: DeserializeOwned>(
        &self,
        url: Url,
        timeout: Duration,
        what: &'static str,
    ) -> Result<T, StoreClientError> {
        let (_, body) = self.send(Method::GET, url, None, timeout).await?;
        decode(&body, what)
    }

    /// 要求を送り、一時的な失敗なら方針に従って再試行します。成功 (2xx) の本体を返します。
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(StatusCode, Vec<u8>), StoreClientError> {
        let retry = self.inner.retry;
        let mut attempt = 1;
        loop {
            match self
                .send_once(method.clone(), url.clone(), body.clone(), timeout)
                .await
            {
                Err(e) if e.is_transient() && attempt < retry.max_attempts => {
                    let delay = retry.backoff(attempt);
                    tracing::debug!(
                        error = %e, %method, path = url.path(), attempt, ?delay,
                        "イベントストアへの要求を再試行します"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(StatusCode, Vec<u8>), StoreClientError> {
        let token = self.inner.tokens.bearer_token()?;
        let mut request = self
            .inner
            .http
            .request(method, url)
            .bearer_auth(token)
            .header(ACCEPT, "application/json")
            .timeout(timeout);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = request.send().await.map_err(StoreClientError::Http)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(StoreClientError::Http)?;
        if status.is_success() {
            Ok((status, bytes.to_vec()))
        } else {
            Err(status_error(status, &bytes))
        }
    }
}

fn status_error(status: StatusCode, body: &[u8]) -> StoreClientError {
    let problem = serde_json::from_slice::<RemoteProblem>(body)
        .ok()
        .map(Box::new);
    StoreClientError::Status {
        status: status.as_u16(),
        problem,
    }
}

/// `409` の応答を、版の衝突・スナップショットの衝突・その他 (ID の重複など) に分けます。
fn conflict_or_status(
    aggregate_type: &str,
    aggregate_id: &str,
    expected_version: u64,
    expected_snapshot: Option<u64>,
    problem: Option<Box<RemoteProblem>>,
) -> StoreClientError {
    let code = problem.as_deref().and_then(|p| p.code.as_deref());
    match code {
        None | Some(codes::VERSION_CONFLICT) => StoreClientError::VersionConflict {
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            expected_version,
            current_version: problem
                .as_deref()
                .and_then(|p| p.extension_u64("current_version")),
        },
        Some(codes::SNAPSHOT_CONFLICT) => StoreClientError::SnapshotConflict {
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            expected_snapshot,
            current_snapshot: problem
                .as_deref()
                .and_then(|p| p.extension_u64("current_snapshot")),
        },
        Some(_) => StoreClientError::Status {
            status: 409,
            problem,
        },
    }
}

fn decode<T: DeserializeOwned>(body: &[u8], what: &'static str) -> Result<T, StoreClientError> {
    serde_json::from_slice(body).map_err(|source| StoreClientError::Decode { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_initial_and_stops_at_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(300),
        };
        assert_eq!(policy.backoff(1), Duration::from_millis(50));
        assert_eq!(policy.backoff(2), Duration::from_millis(100));
        assert_eq!(policy.backoff(3), Duration::from_millis(200));
        assert_eq!(policy.backoff(4), Duration::from_millis(300));
        assert_eq!(policy.backoff(60), Duration::from_millis(300));
    }

    #[test]
    fn url_with_base_path_and_reserved_chars_is_percent_encoded_under_api_v1() {
        let client = EventStoreClient::new("http://127.0.0.1:1/prefix/", StaticToken("t".into()))
            .unwrap_or_else(|e| panic!("{e}"));
        let url = client
            .url(
                &["streams", "Media", "a/b c", "events"],
                vec![("after", "3".into())],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:1/prefix/api/v1/streams/Media/a%2Fb%20c/events?after=3"
        );
    }

    #[test]
    fn base_url_that_is_not_http_is_rejected() {
        assert!(matches!(
            EventStoreClient::new("mailto:a@b", StaticToken("t".into())),
            Err(StoreClientError::InvalidUrl(_))
        ));
        assert!(matches!(
            EventStoreClient::new("not a url", StaticToken("t".into())),
            Err(StoreClientError::InvalidUrl(_))
        ));
    }

    #[test]
    fn conflict_409_is_split_into_version_snapshot_and_other_by_problem_code() {
        let problem = RemoteProblem {
            code: Some("eventstore.bad_request".into()),
            ..RemoteProblem::default()
        };
        assert!(matches!(
            conflict_or_status("Media", "x", 1, None, Some(Box::new(problem))),
            StoreClientError::Status { status: 409, .. }
        ));
        let mut problem = RemoteProblem {
            code: Some(codes::VERSION_CONFLICT.into()),
            ..RemoteProblem::default()
        };
        problem
            .extensions
            .insert("current_version".into(), serde_json::json!(5));
        assert!(matches!(
            conflict_or_status("Media", "x", 3, None, Some(Box::new(problem))),
            StoreClientError::VersionConflict {
                expected_version: 3,
                current_version: Some(5),
                ..
            }
        ));
        let mut problem = RemoteProblem {
            code: Some(codes::SNAPSHOT_CONFLICT.into()),
            ..RemoteProblem::default()
        };
        problem
            .extensions
            .insert("current_snapshot".into(), serde_json::json!(4));
        assert!(matches!(
            conflict_or_status("Media", "x", 3, Some(2), Some(Box::new(problem))),
            StoreClientError::SnapshotConflict {
                expected_snapshot: Some(2),
                current_snapshot: Some(4),
                ..
            }
        ));
    }
}
