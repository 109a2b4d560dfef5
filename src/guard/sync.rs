//! The blocking call: [`Guard::call`] and [`Guard::call_outcome`], the
//! shared [`Call`] core driven by a loop that sleeps on a [`Sleeper`].

use super::*;

/// The untimed loop of [`Guard::call_outcome`] (rules 1–5) over `$guard` and the
/// operation `$op`, returning the call's outcome from the enclosing function;
/// `$after_first` sees the step after the first attempt. A macro, so that the
/// loop a counting breaker's calls run (`Guard::call_counted`) is the same
/// code, with its count where the first attempt ends.
macro_rules! untimed_loop {
    ($guard:expr, $op:ident, $after_first:expr) => {{
        let mut call = Call::new($guard);
        // The first attempt apart: its success is the healthy path, which tells
        // no event (see `crate::event`).
        let (permit, attempt) = match call.begin_first() {
            Ok(admitted) => admitted,
            Err(stop) => return stop,
        };
        let result = $op(attempt);
        let mut step = call.finish_first(permit, result);
        $after_first(&step);
        loop {
            match step {
                Step::Done(done) => return done,
                Step::Sleep(delay) => $guard.sleeper.sleep(delay),
            }
            let (permit, attempt) = match call.begin() {
                Ok(admitted) => admitted,
                Err(stop) => return stop,
            };
            let result = $op(attempt);
            step = call.finish(permit, result);
        }
    }};
}

impl<C, S> Guard<C, S> {
    /// Run `op` under the rules, sleeping with the guard's [`Sleeper`] (by default
    /// `std::thread::sleep`). Allocates nothing.
    ///
    /// A blocking attempt cannot be interrupted: the call's
    /// [deadline](crate::RetryBuilder::deadline) and
    /// [attempt timeout](crate::RetryBuilder::attempt_timeout) reach `op` as
    /// [`Attempt::remaining`] (the sooner of the two), for it to use as its own
    /// I/O timeout. The deadline still stops the call before any sleep that
    /// would end at or past it, and before a retry due past it (a sleeper that
    /// woke late): no attempt is sent with no time left.
    ///
    /// When the call stops after an attempt whose result was `Ok` (a classifier
    /// may call an `Ok` a failure), that `Ok` is returned; use
    /// [`call_outcome`](Self::call_outcome) to learn why such a call stopped.
    ///
    /// # Errors
    ///
    /// [`GuardError`], keeping `op`'s error type.
    #[inline]
    pub fn call<T, E, F>(&self, op: F) -> Result<T, GuardError<E>>
    where
        C: Classify<T, E>,
        S: Sleeper,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        self.call_outcome(op).into_result()
    }

    /// [`call`](Self::call), returning the whole [`Outcome`]: why the call
    /// stopped, the attempts made, the last result (an `Ok` too) and the breaker's
    /// refusal, if any.
    ///
    /// # Examples
    ///
    /// A 503-like `Ok` that the classifier calls a retryable failure:
    ///
    /// ```
    /// use fusebox::{Breaker, Classification, Guard, Jitter, Retry, Stop};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let breaker = Arc::new(Breaker::builder().build()?);
    /// let retry = Retry::builder()
    ///     .max_attempts(2)
    ///     .constant_backoff(Duration::ZERO)
    ///     .jitter(Jitter::None)
    ///     .build()?;
    /// let guard = Guard::new(breaker, retry).with_classifier(|r: &Result<u16, ()>| match r {
    ///     Ok(503) | Err(_) => Classification::failure(),
    ///     Ok(_) => Classification::Success,
    /// });
    /// let outcome = guard.call_outcome(|_| Ok(503));
    /// assert_eq!(outcome.stop, Stop::Exhausted);
    /// assert_eq!(outcome.attempts, 2);
    /// assert_eq!(outcome.value(), Some(&503), "the response is still there");
    /// assert_eq!(outcome.stop.as_str(), "exhausted"); // a metrics label
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn call_outcome<T, E, F>(&self, mut op: F) -> Outcome<T, E>
    where
        C: Classify<T, E>,
        S: Sleeper,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        #[cfg(not(feature = "metrics"))]
        if self.timed::<T, E>() {
            return self.call_timed(op);
        }
        // With `metrics`, the breaker's one flag says "timed, or counting
        // first-attempt successes" (see `Breaker::detour`): the untimed loop
        // below is the code it was, behind the one check it had, and a
        // counting breaker's calls run a copy of it.
        #[cfg(feature = "metrics")]
        if self.breaker.detour() || self.classifier.wants_elapsed() {
            return self.call_detour(op);
        }
        untimed_loop!(self, op, |_: &Step<T, E>| {})
    }

    /// A call that leaves the untimed loop: timed, or (untimed) on a breaker
    /// that counts first-attempt successes.
    #[cfg(feature = "metrics")]
    #[inline]
    fn call_detour<T, E, F>(&self, op: F) -> Outcome<T, E>
    where
        C: Classify<T, E>,
        S: Sleeper,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        if self.timed::<T, E>() {
            // `Call::after_record` counts a first-attempt success there.
            return self.call_timed(op);
        }
        self.call_counted(op)
    }

    /// The untimed loop on a breaker that counts first-attempt successes (see
    /// `fusebox::metrics::count_successes`), which counts this call's if it is
    /// one. Out of line: a copy of the loop the healthy path does not carry.
    #[cfg(feature = "metrics")]
    #[inline(never)]
    fn call_counted<T, E, F>(&self, mut op: F) -> Outcome<T, E>
    where
        C: Classify<T, E>,
        S: Sleeper,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        untimed_loop!(self, op, |step: &Step<T, E>| {
            // The first attempt ended the call with a success.
            if let Step::Done(Outcome {
                stop: Stop::Succeeded,
                ..
            }) = step
            {
                self.breaker.first_success();
            }
        })
    }

    /// Whether attempts are timed: the breaker has a slow-call threshold, or the
    /// classifier wants the time.
    #[inline]
    pub(super) fn timed<T, E>(&self) -> bool
    where
        C: Classify<T, E>,
    {
        self.breaker.has_slow_call() || self.classifier.wants_elapsed()
    }

    /// Whether an async call's first attempt can take the lean path: no time
    /// limit to race it against, and no timing.
    #[inline]
    pub(super) fn lean<T, E>(&self) -> bool
    where
        C: Classify<T, E>,
    {
        self.retry.deadline().is_none()
            && self.retry.attempt_timeout().is_none()
            && !self.timed::<T, E>()
    }

    /// [`call_outcome`](Self::call_outcome) with every attempt timed on the
    /// breaker's clock. A loop of its own, so that the untimed loop stays as lean
    /// as it was.
    #[inline(never)]
    pub(super) fn call_timed<T, E, F>(&self, mut op: F) -> Outcome<T, E>
    where
        C: Classify<T, E>,
        S: Sleeper,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        let mut call = Call::new(self);
        loop {
            let (permit, attempt) = match call.begin() {
                Ok(admitted) => admitted,
                Err(stop) => return stop,
            };
            let started = self.breaker.elapsed_ns();
            let result = op(attempt);
            match call.finish_timed(permit, result, started) {
                Step::Done(done) => return done,
                Step::Sleep(delay) => self.sleeper.sleep(delay),
            }
        }
    }
}
