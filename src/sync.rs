//! The synchronisation facade: every atomic the library uses comes from here.
//!
//! Under `cfg(loom)` these are loom's model-checked atomics, so the loom models in
//! `loom-tests/` explore every interleaving of the real code; otherwise they are
//! `portable-atomic`'s (which are the standard library's wherever the target has
//! native 64-bit atomics, and a lock-free fallback elsewhere).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};

#[cfg(not(loom))]
pub(crate) use portable_atomic::{AtomicU64, Ordering};

/// Spin politely between failed compare-and-swap attempts.
///
/// Outside loom this is crossbeam's exponential [`Backoff`](crossbeam_utils::Backoff)
/// (a few `spin_loop` hints, never a sleep: a lost CAS means another thread made
/// progress). Under loom a spin is a `yield_now`, so the model checker can schedule
/// the thread that is holding us up.
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
        #[cfg(loom)]
        loom::thread::yield_now();
    }
}
