//! [`Registry`]: one breaker and one retry budget per downstream key (a host, a
//! service name), made on first use from a template, found again without a lock.
//!
//! # What a lookup costs
//!
//! A hit ([`Registry::get`], [`Registry::with`]) is one lookup in a lock-free
//! concurrent map ([`papaya`](https://docs.rs/papaya): the key is hashed with the
//! standard library's SipHash, so keys taken from requests cannot flood one
//! bucket), an epoch pin that writes only this thread's own slot, and, when idle
//! eviction is on, two loads and a compare: the registry's current epoch (a word
//! written at most once a tick, `idle / 16`) and the entry's stamp. It reads no
//! clock, takes no lock and allocates nothing. The stamp is written only when it
//! is behind the registry's epoch, so a busy entry sees at most one shared write
//! per epoch, not one per hit (see [idle eviction](#idle-eviction)).
//! [`get`](Registry::get) returns an owned [`Entry`] (an `Arc`: one
//! reference-count increment and decrement per call, on a cache line every thread
//! using that key writes); [`with`](Registry::with) lends the entry to a closure
//! instead and writes nothing shared.
//!
//! # Bounds
//!
//! At most [`max_entries`](RegistryBuilder::max_entries) keys have an entry of
//! their own. An entry not in use is removed by a sweep once it has been idle
//! long enough (see [idle eviction](#idle-eviction)); a sweep runs on a miss, at
//! most once per `idle` while there is room and at most once per tick when the
//! registry is full, or when [`evict_idle`](Registry::evict_idle) is called. A
//! key that arrives while the registry is full of entries in use gets the shared
//! **overflow** entry ([`Registry::overflow`]) for that call: no entry in use is
//! ever evicted to make room, so a flood of new keys cannot erase the state of a
//! breaker that is open for a downstream still being called, and a miss at the
//! cap costs no scan.
//!
//! # In use
//!
//! An entry is in use, and is never evicted, while either is true:
//!
//! - something outside the registry holds it: an [`Entry`] (a caller's, or a
//!   call in flight through the tower layer's `RegistryService`), a
//!   [`Guard`] from [`Registry::guard`] or [`Entry::guard`], a clone of its
//!   `Arc<Breaker>` or `Arc<RetryBudget>`, an
//!   [`OwnedPermit`](crate::OwnedPermit). Every call through a held guard is a
//!   use, a rejected one included, without a lookup: two live breakers for one
//!   key would split its state (the guard's open, the registry's closed);
//! - it was looked up ([`get`](Registry::get), [`with`](Registry::with),
//!   [`try_get`](Registry::try_get), [`guard`](Registry::guard)) within its idle
//!   time (more exactly: after the start of the newest epoch that started at
//!   least `idle` ago; see [idle eviction](#idle-eviction)).
//!
//! Holders are seen by the sweep through the `Arc`s' reference counts, which it
//! reads; a hit writes nothing more for it. Each removal re-checks both, at the
//! time of the removal, so a lookup or a holder that came after the sweep's scan
//! keeps the entry. One window remains: a lookup that finds an idle entry at the
//! very moment a sweep removes it (after the sweep's re-check, before the
//! lookup's clone) gets the removed entry; kept for one call, that is harmless,
//! but a guard made from it holds a breaker the key no longer maps to. Closing it
//! would cost a fence on every hit. An entry taken out with [`Registry::remove`]
//! stays valid the same way for whoever holds it: guards and permits keep their
//! `Arc`s, and their reports go to the removed breaker; the key's next use makes
//! a new entry.
//!
//! # Idle eviction
//!
//! A hit reads no clock, so lookups are told apart by **epochs**. A lookup stamps
//! its entry with the registry's current epoch. A new epoch starts only where the
//! clock is read anyway: at a miss, a sweep or an
//! [`evict_idle`](Registry::evict_idle) call that comes at least a tick
//! (`idle / 16`) after the current epoch started (unless another thread is
//! sweeping or starting an epoch at that moment: then that thread's call decides).
//! An epoch's start is the clock's reading just after its number was published.
//! A sweep at time `t` removes an entry held by nothing outside the registry if
//! its last lookup came before the start of an epoch that started at or before
//! `t - idle`. Hence the bound:
//!
//! - an entry is **never** removed less than `idle` after its last lookup (a
//!   lookup just before an epoch's start, removed `idle` after that start, is the
//!   edge);
//! - an entry neither held nor looked up since time `u` **is** removed by the
//!   first sweep at or after `s + idle`, where `s` is the start of the first epoch
//!   started after `u`. With [`evict_idle`](Registry::evict_idle) called every
//!   `p` (at least a tick), that sweep comes within about `idle + 2p` of `u`
//!   (before epochs, a hit read the clock and it was `idle + tick + p`);
//! - while the registry sees no miss and no sweep, no epoch starts, and a lookup
//!   at the start of that spell cannot be told from one at its end: they stamp
//!   the same epoch. The sweep that ends the spell removes only entries last
//!   looked up before that epoch started; an entry looked up during the spell,
//!   even once at its start, goes (if unused since) `idle` after the epoch that
//!   sweep starts. So an entry looked up all the time is never taken for an idle
//!   one, however long the spell; the price is that a registry full of entries
//!   looked up during a long spell gives new keys the overflow entry for up to
//!   `idle` after it. A periodic [`evict_idle`](Registry::evict_idle) keeps epochs
//!   starting in a registry that sees few new keys.

use crate::RetryBudgetBuilder;
use crate::clock::{Clock, MonotonicClock, duration_to_nanos};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::sync::{AtomicU64, Ordering};
use crate::{Breaker, BreakerBuilder, BreakerSnapshot, Guard, Retry, RetryBudget};
use crossbeam_utils::CachePadded;
use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::time::Duration;

/// The default [`max_entries`](RegistryBuilder::max_entries): 1024 keys.
pub const DEFAULT_MAX_ENTRIES: usize = 1024;
/// The default [`idle_after`](RegistryBuilder::idle_after): 5 minutes.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(300);
/// The shortest [`idle_after`](RegistryBuilder::idle_after): 16 ms (one tick is
/// `idle / 16`).
pub const MIN_IDLE: Duration = Duration::from_millis(16);

type BreakerTemplate<K> =
    Box<dyn Fn(Option<&K>) -> Result<BreakerBuilder, ConfigError> + Send + Sync + 'static>;
type BudgetTemplate<K> =
    Box<dyn Fn(Option<&K>) -> Result<RetryBudgetBuilder, ConfigError> + Send + Sync + 'static>;

/// One key's breaker and budget, as [`Registry::get`] returns it.
///
/// Cloning it clones an `Arc`. Holding it (or its breaker, its budget, a guard or
/// an owned permit made from it) keeps the entry in the registry: an entry in
/// use is never evicted (see the [module documentation](self)). An entry taken
/// out with [`Registry::remove`] goes on working for whoever holds it.
///
/// # Examples
///
/// ```
/// use fusebox::{Registry, Retry, Verdict};
///
/// let registry = Registry::<String>::builder().build()?;
/// let entry = registry.get("api.example.com:443");
/// let permit = entry.breaker().try_acquire().expect("a new breaker is closed");
/// let _ = permit.record(Verdict::Success);
/// assert!(entry.budget().is_none());
/// assert!(!entry.is_overflow());
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Entry {
    slot: Arc<Slot>,
}

/// The entry's fields, on a cache line of their own: `get` clones the `Arc<Slot>`
/// (a write to the reference count at the head of the allocation), and the
/// fields a hit reads must not share that line, or every clone by one thread
/// would evict them from another's cache.
struct Slot {
    fields: CachePadded<Fields>,
}

struct Fields {
    breaker: Arc<Breaker>,
    budget: Option<Arc<RetryBudget>>,
    overflow: bool,
    /// The registry's epoch at this entry's last lookup (see `Epochs`): written
    /// by a lookup only when it is behind the current epoch, so at most once per
    /// epoch (see `Registry::touch`).
    stamp: AtomicU64,
}

impl Entry {
    /// The key's breaker.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Registry, State};
    ///
    /// let registry = Registry::<String>::builder().build()?;
    /// assert_eq!(registry.get("db").breaker().snapshot().state, State::Closed);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn breaker(&self) -> &Arc<Breaker> {
        &self.slot.fields.breaker
    }

    /// The key's retry budget, if the registry has a budget template.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Registry, RetryBudget};
    ///
    /// let registry = Registry::<String>::builder()
    ///     .budget(|_| RetryBudget::builder().ratio(0.1))
    ///     .build()?;
    /// assert!(registry.get("db").budget().is_some());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn budget(&self) -> Option<&Arc<RetryBudget>> {
        self.slot.fields.budget.as_ref()
    }

    /// Whether this is the registry's shared overflow entry (the key had no entry
    /// and the registry was full of entries in use).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Registry;
    ///
    /// let registry = Registry::<String>::builder().max_entries(1).build()?;
    /// assert!(!registry.get("a").is_overflow());
    /// assert!(registry.get("b").is_overflow(), "full: `b` shares the overflow entry");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn is_overflow(&self) -> bool {
        self.slot.fields.overflow
    }

    /// A [`Guard`] over this entry's breaker and budget with the retry policy
    /// `retry` (default classifier, thread sleeps: change them with
    /// [`Guard::with_classifier`] and [`Guard::with_sleeper`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{GuardError, Registry, Retry};
    ///
    /// let registry = Registry::<String>::builder().build()?;
    /// let guard = registry.get("db").guard(Retry::builder().max_attempts(1).build()?);
    /// let r: Result<u32, GuardError<&str>> = guard.call(|_| Ok(7));
    /// assert_eq!(r, Ok(7));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn guard(&self, retry: Retry) -> Guard {
        let guard = Guard::new(Arc::clone(&self.slot.fields.breaker), retry);
        match &self.slot.fields.budget {
            Some(budget) => guard.with_budget(Arc::clone(budget)),
            None => guard,
        }
    }

    /// Whether anything but the registry's map holds this entry, its breaker or
    /// its budget: an `Entry` clone (a caller's, a registry tower call's), a
    /// [`Guard`], an `Arc<Breaker>` or `Arc<RetryBudget>` clone, an
    /// [`OwnedPermit`](crate::OwnedPermit). Call it on the map's own entry.
    ///
    /// Three loads of reference counts (each `Arc::strong_count`'s ordering,
    /// Relaxed or stronger, is enough): a snapshot, written by nothing of ours,
    /// so a hit pays nothing for it. What it can miss is a holder made from a
    /// lookup at the very moment of the removal (see the module documentation).
    fn held_outside_the_map(&self) -> bool {
        let fields = &self.slot.fields;
        Arc::strong_count(&self.slot) > 1
            || Arc::strong_count(&fields.breaker) > 1
            || fields
                .budget
                .as_ref()
                .is_some_and(|budget| Arc::strong_count(budget) > 1)
    }

    /// Whether `self` and `other` are the same entry (one breaker, one budget).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Registry;
    ///
    /// let registry = Registry::<String>::builder().build()?;
    /// assert!(registry.get("a").ptr_eq(&registry.get("a")));
    /// assert!(!registry.get("a").ptr_eq(&registry.get("b")));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn ptr_eq(&self, other: &Entry) -> bool {
        Arc::ptr_eq(&self.slot, &other.slot)
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("breaker", &self.slot.fields.breaker)
            .field("budget", &self.slot.fields.budget)
            .field("overflow", &self.slot.fields.overflow)
            .finish_non_exhaustive()
    }
}

/// One breaker and one retry budget per downstream key, made on first use from
/// a template; lock-free lookups; bounded (see the [module documentation](self)).
///
/// `K` is the key (a `String` host, a service enum); look it up by any borrowed
/// form (`&str` for `String`).
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, Registry, RetryBudget, State, Verdict};
/// use std::time::Duration;
///
/// let registry = Registry::<String>::builder()
///     .breaker(|_host| Breaker::builder().trip_after_consecutive_failures(3))
///     .budget(|_host| RetryBudget::builder().ratio(0.2))
///     .max_entries(512)
///     .idle_after(Duration::from_secs(600))
///     .build()?;
///
/// // The first use of a host makes its entry; later uses find it.
/// for _ in 0..3 {
///     let entry = registry.get("flaky.example.com");
///     let permit = entry.breaker().try_acquire().unwrap();
///     let _ = permit.record(Verdict::failure());
/// }
/// assert_eq!(registry.get("flaky.example.com").breaker().snapshot().state, State::Open);
/// assert_eq!(registry.get("ok.example.com").breaker().snapshot().state, State::Closed);
/// assert_eq!(registry.len(), 2);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct Registry<K> {
    map: papaya::HashMap<K, Entry>,
    breaker: BreakerTemplate<K>,
    budget: Option<BudgetTemplate<K>>,
    retry: Retry,
    clock: Arc<dyn Clock>,
    max_entries: usize,
    /// Idle eviction's state. `None`: no idle eviction, no tracking.
    epochs: Option<Epochs>,
    /// Entries in the map, counted after their insertion and uncounted after
    /// their removal (see `miss`).
    len: AtomicUsize,
    overflow: Entry,
}

/// Builds a [`Registry`]. Get one from [`Registry::builder`].
///
/// Defaults: the default breaker ([`Breaker::builder`]) and no budget per key,
/// the default [`Retry`] for [`Registry::guard`], [`DEFAULT_MAX_ENTRIES`] keys,
/// idle eviction after [`DEFAULT_IDLE`], the [`MonotonicClock`].
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, ManualClock, Registry, Retry};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let registry = Registry::<String>::builder()
///     .breaker(|_| Breaker::builder().open_for(Duration::from_secs(1)))
///     .retry(Retry::builder().max_attempts(2).build()?)
///     .clock(clock.clone())
///     .build()?;
/// assert_eq!(registry.guard("db").retry().max_attempts(), 2);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct RegistryBuilder<K> {
    breaker: BreakerTemplate<K>,
    budget: Option<BudgetTemplate<K>>,
    retry: Retry,
    clock: Option<Arc<dyn Clock>>,
    max_entries: usize,
    idle: Option<Duration>,
}

impl<K> fmt::Debug for RegistryBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryBuilder")
            .field("budget", &self.budget.is_some())
            .field("retry", &self.retry)
            .field("custom_clock", &self.clock.is_some())
            .field("max_entries", &self.max_entries)
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

impl<K> RegistryBuilder<K>
where
    K: Hash + Eq + Send + Sync + 'static,
{
    fn new() -> Self {
        Self {
            breaker: Box::new(|_| Ok(Breaker::builder())),
            budget: None,
            retry: Retry::default(),
            clock: None,
            max_entries: DEFAULT_MAX_ENTRIES,
            idle: Some(DEFAULT_IDLE),
        }
    }

    /// The breaker template: called with `Some(key)` for each key's first use and
    /// once with `None` for the shared overflow entry, it returns the builder the
    /// registry builds. A builder without a clock gets the registry's.
    ///
    /// Under a race, two first uses of one key may both call the template; one
    /// breaker is kept and the other dropped unused.
    ///
    /// # Examples
    ///
    /// Name each breaker after its host, so its events and metrics say which:
    ///
    /// ```
    /// use fusebox::{Breaker, Registry};
    ///
    /// let registry = Registry::<String>::builder()
    ///     .breaker(|host: Option<&String>| {
    ///         Breaker::builder()
    ///             .name(host.map_or("overflow", String::as_str))
    ///             .trip_after_consecutive_failures(5)
    ///     })
    ///     .build()?;
    /// assert_eq!(registry.get("api.example.com").breaker().name(), "api.example.com");
    /// assert_eq!(registry.overflow().breaker().name(), "overflow");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn breaker(
        mut self,
        template: impl Fn(Option<&K>) -> BreakerBuilder + Send + Sync + 'static,
    ) -> Self {
        self.breaker = Box::new(move |key| Ok(template(key)));
        self
    }

    /// The budget template, as [`breaker`](Self::breaker): each key gets a retry
    /// budget of its own (default: none).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Registry, RetryBudget};
    ///
    /// let registry = Registry::<String>::builder()
    ///     .budget(|_| RetryBudget::builder().ratio(0.1).min_retries_per_sec(5))
    ///     .build()?;
    /// assert!(registry.guard("db").budget().is_some());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn budget(
        mut self,
        template: impl Fn(Option<&K>) -> RetryBudgetBuilder + Send + Sync + 'static,
    ) -> Self {
        self.budget = Some(Box::new(move |key| Ok(template(key))));
        self
    }

    /// The retry policy of the guards [`Registry::guard`] makes (each gets a
    /// clone; default: [`Retry::default`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Registry, Retry};
    ///
    /// let registry = Registry::<String>::builder()
    ///     .retry(Retry::builder().max_attempts(4).build()?)
    ///     .build()?;
    /// assert_eq!(registry.guard("db").retry().max_attempts(), 4);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// The most keys with an entry of their own (at least 1; default
    /// [`DEFAULT_MAX_ENTRIES`]). Beyond it, a new key shares the overflow entry
    /// until an idle entry is evicted.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Registry;
    ///
    /// let err = Registry::<String>::builder().max_entries(0).build().unwrap_err();
    /// assert_eq!(err.field(), "max_entries");
    /// ```
    pub fn max_entries(mut self, max: usize) -> Self {
        self.max_entries = max;
        self
    }

    /// Evict an entry unused for `idle` (at least [`MIN_IDLE`]; default
    /// [`DEFAULT_IDLE`]): not looked up for that long and held by nothing outside
    /// the registry (see [in use](crate::registry#in-use)). Never before `idle`
    /// after its last lookup; it is removed by the first sweep at least `idle`
    /// after the start of the first epoch that follows its last lookup (epochs
    /// start at misses and sweeps, at most one per `idle / 16`: see [idle
    /// eviction](crate::registry#idle-eviction)).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{ManualClock, Registry};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let registry = Registry::<String>::builder()
    ///     .idle_after(Duration::from_secs(160))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let guard = registry.guard("db"); // held: in use, however long
    /// let _ = registry.get("cache");
    /// clock.advance(Duration::from_secs(10));
    /// assert_eq!(registry.evict_idle(), 0); // an epoch starts after both lookups
    /// clock.advance(Duration::from_secs(160)); // idle after that start
    /// assert_eq!(registry.evict_idle(), 1, "\"cache\" only");
    /// drop(guard);
    /// assert_eq!(registry.evict_idle(), 1, "now \"db\"");
    /// assert!(registry.is_empty());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn idle_after(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// Never evict an entry for being idle, nor track lookups (a hit does not
    /// stamp its entry): entries stay until [`Registry::remove`], and keys beyond
    /// [`max_entries`](Self::max_entries) share the overflow entry for good.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Registry;
    ///
    /// let registry = Registry::<String>::builder().no_idle_eviction().build()?;
    /// let _ = registry.get("db");
    /// assert_eq!(registry.evict_idle(), 0);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn no_idle_eviction(mut self) -> Self {
        self.idle = None;
        self
    }

    /// The clock the registry reads for idle eviction (on misses and sweeps, never
    /// on a hit), also given to every
    /// breaker and budget whose template builder has none (default:
    /// [`MonotonicClock`]). Pass a [`ManualClock`](crate::ManualClock) clone in
    /// tests.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, ManualClock, Registry, State, Verdict};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let registry = Registry::<String>::builder()
    ///     .breaker(|_| Breaker::builder().trip_after_consecutive_failures(1).open_jitter(0.0))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let entry = registry.get("db");
    /// let _ = entry.breaker().try_acquire().unwrap().record(Verdict::failure());
    /// clock.advance(Duration::from_millis(500)); // the default open period
    /// assert!(entry.breaker().snapshot().ready_to_probe, "the breaker reads the same clock");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Validate and build. The template is built once here (the overflow entry),
    /// so a bad template fails now, not at a key's first use.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`]: `max_entries` or `idle_after` out of range, or the
    /// template's first invalid field, its path starting with `breaker.` or
    /// `budget.`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, Registry};
    ///
    /// let err = Registry::<String>::builder()
    ///     .breaker(|_| Breaker::builder().probes(0))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.path(), "breaker.probes");
    /// ```
    pub fn build(self) -> Result<Registry<K>, ConfigError> {
        if self.max_entries == 0 {
            return Err(ConfigError::new(
                "max_entries",
                ConfigErrorKind::Zero,
                0,
                "must be at least 1",
            ));
        }
        let idle_ns = match self.idle {
            None => None,
            Some(idle) if idle < MIN_IDLE => {
                return Err(ConfigError::new(
                    "idle_after",
                    if idle.is_zero() {
                        ConfigErrorKind::Zero
                    } else {
                        ConfigErrorKind::OutOfRange
                    },
                    idle,
                    "must be at least 16ms",
                ));
            }
            Some(idle) => Some(duration_to_nanos(idle)),
        };
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(MonotonicClock::new()));
        let overflow = make_entry(&self.breaker, self.budget.as_ref(), &clock, None, true, 0)?;
        let epochs = idle_ns.map(|idle| Epochs::new(idle, clock.now_nanos()));
        Ok(Registry {
            map: papaya::HashMap::new(),
            breaker: self.breaker,
            budget: self.budget,
            retry: self.retry,
            max_entries: self.max_entries,
            epochs,
            len: AtomicUsize::new(0),
            clock,
            overflow,
        })
    }
}

#[cfg(feature = "serde")]
impl<K> RegistryBuilder<K>
where
    K: Hash + Eq + Send + Sync + 'static,
{
    /// Take the breaker, the budget and the retry policy from a
    /// [`TemplateConfig`](crate::serde_config::TemplateConfig), validated now: each
    /// key gets a breaker (and, if the template has one, a budget) configured
    /// alike, with the registry's clock; [`Registry::guard`] uses its retry policy.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] whose [`path`](ConfigError::path) names the template's
    /// first invalid field (`breaker.open_for`, `retry.max_attempts`).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Registry;
    /// use fusebox::serde_config::TemplateConfig;
    ///
    /// let template: TemplateConfig = toml::from_str(r#"
    ///     [breaker]
    ///     trip_after_consecutive_failures = 5
    ///     [retry]
    ///     max_attempts = 2
    ///     [budget]
    ///     ratio = 0.1
    /// "#)?;
    /// let registry = Registry::<String>::builder().template(&template)?.build()?;
    /// let guard = registry.guard("api.example.com:443");
    /// assert_eq!(guard.retry().max_attempts(), 2);
    /// assert!(guard.budget().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn template(
        mut self,
        template: &crate::serde_config::TemplateConfig,
    ) -> Result<Self, ConfigError> {
        // Validates every part, with the template's paths in its errors.
        self.retry = template.build()?.retry().clone();
        let breaker = template.breaker.clone();
        self.breaker = Box::new(move |_| Ok(breaker.builder()));
        self.budget = template
            .budget
            .clone()
            .map(|budget| Box::new(move |_: Option<&K>| Ok(budget.builder())) as BudgetTemplate<K>);
        Ok(self)
    }
}

impl<K> Registry<K>
where
    K: Hash + Eq + Send + Sync + 'static,
{
    /// A builder with the defaults (see [`RegistryBuilder`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Registry;
    ///
    /// let registry = Registry::<String>::builder().build()?;
    /// assert!(registry.is_empty());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn builder() -> RegistryBuilder<K> {
        RegistryBuilder::new()
    }

    /// The entry for `key`, made from the template on its first use.
    ///
    /// A hit takes no lock and allocates nothing (see the [module
    /// documentation](self) for its cost). A miss (the first use, or the first
    /// after an eviction) may sweep idle entries, then makes an entry (the key is
    /// turned into a `K` with `to_owned`) unless the registry is full of entries
    /// in use: then it returns the shared [overflow](Self::overflow) entry. If the
    /// template fails for this key (one that builds differently per key), the
    /// overflow entry is returned too; [`try_get`](Self::try_get) reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Registry;
    ///
    /// let registry = Registry::<String>::builder().build()?;
    /// let first = registry.get("api.example.com:443"); // made now
    /// let again = registry.get("api.example.com:443"); // found
    /// assert!(first.ptr_eq(&again));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Entry
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        {
            let map = self.map.pin();
            if let Some(entry) = map.get(key) {
                self.touch(entry);
                return entry.clone();
            }
        }
        self.miss(key).unwrap_or_else(|_| self.overflow.clone())
    }

    /// As [`get`](Self::get), but a template that fails for this key is an error
    /// instead of the overflow entry.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of the key's breaker or budget builder.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, Registry};
    ///
    /// let registry = Registry::<u32>::builder()
    ///     .breaker(|port: Option<&u32>| Breaker::builder().probes(port.map_or(1, |p| p % 2)))
    ///     .build()?;
    /// assert!(registry.try_get(&443).is_ok());
    /// assert_eq!(registry.try_get(&80).unwrap_err().path(), "breaker.probes");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn try_get<Q>(&self, key: &Q) -> Result<Entry, ConfigError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        {
            let map = self.map.pin();
            if let Some(entry) = map.get(key) {
                self.touch(entry);
                return Ok(entry.clone());
            }
        }
        self.miss(key)
    }

    /// Call `f` with the entry for `key` (made on first use, as [`get`](Self::get))
    /// without cloning it: on a hit, nothing shared is written (no reference
    /// count), so many threads using one key do not contend.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Registry, Verdict};
    ///
    /// let registry = Registry::<String>::builder().build()?;
    /// let admitted = registry.with("db", |entry| match entry.breaker().try_acquire() {
    ///     Ok(permit) => {
    ///         let _ = permit.record(Verdict::Success);
    ///         true
    ///     }
    ///     Err(_) => false,
    /// });
    /// assert!(admitted);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn with<Q, R>(&self, key: &Q, f: impl FnOnce(&Entry) -> R) -> R
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        {
            let map = self.map.pin();
            if let Some(entry) = map.get(key) {
                self.touch(entry);
                return f(entry);
            }
        }
        let entry = self.miss(key).unwrap_or_else(|_| self.overflow.clone());
        f(&entry)
    }

    /// A [`Guard`] over `key`'s breaker and budget with a clone of the registry's
    /// [retry policy](RegistryBuilder::retry).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{GuardError, Registry};
    ///
    /// let registry = Registry::<String>::builder().build()?;
    /// let r: Result<&str, GuardError<()>> = registry.guard("db").call(|_| Ok("rows"));
    /// assert_eq!(r, Ok("rows"));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn guard<Q>(&self, key: &Q) -> Guard
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.get(key).guard(self.retry.clone())
    }

    /// The shared entry of keys that found the registry full (and of keys whose
    /// template failed in [`get`](Self::get)). It is never evicted.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Registry;
    ///
    /// let registry = Registry::<String>::builder().max_entries(1).build()?;
    /// let _ = registry.get("a");
    /// assert!(registry.get("b").ptr_eq(registry.overflow()));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn overflow(&self) -> &Entry {
        &self.overflow
    }

    /// Remove `key`'s entry, returning it, even if it is in use. Its holders keep
    /// using it; the key's next use makes a new one.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Registry;
    ///
    /// let registry = Registry::<String>::builder().build()?;
    /// let old = registry.get("db");
    /// assert!(registry.remove("db").is_some());
    /// assert!(!registry.get("db").ptr_eq(&old));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<Entry>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.map.pin();
        let removed = map.remove(key).cloned();
        if removed.is_some() {
            self.release();
        }
        removed
    }

    /// Remove every entry not in use now (unused for its idle time, and held by
    /// nothing outside the registry), start a new epoch if the current one
    /// started at least a tick ago (see [idle eviction](self#idle-eviction)), and
    /// return how many entries were removed: 0 without idle eviction, and 0 at
    /// once if another thread is sweeping or starting an epoch at that moment.
    /// The registry also sweeps on its own, on misses; call this from a periodic
    /// task (every `p`, an idle entry goes within about `idle + 2p`) to free idle
    /// entries in a registry that sees few new keys.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{ManualClock, Registry};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let registry = Registry::<String>::builder()
    ///     .idle_after(Duration::from_secs(16))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let _ = registry.get("old");
    /// clock.advance(Duration::from_secs(2));
    /// assert_eq!(registry.evict_idle(), 0); // starts an epoch: later lookups are newer
    /// let _ = registry.get("new");
    /// clock.advance(Duration::from_secs(16)); // "old" unused for 18 s, "new" for 16 s
    /// assert_eq!(registry.evict_idle(), 1, "\"old\": 16 s after the epoch started");
    /// assert_eq!(registry.len(), 1);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn evict_idle(&self) -> usize {
        let Some(epochs) = &self.epochs else {
            return 0;
        };
        let Some(claim) = epochs.try_claim() else {
            return 0; // another thread is sweeping or starting an epoch
        };
        let now = self.clock.now_nanos();
        // Relaxed: written under the claim only.
        epochs.last_sweep_ns.store(now, Ordering::Relaxed);
        let removed = self.sweep(&claim, now);
        claim.advance(now, &*self.clock);
        removed
    }

    /// How many keys have an entry of their own (the overflow entry not counted).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Registry;
    ///
    /// let registry = Registry::<String>::builder().build()?;
    /// let _ = (registry.get("a"), registry.get("b"), registry.get("a"));
    /// assert_eq!(registry.len(), 2);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key has an entry.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Registry;
    ///
    /// assert!(Registry::<String>::builder().build()?.is_empty());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every key's breaker snapshot, for export (metrics, a status page). Weakly
    /// consistent: an entry made or evicted meanwhile may be missing or present.
    /// The overflow entry is not listed: see [`overflow`](Self::overflow).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Registry, State};
    ///
    /// let registry = Registry::<String>::builder().build()?;
    /// let _ = (registry.get("a"), registry.get("b"));
    /// let mut keys = Vec::new();
    /// for (key, snapshot) in registry.snapshots() {
    ///     assert_eq!(snapshot.state, State::Closed);
    ///     keys.push(key);
    /// }
    /// keys.sort();
    /// assert_eq!(keys, ["a", "b"]);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn snapshots(&self) -> Vec<(K, BreakerSnapshot)>
    where
        K: Clone,
    {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|key, entry| out.push((key.clone(), entry.breaker().snapshot())));
        out
    }

    /// Call `f` with every key and its entry, allocating nothing (weakly
    /// consistent, as [`snapshots`](Self::snapshots)). Does not count as a use.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Registry;
    ///
    /// let registry = Registry::<String>::builder().build()?;
    /// let _ = registry.get("a");
    /// let mut healthy = 0;
    /// registry.for_each(|_key, entry| {
    ///     if entry.breaker().snapshot().health == Some(1.0) {
    ///         healthy += 1;
    ///     }
    /// });
    /// assert_eq!(healthy, 1);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn for_each(&self, mut f: impl FnMut(&K, &Entry)) {
        let map = self.map.pin();
        for (key, entry) in map.iter() {
            f(key, entry);
        }
    }

    /// Record a lookup of `entry`: with idle eviction, stamp it with the current
    /// epoch. Two loads (the registry's epoch, a word written at most once a tick,
    /// and the entry's stamp) and a compare; a write only when the stamp is behind,
    /// which is once per epoch at most. No clock read.
    #[inline(always)]
    fn touch(&self, entry: &Entry) {
        if let Some(epochs) = &self.epochs {
            // Relaxed, both: a lookup needs the number only, and nothing is
            // published through either word (see `Epochs` for why no ordering
            // could help the sweep's argument, and why it needs none).
            let epoch = epochs.current.load(Ordering::Relaxed);
            let stamp = &entry.slot.fields.stamp;
            if stamp.load(Ordering::Relaxed) < epoch {
                // `fetch_max`, not a store: a lookup that read an older epoch and
                // writes after this one must not move the stamp back, which would
                // erase the evidence of the newer lookup.
                stamp.fetch_max(epoch, Ordering::Relaxed);
            }
        }
    }

    /// The slow path of a lookup: sweep or start an epoch if one is due, then
    /// insert a new entry, or return the entry another thread just inserted, or
    /// the overflow entry.
    ///
    /// The cap is enforced after the insertion (insert, then count): a thread
    /// that finds the registry full before building anything looks the key up
    /// again and, if it is still absent, shares the overflow entry; an insertion
    /// that finds itself over the cap removes its own entry again. Counting
    /// after inserting (`AcqRel`) means that a thread which sees the count full
    /// also sees every entry counted in it, so a racing first use of one key never
    /// gets the overflow entry while the key's entry is in the map and counted.
    #[cold]
    fn miss<Q>(&self, key: &Q) -> Result<Entry, ConfigError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let now = self.clock.now_nanos();
        self.maintain(now, false);
        if !self.has_room() {
            // Full: idle entries may make room, at most one sweep per tick.
            self.maintain(now, true);
            if !self.has_room() {
                return Ok(self.found_or_overflow(key));
            }
        }
        let owned = key.to_owned();
        // Relaxed: see `touch`. Read after `maintain`, so an epoch this miss
        // started is the new entry's.
        let stamp = self
            .epochs
            .as_ref()
            .map_or(0, |epochs| epochs.current.load(Ordering::Relaxed));
        let entry = make_entry(
            &self.breaker,
            self.budget.as_ref(),
            &self.clock,
            Some(&owned),
            false,
            stamp,
        )?;
        let map = self.map.pin();
        let inserted = match map.try_insert(owned, entry) {
            Ok(inserted) => inserted.clone(),
            // Another first use won: keep its entry, drop ours unused.
            Err(occupied) => return Ok(occupied.current.clone()),
        };
        // AcqRel: see above.
        let before = self.len.fetch_add(1, AtomicOrdering::AcqRel);
        if before < self.max_entries {
            return Ok(inserted);
        }
        // Over the cap: unless a sweep brings the count back under it, take ours
        // out again (unless it is gone already: then whoever removed it counted).
        self.maintain(now, true);
        if self.len.load(AtomicOrdering::Acquire) <= self.max_entries {
            return Ok(inserted);
        }
        if let Ok(Some(_)) = map.remove_if(key, |_, current| current.ptr_eq(&inserted)) {
            self.release();
        }
        Ok(self.overflow.clone())
    }

    fn has_room(&self) -> bool {
        // Acquire: see `miss`.
        self.len.load(AtomicOrdering::Acquire) < self.max_entries
    }

    /// The key's entry if it is in the map now, else the overflow entry.
    fn found_or_overflow<Q>(&self, key: &Q) -> Entry
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.map.pin();
        match map.get(key) {
            Some(entry) => {
                self.touch(entry);
                entry.clone()
            }
            None => self.overflow.clone(),
        }
    }

    /// Uncount a removed entry.
    fn release(&self) {
        self.len.fetch_sub(1, AtomicOrdering::AcqRel);
    }

    /// A miss's upkeep at `now`: sweep if the last sweep is at least `idle` old
    /// (a tick if the registry is `full`), and start a new epoch if the current
    /// one started at least a tick ago; both under the claim, skipped if another
    /// thread holds it (it is sweeping or starting an epoch itself). The number of
    /// entries removed.
    fn maintain(&self, now: u64, full: bool) -> usize {
        let Some(epochs) = &self.epochs else {
            return 0;
        };
        let interval = if full { epochs.tick_ns } else { epochs.idle_ns };
        // Relaxed: a hint outside the claim, read again under it.
        let sweep_due =
            || now.saturating_sub(epochs.last_sweep_ns.load(Ordering::Relaxed)) >= interval;
        if !sweep_due() && !epochs.advance_due(now) {
            return 0;
        }
        let Some(claim) = epochs.try_claim() else {
            return 0;
        };
        let mut removed = 0;
        if sweep_due() {
            // Relaxed: written under the claim only.
            epochs.last_sweep_ns.store(now, Ordering::Relaxed);
            removed = self.sweep(&claim, now);
        }
        claim.advance(now, &*self.clock);
        removed
    }

    /// Remove every entry not in use at `now`: its stamp older than the boundary
    /// (the newest epoch that started at least `idle` before `now`: see `Epochs`),
    /// and held by nothing but the map (see [`Entry::held_outside_the_map`]).
    fn sweep(&self, claim: &Claim<'_>, now: u64) -> usize {
        let boundary = claim.boundary(now);
        if boundary == 0 {
            return 0; // no stamp is older than epoch 0
        }
        let evictable = |entry: &Entry, boundary: u64| {
            // Relaxed: see `touch`.
            entry.slot.fields.stamp.load(Ordering::Relaxed) < boundary
                && !entry.held_outside_the_map()
        };
        let map = self.map.pin();
        let mut removed = 0;
        for (key, entry) in map.iter() {
            if !evictable(entry, boundary) {
                continue;
            }
            // Re-checked at removal: a lookup since the scan has stamped the
            // entry with the current epoch, which is never older than a boundary
            // (the boundary is an epoch that has started), and a holder since the
            // scan shows in the counts; a new entry for the key fails `ptr_eq`.
            // The boundary is taken again by the clock's reading now (it can only
            // have moved on); that reading also gives a test the step between scan
            // and removal (tests/registry.rs, `SteppedClock`).
            let at = claim.boundary(self.clock.now_nanos()).max(boundary);
            let outcome = map.remove_if(key, |_, current| {
                current.ptr_eq(entry) && evictable(current, at)
            });
            if let Ok(Some(_)) = outcome {
                removed += 1;
                self.release();
            }
        }
        removed
    }
}

/// Slots in `Epochs::starts`. Epochs start at least a tick (`idle / 16`, rounded
/// down, at least 1 ms) apart, so the 32 newest starts span more than `idle`, and
/// the boundary a sweep looks for is always among them when the clock is
/// monotonic (see `Claim::boundary`).
const RING: usize = 32;

/// Idle eviction without a clock read on a hit.
///
/// The registry counts epochs. A lookup stamps its entry with the current epoch
/// (`Registry::touch`: a load of `current`, a load of the stamp, and a write only
/// if the stamp is behind). Only code that reads the clock anyway (a miss, a
/// sweep, `evict_idle`) starts a new epoch, when the current one started at least
/// a tick ago, and records its start: the clock's reading taken just *after*
/// storing the new number.
///
/// A sweep at `now` removes an entry (not held outside the map) whose stamp is
/// older than the boundary, the newest epoch whose start is at or before
/// `now - idle`. The argument:
///
/// - *Never early.* A stamp older than the boundary was written by a lookup that
///   read the epoch number before the boundary epoch was stored, so before its
///   start, so at least `idle` before `now`; every lookup since read the boundary
///   epoch or a newer one and stamped at least that.
/// - *A stale epoch is no shortcut.* With no miss and no sweep for hours, the
///   current epoch is hours old and every lookup meanwhile stamps it; the boundary
///   is an epoch that *started* by `now - idle`, so at most the current one, and a
///   stamp equal to the current epoch is never older than it: an entry looked up
///   all that time stays. (A sweep that reasoned from the clock alone, "older
///   than the epoch of `now - idle`", would evict it.) The sweep then starts the
///   next epoch; entries not looked up since go `idle` after that start.
/// - *Eventually.* An entry not looked up since `u` carries an epoch older than the
///   first epoch started after `u`; a sweep at least `idle` after that start finds
///   it older than the boundary (the ring keeps the last `RING` starts; see
///   `RING`).
///
/// "Before" and "after" above are in real time: the argument assumes what every
/// clock-based decision of the registry assumes, that a store reaches the other
/// cores within nanoseconds (a tick is at least a millisecond), so a load that
/// comes after the clock reading that followed a store returns that store or a
/// newer one. No atomic ordering can promise this, since none relates memory to
/// a clock, and none is needed beyond it: the hit's loads and the stamp's
/// `fetch_max` are `Relaxed`. (A fence on every hit could close the window the
/// module documentation describes; it is not paid.)
///
/// One writer at a time: `current`, `starts` and `last_sweep_ns` are written only
/// by the thread holding the claim (a sweep or an epoch start); a thread that
/// finds it held skips its upkeep.
struct Epochs {
    /// The current epoch. Read by every hit, on a line of its own (nothing written
    /// often shares it); written at most once a tick.
    current: CachePadded<AtomicU64>,
    /// 1 while a thread holds the claim (see `Claim`).
    claim: AtomicU64,
    /// `starts[e % RING]`: the clock's reading just after epoch `e` was stored
    /// (`u64::MAX` in a slot no epoch has used yet).
    starts: [AtomicU64; RING],
    /// The clock reading at the last sweep (sweeps on misses are rate-limited).
    last_sweep_ns: AtomicU64,
    idle_ns: u64,
    tick_ns: u64,
}

impl Epochs {
    /// Epoch 0, starting at `now`.
    fn new(idle_ns: u64, now: u64) -> Self {
        Self {
            current: CachePadded::new(AtomicU64::new(0)),
            claim: AtomicU64::new(0),
            starts: std::array::from_fn(|slot| {
                AtomicU64::new(if slot == 0 { now } else { u64::MAX })
            }),
            last_sweep_ns: AtomicU64::new(now),
            idle_ns,
            tick_ns: idle_ns / 16,
        }
    }

    fn start_of(&self, epoch: u64) -> u64 {
        // Relaxed: under the claim, see `Claim`; outside it, a hint.
        self.starts[(epoch % RING as u64) as usize].load(Ordering::Relaxed)
    }

    /// Whether a new epoch is due at `now`: a hint outside the claim (a slot may
    /// still hold an older epoch's start), re-checked by `Claim::advance`.
    fn advance_due(&self, now: u64) -> bool {
        // Relaxed: a hint.
        let current = self.current.load(Ordering::Relaxed);
        now.saturating_sub(self.start_of(current)) >= self.tick_ns
    }

    /// The claim, unless another thread holds it.
    fn try_claim(&self) -> Option<Claim<'_>> {
        // Acquire, with the Release of `Claim::drop`: a holder sees everything the
        // earlier holders wrote to `current`, `starts` and `last_sweep_ns`, so a
        // ring slot it reads for an epoch up to `current` holds that epoch's start,
        // not the start of the epoch `RING` before it.
        self.claim
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then_some(Claim { epochs: self })
    }
}

/// The right to sweep and to start an epoch; released on drop (a panicking clock
/// included).
struct Claim<'a> {
    epochs: &'a Epochs,
}

impl Claim<'_> {
    /// The boundary at `now`: the newest epoch whose start is at or before
    /// `now - idle`, or 0 if there is none (no stamp is older than 0). If the
    /// oldest start in the ring is after `now - idle` (possible only with a clock
    /// that went back, or a `now` read before another holder's start), an older
    /// epoch may qualify, but its start is no longer known: 0, which evicts
    /// nothing.
    fn boundary(&self, now: u64) -> u64 {
        let epochs = self.epochs;
        let Some(horizon) = now.checked_sub(epochs.idle_ns) else {
            return 0;
        };
        // Relaxed: under the claim (see `Epochs::try_claim`).
        let current = epochs.current.load(Ordering::Relaxed);
        let oldest = current.saturating_sub(RING as u64 - 1);
        (oldest..=current)
            .rev()
            .find(|&epoch| epochs.start_of(epoch) <= horizon)
            .unwrap_or(0)
    }

    /// Start a new epoch if the current one started at least a tick before `now`
    /// (not if `now` reads earlier than its start: a clock that went back).
    fn advance(&self, now: u64, clock: &dyn Clock) {
        let epochs = self.epochs;
        // Relaxed: under the claim.
        let current = epochs.current.load(Ordering::Relaxed);
        let started = epochs.start_of(current);
        if now < started || now - started < epochs.tick_ns {
            return;
        }
        // Relaxed: nothing is published through the number (see `Epochs`).
        epochs.current.store(current + 1, Ordering::Relaxed);
        // The start is read after the store: a lookup that still read `current`
        // came before it (see `Epochs`). Never before `now`, so the starts never
        // go back even if the clock does.
        let start = clock.now_nanos().max(now);
        // Relaxed: under the claim.
        epochs.starts[((current + 1) % RING as u64) as usize].store(start, Ordering::Relaxed);
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        // Release: see `Epochs::try_claim`.
        self.epochs.claim.store(0, Ordering::Release);
    }
}

/// Build an entry from the template; a builder without a clock gets `clock`.
fn make_entry<K>(
    breaker: &BreakerTemplate<K>,
    budget: Option<&BudgetTemplate<K>>,
    clock: &Arc<dyn Clock>,
    key: Option<&K>,
    overflow: bool,
    stamp: u64,
) -> Result<Entry, ConfigError> {
    let mut builder = breaker(key).map_err(|e| e.within("breaker"))?;
    if !builder.has_clock() {
        builder = builder.clock(Arc::clone(clock));
    }
    let breaker = builder.build().map_err(|e| e.within("breaker"))?;
    let budget = match budget {
        None => None,
        Some(template) => {
            let mut builder = template(key).map_err(|e| e.within("budget"))?;
            if !builder.has_clock() {
                builder = builder.clock(Arc::clone(clock));
            }
            Some(Arc::new(builder.build().map_err(|e| e.within("budget"))?))
        }
    };
    Ok(Entry {
        slot: Arc::new(Slot {
            fields: CachePadded::new(Fields {
                breaker: Arc::new(breaker),
                budget,
                overflow,
                stamp: AtomicU64::new(stamp),
            }),
        }),
    })
}

impl<K: Hash + Eq> fmt::Debug for Registry<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("len", &self.map.len())
            .field("max_entries", &self.max_entries)
            .field(
                "idle",
                &self
                    .epochs
                    .as_ref()
                    .map(|epochs| Duration::from_nanos(epochs.idle_ns)),
            )
            .field("retry", &self.retry)
            .field("overflow", &self.overflow)
            .finish_non_exhaustive()
    }
}
