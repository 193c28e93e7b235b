//! starpipe against a real Kafka broker's SASL_SSL listener (SCRAM-SHA-512 over TLS, started
//! with `broker start --secure`): an end-to-end run equal to the model with every Kafka client of
//! the job on that listener, a wrong password that fails fast, and a group whose committed
//! offsets the job's user may not read (an ACL).
//!
//! The harness itself (topics, producing, reading offsets) uses the plaintext listener, whose
//! principal is the super user.

mod support;

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use starpipe_perf::workload::Format;
use support::SecureListener;
use support::e2e::*;

/// The secured listener, or `None` (the test is skipped) against an external cluster.
fn secured() -> Option<&'static SecureListener> {
    let s = support::secure_kafka();
    if s.is_none() {
        eprintln!("skipped: no local broker with a SASL_SSL listener");
    }
    s
}

/// A job's endpoints on the secured listener as `user`.
fn endpoints(secure: &SecureListener, user: &str, password: &str) -> Endpoints {
    let mut e = Endpoints::shared();
    e.brokers = secure.brokers.clone();
    e.kafka = secure
        .client_props(user, password)
        .iter()
        .map(|(k, v)| format!("{k:?} = {v:?}\n"))
        .collect();
    e
}

fn dead_letters(topic: &str, n: usize) -> Vec<support::Consumed> {
    let consumer: BaseConsumer = support::consumer_config(&support::unique_group("dlq-read"))
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let got = support::consume_n(&consumer, n, Duration::from_secs(30));
    drop(consumer);
    got
}

#[test]
fn a_run_over_sasl_ssl_equals_the_model_and_every_client_uses_the_listener() {
    let Some(secure) = secured() else { return };
    let w = world("sasl-e2e", 2);
    let dlq = support::unique_topic("sasl-dlq");
    support::create_topic(&dlq, 1);
    let workload = w.workload(Format::CloudCanal, 2000, 31);
    let (messages, expected, _) = starpipe_perf::workload::generate(&workload);
    w.create_tables(&workload);
    w.produce(&messages);
    // A bad message at the end: its dead letter goes through the producer, on SASL_SSL too.
    support::produce(&w.topic, Some(0), None, b"not json", None);
    let e = endpoints(secure, &secure.user, &secure.password);
    let top = format!("onError = \"deadLetter\"\ndeadLetterTopic = \"{dlq}\"");
    let job = w.job_with(Format::CloudCanal, &top, "", &e);
    let job_arg = job.display().to_string();

    let checked = run_starpipe(&["check", "--config", &job_arg], Duration::from_secs(90));
    assert!(checked.status.success(), "{}", checked.both());
    for what in [
        "kafka brokers",
        "kafka topic",
        "kafka dead-letter topic",
        "kafka group",
    ] {
        assert!(
            checked.check_line(what).starts_with("ok"),
            "{}",
            checked.both()
        );
    }

    let out = w.run_to_end(&job, "run");
    assert!(
        out.status.success(),
        "starpipe failed:\n{}",
        w.log_text("run")
    );
    w.assert_state(&expected);
    w.assert_all_committed();
    let dead = dead_letters(&dlq, 1);
    assert_eq!(dead.len(), 1, "no dead letter");
    assert_eq!(dead[0].value.as_deref(), Some(&b"not json"[..]));

    let shown = run_starpipe(
        &["position", "show", "--config", &job_arg, "--json"],
        Duration::from_secs(60),
    );
    assert!(shown.status.success(), "{}", shown.both());
    let doc: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert!(
        doc["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["lag"] == 0),
        "{doc}"
    );
    let verified = run_starpipe(
        &["verify", "--config", &job_arg, "--recheck-after", "0"],
        Duration::from_secs(120),
    );
    assert_eq!(verified.status.code(), Some(0), "{}", verified.both());
    assert!(
        verified.stdout.contains("verify: every table equal"),
        "{}",
        verified.both()
    );
}

#[test]
fn a_wrong_password_fails_fast_naming_the_broker_and_the_mechanism() {
    let Some(secure) = secured() else { return };
    let w = world("sasl-wrong", 1);
    let workload = w.workload(Format::CloudCanal, 20, 32);
    let (messages, _, _) = starpipe_perf::workload::generate(&workload);
    w.create_tables(&workload);
    w.produce(&messages);
    let e = endpoints(secure, &secure.user, "not-the-password");
    let job = w.job_with(Format::CloudCanal, "", "", &e);
    let job_arg = job.display().to_string();

    let checked = run_starpipe(&["check", "--config", &job_arg], Duration::from_secs(60));
    assert_eq!(checked.status.code(), Some(1), "{}", checked.both());
    let line = checked.check_line("kafka brokers");
    assert!(line.starts_with("FAIL"), "{line}");
    for part in [
        secure.brokers.as_str(),
        "refused the connection",
        "SASL authentication",
        "SCRAM-SHA-512",
    ] {
        assert!(line.contains(part), "`{part}` not in: {line}");
    }
    assert!(checked.took < Duration::from_secs(10), "{}", checked.both());

    let ran = run_starpipe(
        &["run", "--config", &job_arg, "--stop-at-end"],
        Duration::from_secs(60),
    );
    assert_eq!(ran.status.code(), Some(1), "{}", ran.both());
    assert!(
        ran.stderr.contains(
            "error: Kafka refused the job's connection (credentials or TLS); failed checks:"
        ),
        "{}",
        ran.both()
    );
    assert!(ran.stderr.contains("SCRAM-SHA-512"), "{}", ran.both());
    assert!(ran.took < Duration::from_secs(30), "{}", ran.both());
    assert_eq!(w.committed(), vec![None]);
}

/// Waits until `group` is Stable with one member (seen on the plaintext listener).
fn wait_stable(group: &str) {
    let client: BaseConsumer = support::client_config().create().unwrap();
    let start = Instant::now();
    loop {
        let list = client
            .fetch_group_list(Some(group), Duration::from_secs(5))
            .unwrap();
        let stable = list
            .groups()
            .iter()
            .any(|g| g.state() == "Stable" && g.members().len() == 1);
        if stable {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "group {group} never became Stable"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The ACLs of issue 10 item 4: the job's user may READ the group (join, sync, heartbeat,
/// commit) but not DESCRIBE it, so OffsetFetch — and FindCoordinator — are refused. A job
/// whose coordinator is already known keeps its membership; the next assignment's committed
/// offsets cannot be read, and the job must stop rather than start those partitions from
/// `startFrom`, committing nothing.
#[test]
fn unreadable_committed_offsets_stop_the_run_and_commit_nothing() {
    let Some(secure) = secured() else { return };
    let mut w = world("sasl-acl", 1);
    let mut workload = w.workload(Format::CloudCanal, 300, 33);
    workload.partitions = 2;
    let (messages, _, _) = starpipe_perf::workload::generate(&workload);
    w.create_tables(&workload);
    let (user, password) = support::SECURE_USERS[1];
    let mut e = endpoints(secure, user, password);
    // Partition count changes are seen within a second, not librdkafka's 5 minutes.
    e.kafka
        .push_str("\"topic.metadata.refresh.interval.ms\" = 1000\n");
    let job = w.job_with(Format::CloudCanal, "", "", &e);
    let mut running = w.spawn(&job, "run", false);
    wait_stable(&w.group);

    let principal = format!("User:{user}");
    support::kafka_acls(&[
        "--add",
        "--allow-principal",
        &principal,
        "--operation",
        "Read",
        "--group",
        &w.group,
    ]);
    support::kafka_acls(&[
        "--add",
        "--deny-principal",
        &principal,
        "--operation",
        "Describe",
        "--group",
        &w.group,
    ]);
    // A second partition with rows: the rebalance that assigns it must read its committed
    // offset, and may not load its rows from `startFrom` (earliest) instead.
    support::grow_topic(&w.topic, 2);
    w.partitions = 2;
    let second: Vec<_> = messages.iter().filter(|m| m.partition == 1).collect();
    assert!(!second.is_empty());
    starpipe_perf::kafka::produce(&support::brokers(), &w.topic, 2, second, None).unwrap();

    let start = Instant::now();
    let status = loop {
        if let Some(status) = running.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "starpipe kept running; log:\n{}",
            w.log_text("run")
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let log = w.log_text("run");
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("cannot read the group's committed offsets"),
        "{log}"
    );
    // Partition 0 was empty throughout: a commit there can only be its start, 0. Partition 1
    // never started, so it has no commit at all.
    let committed = w.committed();
    assert!(committed[0].unwrap_or(0) == 0, "{committed:?}\n{log}");
    assert_eq!(committed[1], None, "{log}");
    assert_eq!(rows_loaded(&w.db), 0, "{log}");
}
