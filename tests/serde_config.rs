//! Feature `serde`: configs read from TOML, YAML and JSON alike, round-trip, build
//! what the builders build, and name the path of every error.
#![cfg(feature = "serde")]

use fusebox::serde_config::{
    BreakerConfig, BudgetConfig, FailureRate, Health, LimitBounds, RetryConfig, SlowCall,
    TemplateConfig,
};
use fusebox::{
    Backoff, Breaker, BreakerBuilder, ConfigErrorKind, Jitter, ManualClock, Retry, RetryBudget,
    RetryBudgetBuilder, Verdict,
};
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

const FULL_TOML: &str = r#"
[breaker]
name = "payments"
health = { alpha = 0.1, threshold = 0.3, min_samples = 7 }
open_for = "1m 30s"
open_growth = 1.5
open_cap = "10m"
open_jitter = 0.2
probes = 3
close_after = 4
probe_timeout = "20s"
half_life = "2s 500ms"
shed_below = 0.6
min_admit = 0.1
slow_call = { threshold = "750ms", weight = 0.5 }
jitter_seed = 99
adaptive_limit = false
limit_bounds = { min = 3, max = 300 }

[retry]
max_attempts = 5
backoff = { kind = "exponential", initial = "50ms", factor = 3.0, max = "2s" }
jitter = "decorrelated"
deadline = "30s"
attempt_timeout = "2s 500ms"
seed = 11

[budget]
ratio = 0.25
min_retries_per_sec = 4
max_balance = 40
initial_balance = 2
"#;

const FULL_YAML: &str = r#"
breaker:
  name: payments
  health: { alpha: 0.1, threshold: 0.3, min_samples: 7 }
  open_for: 1m 30s
  open_growth: 1.5
  open_cap: 10m
  open_jitter: 0.2
  probes: 3
  close_after: 4
  probe_timeout: 20s
  half_life: 2s 500ms
  shed_below: 0.6
  min_admit: 0.1
  slow_call:
    threshold: 750ms
    weight: 0.5
  jitter_seed: 99
  adaptive_limit: false
  limit_bounds: { min: 3, max: 300 }
retry:
  max_attempts: 5
  backoff:
    kind: exponential
    initial: 50ms
    factor: 3.0
    max: 2s
  jitter: decorrelated
  deadline: 30s
  attempt_timeout: 2s 500ms
  seed: 11
budget:
  ratio: 0.25
  min_retries_per_sec: 4
  max_balance: 40
  initial_balance: 2
"#;

const FULL_JSON: &str = r#"{
  "breaker": {
    "name": "payments",
    "health": { "alpha": 0.1, "threshold": 0.3, "min_samples": 7 },
    "open_for": "1m 30s", "open_growth": 1.5, "open_cap": "10m", "open_jitter": 0.2,
    "probes": 3, "close_after": 4, "probe_timeout": "20s", "half_life": "2s 500ms",
    "shed_below": 0.6, "min_admit": 0.1,
    "slow_call": { "threshold": "750ms", "weight": 0.5 },
    "jitter_seed": 99,
    "adaptive_limit": false,
    "limit_bounds": { "min": 3, "max": 300 }
  },
  "retry": {
    "max_attempts": 5,
    "backoff": { "kind": "exponential", "initial": "50ms", "factor": 3.0, "max": "2s" },
    "jitter": "decorrelated", "deadline": "30s", "attempt_timeout": "2s 500ms", "seed": 11
  },
  "budget": { "ratio": 0.25, "min_retries_per_sec": 4, "max_balance": 40, "initial_balance": 2 }
}"#;

/// FULL_* as a value, written field by field.
fn full() -> TemplateConfig {
    let mut breaker = BreakerConfig::default();
    breaker.name = Some("payments".to_string());
    breaker.health = Some(Health {
        alpha: 0.1,
        threshold: 0.3,
        min_samples: 7,
    });
    breaker.open_for = Some(Duration::from_secs(90));
    breaker.open_growth = Some(1.5);
    breaker.open_cap = Some(Duration::from_secs(600));
    breaker.open_jitter = Some(0.2);
    breaker.probes = Some(3);
    breaker.close_after = Some(4);
    breaker.probe_timeout = Some(Duration::from_secs(20));
    breaker.half_life = Some(2500 * MS);
    breaker.shed_below = Some(0.6);
    breaker.min_admit = Some(0.1);
    breaker.slow_call = Some(SlowCall {
        threshold: 750 * MS,
        weight: 0.5,
    });
    breaker.jitter_seed = Some(99);
    breaker.adaptive_limit = Some(false);
    breaker.limit_bounds = Some(LimitBounds { min: 3, max: 300 });
    let mut retry = RetryConfig::default();
    retry.max_attempts = Some(5);
    retry.backoff = Some(Backoff::Exponential {
        initial: 50 * MS,
        factor: 3.0,
        max: Duration::from_secs(2),
    });
    retry.jitter = Some(Jitter::Decorrelated);
    retry.deadline = Some(Duration::from_secs(30));
    retry.attempt_timeout = Some(2500 * MS);
    retry.seed = Some(11);
    let mut budget = BudgetConfig::default();
    budget.ratio = Some(0.25);
    budget.min_retries_per_sec = Some(4);
    budget.max_balance = Some(40);
    budget.initial_balance = Some(2);
    let mut template = TemplateConfig::default();
    template.breaker = breaker;
    template.retry = retry;
    template.budget = Some(budget);
    template
}

#[test]
fn toml_yaml_and_json_read_the_same_config() {
    let from_toml: TemplateConfig = toml::from_str(FULL_TOML).unwrap();
    let from_yaml: TemplateConfig = serde_saphyr::from_str(FULL_YAML).unwrap();
    let from_json: TemplateConfig = serde_json::from_str(FULL_JSON).unwrap();
    assert_eq!(from_toml, full());
    assert_eq!(from_yaml, full());
    assert_eq!(from_json, full());
}

#[test]
fn configs_round_trip_through_every_format() {
    let configs = [
        full(),
        TemplateConfig::default(),
        {
            let mut t = TemplateConfig::default();
            t.breaker.trip_on_failure_rate = Some(FailureRate {
                rate: 0.5,
                window: 20,
            });
            t.retry.backoff = Some(Backoff::Constant(Duration::from_nanos(1_500_000_001)));
            t.retry.jitter = Some(Jitter::None);
            t.budget = Some(BudgetConfig::default());
            t
        },
        {
            let mut t = TemplateConfig::default();
            t.breaker.trip_after_consecutive_failures = Some(5);
            t.retry.backoff = Some(Backoff::Constant(Duration::ZERO));
            t.retry.jitter = Some(Jitter::Equal);
            t
        },
    ];
    for config in configs {
        let text = toml::to_string(&config).unwrap();
        assert_eq!(
            toml::from_str::<TemplateConfig>(&text).unwrap(),
            config,
            "{text}"
        );
        let text = serde_saphyr::to_string(&config).unwrap();
        assert_eq!(
            serde_saphyr::from_str::<TemplateConfig>(&text).unwrap(),
            config,
            "{text}"
        );
        let text = serde_json::to_string(&config).unwrap();
        assert_eq!(
            serde_json::from_str::<TemplateConfig>(&text).unwrap(),
            config,
            "{text}"
        );
    }
}

#[test]
fn durations_are_written_the_human_way() {
    let text = toml::to_string(&full()).unwrap();
    for line in [
        r#"name = "payments""#,
        r#"open_for = "1m 30s""#,
        r#"half_life = "2s 500ms""#,
        r#"kind = "exponential""#,
        r#"jitter = "decorrelated""#,
    ] {
        assert!(text.contains(line), "`{line}` not in:\n{text}");
    }
    // Unset fields are not written: an empty config is an empty document.
    assert_eq!(toml::to_string(&TemplateConfig::default()).unwrap(), "");
    assert_eq!(
        serde_json::to_string(&BreakerConfig::default()).unwrap(),
        "{}"
    );
}

#[test]
fn a_built_retry_policy_gives_its_config_back() {
    let config = full().retry;
    let retry = config.build().unwrap();
    let mut expected = config.clone();
    expected.seed = None; // a built policy does not keep its seed
    assert_eq!(RetryConfig::from(&retry), expected);
    // ... which builds the same policy: the same delays for the same seed.
    let again = RetryConfig::from(&retry).build().unwrap();
    assert_eq!(
        again.delays(3).collect::<Vec<_>>(),
        retry.delays(3).collect::<Vec<_>>()
    );
}

/// Drive two breakers through the same scripted traffic on their own manual
/// clocks and require the same answer, record and snapshot at every step.
fn assert_same_behaviour(a: BreakerBuilder, b: BreakerBuilder) {
    let (clock_a, clock_b) = (ManualClock::new(), ManualClock::new());
    let a = a.clock(clock_a.clone()).build().unwrap();
    let b = b.clock(clock_b.clone()).build().unwrap();
    assert_eq!(a.name(), b.name());
    assert_eq!(a.alpha(), b.alpha());
    assert_eq!(a.threshold(), b.threshold());
    assert_eq!(a.half_life(), b.half_life());
    assert_eq!(a.shed_below(), b.shed_below());
    assert_eq!(a.slow_call_threshold(), b.slow_call_threshold());
    assert_eq!(a.successes_to_full_health(), b.successes_to_full_health());
    let mut states = std::collections::HashSet::new();
    for step in 0..4000u32 {
        // Failing for a while, then recovering, then failing again.
        let fails = (200..2200).contains(&step) || (3000..3400).contains(&step);
        let verdict = if fails {
            Verdict::failure()
        } else {
            Verdict::Success
        };
        match (a.try_acquire(), b.try_acquire()) {
            (Ok(pa), Ok(pb)) => {
                let elapsed = Duration::from_millis(u64::from(step % 7) * 150);
                assert_eq!(
                    pa.record_timed(verdict, elapsed),
                    pb.record_timed(verdict, elapsed),
                    "step {step}"
                );
            }
            (Err(ra), Err(rb)) => assert_eq!(ra, rb, "step {step}"),
            (ra, rb) => panic!("step {step}: {:?} vs {:?}", ra.is_ok(), rb.is_ok()),
        }
        assert_eq!(a.snapshot(), b.snapshot(), "step {step}");
        states.insert(format!("{:?}", a.snapshot().state));
        // Traffic is dense while failing (the default breaker needs 75
        // failures in a row to trip), sparse otherwise.
        let tick = if fails { MS } else { 7 * MS };
        clock_a.advance(tick);
        clock_b.advance(tick);
    }
    // The script did exercise the breaker: it opened, not only stayed closed.
    assert!(states.contains("Open"), "only saw {states:?}");
}

#[test]
fn a_breaker_from_config_behaves_like_the_builders() {
    let config = full().breaker;
    let by_hand = Breaker::builder()
        .name("payments")
        .health(0.1, 0.3, 7)
        .open_for(Duration::from_secs(90))
        .open_growth(1.5)
        .open_cap(Duration::from_secs(600))
        .open_jitter(0.2)
        .probes(3)
        .close_after(4)
        .probe_timeout(Duration::from_secs(20))
        .half_life(2500 * MS)
        .shed_below(0.6)
        .min_admit(0.1)
        .slow_call(750 * MS, 0.5)
        .adaptive_limit(false)
        .jitter_seed(99);
    assert_same_behaviour(config.builder(), by_hand);

    let config: BreakerConfig = toml::from_str(
        "trip_after_consecutive_failures = 4\nopen_for = \"300ms\"\nprobes = 1\njitter_seed = 5",
    )
    .unwrap();
    let by_hand = Breaker::builder()
        .trip_after_consecutive_failures(4)
        .open_for(300 * MS)
        .probes(1)
        .jitter_seed(5);
    assert_same_behaviour(config.builder(), by_hand);

    let config: BreakerConfig =
        toml::from_str("trip_on_failure_rate = { rate = 0.5, window = 20 }\njitter_seed = 1")
            .unwrap();
    let by_hand = Breaker::builder()
        .trip_on_failure_rate(0.5, 20)
        .jitter_seed(1);
    assert_same_behaviour(config.builder(), by_hand);
}

#[test]
fn a_budget_from_config_behaves_like_the_builders() {
    let run = |builder: RetryBudgetBuilder| {
        let clock = ManualClock::new();
        let budget = builder.clock(clock.clone()).build().unwrap();
        (0..500)
            .map(|i| {
                if i % 3 == 0 {
                    budget.deposit();
                }
                clock.advance(40 * MS);
                (budget.try_withdraw(), budget.balance_milli())
            })
            .collect::<Vec<_>>()
    };
    let config = full().budget.unwrap();
    let by_hand = RetryBudget::builder()
        .ratio(0.25)
        .min_retries_per_sec(4)
        .max_balance(40)
        .initial_balance(2);
    let trace = run(config.builder());
    assert_eq!(trace, run(by_hand));
    assert!(trace.iter().any(|(ok, _)| *ok) && trace.iter().any(|(ok, _)| !*ok));
}

#[test]
fn a_template_builds_a_guard_from_its_parts() {
    let guard = full().build().unwrap();
    assert_eq!(guard.retry().max_attempts(), 5);
    assert_eq!(guard.retry().jitter(), Jitter::Decorrelated);
    assert_eq!(guard.retry().deadline(), Some(Duration::from_secs(30)));
    assert_eq!(guard.retry().attempt_timeout(), Some(2500 * MS));
    assert_eq!(guard.breaker().alpha(), 0.1);
    assert_eq!(guard.breaker().name(), "payments");
    assert_eq!(guard.breaker().slow_call_threshold(), Some(750 * MS));
    assert_eq!(guard.budget().unwrap().balance(), 2.0);
    // Each build makes its own breaker: a template configures, never shares.
    let other = full().build().unwrap();
    let _ = guard.breaker().force_open();
    assert!(other.breaker().try_acquire().is_ok());
    assert!(guard.breaker().try_acquire().is_err());
}

#[test]
fn the_example_file_loads_and_is_the_defaults_written_out() {
    let text = include_str!("../examples/fusebox.toml");
    let template: TemplateConfig = toml::from_str(text).unwrap();
    // Every key it sets is set: the file documents them all (the commented-out
    // ones are the trip policies it does not use, and the fields without default
    // values).
    assert!(template.breaker.trip_on_failure_rate.is_some());
    assert!(template.breaker.open_cap.is_some());
    assert!(template.retry.backoff.is_some());
    let guard = template.build().unwrap();

    // The breaker is the default one, step for step.
    let mut from_file = template.breaker.clone();
    from_file.jitter_seed = Some(17);
    assert_same_behaviour(from_file.builder(), Breaker::builder().jitter_seed(17));
    // The retry policy is the default one.
    assert_eq!(
        RetryConfig::from(guard.retry()),
        RetryConfig::from(&Retry::default())
    );
    // The budget is the default one.
    let clock = ManualClock::new();
    let a = template
        .budget
        .as_ref()
        .unwrap()
        .builder()
        .clock(clock.clone())
        .build()
        .unwrap();
    let b = RetryBudget::builder().clock(clock.clone()).build().unwrap();
    for _ in 0..300 {
        a.deposit();
        b.deposit();
        assert_eq!(a.balance_milli(), b.balance_milli());
    }
    for _ in 0..200 {
        clock.advance(30 * MS);
        assert_eq!(a.try_withdraw(), b.try_withdraw());
        assert_eq!(a.balance_milli(), b.balance_milli());
    }

    // The whole file is also valid with any one commented-out line enabled.
    let mut enabled = Vec::new();
    for line in text.lines() {
        let Some(setting) = line.strip_prefix("# ") else {
            continue;
        };
        let is_key = setting
            .split_once(" = ")
            .is_some_and(|(key, _)| key.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        if !is_key || setting.starts_with("let ") {
            continue;
        }
        let mut edited = text.replace(line, setting);
        if setting.starts_with("trip_after") || setting.starts_with("health") {
            // One trip policy at a time.
            edited = edited.replace("trip_on_failure_rate = {", "# trip_on_failure_rate = {");
        }
        if setting.starts_with("backoff") {
            edited = edited.replace(
                r#"backoff = { kind = "exponential""#,
                r#"# backoff = { kind = "exponential""#,
            );
        }
        let template: TemplateConfig =
            toml::from_str(&edited).unwrap_or_else(|e| panic!("with `{setting}` enabled: {e}"));
        template
            .build()
            .unwrap_or_else(|e| panic!("with `{setting}` enabled: {e}"));
        enabled.push(setting.split_once(" = ").unwrap().0);
    }
    assert_eq!(
        enabled,
        [
            "name",
            "trip_after_consecutive_failures",
            "health",
            "slow_call",
            "jitter_seed",
            "backoff",
            "deadline",
            "attempt_timeout",
            "seed",
            "name"
        ]
    );
}

// ---- Errors ----

fn toml_error(text: &str) -> String {
    toml::from_str::<TemplateConfig>(text)
        .unwrap_err()
        .to_string()
}

/// The path serde_path_to_error finds for a JSON document's error, and the message.
fn json_error_path(text: &str) -> (String, String) {
    let mut de = serde_json::Deserializer::from_str(text);
    let err = serde_path_to_error::deserialize::<_, TemplateConfig>(&mut de).unwrap_err();
    (err.path().to_string(), err.inner().to_string())
}

#[test]
fn unknown_fields_are_errors_that_name_them() {
    for (text, name) in [
        ("[breaker]\nopen_fro = \"1s\"", "open_fro"), // a typo
        ("[breker]\nopen_for = \"1s\"", "breker"),
        ("[retry]\nmax_attempt = 3", "max_attempt"),
        (
            "[retry]\nbackoff = { kind = \"exponential\", intial = \"1s\" }",
            "intial",
        ),
        (
            "[retry]\nbackoff = { kind = \"constant\", delay = \"1s\", factor = 2.0 }",
            "factor",
        ),
        ("[budget]\nratios = 0.2", "ratios"),
        (
            "[breaker]\nhealth = { alpha = 0.1, threshold = 0.2, min_samples = 1, beta = 1 }",
            "beta",
        ),
        (
            "[breaker]\nslow_call = { threshold = \"1s\", weight = 1.0, extra = 1 }",
            "extra",
        ),
    ] {
        let message = toml_error(text);
        assert!(
            message.contains(&format!("unknown field `{name}`")),
            "{text}: {message}"
        );
    }
    // YAML and JSON say it too; with serde_path_to_error, JSON's error has the path.
    let message = serde_saphyr::from_str::<TemplateConfig>("breaker:\n  open_fro: 1s\n")
        .unwrap_err()
        .to_string();
    assert!(message.contains("unknown field `open_fro`"), "{message}");
    let (path, message) = json_error_path(r#"{"breaker": {"open_fro": "1s"}}"#);
    assert_eq!(path, "breaker.open_fro");
    assert!(message.contains("unknown field `open_fro`"), "{message}");
}

#[test]
fn bad_duration_strings_are_errors_that_say_where_and_why() {
    // TOML's message quotes the line (naming the key) and says why.
    let message = toml_error("[breaker]\nopen_for = \"5 parsecs\"");
    assert!(message.contains("open_for = \"5 parsecs\""), "{message}");
    assert!(
        message.contains("invalid duration \"5 parsecs\": unknown time unit \"parsecs\""),
        "{message}"
    );
    // A number where a duration goes.
    let message = toml_error("[retry]\ndeadline = 5");
    assert!(message.contains("deadline = 5"), "{message}");
    assert!(message.contains("expected a duration"), "{message}");
    // Too large for a Duration: an error, not a panic or a wrap.
    let message = toml_error("[breaker]\nhalf_life = \"99999999999999999999999y\"");
    assert!(message.contains("half_life"), "{message}");
    assert!(message.contains("invalid duration"), "{message}");
    // JSON, with the path.
    for (text, expected) in [
        (
            r#"{"breaker": {"open_for": "5 parsecs"}}"#,
            "breaker.open_for",
        ),
        (r#"{"retry": {"deadline": "soon"}}"#, "retry.deadline"),
        (
            r#"{"breaker": {"slow_call": {"threshold": "one second", "weight": 1}}}"#,
            "breaker.slow_call.threshold",
        ),
    ] {
        let (path, message) = json_error_path(text);
        assert_eq!(path, expected, "{text}");
        assert!(message.contains("invalid duration"), "{message}");
    }
    // Inside the tagged backoff table serde buffers the fields, so the path stops
    // at the table; the message still quotes the value.
    let (path, message) =
        json_error_path(r#"{"retry": {"backoff": {"kind": "constant", "delay": "1 lightyear"}}}"#);
    assert_eq!(path, "retry.backoff");
    assert!(message.contains("\"1 lightyear\""), "{message}");
    // YAML: the line and column.
    let message = serde_saphyr::from_str::<TemplateConfig>("retry:\n  deadline: 5 parsecs\n")
        .unwrap_err()
        .to_string();
    assert!(message.contains("line 2"), "{message}");
    assert!(message.contains("invalid duration"), "{message}");
}

#[test]
fn out_of_range_values_are_errors_at_their_path() {
    for (text, path, kind) in [
        (
            "[breaker]\nlimit_bounds = { min = 0, max = 5 }",
            "breaker.limit_bounds",
            ConfigErrorKind::Zero,
        ),
        (
            "[breaker]\nlimit_bounds = { min = 6, max = 5 }",
            "breaker.limit_bounds",
            ConfigErrorKind::OutOfRange,
        ),
        (
            "[breaker]\nhealth = { alpha = 0.0, threshold = 0.5, min_samples = 1 }",
            "breaker.health.alpha",
            ConfigErrorKind::Zero,
        ),
        (
            "[breaker]\nhealth = { alpha = 0.5, threshold = 1.0, min_samples = 1 }",
            "breaker.health.threshold",
            ConfigErrorKind::OutOfRange,
        ),
        (
            "[breaker]\nhealth = { alpha = 0.5, threshold = 0.5, min_samples = 5000 }",
            "breaker.health.min_samples",
            ConfigErrorKind::OutOfRange,
        ),
        (
            "[breaker]\ntrip_on_failure_rate = { rate = 1.5, window = 20 }",
            "breaker.trip_on_failure_rate.rate",
            ConfigErrorKind::OutOfRange,
        ),
        (
            "[breaker]\ntrip_on_failure_rate = { rate = nan, window = 20 }",
            "breaker.trip_on_failure_rate.rate",
            ConfigErrorKind::NotANumber,
        ),
        (
            "[breaker]\ntrip_on_failure_rate = { rate = 0.5, window = 0 }",
            "breaker.trip_on_failure_rate.window",
            ConfigErrorKind::Zero,
        ),
        (
            "[breaker]\ntrip_after_consecutive_failures = 0",
            "breaker.trip_after_consecutive_failures",
            ConfigErrorKind::Zero,
        ),
        (
            "[breaker]\nopen_for = \"0s\"",
            "breaker.open_for",
            ConfigErrorKind::Zero,
        ),
        (
            "[breaker]\nopen_for = \"10s\"\nopen_cap = \"5s\"",
            "breaker.open_cap",
            ConfigErrorKind::Inconsistent,
        ),
        (
            "[breaker]\nopen_growth = inf",
            "breaker.open_growth",
            ConfigErrorKind::Infinite,
        ),
        (
            "[breaker]\nopen_jitter = 1.0",
            "breaker.open_jitter",
            ConfigErrorKind::OutOfRange,
        ),
        (
            "[breaker]\nprobes = 256",
            "breaker.probes",
            ConfigErrorKind::OutOfRange,
        ),
        (
            "[breaker]\nclose_after = 0",
            "breaker.close_after",
            ConfigErrorKind::Zero,
        ),
        (
            "[breaker]\nhalf_life = \"1ms\"",
            "breaker.half_life",
            ConfigErrorKind::OutOfRange,
        ),
        (
            "[breaker]\nshed_below = -0.5",
            "breaker.shed_below",
            ConfigErrorKind::OutOfRange,
        ),
        (
            "[breaker]\nmin_admit = 0.0",
            "breaker.min_admit",
            ConfigErrorKind::Zero,
        ),
        (
            "[breaker]\nprobe_timeout = \"400 days\"",
            "breaker.probe_timeout",
            ConfigErrorKind::OutOfRange,
        ),
        (
            "[breaker]\nslow_call = { threshold = \"1s\", weight = 0.0 }",
            "breaker.slow_call.weight",
            ConfigErrorKind::Zero,
        ),
        (
            "[retry]\nmax_attempts = 0",
            "retry.max_attempts",
            ConfigErrorKind::Zero,
        ),
        (
            "[retry]\nbackoff = { kind = \"exponential\", initial = \"0s\" }",
            "retry.backoff.initial",
            ConfigErrorKind::Zero,
        ),
        (
            "[retry]\nbackoff = { kind = \"exponential\", factor = 0.5 }",
            "retry.backoff.factor",
            ConfigErrorKind::OutOfRange,
        ),
        (
            "[retry]\nbackoff = { kind = \"exponential\", initial = \"20s\" }",
            "retry.backoff.max",
            ConfigErrorKind::Inconsistent,
        ),
        (
            "[retry]\ndeadline = \"0ms\"",
            "retry.deadline",
            ConfigErrorKind::Zero,
        ),
        (
            "[retry]\nattempt_timeout = \"0s\"",
            "retry.attempt_timeout",
            ConfigErrorKind::Zero,
        ),
        (
            "[budget]\nratio = 1.5e1",
            "budget.ratio",
            ConfigErrorKind::OutOfRange,
        ),
        (
            "[budget]\nmax_balance = 0",
            "budget.max_balance",
            ConfigErrorKind::Zero,
        ),
        (
            "[budget]\nmin_retries_per_sec = 20000",
            "budget.min_retries_per_sec",
            ConfigErrorKind::OutOfRange,
        ),
    ] {
        let template: TemplateConfig = toml::from_str(text).unwrap();
        let err = template.build().unwrap_err();
        assert_eq!(err.path(), path, "{text}");
        assert_eq!(err.kind(), kind, "{text}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("invalid `{path}` (")),
            "{text}: {message}"
        );
        // The part on its own names the path within the part.
        let within = path.split_once('.').unwrap().1;
        let part_err = match path.split('.').next().unwrap() {
            "breaker" => template.breaker.build().map(drop).unwrap_err(),
            "retry" => template.retry.build().map(drop).unwrap_err(),
            _ => template.budget.unwrap().build().map(drop).unwrap_err(),
        };
        assert_eq!(part_err.path(), within, "{text}");
    }
}

#[test]
fn an_embedding_config_can_prefix_the_path() {
    let template: TemplateConfig =
        toml::from_str("[breaker]\nhealth = { alpha = 2.0, threshold = 0.5, min_samples = 1 }")
            .unwrap();
    let err = template.build().unwrap_err().within("downstreams.payments");
    assert_eq!(err.path(), "downstreams.payments.breaker.health.alpha");
    assert_eq!(err.field(), "health.alpha", "the builder's name is kept");
    assert_eq!(
        err.to_string(),
        "invalid `downstreams.payments.breaker.health.alpha` (2.0): must be in (0, 1]"
    );
}

#[test]
fn two_trip_policies_are_an_error_from_build_naming_the_second() {
    const TOO: &str = "set at most one trip policy \
         (`trip_after_consecutive_failures`, `trip_on_failure_rate` or `health`)";
    for (text, path, message) in [
        (
            "trip_after_consecutive_failures = 5\ntrip_on_failure_rate = { rate = 0.5, window = 10 }",
            "breaker.trip_on_failure_rate",
            "({ rate = 0.5, window = 10 }): `trip_after_consecutive_failures` is set too",
        ),
        (
            "trip_after_consecutive_failures = 5\nhealth = { alpha = 0.1, threshold = 0.5, min_samples = 1 }",
            "breaker.health",
            "({ alpha = 0.1, threshold = 0.5, min_samples = 1 }): \
             `trip_after_consecutive_failures` is set too",
        ),
        (
            "trip_on_failure_rate = { rate = 0.5, window = 10 }\nhealth = { alpha = 0.1, threshold = 0.5, min_samples = 1 }",
            "breaker.health",
            "({ alpha = 0.1, threshold = 0.5, min_samples = 1 }): \
             `trip_on_failure_rate` is set too",
        ),
        (
            "trip_after_consecutive_failures = 5\ntrip_on_failure_rate = { rate = 0.5, window = 10 }\nhealth = { alpha = 0.1, threshold = 0.5, min_samples = 1 }",
            "breaker.trip_on_failure_rate",
            "({ rate = 0.5, window = 10 }): `trip_after_consecutive_failures` is set too",
        ),
        // An invalid second policy: the conflict is reported, not its value.
        (
            "health = { alpha = 0.1, threshold = 0.5, min_samples = 1 }\ntrip_on_failure_rate = { rate = 2.0, window = 0 }",
            "breaker.health",
            "({ alpha = 0.1, threshold = 0.5, min_samples = 1 }): \
             `trip_on_failure_rate` is set too",
        ),
    ] {
        let template: TemplateConfig = toml::from_str(&format!("[breaker]\n{text}")).unwrap();
        // Making the builders cannot fail; building does.
        let builders = template.builders();
        let err = builders.build().unwrap_err();
        assert_eq!(template.build().unwrap_err(), err);
        assert_eq!(err.path(), path, "{text}");
        assert_eq!(err.kind(), ConfigErrorKind::Inconsistent);
        assert_eq!(
            err.to_string(),
            format!("invalid `{path}` {message}; {TOO}")
        );
        // The breaker alone: the same, without the prefix, from its builder's
        // `build` and from its own.
        let breaker: BreakerConfig = toml::from_str(text).unwrap();
        let within = path.trim_start_matches("breaker.");
        for err in [
            breaker.builder().build().unwrap_err(),
            breaker.build().unwrap_err(),
        ] {
            assert_eq!(err.path(), within);
            assert_eq!(
                err.to_string(),
                format!("invalid `{within}` {message}; {TOO}")
            );
        }
        // What is not data, added on the builder, does not hide the error.
        let err = breaker
            .builder()
            .clock(ManualClock::new())
            .jitter_seed(1)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::Inconsistent);
    }
}

/// Every value in a `ConfigError` from a file is written as the file writes it:
/// the message names the path and quotes the value in the file's own syntax.
#[test]
fn error_messages_write_values_as_the_file_does() {
    for (text, message) in [
        (
            "[breaker]\nlimit_bounds = { min = 6, max = 5 }",
            "invalid `breaker.limit_bounds` ({ min = 6, max = 5 }): `min` must be at least 1 \
             and at most `max`, and `max` at most 65535",
        ),
        (
            "[breaker]\nopen_for = \"1s 500ms\"\nopen_cap = \"1s 200ms\"",
            "invalid `breaker.open_cap` (\"1s 200ms\"): must be at least `open_for`",
        ),
        (
            "[breaker]\nopen_for = \"500us\"",
            "invalid `breaker.open_for` (\"500us\"): must be at least 1ms (deadlines have \
             millisecond resolution)",
        ),
        (
            "[breaker]\nhalf_life = \"0s\"",
            "invalid `breaker.half_life` (\"0s\"): must be between 64ms and 366 days (time is \
             counted in ticks of half_life / 64, at least 1ms)",
        ),
        (
            "[breaker]\nprobe_timeout = \"400 days\"",
            "invalid `breaker.probe_timeout` (\"400d\"): must be between 1ms and 366 days \
             (leases have millisecond resolution)",
        ),
        (
            "[breaker]\ntrip_on_failure_rate = { rate = nan, window = 20 }",
            "invalid `breaker.trip_on_failure_rate.rate` (nan): must be a number",
        ),
        (
            "[breaker]\nopen_growth = -inf",
            "invalid `breaker.open_growth` (-inf): must be finite",
        ),
        (
            "[breaker]\nhealth = { alpha = 1e-12, threshold = 0.5, min_samples = 1 }",
            "invalid `breaker.health.alpha` (1e-12): too small to move the 20-bit health from \
             full: must be at least 2^-20 (about 9.54e-7)",
        ),
        (
            "[breaker]\nhealth = { alpha = 1.5e-6, threshold = 0.5, min_samples = 1 }",
            "invalid `breaker.health.alpha` (1.5e-6): too small for threshold 0.5: must be at \
             least about 1.907e-6 (1 / (threshold * 1048575)) so that failures can bring the \
             20-bit health below the threshold",
        ),
        (
            "[breaker]\nslow_call = { threshold = \"999us 999ns\", weight = 1.0 }",
            "invalid `breaker.slow_call.threshold` (\"999us 999ns\"): must be at least 1ms",
        ),
        (
            "[retry]\nbackoff = { kind = \"exponential\", initial = \"1m 30s\", max = \"1m\" }",
            "invalid `retry.backoff.max` (\"1m\"): must be at least `initial`",
        ),
        (
            "[retry]\ndeadline = \"0s\"",
            "invalid `retry.deadline` (\"0s\"): must be longer than zero",
        ),
        (
            "[budget]\nratio = 10.5",
            "invalid `budget.ratio` (10.5): must be in [0, 10]",
        ),
    ] {
        let template: TemplateConfig = toml::from_str(text).unwrap();
        assert_eq!(template.build().unwrap_err().to_string(), message, "{text}");
    }
}

/// A duration in an error message is a string the file could hold: it reads
/// back as the same duration.
#[test]
fn a_duration_in_an_error_reads_back_as_the_same_duration() {
    for nanos in [
        1u64,
        999,
        1_000,
        999_999,
        1_500_000,
        59_999_999_999,
        90_000_000_000,
        86_400_000_000_000,
        400 * 86_400_000_000_000 + 1,
        u64::MAX,
    ] {
        let d = Duration::from_nanos(nanos);
        // An error quoting the duration: a probe lease under 1 ms, an open cap
        // under the longest open period, an open period over it.
        let mut config = BreakerConfig::default();
        if d < MS {
            config.probe_timeout = Some(d);
        } else if d < fusebox::MAX_OPEN_PERIOD {
            config.open_for = Some(fusebox::MAX_OPEN_PERIOD);
            config.open_cap = Some(d);
        } else {
            config.open_for = Some(d);
        }
        let err = config.build().unwrap_err();
        let value = err.value();
        assert!(value.starts_with('"') && value.ends_with('"'), "{value}");
        let back: BreakerConfig = toml::from_str(&format!("open_for = {value}")).unwrap();
        assert_eq!(back.open_for, Some(d), "{value}");
    }
}

#[test]
fn a_breaker_is_named_from_its_config() {
    let config: BreakerConfig = toml::from_str("name = \"payments\"").unwrap();
    assert_eq!(config.name.as_deref(), Some("payments"));
    // Written back.
    assert_eq!(
        toml::to_string(&config).unwrap().trim(),
        "name = \"payments\""
    );
    assert_eq!(
        serde_json::to_string(&config).unwrap(),
        r#"{"name":"payments"}"#
    );
    // Applied: the breaker and every event it tells carry the name.
    let names = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&names);
    let breaker = config
        .builder()
        .listener(move |e: &fusebox::Event<'_>| seen.lock().unwrap().push(e.name.to_string()))
        .build()
        .unwrap();
    assert_eq!(breaker.name(), "payments");
    let _ = breaker.force_open();
    assert!(breaker.try_acquire().is_err());
    let names = names.lock().unwrap();
    assert!(!names.is_empty());
    assert!(names.iter().all(|n| n == "payments"), "{names:?}");
    // In a template, under [breaker].
    let template: TemplateConfig = toml::from_str("[breaker]\nname = \"search\"").unwrap();
    assert_eq!(template.build().unwrap().breaker().name(), "search");
    // Unnamed, as from the builder.
    assert_eq!(BreakerConfig::default().build().unwrap().name(), "");
}

#[test]
fn bad_input_is_an_error_never_a_panic() {
    let documents = [
        "[breaker]\nprobes = -1",
        "[breaker]\nprobes = 4294967296",
        "[breaker]\nopen_for = \"\"",
        "[breaker]\nopen_for = \"-5s\"",
        "[breaker]\nopen_for = \"18446744073709551616s\"",
        "[breaker]\nhealth = { alpha = 0.5 }",
        "[breaker]\ntrip_on_failure_rate = 0.5",
        "[breaker]\nslow_call = { threshold = \"1s\", weight = -inf }",
        "[breaker]\nopen_growth = 1e308\n",
        "[breaker]\nhealth = { alpha = 1e-300, threshold = 1e-300, min_samples = 0 }",
        "[retry]\nbackoff = { kind = \"linear\" }",
        "[retry]\nbackoff = { delay = \"1s\" }",
        "[retry]\nbackoff = { kind = \"constant\" }",
        "[retry]\nbackoff = { kind = \"exponential\", factor = nan }",
        "[retry]\njitter = \"half\"",
        "[retry]\njitter = { equal = true }",
        "[budget]\nratio = -0.0001",
        "[budget]\nratio = \"0.2\"",
        "breaker = 5",
        "budget = 5",
    ];
    for text in documents {
        let outcome = std::panic::catch_unwind(|| match toml::from_str::<TemplateConfig>(text) {
            Ok(template) => template.build().map(drop).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        });
        let result = outcome.unwrap_or_else(|_| panic!("panicked on {text:?}"));
        assert!(result.is_err(), "{text:?} was accepted");
    }
    // The same in YAML, where NaN, infinities and odd scalars are easy to write.
    for text in [
        "breaker:\n  open_jitter: .nan\n",
        "breaker:\n  min_admit: .inf\n",
        "breaker:\n  open_for: ~\n  probes: 0\n",
        "retry:\n  backoff:\n    kind: exponential\n    max: 1ms\n",
        "retry: [1, 2]\n",
    ] {
        let outcome =
            std::panic::catch_unwind(|| match serde_saphyr::from_str::<TemplateConfig>(text) {
                Ok(template) => template.build().map(drop).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            });
        let result = outcome.unwrap_or_else(|_| panic!("panicked on {text:?}"));
        assert!(result.is_err(), "{text:?} was accepted");
    }
}
