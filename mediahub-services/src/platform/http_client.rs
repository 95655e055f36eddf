//! HTTP クライアント (reqwest) の作り方。サービスのコードもテストもここから作ります。
//!
//! TLS は rustls (暗号は ring) で、ルート証明書は Mozilla の一覧 (webpki-roots) をバイナリに
//! 埋め込んだものです。OS の証明書ファイルを読まないので、クライアントを作るのは速く
//! (OpenSSL の native-tls ではクライアント 1 つごとに証明書ファイルを 2 回読み、約 50 ms かかって
//! いました。全部入りの `mediahub` は 9 つ作るので、起動が約 0.4 秒遅れていました)、
//! OpenSSL の開発ファイルも要りません。
//!
//! reqwest は `rustls-no-provider` で使うので、`reqwest::Client::new()` は暗号の実装が無くて
//! 作れません。必ず [`builder`] を使ってください。

use std::sync::Arc;

use rustls::ClientConfig;

/// TLS の設定 (ring の暗号、TLS 1.2 / 1.3、Mozilla のルート証明書)。
fn tls_config() -> Result<ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// TLS を設定済みの [`reqwest::ClientBuilder`] を返します (タイムアウトなどは呼び出し側で足します)。
///
/// TLS の設定を作れなかったとき (起こらないはずの組み合わせの誤り) は、`build()` がその理由の
/// エラーを返します。
///
/// ```
/// use mediahub_services::platform::http_client;
///
/// let client = http_client::builder().build()?;
/// # drop(client);
/// # Ok::<(), reqwest::Error>(())
/// ```
pub fn builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match tls_config() {
        Ok(config) => builder.tls_backend_preconfigured(config),
        Err(err) => {
            tracing::error!(%err, "TLS の設定を作れません");
            // reqwest が理解しない値を渡し、build() をエラーにする (黙って TLS なしにしない)。
            builder.tls_backend_preconfigured(err.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_config_trusts_the_bundled_mozilla_roots_and_offers_http_1_1() {
        let config = tls_config().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
    }

    #[test]
    fn builder_builds_a_client() {
        assert!(builder().build().is_ok());
    }

    #[tokio::test]
    async fn client_speaks_plain_http() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.unwrap_or_else(|e| panic!("{e}"));
            let mut buffer = [0_u8; 1024];
            let _ = socket.read(&mut buffer).await;
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        });
        let client = builder().build().unwrap_or_else(|e| panic!("{e}"));
        let body = client
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body, "ok");
        server.await.unwrap_or_else(|e| panic!("{e}"));
    }
}
