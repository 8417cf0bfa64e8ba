//! Frames to Server-Sent Events: `event:`, `id:`, `data:` per frame, a `: ping`
//! comment while idle, and the headers that keep proxies from buffering.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use tokio::sync::{broadcast, mpsc};

use crate::metrics::StreamGuard;
use crate::turn::{Frame, LiveTurn};

fn event(frame: Frame) -> Event {
    Event::default().event(frame.event).id(frame.id.to_string()).data(frame.data)
}

fn is_last(frame: &Frame) -> bool {
    frame.event == "done" || frame.event == "error"
}

pub(super) fn respond<S>(stream: S, keepalive: Duration) -> Response
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    let mut res = Sse::new(stream).keep_alive(KeepAlive::new().interval(keepalive).text(" ping")).into_response();
    let h = res.headers_mut();
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// Stream the frames of `rx` as they arrive; the response ends when the sender does.
/// Dropping the response (the client left) drops `rx`, which the turn notices.
/// `open` counts the stream in `docent_active_streams` for as long as it lives.
pub fn frames_response(rx: mpsc::Receiver<Frame>, keepalive: Duration, open: StreamGuard) -> Response {
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(move |f| {
        let _open = &open;
        Ok(event(f))
    });
    respond(stream, keepalive)
}

/// Replay a running turn's frames after `after`, then follow it live to its end.
pub fn replay_and_follow(live: Arc<LiveTurn>, after: u64, keepalive: Duration, open: StreamGuard) -> Response {
    let (past, mut feed) = live.follow(after);
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut last = after;
        for f in past {
            last = f.id;
            let end = is_last(&f);
            if tx.send(f).await.is_err() || end {
                return;
            }
        }
        loop {
            match feed.recv().await {
                Ok(f) if f.id <= last => continue,
                Ok(f) => {
                    last = f.id;
                    let end = is_last(&f);
                    if tx.send(f).await.is_err() || end {
                        return;
                    }
                }
                // The feed holds 256 frames; a reader that far behind resumes again.
                Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    frames_response(rx, keepalive, open)
}
