//! `fusebox::reqwest` (feature `reqwest`) against a real HTTP/1.1 server on
//! loopback: a tokio TCP listener writing canned answers, one request per
//! connection (`connection: close`), counting what reaches it. Real time, not
//! tokio's paused clock: the sockets are real.
#![cfg(feature = "reqwest")]

use fusebox::reqwest::{GuardMiddleware, ReqwestClassifier, TryCloneRequest, guard_error};
use fusebox::tower::GuardLayer;
use fusebox::{
    Breaker, Classification, Classify, DelayReason, Event, EventKind, Guard, GuardError, Jitter,
    Rejected, Retry, Stop, TokioSleeper,
};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::{Service, ServiceBuilder, ServiceExt};

const MS: Duration = Duration::from_millis(1);

/// What the server does with a request.
#[derive(Clone, Copy)]
enum Answer {
    /// Write this (a whole HTTP/1.1 response) and close.
    Canned(&'static str),
    /// Never answer (the connection stays open until the client drops it).
    Hang,
}

const OK: Answer =
    Answer::Canned("HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello");
const UNAVAILABLE: Answer = Answer::Canned(
    "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
);
const UNAVAILABLE_FOR_1S: Answer = Answer::Canned(
    "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
);
const SERVER_ERROR: Answer = Answer::Canned(
    "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
);

/// A server on loopback answering the `n`-th request (0-based) with
/// `answers[n]`, or the last answer once they run out.
struct Server {
    addr: SocketAddr,
    /// The request bodies received, in order (one per request).
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Server {
    async fn start(answers: &'static [Answer]) -> Self {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        tokio::spawn(async move {
            let mut n = 0;
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let answer = answers[n.min(answers.len() - 1)];
                n += 1;
                let seen = Arc::clone(&seen);
                tokio::spawn(async move { serve_one(socket, answer, seen).await });
            }
        });
        Self { addr, bodies }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests received (read in full) so far.
    fn hits(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }
}

/// Read one request (its head, and its body by `content-length` or chunked),
/// note its body, then answer.
async fn serve_one(mut socket: TcpStream, answer: Answer, seen: Arc<Mutex<Vec<Vec<u8>>>>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().unwrap());
    let chunked = head.contains("transfer-encoding: chunked");
    let body_complete = |data: &[u8]| match length {
        Some(len) => data.len() >= head_end + len,
        None if chunked => data[head_end..].ends_with(b"0\r\n\r\n"),
        None => true,
    };
    while !body_complete(&data) {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    seen.lock().unwrap().push(data[head_end..].to_vec());
    match answer {
        Answer::Canned(response) => {
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
        Answer::Hang => {
            // Hold the connection until the client gives up on it.
            let _ = socket.read(&mut buf).await;
        }
    }
}

fn retry(max_attempts: u32, backoff: Duration) -> Retry {
    Retry::builder()
        .max_attempts(max_attempts)
        .constant_backoff(backoff)
        .jitter(Jitter::None)
        .deadline(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A reqwest-middleware client with only `GuardMiddleware` over `guard`.
fn guarded(
    guard: Guard<ReqwestClassifier, TokioSleeper>,
) -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(client())
        .with(GuardMiddleware::new(guard))
        .build()
}

fn guard(breaker: Arc<Breaker>, retry: Retry) -> Guard<ReqwestClassifier, TokioSleeper> {
    Guard::new(breaker, retry)
        .with_classifier(ReqwestClassifier::new())
        .with_sleeper(TokioSleeper)
}

#[tokio::test]
async fn the_middleware_retries_a_503_then_returns_the_200() {
    let server = Server::start(&[UNAVAILABLE, OK]).await;
    let breaker = Arc::new(Breaker::builder().build().unwrap());
    let client = guarded(guard(Arc::clone(&breaker), retry(3, 10 * MS)));

    let response = client.get(server.url("/item")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "hello");
    assert_eq!(server.hits(), 2, "one retry");
    assert_eq!(breaker.snapshot().samples, 2, "both attempts recorded");
}

#[tokio::test]
async fn the_middleware_honours_retry_after() {
    let server = Server::start(&[UNAVAILABLE_FOR_1S, OK]).await;
    let retries = Arc::new(Mutex::new(Vec::new()));
    let breaker = Breaker::builder()
        .listener({
            let retries = Arc::clone(&retries);
            move |e: &Event<'_>| {
                if let EventKind::Retry { delay, reason, .. } = e.kind {
                    retries.lock().unwrap().push((delay, reason));
                }
            }
        })
        .build()
        .unwrap();
    // A 10 ms backoff: only the server's hint can make the wait a second.
    let client = guarded(guard(Arc::new(breaker), retry(2, 10 * MS)));

    let start = Instant::now();
    let response = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "waited {:?}, not the server's 1 s",
        start.elapsed()
    );
    assert_eq!(server.hits(), 2);
    assert_eq!(
        *retries.lock().unwrap(),
        [(Duration::from_secs(1), DelayReason::ServerHint)]
    );
}

#[tokio::test]
async fn a_tripped_breaker_rejects_without_sending_with_the_typed_error() {
    let server = Server::start(&[SERVER_ERROR]).await;
    let breaker = Arc::new(
        Breaker::builder()
            .trip_after_consecutive_failures(2)
            .open_for(Duration::from_secs(30))
            .build()
            .unwrap(),
    );
    let client = guarded(guard(Arc::clone(&breaker), retry(1, MS)));

    for _ in 0..2 {
        // One attempt each, its 500 returned as it is (and counted).
        let response = client.get(server.url("/")).send().await.unwrap();
        assert_eq!(response.status(), 500);
    }
    assert_eq!(server.hits(), 2);

    let error = client.get(server.url("/")).send().await.unwrap_err();
    assert_eq!(server.hits(), 2, "the rejected request was not sent");
    let stopped = guard_error(&error).expect("the guard's error");
    assert_eq!(stopped.stop(), Stop::Rejected);
    assert!(
        matches!(
            stopped,
            GuardError::Rejected {
                rejected: Rejected::Open {
                    retry_after: Some(_)
                },
                attempts: 0,
                last: None,
            }
        ),
        "{stopped:?}"
    );
    assert!(stopped.retry_after().unwrap() <= Duration::from_secs(30));
    assert!(error.to_string().contains("open"), "{error}");

    // The same error reached by hand: the middleware error's payload.
    let reqwest_middleware::Error::Middleware(payload) = &error else {
        panic!("not a middleware error: {error:?}");
    };
    assert!(
        payload
            .downcast_ref::<GuardError<reqwest_middleware::Error>>()
            .is_some()
    );
}

#[tokio::test]
async fn a_streaming_body_gets_one_attempt_and_a_buffered_one_all() {
    let server = Server::start(&[UNAVAILABLE]).await;
    let client = guarded(guard(
        Arc::new(Breaker::builder().build().unwrap()),
        retry(3, MS),
    ));

    // `Body::wrap` of any `http_body::Body` is a stream: not copyable.
    let streaming = reqwest::Body::wrap(String::from("payload"));
    let response = client
        .post(server.url("/upload"))
        .body(streaming)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503, "the one attempt's answer");
    assert_eq!(server.hits(), 1, "exactly one attempt");

    let response = client
        .post(server.url("/upload"))
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503, "the last attempt's answer");
    assert_eq!(server.hits(), 4, "three attempts");
    let bodies = server.bodies.lock().unwrap();
    assert!(
        bodies
            .iter()
            .all(|b| b.ends_with(b"payload\r\n0\r\n\r\n") || b == b"payload"),
        "every attempt sent the whole body: {bodies:?}"
    );
}

#[tokio::test]
async fn refused_connections_are_retried_and_keep_the_last_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = guarded(guard(
        Arc::new(Breaker::builder().build().unwrap()),
        retry(3, MS),
    ));
    let error = client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap_err();
    let stopped = guard_error(&error).expect("the guard's error");
    assert_eq!(stopped.stop(), Stop::Exhausted);
    assert_eq!(stopped.attempts(), 3);
    assert!(stopped.last().unwrap().is_connect(), "{stopped:?}");
}

#[tokio::test]
async fn the_attempt_timeout_cuts_a_server_that_never_answers() {
    let server = Server::start(&[Answer::Hang]).await;
    let retry = Retry::builder()
        .max_attempts(2)
        .constant_backoff(MS)
        .jitter(Jitter::None)
        .attempt_timeout(100 * MS)
        .build()
        .unwrap();
    let client = guarded(guard(Arc::new(Breaker::builder().build().unwrap()), retry));

    let start = Instant::now();
    let error = client.get(server.url("/")).send().await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let stopped = guard_error(&error).expect("the guard's error");
    assert!(
        matches!(
            stopped,
            GuardError::Exhausted {
                attempts: 2,
                last: None
            }
        ),
        "both attempts cut: {stopped:?}"
    );
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_guard_layer_goes_around_a_reqwest_client() {
    let server = Server::start(&[UNAVAILABLE, OK, UNAVAILABLE]).await;
    let breaker = Arc::new(Breaker::builder().build().unwrap());
    let client = client();
    let mut service = ServiceBuilder::new()
        .layer(
            GuardLayer::new(guard(Arc::clone(&breaker), retry(3, 10 * MS)))
                .clone_requests_with(TryCloneRequest),
        )
        .service(client.clone());

    let request = client.get(server.url("/")).build().unwrap();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.hits(), 2);

    // A streaming body: one attempt (the third answer, a 503, returned as is).
    let request = client
        .post(server.url("/"))
        .body(reqwest::Body::wrap(String::from("x")))
        .build()
        .unwrap();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(server.hits(), 3);

    breaker.force_open();
    let request = client.get(server.url("/")).build().unwrap();
    let r: Result<reqwest::Response, GuardError<reqwest::Error>> =
        service.ready().await.unwrap().call(request).await;
    assert_eq!(r.unwrap_err().stop(), Stop::Rejected);
    assert_eq!(server.hits(), 3, "not sent");
}

#[tokio::test]
async fn the_classifier_tells_reqwest_errors_apart() {
    let classifier = ReqwestClassifier::new();
    let classify = |e: reqwest::Error| {
        Classify::<reqwest::Response, reqwest::Error>::classify(&classifier, &Err(e))
    };

    // A builder error: the caller's, no signal.
    let bad = client().get("http://").build().unwrap_err();
    assert!(bad.is_builder());
    assert_eq!(classify(bad), Classification::Ignored);

    // `error_for_status`: that status's row of the table.
    let status_error = |status: u16| {
        reqwest::Response::from(http::Response::builder().status(status).body("").unwrap())
            .error_for_status()
            .unwrap_err()
    };
    assert_eq!(classify(status_error(503)), Classification::failure());
    assert_eq!(classify(status_error(404)), Classification::Ignored);
    assert_eq!(
        classify(status_error(429)),
        Classification::failure().with_weight(0.5)
    );

    // A client timeout: a retryable failure.
    let server = Server::start(&[Answer::Hang]).await;
    let timed_out = reqwest::Client::builder()
        .no_proxy()
        .timeout(50 * MS)
        .build()
        .unwrap()
        .get(server.url("/"))
        .send()
        .await
        .unwrap_err();
    assert!(timed_out.is_timeout());
    assert_eq!(classify(timed_out), Classification::failure());

    // Too many redirects: the client's policy, no signal.
    const LOOP: Answer = Answer::Canned(
        "HTTP/1.1 302 Found\r\nlocation: /again\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    );
    let server = Server::start(&[LOOP]).await;
    let redirected = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::limited(2))
        .build()
        .unwrap()
        .get(server.url("/"))
        .send()
        .await
        .unwrap_err();
    assert!(redirected.is_redirect());
    assert_eq!(classify(redirected), Classification::Ignored);

    // The middleware's errors: a reqwest error inside is classified as itself;
    // any other middleware's error is a transport error.
    let mw = |e: reqwest_middleware::Error| {
        Classify::<reqwest::Response, reqwest_middleware::Error>::classify(&classifier, &Err(e))
    };
    let bad = client().get("http://").build().unwrap_err();
    assert_eq!(
        mw(reqwest_middleware::Error::middleware(bad)),
        Classification::Ignored
    );
    let bad = client().get("http://").build().unwrap_err();
    assert_eq!(mw(bad.into()), Classification::Ignored);
    assert_eq!(
        mw(reqwest_middleware::Error::middleware(
            std::io::Error::other("token")
        )),
        Classification::failure()
    );
}

/// With `registry`: each host (here each port) its own breaker.
#[cfg(feature = "registry")]
#[tokio::test]
async fn the_registry_middleware_trips_one_host_only() {
    use fusebox::reqwest::{RegistryMiddleware, authority};
    use fusebox::{Registry, State};

    let down = Server::start(&[SERVER_ERROR]).await;
    let up = Server::start(&[OK]).await;
    let hosts = Arc::new(
        Registry::<String>::builder()
            .breaker(|_| Breaker::builder().trip_after_consecutive_failures(2))
            .retry(retry(1, MS))
            .build()
            .unwrap(),
    );
    let client = reqwest_middleware::ClientBuilder::new(client())
        .with(RegistryMiddleware::new(Arc::clone(&hosts)))
        .build();

    for _ in 0..2 {
        let r = client.get(down.url("/")).send().await.unwrap();
        assert_eq!(r.status(), 500);
    }
    let error = client.get(down.url("/")).send().await.unwrap_err();
    assert_eq!(guard_error(&error).unwrap().stop(), Stop::Rejected);
    assert_eq!(down.hits(), 2);

    let r = client.get(up.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up.hits(), 1);

    let key = |s: &Server| authority(&reqwest::Url::parse(&s.url("/")).unwrap()).to_string();
    assert_eq!(key(&down), down.addr.to_string());
    assert_eq!(hosts.len(), 2);
    assert_eq!(
        hosts.get(&key(&down)).breaker().snapshot().state,
        State::Open
    );
    assert_eq!(
        hosts.get(&key(&up)).breaker().snapshot().state,
        State::Closed
    );
}

/// The attempts go down the rest of the chain with the caller's extensions:
/// a middleware below the guard sees each attempt, and what it writes.
#[tokio::test]
async fn each_attempt_goes_down_the_chain_with_the_extensions() {
    #[derive(Clone)]
    struct Seen(u32);

    /// Counts the attempts it sees in an extension (and in `count`).
    struct Below {
        count: Arc<AtomicU32>,
    }

    impl reqwest_middleware::Middleware for Below {
        fn handle<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            req: reqwest::Request,
            extensions: &'life1 mut http::Extensions,
            next: reqwest_middleware::Next<'life2>,
        ) -> std::pin::Pin<
            Box<
                dyn std::future::Future<Output = reqwest_middleware::Result<reqwest::Response>>
                    + Send
                    + 'async_trait,
            >,
        >
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            Self: 'async_trait,
        {
            let before = extensions.get::<Seen>().map_or(0, |s| s.0);
            extensions.insert(Seen(before + 1));
            self.count.fetch_add(1, Ordering::Relaxed);
            next.run(req, extensions)
        }
    }

    let server = Server::start(&[UNAVAILABLE, UNAVAILABLE, OK]).await;
    let count = Arc::new(AtomicU32::new(0));
    let client = reqwest_middleware::ClientBuilder::new(client())
        .with(GuardMiddleware::new(guard(
            Arc::new(Breaker::builder().build().unwrap()),
            retry(3, MS),
        )))
        .with(Below {
            count: Arc::clone(&count),
        })
        .build();
    let mut extensions = http::Extensions::new();
    let request = client.get(server.url("/")).build().unwrap();
    let response = client
        .execute_with_extensions(request, &mut extensions)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(count.load(Ordering::Relaxed), 3);
    assert_eq!(
        extensions.get::<Seen>().map(|s| s.0),
        Some(3),
        "one extensions value, written by each attempt"
    );
}

/// The middleware's future must be `Send` (a `ClientWithMiddleware` is used
/// from spawned tasks): it compiles only if it is.
#[tokio::test]
async fn requests_can_be_sent_from_spawned_tasks() {
    let server = Server::start(&[OK]).await;
    let client = guarded(guard(
        Arc::new(Breaker::builder().build().unwrap()),
        retry(2, MS),
    ));
    let url = server.url("/");
    let task = tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    assert_eq!(task.await.unwrap().unwrap(), 200);
}
