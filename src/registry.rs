//! [`Registry`]: one breaker and one retry budget per downstream key (a host, a
//! service name), made on first use from a template, found again without a lock.
//!
//! # What a lookup costs
//!
//! A hit ([`Registry::get`], [`Registry::with`]) is one lookup in a lock-free
//! concurrent map ([`papaya`](https://docs.rs/papaya): the key is hashed with the
//! standard library's SipHash, so keys taken from requests cannot flood one
//! bucket), an epoch pin that writes only this thread's own slot, and, when idle
//! eviction is on, one clock read and one load of the entry's last-use time. It
//! takes no lock and allocates nothing. The last-use time is written only when it
//! is at least a tick (`idle / 16`) old, so a busy entry sees one shared write per
//! tick, not one per hit. [`get`](Registry::get) returns an owned [`Entry`] (an
//! `Arc`: one reference-count increment and decrement per call, on a cache line
//! every thread using that key writes); [`with`](Registry::with) lends the entry to
//! a closure instead and writes nothing shared.
//!
//! # Bounds
//!
//! At most [`max_entries`](RegistryBuilder::max_entries) keys have an entry of
//! their own. An entry not in use is removed by the next sweep once it has been
//! idle for [`idle_after`](RegistryBuilder::idle_after); a sweep runs on a miss,
//! at most once per `idle` while there is room and at most once per tick when the
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
//!   time (more exactly: its last-use time, written at most once a tick, is less
//!   than `idle + tick` old).
//!
//! Holders are seen by the sweep through the `Arc`s' reference counts, which it
//! reads; a hit writes nothing more for it. Each removal re-checks both, at the
//! time of the removal, so a lookup or a holder that came after the sweep's scan
//! keeps the entry. One window remains: a lookup that finds an entry idle for
//! `idle + tick` at the very moment a sweep removes it (after the sweep's
//! re-check, before the lookup's clone) gets the removed entry; kept for one
//! call, that is harmless, but a guard made from it holds a breaker the key no
//! longer maps to. Closing it would cost a fence on every hit. An entry taken out
//! with [`Registry::remove`] stays valid the same way for whoever holds it:
//! guards and permits keep their `Arc`s, and their reports go to the removed
//! breaker; the key's next use makes a new entry.

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
    /// The registry clock's reading at the last use that wrote it: written when
    /// the reading it holds is at least a tick old (see `Registry::touch`).
    last_used: AtomicU64,
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
    /// `idle + tick`, in ns: an entry whose recorded last use is this old has been
    /// unused for at least `idle`. `None`: no idle eviction, no last-use tracking.
    evict_after_ns: Option<u64>,
    idle_ns: u64,
    tick_ns: u64,
    /// Entries in the map, counted after their insertion and uncounted after
    /// their removal (see `miss`).
    len: AtomicUsize,
    /// The clock reading at the last sweep.
    last_sweep_ns: AtomicU64,
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
    /// the registry (see [in use](crate::registry#in-use)). It is removed by the
    /// first sweep after `idle + idle/16` of disuse, never before `idle`.
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
    /// clock.advance(Duration::from_secs(170)); // idle + idle/16
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

    /// Never evict an entry for being idle (nor read the clock on a hit): entries
    /// stay until [`Registry::remove`], and keys beyond
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

    /// The clock the registry reads for idle eviction, also given to every
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
        let tick_ns = idle_ns.map_or(0, |idle| idle / 16);
        let overflow = make_entry(&self.breaker, self.budget.as_ref(), &clock, None, true)?;
        Ok(Registry {
            map: papaya::HashMap::new(),
            breaker: self.breaker,
            budget: self.budget,
            retry: self.retry,
            max_entries: self.max_entries,
            evict_after_ns: idle_ns.map(|idle| idle.saturating_add(tick_ns)),
            idle_ns: idle_ns.unwrap_or(0),
            tick_ns,
            len: AtomicUsize::new(0),
            last_sweep_ns: AtomicU64::new(clock.now_nanos()),
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
        self.breaker = Box::new(move |_| breaker.builder());
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
    /// nothing outside the registry), and return how many were removed (0
    /// without idle eviction). The registry also sweeps on its own, on
    /// misses; call this from a periodic task to free idle entries in a registry
    /// that sees no new keys.
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
    /// clock.advance(Duration::from_secs(10));
    /// let _ = registry.get("new");
    /// clock.advance(Duration::from_secs(8)); // "old" unused for 18 s, "new" for 8 s
    /// assert_eq!(registry.evict_idle(), 1);
    /// assert_eq!(registry.len(), 1);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn evict_idle(&self) -> usize {
        let now = self.clock.now_nanos();
        self.last_sweep_ns.store(now, Ordering::Relaxed);
        self.sweep(now)
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

    /// Record a use of `entry` now. With idle eviction, one clock read and one
    /// load; a store only when the recorded time is at least a tick old.
    #[inline(always)]
    fn touch(&self, entry: &Entry) {
        if self.tick_ns == 0 {
            return;
        }
        let now = self.clock.now_nanos();
        let last = &entry.slot.fields.last_used;
        // Relaxed: the time is self-contained, a hint for the sweeper, which
        // re-checks it at removal; nothing is published through it.
        if now.saturating_sub(last.load(Ordering::Relaxed)) >= self.tick_ns {
            last.store(now, Ordering::Relaxed);
        }
    }

    /// The slow path of a lookup: sweep if one is due, then insert a new entry, or
    /// return the entry another thread just inserted, or the overflow entry.
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
        self.sweep_if_due(now, self.idle_ns);
        if !self.has_room() {
            // Full: idle entries may make room, at most one sweep per tick.
            self.sweep_if_due(now, self.tick_ns);
            if !self.has_room() {
                return Ok(self.found_or_overflow(key));
            }
        }
        let owned = key.to_owned();
        let entry = make_entry(
            &self.breaker,
            self.budget.as_ref(),
            &self.clock,
            Some(&owned),
            false,
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
        self.sweep_if_due(now, self.tick_ns);
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

    /// Sweep if the last sweep is at least `interval` old and this thread wins
    /// the right to; the number of entries removed.
    fn sweep_if_due(&self, now: u64, interval: u64) -> usize {
        if self.evict_after_ns.is_none() {
            return 0;
        }
        let last = self.last_sweep_ns.load(Ordering::Relaxed);
        if now.saturating_sub(last) < interval.max(1) {
            return 0;
        }
        if self
            .last_sweep_ns
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return 0; // another thread sweeps
        }
        self.sweep(now)
    }

    /// Remove every entry not in use at `now`: unused for `evict_after` and
    /// held by nothing but the map (see [`Entry::held_outside_the_map`]).
    fn sweep(&self, now: u64) -> usize {
        let Some(evict_after) = self.evict_after_ns else {
            return 0;
        };
        let evictable = |entry: &Entry, at: u64| {
            // Relaxed: the time is a self-contained hint (see `touch`).
            let last = entry.slot.fields.last_used.load(Ordering::Relaxed);
            at.saturating_sub(last) >= evict_after && !entry.held_outside_the_map()
        };
        let map = self.map.pin();
        let mut removed = 0;
        for (key, entry) in map.iter() {
            if !evictable(entry, now) {
                continue;
            }
            // Re-checked at removal, by the clock's reading then: a lookup or a
            // holder since the scan keeps the entry, and so does a new entry for
            // the key. Reading the clock here (not reusing `now`) also gives a
            // test the step between scan and removal (tests/registry.rs,
            // `SteppedClock`).
            let at = self.clock.now_nanos();
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

/// Build an entry from the template; a builder without a clock gets `clock`.
fn make_entry<K>(
    breaker: &BreakerTemplate<K>,
    budget: Option<&BudgetTemplate<K>>,
    clock: &Arc<dyn Clock>,
    key: Option<&K>,
    overflow: bool,
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
                last_used: AtomicU64::new(clock.now_nanos()),
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
                &(self.idle_ns > 0).then(|| Duration::from_nanos(self.idle_ns)),
            )
            .field("retry", &self.retry)
            .field("overflow", &self.overflow)
            .finish_non_exhaustive()
    }
}
