//! A real HTTP proxy guarded by fusebox's tower layer: an axum front end calls a
//! flaky axum downstream through `GuardLayer` wrapped around a `reqwest::Client`
//! (feature `reqwest`: `ReqwestClassifier` for its responses and errors,
//! `TryCloneRequest` to copy its requests for retries), both on 127.0.0.1
//! (ephemeral ports).
//!
//! The downstream follows a script: healthy, then down (every answer a 500) for a
//! while, then healthy again. A client sends the front end one request every 20
//! ms. The front end retries 500s once, its breaker trips during the outage and
//! answers `503` with `Retry-After` without touching the downstream, probes it
//! when the open period ends, and closes once the downstream answers again.
//!
//!     cargo run -p fusebox-integrations --example axum_proxy --features reqwest
//!
//! prints the breaker's transitions and a timeline in 250 ms rows: the front
//! end's answers by status, and how many requests reached the downstream.
//!
//! `tests/axum_proxy.rs` runs this file's wiring (it includes the file as a
//! module) with a shorter script and checks the same story.

use axum::Router;
use axum::extract::{Path, State as AxumState};
use axum::http::{Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use fusebox::http::guard_error_response;
use fusebox::reqwest::{ReqwestClassifier, ReqwestGuard, TryCloneRequest};
use fusebox::tower::GuardLayer;
use fusebox::{Breaker, Guard, GuardError, Jitter, Retry, State, TokioSleeper, Transition};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};

/// When the downstream is down, from the start of the run.
#[derive(Clone, Copy, Debug)]
pub struct Script {
    /// Healthy until then.
    pub down_at: Duration,
    /// Answers 500 from `down_at` until then, healthy after.
    pub up_at: Duration,
}

/// One request that reached the downstream.
#[derive(Clone, Copy, Debug)]
pub struct Hit {
    /// Since the start of the run.
    pub at: Duration,
    /// The status it answered.
    pub status: StatusCode,
    /// The front end's breaker when it arrived: its state and epoch.
    pub state: State,
    /// The breaker's epoch.
    pub epoch: u32,
}

/// One request of the client to the front end.
#[derive(Clone, Debug)]
pub struct Answer {
    /// When it was sent, since the start of the run.
    pub at: Duration,
    /// The front end's status.
    pub status: StatusCode,
    /// Its `Retry-After`, if any.
    pub retry_after: Option<String>,
}

/// Everything a run saw.
#[derive(Debug, Default)]
pub struct Run {
    /// The client's requests, in order.
    pub answers: Vec<Answer>,
    /// The downstream's requests, in order.
    pub hits: Vec<Hit>,
    /// The breaker's transitions, with their time since the start.
    pub transitions: Vec<(Duration, Transition)>,
}

/// The front end's guard for the downstream: two attempts 20 ms apart within
/// one second (each cut at 300 ms), reqwest's classifier (5xx, refused
/// connections and timeouts are retryable failures), tokio's timer. The
/// breaker trips on the 4th failed attempt in a row, stays open 400 ms (up to
/// 800 ms after failed probes), probes one request at a time and closes after
/// two successes.
/// `on_transition` is the breaker's listener.
pub fn guard(
    on_transition: impl Fn(&Transition) + Send + Sync + 'static,
) -> Result<ReqwestGuard, fusebox::ConfigError> {
    let breaker = Breaker::builder()
        .trip_after_consecutive_failures(4)
        .shed_below(0.0) // admit everything until it trips: a clearer timeline
        .open_for(Duration::from_millis(400))
        .open_cap(Duration::from_millis(800))
        .probes(1)
        .close_after(2)
        .on_transition(on_transition)
        .build()?;
    let retry = Retry::builder()
        .max_attempts(2)
        .constant_backoff(Duration::from_millis(20))
        .jitter(Jitter::Full)
        .attempt_timeout(Duration::from_millis(300))
        .deadline(Duration::from_secs(1))
        .build()?;
    Ok(Guard::new(Arc::new(breaker), retry)
        .with_classifier(ReqwestClassifier::new())
        .with_sleeper(TokioSleeper))
}

/// Serve `router` on 127.0.0.1, an ephemeral port; the server runs until the
/// runtime ends.
async fn serve(router: Router) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(addr)
}

/// The flaky downstream: `GET /item/{id}` answers `item {id}`, or a 500 while
/// the script says it is down. `observe` sees each request's answer.
pub async fn downstream(
    start: Instant,
    script: Script,
    observe: impl Fn(Duration, StatusCode) + Clone + Send + Sync + 'static,
) -> std::io::Result<SocketAddr> {
    let router = Router::new().route(
        "/item/{id}",
        get(move |Path(id): Path<u32>| async move {
            let at = start.elapsed();
            let down = at >= script.down_at && at < script.up_at;
            let status = if down {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            };
            observe(at, status);
            if down {
                (status, "down".to_string())
            } else {
                (status, format!("item {id}"))
            }
        }),
    );
    serve(router).await
}

/// The front end: `GET /item/{id}` is proxied to the downstream through
/// `GuardLayer` around a reqwest client. A response is passed on as it is (a
/// 500 the retries could not fix included); a breaker rejection is a `503` with
/// `Retry-After` where the breaker knows when it admits again; a transport
/// error or a cut attempt is a `502`.
pub async fn front_end(
    guard: Arc<ReqwestGuard>,
    downstream: SocketAddr,
) -> std::io::Result<SocketAddr> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(std::io::Error::other)?;
    // The client is a tower `Service<reqwest::Request>`; `TryCloneRequest`
    // copies each request for a retry (`reqwest::Request` is not `Clone`).
    let service = ServiceBuilder::new()
        .layer(GuardLayer::from_arc(guard).clone_requests_with(TryCloneRequest))
        .service(client.clone());
    let base = format!("http://{downstream}");
    let router = Router::new()
        .route("/item/{id}", get(proxy))
        .with_state((service, client, base));
    serve(router).await
}

/// One proxied request.
async fn proxy<S>(
    AxumState((mut service, client, base)): AxumState<(S, reqwest::Client, String)>,
    Path(id): Path<u32>,
) -> Response<axum::body::Body>
where
    S: Service<reqwest::Request, Response = reqwest::Response, Error = GuardError<reqwest::Error>>,
{
    let request = match client.get(format!("{base}/item/{id}")).build() {
        Ok(request) => request,
        Err(error) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response();
        }
    };
    let result = match service.ready().await {
        Ok(ready) => ready.call(request).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(response) => {
            let mut reply = Response::builder().status(response.status());
            if let Some(kind) = response.headers().get(header::CONTENT_TYPE) {
                reply = reply.header(header::CONTENT_TYPE, kind);
            }
            match response.bytes().await {
                Ok(body) => reply
                    .body(axum::body::Body::from(body))
                    .expect("a status and a header"),
                Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
            }
        }
        Err(error) => match guard_error_response::<axum::body::Body, _>(&error) {
            Some(rejection) => rejection,
            None => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
        },
    }
}

/// Run the whole story: a downstream following `script`, the front end, and a
/// client sending one request every 20 ms until `until` says to stop (given
/// the time and the answers so far) or `max_requests` were sent.
pub async fn run(
    script: Script,
    max_requests: usize,
    until: impl Fn(Duration, &[Answer]) -> bool,
) -> Result<(Run, Arc<ReqwestGuard>), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let transitions = Arc::new(Mutex::new(Vec::new()));
    let hits = Arc::new(Mutex::new(Vec::new()));
    let guard = Arc::new(guard({
        let transitions = Arc::clone(&transitions);
        move |t: &Transition| transitions.lock().unwrap().push((start.elapsed(), *t))
    })?);
    let breaker = Arc::clone(guard.breaker());
    let observe = {
        let hits = Arc::clone(&hits);
        move |at: Duration, status: StatusCode| {
            let snapshot = breaker.snapshot();
            hits.lock().unwrap().push(Hit {
                at,
                status,
                state: snapshot.state,
                epoch: snapshot.epoch,
            });
        }
    };
    let down = downstream(start, script, observe).await?;
    let front = front_end(Arc::clone(&guard), down).await?;

    let client = reqwest::Client::builder().no_proxy().build()?;
    let mut answers: Vec<Answer> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for id in 0..max_requests {
        tick.tick().await;
        let at = start.elapsed();
        if until(at, &answers) {
            break;
        }
        let response = client
            .get(format!("http://{front}/item/{id}"))
            .send()
            .await?;
        answers.push(Answer {
            at,
            status: response.status(),
            retry_after: response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        });
        let _ = response.bytes().await?;
    }
    let run = Run {
        answers,
        hits: std::mem::take(&mut *hits.lock().unwrap()),
        transitions: std::mem::take(&mut *transitions.lock().unwrap()),
    };
    Ok((run, guard))
}

/// Whether the last `n` answers were all 200s, sent after `after`.
pub fn recovered(answers: &[Answer], after: Duration, n: usize) -> bool {
    answers.len() >= n
        && answers[answers.len() - n..]
            .iter()
            .all(|a| a.at >= after && a.status == StatusCode::OK)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let script = Script {
        down_at: Duration::from_secs(1),
        up_at: Duration::from_secs(3),
    };
    println!(
        "downstream: healthy, down (500s) from {:?} to {:?}, then healthy",
        script.down_at, script.up_at
    );
    let (run, guard) = run(script, 400, |at, answers| {
        at > Duration::from_secs(6) || recovered(answers, script.up_at, 25)
    })
    .await?;

    println!("\nbreaker transitions:");
    for (at, t) in &run.transitions {
        println!(
            "  {:>6.3}s  {:?} -> {:?} (epoch {}){}",
            at.as_secs_f64(),
            t.from,
            t.to,
            t.epoch,
            t.open_for
                .map(|d| format!(", open for {} ms", d.as_millis()))
                .unwrap_or_default()
        );
    }
    println!("\n  time     front end: 200  500  502  503 (Retry-After)   downstream hits");
    let end = run.answers.last().map_or(Duration::ZERO, |a| a.at);
    let row = Duration::from_millis(250);
    let mut from = Duration::ZERO;
    while from <= end {
        let to = from + row;
        let here: Vec<&Answer> = run
            .answers
            .iter()
            .filter(|a| a.at >= from && a.at < to)
            .collect();
        let count = |code: u16| here.iter().filter(|a| a.status.as_u16() == code).count();
        let with_hint = here
            .iter()
            .filter(|a| a.status == StatusCode::SERVICE_UNAVAILABLE && a.retry_after.is_some())
            .count();
        let hits = run
            .hits
            .iter()
            .filter(|h| h.at >= from && h.at < to)
            .count();
        let phase = if from >= script.down_at && from < script.up_at {
            "down"
        } else {
            ""
        };
        println!(
            "  {:>5.2}s   {:>13} {:>4} {:>4} {:>4} ({:>2})   {:>14}  {}",
            from.as_secs_f64(),
            count(200),
            count(500),
            count(502),
            count(503),
            with_hint,
            hits,
            phase
        );
        from = to;
    }
    let snapshot = guard.breaker().snapshot();
    println!(
        "\n{} requests to the front end, {} reached the downstream; breaker now {:?}",
        run.answers.len(),
        run.hits.len(),
        snapshot.state
    );
    Ok(())
}
