//! A tower middleware that runs every request through a [`Guard`]: retries,
//! the circuit breaker and the retry budget around any [`Service`].
//!
//! - [`GuardLayer`] wraps a `Guard` (in an `Arc`: every service it makes, and
//!   every clone of those, shares one breaker, one budget and one retry policy);
//! - [`GuardService`] is the middleware: `Response = S::Response`,
//!   `Error = GuardError<S::Error>`;
//! - [`ResponseFuture`] is its future: a hand-written state machine, no boxing,
//!   and no allocation of its own unless the call retries (see
//!   [below](#who-owns-what-and-what-a-call-costs));
//! - [`ClonePolicy`] says how a request is copied for a retry ([`CloneRequest`],
//!   the default, uses `Clone`); a request it cannot copy gets one attempt;
//! - [`OnStop`] is told why each call stopped ([`Outcome`]), `Ok` responses
//!   included: a 503 that was retried until the attempts ran out is returned as
//!   `Ok`, and only the callback says it was [`Stop::Exhausted`](crate::Stop);
//! - [`HedgedGuardLayer`], [`HedgedGuardService`] and [`HedgedResponseFuture`]
//!   are the same around a [`HedgedGuard`](crate::HedgedGuard): hedged
//!   attempts (for idempotent requests only), each on its own clone of the
//!   inner service; no allocation per call, hedges and retries included.
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
//! # Who owns what, and what a call costs
//!
//! A response future is `'static`: it must own what its call needs, the guard
//! (and through it the breaker). Were that a clone of the guard's `Arc`, every
//! request on every thread would write the guard's reference count (two
//! atomic read-modify-writes per request on one cache line, which all threads
//! write), and an owned permit would do the same to the breaker's. So:
//!
//! - **A handle per service.** Each [`GuardService`] holds a *handle*, a small
//!   `Arc` of its own that holds the guard's. A call's future clones the handle
//!   of the service it came through: the count it writes is that service's,
//!   which no other thread's requests write. tower makes a service per
//!   connection or per task by cloning one; a clone uses its parent's handle for
//!   its first call and makes its own (one allocation) at its second, so a clone
//!   that serves one request (axum clones a route's service per request)
//!   allocates nothing, and one that serves many has a count to itself. The
//!   handle's pointer is padded onto a cache line of its own, away from its
//!   counts, and so are the guard's fields in the guard's `Arc` (a [`Guard`] is
//!   aligned to a line): what every call reads is on lines no call writes.
//! - **The permit beside the handle.** The attempt's permit is kept as its
//!   ticket next to the handle, and recorded (or, when the future is dropped,
//!   cancelled) on the breaker the handle reaches: no clone of the breaker's
//!   `Arc`, as an [`OwnedPermit`](crate::OwnedPermit) would make.
//! - **A lean first attempt.** Until its first attempt ends, the future holds
//!   that attempt's future, the timer it may race (with a deadline or an
//!   attempt timeout), the handle and the ticket, and what a retry would need
//!   to send the request again (a copy of it, a clone of the inner service);
//!   a success ends the call there. The retry machinery's state (attempt
//!   count, backoff sequence, the last result across a sleep) is made only by
//!   an attempt that does not succeed, and kept, boxed, only by a call that
//!   goes on to a retry: one allocation per call that retries, none
//!   otherwise.
//!
//! With the race bench's setup (`benches/race.rs`, `layer/*`: default breaker,
//! `Retry` and classifier, a `service_fn` that answers at once) a healthy
//! request through [`GuardService`] counts about 254 instructions
//! (`examples/instructions.rs`, path `layer`), down from 330 with a shared
//! `Arc` per request, and its future is 200 bytes with tokio's `Sleep` as the
//! timer, down from 336; it takes about 26 ns on one thread and the same on
//! two (it took 54 and 389 with the shared `Arc`), against 2.6 for the inner
//! service alone. Most of what is left is the handle's two atomic operations
//! (an increment in `call`, a decrement when the future is dropped), on a line
//! only that service's requests write, so they do not grow with the number of
//! threads: see `docs/DESIGN.md`, section 8g.
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
//!
//! # Importing
//!
//! Import the items, not the module. `use fusebox::tower;` brings a module
//! named `tower` into scope, which shadows the `tower` crate there: `use
//! tower::ServiceBuilder;` then fails with `E0432: unresolved import
//! tower::ServiceBuilder: no ServiceBuilder in tower` (and
//! `tower::ServiceBuilder::new()` with E0433). Write
//!
//! ```
//! use fusebox::tower::GuardLayer;
//! use tower::ServiceBuilder;
//! # let _ = ServiceBuilder::new();
//! # let _ = GuardLayer::<(), fusebox::ManualSleeper>::from_arc;
//! ```
//!
//! (or, to keep a module path, `use fusebox::tower as guard_tower;`).
//!
//! # A guarded client kept in shared state
//!
//! A service stored in state that handlers share (an axum `State`, a struct
//! in an `Arc` moved into spawned tasks) must be `Clone + Send + Sync`, and
//! its type nameable. Box it as `tower::util::BoxCloneSyncService`:
//! `BoxCloneService` is `Send` but not `Sync`, so a state holding it is not
//! `Sync`, and neither axum's `State` nor `tokio::spawn` of an `Arc` of it
//! accepts it. Each user clones the service and calls its clone (`call` takes
//! `&mut self`; the clones share the guard):
//!
//! ```
//! # #[cfg(not(feature = "tokio"))] fn main() {}
//! # #[cfg(feature = "tokio")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use fusebox::tower::GuardLayer;
//! use fusebox::{Breaker, Guard, GuardError, Retry, TokioSleeper};
//! use std::sync::Arc;
//! use tower::util::BoxCloneSyncService;
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! /// The downstream as the handlers see it.
//! type Inventory = BoxCloneSyncService<String, String, GuardError<std::io::Error>>;
//!
//! #[derive(Clone)]
//! struct AppState {
//!     inventory: Inventory,
//! }
//!
//! let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
//!     .with_sleeper(TokioSleeper);
//! let inventory = ServiceBuilder::new()
//!     .layer(GuardLayer::new(guard))
//!     .service(service_fn(|item: String| async move {
//!         Ok::<_, std::io::Error>(format!("{item}: 3 in stock"))
//!     }));
//! let state = Arc::new(AppState { inventory: BoxCloneSyncService::new(inventory) });
//!
//! /// What axum asks of a router's state.
//! fn usable_as_axum_state<S: Clone + Send + Sync + 'static>(_: &S) {}
//! usable_as_axum_state(&*state);
//!
//! let mut handlers = Vec::new();
//! for item in ["bolts", "nuts"] {
//!     let state = Arc::clone(&state);
//!     handlers.push(tokio::spawn(async move {
//!         let mut inventory = state.inventory.clone();
//!         inventory.ready().await?.call(item.to_string()).await
//!     }));
//! }
//! let mut answers = Vec::new();
//! for handler in handlers {
//!     answers.push(handler.await??);
//! }
//! assert_eq!(answers, ["bolts: 3 in stock", "nuts: 3 in stock"]);
//! # Ok(())
//! # }
//! ```
//!
//! The same with `BoxCloneService` does not compile: the state is not `Sync`
//! ("future cannot be sent between threads safely").
//!
//! ```compile_fail
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use fusebox::tower::GuardLayer;
//! use fusebox::{Breaker, Guard, GuardError, ManualClock, ManualSleeper, Retry};
//! use std::sync::Arc;
//! use tower::util::BoxCloneService;
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! struct AppState {
//!     inventory: BoxCloneService<String, String, GuardError<std::io::Error>>,
//! }
//!
//! let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
//!     .with_sleeper(ManualSleeper::new(ManualClock::new()));
//! let inventory = ServiceBuilder::new()
//!     .layer(GuardLayer::new(guard))
//!     .service(service_fn(|item: String| async move { Ok::<_, std::io::Error>(item) }));
//! let state = Arc::new(AppState { inventory: BoxCloneService::new(inventory) });
//! let handler = tokio::spawn(async move {
//!     let mut inventory = state.inventory.clone();
//!     inventory.ready().await?.call("bolts".to_string()).await
//! });
//! # Ok(())
//! # }
//! ```

use crate::breaker::{Breaker, HeldPermit};
use crate::budget::RetryBudget;
use crate::classify::{Classification, Classify};
use crate::error::Rejected;
use crate::guard::{
    Call, First, Guard, GuardError, Holder, Outcome, Step, admit_first, first_success, limit_of,
    record_with, refused_outcome, tell_refused, timed,
};
use crate::retry::Retry;
use crate::sleep::AsyncSleeper;
use crossbeam_utils::CachePadded;
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

mod hedged;
pub use hedged::{HedgedGuardLayer, HedgedGuardService, HedgedResponseFuture};
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
///
/// A request that is not `Clone` needs a policy: with the default one
/// ([`CloneRequest`]) the service is no `Service` of it, and the error names
/// the fix (here from a call by path; a method call, `svc.ready()` or
/// `svc.call(req)`, is an E0599 that lists the same missing
/// `CloneRequest: ClonePolicy<Upload>`, without the notes):
///
/// ```compile_fail,E0277
/// use fusebox::tower::GuardLayer;
/// use fusebox::{Breaker, Guard, ManualClock, ManualSleeper, Retry};
/// use std::sync::Arc;
/// use tower::{service_fn, Layer, Service};
///
/// /// Not `Clone`.
/// struct Upload(Vec<u8>);
///
/// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
///     .with_sleeper(ManualSleeper::new(ManualClock::new()));
/// let mut svc = GuardLayer::new(guard)
///     .layer(service_fn(|up: Upload| async move { Ok::<usize, ()>(up.0.len()) }));
/// let sent = Service::call(&mut svc, Upload(vec![1, 2, 3])); // `CloneRequest` cannot copy an `Upload`
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
///
/// With a policy it is one (`Upload`s copied by hand here):
///
/// ```
/// # use fusebox::tower::GuardLayer;
/// # use fusebox::{Breaker, Guard, ManualClock, ManualSleeper, Retry};
/// # use std::sync::Arc;
/// # use tower::{service_fn, Layer, Service};
/// # struct Upload(Vec<u8>);
/// # let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
/// #     .with_sleeper(ManualSleeper::new(ManualClock::new()));
/// let mut svc = GuardLayer::new(guard)
///     .clone_requests_with(|up: &Upload| Some(Upload(up.0.clone())))
///     .layer(service_fn(|up: Upload| async move { Ok::<usize, ()>(up.0.len()) }));
/// let sent = Service::call(&mut svc, Upload(vec![1, 2, 3]));
/// # drop(sent);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot copy the request type `{Req}` for a retry",
    label = "no `ClonePolicy<{Req}>`",
    note = "`GuardLayer` copies each request it may retry: by default with `Clone` (`CloneRequest`), so the request type must be `Clone`, or the layer needs a clone policy",
    note = "for `reqwest::Request` (not `Clone`): `GuardLayer::new(guard).clone_requests_with(fusebox::reqwest::TryCloneRequest)` (features `reqwest` and `tower`)",
    note = "for anything else: `.clone_requests_with(|req: &Req| -> Option<Req> {{ .. }})` (`None`: that request gets one attempt)"
)]
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
/// policy. Each service it makes gets its own handle on that `Arc` (one small
/// allocation; see the [module documentation](self#who-owns-what-and-what-a-call-costs)). The guard needs an [`AsyncSleeper`] (e.g.
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

/// Bounded on [`AsyncSleeper`] here, where the layer is made, though only the
/// service's `Service` impl uses it: a guard left on `Guard::new`'s blocking
/// `ThreadSleeper` (a forgotten `.with_sleeper(TokioSleeper)`) is then an error
/// on this line that names the fix, not an unexplained E0599 ("the method
/// `ready` exists ... but its trait bounds were not satisfied") at the first
/// call, far away.
impl<C, Sl: AsyncSleeper> GuardLayer<C, Sl> {
    /// A layer running every request through `guard`, cloning requests with
    /// `Clone` and reporting nothing.
    ///
    /// The guard needs an [`AsyncSleeper`]: `Guard::new`'s default sleeper
    /// blocks the thread, and does not compile here.
    ///
    /// ```compile_fail,E0277
    /// use fusebox::tower::GuardLayer;
    /// use fusebox::{Breaker, Guard, Retry};
    /// use std::sync::Arc;
    ///
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default());
    /// let layer = GuardLayer::new(guard); // error: `ThreadSleeper` is not an `AsyncSleeper`
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn new(guard: Guard<C, Sl>) -> Self {
        Self::from_arc(Arc::new(guard))
    }

    /// [`new`](Self::new) with a guard already shared.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::tower::GuardLayer;
    /// use fusebox::{Breaker, Guard, ManualClock, ManualSleeper, Retry};
    /// use std::sync::Arc;
    ///
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
    ///     .with_sleeper(ManualSleeper::new(ManualClock::new()));
    /// let guard = Arc::new(guard);
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
    /// use fusebox::{Breaker, Guard, ManualClock, ManualSleeper, Retry};
    /// use std::sync::Arc;
    ///
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
    ///     .with_sleeper(ManualSleeper::new(ManualClock::new()));
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
    /// use fusebox::{Breaker, Guard, ManualClock, ManualSleeper, Outcome, Retry};
    /// use std::sync::Arc;
    ///
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
    ///     .with_sleeper(ManualSleeper::new(ManualClock::new()));
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
            share: Share::new(Arc::clone(&self.guard)),
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
/// A clone shares the guard. Its calls' futures hold its parent's handle on
/// the guard for its first call, then a handle of its own, made (one small
/// allocation) at its second: a clone made per connection or per task then
/// writes no reference count that another one writes (see the
/// [module documentation](self#who-owns-what-and-what-a-call-costs)).
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
    share: Share<Guard<C, Sl>>,
    policy: P,
    on_stop: F,
}

impl<S, C, Sl, P, F> GuardService<S, C, Sl, P, F> {
    /// The guard (shared with the layer and every clone).
    pub fn guard(&self) -> &Arc<Guard<C, Sl>> {
        self.share.shared()
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
            share: self.share.clone(),
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
            .field("guard", self.guard())
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
                self.share.for_call(),
                request,
                &self.policy,
                &self.on_stop,
            ),
        }
    }
}

/// One service clone's hold on what its calls need (the guard, or a registry
/// layer's policy): each response future holds a count of this handle's `Arc`,
/// so that a request writes the reference count of its own service clone's
/// handle, not one that every thread's requests write (see [`Share`]).
pub(crate) struct Handle<T> {
    /// Padded: the `Arc`'s counts head its allocation, so the pointer every
    /// call reads is on a line of its own, and no other allocation (another
    /// clone's handle, whose count another thread writes) shares either line.
    shared: CachePadded<Arc<T>>,
}

impl<T> Handle<T> {
    /// What the handle holds.
    #[inline(always)]
    pub(crate) fn get(&self) -> &T {
        &self.shared
    }
}

/// A service's handle (see [`Handle`]), and whether it is the service's own.
///
/// A service made by a layer gets a handle of its own. A clone starts on its
/// parent's (cloning it is one reference count, no allocation), and makes its
/// own on its second call: a clone that serves many requests (one per
/// connection or per task, as tower servers and the race bench make them)
/// then writes only its own handle's count per request, and one made for a
/// single request (axum clones a route's service per request) allocates
/// nothing.
pub(crate) struct Share<T> {
    handle: Arc<Handle<T>>,
    /// Calls made on a handle that is not this service's own (0 or 1), or
    /// [`OWN`](Self::OWN).
    calls: u8,
}

impl<T> Share<T> {
    const OWN: u8 = u8::MAX;

    /// A handle of its own on `shared`.
    pub(crate) fn new(shared: Arc<T>) -> Self {
        Self {
            handle: Arc::new(Handle {
                shared: CachePadded::new(shared),
            }),
            calls: Self::OWN,
        }
    }

    /// What the handle holds, in its `Arc`.
    #[inline(always)]
    pub(crate) fn shared(&self) -> &Arc<T> {
        &self.handle.shared
    }

    /// The handle, for a call's future (one reference count, this service's
    /// own from its second call on).
    #[inline(always)]
    pub(crate) fn for_call(&mut self) -> Arc<Handle<T>> {
        if self.calls != Self::OWN {
            self.settle();
        }
        Arc::clone(&self.handle)
    }

    /// A call on a handle that is not this service's own: the first goes on
    /// the parent's, the second makes one.
    #[cold]
    #[inline(never)]
    fn settle(&mut self) {
        if self.calls == 0 {
            self.calls = 1;
        } else {
            *self = Self::new(Arc::clone(self.shared()));
        }
    }

    /// Whether the handle is this service's own (for tests).
    #[cfg(test)]
    fn is_own(&self) -> bool {
        self.calls == Self::OWN
    }
}

impl<T> Clone for Share<T> {
    /// The parent's handle, until the clone's second call.
    fn clone(&self) -> Self {
        Self {
            handle: Arc::clone(&self.handle),
            calls: 0,
        }
    }
}

/// The holder of a [`GuardService`]'s calls: the service's handle on the guard.
impl<C, Sl> Holder for Arc<Handle<Guard<C, Sl>>> {
    type C = C;
    type S = Sl;
    #[inline(always)]
    fn breaker(&self) -> &Breaker {
        self.get().breaker()
    }
    #[inline(always)]
    fn retry(&self) -> &Retry {
        self.get().retry()
    }
    #[inline(always)]
    fn budget(&self) -> Option<&RetryBudget> {
        self.get().budget().map(|budget| &**budget)
    }
    #[inline(always)]
    fn classifier(&self) -> &C {
        self.get().classifier()
    }
    #[inline(always)]
    fn sleeper(&self) -> &Sl {
        self.get().sleeper()
    }
}

/// `call` of both services: take the permit, copy the request if it may be
/// retried, call the ready inner service, and return the call's machine, on
/// its first attempt (no [`Call`] is made for it: see [`Machine`]).
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
    H: Holder,
    H::C: Classify<S::Response, S::Error>,
    H::S: AsyncSleeper,
    P: ClonePolicy<Req> + Clone,
    F: Clone,
{
    let mut held = HeldPermit::new(holder);
    let (owner, ticket) = held.parts_mut();
    let first = match admit_first(owner, ticket) {
        Ok(first) => first,
        Err(rejected) => {
            // Rejected: the inner service is not called (and stays ready).
            tell_refused(held.owner().breaker());
            return Machine {
                state: State::Rejected {
                    rejected: Some(rejected),
                },
                held,
                first: First {
                    start_ns: None,
                    sample: None,
                },
                retry: None,
                service: None,
                request: None,
                policy: policy.clone(),
                on_stop: on_stop.clone(),
            };
        }
    };
    let holder = held.owner();
    // A copy for the next attempt, and the ready service for this one (a fresh
    // clone stays behind for the caller's next `poll_ready`), only when there may
    // be a next attempt. Without a copy, this attempt is the call's last.
    let mut service = None;
    let mut copy = None;
    if holder.retry().max_attempts() > 1 {
        copy = policy.clone_request(&request);
        if copy.is_some() {
            let clone = inner.clone();
            service = Some(mem::replace(inner, clone));
        }
    }
    let started = timed::<H, S::Response, S::Error>(holder).then(|| holder.breaker().elapsed_ns());
    let attempt = match &mut service {
        Some(service) => service.call(request),
        None => inner.call(request),
    };
    let timer = first_limit(holder).map(|(limit, _)| holder.sleeper().sleep(limit));
    Machine {
        state: State::Attempting {
            attempt,
            timer,
            started,
        },
        held,
        first,
        retry: None,
        service,
        request: copy,
        policy: policy.clone(),
        on_stop: on_stop.clone(),
    }
}

/// The first attempt's time limit (the deadline, all of it, or the attempt
/// timeout, whichever is sooner), as [`Call::limit`] gives a retry's.
#[inline]
fn first_limit<H: Holder>(holder: &H) -> Option<(Duration, bool)> {
    let retry = holder.retry();
    limit_of(retry.deadline(), retry.attempt_timeout())
}

pin_project! {
    /// Where a [`ResponseFuture`] is.
    #[project = StateProj]
    enum State<Fut, Sleep> {
        /// An attempt in flight, its permit in the machine's `held` (dropped
        /// unrecorded if the future is), raced against its time limit if it has
        /// one, and its start on the breaker's clock if it is timed. Once the
        /// attempt's result is recorded (nothing held), the call's last state
        /// if the call is over: the healthy path writes no new state.
        Attempting {
            #[pin]
            attempt: Fut,
            #[pin]
            timer: Option<Sleep>,
            started: Option<u64>,
        },
        /// Backing off before the next attempt.
        Sleeping {
            #[pin]
            sleep: Sleep,
        },
        /// Waiting for the service clone's `poll_ready`; then the permit and
        /// the next attempt.
        Readying,
        /// The breaker refused the first attempt: its refusal, for the first
        /// poll (`None` after it).
        Rejected {
            rejected: Option<Rejected>,
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
    /// the inner service to be ready). Its first attempt holds what that
    /// attempt needs and no more (the inner future, the service's handle on
    /// the guard and the attempt's ticket, what a retry would need to resend
    /// the request); a call that goes on to a retry keeps its retry state in
    /// one allocation, made at its first retry. So a call that succeeds at
    /// once, or stops without a retry, allocates nothing. Dropping it cancels
    /// the call: an attempt in flight is dropped with its permit unrecorded
    /// (no health signal; a half-open probe slot is freed).
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
        inner: Machine<S, Req, Arc<Handle<Guard<C, Sl>>>, P, F>,
    }
}

pin_project! {
    /// The call of a response future, over the holder `H` (a service's handle
    /// on its guard, or a registry entry and a service's handle on the shared
    /// policy).
    ///
    /// The first attempt is run without a [`Call`]: [`admit_first`] takes its
    /// permit into `held` and notes what a call would need (`first`), and its
    /// end is recorded here, as `Call::finish` records it. Only an attempt that
    /// does not end in a success on the healthy path (a failure, a timed
    /// attempt, a cut) makes the `Call`, on the stack, and a call that goes on
    /// to a retry keeps it in `retry`, boxed: the first attempt's future holds
    /// none of the retry machinery's state.
    pub(crate) struct Machine<S, Req, H, P, F>
    where
        S: Service<Req>,
        H: Holder,
        H::S: AsyncSleeper,
    {
        #[pin]
        state: State<S::Future, <H::S as AsyncSleeper>::Sleep>,
        // The holder, and the ticket of the attempt in flight, if any. After
        // `state` (fields drop in order): a dropped future drops the attempt's
        // future first, then cancels its permit.
        held: HeldPermit<H>,
        // What the first attempt's admission noted, for its call.
        first: First,
        // The call, from the first retry on.
        retry: Option<Box<Call<H, S::Response, S::Error>>>,
        // The service clone for retries; `None` when there will be none.
        service: Option<S>,
        // The copy of the request for the next attempt.
        request: Option<Req>,
        policy: P,
        on_stop: F,
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
    H: Holder + Clone,
    H::C: Classify<S::Response, S::Error>,
    H::S: AsyncSleeper,
    P: ClonePolicy<Req>,
    F: OnStop<S::Response, S::Error>,
{
    type Output = Result<S::Response, GuardError<S::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let step = match this.state.as_mut().project() {
                StateProj::Attempting {
                    attempt,
                    timer,
                    started,
                } => {
                    if !this.held.holds() {
                        resolved();
                    }
                    // The attempt first: one ready at its limit wins.
                    match attempt.poll(cx) {
                        Poll::Ready(result) => {
                            let started = *started;
                            let Some((permit, holder)) = this.held.take() else {
                                unreachable!("checked above")
                            };
                            match this.retry {
                                Some(call) => match started {
                                    None => call.finish(permit, result),
                                    Some(started) => call.finish_timed(permit, result, started),
                                },
                                // The first attempt, untimed: rule 2 here, as
                                // `Call::finish` applies it, and a success is
                                // the call's end (the healthy path).
                                None if started.is_none() => {
                                    let class = holder.classifier().classify(&result);
                                    let first = *this.first;
                                    let _recorded = record_with(
                                        holder.breaker(),
                                        permit,
                                        class.verdict(),
                                        first.sample,
                                    );
                                    if let Classification::Success = class {
                                        let outcome = first_success(holder.breaker(), result);
                                        return Poll::Ready(stop(&*this.on_stop, outcome));
                                    }
                                    let first = First {
                                        sample: None,
                                        ..first
                                    };
                                    let last = this.request.is_none();
                                    first_call(holder, first, last, this.retry, |call| {
                                        call.after_first_record(class, Some(result))
                                    })
                                }
                                None => {
                                    let (first, last) = (*this.first, this.request.is_none());
                                    first_call(holder, first, last, this.retry, |call| {
                                        call.finish_timed(permit, result, started.unwrap_or(0))
                                    })
                                }
                            }
                        }
                        Poll::Pending => match timer.as_pin_mut().map(|timer| timer.poll(cx)) {
                            Some(Poll::Ready(())) => {
                                // Cut: the attempt's future is dropped first.
                                this.state.set(State::Done);
                                let Some((permit, holder)) = this.held.take() else {
                                    unreachable!("checked above")
                                };
                                match this.retry {
                                    Some(call) => {
                                        let (limit, by_deadline) =
                                            call.limit().unwrap_or((Duration::ZERO, false));
                                        call.cut(permit, limit, by_deadline)
                                    }
                                    None => {
                                        let (limit, by_deadline) =
                                            first_limit(holder).unwrap_or((Duration::ZERO, false));
                                        let (first, last) = (*this.first, this.request.is_none());
                                        first_call(holder, first, last, this.retry, |call| {
                                            call.cut(permit, limit, by_deadline)
                                        })
                                    }
                                }
                            }
                            _ => return Poll::Pending,
                        },
                    }
                }
                StateProj::Sleeping { sleep } => {
                    ready!(sleep.poll(cx));
                    this.state.set(State::Readying);
                    continue;
                }
                StateProj::Readying => {
                    let (Some(call), Some(service)) =
                        (this.retry.as_deref_mut(), this.service.as_mut())
                    else {
                        unreachable!("a call that retries keeps its call and a service")
                    };
                    if let Err(error) = ready!(service.poll_ready(cx)) {
                        this.state.set(State::Done);
                        let outcome = call.abandon(error);
                        return Poll::Ready(stop(&*this.on_stop, outcome));
                    }
                    if let Err(outcome) = call.begin_held(this.held) {
                        this.state.set(State::Done);
                        return Poll::Ready(stop(&*this.on_stop, outcome));
                    }
                    // A copy again if another attempt may follow, else the copy.
                    let Some(copy) = this.request.take() else {
                        unreachable!("a call that retries keeps a request")
                    };
                    let request = if call.may_retry() {
                        match this.policy.clone_request(&copy) {
                            Some(request) => {
                                *this.request = Some(copy);
                                request
                            }
                            None => {
                                call.no_more_retries();
                                copy
                            }
                        }
                    } else {
                        copy
                    };
                    let holder = call.holder();
                    let started = call.timed().then(|| holder.breaker().elapsed_ns());
                    let attempt = service.call(request);
                    let timer = call.limit().map(|(limit, _)| holder.sleeper().sleep(limit));
                    this.state.set(State::Attempting {
                        attempt,
                        timer,
                        started,
                    });
                    continue;
                }
                StateProj::Rejected { rejected } => match rejected.take() {
                    Some(rejected) => {
                        return Poll::Ready(stop(&*this.on_stop, refused_outcome(rejected)));
                    }
                    None => resolved(),
                },
                StateProj::Done => resolved(),
            };
            match step {
                Step::Done(outcome) => return Poll::Ready(stop(&*this.on_stop, outcome)),
                Step::Sleep(delay) => {
                    let sleep = this.held.owner().sleeper().sleep(delay);
                    this.state.set(State::Sleeping { sleep });
                }
            }
        }
    }
}

/// The end of a first attempt off the healthy path (a failure, a timed
/// attempt, a cut): a [`Call`] made now, on the stack over the borrowed
/// holder, as after the attempt's admission (`last`: the attempt is the
/// call's last, its request not copied), goes on with `finish`. If a retry
/// follows, the call is kept in `retry`, boxed, over a clone of the holder:
/// the future's only allocation, made once, by a call that retries.
#[inline(never)]
fn first_call<H, T, E>(
    holder: &H,
    first: First,
    last: bool,
    retry: &mut Option<Box<Call<H, T, E>>>,
    finish: impl FnOnce(&mut Call<&H, T, E>) -> Step<T, E>,
) -> Step<T, E>
where
    H: Holder + Clone,
    H::C: Classify<T, E>,
{
    let mut call = Call::after_first(holder, first.start_ns, first.sample);
    if last {
        call.no_more_retries();
    }
    let step = finish(&mut call);
    if let Step::Sleep(_) = step {
        *retry = Some(Box::new(call.with_holder(holder.clone())));
    }
    step
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
            State::Attempting { .. } if self.held.holds() => "attempting",
            State::Attempting { .. } | State::Done => "done",
            State::Sleeping { .. } => "sleeping",
            State::Readying => "waiting for the service",
            State::Rejected { rejected: Some(_) } => "stopped",
            State::Rejected { rejected: None } => "done",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_makes_its_own_handle_on_its_second_call() {
        let guard = Arc::new(0u8);
        let mut parent = Share::new(Arc::clone(&guard));
        assert!(parent.is_own(), "a layered service's handle is its own");
        let first = parent.for_call();
        assert!(Arc::ptr_eq(&first, &parent.handle));
        assert!(parent.is_own(), "and stays so");

        let mut child = parent.clone();
        assert!(!child.is_own());
        let call = child.for_call();
        assert!(
            Arc::ptr_eq(&call, &parent.handle),
            "the first call: the parent's"
        );
        assert!(!child.is_own());
        let call = child.for_call();
        assert!(!Arc::ptr_eq(&call, &parent.handle), "the second: its own");
        assert!(child.is_own());
        assert!(Arc::ptr_eq(child.shared(), &guard), "on the same guard");
        let again = child.for_call();
        assert!(Arc::ptr_eq(&again, &call), "kept");
        assert_eq!(Arc::strong_count(&guard), 3, "the two handles and ours");
    }

    #[test]
    fn the_hot_reads_are_off_the_reference_counts_lines() {
        // An `Arc`'s counts take the first 16 bytes of its allocation and its
        // value starts at the value's alignment: aligned to a (padded) line,
        // the value starts on the line after the counts'.
        let line = std::mem::align_of::<CachePadded<()>>();
        assert!(line >= 64);
        assert!(
            std::mem::align_of::<Handle<u8>>() >= line,
            "a handle's pointer"
        );
        assert!(std::mem::align_of::<Guard>() >= line, "a guard's fields");
        #[cfg(feature = "registry")]
        assert!(
            std::mem::align_of::<keyed::Policy<(), ()>>() >= line,
            "a registry layer's policy's fields"
        );
        let share = Share::new(Arc::new(0u8));
        assert_eq!(Arc::as_ptr(&share.handle) as usize % line, 0);
    }
}
