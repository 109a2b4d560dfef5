//! How a [`Guard`](crate::Guard) waits between attempts: [`Sleeper`] for blocking
//! calls, [`AsyncSleeper`] for async ones. No runtime is required: bring your own,
//! or enable the `tokio` feature for [`TokioSleeper`].

use crate::clock::{ManualClock, duration_to_nanos};
use crate::sync::{AtomicU64, Ordering};
use std::fmt;
use std::future::{Future, Ready, ready};
use std::sync::Arc;
use std::time::Duration;

/// Blocks the current thread for a while (used by [`Guard::call`](crate::Guard::call)).
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, Guard, Retry, Sleeper};
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// /// Records the delays instead of sleeping (a test's sleeper).
/// #[derive(Default)]
/// struct Log(Mutex<Vec<Duration>>);
/// impl Sleeper for &Log {
///     fn sleep(&self, d: Duration) {
///         self.0.lock().unwrap().push(d);
///     }
/// }
///
/// let log = Log::default();
/// let retry = Retry::builder().constant_backoff(Duration::from_millis(5)).build()?;
/// let guard = Guard::new(Arc::new(Breaker::builder().build()?), retry).with_sleeper(&log);
/// let _ = guard.call(|_| Err::<(), _>("down"));
/// assert_eq!(log.0.lock().unwrap().len(), 2); // two sleeps between three attempts
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub trait Sleeper {
    /// Wait for `duration`.
    fn sleep(&self, duration: Duration);
}

/// Waits asynchronously (used by [`Guard::call_async`](crate::Guard::call_async)).
///
/// # Examples
///
/// A sleeper for any runtime with a timer, here one that never waits:
///
/// ```
/// use fusebox::AsyncSleeper;
/// use std::future::{ready, Ready};
/// use std::time::Duration;
///
/// struct NoWait;
/// impl AsyncSleeper for NoWait {
///     type Sleep = Ready<()>;
///     fn sleep(&self, _: Duration) -> Ready<()> {
///         ready(())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an `AsyncSleeper`: an async guard cannot wait between attempts with it",
    label = "not an `AsyncSleeper`",
    note = "`Guard::new` waits with `ThreadSleeper`, which blocks the thread (for `Guard::call`); `call_async`, `GuardLayer` and `GuardMiddleware` need an async one",
    note = "add `.with_sleeper(fusebox::TokioSleeper)` to the guard (feature `tokio`), or implement `AsyncSleeper` for your runtime's timer"
)]
pub trait AsyncSleeper {
    /// The future that completes after the wait.
    type Sleep: Future<Output = ()>;
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Self::Sleep;
}

/// The default: [`std::thread::sleep`].
///
/// # Examples
///
/// A [`Guard`](crate::Guard) sleeps with it unless told otherwise:
///
/// ```
/// use fusebox::{Breaker, Guard, Retry, ThreadSleeper};
/// use std::{sync::Arc, time::Duration};
///
/// let retry = Retry::builder().constant_backoff(Duration::from_millis(1)).build()?;
/// let guard = Guard::new(Arc::new(Breaker::builder().build()?), retry).with_sleeper(ThreadSleeper);
/// assert_eq!(guard.call(|a| if a.number < 2 { Err("x") } else { Ok(a.number) }), Ok(2));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// Tokio's timer (`tokio::time::sleep`). Needs the `tokio` feature and a runtime
/// with the time driver enabled.
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, Guard, Retry, TokioSleeper};
/// use std::{sync::Arc, time::Duration};
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> Result<(), fusebox::ConfigError> {
///     let retry = Retry::builder().constant_backoff(Duration::from_millis(1)).build()?;
///     let guard = Guard::new(Arc::new(Breaker::builder().build()?), retry)
///         .with_sleeper(TokioSleeper);
///     let r = guard
///         .call_async(|a| async move { if a.number < 2 { Err("x") } else { Ok(a.number) } })
///         .await;
///     assert_eq!(r, Ok(2));
///     Ok(())
/// }
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSleeper;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
impl AsyncSleeper for TokioSleeper {
    type Sleep = tokio::time::Sleep;
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }
}

/// A sleeper for tests and simulations: instead of waiting, it advances a
/// [`ManualClock`] by the duration and returns at once. It also counts what it
/// "slept", so a test can assert that a guard did not sleep.
///
/// # Examples
///
/// ```
/// use fusebox::{ManualClock, ManualSleeper, Sleeper};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let sleeper = ManualSleeper::new(clock.clone());
/// sleeper.sleep(Duration::from_secs(30)); // returns at once
/// assert_eq!(clock.now(), Duration::from_secs(30));
/// assert_eq!(sleeper.slept(), Duration::from_secs(30));
/// assert_eq!(sleeper.sleeps(), 1);
/// ```
#[derive(Clone)]
pub struct ManualSleeper {
    clock: ManualClock,
    total: Arc<AtomicU64>,
    count: Arc<AtomicU64>,
}

impl ManualSleeper {
    /// A sleeper that advances `clock`.
    pub fn new(clock: ManualClock) -> Self {
        Self {
            clock,
            total: Arc::new(AtomicU64::new(0)),
            count: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Total time slept.
    pub fn slept(&self) -> Duration {
        // Relaxed: a counter; see `ManualClock::advance`.
        Duration::from_nanos(self.total.load(Ordering::Relaxed))
    }

    /// Number of sleeps.
    pub fn sleeps(&self) -> u64 {
        // Relaxed: a counter.
        self.count.load(Ordering::Relaxed)
    }

    fn advance(&self, duration: Duration) {
        self.clock.advance(duration);
        let nanos = duration_to_nanos(duration);
        // Relaxed: counters; nothing is published through them.
        let _ = self
            .total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(nanos))
            });
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for ManualSleeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualSleeper")
            .field("clock", &self.clock)
            .field("slept", &self.slept())
            .field("sleeps", &self.sleeps())
            .finish()
    }
}

impl Sleeper for ManualSleeper {
    fn sleep(&self, duration: Duration) {
        self.advance(duration);
    }
}

impl AsyncSleeper for ManualSleeper {
    type Sleep = Ready<()>;
    fn sleep(&self, duration: Duration) -> Ready<()> {
        self.advance(duration);
        ready(())
    }
}

impl<S: Sleeper + ?Sized> Sleeper for &S {
    fn sleep(&self, duration: Duration) {
        (**self).sleep(duration);
    }
}

impl<S: AsyncSleeper + ?Sized> AsyncSleeper for &S {
    type Sleep = S::Sleep;
    fn sleep(&self, duration: Duration) -> S::Sleep {
        (**self).sleep(duration)
    }
}
