//! Feature `metrics`: `count_successes_by_default`, a process-wide switch, in
//! a test binary of its own (the other tests build breakers concurrently, and
//! would count their successes while it is on).
#![cfg(feature = "metrics")]

use fusebox::{Breaker, Guard, GuardError, Retry};
use std::sync::Arc;

mod metrics_support;
use metrics_support::store;

fn one_success(breaker: &Arc<Breaker>) {
    let guard = Guard::new(Arc::clone(breaker), Retry::builder().build().unwrap());
    let r: Result<(), GuardError<()>> = guard.call(|_| Ok(()));
    assert!(r.is_ok());
    fusebox::metrics::export(breaker);
}

#[test]
fn breakers_built_while_the_default_is_on_count_successes() {
    let store = store();
    let succeeded = |name: &str| {
        store.counter(&format!(
            "fusebox_calls_total{{breaker={name},stop=succeeded}}"
        ))
    };
    let counted = |name: &str| store.gauge(&format!("fusebox_successes_counted{{breaker={name}}}"));

    let before = Arc::new(Breaker::builder().name("before").build().unwrap());
    fusebox::metrics::count_successes_by_default(true);
    let during = Arc::new(Breaker::builder().name("during").build().unwrap());
    #[cfg(feature = "registry")]
    let registry = fusebox::Registry::<String>::builder()
        .breaker(|key: Option<&String>| {
            Breaker::builder().name(key.map_or("overflow", String::as_str))
        })
        .build()
        .unwrap();
    #[cfg(feature = "registry")]
    let keyed = Arc::clone(registry.get("keyed").breaker());
    fusebox::metrics::count_successes_by_default(false);
    let after = Arc::new(Breaker::builder().name("after").build().unwrap());

    for b in [&before, &during, &after] {
        one_success(b);
    }
    assert_eq!((succeeded("before"), counted("before")), (0, 0.0));
    assert_eq!((succeeded("during"), counted("during")), (1, 1.0));
    assert_eq!((succeeded("after"), counted("after")), (0, 0.0));
    #[cfg(feature = "registry")]
    {
        one_success(&keyed);
        assert_eq!((succeeded("keyed"), counted("keyed")), (1, 1.0));
    }
}
