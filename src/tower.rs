//! A tower middleware that runs every request through a [`Guard`]: retries,
//! the circuit breaker and the retry budget around any [`Service`].
//!
//! - [`GuardLayer`] wraps a `Guard` (in an `Arc`: every service it makes, and
//!   every clone of those, shares one breaker, one budget and one retry policy);
//! - [`GuardService`] is the middleware: `Response = S::Response`,
//!   `Error = GuardError<S::Error>`;
//! - [`ResponseFuture`] is its future: a hand-written state machine, no boxing
//!   and no allocation of its own per call;
//! - [`ClonePolicy`] says how a request is copied for a retry ([`CloneRequest`],
//!   the default, uses `Clone`); a request it cannot copy gets one attempt;
//! - [`OnStop`] is told why each call stopped ([`Outcome`]), `Ok` responses
//!   included: a 503 that was retried until the attempts ran out is returned as
//!   `Ok`, and only the callback says it was [`Stop::Exhausted`](crate::Stop).
//!
//! # How a call goes
//!
//! The caller polls [`poll_ready`](Service::poll_ready), which is the inner
//! service's. `call` then asks the breaker for a permit (never `poll_ready`: a
//! permit reserved by a service that is never called would hold a half-open probe
//! slot for nothing). Refused, the future resolves to
//! [`GuardError::Rejected`] and the inner service is not called. Admitted, the
//! request is copied for a possible retry (only when another attempt is
//! allowed), and the ready inner service takes the original; a clone of the
//! inner service goes into the future for the retries.
//!
//! From there the future does what [`Guard::call_async`] does: each attempt's
//! result is classified and recorded, a retry sleeps on the guard's
//! [`AsyncSleeper`] first, and each retry waits for its own service clone's
//! `poll_ready`, then for a new permit, before calling it. With a
//! [deadline](crate::RetryBuilder::deadline) or an
//! [attempt timeout](crate::RetryBuilder::attempt_timeout), an attempt still
//! running at its limit is cut: its future is dropped and the breaker records a
//! failure. Waiting for a retry's `poll_ready` is not cut (put a timeout or a
//! load shedder below this layer if the inner service can stay unready), but a
//! retry whose service became ready at or past the deadline is not sent: the
//! call ends with [`GuardError::DeadlineExceeded`] and the last attempt's
//! result, and nothing is recorded (the wait was back-pressure below this
//! layer, not a failure of the downstream). The deadline counts from the first
//! attempt, made in `call`: the caller's own wait for `poll_ready` before it
//! does not count.
//!
//! Dropping the response future cancels the call: the permit of an attempt in
//! flight is dropped unrecorded, which frees its half-open probe slot and says
//! nothing about the downstream's health.
//!
//! # Examples
//!
//! A downstream that fails twice, then answers, behind a `ServiceBuilder`:
//!
//! ```
//! # #[cfg(not(feature = "tokio"))] fn main() {}
//! # #[cfg(feature = "tokio")]
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use fusebox::tower::GuardLayer;
//! use fusebox::{Breaker, Guard, Retry, TokioSleeper};
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! let breaker = Arc::new(Breaker::builder().build()?);
//! let retry = Retry::builder()
//!     .max_attempts(3)
//!     .exponential_backoff(Duration::from_millis(10), 2.0, Duration::from_secs(1))
//!     .deadline(Duration::from_secs(2))
//!     .build()?;
//! let guard = Guard::new(breaker, retry).with_sleeper(TokioSleeper);
//!
//! let calls = Arc::new(AtomicU32::new(0));
//! let downstream = service_fn({
//!     let calls = calls.clone();
//!     move |name: String| {
//!         let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
//!         async move {
//!             if n < 3 {
//!                 Err(std::io::Error::other("unavailable"))
//!             } else {
//!                 Ok(format!("hello, {name}"))
//!             }
//!         }
//!     }
//! });
//! let mut svc = ServiceBuilder::new().layer(GuardLayer::new(guard)).service(downstream);
//!
//! let reply = svc.ready().await?.call("ada".to_string()).await?;
//! assert_eq!(reply, "hello, ada");
//! assert_eq!(calls.load(Ordering::Relaxed), 3);
//! # Ok(())
//! # }
//! ```

use crate::breaker::OwnedPermit;
use crate::classify::Classify;
use crate::guard::{Call, Guard, GuardError, Holder, Outcome, Step};
use crate::sleep::AsyncSleeper;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tower_layer::Layer;
use tower_service::Service;

#[cfg(feature = "registry")]
mod keyed;
#[cfg(all(feature = "registry", feature = "http"))]
pub use keyed::{Authority, Host};
#[cfg(feature = "registry")]
pub use keyed::{
    KeyRef, RegistryLayer, RegistryResponseFuture, RegistryService, RequestKey, key_ref,
};

/// How [`GuardService`] copies a request for a retry.
///
/// The inner service takes each attempt's request by value, so a request that
/// may be retried is copied before its first attempt (only when the guard
/// allows another attempt), and again before each retry that may be followed by
/// another. `None` means this request cannot be retried: the call makes one
/// attempt, and a retryable failure ends it as
/// [`Stop::Exhausted`](crate::Stop::Exhausted) (with nothing withdrawn from the
/// retry budget).
///
/// Implemented by [`CloneRequest`] (any `Req: Clone`) and by every closure
/// `Fn(&Req) -> Option<Req>`.
///
/// # Examples
///
/// Requests with a streaming body cannot be replayed; buffered ones can:
///
/// ```
/// use fusebox::tower::ClonePolicy;
///
/// enum Body { Buffered(Vec<u8>), Streaming }
///
/// let policy = |body: &Body| match body {
///     Body::Buffered(bytes) => Some(Body::Buffered(bytes.clone())),
///     Body::Streaming => None,
/// };
/// assert!(policy.clone_request(&Body::Buffered(vec![1, 2])).is_some());
/// assert!(policy.clone_request(&Body::Streaming).is_none());
/// ```
pub trait ClonePolicy<Req> {
    /// A copy of `request` for another attempt, or `None` if it cannot be made.
    fn clone_request(&self, request: &Req) -> Option<Req>;
}

/// The default [`ClonePolicy`]: `Some(request.clone())`.
///
/// # Examples
///
/// ```
/// use fusebox::tower::{ClonePolicy, CloneRequest};
///
/// assert_eq!(CloneRequest.clone_request(&"GET /"), Some("GET /"));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CloneRequest;

impl<Req: Clone> ClonePolicy<Req> for CloneRequest {
    #[inline(always)]
    fn clone_request(&self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}

impl<Req, F> ClonePolicy<Req> for F
where
    F: Fn(&Req) -> Option<Req>,
{
    #[inline]
    fn clone_request(&self, request: &Req) -> Option<Req> {
        self(request)
    }
}

/// Told why each call through a [`GuardService`] stopped, once per call, just
/// before its response future resolves (a dropped future is a cancelled call,
/// and reports nothing).
///
/// It sees the whole [`Outcome`]: the [`Stop`](crate::Stop) reason, the
/// attempts, the last result (an `Ok` response the classifier called a failure
/// included) and the breaker's refusal. `()` reports nothing (the default);
/// every closure `Fn(&Outcome<T, E>)` is one.
///
/// # Examples
///
/// Count calls by stop reason:
///
/// ```
/// use fusebox::tower::OnStop;
/// use fusebox::{Outcome, Stop};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// let counts: Arc<[AtomicU64; Stop::ALL.len()]> = Arc::new(Default::default());
/// let on_stop = {
///     let counts = counts.clone();
///     move |outcome: &Outcome<u16, std::io::Error>| {
///         let i = Stop::ALL.iter().position(|s| *s == outcome.stop).unwrap();
///         counts[i].fetch_add(1, Ordering::Relaxed);
///     }
/// };
/// # fn assert_on_stop<F: OnStop<u16, std::io::Error>>(_: &F) {}
/// # assert_on_stop(&on_stop);
/// ```
pub trait OnStop<T, E> {
    /// Called with the call's outcome, before it becomes the future's result.
    fn on_stop(&self, outcome: &Outcome<T, E>);
}

impl<T, E> OnStop<T, E> for () {
    #[inline(always)]
    fn on_stop(&self, _: &Outcome<T, E>) {}
}

impl<T, E, F> OnStop<T, E> for F
where
    F: Fn(&Outcome<T, E>),
{
    #[inline]
    fn on_stop(&self, outcome: &Outcome<T, E>) {
        self(outcome)
    }
}

/// A [`Layer`] that wraps services in a [`GuardService`].
///
/// Made from a [`Guard`], which it holds in an `Arc`: every service it layers,
/// and every clone of those, shares the guard's breaker, budget and retry
/// policy. The guard needs an [`AsyncSleeper`] (e.g.
/// [`TokioSleeper`](crate::TokioSleeper)) and a classifier for the inner
/// service's results (e.g. [`HttpClassifier`](crate::http::HttpClassifier) for
/// `http::Response`s).
///
/// # Examples
///
/// ```
/// use fusebox::tower::GuardLayer;
/// use fusebox::{Breaker, Guard, ManualClock, ManualSleeper, Retry};
/// use std::sync::Arc;
/// use tower::Layer;
///
/// let clock = ManualClock::new();
/// let breaker = Arc::new(Breaker::builder().clock(clock.clone()).build()?);
/// let guard = Guard::new(breaker, Retry::default()).with_sleeper(ManualSleeper::new(clock));
/// let layer = GuardLayer::new(guard);
/// let a = layer.layer(tower::service_fn(|x: u32| async move { Ok::<_, ()>(x) }));
/// let b = layer.clone().layer(tower::service_fn(|x: u32| async move { Ok::<_, ()>(x + 1) }));
/// assert!(Arc::ptr_eq(a.guard().breaker(), b.guard().breaker()), "one breaker");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct GuardLayer<C, Sl, P = CloneRequest, F = ()> {
    guard: Arc<Guard<C, Sl>>,
    policy: P,
    on_stop: F,
}

impl<C, Sl> GuardLayer<C, Sl> {
    /// A layer running every request through `guard`, cloning requests with
    /// `Clone` and reporting nothing.
    pub fn new(guard: Guard<C, Sl>) -> Self {
        Self::from_arc(Arc::new(guard))
    }

    /// [`new`](Self::new) with a guard already shared.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::tower::GuardLayer;
    /// use fusebox::{Breaker, Guard, Retry};
    /// use std::sync::Arc;
    ///
    /// let guard = Arc::new(Guard::new(Arc::new(Breaker::builder().build()?), Retry::default()));
    /// let layer = GuardLayer::from_arc(guard.clone());
    /// assert!(Arc::ptr_eq(layer.guard(), &guard));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn from_arc(guard: Arc<Guard<C, Sl>>) -> Self {
        Self {
            guard,
            policy: CloneRequest,
            on_stop: (),
        }
    }
}

impl<C, Sl, P, F> GuardLayer<C, Sl, P, F> {
    /// Copy requests for retries with `policy` (see [`ClonePolicy`]).
    ///
    /// # Examples
    ///
    /// Never retry (every request gets one attempt, still under the breaker):
    ///
    /// ```
    /// use fusebox::tower::GuardLayer;
    /// use fusebox::{Breaker, Guard, Retry};
    /// use std::sync::Arc;
    ///
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default());
    /// let layer = GuardLayer::new(guard).clone_requests_with(|_: &String| None::<String>);
    /// # let _ = layer;
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn clone_requests_with<P2>(self, policy: P2) -> GuardLayer<C, Sl, P2, F> {
        GuardLayer {
            guard: self.guard,
            policy,
            on_stop: self.on_stop,
        }
    }

    /// Tell `on_stop` why each call stopped (see [`OnStop`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::tower::GuardLayer;
    /// use fusebox::{Breaker, Guard, Outcome, Retry};
    /// use std::sync::Arc;
    ///
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default());
    /// let layer = GuardLayer::new(guard).on_stop(|outcome: &Outcome<String, std::io::Error>| {
    ///     println!("stop={} attempts={}", outcome.stop, outcome.attempts);
    /// });
    /// # let _ = layer;
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn on_stop<F2>(self, on_stop: F2) -> GuardLayer<C, Sl, P, F2> {
        GuardLayer {
            guard: self.guard,
            policy: self.policy,
            on_stop,
        }
    }

    /// The guard.
    pub fn guard(&self) -> &Arc<Guard<C, Sl>> {
        &self.guard
    }
}

impl<C, Sl, P: Clone, F: Clone> Clone for GuardLayer<C, Sl, P, F> {
    fn clone(&self) -> Self {
        Self {
            guard: Arc::clone(&self.guard),
            policy: self.policy.clone(),
            on_stop: self.on_stop.clone(),
        }
    }
}

impl<C: fmt::Debug, Sl: fmt::Debug, P, F> fmt::Debug for GuardLayer<C, Sl, P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardLayer")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl<S, C, Sl, P: Clone, F: Clone> Layer<S> for GuardLayer<C, Sl, P, F> {
    type Service = GuardService<S, C, Sl, P, F>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: Arc::clone(&self.guard),
            policy: self.policy.clone(),
            on_stop: self.on_stop.clone(),
        }
    }
}

/// A [`Service`] that runs every request through a [`Guard`] (made by
/// [`GuardLayer`]; see the [module documentation](self) for how a call goes).
///
/// - `poll_ready` is the inner service's (its error becomes
///   [`GuardError::Permanent`] with `attempts: 0`; no call was made, so
///   [`OnStop`] is not told);
/// - `call` takes the breaker's permit; the response future resolves to the
///   inner service's response, or to a [`GuardError`] keeping its error type.
///   As with [`Guard::call_async`], a call that stops after a response the
///   classifier called a failure returns that response as `Ok`.
///
/// The inner service must be `Clone` (retries use the future's own clone), and
/// so must the request unless a [`ClonePolicy`] says otherwise.
///
/// # Examples
///
/// A rejection never reaches the inner service:
///
/// ```
/// # #[cfg(not(feature = "tokio"))] fn main() {}
/// # #[cfg(feature = "tokio")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), fusebox::ConfigError> {
/// use fusebox::tower::GuardLayer;
/// use fusebox::{Breaker, Guard, GuardError, Retry, Stop, TokioSleeper};
/// use std::sync::Arc;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// let breaker = Arc::new(Breaker::builder().build()?);
/// let guard = Guard::new(breaker.clone(), Retry::default()).with_sleeper(TokioSleeper);
/// let mut svc = GuardLayer::new(guard).layer(service_fn(|x: u32| async move {
///     unreachable!("the breaker is open");
///     #[allow(unreachable_code)]
///     Ok::<u32, ()>(x)
/// }));
/// breaker.force_open();
/// let r = svc.ready().await.unwrap().call(7).await;
/// assert!(matches!(r, Err(GuardError::Rejected { attempts: 0, .. })));
/// assert_eq!(r.unwrap_err().stop(), Stop::Rejected);
/// # Ok(())
/// # }
/// ```
pub struct GuardService<S, C, Sl, P = CloneRequest, F = ()> {
    inner: S,
    guard: Arc<Guard<C, Sl>>,
    policy: P,
    on_stop: F,
}

impl<S, C, Sl, P, F> GuardService<S, C, Sl, P, F> {
    /// The guard (shared with the layer and every clone).
    pub fn guard(&self) -> &Arc<Guard<C, Sl>> {
        &self.guard
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, by value.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C, Sl, P: Clone, F: Clone> Clone for GuardService<S, C, Sl, P, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            guard: Arc::clone(&self.guard),
            policy: self.policy.clone(),
            on_stop: self.on_stop.clone(),
        }
    }
}

impl<S: fmt::Debug, C: fmt::Debug, Sl: fmt::Debug, P, F> fmt::Debug
    for GuardService<S, C, Sl, P, F>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardService")
            .field("inner", &self.inner)
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl<S, Req, C, Sl, P, F> Service<Req> for GuardService<S, C, Sl, P, F>
where
    S: Service<Req> + Clone,
    C: Classify<S::Response, S::Error>,
    Sl: AsyncSleeper,
    P: ClonePolicy<Req> + Clone,
    F: OnStop<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = GuardError<S::Error>;
    type Future = ResponseFuture<S, Req, C, Sl, P, F>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|error| GuardError::Permanent { attempts: 0, error })
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        ResponseFuture {
            inner: start(
                &mut self.inner,
                Arc::clone(&self.guard),
                request,
                &self.policy,
                &self.on_stop,
            ),
        }
    }
}

/// `call` of both services: take the permit, copy the request if it may be
/// retried, call the ready inner service, and return the call's machine.
#[inline]
pub(crate) fn start<S, Req, H, P, F>(
    inner: &mut S,
    holder: H,
    request: Req,
    policy: &P,
    on_stop: &F,
) -> Machine<S, Req, H, P, F>
where
    S: Service<Req> + Clone,
    H: Holder<Permit = OwnedPermit>,
    H::C: Classify<S::Response, S::Error>,
    H::S: AsyncSleeper,
    P: ClonePolicy<Req> + Clone,
    F: Clone,
{
    let mut call = Call::new(holder);
    let timed = call.timed();
    let (permit, _attempt) = match call.begin_first() {
        Ok(admitted) => admitted,
        Err(outcome) => {
            // Rejected: the inner service is not called (and stays ready).
            return Machine {
                state: State::Stopped {
                    outcome: Some(outcome),
                },
                call,
                service: None,
                request: None,
                policy: policy.clone(),
                on_stop: on_stop.clone(),
                timed,
            };
        }
    };
    // A copy for the next attempt, and the ready service for this one (a fresh
    // clone stays behind for the caller's next `poll_ready`), only when there may
    // be a next attempt.
    let mut service = None;
    let mut copy = None;
    if call.may_retry() {
        copy = policy.clone_request(&request);
        if copy.is_some() {
            let clone = inner.clone();
            service = Some(mem::replace(inner, clone));
        } else {
            call.no_more_retries();
        }
    }
    let started = timed.then(|| call.holder().breaker().elapsed_ns());
    let attempt = match &mut service {
        Some(service) => service.call(request),
        None => inner.call(request),
    };
    let state = attempting(&call, attempt, permit, started);
    Machine {
        state,
        call,
        service,
        request: copy,
        policy: policy.clone(),
        on_stop: on_stop.clone(),
        timed,
    }
}

/// The state of an attempt just made: its future, raced against a timer when
/// the call has a time limit.
#[inline]
fn attempting<G, T, E, Fut, Sleep>(
    call: &Call<G, T, E>,
    attempt: Fut,
    permit: OwnedPermit,
    started: Option<u64>,
) -> State<Fut, Sleep, Outcome<T, E>>
where
    G: Holder,
    G::C: Classify<T, E>,
    G::S: AsyncSleeper<Sleep = Sleep>,
{
    let (timer, limit) = match call.limit() {
        Some(limit) => (Some(call.holder().sleeper().sleep(limit.0)), limit),
        None => (None, (Duration::ZERO, false)),
    };
    State::Attempting {
        attempt,
        timer,
        permit: Some(permit),
        started,
        limit,
    }
}

pin_project! {
    /// Where a [`ResponseFuture`] is.
    #[project = StateProj]
    enum State<Fut, Sleep, O> {
        /// An attempt in flight, under its permit (dropped unrecorded if the
        /// future is), raced against its time limit if it has one. Once the
        /// attempt's result is recorded (`permit: None`), the call's last state
        /// if the call is over: the healthy path writes no new state.
        Attempting {
            #[pin]
            attempt: Fut,
            #[pin]
            timer: Option<Sleep>,
            permit: Option<OwnedPermit>,
            started: Option<u64>,
            // The time limit and whether it is the deadline's (with a timer).
            limit: (Duration, bool),
        },
        /// Backing off before the next attempt.
        Sleeping {
            #[pin]
            sleep: Sleep,
        },
        /// Waiting for the service clone's `poll_ready`; then the permit and
        /// the next attempt.
        Readying,
        /// Stopped before an attempt (the breaker refused the first one): the
        /// outcome, for the first poll (`None` after it).
        Stopped {
            outcome: Option<O>,
        },
        /// Resolved.
        Done,
    }
}

pin_project! {
    /// The response future of [`GuardService`]: resolves to the inner service's
    /// response or a [`GuardError`].
    ///
    /// A state machine over the guard's call (attempting, sleeping, waiting for
    /// the inner service to be ready), allocating nothing of its own. Dropping
    /// it cancels the call: an attempt in flight is dropped with its permit
    /// unrecorded (no health signal; a half-open probe slot is freed).
    ///
    /// Polling it again after it resolved panics.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(not(feature = "tokio"))] fn main() {}
    /// # #[cfg(feature = "tokio")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), fusebox::ConfigError> {
    /// use fusebox::tower::{GuardLayer, ResponseFuture};
    /// use fusebox::{Breaker, Guard, Retry, TokioSleeper};
    /// use std::sync::Arc;
    /// use tower::{service_fn, Layer, Service};
    ///
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
    ///     .with_sleeper(TokioSleeper);
    /// let mut svc = GuardLayer::new(guard)
    ///     .layer(service_fn(|x: u32| std::future::ready(Ok::<u32, ()>(x * 2))));
    /// let future = svc.call(21); // service_fn is always ready
    /// fn is_send<T: Send + 'static>(_: &T) {}
    /// is_send(&future); // spawnable
    /// assert_eq!(future.await, Ok(42));
    /// # Ok(())
    /// # }
    /// ```
    pub struct ResponseFuture<S, Req, C, Sl, P, F>
    where
        S: Service<Req>,
        Sl: AsyncSleeper,
    {
        #[pin]
        inner: Machine<S, Req, Arc<Guard<C, Sl>>, P, F>,
    }
}

pin_project! {
    /// The call of a response future: its state, the call's core over the
    /// holder `H` (a guard in an `Arc`, or a registry entry and a shared policy),
    /// and what retries need.
    pub(crate) struct Machine<S, Req, H, P, F>
    where
        S: Service<Req>,
        H: Holder,
        H::S: AsyncSleeper,
    {
        #[pin]
        state: State<S::Future, <H::S as AsyncSleeper>::Sleep, Outcome<S::Response, S::Error>>,
        call: Call<H, S::Response, S::Error>,
        // The service clone for retries; `None` when there will be none.
        service: Option<S>,
        // The copy of the request for the next attempt.
        request: Option<Req>,
        policy: P,
        on_stop: F,
        timed: bool,
    }
}

impl<S, Req, C, Sl, P, F> Future for ResponseFuture<S, Req, C, Sl, P, F>
where
    S: Service<Req>,
    C: Classify<S::Response, S::Error>,
    Sl: AsyncSleeper,
    P: ClonePolicy<Req>,
    F: OnStop<S::Response, S::Error>,
{
    type Output = Result<S::Response, GuardError<S::Error>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<S, Req, H, P, F> Future for Machine<S, Req, H, P, F>
where
    S: Service<Req>,
    H: Holder<Permit = OwnedPermit>,
    H::C: Classify<S::Response, S::Error>,
    H::S: AsyncSleeper,
    P: ClonePolicy<Req>,
    F: OnStop<S::Response, S::Error>,
{
    type Output = Result<S::Response, GuardError<S::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Attempting {
                    attempt,
                    timer,
                    permit,
                    started,
                    limit,
                } => {
                    if permit.is_none() {
                        resolved();
                    }
                    // The attempt first: one ready at its limit wins.
                    let step = match attempt.poll(cx) {
                        Poll::Ready(result) => {
                            let Some(permit) = permit.take() else {
                                unreachable!("checked above")
                            };
                            match *started {
                                None => this.call.finish(permit, result),
                                Some(started) => this.call.finish_timed(permit, result, started),
                            }
                        }
                        Poll::Pending => match timer.as_pin_mut().map(|timer| timer.poll(cx)) {
                            Some(Poll::Ready(())) => {
                                let (permit, (limit, by_deadline)) = (permit.take(), *limit);
                                // Cut: the attempt's future is dropped first.
                                this.state.set(State::Done);
                                let Some(permit) = permit else {
                                    unreachable!("checked above")
                                };
                                this.call.cut(permit, limit, by_deadline)
                            }
                            _ => return Poll::Pending,
                        },
                    };
                    match step {
                        Step::Done(outcome) => return Poll::Ready(stop(&*this.on_stop, outcome)),
                        Step::Sleep(delay) => {
                            let sleep = this.call.holder().sleeper().sleep(delay);
                            this.state.set(State::Sleeping { sleep });
                        }
                    }
                }
                StateProj::Sleeping { sleep } => {
                    ready!(sleep.poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    let Some(service) = this.service.as_mut() else {
                        unreachable!("a call that retries keeps a service")
                    };
                    if let Err(error) = ready!(service.poll_ready(cx)) {
                        this.state.set(State::Done);
                        let outcome = this.call.abandon(error);
                        return Poll::Ready(stop(&*this.on_stop, outcome));
                    }
                    let permit = match this.call.begin() {
                        Ok((permit, _attempt)) => permit,
                        Err(outcome) => {
                            this.state.set(State::Done);
                            return Poll::Ready(stop(&*this.on_stop, outcome));
                        }
                    };
                    // A copy again if another attempt may follow, else the copy.
                    let copy = match this.request.take() {
                        Some(copy) => copy,
                        None => unreachable!("a call that retries keeps a request"),
                    };
                    let request = if this.call.may_retry() {
                        match this.policy.clone_request(&copy) {
                            Some(request) => {
                                *this.request = Some(copy);
                                request
                            }
                            None => {
                                this.call.no_more_retries();
                                copy
                            }
                        }
                    } else {
                        copy
                    };
                    let started = if *this.timed {
                        Some(this.call.holder().breaker().elapsed_ns())
                    } else {
                        None
                    };
                    let attempt = service.call(request);
                    let state = attempting(this.call, attempt, permit, started);
                    this.state.set(state);
                }
                StateProj::Stopped { outcome } => match outcome.take() {
                    Some(outcome) => return Poll::Ready(stop(&*this.on_stop, outcome)),
                    None => resolved(),
                },
                StateProj::Done => resolved(),
            }
        }
    }
}

#[cold]
#[track_caller]
fn resolved() -> ! {
    panic!("fusebox::tower::ResponseFuture polled after it resolved")
}

/// Report the outcome, then turn it into the future's result.
#[inline]
fn stop<T, E, F: OnStop<T, E>>(on_stop: &F, outcome: Outcome<T, E>) -> Result<T, GuardError<E>> {
    on_stop.on_stop(&outcome);
    outcome.into_result()
}

impl<S, Req, C, Sl, P, F> fmt::Debug for ResponseFuture<S, Req, C, Sl, P, F>
where
    S: Service<Req>,
    Sl: AsyncSleeper,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("state", &self.inner.state_name())
            .finish_non_exhaustive()
    }
}

impl<S, Req, H, P, F> Machine<S, Req, H, P, F>
where
    S: Service<Req>,
    H: Holder,
    H::S: AsyncSleeper,
{
    /// Where the call is, for `Debug`.
    pub(crate) fn state_name(&self) -> &'static str {
        match &self.state {
            State::Attempting { permit: None, .. } | State::Done => "done",
            State::Attempting { .. } => "attempting",
            State::Sleeping { .. } => "sleeping",
            State::Readying => "waiting for the service",
            State::Stopped { outcome: Some(_) } => "stopped",
            State::Stopped { outcome: None } => "done",
        }
    }
}
