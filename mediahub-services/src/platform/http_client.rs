//! サービス間の呼び出しに使う HTTP クライアントの作り方。
//!
//! reqwest は TLS (native-tls / OpenSSL) を有効にしてあり (ゲートウェイが https の GitHub・Google と
//! 話すため)、クライアントはそれぞれ OS のルート証明書 (約 150 枚) の証明書ストアを持ち続けます。
//! 全部入りの `mediahub` はクライアントを 9 つ作るので、その分だけ常駐メモリが増えます。
//!
//! サービス間の呼び出しは既定で平文の HTTP (同じマシンか閉じたネットワーク) なので、相手の URL に
//! `https` が無ければ、ルート証明書のストアを空にしたクライアントにします (OpenSSL は作るときに
//! 一度読み込みますが、すぐに捨てます)。`mediahub run` の待機時の RSS は 52 MB から 46 MB に
//! 減りました。`https` の相手がいれば、従来どおり OS のルート証明書で検証します。

/// 相手の URL が一つでも `https:` で始まれば `true` (大文字小文字は区別しません)。
#[must_use]
pub fn any_https<'a>(urls: impl IntoIterator<Item = &'a str>) -> bool {
    urls.into_iter().any(|url| {
        url.get(..6)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https:"))
    })
}

/// サービス間の呼び出し用の [`reqwest::ClientBuilder`] を返します。
///
/// `tls` が `false` なら、TLS のルート証明書のストアを持ちません (https の相手の証明書は検証に
/// 失敗します)。`true` なら OS のルート証明書で検証します。
///
/// ```
/// use mediahub_services::platform::http_client;
///
/// let internal = ["http://127.0.0.1:8084", "http://127.0.0.1:8081"];
/// let client = http_client::builder(http_client::any_https(internal)).build()?;
/// # drop(client);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn builder(tls: bool) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    if tls {
        builder
    } else {
        builder.tls_certs_only(std::iter::empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_https_of_http_only_is_false_and_of_one_https_in_any_case_is_true() {
        assert!(!any_https(["http://a:1", "http://b:2"]));
        assert!(any_https(["http://a:1", "HTTPS://b"]));
        assert!(!any_https(["", "htt"]));
        assert!(!any_https([]));
    }

    #[tokio::test]
    async fn client_without_tls_roots_still_speaks_plain_http() {
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
        let client = builder(false).build().unwrap_or_else(|e| panic!("{e}"));
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
