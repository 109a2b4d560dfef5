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
}

impl Observers {
    pub(crate) fn new(name: Box<str>, listener: Option<Arc<dyn Listener>>) -> Self {
        Self {
            name,
            listener,
            #[cfg(feature = "metrics")]
            metrics: std::sync::OnceLock::new(),
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
            .get_or_init(|| metrics::Handles::register(&self.name))
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
