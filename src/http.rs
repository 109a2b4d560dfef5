//! HTTP out of the box, on the [`http`](https://docs.rs/http/1) crate's types (shared by hyper,
//! tower, axum and reqwest): a classifier for responses and transport errors,
//! `Retry-After` parsing, and the response to send when the breaker refuses.
//!
//! - [`HttpClassifier`]: which responses are successes, retryable failures,
//!   permanent failures or no health signal at all, with the server's
//!   `Retry-After` as the retry's hint;
//! - [`retry_after`]: `Retry-After` in both its forms (delta-seconds and
//!   HTTP-date), never panicking on what a server sends;
//! - [`rejection_response`] and [`guard_error_response`]: a `503 Service
//!   Unavailable` (with `Retry-After` when the breaker knows when it will admit
//!   again) for a server whose downstream's breaker refused.
//!
//! # Examples
//!
//! A guarded call whose first attempt gets a 503 asking for two seconds, and whose
//! second gets a 200:
//!
//! ```
//! use fusebox::http::HttpClassifier;
//! use fusebox::{Breaker, Guard, Jitter, ManualClock, ManualSleeper, Retry};
//! use http::{Response, StatusCode};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let breaker = Arc::new(Breaker::builder().clock(clock.clone()).build()?);
//! let retry = Retry::builder()
//!     .constant_backoff(Duration::from_millis(100))
//!     .jitter(Jitter::None)
//!     .build()?;
//! let guard = Guard::new(breaker, retry)
//!     .with_classifier(HttpClassifier::new())
//!     .with_sleeper(ManualSleeper::new(clock.clone()));
//!
//! let response = guard.call(|attempt| {
//!     let response = if attempt.number == 1 {
//!         Response::builder().status(503).header("retry-after", "2").body(())
//!     } else {
//!         Response::builder().status(200).body(())
//!     };
//!     response.map_err(|e| e.to_string()) // the "transport error" of this sketch
//! });
//! assert_eq!(response.unwrap().status(), StatusCode::OK);
//! assert_eq!(clock.now(), Duration::from_secs(2), "slept the server's 2 s, not 100 ms");
//! # Ok::<(), fusebox::ConfigError>(())
//! ```

use crate::classify::{Classification, Classify};
use crate::error::Rejected;
use crate::guard::{Guard, GuardError};
use ::http::header::RETRY_AFTER;
use ::http::{HeaderMap, HeaderValue, Response, StatusCode};
use std::time::{Duration, SystemTime};

/// The longest `Retry-After` that [`retry_after`] returns: longer ones (and
/// delta-seconds too large for a `u64`) are clamped to it.
///
/// One day: more than any real server asks of a retry loop, and small enough that
/// arithmetic on the hint stays far from overflow and a wrong header (a date in
/// 2099, twenty digits) cannot park a caller for years. A guard should still have
/// a [deadline](crate::RetryBuilder::deadline): a hint that cannot be honoured
/// within it ends the call instead of sleeping.
///
/// # Examples
///
/// ```
/// use fusebox::http::{retry_after, MAX_RETRY_AFTER};
/// use http::HeaderMap;
/// use std::time::SystemTime;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", "99999999999999999999999".parse().unwrap());
/// assert_eq!(retry_after(&headers, SystemTime::now()), Some(MAX_RETRY_AFTER));
/// ```
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// A [`Guard`] with the default HTTP classifier: a nameable type for a struct
/// field or a [`GuardLayer`](crate::tower::GuardLayer)'s parameter. The sleeper
/// defaults to [`TokioSleeper`](crate::TokioSleeper) when the `tokio` feature is
/// on (without it, name the sleeper: `HttpGuard<MySleeper>`).
///
/// # Examples
///
/// ```
/// # #[cfg(not(feature = "tokio"))] fn main() {}
/// # #[cfg(feature = "tokio")]
/// # fn main() -> Result<(), fusebox::ConfigError> {
/// use fusebox::http::{HttpClassifier, HttpGuard};
/// use fusebox::{Breaker, Guard, Retry, TokioSleeper};
/// use std::sync::Arc;
///
/// struct Client {
///     guard: HttpGuard,
/// }
///
/// let guard: HttpGuard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
///     .with_classifier(HttpClassifier::new())
///     .with_sleeper(TokioSleeper);
/// let client = Client { guard };
/// # let _ = client.guard;
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "tokio")]
pub type HttpGuard<S = crate::TokioSleeper> = Guard<HttpClassifier, S>;

/// A [`Guard`] with the default HTTP classifier (with the `tokio` feature, the
/// sleeper defaults to `TokioSleeper`).
///
/// # Examples
///
/// ```
/// use fusebox::http::{HttpClassifier, HttpGuard};
/// use fusebox::{Breaker, Guard, ManualClock, ManualSleeper, Retry};
/// use std::sync::Arc;
///
/// let clock = ManualClock::new();
/// let guard: HttpGuard<ManualSleeper> =
///     Guard::new(Arc::new(Breaker::builder().clock(clock.clone()).build()?), Retry::default())
///         .with_classifier(HttpClassifier::new())
///         .with_sleeper(ManualSleeper::new(clock));
/// # let _ = guard;
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[cfg(not(feature = "tokio"))]
pub type HttpGuard<S> = Guard<HttpClassifier, S>;

/// The default classifier for HTTP calls: a [`Classify`] for
/// `Result<http::Response<B>, E>`, for any body `B` and any transport error `E`.
///
/// | result | classification | health | retried | why |
/// |---|---|---|---|---|
/// | `1xx`, `2xx`, `3xx` | `Success` | success | no | the server answered as HTTP means it to; a redirect is the caller's to follow |
/// | `408` Request Timeout | failure, weight 1 | failure | yes | the server gave up waiting on this connection; a new attempt usually succeeds |
/// | `429` Too Many Requests | failure, weight **0.5**, `Retry-After` hint | half a failure | yes | see below |
/// | other `4xx` | `Ignored` | none | no | a caller error: the request is wrong, the server is fine |
/// | `501` Not Implemented, `505` HTTP Version Not Supported | `Ignored` | none | no | a deterministic refusal of this request: retrying cannot help, and a server that says so promptly is not sick |
/// | other `5xx` (`500`, `502`, `503`, `504`, …) | failure, weight 1, `Retry-After` hint | failure | yes | the server (or a gateway before it) failed; another attempt may reach a healthy instance |
/// | `600`–`999` (not HTTP status classes) | permanent failure, weight 1 | failure | no | the server is broken in a way no retry fixes |
/// | `Err(_)` (transport: connect, reset, timeout, …) | failure, weight 1 | failure | yes | nothing answered: the typical sign of a sick downstream |
///
/// **429.** The server is alive and answered on purpose: it is shedding load, or
/// this client is over its quota. The call retries, no sooner than the server's
/// `Retry-After`. For health it counts half a failure: a server that sheds
/// steadily is overloaded, and the breaker backing the whole client off is the
/// cooperative answer, but it takes twice as many 429s as 5xxs to get there. Set
/// [`with_throttle_weight(0.0)`](Self::with_throttle_weight) to retry 429s
/// without any health signal (a failure of weight 0 is no signal, like
/// [`Verdict::Ignored`](crate::Verdict::Ignored)), or `1.0` to count it fully.
/// Note that in half-open any failure of positive weight re-opens the breaker, a
/// 429 probe included.
///
/// **`Retry-After`** is read (with [`retry_after`], against the wall clock) on
/// every response classified as a retryable failure: RFC 9110 defines it for 503
/// (and RFC 6585 for 429), and a server that sends it on a 502 or 504 is asking
/// the same thing. The guard's next delay is `max(hint, backoff)`.
///
/// **Transport errors** are all alike here: `E` is any type, and there is no
/// common way to tell a timeout from a refused connection. To weigh them
/// differently, wrap the classifier in a closure:
///
/// ```
/// use fusebox::http::HttpClassifier;
/// use fusebox::{Classification, Classify};
/// use http::Response;
///
/// #[derive(Debug)]
/// enum ClientError { Timeout, Connect, InvalidUrl }
///
/// let http = HttpClassifier::new();
/// let classify = move |r: &Result<Response<()>, ClientError>| match r {
///     Err(ClientError::Timeout) => Classification::failure().with_weight(2.0),
///     Err(ClientError::InvalidUrl) => Classification::Ignored, // our bug, not theirs
///     _ => http.classify(r),
/// };
/// assert!(classify.classify(&Err(ClientError::Connect)).is_retryable());
/// assert_eq!(classify.classify(&Err(ClientError::InvalidUrl)), Classification::Ignored);
/// ```
///
/// Weights go to the breaker as they are, so they clamp like
/// [`Verdict::Failure`](crate::Verdict::Failure)'s: NaN, zero and negative are no
/// signal.
///
/// # Examples
///
/// ```
/// use fusebox::http::HttpClassifier;
/// use fusebox::{Classification, Classify};
/// use http::Response;
/// use std::time::Duration;
///
/// let classifier = HttpClassifier::new();
/// let response = |status: u16| -> Result<Response<()>, ()> {
///     Ok(Response::builder().status(status).body(()).unwrap())
/// };
/// assert_eq!(classifier.classify(&response(200)), Classification::Success);
/// assert_eq!(classifier.classify(&response(404)), Classification::Ignored);
/// assert_eq!(classifier.classify(&response(502)), Classification::failure());
/// let transport: Result<Response<()>, ()> = Err(());
/// assert_eq!(classifier.classify(&transport), Classification::failure());
///
/// let busy: Result<Response<()>, ()> =
///     Ok(Response::builder().status(503).header("retry-after", "7").body(()).unwrap());
/// assert_eq!(classifier.classify(&busy).retry_after(), Some(Duration::from_secs(7)));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct HttpClassifier {
    server_error_weight: f64,
    throttle_weight: f64,
    timeout_weight: f64,
    error_weight: f64,
    /// The wall clock an HTTP-date `Retry-After` is measured against: a plain
    /// function so the classifier stays `Copy`, and tests can pin the time.
    wall_clock: fn() -> SystemTime,
}

impl HttpClassifier {
    /// The classifier of the table above: 5xx, 408 and transport errors weigh
    /// 1, 429 weighs 0.5.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::http::HttpClassifier;
    /// use fusebox::{Classification, Classify};
    /// use http::Response;
    ///
    /// let throttled: Result<Response<()>, ()> =
    ///     Ok(Response::builder().status(429).body(()).unwrap());
    /// let c = HttpClassifier::new().classify(&throttled);
    /// assert_eq!(c, Classification::failure().with_weight(0.5));
    /// ```
    pub const fn new() -> Self {
        Self {
            server_error_weight: 1.0,
            throttle_weight: 0.5,
            timeout_weight: 1.0,
            error_weight: 1.0,
            wall_clock: SystemTime::now,
        }
    }

    /// The health weight of a retryable 5xx (every 5xx but 501 and 505).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::http::HttpClassifier;
    /// use fusebox::{Classification, Classify};
    /// use http::Response;
    ///
    /// let down: Result<Response<()>, ()> = Ok(Response::builder().status(500).body(()).unwrap());
    /// let c = HttpClassifier::new().with_server_error_weight(2.0).classify(&down);
    /// assert_eq!(c, Classification::failure().with_weight(2.0));
    /// ```
    pub const fn with_server_error_weight(mut self, weight: f64) -> Self {
        self.server_error_weight = weight;
        self
    }

    /// The health weight of a 429 Too Many Requests (default 0.5; 0 retries it
    /// without a health signal).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::http::HttpClassifier;
    /// use fusebox::{Classify, Verdict};
    /// use http::Response;
    ///
    /// let throttled: Result<Response<()>, ()> =
    ///     Ok(Response::builder().status(429).body(()).unwrap());
    /// let c = HttpClassifier::new().with_throttle_weight(0.0).classify(&throttled);
    /// assert!(c.is_retryable());
    /// assert_eq!(c.verdict(), Verdict::Failure { weight: 0.0 }); // no health signal
    /// ```
    pub const fn with_throttle_weight(mut self, weight: f64) -> Self {
        self.throttle_weight = weight;
        self
    }

    /// The health weight of a 408 Request Timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::http::HttpClassifier;
    /// use fusebox::{Classification, Classify};
    /// use http::Response;
    ///
    /// let timeout: Result<Response<()>, ()> =
    ///     Ok(Response::builder().status(408).body(()).unwrap());
    /// let c = HttpClassifier::new().with_timeout_weight(0.5).classify(&timeout);
    /// assert_eq!(c, Classification::failure().with_weight(0.5));
    /// ```
    pub const fn with_timeout_weight(mut self, weight: f64) -> Self {
        self.timeout_weight = weight;
        self
    }

    /// The health weight of a transport error (`Err`).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::http::HttpClassifier;
    /// use fusebox::{Classification, Classify};
    /// use http::Response;
    ///
    /// let reset: Result<Response<()>, &str> = Err("connection reset");
    /// let c = HttpClassifier::new().with_error_weight(3.0).classify(&reset);
    /// assert_eq!(c, Classification::failure().with_weight(3.0));
    /// ```
    pub const fn with_error_weight(mut self, weight: f64) -> Self {
        self.error_weight = weight;
        self
    }

    /// Measure an HTTP-date `Retry-After` against `now` instead of
    /// [`SystemTime::now`] (for tests and simulations).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::http::HttpClassifier;
    /// use fusebox::Classify;
    /// use http::Response;
    /// use std::time::{Duration, SystemTime};
    ///
    /// // Wed, 21 Oct 2015 07:27:50 GMT: ten seconds before the server's date.
    /// let classifier = HttpClassifier::new()
    ///     .with_wall_clock(|| SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470));
    /// let busy: Result<Response<()>, ()> = Ok(Response::builder()
    ///     .status(503)
    ///     .header("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")
    ///     .body(())
    ///     .unwrap());
    /// assert_eq!(classifier.classify(&busy).retry_after(), Some(Duration::from_secs(10)));
    /// ```
    pub const fn with_wall_clock(mut self, now: fn() -> SystemTime) -> Self {
        self.wall_clock = now;
        self
    }

    /// Classify a response (the `Ok` side of the table).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::http::HttpClassifier;
    /// use fusebox::Classification;
    /// use http::Response;
    ///
    /// let not_implemented = Response::builder().status(501).body(()).unwrap();
    /// let c = HttpClassifier::new().classify_response(&not_implemented);
    /// assert_eq!(c, Classification::Ignored);
    /// ```
    pub fn classify_response<B>(&self, response: &Response<B>) -> Classification {
        self.classify_status(response.status(), response.headers())
    }

    /// The table's `Ok` side for a response given as its status and headers:
    /// the one copy of the table, shared by [`classify_response`](Self::classify_response)
    /// and `fusebox::reqwest`'s classifier (whose responses are not
    /// `http::Response`s).
    pub(crate) fn classify_status(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Classification {
        let class = match status.as_u16() {
            100..=399 => return Classification::Success,
            408 => Classification::failure().with_weight(self.timeout_weight),
            429 => Classification::failure().with_weight(self.throttle_weight),
            400..=499 | 501 | 505 => return Classification::Ignored,
            500..=599 => Classification::failure().with_weight(self.server_error_weight),
            // `StatusCode` admits 100..=999; 6xx and up belong to no class.
            _ => return Classification::permanent(),
        };
        // Only retryable failures get here: the wall clock is read only when
        // there is a header to measure.
        if !headers.contains_key(RETRY_AFTER) {
            return class;
        }
        match retry_after(headers, (self.wall_clock)()) {
            Some(hint) => class.with_retry_after(hint),
            None => class,
        }
    }

    /// The table's `Err` side: a transport error, a retryable failure of the
    /// [error weight](Self::with_error_weight).
    pub(crate) fn transport_error(&self) -> Classification {
        Classification::failure().with_weight(self.error_weight)
    }
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl<B, E> Classify<Response<B>, E> for HttpClassifier {
    fn classify(&self, result: &Result<Response<B>, E>) -> Classification {
        match result {
            Ok(response) => self.classify_response(response),
            Err(_) => self.transport_error(),
        }
    }
}

/// The wait a response's `Retry-After` asks for, measured from `now` (the wall
/// clock; it matters only for the HTTP-date form).
///
/// - delta-seconds (`Retry-After: 120`): that many seconds; leading zeros are
///   fine, `+`, `-`, fractions and exponents are not (`None`);
/// - HTTP-date (`Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`, and the obsolete
///   RFC 850 and asctime forms RFC 9110 requires recipients to accept), parsed by
///   the `httpdate` crate: the time from `now` to that date. A date already past
///   is `Some(Duration::ZERO)`: the server's time has come, so retry now (the
///   guard still waits its own backoff, since the delay is `max(hint, backoff)`);
/// - spaces and tabs around the value are ignored; anything else (empty, garbage,
///   non-ASCII) is `None`;
/// - waits over [`MAX_RETRY_AFTER`] (one day) are clamped to it;
/// - `Retry-After` should appear once; if a response has several, the longest
///   valid one wins (the most the server asked for), and invalid ones are skipped.
///
/// Never panics.
///
/// # Examples
///
/// ```
/// use fusebox::http::retry_after;
/// use http::HeaderMap;
/// use std::time::{Duration, SystemTime};
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 07:28:00
/// let mut headers = HeaderMap::new();
/// assert_eq!(retry_after(&headers, now), None);
///
/// headers.insert("retry-after", "120".parse().unwrap());
/// assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(120)));
///
/// headers.insert("retry-after", "Wed, 21 Oct 2015 07:29:00 GMT".parse().unwrap());
/// assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(60)));
///
/// headers.insert("retry-after", "soon".parse().unwrap());
/// assert_eq!(retry_after(&headers, now), None);
/// ```
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    headers
        .get_all(RETRY_AFTER)
        .iter()
        .filter_map(|value| parse_retry_after(value, now))
        .max()
}

/// One `Retry-After` value (see [`retry_after`]).
fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    // `to_str` fails on obs-text (bytes over 0x7f): no valid form has any.
    let text = value.to_str().ok()?.trim_matches([' ', '\t']);
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        // By hand, not `u64::from_str`: that accepts a leading `+`, which the
        // grammar (1*DIGIT) does not, and fails on overflow, where a clamp is
        // the honest reading of "a very long time".
        let secs = text.bytes().fold(0u64, |secs, digit| {
            secs.saturating_mul(10)
                .saturating_add(u64::from(digit - b'0'))
        });
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    // `Err` from `duration_since`: the date is before `now`.
    let wait = date.duration_since(now).unwrap_or(Duration::ZERO);
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The response a server sends its own client when the breaker guarding a
/// downstream refused: `503 Service Unavailable` for every [`Rejected`], with
/// `Retry-After` in whole seconds (rounded up, at least 1) when the breaker knows
/// when it will admit again, and an empty (`B::default()`) body.
///
/// | rejection | status | `Retry-After` |
/// |---|---|---|
/// | `Open { retry_after: Some(d) }` | 503 | `d` rounded up to whole seconds, at least 1 |
/// | `Open { retry_after: None }` | 503 | none |
/// | `ForcedOpen` | 503 | none: an operator decides when it closes |
/// | `ProbesBusy` | 503 | none: a slot frees when a probe ends, at no known time |
/// | `Shed` | 503 | none: asking again at once may be admitted |
/// | `LimitReached { retry_after: Some(d) }` | 503 | `d` rounded up to whole seconds, at least 1 |
///
/// All are 503, not 429: the refusal is about this server's downstream, not
/// about how much this client sends. No header is invented where fusebox has no
/// estimate: a made-up "1" would line every client up for the same second, where
/// without it each uses its own (jittered) backoff. Rounding up, so a client that
/// honours the header never arrives before the breaker is ready.
///
/// # Examples
///
/// ```
/// use fusebox::http::rejection_response;
/// use fusebox::Rejected;
/// use http::{Response, StatusCode};
/// use std::time::Duration;
///
/// let open = Rejected::Open { retry_after: Some(Duration::from_millis(1500)) };
/// let response: Response<String> = rejection_response(&open);
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(response.headers()["retry-after"], "2");
///
/// let shed: Response<()> = rejection_response(&Rejected::Shed);
/// assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert!(shed.headers().get("retry-after").is_none());
/// ```
pub fn rejection_response<B: Default>(rejected: &Rejected) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    // Through `retry_after()`, not a match: a rejection kind added later gets the
    // header exactly when it has an estimate.
    if let Some(wait) = rejected.retry_after() {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(whole_seconds_up(wait)));
    }
    response
}

/// `wait` in whole seconds, rounded up, at least 1 (a `Retry-After: 0` would
/// invite the client straight back, before the deadline it was computed from).
fn whole_seconds_up(wait: Duration) -> u64 {
    let secs = wait.as_secs();
    let secs = if wait.subsec_nanos() > 0 {
        secs.saturating_add(1)
    } else {
        secs
    };
    secs.max(1)
}

/// [`rejection_response`] for a guarded call that the breaker stopped
/// ([`GuardError::Rejected`]); `None` for every other stop, whose response is the
/// caller's to choose (it holds the downstream's last error, which only the
/// caller knows how to show).
///
/// # Examples
///
/// ```
/// use fusebox::http::guard_error_response;
/// use fusebox::{GuardError, Rejected};
/// use http::Response;
/// use std::time::Duration;
///
/// let stopped: GuardError<&str> = GuardError::Rejected {
///     rejected: Rejected::Open { retry_after: Some(Duration::from_secs(30)) },
///     attempts: 2,
///     last: Some("connection refused"),
/// };
/// let response: Response<()> = guard_error_response(&stopped).unwrap();
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["retry-after"], "30");
///
/// let exhausted: GuardError<&str> = GuardError::Exhausted { attempts: 3, last: Some("reset") };
/// assert!(guard_error_response::<(), _>(&exhausted).is_none());
/// ```
pub fn guard_error_response<B: Default, E>(error: &GuardError<E>) -> Option<Response<B>> {
    match error {
        GuardError::Rejected { rejected, .. } => Some(rejection_response(rejected)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wed, 21 Oct 2015 07:28:00 GMT.
    const T0: u64 = 1_445_412_480;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(RETRY_AFTER, HeaderValue::from_bytes(v).unwrap());
        }
        map
    }

    fn one(value: &str) -> Option<Duration> {
        retry_after(&headers(&[value.as_bytes()]), at(T0))
    }

    #[test]
    fn the_reference_date_is_what_t0_says() {
        assert_eq!(
            httpdate::fmt_http_date(at(T0)),
            "Wed, 21 Oct 2015 07:28:00 GMT"
        );
    }

    #[test]
    fn delta_seconds() {
        assert_eq!(one("0"), Some(Duration::ZERO));
        assert_eq!(one("1"), Some(Duration::from_secs(1)));
        assert_eq!(one("120"), Some(Duration::from_secs(120)));
        assert_eq!(one("007"), Some(Duration::from_secs(7)), "leading zeros");
        assert_eq!(one("86400"), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn whitespace_around_is_ignored_inside_is_not() {
        assert_eq!(one(" 5"), Some(Duration::from_secs(5)));
        assert_eq!(one("5 "), Some(Duration::from_secs(5)));
        assert_eq!(one("\t 5 \t"), Some(Duration::from_secs(5)));
        assert_eq!(one("1 0"), None);
        assert_eq!(one("  "), None);
        assert_eq!(one(""), None);
        assert_eq!(
            one("  Wed, 21 Oct 2015 07:28:10 GMT\t"),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn garbage_is_none() {
        for bad in [
            "soon",
            "-5",
            "+5",
            "5s",
            "1.5",
            "1e3",
            "0x10",
            "5, 10",
            "Wed, 21 Oct 2015",
            "Wed, 32 Oct 2015 07:28:00 GMT",
            "Wed, 21 Oct 2015 25:28:00 GMT",
            "Wed, 21 Oct 2015 07:28:00 PST",
            "Thu, 21 Oct 2015 07:28:00 GMT x",
            "٣",
        ] {
            let map = match HeaderValue::from_str(bad) {
                Ok(v) => {
                    let mut m = HeaderMap::new();
                    m.insert(RETRY_AFTER, v);
                    m
                }
                // Not even a header value (non-visible-ASCII): try the raw bytes.
                Err(_) => headers(&[bad.as_bytes()]),
            };
            assert_eq!(retry_after(&map, at(T0)), None, "{bad:?}");
        }
        // obs-text: bytes over 0x7f are legal in a header value, never in this one.
        assert_eq!(retry_after(&headers(&[b"\xff12"]), at(T0)), None);
        assert_eq!(retry_after(&headers(&[b"12\x80"]), at(T0)), None);
    }

    #[test]
    fn overflowing_delta_seconds_clamp() {
        assert_eq!(one("86401"), Some(MAX_RETRY_AFTER));
        assert_eq!(one("18446744073709551615"), Some(MAX_RETRY_AFTER)); // u64::MAX
        assert_eq!(one("18446744073709551616"), Some(MAX_RETRY_AFTER)); // u64::MAX + 1
        assert_eq!(one(&"9".repeat(500)), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn http_dates_in_all_three_forms() {
        let ten = Some(Duration::from_secs(10));
        assert_eq!(one("Wed, 21 Oct 2015 07:28:10 GMT"), ten, "IMF-fixdate");
        assert_eq!(one("Wednesday, 21-Oct-15 07:28:10 GMT"), ten, "RFC 850");
        assert_eq!(one("Wed Oct 21 07:28:10 2015"), ten, "asctime");
    }

    #[test]
    fn dates_now_or_past_are_zero_and_far_future_clamps() {
        assert_eq!(one("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(one("Wed, 21 Oct 2015 07:27:59 GMT"), Some(Duration::ZERO));
        assert_eq!(one("Thu, 01 Jan 1970 00:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(one("Fri, 31 Dec 9999 23:59:59 GMT"), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn a_now_with_nanoseconds_measures_exactly() {
        let now = at(T0) + Duration::from_millis(300);
        let map = headers(&[b"Wed, 21 Oct 2015 07:28:02 GMT"]);
        assert_eq!(retry_after(&map, now), Some(Duration::from_millis(1700)));
        // A `now` far past the date, or before the Unix epoch, is no problem either.
        assert_eq!(
            retry_after(&map, at(u64::from(u32::MAX))),
            Some(Duration::ZERO)
        );
        let before_epoch = SystemTime::UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(
            retry_after(&map, before_epoch),
            Some(MAX_RETRY_AFTER),
            "45 years ahead: clamped"
        );
    }

    /// No panic on any value: every one-byte change (and truncation) of dates in
    /// each form and of a number, at every position, against several `now`s.
    #[test]
    fn never_panics_on_mangled_values() {
        let seeds: [&[u8]; 5] = [
            b"Wed, 21 Oct 2015 07:28:00 GMT",
            b"Wednesday, 21-Oct-15 07:28:00 GMT",
            b"Wed Oct 21 07:28:00 2015",
            b"Fri, 31 Dec 9999 23:59:59 GMT",
            b"18446744073709551615",
        ];
        let nows = [
            SystemTime::UNIX_EPOCH,
            at(T0),
            SystemTime::UNIX_EPOCH - Duration::from_secs(1),
            at(u64::from(u32::MAX) * 16),
        ];
        let bytes = [
            b'0', b'9', b' ', b'\t', b',', b'-', b':', b'Z', b'a', 0x7f, 0x80, 0xff,
        ];
        let mut checked = 0u32;
        for seed in seeds {
            for i in 0..seed.len() {
                let mut variants = vec![seed[..i].to_vec()];
                for &b in &bytes {
                    let mut v = seed.to_vec();
                    v[i] = b;
                    variants.push(v);
                }
                for v in variants {
                    // Bytes `HeaderValue` refuses (controls) cannot come from a peer.
                    let Ok(value) = HeaderValue::from_bytes(&v) else {
                        continue;
                    };
                    let mut map = HeaderMap::new();
                    map.insert(RETRY_AFTER, value);
                    for now in nows {
                        if let Some(d) = retry_after(&map, now) {
                            assert!(d <= MAX_RETRY_AFTER);
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    #[test]
    fn several_headers_take_the_longest_valid() {
        assert_eq!(
            retry_after(&headers(&[b"5", b"30", b"garbage", b"10"]), at(T0)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers(&[b"5", b"Wed, 21 Oct 2015 07:29:00 GMT"]), at(T0)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(retry_after(&headers(&[b"nope", b"-1"]), at(T0)), None);
    }

    type Res = Result<Response<()>, &'static str>;

    fn response(status: u16, retry_after: Option<&str>) -> Res {
        let mut builder = Response::builder().status(status);
        if let Some(v) = retry_after {
            builder = builder.header(RETRY_AFTER, v);
        }
        Ok(builder.body(()).unwrap())
    }

    #[test]
    fn the_classification_table() {
        let c = HttpClassifier::new();
        let unit = Classification::failure();
        for (status, want) in [
            (100, Classification::Success),
            (101, Classification::Success),
            (200, Classification::Success),
            (204, Classification::Success),
            (301, Classification::Success),
            (304, Classification::Success),
            (399, Classification::Success),
            (400, Classification::Ignored),
            (401, Classification::Ignored),
            (404, Classification::Ignored),
            (408, unit),
            (409, Classification::Ignored),
            (429, unit.with_weight(0.5)),
            (499, Classification::Ignored),
            (500, unit),
            (501, Classification::Ignored),
            (502, unit),
            (503, unit),
            (504, unit),
            (505, Classification::Ignored),
            (511, unit),
            (599, unit),
            (600, Classification::permanent()),
            (999, Classification::permanent()),
        ] {
            assert_eq!(c.classify(&response(status, None)), want, "{status}");
        }
        let reset: Res = Err("reset");
        assert_eq!(c.classify(&reset), unit);
    }

    #[test]
    fn retry_after_is_a_hint_on_retryable_failures_only() {
        let c = HttpClassifier::new().with_wall_clock(|| at(T0));
        let two = Some(Duration::from_secs(2));
        for status in [408, 429, 500, 502, 503, 504] {
            assert_eq!(
                c.classify(&response(status, Some("2"))).retry_after(),
                two,
                "{status}"
            );
        }
        let dated = response(503, Some("Wed, 21 Oct 2015 07:28:02 GMT"));
        assert_eq!(c.classify(&dated).retry_after(), two);
        // Garbage: still a retryable failure, without a hint.
        assert_eq!(
            c.classify(&response(503, Some("later"))),
            Classification::failure()
        );
        // Not retryable: the header changes nothing.
        for status in [200, 301, 404, 501] {
            assert_eq!(c.classify(&response(status, Some("2"))).retry_after(), None);
        }
    }

    #[test]
    fn weights_are_configurable() {
        let c = HttpClassifier::default()
            .with_server_error_weight(2.0)
            .with_throttle_weight(0.0)
            .with_timeout_weight(0.25)
            .with_error_weight(3.0);
        let unit = Classification::failure();
        assert_eq!(c.classify(&response(503, None)), unit.with_weight(2.0));
        assert_eq!(c.classify(&response(429, None)), unit.with_weight(0.0));
        assert_eq!(c.classify(&response(408, None)), unit.with_weight(0.25));
        let reset: Res = Err("reset");
        assert_eq!(c.classify(&reset), unit.with_weight(3.0));
        // Weight 0 is retryable, and no health signal for the breaker.
        let throttled = c.classify(&response(429, None));
        assert!(throttled.is_retryable());
    }

    #[test]
    fn rejections_become_503s() {
        let cases: [(Rejected, Option<&str>); 10] = [
            (Rejected::Open { retry_after: None }, None),
            (
                Rejected::Open {
                    retry_after: Some(Duration::ZERO),
                },
                Some("1"),
            ),
            (
                Rejected::Open {
                    retry_after: Some(Duration::from_nanos(1)),
                },
                Some("1"),
            ),
            (
                Rejected::Open {
                    retry_after: Some(Duration::from_secs(1)),
                },
                Some("1"),
            ),
            (
                Rejected::Open {
                    retry_after: Some(Duration::from_millis(1001)),
                },
                Some("2"),
            ),
            (
                Rejected::Open {
                    retry_after: Some(Duration::MAX),
                },
                Some("18446744073709551615"),
            ),
            (Rejected::ForcedOpen, None),
            (Rejected::ProbesBusy, None),
            (Rejected::Shed, None),
            (
                Rejected::LimitReached {
                    retry_after: Some(Duration::from_millis(3)),
                },
                Some("1"),
            ),
        ];
        for (rejected, header) in cases {
            let r: Response<Vec<u8>> = rejection_response(&rejected);
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{rejected:?}");
            assert!(r.body().is_empty());
            let got = r.headers().get(RETRY_AFTER).map(|v| v.to_str().unwrap());
            assert_eq!(got, header, "{rejected:?}");
            assert_eq!(r.headers().len(), usize::from(header.is_some()));
        }
    }

    #[test]
    fn guard_errors_other_than_rejections_have_no_response() {
        let rejected: GuardError<()> = GuardError::Rejected {
            rejected: Rejected::ForcedOpen,
            attempts: 0,
            last: None,
        };
        let r: Response<()> = guard_error_response(&rejected).unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        for other in [
            GuardError::Exhausted {
                attempts: 3,
                last: Some(()),
            },
            GuardError::BudgetExhausted {
                attempts: 1,
                last: Some(()),
            },
            GuardError::DeadlineExceeded {
                attempts: 2,
                last: Some(()),
            },
            GuardError::Permanent {
                attempts: 1,
                error: (),
            },
        ] {
            assert!(
                guard_error_response::<(), ()>(&other).is_none(),
                "{other:?}"
            );
        }
    }
}
