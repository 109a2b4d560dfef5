//! A tiny single-threaded executor in virtual time.
//!
//! Tasks are boxed futures. The only thing a task ever waits for is a timer
//! ([`Sim::sleep_until`]): polling one registers `(wake time, sequence, task)` in a
//! heap. [`Sim::run`] polls every ready task, then pops the earliest timer, sets the
//! [`ManualClock`] (which the breakers and the budget read) to its time and polls
//! its task. Ties are broken by registration order, so a run is a deterministic
//! function of its inputs. No waker is needed: a task is polled exactly when its
//! timer fires (the context carries a no-op waker).
//!
//! [`SimSleeper`] is the [`AsyncSleeper`] that `Guard::call_async` gets: its sleeps
//! are timers like any other, so while one call sleeps in backoff, the others run
//! and change the breaker. A hedged call also times its hedges with it.
//!
//! A timer whose future is dropped before it fires (a hedge timer made moot by
//! an answer, the attempt of a hedged call's loser) stays in the heap: when it
//! fires, its task, if still alive, is polled for nothing, and every future
//! here, finding its own time not come, stays pending. A task that is gone is
//! told by its slot's generation.

use fusebox::{AsyncSleeper, ManualClock};
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

type Task = Pin<Box<dyn Future<Output = ()>>>;
/// `(wake time, registration sequence, slot, generation)`; `Reverse` makes the
/// heap pop the earliest first.
type Timer = Reverse<(u64, u64, usize, u64)>;

/// A task slot: its future (absent while it is being polled, or when done) and
/// a generation that tells a recycled slot from its previous occupant.
#[derive(Default)]
struct Slot {
    task: Option<Task>,
    generation: u64,
}

/// The executor, its virtual clock and its timer queue.
pub struct Sim {
    clock: ManualClock,
    now: Cell<u64>,
    seq: Cell<u64>,
    timers: RefCell<BinaryHeap<Timer>>,
    ready: RefCell<VecDeque<usize>>,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<usize>>,
    current: Cell<usize>,
}

impl Sim {
    /// An empty simulation at time 0.
    pub fn new() -> Rc<Self> {
        Rc::new(Self {
            clock: ManualClock::new(),
            now: Cell::new(0),
            seq: Cell::new(0),
            timers: RefCell::new(BinaryHeap::new()),
            ready: RefCell::new(VecDeque::new()),
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            current: Cell::new(usize::MAX),
        })
    }

    /// The virtual clock (hand clones of it to breakers and budgets).
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// Virtual time, in nanoseconds.
    pub fn now(&self) -> u64 {
        self.now.get()
    }

    /// Start `future` as a task; it is first polled at the current virtual time.
    pub fn spawn(&self, future: impl Future<Output = ()> + 'static) {
        let mut slots = self.slots.borrow_mut();
        let id = self.free.borrow_mut().pop().unwrap_or_else(|| {
            slots.push(Slot::default());
            slots.len() - 1
        });
        let slot = &mut slots[id];
        slot.task = Some(Box::pin(future));
        slot.generation += 1;
        self.ready.borrow_mut().push_back(id);
    }

    /// A future that completes when virtual time reaches `at`.
    pub fn sleep_until(self: &Rc<Self>, at: u64) -> SleepUntil {
        SleepUntil {
            sim: Rc::clone(self),
            at,
            registered: false,
        }
    }

    /// A sleep of `nanos` from now (a backoff, or a guard's timer).
    pub fn backoff(self: &Rc<Self>, nanos: u64) -> SleepUntil {
        self.sleep_until(self.now().saturating_add(nanos))
    }

    /// Run until no task is left.
    pub fn run(&self) {
        loop {
            loop {
                let next = self.ready.borrow_mut().pop_front();
                let Some(id) = next else { break };
                self.poll(id);
            }
            let next = self.timers.borrow_mut().pop();
            let Some(Reverse((at, _, id, generation))) = next else {
                break;
            };
            if self.slots.borrow()[id].generation != generation {
                continue; // a timer of a task that is gone (see the module docs)
            }
            if at > self.now.get() {
                self.now.set(at);
                self.clock.set(Duration::from_nanos(at));
            }
            self.ready.borrow_mut().push_back(id);
        }
        debug_assert!(self.slots.borrow().iter().all(|s| s.task.is_none()));
    }

    fn poll(&self, id: usize) {
        let Some(mut task) = self.slots.borrow_mut()[id].task.take() else {
            return;
        };
        self.current.set(id);
        let mut cx = Context::from_waker(Waker::noop());
        let done = task.as_mut().poll(&mut cx).is_ready();
        self.current.set(usize::MAX);
        if done {
            self.free.borrow_mut().push(id);
        } else {
            self.slots.borrow_mut()[id].task = Some(task);
        }
    }

    fn register(&self, at: u64) {
        let id = self.current.get();
        let generation = self.slots.borrow()[id].generation;
        let seq = self.seq.get();
        self.seq.set(seq + 1);
        self.timers
            .borrow_mut()
            .push(Reverse((at, seq, id, generation)));
    }
}

/// Completes when virtual time reaches its deadline.
pub struct SleepUntil {
    sim: Rc<Sim>,
    at: u64,
    registered: bool,
}

impl Future for SleepUntil {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.sim.now() >= self.at {
            return Poll::Ready(());
        }
        if !self.registered {
            self.sim.register(self.at);
            self.registered = true;
        }
        Poll::Pending
    }
}

/// The sleeper `Guard::call_async` uses: a timer in the simulation (its
/// backoff, and a hedged call's hedge timers).
#[derive(Clone)]
pub struct SimSleeper(pub Rc<Sim>);

impl AsyncSleeper for SimSleeper {
    type Sleep = SleepUntil;

    fn sleep(&self, duration: Duration) -> SleepUntil {
        self.0
            .backoff(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
    }
}

impl std::fmt::Debug for SimSleeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimSleeper")
    }
}
