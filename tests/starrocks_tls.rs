//! TLS to StarRocks: Stream Load over HTTPS (the FE's 307 to the BE is `https://` too) and the
//! query port over TLS (`useSsl`), trusting a CA made at test time (`sslCaFile`), against a
//! starrocks-sim serving a certificate that CA signed. A CA that did not sign it fails
//! `starpipe check` and `starpipe run` at once, with errors that say so.

mod support;

use std::path::Path;
use std::time::Duration;

use starpipe_perf::workload::Format;
use support::certs::TestCa;
use support::e2e::*;

/// A sim serving HTTPS and TLS with a certificate `ca` signed.
fn tls_sim(ca: &TestCa) -> support::Sim {
    let server = ca.server();
    support::start_sim(&[
        "--tls-cert",
        &server.cert.display().to_string(),
        "--tls-key",
        &server.key.display().to_string(),
    ])
}

/// The shared broker, and `sim` through its FE's HTTPS port and its query port.
fn https_endpoints(sim: &support::Sim) -> Endpoints {
    let mut e = Endpoints::of_sim(sim);
    e.http_host = format!("https://{}", sim.fe_http);
    e
}

fn tls_settings(ca_file: &Path) -> String {
    format!(
        "useSsl = true\nsslCaFile = {:?}",
        ca_file.display().to_string()
    )
}

fn counters(sim: &support::Sim) -> serde_json::Value {
    let text = ureq::get(&format!("http://{}/counters", sim.control))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn loads_over_https_through_the_fe_redirect_with_tls_on_the_query_port() {
    let ca = TestCa::new("https");
    let w = world("https", 2).on_sim(tls_sim(&ca));
    let sim = w.sim;
    let (_, expected) = w.seed(Format::Canal, 1500, 21);
    let job = w.job_with(
        Format::Canal,
        "",
        &tls_settings(&ca.ca_file()),
        &https_endpoints(sim),
    );
    let job_arg = job.display().to_string();
    let checked = run_starpipe(&["check", "--config", &job_arg], Duration::from_secs(60));
    assert!(checked.status.success(), "{}", checked.both());
    let probe = checked.check_line("starrocks stream load https://");
    assert!(
        probe.contains(&format!("{} → {}", sim.fe_http, sim.be_http)),
        "{probe}"
    );

    let out = w.run_to_end(&job, "run");
    assert!(
        out.status.success(),
        "starpipe failed:\n{}",
        w.log_text("run")
    );
    w.assert_state(&expected);
    w.assert_all_committed();
    let c = counters(sim);
    let loads = c["loads_by_status"]["Success"].as_u64().unwrap_or(0);
    assert!(loads > 0, "no load succeeded: {c}");
    // Every load went to the FE first and was redirected to the BE, both over HTTPS (the sim
    // serves nothing else on those ports).
    assert!(c["fe_redirects"].as_u64().unwrap() >= loads, "{c}");
    assert!(c["be_requests"].as_u64().unwrap() >= loads, "{c}");
}

#[test]
fn a_ca_that_did_not_sign_the_certificate_fails_check_and_run_at_once() {
    let ca = TestCa::new("real");
    let other = TestCa::new("other");
    let w = world("wrong-ca", 1).on_sim(tls_sim(&ca));
    let sim = w.sim;
    w.seed(Format::Canal, 50, 22);
    let job = w.job_with(
        Format::Canal,
        "",
        &tls_settings(&other.ca_file()),
        &https_endpoints(sim),
    );
    let job_arg = job.display().to_string();

    let checked = run_starpipe(&["check", "--config", &job_arg], Duration::from_secs(60));
    assert_eq!(checked.status.code(), Some(1), "{}", checked.both());
    let query = checked.check_line(&format!("starrocks query port {}", sim.query));
    assert!(query.starts_with("FAIL"), "{query}");
    assert!(
        query.contains("not signed by a CA in target.sslCaFile"),
        "{query}"
    );
    let probe = checked.check_line("starrocks stream load https://");
    assert!(probe.starts_with("FAIL"), "{probe}");
    assert!(
        probe.contains("not signed by a CA in target.sslCaFile"),
        "{probe}"
    );
    assert!(checked.took < Duration::from_secs(30), "{}", checked.both());

    let ran = run_starpipe(
        &["run", "--config", &job_arg, "--stop-at-end"],
        Duration::from_secs(60),
    );
    assert_eq!(ran.status.code(), Some(1), "{}", ran.both());
    assert!(
        ran.stderr
            .contains("error: StarRocks is not usable; failed checks:"),
        "{}",
        ran.both()
    );
    assert!(ran.stderr.contains("certificate"), "{}", ran.both());
    assert_eq!(w.committed(), vec![None], "nothing may be committed");
    assert_eq!(counters(sim)["loads_by_status"]["Success"].as_u64(), None);
}

/// A redirect that leaves HTTPS (an FE answering `307 Location: http://…`) is never followed:
/// the credentials and rows would travel in clear text. `check` fails on it; a load meeting it
/// stops `run` with the same error, the rows unloaded and their offsets not committed.
#[test]
fn a_redirect_from_https_to_http_is_refused() {
    let ca = TestCa::new("downgrade");
    let w = world("downgrade", 1).on_sim(tls_sim(&ca));
    let sim = w.sim;
    w.seed(Format::Canal, 50, 23);
    let job = w.job_with(
        Format::Canal,
        "",
        &tls_settings(&ca.ca_file()),
        &https_endpoints(sim),
    );
    let job_arg = job.display().to_string();
    let downgrade = |scope: serde_json::Value| {
        let mut rule = serde_json::json!({"target": "fe", "op": "stream_load",
            "action": {"kind": "redirect_to",
                       "location": format!("http://{}/api/x/y/_stream_load", sim.be_http)}});
        rule.as_object_mut()
            .unwrap()
            .extend(scope.as_object().unwrap().clone());
        sim.add_fault(&rule).expect("fault accepted")
    };

    let every_load = downgrade(serde_json::json!({}));
    let checked = run_starpipe(&["check", "--config", &job_arg], Duration::from_secs(60));
    assert_eq!(checked.status.code(), Some(1), "{}", checked.both());
    let probe = checked.check_line("starrocks stream load https://");
    assert!(
        probe.starts_with("FAIL") && probe.contains("leaves HTTPS"),
        "{probe}"
    );
    sim.remove_fault(every_load).unwrap();

    // Only the job's loads: the probe at start passes, the engine meets the redirect.
    let probe_passes = serde_json::json!({"db": w.db});
    downgrade(probe_passes);
    let ran = run_starpipe(
        &["run", "--config", &job_arg, "--stop-at-end"],
        Duration::from_secs(120),
    );
    assert_eq!(ran.status.code(), Some(1), "{}", ran.both());
    assert!(ran.stderr.contains("leaves HTTPS"), "{}", ran.both());
    let loaded = counters(sim)["loads_by_status"]["Success"].as_u64();
    assert_eq!(loaded.unwrap_or(0), 0, "{}", ran.both());
    assert_eq!(w.committed(), vec![None]);
}
