//! Server-Sent Events の読み取り (グローバルログの購読用)。

use futures::{Stream, StreamExt};
use mediahub_core::envelope::Envelope;

use super::error::StoreClientError;

/// SSE の 1 イベント。
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// `event:` 欄 (なければ `None` = `message`)。
    pub(crate) event: Option<String>,
    /// `data:` 欄 (複数行は改行で連結)。
    pub(crate) data: String,
    /// `id:` 欄。
    pub(crate) id: Option<String>,
}

/// バイト列を受け取り、完成した SSE イベントを取り出す増分パーサ。
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    buffer: Vec<u8>,
    current: SseEvent,
    has_data: bool,
}

impl SseParser {
    /// バイト列を加え、完成したイベントを返します。
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                let event = std::mem::take(&mut self.current);
                if std::mem::take(&mut self.has_data) {
                    events.push(event);
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line.as_ref(), ""),
            };
            match field {
                "data" => {
                    if self.has_data {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                    self.has_data = true;
                }
                "event" => self.current.event = Some(value.to_owned()),
                "id" => self.current.id = Some(value.to_owned()),
                _ => {}
            }
        }
        events
    }
}

/// イベントがエンベロープを運ぶものかどうか。
///
/// イベントストアは各イベントを `id: <位置>`、`event: <イベント型名>`、
/// `data: <エンベロープの JSON>` で送るので、`data` が JSON オブジェクトなら運んでいます。
fn carries_envelope(event: &SseEvent) -> bool {
    event.data.trim_start().starts_with('{')
}

/// SSE の応答を、エンベロープの流れに変えます。
pub(crate) fn envelopes(
    response: reqwest::Response,
) -> impl Stream<Item = Result<Envelope, StoreClientError>> + Send {
    let bytes = response.bytes_stream();
    futures::stream::unfold(
        (
            Box::pin(bytes),
            SseParser::default(),
            Vec::<SseEvent>::new(),
            false,
        ),
        |(mut bytes, mut parser, mut pending, done)| async move {
            if done {
                return None;
            }
            loop {
                if !pending.is_empty() {
                    let event = pending.remove(0);
                    if !carries_envelope(&event) {
                        continue;
                    }
                    let item = serde_json::from_str::<Envelope>(&event.data).map_err(|source| {
                        StoreClientError::Decode {
                            what: "SSE のイベント",
                            source,
                        }
                    });
                    return Some((item, (bytes, parser, pending, false)));
                }
                match bytes.next().await {
                    Some(Ok(chunk)) => pending.extend(parser.push(&chunk)),
                    Some(Err(e)) => {
                        return Some((
                            Err(StoreClientError::Http(e)),
                            (bytes, parser, pending, true),
                        ));
                    }
                    None => return None,
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_split_mid_line_yield_one_event_with_data_id_and_name() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"id: 7\nevent: ev").is_empty());
        let events = parser.push(b"ent\r\ndata: {\"a\":1}\r\n\r\n");
        assert_eq!(
            events,
            vec![SseEvent {
                event: Some("event".into()),
                data: "{\"a\":1}".into(),
                id: Some("7".into()),
            }]
        );
    }

    #[test]
    fn comment_lines_and_blank_lines_without_data_yield_nothing() {
        let mut parser = SseParser::default();
        assert!(parser.push(b": keep-alive\n\n\n").is_empty());
    }

    #[test]
    fn multi_line_data_is_joined_with_newline() {
        let mut parser = SseParser::default();
        let events = parser.push(b"data: {\"a\":\ndata:1}\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "{\"a\":\n1}");
        assert!(carries_envelope(&events[0]));
        assert!(!carries_envelope(&SseEvent {
            data: "ping".into(),
            ..SseEvent::default()
        }));
    }
}
