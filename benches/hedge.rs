//! Hedging's price on the healthy path: one call whose operation is ready at
//! once, so the hedge is armed (its delay read, its timer made) but never fires.
//!
//! - `hedge/bare`: the operation alone (the driving loop's own cost);
//! - `hedge/fusebox-unhedged`: `Guard::call_async` (default breaker and retry,
//!   `TokioSleeper`), the path an unhedged guard takes;
//! - `hedge/fusebox`: `HedgedGuard::call_async` with the default `Hedge`
//!   (0.95 quantile of recent latencies; primed past its 32 samples);
//! - `hedge/tower-bare`: a ready `service_fn` through `ready` + `call`;
//! - `hedge/tower-hedge`: `tower::hedge::Hedge` around it (0.95 percentile, 10
//!   data points, a 10 s rotating histogram; primed), tower's own hedging;
//! - `hedge/layer-unhedged`: fusebox's `GuardLayer` around it (the guard above);
//! - `hedge/layer`: fusebox's `HedgedGuardLayer` around it (the hedged guard
//!   above, primed), the layer the target compares with tower's.
//!
//! One thread, a current-thread tokio runtime entered (all sleep on tokio's
//! timer); every future completes in its first poll, with a no-op waker. The
//! tower and layer cases include tower's `ready` + `call` protocol.
//!
//!     cargo bench -p fusebox-benches --bench hedge --features tokio,tower
use criterion::{Criterion, criterion_group, criterion_main};
use fusebox::tower::{GuardLayer, HedgedGuardLayer};
use fusebox::{Breaker, Guard, Hedge, Retry, TokioSleeper};
use std::convert::Infallible;
use std::future::{Future, ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tower::{Layer, Service, ServiceExt, service_fn};

/// Poll `f` once; it must be ready.
fn poll_once<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the call did not complete in one poll"),
    }
}

/// Always clones, always retries: tower's hedge decides by its histogram alone.
#[derive(Clone)]
struct Always;

impl tower::hedge::Policy<u32> for Always {
    fn clone_request(&self, req: &u32) -> Option<u32> {
        Some(*req)
    }
    fn can_retry(&self, _: &u32) -> bool {
        true
    }
}

fn hedge(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let mut group = c.benchmark_group("hedge");

    group.bench_function("bare", |b| {
        let mut i = 0u32;
        b.iter(|| {
            i = i.wrapping_add(1);
            poll_once(ready(Ok::<u32, ()>(black_box(i))))
        })
    });

    let guard = Guard::new(
        Arc::new(Breaker::builder().build().unwrap()),
        Retry::default(),
    )
    .with_sleeper(TokioSleeper);
    group.bench_function("fusebox-unhedged", |b| {
        let mut i = 0u32;
        b.iter(|| {
            i = i.wrapping_add(1);
            let r = poll_once(guard.call_async(|_| ready(Ok::<u32, ()>(black_box(i)))));
            assert!(r.is_ok());
        })
    });

    let hedged = guard
        .clone()
        .with_hedging(Hedge::builder().build().unwrap());
    for _ in 0..100 {
        // Past the fallback: the delay is read from the histogram.
        let _ = poll_once(hedged.call_async(|_| ready(Ok::<u32, ()>(1))));
    }
    group.bench_function("fusebox", |b| {
        let mut i = 0u32;
        b.iter(|| {
            i = i.wrapping_add(1);
            let r = poll_once(hedged.call_async(|_| ready(Ok::<u32, ()>(black_box(i)))));
            assert!(r.is_ok());
        })
    });

    let inner = service_fn(|x: u32| ready(Ok::<u32, Infallible>(x)));
    let mut bare = inner;
    group.bench_function("tower-bare", |b| {
        let mut i = 0u32;
        b.iter(|| {
            i = i.wrapping_add(1);
            let svc = poll_once(bare.ready()).unwrap();
            poll_once(svc.call(black_box(i))).unwrap()
        })
    });

    let mut tower_hedge =
        tower::hedge::Hedge::new(inner, Always, 10, 0.95, Duration::from_secs(10));
    for i in 0..100 {
        let svc = poll_once(tower_hedge.ready()).unwrap();
        let _ = poll_once(svc.call(i));
    }
    group.bench_function("tower-hedge", |b| {
        let mut i = 0u32;
        b.iter(|| {
            i = i.wrapping_add(1);
            let svc = poll_once(tower_hedge.ready()).unwrap();
            poll_once(svc.call(black_box(i))).unwrap()
        })
    });
    let mut layer = GuardLayer::new(guard.clone()).layer(inner);
    group.bench_function("layer-unhedged", |b| {
        let mut i = 0u32;
        b.iter(|| {
            i = i.wrapping_add(1);
            let svc = poll_once(layer.ready()).unwrap();
            poll_once(svc.call(black_box(i))).unwrap()
        })
    });

    let mut hedged_layer = HedgedGuardLayer::new(hedged.clone()).layer(inner);
    for i in 0..100 {
        let svc = poll_once(hedged_layer.ready()).unwrap();
        let _ = poll_once(svc.call(i));
    }
    group.bench_function("layer", |b| {
        let mut i = 0u32;
        b.iter(|| {
            i = i.wrapping_add(1);
            let svc = poll_once(hedged_layer.ready()).unwrap();
            poll_once(svc.call(black_box(i))).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, hedge);
criterion_main!(benches);
