//! reqwest in one line: [`GuardMiddleware`] runs every request of a
//! [`reqwest_middleware`] client through a [`Guard`] (retries, the circuit
//! breaker, the retry budget), where `reqwest_retry::RetryTransientMiddleware`
//! goes today:
//!
//! ```text
//! let client = ClientBuilder::new(reqwest::Client::new()).with(GuardMiddleware::new(guard)).build();
//! ```
//!
//! - [`ReqwestClassifier`]: [`HttpClassifier`]'s table for `reqwest::Response`
//!   (status and `Retry-After`), and reqwest's error kinds told apart (a
//!   refused connection or a timeout is retried; a bad URL is the caller's
//!   bug, neither retried nor a health signal);
//! - [`GuardMiddleware`]: a `reqwest_middleware::Middleware` over a guard; a
//!   call that stops with an error (the breaker refused, the attempts ran
//!   out on errors, the deadline passed, ...) is a
//!   [`reqwest_middleware::Error::Middleware`] holding fusebox's
//!   [`GuardError`]: [`guard_error`] finds it;
//! - [`RegistryMiddleware`] (feature `registry`): the same, with a breaker and
//!   budget per host from a [`Registry`](crate::Registry);
//! - [`TryCloneRequest`]: the [`ClonePolicy`] that puts a
//!   [`GuardLayer`](crate::tower::GuardLayer) around a `reqwest::Client` (a
//!   tower `Service<reqwest::Request>`), for a tower stack;
//! - [`ReqwestGuard`]: a nameable guard type for a struct field.
//!
//! Import the items, not the module: `use fusebox::reqwest;` would shadow the
//! `reqwest` crate in that scope (`reqwest::Client` would then mean
//! `fusebox::reqwest::Client`, which does not exist).
//!
//! # Requests are copied per attempt
//!
//! A `reqwest::Request` is not `Clone`: each attempt that may be followed by
//! another sends a copy made with [`reqwest::Request::try_clone`]. A request
//! whose body is a stream (`reqwest::Body::wrap`, `wrap_stream`) cannot be
//! copied: it gets **exactly one attempt**, still under the breaker (a
//! retryable failure then ends the call as [`Stop::Exhausted`](crate::Stop),
//! before any sleep or budget withdrawal). Buffered bodies (`String`,
//! `Vec<u8>`, `Bytes`, JSON, forms) and requests without a body are copied,
//! and retried.
//!
//! # How a call goes
//!
//! As [`Guard::call_async`]: each attempt asks the breaker for a permit, is
//! classified and recorded; a retry sleeps on the guard's [`AsyncSleeper`]
//! (`max(backoff, Retry-After)`), and the
//! [deadline](crate::RetryBuilder::deadline) and
//! [attempt timeout](crate::RetryBuilder::attempt_timeout) cut an attempt
//! still running (its future is dropped: the connection is abandoned). Every
//! attempt goes down the rest of the middleware chain with the caller's
//! `http::Extensions` (an inner middleware's writes are seen by the next
//! attempt and by the caller, as with `reqwest-retry`). A call that ends on a
//! response returns it, a 503 whose retries ran out included (the guard never
//! hides a value; [`Outcome`] and the guard's events say why it stopped).
//!
//! # Examples
//!
//! A downstream that answers 503 once, then 200 (here a few lines of canned
//! HTTP/1.1 on loopback):
//!
//! ```
//! # use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! # /// Answers each connection with the next canned response, in order.
//! # async fn serve(answers: &'static [&'static str]) -> std::net::SocketAddr {
//! #     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! #     let addr = listener.local_addr().unwrap();
//! #     tokio::spawn(async move {
//! #         for answer in answers {
//! #             let (mut socket, _) = listener.accept().await.unwrap();
//! #             let (mut request, mut buf) = (Vec::new(), [0u8; 1024]);
//! #             while !request.windows(4).any(|w| w == b"\r\n\r\n") {
//! #                 let n = socket.read(&mut buf).await.unwrap();
//! #                 if n == 0 { break }
//! #                 request.extend_from_slice(&buf[..n]);
//! #             }
//! #             socket.write_all(answer.as_bytes()).await.unwrap();
//! #         }
//! #     });
//! #     addr
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use fusebox::reqwest::{GuardMiddleware, ReqwestClassifier};
//! use fusebox::{Breaker, Guard, Retry, TokioSleeper};
//! use reqwest_middleware::ClientBuilder;
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let retry = Retry::builder()
//!     .max_attempts(3)
//!     .exponential_backoff(Duration::from_millis(10), 2.0, Duration::from_secs(1))
//!     .deadline(Duration::from_secs(5))
//!     .build()?;
//! let guard = Guard::new(Arc::new(Breaker::builder().build()?), retry)
//!     .with_classifier(ReqwestClassifier::new())
//!     .with_sleeper(TokioSleeper);
//! let client = ClientBuilder::new(reqwest::Client::new())
//!     .with(GuardMiddleware::new(guard))
//!     .build();
//!
//! let addr = serve(&[
//!     "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
//!     "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
//! ])
//! .await;
//! let response = client.get(format!("http://{addr}/")).send().await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.text().await?, "hello");
//! # Ok(())
//! # }
//! ```
//!
//! When the breaker refuses, nothing is sent, and the error holds the typed
//! refusal, with the time the breaker expects to admit again:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use fusebox::reqwest::{guard_error, GuardMiddleware, ReqwestClassifier};
//! use fusebox::{Breaker, Guard, GuardError, Rejected, Retry, Stop, TokioSleeper};
//! use reqwest_middleware::ClientBuilder;
//! use std::sync::Arc;
//!
//! let breaker = Arc::new(Breaker::builder().build()?);
//! let guard = Guard::new(breaker.clone(), Retry::default())
//!     .with_classifier(ReqwestClassifier::new())
//!     .with_sleeper(TokioSleeper);
//! let client = ClientBuilder::new(reqwest::Client::new())
//!     .with(GuardMiddleware::new(guard))
//!     .build();
//!
//! breaker.force_open();
//! let error = client.get("http://inventory.invalid/items/42").send().await.unwrap_err();
//! let stopped = guard_error(&error).expect("a guard's error");
//! assert_eq!(stopped.stop(), Stop::Rejected);
//! assert!(matches!(stopped, GuardError::Rejected { rejected: Rejected::ForcedOpen, .. }));
//!
//! // The same, by hand: the guard's error is the middleware error's payload.
//! if let reqwest_middleware::Error::Middleware(payload) = &error {
//!     let same = payload.downcast_ref::<GuardError<reqwest_middleware::Error>>();
//!     assert!(same.is_some());
//! }
//! # Ok(())
//! # }
//! ```

use crate::classify::{Classification, Classify};
use crate::guard::{Call, Guard, GuardError, Outcome, Step};
use crate::http::HttpClassifier;
use crate::sleep::{AsyncSleeper, TokioSleeper};
use crate::tower::ClonePolicy;
use ::http::{Extensions, HeaderMap};
use ::reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;

/// A [`Guard`] with [`ReqwestClassifier`]: a nameable type for a struct field.
/// The sleeper defaults to [`TokioSleeper`].
///
/// # Examples
///
/// ```
/// use fusebox::reqwest::{ReqwestClassifier, ReqwestGuard};
/// use fusebox::{Breaker, Guard, Retry, TokioSleeper};
/// use std::sync::Arc;
///
/// struct Inventory {
///     client: reqwest_middleware::ClientWithMiddleware,
///     guard: Arc<ReqwestGuard>, // for its breaker's state, say
/// }
///
/// let guard: ReqwestGuard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
///     .with_classifier(ReqwestClassifier::new())
///     .with_sleeper(TokioSleeper);
/// let guard = Arc::new(guard);
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(fusebox::reqwest::GuardMiddleware::from_arc(guard.clone()))
///     .build();
/// let inventory = Inventory { client, guard };
/// # let _ = (inventory.client, inventory.guard);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub type ReqwestGuard<S = TokioSleeper> = Guard<ReqwestClassifier, S>;

/// The classifier for reqwest: a [`Classify`] for `Result<reqwest::Response,
/// reqwest::Error>` (a `reqwest::Client` as a tower service) and for
/// `Result<reqwest::Response, reqwest_middleware::Error>` (what
/// [`GuardMiddleware`] sees).
///
/// Responses go through [`HttpClassifier`]'s table, the same code: 2xx and 3xx
/// succeed; 5xx (but 501 and 505), 408 and 429 (half a failure) are retried,
/// no sooner than the server's `Retry-After`; other 4xx, 501 and 505 are no
/// health signal and no retry. Errors are told apart by reqwest's kinds, in
/// this order (an error can be of several: a connect timeout is both a timeout
/// and a connect error):
///
/// | error | classification | health | retried | why |
/// |---|---|---|---|---|
/// | `is_builder` (a bad URL, scheme or header) | `Ignored` | none | no | the request could not be made: the caller's bug, and the server never saw it |
/// | `is_status` (`error_for_status` in a middleware below) | the table's, for that status (no `Retry-After`: the error has no headers) | | | the server answered that status |
/// | `is_timeout` (connect, read or total timeout) | failure, error weight | failure | yes | the server did not answer in time |
/// | `is_connect` (refused, DNS, TLS handshake) | failure, error weight | failure | yes | nothing answered |
/// | `is_redirect` (too many redirects, a loop) | `Ignored` | none | no | the server answered (a redirect is a success in the table); the client's redirect policy refused it, and will again |
/// | `is_body` (the request's body stream failed) | `Ignored` | none | no | the caller's stream failed, not the server (and such a request gets one attempt anyway) |
/// | `is_decode` (an answer reqwest could not read: a redirect's bad `Location`) | permanent failure, weight 1 | failure | no | the server answered with something broken, and will again |
/// | any other (`is_request`: a connection reset or closed mid-exchange, a protocol error) | failure, error weight | failure | yes | the exchange broke: a sick downstream, or a connection it dropped |
///
/// A `reqwest_middleware::Error::Reqwest` is classified as its reqwest error;
/// a `Middleware` error from a middleware below the guard, as the reqwest
/// error it holds if it holds one, and otherwise as a transport error (a
/// retryable failure of the error weight, as [`HttpClassifier`] counts any
/// `Err`).
///
/// The weights are [`HttpClassifier`]'s: set them there and pass it to
/// [`from_http`](Self::from_http) (the error weight is
/// [`with_error_weight`](HttpClassifier::with_error_weight)'s). To classify
/// differently, wrap it in a closure, as for `HttpClassifier`.
///
/// # Examples
///
/// ```
/// use fusebox::reqwest::ReqwestClassifier;
/// use fusebox::{Classification, Classify};
///
/// let classifier = ReqwestClassifier::new();
/// let answer = |status: u16| -> Result<reqwest::Response, reqwest::Error> {
///     Ok(http::Response::builder().status(status).body("").unwrap().into())
/// };
/// assert_eq!(classifier.classify(&answer(200)), Classification::Success);
/// assert_eq!(classifier.classify(&answer(404)), Classification::Ignored);
/// assert_eq!(classifier.classify(&answer(503)), Classification::failure());
///
/// // A URL reqwest cannot use: the caller's bug, not the server's.
/// let bad_url = reqwest::Client::new().get("not a url").build().map(|_| unreachable!());
/// assert_eq!(classifier.classify(&bad_url), Classification::Ignored);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ReqwestClassifier {
    http: HttpClassifier,
}

impl ReqwestClassifier {
    /// The classifier of the table above, with [`HttpClassifier::new`]'s
    /// weights.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::reqwest::ReqwestClassifier;
    /// use fusebox::{Classification, Classify};
    ///
    /// let throttled: Result<reqwest::Response, reqwest::Error> =
    ///     Ok(http::Response::builder().status(429).body("").unwrap().into());
    /// let c = ReqwestClassifier::new().classify(&throttled);
    /// assert_eq!(c, Classification::failure().with_weight(0.5));
    /// ```
    pub const fn new() -> Self {
        Self {
            http: HttpClassifier::new(),
        }
    }

    /// The classifier of the table above, with `http`'s weights and wall
    /// clock (responses are `http`'s table; errors weigh `http`'s error
    /// weight).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::http::HttpClassifier;
    /// use fusebox::reqwest::ReqwestClassifier;
    /// use fusebox::{Classification, Classify};
    ///
    /// let classifier = ReqwestClassifier::from_http(
    ///     HttpClassifier::new().with_throttle_weight(0.0).with_server_error_weight(2.0),
    /// );
    /// let down: Result<reqwest::Response, reqwest::Error> =
    ///     Ok(http::Response::builder().status(500).body("").unwrap().into());
    /// assert_eq!(classifier.classify(&down), Classification::failure().with_weight(2.0));
    /// ```
    pub const fn from_http(http: HttpClassifier) -> Self {
        Self { http }
    }

    /// The response table, [`HttpClassifier`]'s.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::reqwest::ReqwestClassifier;
    /// use std::time::Duration;
    ///
    /// let busy: reqwest::Response = http::Response::builder()
    ///     .status(503)
    ///     .header("retry-after", "7")
    ///     .body("")
    ///     .unwrap()
    ///     .into();
    /// let c = ReqwestClassifier::new().classify_response(&busy);
    /// assert!(c.is_retryable());
    /// assert_eq!(c.retry_after(), Some(Duration::from_secs(7)));
    /// ```
    pub fn classify_response(&self, response: &Response) -> Classification {
        self.http
            .classify_status(response.status(), response.headers())
    }

    /// The error table above.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::reqwest::ReqwestClassifier;
    /// use fusebox::Classification;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let classifier = ReqwestClassifier::new();
    /// let bad_url = reqwest::Client::new().get("http://").build().unwrap_err();
    /// assert_eq!(classifier.classify_error(&bad_url), Classification::Ignored);
    ///
    /// // A port nothing listens on: the connection is refused.
    /// let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    /// let refused = reqwest::get(format!("http://127.0.0.1:{port}/")).await.unwrap_err();
    /// assert!(refused.is_connect());
    /// assert_eq!(classifier.classify_error(&refused), Classification::failure());
    /// # }
    /// ```
    pub fn classify_error(&self, error: &::reqwest::Error) -> Classification {
        if error.is_builder() {
            return Classification::Ignored;
        }
        if let Some(status) = error.status() {
            return self.http.classify_status(status, &HeaderMap::new());
        }
        if error.is_timeout() || error.is_connect() {
            return self.http.transport_error();
        }
        if error.is_redirect() || error.is_body() {
            return Classification::Ignored;
        }
        if error.is_decode() {
            return Classification::permanent();
        }
        self.http.transport_error()
    }

    /// A `reqwest_middleware` error: its reqwest error's class, or a transport
    /// error's.
    fn classify_middleware_error(&self, error: &reqwest_middleware::Error) -> Classification {
        match error {
            reqwest_middleware::Error::Reqwest(error) => self.classify_error(error),
            reqwest_middleware::Error::Middleware(error) => {
                match error.downcast_ref::<::reqwest::Error>() {
                    Some(error) => self.classify_error(error),
                    None => self.http.transport_error(),
                }
            }
        }
    }
}

impl Classify<Response, ::reqwest::Error> for ReqwestClassifier {
    fn classify(&self, result: &Result<Response, ::reqwest::Error>) -> Classification {
        match result {
            Ok(response) => self.classify_response(response),
            Err(error) => self.classify_error(error),
        }
    }
}

impl Classify<Response, reqwest_middleware::Error> for ReqwestClassifier {
    fn classify(&self, result: &Result<Response, reqwest_middleware::Error>) -> Classification {
        match result {
            Ok(response) => self.classify_response(response),
            Err(error) => self.classify_middleware_error(error),
        }
    }
}

/// The [`ClonePolicy`] for `reqwest::Request`, which is not `Clone`:
/// [`reqwest::Request::try_clone`]. A request with a streaming body cannot be
/// copied, and gets one attempt.
///
/// With it, a [`GuardLayer`](crate::tower::GuardLayer) goes around a
/// `reqwest::Client` (a tower `Service<reqwest::Request>`, whose errors are
/// `reqwest::Error`s) in a tower stack. Without it, the layer's default
/// policy needs `Clone` requests, and the service does not compile.
///
/// # Examples
///
/// ```
/// use fusebox::reqwest::TryCloneRequest;
/// use fusebox::tower::ClonePolicy;
///
/// let client = reqwest::Client::new();
/// let buffered = client.post("http://inventory.invalid/items").body("{}").build()?;
/// assert!(TryCloneRequest.clone_request(&buffered).is_some());
/// let streaming = client
///     .post("http://inventory.invalid/items")
///     .body(reqwest::Body::wrap(String::from("{}"))) // any http_body::Body: a stream
///     .build()?;
/// assert!(TryCloneRequest.clone_request(&streaming).is_none(), "one attempt");
/// # Ok::<(), reqwest::Error>(())
/// ```
///
/// Around a client, as a tower service:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use fusebox::reqwest::{ReqwestClassifier, TryCloneRequest};
/// use fusebox::tower::GuardLayer;
/// use fusebox::{Breaker, Guard, GuardError, Retry, Stop, TokioSleeper};
/// use std::sync::Arc;
/// use tower::{Service, ServiceBuilder, ServiceExt};
///
/// let breaker = Arc::new(Breaker::builder().build()?);
/// let guard = Guard::new(breaker.clone(), Retry::default())
///     .with_classifier(ReqwestClassifier::new())
///     .with_sleeper(TokioSleeper);
/// let client = reqwest::Client::new();
/// let mut service = ServiceBuilder::new()
///     .layer(GuardLayer::new(guard).clone_requests_with(TryCloneRequest))
///     .service(client.clone());
///
/// breaker.force_open();
/// let request = client.get("http://inventory.invalid/items/42").build()?;
/// let r: Result<reqwest::Response, GuardError<reqwest::Error>> =
///     service.ready().await?.call(request).await;
/// assert_eq!(r.unwrap_err().stop(), Stop::Rejected); // not sent
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TryCloneRequest;

impl ClonePolicy<Request> for TryCloneRequest {
    #[inline]
    fn clone_request(&self, request: &Request) -> Option<Request> {
        request.try_clone()
    }
}

/// The [`GuardError`] a [`GuardMiddleware`] (or [`RegistryMiddleware`]) call
/// stopped with, if `error` is one: it is the payload of a
/// [`reqwest_middleware::Error::Middleware`]. `None` for any other error.
///
/// The guard's error keeps the last attempt's error (a
/// `reqwest_middleware::Error`, see [`GuardError::last`]), and its
/// [`stop`](GuardError::stop) and [`retry_after`](GuardError::retry_after) say
/// why the call stopped and, for a refusal, when the breaker expects to admit
/// again.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use fusebox::reqwest::{guard_error, GuardMiddleware, ReqwestClassifier};
/// use fusebox::{Breaker, Guard, Jitter, Retry, Stop, TokioSleeper};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let retry = Retry::builder()
///     .max_attempts(2)
///     .constant_backoff(Duration::from_millis(1))
///     .jitter(Jitter::None)
///     .build()?;
/// let guard = Guard::new(Arc::new(Breaker::builder().build()?), retry)
///     .with_classifier(ReqwestClassifier::new())
///     .with_sleeper(TokioSleeper);
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(GuardMiddleware::new(guard))
///     .build();
///
/// // A port nothing listens on: every attempt is refused.
/// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
/// let error = client.get(format!("http://127.0.0.1:{port}/")).send().await.unwrap_err();
/// let stopped = guard_error(&error).expect("the guard stopped the call");
/// assert_eq!(stopped.stop(), Stop::Exhausted);
/// assert_eq!(stopped.attempts(), 2);
/// assert!(stopped.last().is_some_and(|last| last.is_connect()));
///
/// let not_ours = reqwest_middleware::Error::middleware(std::io::Error::other("no"));
/// assert!(guard_error(&not_ours).is_none());
/// # Ok(())
/// # }
/// ```
pub fn guard_error(
    error: &reqwest_middleware::Error,
) -> Option<&GuardError<reqwest_middleware::Error>> {
    match error {
        reqwest_middleware::Error::Middleware(payload) => payload.downcast_ref(),
        reqwest_middleware::Error::Reqwest(_) => None,
    }
}

/// A [`reqwest_middleware::Middleware`] that runs every request through a
/// [`Guard`]: a drop-in for `reqwest_retry::RetryTransientMiddleware`, with a
/// circuit breaker and a retry budget in the same place.
///
/// Give the guard [`ReqwestClassifier`] (or a classifier of your own for
/// `Result<reqwest::Response, reqwest_middleware::Error>`): `Guard::new`'s
/// default classifier calls every response a success, a 503 included. And an
/// [`AsyncSleeper`], [`TokioSleeper`]: the constructor does not compile with
/// `Guard::new`'s blocking one.
///
/// What a call returns:
///
/// - a response, when an attempt's response ended the call: a success, a
///   response that is no health signal (a 404), or the last of the retryable
///   ones (a 503 after the attempts ran out, or with the deadline or the
///   budget in the way);
/// - otherwise a [`reqwest_middleware::Error::Middleware`] holding the
///   [`GuardError<reqwest_middleware::Error>`](GuardError) (find it with
///   [`guard_error`]): the breaker's refusal (nothing sent), or the last
///   attempt's error with why the call stopped. The middleware error's
///   `Display` is the guard error's.
///
/// The guard is kept in an `Arc`; clones of the middleware, and every client
/// built with one, share its breaker, budget and retry policy.
///
/// # Examples
///
/// In place of `RetryTransientMiddleware`:
///
/// ```
/// use fusebox::reqwest::{GuardMiddleware, ReqwestClassifier};
/// use fusebox::{Breaker, Guard, Retry, RetryBudget, TokioSleeper};
/// use reqwest_middleware::ClientBuilder;
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let breaker = Arc::new(Breaker::builder().name("inventory").build()?);
/// let retry = Retry::builder()
///     .max_attempts(3)
///     .exponential_backoff(Duration::from_millis(50), 2.0, Duration::from_secs(2))
///     .deadline(Duration::from_secs(10))
///     .build()?;
/// let budget = Arc::new(RetryBudget::builder().build()?);
/// let guard = Guard::new(breaker, retry)
///     .with_budget(budget)
///     .with_classifier(ReqwestClassifier::new())
///     .with_sleeper(TokioSleeper);
/// let client = ClientBuilder::new(reqwest::Client::new())
///     .with(GuardMiddleware::new(guard))
///     .build();
/// # let _ = client;
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct GuardMiddleware<C = ReqwestClassifier, Sl = TokioSleeper> {
    guard: Arc<Guard<C, Sl>>,
}

/// A classifier that reads reqwest's responses: what [`GuardMiddleware`] and
/// [`RegistryMiddleware`] accept. [`ReqwestClassifier`] and closures over
/// `&Result<reqwest::Response, reqwest_middleware::Error>` are; the guard's
/// default classifier is not, because it would call every response a success,
/// a 503 included, and so never retry one nor count it against the breaker.
///
/// # Examples
///
/// ```
/// use fusebox::reqwest::{GuardMiddleware, ReqwestClassifier};
/// use fusebox::{Breaker, Classification, Classify, Guard, Retry, TokioSleeper};
/// use std::sync::Arc;
///
/// let classifier = ReqwestClassifier::new();
/// // Only 200 is a success here; the rest as reqwest's classifier says.
/// let strict = move |r: &Result<reqwest::Response, reqwest_middleware::Error>| match r {
///     Ok(response) if response.status() != 200 => Classification::failure(),
///     other => classifier.classify(other),
/// };
/// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
///     .with_classifier(strict)
///     .with_sleeper(TokioSleeper);
/// let middleware = GuardMiddleware::new(guard);
/// # let _ = middleware;
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
///
/// A guard left with its default classifier is refused where the middleware
/// is made:
///
/// ```compile_fail,E0277
/// use fusebox::reqwest::GuardMiddleware;
/// use fusebox::{Breaker, Guard, Retry, TokioSleeper};
/// use std::sync::Arc;
///
/// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
///     .with_sleeper(TokioSleeper); // no `.with_classifier(ReqwestClassifier::new())`
/// let middleware = GuardMiddleware::new(guard);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not read reqwest's responses: with it, every response would be a success, a 503 included",
    label = "the guard's classifier",
    note = "give the guard `.with_classifier(fusebox::reqwest::ReqwestClassifier::new())`, or a closure over `&Result<reqwest::Response, reqwest_middleware::Error>`"
)]
pub trait ReqwestClassify: Classify<Response, reqwest_middleware::Error> {}

impl ReqwestClassify for ReqwestClassifier {}

#[diagnostic::do_not_recommend]
impl<F> ReqwestClassify for F where
    F: Fn(&Result<Response, reqwest_middleware::Error>) -> Classification
{
}

/// Bounded here, where the middleware is made, so that a guard without a
/// classifier for reqwest's results or without an async sleeper is an error
/// on that line that names the fix (the bounds' `on_unimplemented` notes).
impl<C, Sl> GuardMiddleware<C, Sl>
where
    C: ReqwestClassify,
    Sl: AsyncSleeper,
{
    /// A middleware running every request through `guard`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::reqwest::{GuardMiddleware, ReqwestClassifier};
    /// use fusebox::{Breaker, Guard, Retry, TokioSleeper};
    /// use std::sync::Arc;
    ///
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
    ///     .with_classifier(ReqwestClassifier::new())
    ///     .with_sleeper(TokioSleeper);
    /// let middleware = GuardMiddleware::new(guard);
    /// # let _ = middleware;
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    ///
    /// Without an async sleeper it does not compile (`ThreadSleeper` is not an
    /// `AsyncSleeper`: add `.with_sleeper(fusebox::TokioSleeper)`):
    ///
    /// ```compile_fail,E0277
    /// use fusebox::reqwest::{GuardMiddleware, ReqwestClassifier};
    /// use fusebox::{Breaker, Guard, Retry};
    /// use std::sync::Arc;
    ///
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
    ///     .with_classifier(ReqwestClassifier::new());
    /// let middleware = GuardMiddleware::new(guard);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    ///
    /// Nor with a classifier that does not know reqwest's results (the
    /// `HttpClassifier` classifies `http::Response`s; the error names
    /// `ReqwestClassifier`):
    ///
    /// ```compile_fail,E0277
    /// use fusebox::http::HttpClassifier;
    /// use fusebox::reqwest::GuardMiddleware;
    /// use fusebox::{Breaker, Guard, Retry, TokioSleeper};
    /// use std::sync::Arc;
    ///
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
    ///     .with_classifier(HttpClassifier::new())
    ///     .with_sleeper(TokioSleeper);
    /// let middleware = GuardMiddleware::new(guard);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn new(guard: Guard<C, Sl>) -> Self {
        Self::from_arc(Arc::new(guard))
    }

    /// [`new`](Self::new) with a guard already shared (with a tower layer, or
    /// to read its breaker's state).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::reqwest::{GuardMiddleware, ReqwestClassifier};
    /// use fusebox::{Breaker, Guard, Retry, State, TokioSleeper};
    /// use std::sync::Arc;
    ///
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
    ///     .with_classifier(ReqwestClassifier::new())
    ///     .with_sleeper(TokioSleeper);
    /// let guard = Arc::new(guard);
    /// let middleware = GuardMiddleware::from_arc(guard.clone());
    /// assert!(Arc::ptr_eq(middleware.guard(), &guard));
    /// assert_eq!(guard.breaker().snapshot().state, State::Closed);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn from_arc(guard: Arc<Guard<C, Sl>>) -> Self {
        Self { guard }
    }
}

impl<C, Sl> GuardMiddleware<C, Sl> {
    /// The guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::reqwest::{GuardMiddleware, ReqwestClassifier};
    /// use fusebox::{Breaker, Guard, Retry, TokioSleeper};
    /// use std::sync::Arc;
    ///
    /// let retry = Retry::builder().max_attempts(2).build()?;
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), retry)
    ///     .with_classifier(ReqwestClassifier::new())
    ///     .with_sleeper(TokioSleeper);
    /// let middleware = GuardMiddleware::new(guard);
    /// assert_eq!(middleware.guard().retry().max_attempts(), 2);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn guard(&self) -> &Arc<Guard<C, Sl>> {
        &self.guard
    }
}

impl<C, Sl> Clone for GuardMiddleware<C, Sl> {
    fn clone(&self) -> Self {
        Self {
            guard: Arc::clone(&self.guard),
        }
    }
}

impl<C: fmt::Debug, Sl: fmt::Debug> fmt::Debug for GuardMiddleware<C, Sl> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardMiddleware")
            .field("guard", &self.guard)
            .finish()
    }
}

/// The future `Middleware::handle` returns (`async_trait`'s shape, written
/// out: the trait is declared with `#[async_trait]`, and an impl without the
/// macro writes the method it expands to).
type Handled<'a> = Pin<Box<dyn Future<Output = reqwest_middleware::Result<Response>> + Send + 'a>>;

impl<C, Sl> Middleware for GuardMiddleware<C, Sl>
where
    C: Classify<Response, reqwest_middleware::Error> + Send + Sync + 'static,
    Sl: AsyncSleeper + Send + Sync + 'static,
    Sl::Sleep: Send,
{
    fn handle<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        req: Request,
        extensions: &'life1 mut Extensions,
        next: Next<'life2>,
    ) -> Handled<'async_trait>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let outcome = run(&self.guard, req, extensions, next).await;
            outcome
                .into_result()
                .map_err(reqwest_middleware::Error::middleware)
        })
    }
}

/// One guarded call down the rest of the middleware chain: the async loop of
/// [`Guard::call_async`] over the same [`Call`] core, written out because an
/// attempt borrows the caller's `Extensions` mutably, which a closure handing
/// out one future per attempt (`call_async`'s `FnMut(Attempt) -> Fut`) cannot
/// lend; and with [`TryCloneRequest`]'s copies, as the tower layer makes them.
async fn run<C, Sl>(
    guard: &Guard<C, Sl>,
    request: Request,
    extensions: &mut Extensions,
    next: Next<'_>,
) -> Outcome<Response, reqwest_middleware::Error>
where
    C: Classify<Response, reqwest_middleware::Error>,
    Sl: AsyncSleeper,
{
    let mut call = Call::new(guard);
    let timed = call.timed();
    // The request for the next attempt.
    let mut request = Some(request);
    loop {
        let permit = match call.begin() {
            Ok((permit, _attempt)) => permit,
            Err(stopped) => return stopped,
        };
        let Some(kept) = request.take() else {
            unreachable!("a call that makes another attempt keeps a request")
        };
        // A copy for this attempt when another may follow, the request itself
        // for the last; a request that cannot be copied makes this attempt
        // the last (`no_more_retries`: a retryable failure then ends the call
        // as `Exhausted`, before any sleep, so the loop never comes back
        // without a request).
        let this = if call.may_retry() {
            match kept.try_clone() {
                Some(copy) => {
                    request = Some(kept);
                    copy
                }
                None => {
                    call.no_more_retries();
                    kept
                }
            }
        } else {
            kept
        };
        let started = timed.then(|| guard.breaker().elapsed_ns());
        let attempt = next.clone().run(this, extensions);
        let step = match call.limit() {
            None => {
                let result = attempt.await;
                match started {
                    None => call.finish(permit, result),
                    Some(started) => call.finish_timed(permit, result, started),
                }
            }
            Some((limit, by_deadline)) => {
                match race(attempt, guard.sleeper().sleep(limit)).await {
                    Some(result) => match started {
                        None => call.finish(permit, result),
                        Some(started) => call.finish_timed(permit, result, started),
                    },
                    // Cut: the attempt's future (its connection) is dropped.
                    None => call.cut(permit, limit, by_deadline),
                }
            }
        };
        match step {
            Step::Done(outcome) => return outcome,
            Step::Sleep(delay) => guard.sleeper().sleep(delay).await,
        }
    }
}

/// Poll `attempt`, then `timer`, until one is ready: `Some` with the attempt's
/// output, `None` if the timer fired first (an attempt ready at its limit
/// wins). Both are dropped when this returns.
async fn race<A: Future, B: Future<Output = ()>>(attempt: A, timer: B) -> Option<A::Output> {
    let mut attempt = pin!(attempt);
    let mut timer = pin!(timer);
    poll_fn(move |cx| {
        if let Poll::Ready(out) = attempt.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

#[cfg(feature = "registry")]
pub use keyed::{RegistryMiddleware, authority};

#[cfg(feature = "registry")]
mod keyed {
    use super::*;
    use crate::registry::Registry;

    /// The key [`RegistryMiddleware`] looks a request up by: its URL's
    /// authority without any `user:password@`, `host` or `host:port` (the port
    /// only when the URL has one that is not its scheme's default), as
    /// written, borrowed from the URL. `""` for a URL without a host.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::reqwest::authority;
    ///
    /// let url = |s: &str| reqwest::Url::parse(s).unwrap();
    /// assert_eq!(authority(&url("https://api.example.com/items")), "api.example.com");
    /// assert_eq!(authority(&url("http://127.0.0.1:8080/")), "127.0.0.1:8080");
    /// assert_eq!(authority(&url("https://ada:secret@api.example.com:443/")), "api.example.com");
    /// ```
    pub fn authority(url: &::reqwest::Url) -> &str {
        let authority = url.authority();
        authority
            .rsplit_once('@')
            .map_or(authority, |(_, host_port)| host_port)
    }

    /// [`GuardMiddleware`] with a breaker and budget per host: each request
    /// runs through the [`Registry`] entry of its URL's [`authority`]
    /// (`host[:port]`, made on the host's first request, looked up as a
    /// borrowed `&str`), under the registry's
    /// [retry policy](crate::RegistryBuilder::retry). One host failing opens
    /// its own breaker only.
    ///
    /// Classifier [`ReqwestClassifier`] and sleeper [`TokioSleeper`] unless set
    /// with [`with_classifier`](Self::with_classifier) and
    /// [`with_sleeper`](Self::with_sleeper). Each request builds its guard from
    /// the entry (the registry's retry policy cloned, the classifier and the
    /// sleeper cloned): a few words and reference counts, no allocation
    /// beyond the middleware's own boxed future.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use fusebox::reqwest::{guard_error, RegistryMiddleware};
    /// use fusebox::{Breaker, Registry, Retry, Stop};
    /// use std::sync::Arc;
    ///
    /// let hosts = Arc::new(
    ///     Registry::<String>::builder()
    ///         .breaker(|host| Breaker::builder().name(host.map_or("overflow", |h| h.as_str())))
    ///         .retry(Retry::builder().max_attempts(1).build()?)
    ///         .build()?,
    /// );
    /// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
    ///     .with(RegistryMiddleware::new(hosts.clone()))
    ///     .build();
    ///
    /// hosts.get("inventory.invalid").breaker().force_open();
    /// let error = client.get("http://inventory.invalid/items/42").send().await.unwrap_err();
    /// assert_eq!(guard_error(&error).unwrap().stop(), Stop::Rejected);
    /// // Another host has a breaker of its own: this request is sent (and refused
    /// // by the host, a port nothing listens on, not by the breaker).
    /// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// let error = client.get(format!("http://127.0.0.1:{port}/")).send().await.unwrap_err();
    /// assert_eq!(guard_error(&error).unwrap().stop(), Stop::Exhausted);
    /// # Ok(())
    /// # }
    /// ```
    pub struct RegistryMiddleware<C = ReqwestClassifier, Sl = TokioSleeper> {
        registry: Arc<Registry<String>>,
        classifier: C,
        sleeper: Sl,
    }

    impl RegistryMiddleware {
        /// A middleware running each request through its host's entry of
        /// `registry`, with [`ReqwestClassifier`] and [`TokioSleeper`].
        ///
        /// # Examples
        ///
        /// ```
        /// use fusebox::reqwest::RegistryMiddleware;
        /// use fusebox::Registry;
        /// use std::sync::Arc;
        ///
        /// let hosts = Arc::new(Registry::<String>::builder().max_entries(256).build()?);
        /// let middleware = RegistryMiddleware::new(hosts.clone());
        /// assert!(Arc::ptr_eq(middleware.registry(), &hosts));
        /// # Ok::<(), fusebox::ConfigError>(())
        /// ```
        pub fn new(registry: Arc<Registry<String>>) -> Self {
            Self {
                registry,
                classifier: ReqwestClassifier::new(),
                sleeper: TokioSleeper,
            }
        }
    }

    impl<C, Sl> RegistryMiddleware<C, Sl> {
        /// Classify results with `classifier` (cloned into each request's
        /// guard).
        ///
        /// # Examples
        ///
        /// ```
        /// use fusebox::http::HttpClassifier;
        /// use fusebox::reqwest::{RegistryMiddleware, ReqwestClassifier};
        /// use fusebox::Registry;
        /// use std::sync::Arc;
        ///
        /// let hosts = Arc::new(Registry::<String>::builder().build()?);
        /// let middleware = RegistryMiddleware::new(hosts).with_classifier(
        ///     ReqwestClassifier::from_http(HttpClassifier::new().with_throttle_weight(0.0)),
        /// );
        /// # let _ = middleware;
        /// # Ok::<(), fusebox::ConfigError>(())
        /// ```
        pub fn with_classifier<C2: ReqwestClassify>(
            self,
            classifier: C2,
        ) -> RegistryMiddleware<C2, Sl> {
            RegistryMiddleware {
                registry: self.registry,
                classifier,
                sleeper: self.sleeper,
            }
        }

        /// Sleep between attempts with `sleeper` (cloned into each request's
        /// guard).
        ///
        /// # Examples
        ///
        /// ```
        /// use fusebox::reqwest::RegistryMiddleware;
        /// use fusebox::{ManualClock, ManualSleeper, Registry};
        /// use std::sync::Arc;
        ///
        /// let hosts = Arc::new(Registry::<String>::builder().build()?);
        /// let middleware =
        ///     RegistryMiddleware::new(hosts).with_sleeper(ManualSleeper::new(ManualClock::new()));
        /// # let _ = middleware;
        /// # Ok::<(), fusebox::ConfigError>(())
        /// ```
        pub fn with_sleeper<Sl2>(self, sleeper: Sl2) -> RegistryMiddleware<C, Sl2> {
            RegistryMiddleware {
                registry: self.registry,
                classifier: self.classifier,
                sleeper,
            }
        }

        /// The registry.
        ///
        /// # Examples
        ///
        /// ```
        /// use fusebox::reqwest::RegistryMiddleware;
        /// use fusebox::Registry;
        /// use std::sync::Arc;
        ///
        /// let middleware = RegistryMiddleware::new(Arc::new(Registry::<String>::builder().build()?));
        /// assert!(middleware.registry().is_empty(), "entries are made by requests");
        /// # Ok::<(), fusebox::ConfigError>(())
        /// ```
        pub fn registry(&self) -> &Arc<Registry<String>> {
            &self.registry
        }
    }

    impl<C: Clone, Sl: Clone> Clone for RegistryMiddleware<C, Sl> {
        fn clone(&self) -> Self {
            Self {
                registry: Arc::clone(&self.registry),
                classifier: self.classifier.clone(),
                sleeper: self.sleeper.clone(),
            }
        }
    }

    impl<C: fmt::Debug, Sl: fmt::Debug> fmt::Debug for RegistryMiddleware<C, Sl> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("RegistryMiddleware")
                .field("registry", &self.registry)
                .field("classifier", &self.classifier)
                .field("sleeper", &self.sleeper)
                .finish()
        }
    }

    impl<C, Sl> Middleware for RegistryMiddleware<C, Sl>
    where
        C: Classify<Response, reqwest_middleware::Error> + Clone + Send + Sync + 'static,
        Sl: AsyncSleeper + Clone + Send + Sync + 'static,
        Sl::Sleep: Send,
    {
        fn handle<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            req: Request,
            extensions: &'life1 mut Extensions,
            next: Next<'life2>,
        ) -> Handled<'async_trait>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            Self: 'async_trait,
        {
            let guard = self
                .registry
                .guard(authority(req.url()))
                .with_classifier(self.classifier.clone())
                .with_sleeper(self.sleeper.clone());
            Box::pin(async move {
                let outcome = run(&guard, req, extensions, next).await;
                outcome
                    .into_result()
                    .map_err(reqwest_middleware::Error::middleware)
            })
        }
    }
}
