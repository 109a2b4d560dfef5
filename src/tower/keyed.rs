//! The registry layer: the breaker and budget picked per request by a key taken
//! from the request (see [`RegistryLayer`]).

use super::{ClonePolicy, CloneRequest, Handle, Machine, OnStop, Share, start};
use crate::breaker::Breaker;
use crate::budget::RetryBudget;
use crate::classify::{Classify, DefaultClassifier};
use crate::guard::{GuardError, Holder};
use crate::registry::{Entry, Registry};
use crate::retry::Retry;
use crate::sleep::{AsyncSleeper, ThreadSleeper};
use crossbeam_utils::CachePadded;
use pin_project_lite::pin_project;
use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// How a [`RegistryService`] finds the registry key of a request.
///
/// The key is lent to a closure rather than returned, so that it may be
/// borrowed from the request (a `&str` host looked up in a `Registry<String>`:
/// no allocation on a hit) or computed on the stack (a port, an enum).
///
/// Implemented by:
///
/// - every closure `Fn(&Req) -> K` returning an owned key (the registry is
///   looked up by `&K`; a `String` made per request allocates, so for string
///   keys borrow one with [`key_ref`]);
/// - [`KeyRef`], made by [`key_ref`] from a closure `Fn(&Req) -> &Q` that
///   borrows the key from the request;
/// - [`Authority`] and [`Host`] for `http::Request`s (features `tower` and
///   `http`).
///
/// # Examples
///
/// ```
/// use fusebox::tower::{key_ref, RequestKey};
///
/// struct Req { shard: u8, host: String }
/// let req = Req { shard: 3, host: "db-3.internal".into() };
///
/// let by_shard = |req: &Req| req.shard; // owned
/// assert_eq!(by_shard.with_key(&req, |k| *k), 3);
/// let by_host = key_ref(|req: &Req| req.host.as_str()); // borrowed: no allocation
/// assert_eq!(by_host.with_key(&req, |k| k.len()), 13);
/// ```
pub trait RequestKey<Req> {
    /// What the registry is looked up by (`str` for a `Registry<String>`).
    type Key: ?Sized;

    /// Call `f` with `request`'s key.
    fn with_key<R>(&self, request: &Req, f: impl FnOnce(&Self::Key) -> R) -> R;
}

impl<Req, K, F> RequestKey<Req> for F
where
    F: Fn(&Req) -> K,
{
    type Key = K;

    #[inline]
    fn with_key<R>(&self, request: &Req, f: impl FnOnce(&K) -> R) -> R {
        f(&self(request))
    }
}

/// A [`RequestKey`] borrowing the key from the request: made by [`key_ref`].
///
/// # Examples
///
/// ```
/// use fusebox::tower::{KeyRef, RequestKey, key_ref};
///
/// /// A request that carries its tenant; the registry is looked up by `&str`.
/// struct Job {
///     tenant: String,
/// }
/// let by_tenant: KeyRef<_, str> = key_ref(|job: &Job| job.tenant.as_str());
/// let job = Job { tenant: "acme".into() };
/// assert_eq!(by_tenant.with_key(&job, |key: &str| key.len()), 4); // borrowed, not copied
/// ```
pub struct KeyRef<F, Q: ?Sized> {
    f: F,
    // `fn` pointers: `Send`, `Sync` and `'static` whatever `Q` is.
    key: PhantomData<fn() -> *const Q>,
}

/// A [`RequestKey`] from a closure that borrows the key from the request, such
/// as `|req: &Req| req.host.as_str()` (a closure returning a borrow must be
/// passed straight to a function that says so; this is that function).
///
/// # Examples
///
/// ```
/// use fusebox::tower::key_ref;
///
/// let by_path = key_ref(|path: &String| path.split('/').nth(1).unwrap_or(""));
/// # use fusebox::tower::RequestKey;
/// # assert_eq!(by_path.with_key(&"/users/7".to_string(), |k| k.to_string()), "users");
/// # let _ = by_path;
/// ```
pub fn key_ref<Req, Q, F>(f: F) -> KeyRef<F, Q>
where
    Q: ?Sized,
    F: Fn(&Req) -> &Q,
{
    KeyRef {
        f,
        key: PhantomData,
    }
}

impl<Req, Q, F> RequestKey<Req> for KeyRef<F, Q>
where
    Q: ?Sized,
    F: Fn(&Req) -> &Q,
{
    type Key = Q;

    #[inline]
    fn with_key<R>(&self, request: &Req, f: impl FnOnce(&Q) -> R) -> R {
        f((self.f)(request))
    }
}

impl<F: Clone, Q: ?Sized> Clone for KeyRef<F, Q> {
    fn clone(&self) -> Self {
        Self {
            f: self.f.clone(),
            key: PhantomData,
        }
    }
}

impl<F, Q: ?Sized> fmt::Debug for KeyRef<F, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRef").finish_non_exhaustive()
    }
}

/// The key of an `http::Request`: its URI's authority (`host[:port]`, as written,
/// without any `user@`), or, for a request whose URI has none (origin form, as a
/// server receives it), its `Host` header; `""` if it has neither (such requests
/// share the `""` key's entry). Borrowed from the request: looking it up in a
/// `Registry<String>` allocates nothing on a hit.
///
/// The key is taken as written: `Example.com` and `example.com`, or
/// `example.com` and `example.com:443`, are different keys (normalising them
/// would allocate per request). [`Host`] drops the port.
///
/// # Examples
///
/// ```
/// use fusebox::tower::{Authority, RequestKey};
///
/// let req = http::Request::get("https://user@api.example.com:8443/v1").body(()).unwrap();
/// assert_eq!(Authority.with_key(&req, |k: &str| k.to_owned()), "api.example.com:8443");
/// let req = http::Request::get("/v1").header("host", "api.example.com").body(()).unwrap();
/// assert_eq!(Authority.with_key(&req, |k: &str| k.to_owned()), "api.example.com");
/// ```
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
#[derive(Clone, Copy, Debug, Default)]
pub struct Authority;

#[cfg(feature = "http")]
impl<B> RequestKey<http::Request<B>> for Authority {
    type Key = str;

    #[inline]
    fn with_key<R>(&self, request: &http::Request<B>, f: impl FnOnce(&str) -> R) -> R {
        let authority = match request.uri().authority() {
            Some(authority) => authority.as_str(),
            None => host_header(request),
        };
        // Without the user information (`user:password@`), if any.
        f(authority
            .rsplit_once('@')
            .map_or(authority, |(_, rest)| rest))
    }
}

/// The key of an `http::Request`: the host of its URI, or of its `Host` header
/// when the URI has no authority; `""` if neither has one. As [`Authority`],
/// without the port: every port of a host shares its entry.
///
/// # Examples
///
/// ```
/// use fusebox::tower::{Host, RequestKey};
///
/// let req = http::Request::get("http://api.example.com:8080/").body(()).unwrap();
/// assert_eq!(Host.with_key(&req, |k: &str| k.to_owned()), "api.example.com");
/// let req = http::Request::get("/").header("host", "[::1]:8080").body(()).unwrap();
/// assert_eq!(Host.with_key(&req, |k: &str| k.to_owned()), "[::1]");
/// ```
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
#[derive(Clone, Copy, Debug, Default)]
pub struct Host;

#[cfg(feature = "http")]
impl<B> RequestKey<http::Request<B>> for Host {
    type Key = str;

    #[inline]
    fn with_key<R>(&self, request: &http::Request<B>, f: impl FnOnce(&str) -> R) -> R {
        if let Some(host) = request.uri().host() {
            return f(host);
        }
        let header = host_header(request);
        let header = header.rsplit_once('@').map_or(header, |(_, rest)| rest);
        let host = match header.find(']') {
            // An IPv6 literal keeps its brackets.
            Some(end) if header.starts_with('[') => &header[..=end],
            _ => header.split(':').next().unwrap_or(""),
        };
        f(host)
    }
}

/// The `Host` header as text, or `""`.
#[cfg(feature = "http")]
fn host_header<B>(request: &http::Request<B>) -> &str {
    request
        .headers()
        .get(http::header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// The parts of a guard that one registry layer shares between all keys.
pub(crate) struct Policy<C, Sl> {
    retry: Retry,
    classifier: C,
    sleeper: Sl,
    /// No bytes: aligns the policy as a padded value, so that in its `Arc` the
    /// fields every call reads are off the line of the counts (written when a
    /// service clone makes its handle), as a [`Guard`](crate::Guard)'s are.
    _line: CachePadded<()>,
}

/// A call's holder: the service's handle on the layer's policy and the key's
/// registry entry (its breaker and budget). Two reference counts per call (the
/// handle's, the service clone's own, and the entry's, shared by the key's
/// calls), no allocation.
pub(crate) struct Keyed<C, Sl> {
    policy: Arc<Handle<Policy<C, Sl>>>,
    entry: Entry,
}

impl<C, Sl> Clone for Keyed<C, Sl> {
    fn clone(&self) -> Self {
        Self {
            policy: Arc::clone(&self.policy),
            entry: self.entry.clone(),
        }
    }
}

impl<C, Sl> Holder for Keyed<C, Sl> {
    type C = C;
    type S = Sl;
    #[inline(always)]
    fn breaker(&self) -> &Breaker {
        self.entry.breaker()
    }
    #[inline(always)]
    fn retry(&self) -> &Retry {
        &self.policy.get().retry
    }
    #[inline(always)]
    fn budget(&self) -> Option<&RetryBudget> {
        self.entry.budget().map(|budget| &**budget)
    }
    #[inline(always)]
    fn classifier(&self) -> &C {
        &self.policy.get().classifier
    }
    #[inline(always)]
    fn sleeper(&self) -> &Sl {
        &self.policy.get().sleeper
    }
}

/// A [`Layer`] that runs every request through the breaker and budget of its
/// key's [`Registry`] entry: one breaker per downstream host behind one
/// middleware.
///
/// Made from a registry (shared: the layer, its services and their clones all
/// look keys up in it), a [`RequestKey`] that finds each request's key, and the
/// retry policy (with a classifier and a sleeper, shared by every key, as in a
/// [`Guard`](crate::Guard)). Everything else is as [`GuardLayer`](super::GuardLayer):
/// the same [`ClonePolicy`], [`OnStop`], permit in `call`, drop = cancel, and
/// the same call core, so the same rules and events (each key's events are its
/// own breaker's).
///
/// `call` looks the key up (a hit takes no lock and allocates nothing: see
/// [`Registry::get`]) and holds the entry and the shared policy for the
/// call: no `Guard` is made per request. A key's first use makes its entry; a
/// key that finds the registry full (see
/// [`max_entries`](crate::registry::RegistryBuilder::max_entries)) shares the
/// registry's overflow breaker and budget with every other such key, for that
/// call.
///
/// # Examples
///
/// A registry keyed by authority in front of an HTTP client (here a
/// `service_fn`): one host failing trips its own breaker only.
///
/// ```
/// # #[cfg(not(all(feature = "tokio", feature = "http")))] fn main() {}
/// # #[cfg(all(feature = "tokio", feature = "http"))]
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use fusebox::http::HttpClassifier;
/// use fusebox::tower::{Authority, RegistryLayer};
/// use fusebox::{Breaker, GuardError, Registry, Retry, State, TokioSleeper};
/// use http::{Request, Response, StatusCode};
/// use std::convert::Infallible;
/// use std::sync::Arc;
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// let registry = Arc::new(
///     Registry::<String>::builder()
///         .breaker(|host: Option<&String>| {
///             Breaker::builder()
///                 .name(host.map_or("overflow", String::as_str))
///                 .trip_after_consecutive_failures(2)
///         })
///         .max_entries(256)
///         .build()?,
/// );
/// let client = service_fn(|req: Request<String>| async move {
///     let status = match req.uri().host() {
///         Some("down.example.com") => StatusCode::SERVICE_UNAVAILABLE,
///         _ => StatusCode::OK,
///     };
///     Ok::<_, Infallible>(Response::builder().status(status).body(String::new()).unwrap())
/// });
/// let mut svc = ServiceBuilder::new()
///     .layer(
///         RegistryLayer::new(registry.clone(), Authority, Retry::builder().max_attempts(1).build()?)
///             .with_classifier(HttpClassifier::new())
///             .with_sleeper(TokioSleeper),
///     )
///     .service(client);
///
/// let get = |uri: &str| Request::get(uri).body(String::new()).unwrap();
/// for _ in 0..2 {
///     let r = svc.ready().await?.call(get("http://down.example.com/")).await?;
///     assert_eq!(r.status(), 503); // returned as is, counted as a failure
/// }
/// let r = svc.ready().await?.call(get("http://down.example.com/")).await;
/// assert!(matches!(r, Err(GuardError::Rejected { .. })), "down.example.com is open");
/// let r = svc.ready().await?.call(get("http://up.example.com/")).await?;
/// assert_eq!(r.status(), 200);
/// assert_eq!(registry.get("down.example.com").breaker().snapshot().state, State::Open);
/// assert_eq!(registry.get("up.example.com").breaker().snapshot().state, State::Closed);
/// # Ok(())
/// # }
/// ```
pub struct RegistryLayer<K, KF, C = DefaultClassifier, Sl = ThreadSleeper, P = CloneRequest, F = ()>
{
    registry: Arc<Registry<K>>,
    key: KF,
    policy: Arc<Policy<C, Sl>>,
    clone_policy: P,
    on_stop: F,
}

impl<K, KF> RegistryLayer<K, KF> {
    /// A layer looking each request's key up in `registry` with `key`, and
    /// running it through the entry's breaker and budget under `retry` (default
    /// classifier; set an [`AsyncSleeper`] with [`with_sleeper`](Self::with_sleeper)).
    pub fn new(registry: Arc<Registry<K>>, key: KF, retry: Retry) -> Self {
        Self {
            registry,
            key,
            policy: Arc::new(Policy {
                retry,
                classifier: DefaultClassifier,
                sleeper: ThreadSleeper,
                _line: CachePadded::new(()),
            }),
            clone_policy: CloneRequest,
            on_stop: (),
        }
    }
}

impl<K, KF, C, Sl, P, F> RegistryLayer<K, KF, C, Sl, P, F> {
    /// Classify results with `classifier` (as [`Guard::with_classifier`](crate::Guard::with_classifier)).
    pub fn with_classifier<C2>(self, classifier: C2) -> RegistryLayer<K, KF, C2, Sl, P, F>
    where
        Sl: Clone,
    {
        let (retry, sleeper) = match Arc::try_unwrap(self.policy) {
            Ok(policy) => (policy.retry, policy.sleeper),
            Err(shared) => (shared.retry.clone(), shared.sleeper.clone()),
        };
        RegistryLayer {
            registry: self.registry,
            key: self.key,
            policy: Arc::new(Policy {
                retry,
                classifier,
                sleeper,
                _line: CachePadded::new(()),
            }),
            clone_policy: self.clone_policy,
            on_stop: self.on_stop,
        }
    }

    /// Sleep between attempts with `sleeper`, an [`AsyncSleeper`] (e.g.
    /// [`TokioSleeper`](crate::TokioSleeper)).
    pub fn with_sleeper<Sl2>(self, sleeper: Sl2) -> RegistryLayer<K, KF, C, Sl2, P, F>
    where
        C: Clone,
    {
        let (retry, classifier) = match Arc::try_unwrap(self.policy) {
            Ok(policy) => (policy.retry, policy.classifier),
            Err(shared) => (shared.retry.clone(), shared.classifier.clone()),
        };
        RegistryLayer {
            registry: self.registry,
            key: self.key,
            policy: Arc::new(Policy {
                retry,
                classifier,
                sleeper,
                _line: CachePadded::new(()),
            }),
            clone_policy: self.clone_policy,
            on_stop: self.on_stop,
        }
    }

    /// Copy requests for retries with `policy` (see [`ClonePolicy`]).
    pub fn clone_requests_with<P2>(self, policy: P2) -> RegistryLayer<K, KF, C, Sl, P2, F> {
        RegistryLayer {
            registry: self.registry,
            key: self.key,
            policy: self.policy,
            clone_policy: policy,
            on_stop: self.on_stop,
        }
    }

    /// Tell `on_stop` why each call stopped (see [`OnStop`]).
    pub fn on_stop<F2>(self, on_stop: F2) -> RegistryLayer<K, KF, C, Sl, P, F2> {
        RegistryLayer {
            registry: self.registry,
            key: self.key,
            policy: self.policy,
            clone_policy: self.clone_policy,
            on_stop,
        }
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry<K>> {
        &self.registry
    }

    /// The retry policy (shared by every key).
    pub fn retry(&self) -> &Retry {
        &self.policy.retry
    }
}

impl<K, KF: Clone, C, Sl, P: Clone, F: Clone> Clone for RegistryLayer<K, KF, C, Sl, P, F> {
    fn clone(&self) -> Self {
        Self {
            registry: Arc::clone(&self.registry),
            key: self.key.clone(),
            policy: Arc::clone(&self.policy),
            clone_policy: self.clone_policy.clone(),
            on_stop: self.on_stop.clone(),
        }
    }
}

impl<K: Hash + Eq, KF, C, Sl, P, F> fmt::Debug for RegistryLayer<K, KF, C, Sl, P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryLayer")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

/// Bounded on [`AsyncSleeper`] (which only the service's `Service` impl uses)
/// so that a layer left on `new`'s blocking `ThreadSleeper` is an error where
/// it layers a service, naming `with_sleeper`, not an E0599 at the first call.
impl<S, K, KF: Clone, C, Sl: AsyncSleeper, P: Clone, F: Clone> Layer<S>
    for RegistryLayer<K, KF, C, Sl, P, F>
{
    type Service = RegistryService<S, K, KF, C, Sl, P, F>;

    fn layer(&self, inner: S) -> Self::Service {
        RegistryService {
            inner,
            registry: Arc::clone(&self.registry),
            key: self.key.clone(),
            policy: Share::new(Arc::clone(&self.policy)),
            clone_policy: self.clone_policy.clone(),
            on_stop: self.on_stop.clone(),
        }
    }
}

/// A [`Service`] that runs every request through its key's registry entry (made
/// by [`RegistryLayer`]; otherwise as [`GuardService`](super::GuardService)).
///
/// - `poll_ready` is the inner service's;
/// - `call` finds the request's key, looks it up (making its entry on first
///   use), and takes a permit from that key's breaker; a refusal resolves to
///   [`GuardError::Rejected`] (with `retry_after`) without calling the inner
///   service. Retries go to the same entry: a call's key is found once.
///
/// # Examples
///
/// ```
/// # #[cfg(not(feature = "tokio"))] fn main() {}
/// # #[cfg(feature = "tokio")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), fusebox::ConfigError> {
/// use fusebox::tower::{RegistryLayer, RegistryService, key_ref};
/// use fusebox::{Registry, Retry, TokioSleeper};
/// use std::sync::Arc;
/// use tower::{Layer, Service, ServiceExt, service_fn};
///
/// /// A job for a tenant's backend (`Clone`: a retry sends a copy).
/// #[derive(Clone)]
/// struct Job {
///     tenant: String,
/// }
/// let registry = Arc::new(Registry::<String>::builder().build()?);
/// let layer = RegistryLayer::new(registry.clone(), key_ref(|j: &Job| j.tenant.as_str()), Retry::default())
///     .with_sleeper(TokioSleeper);
/// let mut svc: RegistryService<_, String, _, _, _> =
///     layer.layer(service_fn(|j: Job| async move { Ok::<_, ()>(j.tenant.len()) }));
/// for tenant in ["acme", "globex", "acme"] {
///     let n = svc.ready().await.unwrap().call(Job { tenant: tenant.into() }).await;
///     assert_eq!(n, Ok(tenant.len()));
/// }
/// assert_eq!(registry.len(), 2); // one breaker and budget per tenant
/// # Ok(())
/// # }
/// ```
pub struct RegistryService<
    S,
    K,
    KF,
    C = DefaultClassifier,
    Sl = ThreadSleeper,
    P = CloneRequest,
    F = (),
> {
    inner: S,
    registry: Arc<Registry<K>>,
    key: KF,
    policy: Share<Policy<C, Sl>>,
    clone_policy: P,
    on_stop: F,
}

impl<S, K, KF, C, Sl, P, F> RegistryService<S, K, KF, C, Sl, P, F> {
    /// The registry (shared with the layer and every clone).
    pub fn registry(&self) -> &Arc<Registry<K>> {
        &self.registry
    }

    /// The retry policy (shared by every key).
    pub fn retry(&self) -> &Retry {
        &self.policy.shared().retry
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

impl<S: Clone, K, KF: Clone, C, Sl, P: Clone, F: Clone> Clone
    for RegistryService<S, K, KF, C, Sl, P, F>
{
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            registry: Arc::clone(&self.registry),
            key: self.key.clone(),
            policy: self.policy.clone(),
            clone_policy: self.clone_policy.clone(),
            on_stop: self.on_stop.clone(),
        }
    }
}

impl<S: fmt::Debug, K: Hash + Eq, KF, C, Sl, P, F> fmt::Debug
    for RegistryService<S, K, KF, C, Sl, P, F>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryService")
            .field("inner", &self.inner)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl<S, Req, K, KF, C, Sl, P, F> Service<Req> for RegistryService<S, K, KF, C, Sl, P, F>
where
    S: Service<Req> + Clone,
    K: Borrow<KF::Key> + Hash + Eq + Send + Sync + 'static,
    KF: RequestKey<Req>,
    KF::Key: Hash + Eq + ToOwned<Owned = K>,
    C: Classify<S::Response, S::Error>,
    Sl: AsyncSleeper,
    P: ClonePolicy<Req> + Clone,
    F: OnStop<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = GuardError<S::Error>;
    type Future = RegistryResponseFuture<S, Req, C, Sl, P, F>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|error| GuardError::Permanent { attempts: 0, error })
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let registry = &self.registry;
        let entry = self.key.with_key(&request, |key| registry.get(key));
        let holder = Keyed {
            policy: self.policy.for_call(),
            entry,
        };
        RegistryResponseFuture {
            inner: start(
                &mut self.inner,
                holder,
                request,
                &self.clone_policy,
                &self.on_stop,
            ),
        }
    }
}

pin_project! {
    /// The response future of [`RegistryService`]: as
    /// [`ResponseFuture`](super::ResponseFuture) (no allocation of its own,
    /// dropping it cancels the call), holding the key's registry entry for the
    /// call: a call in flight is a use, so its entry is not evicted (one
    /// removed meanwhile with [`Registry::remove`] goes on working for it).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(not(feature = "tokio"))] fn main() {}
    /// # #[cfg(feature = "tokio")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), fusebox::ConfigError> {
    /// use fusebox::tower::{RegistryLayer, key_ref};
    /// use fusebox::{Registry, Retry, TokioSleeper};
    /// use std::sync::Arc;
    /// use tower::{Layer, Service, service_fn};
    ///
    /// let registry = Arc::new(Registry::<String>::builder().build()?);
    /// let mut svc = RegistryLayer::new(registry.clone(), key_ref(|s: &String| s.as_str()), Retry::default())
    ///     .with_sleeper(TokioSleeper)
    ///     .layer(service_fn(|s: String| std::future::ready(Ok::<usize, ()>(s.len()))));
    /// let future = svc.call("inventory".to_string()); // service_fn is always ready
    /// fn is_send<T: Send + 'static>(_: &T) {}
    /// is_send(&future); // spawnable
    /// assert_eq!(registry.len(), 1); // the entry is made (and held) by the call
    /// assert_eq!(future.await, Ok(9));
    /// # Ok(())
    /// # }
    /// ```
    pub struct RegistryResponseFuture<S, Req, C, Sl, P, F>
    where
        S: Service<Req>,
        Sl: AsyncSleeper,
    {
        #[pin]
        inner: Machine<S, Req, Keyed<C, Sl>, P, F>,
    }
}

impl<S, Req, C, Sl, P, F> Future for RegistryResponseFuture<S, Req, C, Sl, P, F>
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

impl<S, Req, C, Sl, P, F> fmt::Debug for RegistryResponseFuture<S, Req, C, Sl, P, F>
where
    S: Service<Req>,
    Sl: AsyncSleeper,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryResponseFuture")
            .field("state", &self.inner.state_name())
            .finish_non_exhaustive()
    }
}
