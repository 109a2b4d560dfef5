//! The adaptive concurrency limit fused into the breaker's admission: its words,
//! the window of latency samples, and the controller that sets the limit.
//!
//! # What it does
//!
//! The limit watches the latency of timed attempts. While latency stays near the
//! breaker's *unloaded* latency (its `base`), the limit is *disengaged*: it costs
//! the healthy path one load of a read-mostly word (the breaker's gate) and
//! nothing else, and no permit holds a slot. When a window of samples averages at
//! least [`ENGAGE_AT`] times the base and the window before it already showed a
//! queue (latency growing window after window), it *engages*: from then on every
//! admission takes a slot under the limit (a CAS on [`SlotWord`]), every permit so
//! admitted releases it exactly once (record, drop, stale or cut), and every such
//! attempt is timed. A rise from no queue straight to [`ENGAGE_AT`] is a *step*,
//! watched for one window first: a queue keeps rising ([`RISING`]: engage), a
//! downstream that became slow levels off (the new latency becomes the base), and
//! a fall ends the watch. Either way the window's upper quartile must be late
//! too (a quarter of its samples, and two, at [`ENGAGE_AT`] times the base): a
//! queue delays every attempt behind it, a latency tail only a few, which lift
//! the mean of a small window as much. No load is cut on a step until it rises
//! again: a cut on a slow downstream leaves the attempts in flight to end as
//! timeouts after their faster siblings, a burst of failures for the breaker.
//!
//! Engaged, each window sets the limit to the concurrency that carries the
//! throughput it measured at the unloaded latency, with [`TOLERANCE`] of queue
//! allowed: `limit = throughput × base × TOLERANCE` (Little's law). When the
//! limit binds, the throughput is `limit / rtt`, so this is the gradient rule
//! `limit × TOLERANCE × base / rtt`: the limit settles where latency is
//! `TOLERANCE × base`. A rise is taken whole (and, while the limit refuses with
//! less queue than allowed, is at least an eighth), a cut halfway; one window
//! moves it by at most ×2 or ×½, and never outside `[min, max]`. Two calm windows
//! (within the tolerance, nothing refused) disengage it.
//!
//! # Slow is not overloaded
//!
//! A downstream that is slow whatever the load (a slow dependency of its own, a
//! cold cache) also raises latency, and a limit that read every rise as
//! queueing would shrink to its floor and starve the caller. So each engagement
//! is an *episode* with a reference: the window mean and the concurrency that
//! carried it (throughput × mean, Little's law) when it engaged. After a grace
//! of [`GRACE`] reference latencies the limit holds for [`TEST_WINDOWS`] windows
//! and checks the one fact that defines queueing: latency falls when load
//! falls. If the lowest window mean fell under [`REBASE_RTT`] of the reference,
//! it is a queue, and the limit steers from then on. If concurrency is at most
//! [`REBASE_LOAD`] of the reference and latency is still at least
//! [`REBASE_RTT`] of it, and level, the rise was not queueing: the base is set
//! to the new latency and the limit disengages (a *rebase*). Latency still
//! moving gets no verdict: a backlog queued before the limit engaged is ahead of
//! every admitted attempt (first in, first out) and drains at the downstream's
//! pace. A limit at its floor under [`ENGAGE_AT`] × base, or one halved since it
//! engaged without latency ever reaching 1.2 × the allowance, disengages too:
//! its base was set too low.
//!
//! # The base
//!
//! The base is the downstream's typical unloaded latency. For its first windows
//! (after it is first set, and after a rebase or a drop) it is their plain
//! average, and nothing is decided before three; then, while disengaged, it
//! moves an eighth of the gap per window toward windows that show no queue, in
//! both directions. It falls at once to a full window's mean under half of it (a
//! downstream that became faster). A window that shows a queue never moves it,
//! so a slow ramp of load or a long overload cannot drag it up; while engaged it
//! rises only from a window in which the limit refused nothing.
//!
//! # Sampling
//!
//! Disengaged, the [`Guard`](crate::Guard) times one attempt in
//! [`SAMPLE_EVERY`] per thread (a thread-local countdown: no shared write), and
//! each such sample stands for the attempts it was chosen among in the window's
//! throughput; a thread backs its period off (up to [`MAX_SAMPLE_EVERY`]) while
//! other threads sample the same limit (see `adapt_period`). Engaged, it times
//! every attempt. [`Permit::record_timed`](crate::Permit::record_timed) reports
//! every attempt it is given.
//!
//! # Words and orderings
//!
//! [`SlotWord`] is self-contained: admission, release and the controller's
//! changes are each one read-modify-write computed from the value it replaces, so
//! its invariants (in-flight = live slot permits; `min <= limit <= max`) rest on
//! the atomicity of those operations alone, and every access is `Relaxed`:
//! nothing else is read on the strength of it. The window word is likewise one
//! CAS per sample; the CAS that empties it makes its caller the window's only
//! closer (`opened` and `span`, beside it, are written by the window's first
//! sample and its closer). The estimator words (`est`, `episode`,
//! `episode_low`) are statistics written by closers; two closers overlap only if a whole window fills while
//! one runs, and then the later one may decide on a slightly older base. Nothing
//! about slots depends on them, so they are `Relaxed` too.

use crate::sync::{AtomicU64, CasBackoff, Ordering};
use crossbeam_utils::CachePadded;
use std::cell::Cell;
use std::time::Duration;

/// Disengaged, one attempt in this many per thread is timed (more apart while
/// other threads sample the same limit: see `adapt_period`).
pub(crate) const SAMPLE_EVERY: u32 = 16;
/// A window closes with at least this many samples once it spans the last
/// window's mean latency (or with two once it spans twice that).
const WINDOW_MIN: u64 = 8;
/// A window closes at this many samples whatever its span.
const WINDOW_MAX: u64 = 255;
/// Engage when a window's mean latency is at least this many times the base.
pub(crate) const ENGAGE_AT: f64 = 1.75;
/// The queue allowed while engaged: the limit settles where latency is this many
/// times the base.
pub(crate) const TOLERANCE: f64 = 1.25;
/// A window within this many times the base shows no queue at all: a limit
/// held for its load test may then grow (the test cannot need it held).
pub(crate) const UNQUEUED: f64 = 1.1;
/// The grace before the load test, in reference latencies.
pub(crate) const GRACE: f64 = 1.5;
/// An engaging limit starts at no less than this share of the concurrency it
/// measured (below `REBASE_LOAD`, so the load test can tell).
pub(crate) const START_SHARE: f64 = 0.5;
/// A watched window at least this many times the watched one is still rising
/// (a queue: engage); at most its inverse, falling (stop watching).
pub(crate) const RISING: f64 = 1.25;
/// A base is young (the plain average of its windows) for this many windows…
const YOUNG: u64 = 7;
/// …and settled enough to decide on after this many.
const SETTLED: u64 = 3;
/// The load test looks at this many windows after the grace.
pub(crate) const TEST_WINDOWS: u64 = 3;
/// The episode's window count once the load test has confirmed a queue.
const CONFIRMED: u64 = 255;
/// Rebase when concurrency is at most this share of the reference…
pub(crate) const REBASE_LOAD: f64 = 0.6;
/// …and latency is still at least this share of it.
pub(crate) const REBASE_RTT: f64 = 0.85;
/// Calm windows (latency within the tolerance, no refusal) that disengage.
const CALM_TO_DISENGAGE: u64 = 2;
/// The default bounds of the limit.
pub(crate) const DEFAULT_MIN_LIMIT: u32 = 2;
/// The default ceiling of the limit.
pub(crate) const DEFAULT_MAX_LIMIT: u32 = 10_000;
/// The largest limit a [`SlotWord`] holds.
pub(crate) const LIMIT_MAX: u32 = 0xFFFF;

/// Latency unit in the words: 1,024 ns (about a microsecond), so a shift.
const UNIT_SHIFT: u32 = 10;
/// Latencies saturate at 2^24 units (about 17 s).
const RTT_MAX: u64 = (1 << 24) - 1;

fn to_units(ns: u64) -> u64 {
    (ns >> UNIT_SHIFT).clamp(1, RTT_MAX)
}

fn units_to_secs(units: u64) -> f64 {
    (units << UNIT_SHIFT) as f64 / 1e9
}

/// `[IN_FLIGHT:16 | LIMIT:16 | ENGAGED:1 | REFUSED:1 | CALM:2 | OBSERVING:1 | unused]`.
///
/// `IN_FLIGHT` counts live permits holding a slot, engaged or not (a permit
/// admitted while engaged keeps its slot across a disengagement, and releases it
/// when it ends); it is the low field, so a release is a plain `fetch_sub(1)`.
/// `REFUSED` says a refusal happened since the last window closed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct SlotWord(pub(crate) u64);

impl SlotWord {
    const ENGAGED: u64 = 1 << 32;
    const REFUSED: u64 = 1 << 33;
    const CALM_SHIFT: u32 = 34;
    const OBSERVING: u64 = 1 << 36;

    pub(crate) fn new(limit: u32) -> Self {
        SlotWord(u64::from(limit.min(LIMIT_MAX)) << 16)
    }
    pub(crate) fn in_flight(self) -> u32 {
        (self.0 & 0xFFFF) as u32
    }
    pub(crate) fn limit(self) -> u32 {
        ((self.0 >> 16) & 0xFFFF) as u32
    }
    pub(crate) fn engaged(self) -> bool {
        self.0 & Self::ENGAGED != 0
    }
    fn refused(self) -> bool {
        self.0 & Self::REFUSED != 0
    }
    fn calm(self) -> u64 {
        (self.0 >> Self::CALM_SHIFT) & 3
    }
    fn with_limit(self, limit: u32) -> Self {
        SlotWord((self.0 & !(0xFFFF << 16)) | (u64::from(limit.min(LIMIT_MAX)) << 16))
    }
    fn with_engaged(self, on: bool) -> Self {
        SlotWord(if on {
            self.0 | Self::ENGAGED
        } else {
            self.0 & !Self::ENGAGED
        })
    }
    fn with_calm(self, calm: u64) -> Self {
        SlotWord((self.0 & !(3 << Self::CALM_SHIFT)) | (calm.min(3) << Self::CALM_SHIFT))
    }
    /// `OBSERVING` (disengaged only): a step in latency is being watched.
    pub(crate) fn observing(self) -> bool {
        self.0 & Self::OBSERVING != 0
    }
    fn with_observing(self, on: bool) -> Self {
        SlotWord(if on {
            self.0 | Self::OBSERVING
        } else {
            self.0 & !Self::OBSERVING
        })
    }
    fn without_refused(self) -> Self {
        SlotWord(self.0 & !Self::REFUSED)
    }
    /// The most slots an attempt of this kind may bring the count to: retries
    /// leave a quarter of the limit (at least one slot) to first attempts.
    fn cap(self, retry: bool) -> u32 {
        let limit = self.limit();
        if retry {
            limit.saturating_sub((limit / 4).max(1))
        } else {
            limit
        }
    }
}

/// `[N:8 | ATTEMPTS:16 | SUM:32 | LATE:8]`: samples in the open window, the
/// attempts they stand for, the sum of their latencies (units: at most 255
/// samples of at most `RTT_MAX`, under 2^32), and how many of them were *late*
/// (at least [`ENGAGE_AT`] times the base when they were taken).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct WindowWord(u64);

impl WindowWord {
    fn n(self) -> u64 {
        self.0 & 0xFF
    }
    fn attempts(self) -> u64 {
        (self.0 >> 8) & 0xFFFF
    }
    fn sum(self) -> u64 {
        (self.0 >> 24) & 0xFFFF_FFFF
    }
    fn late(self) -> u64 {
        self.0 >> 56
    }
    /// Whether at least a quarter of the window's samples, and two, were late:
    /// its upper quartile latency was at least [`ENGAGE_AT`] times the base.
    /// A queue delays every attempt behind it, so it moves the quartiles with
    /// the mean (a queue that forms mid-window delays the window's later
    /// samples, which is why not the median: it lags a window behind); a
    /// latency tail (a few attempts in a hundred many times slower, whatever
    /// the load) moves the mean of a few samples as much, but not their
    /// quartiles, and one such attempt is never enough.
    fn upper_quartile_late(self) -> bool {
        self.late() >= 2 && self.late() * 4 >= self.n()
    }
    fn plus(self, rtt: u64, weight: u64, late: bool) -> Self {
        let n = (self.n() + 1).min(0xFF);
        let attempts = (self.attempts() + weight).min(0xFFFF);
        let sum = (self.sum() + rtt).min(0xFFFF_FFFF);
        let late = (self.late() + u64::from(late)).min(0xFF);
        WindowWord(n | (attempts << 8) | (sum << 24) | (late << 56))
    }
}

/// `[BASE:24 | LAST:24 | QUEUED:1 | YOUNG:3]`: the unloaded latency, the last
/// window's mean (units), whether that window showed a queue (mean above the
/// tolerance), and how many windows the base has had since it was last set
/// afresh (up to 7: until then it is the plain average of those windows).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct EstWord(u64);

impl EstWord {
    fn new(base: u64, last: u64, queued: bool) -> Self {
        EstWord(base.min(RTT_MAX) | (last.min(RTT_MAX) << 24) | (u64::from(queued) << 48))
    }

    fn base(self) -> u64 {
        self.0 & RTT_MAX
    }
    fn last(self) -> u64 {
        (self.0 >> 24) & RTT_MAX
    }
    fn queued(self) -> bool {
        self.0 >> 48 & 1 == 1
    }
    /// Windows since the base was last set afresh (saturating at 7).
    fn young(self) -> u64 {
        (self.0 >> 49) & 7
    }
    fn with_young(self, windows: u64) -> Self {
        EstWord((self.0 & !(7 << 49)) | (windows.min(7) << 49))
    }
}

/// `[REF_RTT:24 | REF_CONC:16 | AT_MS:24]`: an engagement's reference (mean
/// latency, the concurrency that carried it) and when it began (ms, wrapping).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct EpisodeWord(u64);

impl EpisodeWord {
    fn new(rtt: u64, conc: u64, at_ms: u64) -> Self {
        EpisodeWord(rtt.min(RTT_MAX) | (conc.min(0xFFFF) << 24) | ((at_ms & RTT_MAX) << 40))
    }
    fn rtt(self) -> u64 {
        self.0 & RTT_MAX
    }
    fn conc(self) -> u64 {
        (self.0 >> 24) & 0xFFFF
    }
    fn ms_since(self, now_ms: u64) -> u64 {
        (now_ms.wrapping_sub(self.0 >> 40)) & RTT_MAX
    }
}

/// A read-only view of the limit, for snapshots and tests.
///
/// # Examples
///
/// ```
/// use fusebox::Breaker;
///
/// let breaker = Breaker::builder().build()?;
/// let limit = breaker.limit();
/// // A new breaker has seen no latency yet: the limit is not engaged.
/// assert!(!limit.engaged);
/// assert_eq!(limit.in_flight, 0);
/// assert_eq!(limit.base_latency, None);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct LimitSnapshot {
    /// Whether the limit is engaged (admissions take slots).
    pub engaged: bool,
    /// The current limit (meaningful while engaged).
    pub limit: u32,
    /// Permits holding a slot.
    pub in_flight: u32,
    /// The unloaded latency the limit measures queueing against (`None` before
    /// the first window of samples).
    pub base_latency: Option<Duration>,
    /// The last window's mean latency.
    pub last_latency: Option<Duration>,
}

/// What a disengaged window decides about a step in latency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Nothing to do.
    None,
    /// Engage now.
    Engage,
    /// Watch the next window.
    Watch,
    /// The latency levelled off: rebase.
    Level,
    /// The step is gone: stop watching.
    Clear,
}

/// What closing a window changed that the breaker must act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GateChange {
    Engaged,
    Disengaged,
}

/// The limit's shared words and its bounds.
pub(crate) struct Limiter {
    /// Written by every admission and release while engaged: a line of its own.
    slots: CachePadded<AtomicU64>,
    /// Written by every latency sample: a line of its own, so that samples on
    /// other threads do not evict the words a sample only reads.
    sampling: CachePadded<Sampling>,
    /// The rest is written when a window closes.
    est: AtomicU64,
    episode: AtomicU64,
    /// The episode's lowest window mean (units, low 24 bits) and its windows
    /// (the bits above).
    episode_low: AtomicU64,
    min: u32,
    max: u32,
    enabled: bool,
}

/// The open window, when its first sample ended (breaker clock, ns), and the
/// last window's mean (ns: the span a window must cover to close) and the
/// latency from which a sample is late (units: [`ENGAGE_AT`] times the base),
/// copies of the estimator's, so that a sample touches this line only.
struct Sampling {
    window: AtomicU64,
    opened: AtomicU64,
    span: AtomicU64,
    late_at: AtomicU64,
}

impl Limiter {
    pub(crate) fn new(enabled: bool, min: u32, max: u32) -> Self {
        Self {
            slots: CachePadded::new(AtomicU64::new(SlotWord::new(max).0)),
            sampling: CachePadded::new(Sampling {
                window: AtomicU64::new(0),
                opened: AtomicU64::new(0),
                span: AtomicU64::new(0),
                late_at: AtomicU64::new(0),
            }),
            est: AtomicU64::new(0),
            episode: AtomicU64::new(0),
            episode_low: AtomicU64::new(0),
            min,
            max,
            enabled,
        }
    }

    /// Whether the limit adapts at all (a breaker built with it off never
    /// engages and takes no samples).
    #[inline(always)]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    pub(crate) fn slots(&self) -> SlotWord {
        // Relaxed: see the module's "Words and orderings".
        SlotWord(self.slots.load(Ordering::Relaxed))
    }

    /// Take a slot if the limit is engaged: `Ok(true)` with a slot, `Ok(false)`
    /// when disengaged (no slot needed), `Err` at the limit (for a retry: at the
    /// limit less the first attempts' reserve).
    pub(crate) fn take(&self, retry: bool) -> Result<bool, ()> {
        let mut cur = self.slots();
        let backoff = CasBackoff::new();
        loop {
            if !cur.engaged() {
                return Ok(false);
            }
            if cur.in_flight() >= cur.cap(retry) {
                if !cur.refused() {
                    // Relaxed: a flag read by the next window's closer only.
                    self.slots.fetch_or(SlotWord::REFUSED, Ordering::Relaxed);
                }
                return Err(());
            }
            let next = SlotWord(cur.0 + 1);
            // Relaxed (success and failure): the word is self-contained.
            match self.slots.compare_exchange_weak(
                cur.0,
                next.0,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(true),
                Err(actual) => {
                    cur = SlotWord(actual);
                    backoff.spin();
                }
            }
        }
    }

    /// Release one slot (a permit that held one has ended, however).
    pub(crate) fn release(&self) {
        // Relaxed: self-contained; `IN_FLIGHT` is the low field and at least 1
        // while a slot permit lives, so the subtraction never borrows.
        let before = self.slots.fetch_sub(1, Ordering::Relaxed);
        debug_assert!(SlotWord(before).in_flight() > 0, "a slot released twice");
    }

    /// A hint for a refused caller: the time for one slot to free up at the
    /// last window's latency, at least a millisecond.
    pub(crate) fn retry_after(&self) -> Duration {
        let est = EstWord(self.est.load(Ordering::Relaxed));
        let limit = u64::from(self.slots().limit().max(1));
        let ns = (est.last() << UNIT_SHIFT) / limit;
        Duration::from_nanos(ns.max(1_000_000))
    }

    /// Whether the limit has measured the downstream, the last window showed no
    /// queue and the limit is disengaged: a retry costs the downstream nothing
    /// it cannot spare.
    pub(crate) fn headroom(&self) -> bool {
        let est = EstWord(self.est.load(Ordering::Relaxed));
        !self.slots().engaged() && est.base() > 0 && !est.queued()
    }

    pub(crate) fn snapshot(&self) -> LimitSnapshot {
        let s = self.slots();
        let est = EstWord(self.est.load(Ordering::Relaxed));
        let d = |u: u64| (u > 0).then(|| Duration::from_nanos(u << UNIT_SHIFT));
        LimitSnapshot {
            engaged: s.engaged(),
            limit: s.limit(),
            in_flight: s.in_flight(),
            base_latency: d(est.base()),
            last_latency: d(est.last()),
        }
    }

    /// One timed attempt: `rtt_ns` long, ended at `now_ns` (breaker clock),
    /// standing for `weight` attempts. Closes the window when it is full.
    pub(crate) fn sample(&self, rtt_ns: u64, now_ns: u64, weight: u32) -> Option<GateChange> {
        if !self.enabled {
            return None;
        }
        let rtt = to_units(rtt_ns);
        let span = self.sampling.span.load(Ordering::Relaxed);
        // Relaxed: a statistic, like `span` (see "Words and orderings"); a
        // sample that reads the threshold of the base before the last close
        // is counted against that base. Before any base (0), every sample is
        // late, and nothing is decided on it.
        let late = rtt >= self.sampling.late_at.load(Ordering::Relaxed);
        let since = now_ns.saturating_sub(self.sampling.opened.load(Ordering::Relaxed));
        let mut cur = WindowWord(self.sampling.window.load(Ordering::Relaxed));
        let found = cur.0;
        // A guard's sample (it stands for more than itself) adapts its
        // thread's sampling period to how many threads sample this limit.
        let sampled = weight > 1;
        let backoff = CasBackoff::new();
        loop {
            let next = cur.plus(rtt, u64::from(weight), late);
            // Full at `WINDOW_MIN` samples spanning the last mean latency, or at
            // two spanning twice that (a tight limit on a slow downstream
            // completes few attempts, and must still be steered), or at most.
            let full = next.n() >= WINDOW_MAX
                || (next.n() >= WINDOW_MIN && since >= span)
                || (next.n() >= 2 && since >= span.saturating_mul(2));
            let stored = if full { 0 } else { next.0 };
            // Relaxed: one CAS per sample; the one that empties the window makes
            // its caller the only closer of these samples.
            match self.sampling.window.compare_exchange_weak(
                cur.0,
                stored,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if sampled {
                        adapt_period(std::ptr::from_ref(self) as usize, found, stored);
                    }
                    if full {
                        return self.close(next, now_ns);
                    }
                    if cur.n() == 0 {
                        // The window opens: its throughput is measured from here.
                        self.sampling.opened.store(now_ns, Ordering::Relaxed);
                    }
                    return None;
                }
                Err(actual) => {
                    cur = WindowWord(actual);
                    backoff.spin();
                }
            }
        }
    }

    /// Close a window: update the base, and engage, steer or disengage the limit.
    #[cold]
    fn close(&self, w: WindowWord, now_ns: u64) -> Option<GateChange> {
        // The window ran from its first sample's end to its last's: the
        // attempts after the first ended in that time.
        let opened = self.sampling.opened.load(Ordering::Relaxed);
        let elapsed = now_ns.saturating_sub(opened).max(1_000);
        let n = w.n().max(2);
        let mean = (w.sum() / n).max(1);
        let throughput = w.attempts() as f64 * (n - 1) as f64 / n as f64 * 1e9 / elapsed as f64;
        let est = EstWord(self.est.load(Ordering::Relaxed));
        // The first base comes from a full window, or from two smaller ones
        // averaged (a mean of two samples is noise, and a base too low reads
        // every window as a queue); until then nothing is decided.
        if est.base() == 0 && w.n() < WINDOW_MIN && est.last() == 0 {
            self.store_est(EstWord::new(0, mean, false));
            return None;
        }
        let mut base = match (est.base(), est.last()) {
            (0, last) if w.n() < WINDOW_MIN => (last + mean) / 2,
            (0, _) => mean,
            (base, _) => base,
        };
        let mut young = if est.base() == 0 { 0 } else { est.young() };
        if mean * 2 < base && w.n() >= WINDOW_MIN {
            // At once to the mean of a full window under half the base (the
            // downstream got faster), which is then refined as a young base.
            base = mean;
            young = 0;
        } else if young < YOUNG && !self.slots().engaged() {
            // A young base is the plain average of its first windows (one
            // window's mean is noisy by several percent, and a base set by a
            // fast one would read every window after it as a queue); a window
            // that already shows a queue counts, but is not averaged in.
            if (mean as f64) < ENGAGE_AT * base as f64 {
                let (b, m) = (base as i64, mean as i64);
                base = (b + (m - b) / (young as i64 + 2)).max(1) as u64;
            }
            young += 1;
        } else if mean < base {
            // The base falls at once to the mean of a full window under half
            // of it (the downstream got faster). Otherwise, while disengaged,
            // by an eighth of the gap per window, as it rises: the base is the
            // typical unloaded latency, not a low quantile of noisy window
            // means. While engaged it holds: the windows then measure the
            // limit's own queue, and a base worn down by their noise would
            // read the limit's allowance as a queue and hold it low.
            if mean * 2 < base && w.n() >= WINDOW_MIN {
                base = mean;
            } else if !self.slots().engaged() {
                base -= (base - mean) / 8;
            }
        }
        let q = mean as f64 / base as f64;
        let now_ms = now_ns / 1_000_000;
        let slots = self.slots();
        let bound = |x: f64| -> u32 {
            let x = if x.is_finite() {
                x
            } else {
                f64::from(self.max)
            };
            (x.round() as u64).clamp(u64::from(self.min), u64::from(self.max)) as u32
        };
        // Decisions wait for a settled base.
        let settled = young >= SETTLED;
        let change = if !slots.engaged() {
            // A step: latency several times the base in one window. A queue
            // grows into such a latency over windows; a downstream that became
            // slow (or stopped answering) jumps to it. Before cutting any load
            // (a cut on a slow downstream leaves the attempts already in
            // flight to end as timeouts after their faster siblings, which
            // reads as a burst of failures), watch: a queue keeps growing, a
            // slow downstream levels off.
            let observing = slots.observing();
            let prev = EpisodeWord(self.episode.load(Ordering::Relaxed)).rtt();
            let step = if observing && w.n() < WINDOW_MIN / 2 {
                // Too few samples to tell a trend: keep watching.
                Step::None
            } else if observing {
                let rising = mean as f64 >= RISING * prev as f64;
                let falling = (mean as f64) * RISING <= prev as f64;
                if q < ENGAGE_AT || !w.upper_quartile_late() || falling {
                    Step::Clear
                } else if rising {
                    Step::Engage
                } else {
                    Step::Level
                }
            } else if !settled {
                Step::None
            } else if q >= ENGAGE_AT && w.n() >= WINDOW_MIN / 2 && !w.upper_quartile_late() {
                // The mean is high, the upper quartile is not: a slow
                // attempt (a latency tail) in a window of fast ones, not a
                // queue. One attempt ten times slower than the rest lifts the
                // mean of eight samples to twice the base.
                Step::None
            } else if q >= ENGAGE_AT && w.n() >= WINDOW_MIN / 2 && !est.queued() {
                // From no queue to twice the base in one window: a step.
                Step::Watch
            } else if q >= ENGAGE_AT && w.n() >= WINDOW_MIN / 2 {
                // The last window already showed a queue, and it grew.
                Step::Engage
            } else {
                Step::None
            };
            match step {
                Step::Watch => {
                    self.episode
                        .store(EpisodeWord::new(mean, 0, now_ms).0, Ordering::Relaxed);
                    self.update_slots(|s| {
                        (!s.engaged()).then(|| s.with_observing(true).with_calm(0))
                    });
                    return self.finish_close(base, young, mean, None);
                }
                Step::Level => {
                    // Levelled off: slow, not queueing.
                    self.update_slots(|s| Some(s.with_observing(false).with_calm(0)));
                    return self.finish_close(mean, 0, mean, None);
                }
                Step::Clear => {
                    self.update_slots(|s| Some(s.with_observing(false).with_calm(0)));
                }
                Step::Engage | Step::None => {}
            }
            if step == Step::Engage {
                // The concurrency that carries the throughput without a queue,
                // but no less than half the concurrency now: enough of a cut
                // for the load test to tell, and no more (a downstream that is
                // only slow loses half its calls for the test, not all).
                let conc = (throughput * units_to_secs(mean)).round() as u64;
                let limit = bound(
                    (throughput * units_to_secs(base) * TOLERANCE).max(START_SHARE * conc as f64),
                );
                self.episode.store(
                    EpisodeWord::new(mean, conc.max(1), now_ms).0,
                    Ordering::Relaxed,
                );
                self.episode_low
                    .store(RTT_MAX | (u64::from(limit) << 32), Ordering::Relaxed);
                self.update_slots(|s| {
                    Some(
                        s.with_limit(limit)
                            .with_engaged(true)
                            .with_observing(false)
                            .with_calm(0),
                    )
                })
                .then_some(GateChange::Engaged)
            } else {
                if settled && q < TOLERANCE && mean > base {
                    // Unqueued: the base may rise, slowly, toward the mean
                    // (an eighth of the gap, as it falls: it is the typical
                    // unloaded latency). Not from a window that shows a queue,
                    // or a load that grows slowly would drag it up.
                    base += (mean - base) / 8;
                }
                None
            }
        } else {
            if q < TOLERANCE && mean > base && !slots.refused() {
                // Engaged, but the limit did not bind and the window showed
                // less than the allowed queue: what it measured is the
                // downstream under the whole demand, so the base may rise
                // toward it as while disengaged (an engagement on a noisy
                // window, or a base a little low, is corrected, and calm
                // windows follow).
                base += (mean - base) / 8;
            }
            let ep = EpisodeWord(self.episode.load(Ordering::Relaxed));
            let in_grace =
                (ep.ms_since(now_ms) as f64) * 1e6 < GRACE * (ep.rtt() << UNIT_SHIFT) as f64;
            // The episode's lowest window mean after the grace, and how many
            // windows that is: the attempts queued ahead of the first ones the
            // limit admitted (first in, first out) still show the old queue, so
            // the test waits for `TEST_WINDOWS` windows after the grace.
            // Until the test has decided (`CONFIRMED`), the limit holds: a cut
            // would only show up one latency later, and on a slow downstream it
            // would starve the caller for nothing.
            let low = self.episode_low.load(Ordering::Relaxed);
            let (mut low_mean, mut windows) = (low & RTT_MAX, (low >> 24) & 0xFF);
            let start_limit = low >> 32;
            let testing = windows < CONFIRMED;
            if !in_grace {
                low_mean = low_mean.min(mean);
                if testing {
                    windows += 1;
                }
            }
            let fell = (low_mean as f64) < REBASE_RTT * ep.rtt() as f64;
            let load_fell = f64::from(slots.limit()) <= REBASE_LOAD * ep.conc() as f64;
            if testing && windows >= TEST_WINDOWS && fell {
                // Latency fell with load: a queue. The limit steers from here.
                windows = CONFIRMED;
            }
            if !in_grace {
                self.episode_low.store(
                    low_mean | (windows << 24) | (start_limit << 32),
                    Ordering::Relaxed,
                );
            }
            // Not queueing either: a limit held at its floor whose latency is
            // under `ENGAGE_AT` times the base (a floor's worth of attempts
            // cannot be the queue that engaged it; the base was set too low
            // by fast windows).
            let floor_not_queue = slots.limit() <= self.min && q < ENGAGE_AT;
            // Nor is a latency that never came down to the allowed queue
            // although the limit has halved since it engaged: a queue the
            // limit holds settles at `TOLERANCE` times the base, so the base
            // is too low (set by a few fast windows), not the load too high.
            let base_too_low = windows >= TEST_WINDOWS
                && u64::from(slots.limit()) * 2 <= start_limit
                && low_mean as f64 >= TOLERANCE * 1.2 * base as f64;
            let testing = windows < CONFIRMED;
            // Latency that still moves is a queue still draining (the
            // attempts admitted before the limit engaged are ahead, first in,
            // first out) or still filling: no verdict on it yet.
            let last = est.last().max(1) as f64;
            let flat = (mean as f64) < RISING * last && (mean as f64) * RISING > last;
            if (testing && windows >= TEST_WINDOWS && !fell && load_fell && flat)
                || floor_not_queue
                || base_too_low
            {
                // Latency did not fall with load: slow, not queueing (or the
                // base was too low). The new base: this window's mean, young.
                base = mean.max(low_mean.min(RTT_MAX));
                young = 0;
                self.update_slots(|s| Some(s.with_engaged(false).with_calm(0).without_refused()))
                    .then_some(GateChange::Disengaged)
            } else {
                let calm_window = q <= TOLERANCE && !slots.refused();
                self.update_slots(|s| {
                    if !s.engaged() {
                        return None;
                    }
                    let calm = if calm_window { s.calm() + 1 } else { 0 };
                    if calm >= CALM_TO_DISENGAGE {
                        return Some(s.with_engaged(false).with_calm(0).without_refused());
                    }
                    let limit = if in_grace || (testing && q > UNQUEUED) {
                        // Held while the test runs; if the load has not
                        // fallen enough for it to tell, halved.
                        if testing && windows >= TEST_WINDOWS && !load_fell {
                            bound(f64::from(s.limit()) * 0.5)
                        } else {
                            s.limit()
                        }
                    } else {
                        // The concurrency that carries the measured
                        // throughput at the allowed queue; while the window
                        // showed less queue than allowed and the limit bound
                        // (it refused), also at least an eighth more: the
                        // limit itself held the throughput down, so it probes
                        // upward. A rise is taken whole, a cut halfway (one
                        // window's mean is noisy by a few percent).
                        let cur = f64::from(s.limit());
                        let mut target = throughput * units_to_secs(base) * TOLERANCE;
                        if q <= TOLERANCE && slots.refused() {
                            target = target.max(cur + (cur / 8.0).max(1.0));
                        }
                        let target = target.clamp(cur * 0.5, cur * 2.0);
                        bound(if target >= cur {
                            target
                        } else {
                            cur + (target - cur) / 2.0
                        })
                    };
                    Some(s.with_limit(limit).with_calm(calm).without_refused())
                });
                (!self.slots().engaged()).then_some(GateChange::Disengaged)
            }
        };
        self.finish_close(base, young, mean, change)
    }

    /// The end of every decided window: store the base, the window's mean,
    /// and whether it showed a queue.
    fn finish_close(
        &self,
        base: u64,
        young: u64,
        mean: u64,
        change: Option<GateChange>,
    ) -> Option<GateChange> {
        self.store_est(
            EstWord::new(base, mean, mean as f64 > TOLERANCE * base as f64).with_young(young),
        );
        change
    }

    /// Store the estimator word, and the span a window must cover to close (its
    /// last mean) where samples read it.
    fn store_est(&self, est: EstWord) {
        // Relaxed: statistics (see the module's "Words and orderings").
        self.est.store(est.0, Ordering::Relaxed);
        self.sampling
            .span
            .store(est.last() << UNIT_SHIFT, Ordering::Relaxed);
        self.sampling.late_at.store(
            (ENGAGE_AT * est.base() as f64).ceil() as u64,
            Ordering::Relaxed,
        );
    }

    /// Disengage, and forget the episode, the last window and the open one (the
    /// base stays: it is the downstream's unloaded latency, which an outage does
    /// not change).
    pub(crate) fn fresh_start(&self) -> Option<GateChange> {
        if !self.enabled {
            return None;
        }
        let est = EstWord(self.est.load(Ordering::Relaxed));
        // The base and its age stay; the last window's mean becomes the base
        // (the outage's is history).
        self.store_est(EstWord::new(est.base(), est.base(), false).with_young(est.young()));
        // The open window's samples are the outage's (timeouts, probes).
        self.sampling.window.store(0, Ordering::Relaxed);
        // Disengage, and stop watching a step: both are the outage's.
        let mut was_engaged = false;
        self.update_slots(|s| {
            was_engaged = s.engaged();
            (s.engaged() || s.observing()).then(|| {
                s.with_engaged(false)
                    .with_observing(false)
                    .with_calm(0)
                    .without_refused()
            })
        });
        was_engaged.then_some(GateChange::Disengaged)
    }

    /// Apply `f` to the slot word by CAS; whether it changed the word. `f` sees
    /// the current word each time (slots taken and released meanwhile are kept).
    fn update_slots(&self, mut f: impl FnMut(SlotWord) -> Option<SlotWord>) -> bool {
        let mut cur = self.slots();
        let backoff = CasBackoff::new();
        loop {
            let Some(next) = f(cur) else { return false };
            if next == cur {
                return false;
            }
            // Relaxed: the word is self-contained.
            match self.slots.compare_exchange_weak(
                cur.0,
                next.0,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => {
                    cur = SlotWord(actual);
                    backoff.spin();
                }
            }
        }
    }
}

/// The longest sampling period a thread backs off to.
pub(crate) const MAX_SAMPLE_EVERY: u32 = 256;

/// A thread's sampling state: the countdown to its next sample, its period
/// (`SAMPLE_EVERY`, doubled up to `MAX_SAMPLE_EVERY` while other threads sample
/// the same limit: their samples are plenty, and every sample writes the shared
/// window), the period its next sample stands for, and, for the limit it last
/// sampled (by address), the window word it left there.
#[derive(Clone, Copy)]
struct Sampler {
    countdown: u32,
    period: u32,
    armed: u32,
    limiter: usize,
    left: u64,
}

thread_local! {
    static SAMPLER: Cell<Sampler> = const {
        Cell::new(Sampler {
            countdown: 0,
            period: SAMPLE_EVERY,
            armed: SAMPLE_EVERY,
            limiter: 0,
            left: 0,
        })
    };
}

/// Whether this thread's next attempt is one to time (one in its period, at
/// first [`SAMPLE_EVERY`]), and then how many attempts the sample stands for.
/// A thread-local countdown: no shared write.
///
/// Under loom it never samples: the thread-local would carry its countdown
/// from one explored execution to the next (loom runs them on one OS thread),
/// which makes a model nondeterministic; the limit's own models report their
/// samples through `Permit::record_timed` instead.
#[inline(never)]
pub(crate) fn sample_tick() -> Option<u32> {
    if cfg!(loom) {
        return None;
    }
    SAMPLER.with(|c| {
        let mut s = c.get();
        let due = if s.countdown == 0 {
            let weight = s.armed;
            s.countdown = s.period - 1;
            s.armed = s.period;
            Some(weight)
        } else {
            s.countdown -= 1;
            None
        };
        c.set(s);
        due
    })
}

/// After this thread's sample on `limiter` found the window at `found` and left
/// it at `left`: if another thread wrote the window since this thread's last
/// sample there, double the period (up to `MAX_SAMPLE_EVERY`); if none did,
/// halve it (down to `SAMPLE_EVERY`). A thread that samples other limits in
/// between learns nothing and keeps its period.
fn adapt_period(limiter: usize, found: u64, left: u64) {
    SAMPLER.with(|c| {
        let mut s = c.get();
        if s.limiter == limiter {
            s.period = if found == s.left {
                (s.period / 2).max(SAMPLE_EVERY)
            } else {
                (s.period * 2).min(MAX_SAMPLE_EVERY)
            };
        }
        s.limiter = limiter;
        s.left = left;
        c.set(s);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period() -> u32 {
        SAMPLER.with(|c| c.get().period)
    }

    #[test]
    fn a_threads_sampling_backs_off_while_others_sample_the_same_limit() {
        let (a, b) = (Limiter::new(true, 2, 100), Limiter::new(true, 2, 100));
        let ms = 1_000_000;
        // Alone on `a`: the period stays at its floor.
        for i in 1..=3 {
            let _ = a.sample(10 * ms, i * ms, SAMPLE_EVERY);
        }
        assert_eq!(period(), SAMPLE_EVERY);
        // Another thread's sample lands between two of ours (the window word
        // is not what this thread left): twice the period, up to the cap.
        for i in 4..=20 {
            let w = WindowWord(a.sampling.window.load(Ordering::Relaxed));
            a.sampling
                .window
                .store(w.plus(to_units(10 * ms), 16, false).0, Ordering::Relaxed);
            let _ = a.sample(10 * ms, i * ms, SAMPLE_EVERY);
        }
        assert_eq!(period(), MAX_SAMPLE_EVERY);
        // Samples of another limit in between tell nothing: the period holds.
        let _ = b.sample(10 * ms, 21 * ms, SAMPLE_EVERY);
        assert_eq!(period(), MAX_SAMPLE_EVERY);
        // Alone again on `a`: halved each time, back to the floor.
        let _ = a.sample(10 * ms, 22 * ms, SAMPLE_EVERY);
        assert_eq!(
            period(),
            MAX_SAMPLE_EVERY,
            "the first after `b` only relearns"
        );
        let _ = a.sample(10 * ms, 23 * ms, SAMPLE_EVERY);
        assert_eq!(period(), MAX_SAMPLE_EVERY / 2);
        for i in 24..=30 {
            let _ = a.sample(10 * ms, i * ms, SAMPLE_EVERY);
        }
        assert_eq!(period(), SAMPLE_EVERY);
        // A sample stands for the period armed when its countdown began.
        SAMPLER.with(|c| {
            let mut s = c.get();
            s.countdown = 0;
            s.armed = 64;
            c.set(s);
        });
        assert_eq!(sample_tick(), Some(64));
        assert_eq!(sample_tick(), None);
    }

    #[test]
    fn a_permits_own_report_does_not_adapt_the_period() {
        let a = Limiter::new(true, 2, 100);
        let ms = 1_000_000;
        for i in 1..=10 {
            a.sampling
                .window
                .store(u64::from(i as u8) << 8, Ordering::Relaxed);
            let _ = a.sample(10 * ms, i * ms, 1);
        }
        assert_eq!(period(), SAMPLE_EVERY);
    }
}
