//! The one narrow hook between the core and its observers. A breaker (and the
//! guards that use it) tell every [`Event`] to its [`Observers`]: the user's
//! [`Listener`], `tracing` and `metrics`, each behind its feature. This module and
//! its sinks speak only the event words; nothing here imports the core, so the
//! core reaches its observers without an import circle.

#[cfg(feature = "metrics")]
pub(crate) mod metrics;
#[cfg(feature = "tracing")]
mod trace;

use crate::event::{Event, Listener};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// Who hears one breaker's events, and the name they carry.
pub(crate) struct Observers {
    /// The name events and exports carry (`""` if none).
    name: Box<str>,
    /// Told every event (see [`crate::event`]).
    listener: Option<Arc<dyn Listener>>,
    /// The `metrics` handles, registered at the first event.
    #[cfg(feature = "metrics")]
    metrics: std::sync::OnceLock<metrics::Handles>,
    /// The first-attempt successes of guarded calls, once counted (see
    /// [`crate::metrics::count_successes`]); unset, they are not.
    #[cfg(feature = "metrics")]
    successes: std::sync::OnceLock<metrics::Successes>,
}

/// Whether breakers built from now on count their first-attempt successes (see
/// [`crate::metrics::count_successes_by_default`]). A std atomic, not one of
/// `crate::sync`'s: a static (loom's atomics cannot be), read once per breaker
/// built.
#[cfg(feature = "metrics")]
pub(crate) static COUNT_SUCCESSES_BY_DEFAULT: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

impl Observers {
    pub(crate) fn new(name: Box<str>, listener: Option<Arc<dyn Listener>>) -> Self {
        Self {
            name,
            listener,
            #[cfg(feature = "metrics")]
            metrics: std::sync::OnceLock::new(),
            #[cfg(feature = "metrics")]
            successes: {
                let successes = std::sync::OnceLock::new();
                // Relaxed: a setting read once, synchronising nothing else.
                if COUNT_SUCCESSES_BY_DEFAULT.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = successes.set(metrics::Successes::new());
                }
                successes
            },
        }
    }

    /// The name events carry.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Whether anyone hears events: a listener, or the `tracing` or `metrics`
    /// feature. Callers check it before building an event.
    #[inline]
    pub(crate) fn observed(&self) -> bool {
        cfg!(feature = "tracing") || cfg!(feature = "metrics") || self.listener.is_some()
    }

    /// Tell `event` to the listener and the enabled integrations. A panicking
    /// listener is caught here: the change the event reports is already committed.
    pub(crate) fn emit(&self, event: &Event<'_>) {
        if let Some(listener) = &self.listener {
            let _ignored = catch_unwind(AssertUnwindSafe(|| listener.on_event(event)));
        }
        #[cfg(feature = "tracing")]
        trace::emit(event);
        #[cfg(feature = "metrics")]
        metrics::emit(self.metric_handles(), event);
    }

    /// Count a failure (`true`) or ignored verdict.
    #[cfg(feature = "metrics")]
    pub(crate) fn verdict(&self, failure: bool) {
        metrics::verdict(self.metric_handles(), failure);
    }

    /// The `metrics` handles, registered with the recorder installed at first use.
    #[cfg(feature = "metrics")]
    pub(crate) fn metric_handles(&self) -> &metrics::Handles {
        self.metrics
            .get_or_init(|| metrics::Handles::register(&self.name, self.successes.get().is_some()))
    }

    /// Count first-attempt successes from now on (idempotent), and say so in
    /// the `fusebox_successes_counted` gauge.
    #[cfg(feature = "metrics")]
    pub(crate) fn count_successes(&self) {
        let _ = self.successes.get_or_init(metrics::Successes::new);
        // After the count is on: a registration racing with this one read
        // either state, and this write leaves the gauge at 1.
        self.metric_handles().counted.set(1.0);
    }

    /// Whether first-attempt successes are counted.
    #[cfg(feature = "metrics")]
    #[inline(always)]
    pub(crate) fn counts_successes(&self) -> bool {
        self.successes.get().is_some()
    }

    /// A guarded call's first attempt succeeded: counted if successes are
    /// (one load and a branch when they are not).
    #[cfg(feature = "metrics")]
    #[inline(always)]
    pub(crate) fn first_success(&self) {
        if let Some(successes) = self.successes.get() {
            self.count_first_success(successes);
        }
    }

    /// Out of line and `#[cold]`: the branch to it is laid out as the
    /// unlikely one, so the healthy path's code keeps its shape when
    /// successes are not counted.
    #[cfg(feature = "metrics")]
    #[cold]
    #[inline(never)]
    fn count_first_success(&self, successes: &metrics::Successes) {
        if let Some(batch) = successes.add() {
            self.metric_handles().succeeded().increment(batch);
        }
    }

    /// Add the successes the stripes hold to the exported counter (before a
    /// scrape, from [`crate::metrics::export`]).
    #[cfg(feature = "metrics")]
    pub(crate) fn flush_successes(&self) {
        if let Some(successes) = self.successes.get() {
            let n = successes.take_all();
            if n > 0 {
                self.metric_handles().succeeded().increment(n);
            }
        }
    }
}

impl fmt::Debug for Observers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observers")
            .field("name", &self.name)
            .field("listener", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}
