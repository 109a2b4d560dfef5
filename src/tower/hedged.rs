//! The hedged tower middleware: [`HedgedGuardLayer`], [`HedgedGuardService`]
//! and [`HedgedResponseFuture`], a [`HedgedGuard`]'s calls around any
//! [`Service`] (`docs/DESIGN.md`, "Hedging").

use super::{ClonePolicy, CloneRequest, Handle, OnStop, Share, first_limit, stop};
use crate::breaker::TicketSlot;
use crate::guard::{
    Call, HedgeHolder, HedgeTally, Hedged, Holder, MakeAttempt, Pins, admit_untimed_first,
    first_success, refused_outcome, tell_refused, timed,
};
use crate::{
    AsyncSleeper, Attempt, Breaker, Classification, Classify, GuardError, Hedge, HedgedGuard,
    Rejected, Retry, RetryBudget,
};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tower_layer::Layer;
use tower_service::Service;

/// A [`Layer`] that runs every request through a [`HedgedGuard`]: the
/// [`GuardLayer`](super::GuardLayer)'s retries, breaker and budget, and
/// hedges (see [`Hedge`]): when an attempt has run longer than the policy's
/// delay, a copy of the request goes to a clone of the inner service, and the
/// first success is the response; the other attempts' futures are dropped and
/// their permits cancelled.
///
/// Hedging resends requests: **for idempotent requests only**. Each hedge is
/// made on its own clone of the inner service, which it polls ready first
/// (holding its permit: an error there is the attempt's error, classified as
/// any); a request the [`ClonePolicy`] cannot copy gets one attempt, no hedge
/// and no retry. Everything else is as [`GuardLayer`](super::GuardLayer).
///
/// # Examples
///
/// ```
/// # #[cfg(not(feature = "tokio"))] fn main() {}
/// # #[cfg(feature = "tokio")]
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), fusebox::ConfigError> {
/// use fusebox::tower::HedgedGuardLayer;
/// use fusebox::{Breaker, Guard, Hedge, Retry, TokioSleeper};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// let hedged = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
///     .with_sleeper(TokioSleeper)
///     .with_hedging(Hedge::after(Duration::from_millis(50))?);
/// // The first request to reach the downstream is stuck; the hedge answers.
/// let sent = Arc::new(AtomicU32::new(0));
/// let mut svc = HedgedGuardLayer::new(hedged).layer(service_fn(move |x: u32| {
///     let n = sent.fetch_add(1, Ordering::Relaxed);
///     async move {
///         if n == 0 {
///             std::future::pending::<()>().await;
///         }
///         Ok::<u32, ()>(x * 2)
///     }
/// }));
/// let started = tokio::time::Instant::now();
/// let r = svc.ready().await.unwrap().call(21).await;
/// assert_eq!(r, Ok(42));
/// assert_eq!(started.elapsed(), Duration::from_millis(50));
/// # Ok(())
/// # }
/// ```
pub struct HedgedGuardLayer<C, Sl, P = CloneRequest, F = ()> {
    guard: Arc<HedgedGuard<C, Sl>>,
    policy: P,
    on_stop: F,
}

/// Bounded on [`AsyncSleeper`] where the layer is made, as
/// [`GuardLayer::new`](super::GuardLayer::new) is.
impl<C, Sl: AsyncSleeper> HedgedGuardLayer<C, Sl> {
    /// A layer running every request through `guard`, cloning requests with
    /// `Clone` and reporting nothing.
    pub fn new(guard: HedgedGuard<C, Sl>) -> Self {
        Self::from_arc(Arc::new(guard))
    }

    /// [`new`](Self::new) with a hedged guard already shared.
    pub fn from_arc(guard: Arc<HedgedGuard<C, Sl>>) -> Self {
        Self {
            guard,
            policy: CloneRequest,
            on_stop: (),
        }
    }
}

impl<C, Sl, P, F> HedgedGuardLayer<C, Sl, P, F> {
    /// Copy requests for hedges and retries with `policy` (see
    /// [`ClonePolicy`]).
    pub fn clone_requests_with<P2>(self, policy: P2) -> HedgedGuardLayer<C, Sl, P2, F> {
        HedgedGuardLayer {
            guard: self.guard,
            policy,
            on_stop: self.on_stop,
        }
    }

    /// Tell `on_stop` why each call stopped (see [`OnStop`];
    /// [`Outcome::winner`](crate::Outcome::winner) says which attempt won).
    pub fn on_stop<F2>(self, on_stop: F2) -> HedgedGuardLayer<C, Sl, P, F2> {
        HedgedGuardLayer {
            guard: self.guard,
            policy: self.policy,
            on_stop,
        }
    }

    /// The hedged guard.
    pub fn guard(&self) -> &Arc<HedgedGuard<C, Sl>> {
        &self.guard
    }
}

impl<C, Sl, P: Clone, F: Clone> Clone for HedgedGuardLayer<C, Sl, P, F> {
    fn clone(&self) -> Self {
        Self {
            guard: Arc::clone(&self.guard),
            policy: self.policy.clone(),
            on_stop: self.on_stop.clone(),
        }
    }
}

impl<C: fmt::Debug, Sl: fmt::Debug, P, F> fmt::Debug for HedgedGuardLayer<C, Sl, P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgedGuardLayer")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl<S, C, Sl, P: Clone, F: Clone> Layer<S> for HedgedGuardLayer<C, Sl, P, F> {
    type Service = HedgedGuardService<S, C, Sl, P, F>;

    fn layer(&self, inner: S) -> Self::Service {
        HedgedGuardService {
            inner,
            share: Share::new(Arc::clone(&self.guard)),
            policy: self.policy.clone(),
            on_stop: self.on_stop.clone(),
        }
    }
}

/// A [`Service`] that runs every request through a [`HedgedGuard`] (made by
/// [`HedgedGuardLayer`], which says how a call goes).
///
/// `poll_ready` is the inner service's (its error becomes
/// [`GuardError::Permanent`] with `attempts: 0`); `call` takes the breaker's
/// permit, calls the ready inner service with the request, and keeps a copy
/// of the request and a clone of the inner service for hedges and retries.
/// The inner service must be `Clone`, and so must the request unless a
/// [`ClonePolicy`] says otherwise.
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
/// use fusebox::tower::HedgedGuardLayer;
/// use fusebox::{Breaker, Guard, GuardError, Hedge, Retry, TokioSleeper};
/// use std::sync::Arc;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// let breaker = Arc::new(Breaker::builder().build()?);
/// let hedged = Guard::new(breaker.clone(), Retry::default())
///     .with_sleeper(TokioSleeper)
///     .with_hedging(Hedge::builder().build()?);
/// let mut svc = HedgedGuardLayer::new(hedged).layer(service_fn(|x: u32| async move {
///     unreachable!("the breaker is open");
///     #[allow(unreachable_code)]
///     Ok::<u32, ()>(x)
/// }));
/// breaker.force_open();
/// let r = svc.ready().await.unwrap().call(7).await;
/// assert!(matches!(r, Err(GuardError::Rejected { attempts: 0, .. })));
/// # Ok(())
/// # }
/// ```
pub struct HedgedGuardService<S, C, Sl, P = CloneRequest, F = ()> {
    inner: S,
    share: Share<HedgedGuard<C, Sl>>,
    policy: P,
    on_stop: F,
}

impl<S, C, Sl, P, F> HedgedGuardService<S, C, Sl, P, F> {
    /// The hedged guard (shared with the layer and every clone).
    pub fn guard(&self) -> &Arc<HedgedGuard<C, Sl>> {
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

impl<S: Clone, C, Sl, P: Clone, F: Clone> Clone for HedgedGuardService<S, C, Sl, P, F> {
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
    for HedgedGuardService<S, C, Sl, P, F>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgedGuardService")
            .field("inner", &self.inner)
            .field("guard", self.guard())
            .finish_non_exhaustive()
    }
}

impl<S, Req, C, Sl, P, F> Service<Req> for HedgedGuardService<S, C, Sl, P, F>
where
    S: Service<Req> + Clone,
    C: Classify<S::Response, S::Error>,
    Sl: AsyncSleeper,
    P: ClonePolicy<Req> + Clone,
    F: OnStop<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = GuardError<S::Error>;
    type Future = HedgedResponseFuture<S, Req, C, Sl, P, F>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|error| GuardError::Permanent { attempts: 0, error })
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let holder = self.share.for_call();
        holder.hedge().deposit_call();
        // The copy for the next attempt (a hedge or a retry), made before the
        // permit is asked for, so that a request that cannot be copied makes a
        // call of one attempt from the start (no hedge timer armed for it).
        let copy = if holder.retry().max_attempts() > 1 {
            self.policy.clone_request(&request)
        } else {
            None
        };
        // A first attempt with no time limit that needs no time (the
        // default) runs without the call's state: as `GuardLayer`'s, the call
        // is made only if it does not succeed at its first poll.
        if first_limit(&holder).is_none() && !timed::<_, S::Response, S::Error>(&holder) {
            return self.lean(holder, request, copy);
        }
        let mut call = Call::tallied(holder);
        if copy.is_none() {
            call.no_more_retries();
        }
        // The first attempt: its permit, then (admitted) the ready inner
        // service called with the request, a clone of it kept for later
        // attempts when there may be any. Refused, the inner service is not
        // called (and stays ready).
        let mut ticket = TicketSlot::EMPTY;
        let first = call.begin_ticket(&mut ticket);
        let (a0, cut, service) = match &first {
            Ok(_) => {
                let service = copy.is_some().then(|| self.inner.clone());
                let cut = call.limit().map(|(d, _)| call.holder().sleeper().sleep(d));
                let future = self.inner.call(request);
                (Some(TowerAttempt::Called { future }), cut, service)
            }
            Err(_) => (None, None, None),
        };
        let make = MakeTower {
            service,
            copy,
            policy: self.policy.clone(),
        };
        // Built in one piece, the call state in place: the future is large
        // (its attempt slots), and each move of it is a copy.
        HedgedResponseFuture {
            a0,
            a1: None,
            a2: None,
            a3: None,
            cut,
            timer: None,
            stage: Stage::Call(Hedged::opened(call, make, ticket, first)),
            on_stop: self.on_stop.clone(),
        }
    }
}

impl<S, C, Sl, P, F> HedgedGuardService<S, C, Sl, P, F> {
    /// `call` with a first attempt that needs no time: its permit held in
    /// [`Stage::Lean`], no call state made.
    #[inline(always)]
    fn lean<Req>(
        &mut self,
        holder: HedgedHandle<C, Sl>,
        request: Req,
        copy: Option<Req>,
    ) -> HedgedResponseFuture<S, Req, C, Sl, P, F>
    where
        S: Service<Req> + Clone,
        C: Classify<S::Response, S::Error>,
        Sl: AsyncSleeper,
        P: ClonePolicy<Req> + Clone,
        F: Clone,
    {
        let mut ticket = TicketSlot::EMPTY;
        let sample = match admit_untimed_first(&holder, &mut ticket) {
            Ok(sample) => sample,
            Err(rejected) => {
                // Refused: the inner service is not called (and stays ready).
                tell_refused(holder.breaker());
                return self.future(None, Stage::Rejected(Some(rejected)));
            }
        };
        let service = copy.is_some().then(|| self.inner.clone());
        let a0 = Some(TowerAttempt::Called {
            future: self.inner.call(request),
        });
        let Some(sample) = sample else {
            // The usual case (no latency sample for the limit), built in
            // place: the future in one literal, so that its fields are
            // written where they stay (parts built apart and copied in
            // stall the copy on the narrower stores that built them).
            return HedgedResponseFuture {
                a0,
                a1: None,
                a2: None,
                a3: None,
                cut: None,
                timer: None,
                stage: Stage::Lean(Lean {
                    holder: Some(holder),
                    ticket,
                    make: Some(MakeTower {
                        service,
                        copy,
                        policy: self.policy.clone(),
                    }),
                }),
                on_stop: self.on_stop.clone(),
            };
        };
        // A sample needs its time: the call's state now.
        let make = MakeTower {
            service,
            copy,
            policy: self.policy.clone(),
        };
        let attempt = Attempt {
            number: 1,
            remaining: None,
            epoch: ticket.epoch(),
        };
        let call = first_call(holder, Some(sample), &make);
        let stage = Stage::Call(Hedged::opened(call, make, ticket, Ok(attempt)));
        self.future(a0, stage)
    }

    /// A response future with its first attempt (if any) and its stage.
    #[inline(always)]
    fn future<Req>(
        &self,
        a0: Option<TowerAttempt<S::Future, S, Req>>,
        stage: TowerStage<S, Req, C, Sl, P>,
    ) -> HedgedResponseFuture<S, Req, C, Sl, P, F>
    where
        S: Service<Req>,
        Sl: AsyncSleeper,
        F: Clone,
    {
        HedgedResponseFuture {
            a0,
            a1: None,
            a2: None,
            a3: None,
            cut: None,
            timer: None,
            stage,
            on_stop: self.on_stop.clone(),
        }
    }
}

/// A hedged service's handle on its guard: the holder of its calls.
type HedgedHandle<C, Sl> = Arc<Handle<HedgedGuard<C, Sl>>>;

/// The stage of a hedged tower call of `S` with requests `Req`.
type TowerStage<S, Req, C, Sl, P> = Stage<
    HedgedHandle<C, Sl>,
    MakeTower<S, Req, P>,
    <S as Service<Req>>::Response,
    <S as Service<Req>>::Error,
>;

/// The call state of a call whose first attempt was admitted (with its
/// latency `sample`, if it is one) outside it, with no deadline.
#[inline]
fn first_call<S, Req, P, C, Sl, T, E>(
    holder: HedgedHandle<C, Sl>,
    sample: Option<(u64, u32)>,
    make: &MakeTower<S, Req, P>,
) -> Call<HedgedHandle<C, Sl>, T, E, HedgeTally>
where
    C: Classify<T, E>,
{
    let mut call = Call::after_first(holder, None, sample);
    if make.copy.is_none() {
        call.no_more_retries();
    }
    call
}

/// Where a hedged tower call is.
// The call's state is in place, not boxed: no allocation per call, and a
// variant's size is what the future holds anyway.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Stage<H: HedgeHolder, M, T, E> {
    /// The first attempt in flight (in `a0`), untimed and with no time limit,
    /// run without the call's state (the healthy path: an answer at its
    /// first poll that succeeds ends the call here).
    Lean(Lean<H, M>),
    /// The call: from the first attempt's first `Pending` or failure on, or
    /// from the start when the first attempt needs time.
    Call(Hedged<H, M, T, E>),
    /// The first attempt refused (the refusal returned by the first poll).
    Rejected(Option<Rejected>),
    /// Returned.
    Done,
}

/// A lean first attempt's permit, and what its call needs if it goes on (in
/// `Option`s, taken when it does).
pub(crate) struct Lean<H: HedgeHolder, M> {
    holder: Option<H>,
    ticket: TicketSlot,
    make: Option<M>,
}

impl<H: HedgeHolder, M> Drop for Lean<H, M> {
    /// A ticket still held is a cancellation (the future was dropped with
    /// the attempt in flight; its future, a field before, dropped first).
    fn drop(&mut self) {
        if let (true, Some(holder)) = (self.ticket.holds(), &self.holder) {
            drop(self.ticket.take(holder.breaker()));
        }
    }
}

/// What makes a hedged tower call's attempts after its first: a copy of the
/// request to a clone of the inner service, polled ready first.
pub(crate) struct MakeTower<S, Req, P> {
    /// The inner service's clone the attempts are cloned from; `None` when
    /// there will be none.
    service: Option<S>,
    /// The copy of the request.
    copy: Option<Req>,
    policy: P,
}

impl<S, Req, P> MakeAttempt<S::Response, S::Error> for MakeTower<S, Req, P>
where
    S: Service<Req> + Clone,
    P: ClonePolicy<Req>,
{
    type Fut = TowerAttempt<S::Future, S, Req>;

    fn make(&mut self, _: Attempt) -> (Self::Fut, bool) {
        let (Some(service), Some(copy)) = (&self.service, &self.copy) else {
            unreachable!("a call that can make another attempt keeps a request and a service")
        };
        let service = service.clone();
        match self.policy.clone_request(copy) {
            Some(request) => (
                TowerAttempt::Readying {
                    service,
                    request: Some(request),
                },
                true,
            ),
            // The copy itself, for this attempt, the call's last.
            None => (
                TowerAttempt::Readying {
                    service,
                    request: self.copy.take(),
                },
                false,
            ),
        }
    }
}

pin_project! {
    /// One attempt of a hedged tower call: the first calls the service the
    /// caller polled ready; every later one waits for its own clone to be
    /// ready, then calls it.
    #[project = TowerAttemptProj]
    pub(crate) enum TowerAttempt<Fut, S, Req> {
        Called {
            #[pin]
            future: Fut,
        },
        Readying {
            service: S,
            request: Option<Req>,
        },
    }
}

impl<S, Req> Future for TowerAttempt<S::Future, S, Req>
where
    S: Service<Req>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let future = match self.as_mut().project() {
                TowerAttemptProj::Called { future } => return future.poll(cx),
                TowerAttemptProj::Readying { service, request } => {
                    if let Err(error) = ready!(service.poll_ready(cx)) {
                        return Poll::Ready(Err(error));
                    }
                    let Some(request) = request.take() else {
                        unreachable!("an attempt is called once")
                    };
                    service.call(request)
                }
            };
            self.set(TowerAttempt::Called { future });
        }
    }
}

pin_project! {
    /// The response future of [`HedgedGuardService`]: resolves to the inner
    /// service's response or a [`GuardError`].
    ///
    /// It holds the hedged call's state and, in place, up to `1 +`
    /// [`MAX_HEDGES`](crate::MAX_HEDGES) attempts in flight and two timers
    /// (the time limit that ends first; the hedge delay or the backoff): no
    /// boxing, and no allocation of its own. Dropping it cancels
    /// the call: every attempt in flight is dropped with its permit
    /// unrecorded. Polling it again after it resolved panics.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(not(feature = "tokio"))] fn main() {}
    /// # #[cfg(feature = "tokio")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), fusebox::ConfigError> {
    /// use fusebox::tower::{HedgedGuardLayer, HedgedResponseFuture};
    /// use fusebox::{Breaker, Guard, Hedge, Retry, TokioSleeper};
    /// use std::sync::Arc;
    /// use tower::{service_fn, Layer, Service};
    ///
    /// let hedged = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
    ///     .with_sleeper(TokioSleeper)
    ///     .with_hedging(Hedge::builder().build()?);
    /// let mut svc = HedgedGuardLayer::new(hedged)
    ///     .layer(service_fn(|x: u32| std::future::ready(Ok::<u32, ()>(x * 2))));
    /// let future = svc.call(21); // service_fn is always ready
    /// fn is_send<T: Send + 'static>(_: &T) {}
    /// is_send(&future); // spawnable
    /// assert_eq!(future.await, Ok(42));
    /// # Ok(())
    /// # }
    /// ```
    pub struct HedgedResponseFuture<S, Req, C, Sl, P, F>
    where
        S: Service<Req>,
        Sl: AsyncSleeper,
    {
        // The attempts and their timers first (fields drop in order): a
        // dropped future drops the attempts' futures, then `call` cancels
        // their permits.
        #[pin]
        a0: Option<TowerAttempt<S::Future, S, Req>>,
        #[pin]
        a1: Option<TowerAttempt<S::Future, S, Req>>,
        #[pin]
        a2: Option<TowerAttempt<S::Future, S, Req>>,
        #[pin]
        a3: Option<TowerAttempt<S::Future, S, Req>>,
        // The timer of the limit that ends first, and the hedge delay's or
        // the backoff's.
        #[pin]
        cut: Option<Sl::Sleep>,
        #[pin]
        timer: Option<Sl::Sleep>,
        stage: Stage<
            Arc<Handle<HedgedGuard<C, Sl>>>,
            MakeTower<S, Req, P>,
            S::Response,
            S::Error,
        >,
        on_stop: F,
    }
}

impl<S, Req, C, Sl, P, F> Future for HedgedResponseFuture<S, Req, C, Sl, P, F>
where
    S: Service<Req> + Clone,
    C: Classify<S::Response, S::Error>,
    Sl: AsyncSleeper,
    P: ClonePolicy<Req>,
    F: OnStop<S::Response, S::Error>,
{
    type Output = Result<S::Response, GuardError<S::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut pins = Pins {
            attempts: [this.a0, this.a1, this.a2, this.a3],
            cut: this.cut,
            timer: this.timer,
        };
        let stage = this.stage;
        if let Stage::Lean(lean) = stage {
            let Some(attempt) = pins.attempts[0].as_mut().as_pin_mut() else {
                unreachable!("a lean first attempt is in flight")
            };
            match attempt.poll(cx) {
                Poll::Ready(result) => {
                    pins.attempts[0].set(None);
                    let Some(holder) = &lean.holder else {
                        unreachable!("a lean first attempt keeps its holder")
                    };
                    // Rule 2 here, as the call's state records an untimed
                    // attempt (`Call::record_hedged`).
                    let class = holder.classifier().classify(&result);
                    let breaker = holder.breaker();
                    let _recorded = lean.ticket.take(breaker).map(|p| p.record(class.verdict()));
                    if let Classification::Success = class {
                        holder.hedge().record_at_once();
                        let outcome = first_success(breaker, result);
                        *stage = Stage::Done;
                        return Poll::Ready(stop(&*this.on_stop, outcome));
                    }
                    let (Some(holder), Some(make)) = (lean.holder.take(), lean.make.take()) else {
                        unreachable!("taken once")
                    };
                    let call = first_call(holder, None, &make);
                    *stage = Stage::Call(Hedged::after_first_failure(
                        call, make, class, result, &mut pins,
                    ));
                }
                Poll::Pending => {
                    let (Some(holder), Some(make)) = (lean.holder.take(), lean.make.take()) else {
                        unreachable!("taken once")
                    };
                    let ticket = std::mem::replace(&mut lean.ticket, TicketSlot::EMPTY);
                    let attempt = Attempt {
                        number: 1,
                        remaining: None,
                        epoch: ticket.epoch(),
                    };
                    let call = first_call(holder, None, &make);
                    *stage = Stage::Call(Hedged::opened(call, make, ticket, Ok(attempt)));
                    let Stage::Call(hedged) = stage else {
                        unreachable!("just set")
                    };
                    let outcome = ready!(hedged.poll_first_pending(cx, &mut pins));
                    return Poll::Ready(stop(&*this.on_stop, outcome));
                }
            }
        }
        match stage {
            Stage::Call(hedged) => {
                let outcome = ready!(hedged.poll(cx, &mut pins));
                Poll::Ready(stop(&*this.on_stop, outcome))
            }
            Stage::Rejected(rejected) => match rejected.take() {
                Some(rejected) => Poll::Ready(stop(&*this.on_stop, refused_outcome(rejected))),
                None => panic!("a hedged response future polled after it returned"),
            },
            Stage::Lean(_) | Stage::Done => {
                panic!("a hedged response future polled after it returned")
            }
        }
    }
}

impl<S, Req, C, Sl, P, F> fmt::Debug for HedgedResponseFuture<S, Req, C, Sl, P, F>
where
    S: Service<Req>,
    Sl: AsyncSleeper,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgedResponseFuture")
            .finish_non_exhaustive()
    }
}

/// The holder of a [`HedgedGuardService`]'s calls: the service's handle on the
/// hedged guard.
impl<C, Sl> Holder for Arc<Handle<HedgedGuard<C, Sl>>> {
    type C = C;
    type S = Sl;
    #[inline(always)]
    fn breaker(&self) -> &Breaker {
        self.get().guard().breaker()
    }
    #[inline(always)]
    fn retry(&self) -> &Retry {
        self.get().guard().retry()
    }
    #[inline(always)]
    fn budget(&self) -> Option<&RetryBudget> {
        self.get().guard().budget().map(|budget| &**budget)
    }
    #[inline(always)]
    fn classifier(&self) -> &C {
        self.get().guard().classifier()
    }
    #[inline(always)]
    fn sleeper(&self) -> &Sl {
        self.get().guard().sleeper()
    }
}

impl<C, Sl> HedgeHolder for Arc<Handle<HedgedGuard<C, Sl>>> {
    #[inline(always)]
    fn hedge(&self) -> &Hedge {
        self.get().hedge()
    }
}
