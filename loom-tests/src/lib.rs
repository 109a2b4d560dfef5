//! Loom models of fusebox (see `tests/`), and the small harness they share.
//!
//! Build and run them with `scripts/loom.sh` (it sets `RUSTFLAGS="--cfg loom"`, so the
//! breaker's atomics are loom's). Without `cfg(loom)` this crate is empty.
//! `README.md` lists every model, the planted bugs each was shown to catch, and what
//! loom cannot tell.
//!
//! Conventions every model follows:
//!
//! - the [`Breaker`] and its [`ManualClock`] are created inside the `loom::model`
//!   closure (their atomics belong to one execution), from [`builder`]: a manual clock,
//!   no jitter, a fixed jitter seed, a 1 ms open period;
//! - anything that observes concurrency (listener calls, permits held) is a loom atomic
//!   in a `loom::sync::Arc`, so loom sees those accesses too;
//! - 2-thread models run through [`exhaustive`]: no preemption bound, every
//!   interleaving, even when the environment sets `LOOM_MAX_PREEMPTIONS`; 3-thread
//!   models set their own bound of 3 with `loom::model::Builder`;
//! - every model is wrapped in [`Stats::count`], which counts the explored executions
//!   (the same number loom logs as "Completed in N iterations" under `LOOM_LOG=info`)
//!   and [`Stats::report`] prints it with the wall time (visible with `--nocapture`).

#![cfg(loom)]
#![forbid(unsafe_code)]

use fusebox::{Breaker, BreakerBuilder, Clock, ManualClock, State, Transition, Verdict};
use loom::sync::Arc as LoomArc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Condvar, Mutex};
use loom::thread::ThreadId;
use std::sync::Arc as StdArc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::{Duration, Instant};

/// The open period every model uses (the smallest legal one).
pub const OPEN_FOR: Duration = Duration::from_millis(1);

/// A builder with the models' fixed settings: `clock`, no jitter, jitter seed 1,
/// `open_for` = [`OPEN_FOR`]; and, explicitly rather than from the defaults (which
/// may change), the settings the models were written against: 1 probe, growth 2,
/// cap 60 s, half-life 5 s (decay ticks of 78 ms, which the models' millisecond
/// clocks never reach unless a model sets its own) and graded admission off.
/// Models add the tripping, probe and listener settings.
pub fn builder(clock: &ManualClock) -> BreakerBuilder {
    Breaker::builder()
        .clock(clock.clone())
        .open_for(OPEN_FOR)
        .open_jitter(0.0)
        .jitter_seed(1)
        .probes(1)
        .open_growth(2.0)
        .open_cap(Duration::from_secs(60))
        .half_life(Duration::from_secs(5))
        .shed_below(0.0)
}

/// Counts of the transitions a breaker's listener was told about, by target state.
///
/// Loom atomics: the listener runs on whichever model thread won the transition.
#[derive(Debug, Default)]
pub struct TransitionLog {
    to_closed: AtomicUsize,
    to_open: AtomicUsize,
    to_half_open: AtomicUsize,
    to_forced_open: AtomicUsize,
    to_disabled: AtomicUsize,
    /// Into a state not named above (`State` is non-exhaustive): counted, so
    /// `total` still sees it, rather than a panic the listener would swallow.
    to_other: AtomicUsize,
}

impl TransitionLog {
    /// A new, empty log, shared.
    pub fn new() -> LoomArc<Self> {
        LoomArc::new(Self::default())
    }

    fn slot(&self, to: State) -> &AtomicUsize {
        match to {
            State::Closed => &self.to_closed,
            State::Open => &self.to_open,
            State::HalfOpen => &self.to_half_open,
            State::ForcedOpen => &self.to_forced_open,
            State::Disabled => &self.to_disabled,
            _ => &self.to_other,
        }
    }

    /// Record one transition (the listener body). It must not panic: the breaker
    /// calls it inside `catch_unwind`, so an assertion here would be swallowed.
    pub fn note(&self, t: &Transition) {
        // Relaxed: a pure count; the models read it after `join`, which orders it.
        self.slot(t.to).fetch_add(1, Ordering::Relaxed);
    }

    /// Transitions into `to` seen so far.
    pub fn count(&self, to: State) -> usize {
        // Relaxed: read after `join` (see `note`).
        self.slot(to).load(Ordering::Relaxed)
    }

    /// All transitions seen so far.
    pub fn total(&self) -> usize {
        [
            &self.to_closed,
            &self.to_open,
            &self.to_half_open,
            &self.to_forced_open,
            &self.to_disabled,
            &self.to_other,
        ]
        .into_iter()
        // Relaxed: read after `join` (see `note`).
        .map(|n| n.load(Ordering::Relaxed))
        .sum()
    }

    /// `builder` with a listener that notes every transition in `log`.
    pub fn listen(log: &LoomArc<Self>, builder: BreakerBuilder) -> BreakerBuilder {
        let log = log.clone();
        builder.on_transition(move |t| log.note(t))
    }
}

/// A count of model threads that reached a point, which others can block on (loom
/// has no `Barrier`). Used to make sure permits were admitted before another thread's
/// operation can move the breaker to a newer epoch.
///
/// A mutex and a condition variable rather than a spinning atomic: loom explores a
/// spin loop's every stale read and yield, and two spinners waiting for a third
/// exceed its branch limit; a blocked thread is simply not scheduled.
#[derive(Debug, Default)]
pub struct Latch {
    arrived: Mutex<usize>,
    changed: Condvar,
}

impl Latch {
    /// A new latch with no arrivals, shared.
    pub fn new() -> LoomArc<Self> {
        LoomArc::new(Self::default())
    }

    /// This thread has arrived.
    pub fn open(&self) {
        *self.arrived.lock().unwrap() += 1;
        self.changed.notify_all();
    }

    /// Block until `n` threads have arrived.
    pub fn wait_for(&self, n: usize) {
        let mut arrived = self.arrived.lock().unwrap();
        while *arrived < n {
            arrived = self.changed.wait(arrived).unwrap();
        }
    }

    /// Block until one thread has arrived.
    pub fn wait(&self) {
        self.wait_for(1);
    }

    /// How many threads have arrived so far (without blocking).
    pub fn arrived(&self) -> usize {
        *self.arrived.lock().unwrap()
    }
}

/// The permits currently held by model threads.
#[derive(Debug, Default)]
pub struct Held(AtomicUsize);

impl Held {
    /// A new counter at zero, shared.
    pub fn new() -> LoomArc<Self> {
        LoomArc::new(Self::default())
    }

    /// One more permit held; returns how many are held now (including this one).
    pub fn enter(&self) -> usize {
        // AcqRel: the counter must be a faithful count of overlapping permits in
        // every interleaving; the read-modify-write alone guarantees that.
        self.0.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// One permit released (call before recording or dropping it).
    pub fn leave(&self) {
        // AcqRel: as in `enter`.
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A counter that model threads tick at the points between which their operations
/// may interleave, so that loom tries every order of those points.
///
/// Loom's DPOR remembers only the last access to each atomic, and a load is taken to
/// depend on stores only. So when thread A's operation is only a load (a `Closed`
/// `try_acquire`, a deposit at a budget's cap) and thread B loads the same word
/// before its CAS, B's CAS is found to depend on B's own load alone, and the order
/// "B's CAS before A's load" is never tried (tokio-rs/loom#166 and #392). A tick is
/// a read-modify-write of one shared counter, which loom always permutes: ticking
/// before each operation makes it try those orders too. (The models that tick
/// assert, with [`Witness`]es, that every order they mean to cover was reached.)
///
/// `Relaxed`: a tick publishes nothing, so it adds no happens-before edge that the
/// code under test does not provide itself.
#[derive(Debug, Default)]
pub struct Turns(AtomicUsize);

impl Turns {
    /// A new counter, shared.
    pub fn new() -> LoomArc<Self> {
        LoomArc::new(Self::default())
    }

    /// A point where another thread's next operation may come first. Returns the
    /// tick's position among all ticks of the execution (0 for the first), so a model
    /// can tell in which order its threads passed their points: if thread B ticks
    /// after an operation and thread A before one, `b < a` means B's operation was
    /// wholly scheduled before A's (which, for a pure load, still leaves it free to
    /// read an older value: a tick adds no happens-before edge).
    pub fn tick(&self) -> usize {
        // Relaxed: see the type's documentation.
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// A [`ManualClock`] each of whose readings is also a [`Turns`] tick, and is noted
/// (which thread read it, at which tick position).
///
/// A breaker reads its clock between two steps that another thread can come
/// between: after the CAS into `Open` and before the deadline's publication (which
/// loads the deadline word, then re-checks the state word), and in `Open` between
/// the deadline load and the CAS into `HalfOpen`. Those loads are pure loads, so
/// without a choice point there loom never runs another thread's whole operation in
/// that gap (see [`Turns`]); a ticking clock puts one there.
///
/// A thread can also make its readings lag the clock ([`lag_this_thread`]): a
/// reporter that read its clock before another one did, and was preempted before
/// using the reading.
///
/// [`lag_this_thread`]: TickingClock::lag_this_thread
#[derive(Clone, Debug)]
pub struct TickingClock {
    clock: ManualClock,
    turns: LoomArc<Turns>,
    readings: StdArc<StdMutex<Vec<(ThreadId, usize)>>>,
    lags: StdArc<StdMutex<Vec<(ThreadId, u64)>>>,
}

impl TickingClock {
    /// A clock reading `clock`'s time and ticking `turns` on every reading.
    pub fn new(clock: &ManualClock, turns: &LoomArc<Turns>) -> Self {
        Self {
            clock: clock.clone(),
            turns: turns.clone(),
            readings: StdArc::default(),
            lags: StdArc::default(),
        }
    }

    /// From now on, the calling thread's readings are `lag` behind the clock (never
    /// before 0). Its readings are still made when the breaker reads the clock, and
    /// still ticks: only the value differs, as if the thread had sampled the clock
    /// `lag` earlier and been preempted before using the value.
    pub fn lag_this_thread(&self, lag: Duration) {
        let lag = u64::try_from(lag.as_nanos()).expect("a small lag");
        let me = loom::thread::current().id();
        let mut lags = self.lags.lock().unwrap();
        lags.retain(|(t, _)| *t != me);
        lags.push((me, lag));
    }

    /// Forget the readings so far (call it after a model's single-threaded setup).
    pub fn forget(&self) {
        self.readings.lock().unwrap().clear();
    }

    /// The tick positions of the readings `thread` made (since the last `forget`).
    pub fn readings_by(&self, thread: ThreadId) -> Vec<usize> {
        let readings = self.readings.lock().unwrap();
        readings
            .iter()
            .filter(|(t, _)| *t == thread)
            .map(|&(_, at)| at)
            .collect()
    }
}

impl Clock for TickingClock {
    fn now_nanos(&self) -> u64 {
        let at = self.turns.tick();
        // A std mutex: loom runs one model thread at a time, and nothing inside the
        // lock is a loom operation.
        self.readings
            .lock()
            .unwrap()
            .push((loom::thread::current().id(), at));
        let me = loom::thread::current().id();
        let lag = self
            .lags
            .lock()
            .unwrap()
            .iter()
            .find(|(t, _)| *t == me)
            .map_or(0, |&(_, lag)| lag);
        self.clock.now_nanos().saturating_sub(lag)
    }
}

/// Run a (2-thread) model with no preemption bound, so loom explores every
/// interleaving, whatever `LOOM_MAX_PREEMPTIONS` the environment sets (the script
/// sets 3 as a safety net for models that do not choose their own bound).
pub fn exhaustive<F>(body: F)
where
    F: Fn() + Send + Sync + 'static,
{
    let mut model = loom::model::Builder::new();
    model.preemption_bound = None;
    model.check(body);
}

/// Counts the executions loom explores for one model and times the whole check.
#[derive(Debug)]
pub struct Stats {
    name: &'static str,
    bound: String,
    iterations: StdArc<StdAtomicUsize>,
    start: Instant,
}

impl Stats {
    /// Stats for a model run by [`exhaustive`] (no preemption bound).
    pub fn unbounded(name: &'static str) -> Self {
        Self::new(name, "none (exhaustive)".to_string())
    }

    /// Stats for a model that sets `preemption_bound = Some(bound)` itself.
    pub fn bounded(name: &'static str, bound: usize) -> Self {
        Self::new(name, format!("{bound} (set in the model)"))
    }

    fn new(name: &'static str, bound: String) -> Self {
        Self {
            name,
            bound,
            iterations: StdArc::new(StdAtomicUsize::new(0)),
            start: Instant::now(),
        }
    }

    /// Wrap a model body so each execution is counted. (A std atomic on purpose: it
    /// counts executions across the whole check, outside any one execution.)
    pub fn count<F>(&self, f: F) -> impl Fn() + Send + Sync + 'static
    where
        F: Fn() + Send + Sync + 'static,
    {
        let iterations = self.iterations.clone();
        move || {
            iterations.fetch_add(1, StdOrdering::Relaxed);
            f()
        }
    }

    /// Print the iteration count and wall time.
    pub fn report(&self) {
        eprintln!(
            "loom model {}: {} iterations, preemption bound {}, {:.2?}",
            self.name,
            self.iterations.load(StdOrdering::Relaxed),
            self.bound,
            self.start.elapsed()
        );
    }
}

impl Drop for Stats {
    /// A model that fails unwinds out of `check` before [`Stats::report`]: say at
    /// which execution it failed (the failing one is the last counted).
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "loom model {}: FAILED at iteration {}, preemption bound {}, {:.2?}",
                self.name,
                self.iterations.load(StdOrdering::Relaxed),
                self.bound,
                self.start.elapsed()
            );
        }
    }
}

/// Counts, across all the executions of one model, those that reached a case the
/// model means to cover, so a test can assert that case is reachable (the model is
/// not vacuous). A std atomic on purpose: it outlives every execution.
#[derive(Clone, Debug)]
pub struct Witness {
    label: &'static str,
    seen: StdArc<StdAtomicUsize>,
}

impl Witness {
    /// A new witness for the case described by `label`.
    pub fn new(label: &'static str) -> Self {
        Self {
            label,
            seen: StdArc::new(StdAtomicUsize::new(0)),
        }
    }

    /// This execution reached the case.
    pub fn saw(&self) {
        self.seen.fetch_add(1, StdOrdering::Relaxed);
    }

    /// Assert that at least one execution reached the case, and print how many did.
    pub fn assert_seen(&self) {
        let n = self.seen.load(StdOrdering::Relaxed);
        eprintln!("  witness \"{}\": {n} executions", self.label);
        assert!(n > 0, "no execution reached: {}", self.label);
    }
}

/// Trip a breaker built with `trip_after_consecutive_failures(1)` on the model's own
/// thread (Closed at epoch 0 -> Open at epoch 1, deadline [`OPEN_FOR`] from now), then
/// advance `clock` to that deadline. Returns the epoch the first probe will get (2).
pub fn trip_and_wait(breaker: &Breaker, clock: &ManualClock) -> u32 {
    let permit = breaker.try_acquire().expect("a new breaker is closed");
    assert_eq!(permit.epoch(), 0);
    let recorded = permit.record(Verdict::failure());
    let t = recorded
        .transition()
        .expect("one failure trips this breaker");
    assert_eq!((t.from, t.to, t.epoch), (State::Closed, State::Open, 1));
    clock.advance(OPEN_FOR);
    let s = breaker.snapshot();
    assert!(s.state == State::Open && s.ready_to_probe, "{s:?}");
    t.epoch + 1
}

/// Run `f` once as a single-threaded loom execution (the breaker's atomics only work
/// inside one) and return its result: the sequential reference outcomes the
/// concurrent models are compared with.
pub fn sequential<T, F>(f: F) -> T
where
    T: Send + 'static,
    F: Fn() -> T + Send + Sync + 'static,
{
    let out = StdArc::new(StdMutex::new(None));
    let slot = out.clone();
    let mut model = loom::model::Builder::new();
    // One thread, so one execution; but every atomic access is a branch point, and a
    // reference that replays many orders makes many of them.
    model.max_branches = 1 << 20;
    model.check(move || {
        let value = f();
        *slot.lock().unwrap() = Some(value);
    });
    let value = out.lock().unwrap().take();
    value.expect("the sequential run produced a value")
}

/// `now + period`, rounded up to whole milliseconds: the deadline the breaker
/// publishes for a transition into `Open` at `now` (with no jitter).
pub fn deadline_after(now: Duration, period: Duration) -> Duration {
    let nanos = (now + period).as_nanos();
    let ms = nanos.div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).expect("a small deadline"))
}
