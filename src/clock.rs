//! Time, injected: the [`Clock`] trait, the default [`MonotonicClock`] and the
//! [`ManualClock`] for tests.
//!
//! A breaker reads the clock only off the healthy path, and there only where the
//! answer can change: when it is open (to decide whether the open period is
//! over), when it opens (to compute the deadline), and below full health once per
//! failure (to decay health first) and for a graded admission whose draw the
//! stored health would refuse. A success reads none, and a healthy `Closed`
//! breaker never reads the clock. (The guard reads it to time one attempt in 16
//! per thread for the concurrency limit, and that report uses the same reading.)

use crate::sync::{AtomicU64, Ordering};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A monotonic source of time, in nanoseconds since an arbitrary origin.
///
/// The breaker stores times as offsets from the reading it took when it was built,
/// so the origin does not matter. A clock that goes backwards is tolerated: the
/// breaker saturates (a reading earlier than its start counts as its start) and never
/// panics, underflows or transitions because of it.
///
/// # Examples
///
/// A clock that always reads zero (time never passes):
///
/// ```
/// use fusebox::Clock;
///
/// struct Frozen;
/// impl Clock for Frozen {
///     fn now_nanos(&self) -> u64 {
///         0
///     }
/// }
///
/// assert_eq!(Frozen.now_nanos(), 0);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time in nanoseconds since this clock's origin.
    fn now_nanos(&self) -> u64;
}

/// The default clock: quanta's calibrated TSC-based monotonic clock.
///
/// Reading it costs a few nanoseconds: one raw counter read (`rdtsc` on x86-64,
/// `cntvct_el0` on aarch64; the OS monotonic clock where neither is usable) and a
/// multiply-and-shift of the ticks elapsed since the clock was built. No
/// `Duration` or `Instant` is built on the way (going through them cost 15 more
/// instructions per read under callgrind: a budget deposit + withdraw that read
/// the clock once went from 128 to 113).
///
/// # Examples
///
/// Every breaker uses one unless given another clock; a test gives a
/// [`ManualClock`] instead:
///
/// ```
/// use fusebox::{Breaker, Clock, MonotonicClock};
///
/// let clock = MonotonicClock::new();
/// let breaker = Breaker::builder().clock(clock.clone()).build()?;
/// assert!(clock.now_nanos() < 60_000_000_000); // its origin is when it was built
/// # let _ = breaker;
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct MonotonicClock {
    clock: quanta::Clock,
    origin: u64,
}

impl MonotonicClock {
    /// A new monotonic clock whose origin is now.
    ///
    /// The first clock built in a process calibrates quanta's global source, which
    /// can take a moment; later ones are cheap.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Clock, MonotonicClock};
    ///
    /// let clock = MonotonicClock::new();
    /// let a = clock.now_nanos();
    /// let b = clock.now_nanos();
    /// assert!(b >= a);
    /// ```
    pub fn new() -> Self {
        let clock = quanta::Clock::new();
        let origin = clock.raw();
        Self { clock, origin }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MonotonicClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonotonicClock")
            .field("now_nanos", &self.now_nanos())
            .finish()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        // Raw ticks since `origin`, scaled to nanoseconds by quanta's calibration
        // (a multiply and a shift). A reading at or before `origin` (a counter that
        // is not synchronised across cores) gives 0; callers tolerate a clock that
        // stalls or goes backwards.
        self.clock.delta_as_nanos(self.origin, self.clock.raw())
    }
}

/// A clock that moves only when told to: for tests, simulations, loom models and
/// fuzzing. Clones share the same time, so a test keeps one handle and gives the
/// breaker another.
///
/// It can be moved backwards too ([`ManualClock::rewind`]), to check that code under
/// test survives a clock that is not monotonic.
///
/// # Examples
///
/// ```
/// use fusebox::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let handle = clock.clone();
/// handle.advance(Duration::from_millis(1500));
/// assert_eq!(clock.now_nanos(), 1_500_000_000);
/// handle.rewind(Duration::from_secs(10)); // saturates at zero
/// assert_eq!(clock.now_nanos(), 0);
/// ```
#[derive(Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock reading zero.
    pub fn new() -> Self {
        Self::starting_at(Duration::ZERO)
    }

    /// A manual clock reading `start` (saturated to `u64::MAX` nanoseconds).
    pub fn starting_at(start: Duration) -> Self {
        Self {
            nanos: Arc::new(AtomicU64::new(duration_to_nanos(start))),
        }
    }

    /// Move the clock forward by `by` (saturating at `u64::MAX` nanoseconds).
    pub fn advance(&self, by: Duration) {
        let by = duration_to_nanos(by);
        // Relaxed: the clock value is self-contained (no other data is published
        // with it); tests that need a happens-before edge get it from their own
        // synchronisation (join, barrier, the breaker's AcqRel transitions).
        let _previous = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// Move the clock backward by `by` (saturating at zero).
    pub fn rewind(&self, by: Duration) {
        let by = duration_to_nanos(by);
        // Relaxed: as in `advance`.
        let _previous = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(by))
            });
    }

    /// Set the clock to `to` since its origin (forwards or backwards).
    pub fn set(&self, to: Duration) {
        // Relaxed: as in `advance`.
        self.nanos.store(duration_to_nanos(to), Ordering::Relaxed);
    }

    /// The current reading as a [`Duration`] since the origin.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.now_nanos())
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        // Relaxed: see `advance`.
        self.nanos.load(Ordering::Relaxed)
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    #[inline]
    fn now_nanos(&self) -> u64 {
        (**self).now_nanos()
    }
}

/// A `Duration` as whole nanoseconds, saturating at `u64::MAX` (584 years).
pub(crate) fn duration_to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
