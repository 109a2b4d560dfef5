//! Where every event goes besides the breaker's listener: `tracing` and
//! `metrics`, each behind its feature. With both off, [`emit`] is empty.

use crate::breaker::Breaker;
use crate::event::Event;

/// Tell `event`, from `breaker`, to the enabled integrations.
#[inline]
pub(crate) fn emit(breaker: &Breaker, event: &Event<'_>) {
    #[cfg(feature = "tracing")]
    crate::trace::emit(event);
    #[cfg(feature = "metrics")]
    crate::metrics::emit(breaker, event);
    let _ = (breaker, event);
}
