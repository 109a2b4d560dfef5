//! BASELINES — the designs fusebox is compared with. Not library API: these are
//! deliberately faithful ports of flawed designs, written for this simulation only
//! (single-threaded, so `Cell`s stand in for the naive design's unsynchronised
//! fields).
//!
//! - [`NaiveBreaker`]: the `CircuitBreaker` of the naive retry-inside-breaker
//!   design: an integer `failure_count`, a `last_failure_time` assigned by every
//!   failure, whichever caller reports it, `OPEN -> HALF_OPEN` when `now -
//!   last_failure_time > recovery_timeout` (checked only when a call enters
//!   `execute`), a half-open state that admits every caller, `success_count`
//!   toward closing. Used by the `naive` strategy (one report per call, after the
//!   retry loop inside `execute`) and the `callbacks` strategy (its
//!   per-attempt-callback variant: one `on_failure` per failed attempt,
//!   `on_success` at the end, `should_abort` between attempts).
//! - [`SimpleBreaker`]: the count-based breaker commonly put under a retry loop
//!   (`layered`): consecutive failures trip it and stamp `opened_at`; after the
//!   open period one trial at a time is admitted; `close_after` trial successes
//!   close it. It cannot tell a trial's report from a straggler's.
//!
//! Neither has epochs. To measure stale overwrites (late reports that change a
//! state that has moved on), both keep a metrics-only transition counter
//! ([`Book`]): a caller remembers the count when it last passed the breaker's
//! gate, and a report made after the count moved on is a *late outcome*; a late
//! outcome that changed any field (state, counts, `last_failure_time` /
//! `opened_at`) is a *stale overwrite*. The counter never influences a decision.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A breaker's state, as the lab plots it (fusebox's `ForcedOpen` and `Disabled`
/// never occur here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Admitting.
    Closed,
    /// Probing.
    HalfOpen,
    /// Rejecting.
    Open,
}

/// One state change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateChange {
    /// Virtual time, in nanoseconds.
    pub at: u64,
    /// The state entered.
    pub state: Mode,
    /// Downstream attempts that had failed (ended) by then, in this run.
    pub failures_so_far: u64,
}

/// Metrics-only bookkeeping: transitions, their log, and late reports.
#[derive(Debug)]
pub struct Book {
    transitions: Cell<u64>,
    changes: RefCell<Vec<StateChange>>,
    late: Cell<u64>,
    overwrites: Cell<u64>,
    failures: Arc<AtomicU64>,
}

impl Book {
    fn new(failures: Arc<AtomicU64>) -> Self {
        Self {
            transitions: Cell::new(0),
            changes: RefCell::new(Vec::new()),
            late: Cell::new(0),
            overwrites: Cell::new(0),
            failures,
        }
    }

    fn transition(&self, at: u64, state: Mode) {
        self.transitions.set(self.transitions.get() + 1);
        self.changes.borrow_mut().push(StateChange {
            at,
            state,
            // Relaxed: a counter in a single-threaded simulation.
            failures_so_far: self.failures.load(Ordering::Relaxed),
        });
    }

    /// A report by a caller whose view is `view`, made when the count was
    /// `current`; `changed` says whether it wrote anything.
    fn report(&self, view: u64, current: u64, changed: bool) {
        if view != current {
            self.late.set(self.late.get() + 1);
            if changed {
                self.overwrites.set(self.overwrites.get() + 1);
            }
        }
    }

    /// The caller's view: transitions so far.
    pub fn view(&self) -> u64 {
        self.transitions.get()
    }

    /// The state changes, in order.
    pub fn changes(&self) -> Vec<StateChange> {
        self.changes.borrow().clone()
    }

    /// Reports made by callers whose view predates the last transition.
    pub fn late_outcomes(&self) -> u64 {
        self.late.get()
    }

    /// Late reports that changed the breaker.
    pub fn stale_overwrites(&self) -> u64 {
        self.overwrites.get()
    }
}

/// The naive design's `CircuitBreaker` (see the module documentation).
#[derive(Debug)]
pub struct NaiveBreaker {
    failure_threshold: u32,
    recovery_timeout: u64,
    close_after: u32,
    state: Cell<Mode>,
    failure_count: Cell<u32>,
    success_count: Cell<u32>,
    last_failure_time: Cell<u64>,
    book: Book,
}

impl NaiveBreaker {
    /// A closed breaker.
    pub fn new(
        failure_threshold: u32,
        recovery_timeout: u64,
        close_after: u32,
        failures: Arc<AtomicU64>,
    ) -> Self {
        Self {
            failure_threshold,
            recovery_timeout,
            close_after,
            state: Cell::new(Mode::Closed),
            failure_count: Cell::new(0),
            success_count: Cell::new(0),
            last_failure_time: Cell::new(0),
            book: Book::new(failures),
        }
    }

    /// The bookkeeping.
    pub fn book(&self) -> &Book {
        &self.book
    }

    /// `self._state`.
    pub fn state(&self) -> Mode {
        self.state.get()
    }

    fn fields(&self) -> (Mode, u32, u32, u64) {
        (
            self.state.get(),
            self.failure_count.get(),
            self.success_count.get(),
            self.last_failure_time.get(),
        )
    }

    fn set_state(&self, state: Mode, now: u64) {
        if self.state.replace(state) != state {
            self.book.transition(now, state);
        }
    }

    /// `_check_open_state()`, run when a call enters `execute`: `Err` is the naive design's
    /// `CircuitOpenError`. Returns the caller's view on admission.
    pub fn check_open_state(&self, now: u64) -> Result<u64, ()> {
        if self.state.get() == Mode::Open {
            if now.saturating_sub(self.last_failure_time.get()) > self.recovery_timeout {
                self.set_state(Mode::HalfOpen, now);
                self.success_count.set(0);
            } else {
                return Err(());
            }
        }
        Ok(self.book.view())
    }

    /// `_on_success()`: in half-open, count toward closing; otherwise reset the
    /// failure count.
    pub fn on_success(&self, view: u64, now: u64) {
        let (before, current) = (self.fields(), self.book.view());
        if self.state.get() == Mode::HalfOpen {
            self.success_count.set(self.success_count.get() + 1);
            if self.success_count.get() >= self.close_after {
                self.set_state(Mode::Closed, now);
                self.failure_count.set(0);
            }
        } else {
            self.failure_count.set(0);
        }
        self.book.report(view, current, self.fields() != before);
    }

    /// `_on_failure()`: count, stamp `last_failure_time`, open at the threshold
    /// (in half-open the count is still at or past it, so one failure re-opens).
    pub fn on_failure(&self, view: u64, now: u64) {
        let (before, current) = (self.fields(), self.book.view());
        self.failure_count.set(self.failure_count.get() + 1);
        self.last_failure_time.set(now);
        if self.failure_count.get() >= self.failure_threshold {
            self.set_state(Mode::Open, now);
        }
        self.book.report(view, current, self.fields() != before);
    }
}

/// A count-based breaker for the `layered` strategy (see the module documentation).
#[derive(Debug)]
pub struct SimpleBreaker {
    threshold: u32,
    open_for: u64,
    close_after: u32,
    state: Cell<Mode>,
    failure_count: Cell<u32>,
    opened_at: Cell<u64>,
    trial_successes: Cell<u32>,
    trial_in_flight: Cell<bool>,
    book: Book,
}

impl SimpleBreaker {
    /// A closed breaker.
    pub fn new(threshold: u32, open_for: u64, close_after: u32, failures: Arc<AtomicU64>) -> Self {
        Self {
            threshold,
            open_for,
            close_after,
            state: Cell::new(Mode::Closed),
            failure_count: Cell::new(0),
            opened_at: Cell::new(0),
            trial_successes: Cell::new(0),
            trial_in_flight: Cell::new(false),
            book: Book::new(failures),
        }
    }

    /// The bookkeeping.
    pub fn book(&self) -> &Book {
        &self.book
    }

    fn fields(&self) -> (Mode, u32, u64, u32, bool) {
        (
            self.state.get(),
            self.failure_count.get(),
            self.opened_at.get(),
            self.trial_successes.get(),
            self.trial_in_flight.get(),
        )
    }

    fn set_state(&self, state: Mode, now: u64) {
        if self.state.replace(state) != state {
            self.book.transition(now, state);
        }
    }

    fn open(&self, now: u64) {
        self.set_state(Mode::Open, now);
        self.opened_at.set(now);
    }

    /// Admit one attempt (returns the caller's view) or reject it.
    pub fn acquire(&self, now: u64) -> Result<u64, ()> {
        match self.state.get() {
            Mode::Closed => {}
            Mode::Open => {
                if now < self.opened_at.get() + self.open_for {
                    return Err(());
                }
                self.set_state(Mode::HalfOpen, now);
                self.trial_successes.set(0);
                self.trial_in_flight.set(true);
            }
            Mode::HalfOpen => {
                if self.trial_in_flight.replace(true) {
                    return Err(());
                }
            }
        }
        Ok(self.book.view())
    }

    /// Report one attempt's result.
    pub fn record(&self, view: u64, ok: bool, now: u64) {
        let (before, current) = (self.fields(), self.book.view());
        if self.state.get() == Mode::HalfOpen {
            // Whoever reports in half-open is taken for the trial.
            self.trial_in_flight.set(false);
            if !ok {
                self.open(now);
            } else {
                self.trial_successes.set(self.trial_successes.get() + 1);
                if self.trial_successes.get() >= self.close_after {
                    self.set_state(Mode::Closed, now);
                    self.failure_count.set(0);
                }
            }
        } else if ok {
            self.failure_count.set(0);
        } else {
            self.failure_count.set(self.failure_count.get() + 1);
            if self.failure_count.get() >= self.threshold {
                // Also when already open: the open period restarts.
                self.open(now);
            }
        }
        self.book.report(view, current, self.fields() != before);
    }
}
