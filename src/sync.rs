//! The synchronisation facade: every atomic the library uses comes from here.
//!
//! Under `cfg(loom)` these are loom's model-checked atomics, so the loom models in
//! `loom-tests/` explore every interleaving of the real code; otherwise they are
//! `portable-atomic`'s (which are the standard library's wherever the target has
//! native 64-bit atomics, and a lock-free fallback elsewhere).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering, fence};

#[cfg(not(loom))]
pub(crate) use portable_atomic::{AtomicU64, Ordering, fence};

/// Spin politely between failed compare-and-swap attempts.
///
/// Outside loom this is crossbeam's exponential [`Backoff`](crossbeam_utils::Backoff)
/// (a few `spin_loop` hints, never a sleep: a lost CAS means another thread made
/// progress).
///
/// Under loom it does nothing, on purpose. No retry loop here waits for another
/// thread: a CAS fails only because another thread changed the word, which is
/// progress, so every loop is bounded by the other threads' writes without a yield.
/// And a yield would hide bugs: after `yield_now` a loom load no longer returns a
/// value its thread saw before the yield when a newer one exists (loom's rule for
/// making spin loops advance), and the yielded thread is scheduled after the others.
/// So the weak-memory outcomes right after a failed CAS would never be explored,
/// e.g. the stale epoch that the deadline CAS's re-check of the state word may read
/// if that CAS's failure ordering were `Relaxed` (loom-tests/README.md).
#[derive(Debug)]
pub(crate) struct CasBackoff {
    #[cfg(not(loom))]
    inner: crossbeam_utils::Backoff,
}

impl CasBackoff {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(not(loom))]
            inner: crossbeam_utils::Backoff::new(),
        }
    }

    #[inline]
    pub(crate) fn spin(&self) {
        #[cfg(not(loom))]
        self.inner.spin();
    }
}
