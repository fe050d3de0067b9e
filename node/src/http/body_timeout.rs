//! A request's body must arrive within a time limit: a client that sends
//! its headers and then trickles (or stalls) the body holds a connection,
//! a worker thread's buffer and, worst, whatever the handler already
//! decided (a session's state) for as long as it likes. Headers have
//! actix's own read timeout (`client_request_timeout`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use futures_util::Stream;
use tokio::time::Sleep;

/// The body as it arrives, ending in an error once `deadline` passes.
struct Deadline {
    body: Payload,
    deadline: Pin<Box<Sleep>>,
    limit: Duration,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(chunk) = Pin::new(&mut self.body).poll_next(cx) {
            return Poll::Ready(chunk);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let limit = self.limit;
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the request body did not arrive within {} s",
                    limit.as_secs()
                ),
            )))));
        }
        Poll::Pending
    }
}

/// Whether an extractor's error was this middleware's deadline.
pub fn is_timeout(e: &PayloadError) -> bool {
    matches!(e, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

/// Wraps every request's body in the node's deadline
/// (`Settings::body_timeout_ms`), counted from when the headers are read.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limit = req
        .app_data::<actix_web::web::Data<super::AppState>>()
        .map_or(Duration::from_secs(30), |s| {
            Duration::from_millis(s.settings.body_timeout_ms)
        });
    let (http, body) = req.into_parts();
    let timed = Deadline {
        body,
        deadline: Box::pin(tokio::time::sleep(limit)),
        limit,
    };
    let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(timed);
    let req = ServiceRequest::from_parts(http, Payload::from(stream));
    next.call(req).await
}
