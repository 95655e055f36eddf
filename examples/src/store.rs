//! サンプルが使うイベントストア: 動いているもの (`make run`) につなぐか、自分で起動するか。

use std::path::Path;

use mediahub_services::eventstore::{self, EventStoreConfig, EventStoreHandle};
use mediahub_services::platform::auth::JwtKeys;
use mediahub_services::store_client::{EventStoreClient, ServiceTokenProvider};

/// 動いているイベントストアの URL を渡す環境変数 (例: `http://127.0.0.1:8084`)。
pub const EVENTSTORE_URL_ENV: &str = "MEDIAHUB_EVENTSTORE_URL";
/// JWT の秘密鍵を渡す環境変数 (`make run` に渡したものと同じ値)。
pub const JWT_SECRET_ENV: &str = "JWT_SECRET";
/// 自分でイベントストアを起動するときの秘密鍵 (このプロセスの中だけで使います)。
const LOCAL_SECRET: &[u8] = b"mediahub-examples-local-secret-0123456789";

/// サンプルが使うイベントストアの準備のエラー。
#[derive(Debug, thiserror::Error)]
pub enum StoreSetupError {
    /// `MEDIAHUB_EVENTSTORE_URL` はあるが `JWT_SECRET` が無い。
    #[error("{EVENTSTORE_URL_ENV} を使うときは {JWT_SECRET_ENV} (make run と同じ値) も必要です")]
    MissingSecret,
    /// 鍵が不正 (短すぎるなど)。
    #[error("JWT の鍵が不正です: {0}")]
    Keys(#[from] mediahub_services::platform::auth::AuthError),
    /// イベントストアを起動できない。
    #[error("イベントストアを起動できません: {0}")]
    Start(#[from] mediahub_services::eventstore::StartError),
    /// イベントストアを止められない。
    #[error("イベントストアを止められません: {0}")]
    Stop(#[from] mediahub_services::platform::service::StopError),
    /// クライアントを作れない。
    #[error("イベントストアのクライアントを作れません: {0}")]
    Client(#[from] mediahub_services::store_client::StoreClientError),
}

/// サンプルが使うイベントストア (URL・鍵、自分で起動したならその取っ手)。
#[derive(Debug)]
pub struct EventStoreTarget {
    /// ベース URL。
    pub url: String,
    /// JWT の鍵 (サービス用トークンの発行と、サンプルのサービスでの検証に使います)。
    pub keys: JwtKeys,
    local: Option<EventStoreHandle>,
}

impl EventStoreTarget {
    /// 環境変数があれば動いているイベントストアを、無ければ `dir` に SQLite を置いて
    /// ポート 0 で起動したイベントストアを使います。
    ///
    /// # エラー
    /// [`StoreSetupError`] の各場合。
    pub async fn from_env_or_start(dir: &Path) -> Result<Self, StoreSetupError> {
        if let Ok(url) = std::env::var(EVENTSTORE_URL_ENV) {
            let secret =
                std::env::var(JWT_SECRET_ENV).map_err(|_| StoreSetupError::MissingSecret)?;
            let keys = JwtKeys::from_secret(secret.as_bytes())?;
            return Ok(Self {
                url,
                keys,
                local: None,
            });
        }
        let keys = JwtKeys::from_secret(LOCAL_SECRET)?;
        let config =
            EventStoreConfig::new(dir.join("eventstore.db"), keys.clone()).listen("127.0.0.1:0");
        let handle = eventstore::start(config).await?;
        Ok(Self {
            url: handle.base_url(),
            keys,
            local: Some(handle),
        })
    }

    /// 自分で起動したイベントストアか (`false` なら `make run` などのものにつないでいる)。
    #[must_use]
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// サービス用トークン (`sub = "service:<service_name>"`) を付けるクライアントを作ります。
    ///
    /// # エラー
    /// URL が不正なら [`StoreSetupError::Client`]。
    pub fn client(&self, service_name: &str) -> Result<EventStoreClient, StoreSetupError> {
        Ok(EventStoreClient::new(
            &self.url,
            ServiceTokenProvider::new(self.keys.clone(), service_name),
        )?)
    }

    /// 自分で起動したイベントストアなら止めます。
    ///
    /// # エラー
    /// 停止に失敗すれば [`StoreSetupError::Stop`]。
    pub async fn stop(self) -> Result<(), StoreSetupError> {
        if let Some(handle) = self.local {
            handle.stop().await?;
        }
        Ok(())
    }
}
