//! Job configuration: parsing, defaults, validation errors, secret masking, routing, the
//! README defaults table, and the `config check` / CLI surface.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use starpipe::cli::{Cli, Command as Sub, ConfigCommand, PkOverride};
use starpipe::config::{
    Config, ConfigError, OnError, OnMissingColumn, OnUnknownColumn, Problems, Secret, StartFrom,
    TargetName, TopicRoute, ZeroDatePolicy, defaults,
};
use starpipe::decode::Format;

const MINIMAL: &str = r#"
[source]
brokers = "kafka:9092"
topics = ["cdc"]
consumerGroupId = "g1"

[target]
host = "fe:9030"
httpHost = "fe:8030"
user = "root"
"#;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn problems(text: &str) -> Problems {
    match Config::parse(text) {
        Ok(c) => panic!("expected problems, got a valid config: {c:?}"),
        Err(p) => p,
    }
}

/// Asserts there is a problem at `path` whose message contains `needle`.
#[track_caller]
fn assert_problem(problems: &Problems, path: &str, needle: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.path == path && p.message.contains(needle) && p.to_string().contains(path)),
        "no problem at `{path}` containing `{needle}` in:\n{problems}"
    );
}

fn with_target(extra: &str) -> String {
    format!("{MINIMAL}{extra}\n")
}

fn write_temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("starpipe-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn starpipe(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_starpipe"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run starpipe")
}

// ---------------------------------------------------------------------------------------------
// Valid files and defaults

#[test]
fn example_job_file_is_valid() {
    let config = Config::read(manifest_dir().join("perf/demo/example-job.toml")).unwrap();
    assert_eq!(config.on_error, OnError::DeadLetter);
    assert_eq!(
        config.dead_letter_topic.as_deref(),
        Some("cdc.shop.dead-letter")
    );
    let s = &config.source;
    assert_eq!(s.brokers, "automq-1:9092,automq-2:9092");
    assert_eq!(s.topics, ["cdc.shop", "cdc.billing"]);
    assert_eq!(s.schema_format, Format::Canal);
    assert_eq!(s.consumer_group_id, "starpipe-shop");
    assert_eq!(s.consume_parallel, 4);
    assert_eq!(
        s.start_from,
        StartFrom::Timestamp {
            epoch_ms: 1_717_200_000_000
        }
    );
    assert_eq!(s.kafka.get("sasl.password"), Some("change-me"));
    assert_eq!(s.kafka.get("fetch.max.bytes"), Some("52428800"));
    let t = &config.target;
    assert_eq!(t.password_env.as_deref(), Some("STARROCKS_PASSWORD"));
    assert_eq!(t.total_data_in_mem_mb, 1024);
    assert!(t.enable_time_zone_process);
    assert_eq!(
        t.default_zero_date,
        ZeroDatePolicy::Replace("1970-01-01 00:00:00".into())
    );
    let d = config.decode_settings();
    assert_eq!(
        d.target_timezone.as_ref().map(|z| z.name()),
        Some("Asia/Shanghai")
    );
    assert_eq!(d.source_timezone.name(), "UTC");
    assert_eq!(config.tables.len(), 2);
}

#[test]
fn full_file_with_every_key() {
    let text = r#"
onError = "fail"
[source]
brokers = "k1:9092,k2:9092"
topics = ["a", "b"]
schemaFormat = "CloudCanal"
consumerGroupId = "grp"
consumeParallel = 8
sessionTimeoutMs = 45000
maxPollRecords = 1000
startFrom = 2024-06-01T08:00:00+08:00
[source.kafka]
"sasl.mechanism" = "PLAIN"
"ssl.key.password" = "kp"
"socket.keepalive.enable" = true
"fetch.wait.max.ms" = 100
[target]
host = "fe:9030"
httpHost = "be:8040"
user = "u"
password = "pw"
totalDataInMemMb = 2048
asyncFlushIntervalSec = 10
flushBatchMb = 128
realFlushPauseSec = 1
soTimeoutSec = 60
httpSoTimeoutSec = 900
enableTimeZoneProcess = true
timezone = "+08:00"
maxInSizePerQuery = 500
defaultZeroDate = "error"
sourceTimezone = "America/New_York"
"#;
    let c = Config::parse(text).unwrap();
    assert_eq!(c.on_error, OnError::Fail);
    assert_eq!(c.source.consume_parallel, 8);
    assert_eq!(c.source.session_timeout_ms, 45000);
    assert_eq!(c.source.max_poll_records, 1000);
    assert_eq!(
        c.source.start_from,
        StartFrom::Timestamp {
            epoch_ms: 1_717_200_000_000
        }
    );
    assert_eq!(c.source.kafka.get("socket.keepalive.enable"), Some("true"));
    assert_eq!(c.source.kafka.get("fetch.wait.max.ms"), Some("100"));
    let t = &c.target;
    assert_eq!(t.http_host, "be:8040");
    assert_eq!(t.password().unwrap().expose(), "pw");
    assert_eq!(
        (
            t.total_data_in_mem_mb,
            t.async_flush_interval_sec,
            t.flush_batch_mb,
            t.real_flush_pause_sec,
            t.so_timeout_sec,
            t.http_so_timeout_sec,
            t.max_in_size_per_query
        ),
        (2048, 10, 128, 1, 60, 900, 500)
    );
    assert_eq!(t.flush_batch_bytes(), 128 << 20);
    assert_eq!(t.default_zero_date, ZeroDatePolicy::Error);
    let d = c.decode_settings();
    assert_eq!(d.source_timezone.name(), "America/New_York");
    assert_eq!(d.target_timezone.unwrap().name(), "+08:00");
    // The effective configuration re-parses to the same configuration (secrets aside).
    let again = Config::parse(&c.to_masked_toml()).unwrap();
    assert_eq!(again.source.start_from, c.source.start_from);
    assert_eq!(again.target.timezone, c.target.timezone);
}

#[test]
fn defaults_are_filled_in() {
    let c = Config::parse(MINIMAL).unwrap();
    assert_eq!(c.on_error, OnError::Fail);
    assert_eq!(c.dead_letter_topic, None);
    assert_eq!(c.source.schema_format, Format::CloudCanal);
    assert_eq!(c.source.consume_parallel, defaults::consume_parallel());
    assert_eq!(c.source.session_timeout_ms, 30_000);
    assert_eq!(c.source.max_poll_records, 500);
    assert_eq!(c.source.start_from, StartFrom::Earliest);
    assert!(c.source.kafka.is_empty());
    let t = &c.target;
    assert_eq!(t.total_data_in_mem_mb, 512);
    assert_eq!(t.async_flush_interval_sec, 5);
    assert_eq!(t.flush_batch_mb, 64);
    assert_eq!(t.real_flush_pause_sec, 0);
    assert_eq!(t.so_timeout_sec, 30);
    assert_eq!(t.http_so_timeout_sec, 600);
    assert!(!t.enable_time_zone_process);
    assert_eq!(t.timezone, None);
    assert_eq!(t.max_in_size_per_query, 1000);
    assert_eq!(t.default_zero_date, ZeroDatePolicy::Null);
    assert_eq!(t.source_timezone.name(), "UTC");
    assert_eq!(t.password, None);
    assert_eq!(t.password().unwrap().expose(), "");
    assert!(c.tables.is_empty());
    let d = c.decode_settings();
    assert_eq!(d.target_timezone, None);
    assert_eq!(d, starpipe::config::DecodeSettings::default());
}

/// Fuzz finding #4: a budget below the default batch size made the effective job (defaults
/// filled in) invalid: `flushBatchMb` 64 > `totalDataInMemMb` 2.
#[test]
fn default_batch_size_stays_within_a_small_budget() {
    let c = Config::parse(&with_target("totalDataInMemMb = 2")).unwrap();
    assert_eq!(c.target.flush_batch_mb, 2);
    let again = Config::parse(&c.to_masked_toml()).expect("effective job is valid");
    assert_eq!(again.target.flush_batch_mb, 2);
    let p = problems(&with_target("totalDataInMemMb = 2\nflushBatchMb = 3"));
    assert_problem(
        &p,
        "target.flushBatchMb",
        "at most target.totalDataInMemMb (2)",
    );
}

#[test]
fn start_from_latest_and_string_timestamp() {
    let c = Config::parse(&MINIMAL.replace(
        "consumerGroupId = \"g1\"",
        "consumerGroupId = \"g1\"\nstartFrom = \"latest\"",
    ))
    .unwrap();
    assert_eq!(c.source.start_from, StartFrom::Latest);
    let c = Config::parse(&MINIMAL.replace(
        "consumerGroupId = \"g1\"",
        "consumerGroupId = \"g1\"\nstartFrom = \"1970-01-01T00:00:01.5Z\"",
    ))
    .unwrap();
    assert_eq!(c.source.start_from, StartFrom::Timestamp { epoch_ms: 1500 });
}

// ---------------------------------------------------------------------------------------------
// Validation errors

#[test]
fn unknown_key_at_top_level() {
    let p = problems(&format!("sourc = 1\n{MINIMAL}"));
    assert_problem(&p, "sourc", "unknown key `sourc` at the top level");
    let located = p.iter().find(|p| p.path == "sourc").unwrap();
    assert_eq!(located.location.map(|l| l.line), Some(1));
}

#[test]
fn unknown_key_nested() {
    let p = problems(&with_target("flushBatchMB = 64"));
    assert_problem(
        &p,
        "target.flushBatchMB",
        "unknown key `flushBatchMB` in [target]",
    );
    assert_problem(&p, "target.flushBatchMB", "flushBatchMb");
    let p = problems(&MINIMAL.replace("[source]", "[source]\ntopic = \"x\""));
    assert_problem(&p, "source.topic", "unknown key `topic` in [source]");
    let p = problems(&format!(
        "{MINIMAL}\n[[tables]]\nsource = \"a.b\"\ntarget = \"c.d\"\ntargte = \"x\"\n"
    ));
    assert_problem(&p, "tables[0].targte", "unknown key `targte` in tables[0]");
}

#[test]
fn wrong_type() {
    let p = problems(&with_target("flushBatchMb = \"64\""));
    assert_problem(
        &p,
        "target.flushBatchMb",
        "expected an integer, got string \"64\"",
    );
    let p = problems(&with_target(
        "enableTimeZoneProcess = 1\ntimezone = \"UTC\"",
    ));
    assert_problem(&p, "target.enableTimeZoneProcess", "expected a boolean");
    let p = problems(&MINIMAL.replace("topics = [\"cdc\"]", "topics = \"cdc\""));
    assert_problem(&p, "source.topics", "expected an array");
    // Reported once, not again as "missing".
    assert_eq!(p.iter().filter(|p| p.path == "source.topics").count(), 1);
    let p = problems(&format!("{MINIMAL}\n[source.kafka]\n\"client.id\" = [1]\n"));
    assert_problem(
        &p,
        "source.kafka.\"client.id\"",
        "expected a string, integer or boolean",
    );
}

#[test]
fn type_errors_keep_line_and_column() {
    let text = with_target("soTimeoutSec = true");
    let p = problems(&text);
    let problem = p.iter().find(|p| p.path == "target.soTimeoutSec").unwrap();
    let loc = problem.location.expect("location");
    let line = text
        .lines()
        .position(|l| l.starts_with("soTimeoutSec"))
        .unwrap()
        + 1;
    assert_eq!((loc.line, loc.column), (line, 16));
    assert!(
        problem
            .to_string()
            .contains(&format!("line {line}, column 16"))
    );
}

#[test]
fn syntax_error_keeps_line_and_column() {
    let p = problems("[source]\nbrokers = kafka:9092\n");
    assert_eq!(p.len(), 1, "{p}");
    let problem = &p.iter().next().unwrap();
    assert_eq!(problem.location.map(|l| l.line), Some(2));
    assert!(p.to_string().contains("line 2, column 11"), "{p}");
}

/// Found by `fuzz/` (regressions/config_parse): toml reports a dotted key of more than 80 parts
/// ("recursion limit") without a span, and the problem had neither a key path nor a place.
#[test]
fn overlong_dotted_key_is_placed_on_its_line() {
    let key = vec!["k"; 90].join(".");
    for (text, line) in [
        (
            format!("[source]\nbrokers = \"b:9092\"\n{key} = 1\n[target]\n"),
            3,
        ),
        (format!("[{key}]\n"), 1),
        (format!("# job\n\n[{key}]"), 3),
    ] {
        let p = problems(&text);
        let problem = p
            .iter()
            .find(|p| p.message.contains("dotted key with too many parts"))
            .unwrap_or_else(|| panic!("no recursion-limit problem in:\n{p}"));
        assert_eq!(problem.location.map(|l| l.line), Some(line), "{p}");
        assert!(
            p.to_string().contains(&format!("line {line}, column 1")),
            "{p}"
        );
    }
}

#[test]
fn missing_required() {
    let p = problems(&MINIMAL.replace("brokers = \"kafka:9092\"\n", ""));
    assert_problem(&p, "source.brokers", "missing required key");
    let p = problems("");
    for path in ["source", "target"] {
        assert_problem(&p, path, "missing required key");
    }
    let p = problems("[source]\n[target]\n");
    for path in [
        "source.brokers",
        "source.topics",
        "source.consumerGroupId",
        "target.host",
        "target.httpHost",
        "target.user",
    ] {
        assert_problem(&p, path, "missing required key");
    }
    let p = problems(&format!("{MINIMAL}\n[[tables]]\nsource = \"a.b\"\n"));
    assert_problem(&p, "tables[0].target", "missing required key");
}

#[test]
fn bad_enum_value() {
    let p = problems(&MINIMAL.replace("[source]", "[source]\nschemaFormat = \"Debezium\""));
    assert_problem(
        &p,
        "source.schemaFormat",
        "expected `CloudCanal` or `AlibabaCanal`, got `Debezium`",
    );
    let p = problems(&format!("onError = \"skip\"\n{MINIMAL}"));
    assert_problem(&p, "onError", "expected `fail` or `deadLetter`, got `skip`");
}

#[test]
fn bad_start_from() {
    for bad in [
        "\"yesterday\"",
        "\"2024-06-01 00:00:00\"",
        "2024-06-01T00:00:00",
        "5",
    ] {
        let p = problems(&MINIMAL.replace("[source]", &format!("[source]\nstartFrom = {bad}")));
        assert_problem(
            &p,
            "source.startFrom",
            "expected `earliest`, `latest` or an RFC 3339",
        );
    }
}

#[test]
fn dead_letter_without_topic() {
    let p = problems(&format!("onError = \"deadLetter\"\n{MINIMAL}"));
    assert_problem(
        &p,
        "deadLetterTopic",
        "required when onError = \"deadLetter\"",
    );
    let c = Config::parse(&format!(
        "onError = \"deadLetter\"\ndeadLetterTopic = \"dlq\"\n{MINIMAL}"
    ))
    .unwrap();
    assert_eq!(c.dead_letter_topic.as_deref(), Some("dlq"));
}

#[test]
fn password_and_password_env_both() {
    let p = problems(&with_target("password = \"a\"\npasswordEnv = \"B\""));
    assert_problem(&p, "target.passwordEnv", "not both");
}

#[test]
fn password_env_is_resolved_at_use() {
    let var = "STARPIPE_TEST_CONFIG_PASSWORD_UNSET_1";
    let c = Config::parse(&with_target(&format!("passwordEnv = \"{var}\""))).unwrap();
    let err = c.target.password().unwrap_err();
    assert!(matches!(err, ConfigError::PasswordEnvMissing { .. }));
    assert!(err.to_string().contains("target.passwordEnv"), "{err}");
    // PATH is set in any test environment.
    let c = Config::parse(&with_target("passwordEnv = \"PATH\"")).unwrap();
    assert_eq!(
        c.target.password().unwrap().expose(),
        std::env::var("PATH").unwrap()
    );
}

#[test]
fn bad_timezone() {
    let p = problems(&with_target(
        "enableTimeZoneProcess = true\ntimezone = \"Mars/Olympus_Mons\"\nsourceTimezone = \"+8\"",
    ));
    assert_problem(&p, "target.timezone", "Mars/Olympus_Mons");
    assert_problem(&p, "target.sourceTimezone", "`+8`");
    let p = problems(&with_target("enableTimeZoneProcess = true"));
    assert_problem(
        &p,
        "target.timezone",
        "required when target.enableTimeZoneProcess = true",
    );
    // Accepted forms.
    for ok in ["UTC", "-05:30", "Europe/Berlin"] {
        Config::parse(&with_target(&format!("sourceTimezone = \"{ok}\""))).unwrap();
    }
}

#[test]
fn bad_default_zero_date() {
    for bad in [
        "0000-00-00",
        "2023-02-29",
        "1970-01-01T00:00:00",
        "NULL",
        "zero",
    ] {
        let p = problems(&with_target(&format!("defaultZeroDate = \"{bad}\"")));
        assert_problem(
            &p,
            "target.defaultZeroDate",
            "YYYY-MM-DD[ HH:MM:SS[.ffffff]]",
        );
    }
    for (ok, want) in [
        ("null", ZeroDatePolicy::Null),
        ("error", ZeroDatePolicy::Error),
        ("1970-01-01", ZeroDatePolicy::Replace("1970-01-01".into())),
        (
            "0000-01-01 00:00:00.000000",
            ZeroDatePolicy::Replace("0000-01-01 00:00:00.000000".into()),
        ),
    ] {
        let c = Config::parse(&with_target(&format!("defaultZeroDate = \"{ok}\""))).unwrap();
        assert_eq!(c.target.default_zero_date, want);
    }
}

#[test]
fn http_host_is_host_port_or_a_url_and_tls_settings_go_with_tls() {
    let with =
        |http: &str, extra: &str| MINIMAL.replace("\"fe:8030\"", &format!("\"{http}\"\n{extra}"));
    for (http, url) in [
        ("fe:8030", "http://fe:8030"),
        ("http://fe:8030", "http://fe:8030"),
        ("https://fe:8443/", "https://fe:8443"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ] {
        let c = Config::parse(&with(http, "")).unwrap();
        assert_eq!(c.target.http_host, http);
        assert_eq!(c.target.http_url(), url);
        assert!(!c.target.use_ssl);
        assert_eq!(c.target.ssl_ca_file, None);
    }
    let c = Config::parse(&with("https://fe:8443", "sslCaFile = \"/etc/ca.pem\"")).unwrap();
    assert_eq!(
        c.target.ssl_ca_file.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    let c = Config::parse(&with("fe:8030", "useSsl = true\nsslCaFile = \"ca.pem\"")).unwrap();
    assert!(c.target.use_ssl);
    let p = problems(&with("fe:8030", "sslCaFile = \"ca.pem\""));
    assert_problem(&p, "target.sslCaFile", "only used with TLS");
    let p = problems(&with("fe:8030", "useSsl = \"yes\""));
    assert_problem(&p, "target.useSsl", "expected a boolean");
}

#[test]
fn tables_targets_must_be_names_starrocks_and_stream_load_take() {
    let entry =
        |target: &str| format!("{MINIMAL}\n[[tables]]\nsource = \"shop.*\"\ntarget = {target:?}\n");
    for ok in ["ods.select", "ods.o'rders", "ods.*", "ods.x_*", "o_*.t"] {
        assert!(Config::parse(&entry(ok)).is_ok(), "{ok}");
    }
    let p = problems(&entry("ods.order items"));
    assert_problem(
        &p,
        "tables[0].target",
        "table name `order items` cannot be used",
    );
    let p = problems(&entry("my-db.orders"));
    assert_problem(
        &p,
        "tables[0].target",
        "database name `my-db` cannot be used",
    );
    let topic = format!("{MINIMAL}\n[[tables]]\ntopic = \"cdc\"\ntarget = \"ods.订单\"\n");
    assert_problem(
        &problems(&topic),
        "tables[0].target",
        "Stream Load cannot address it",
    );
}

#[test]
fn bad_numbers_and_hosts() {
    let p = problems(&with_target(
        "flushBatchMb = 0\nrealFlushPauseSec = -1\ntotalDataInMemMb = 32",
    ));
    assert_problem(
        &p,
        "target.flushBatchMb",
        "expected a positive integer, got 0",
    );
    assert_problem(
        &p,
        "target.realFlushPauseSec",
        "expected a non-negative integer, got -1",
    );
    let p = problems(&with_target("flushBatchMb = 64\ntotalDataInMemMb = 32"));
    assert_problem(
        &p,
        "target.flushBatchMb",
        "at most target.totalDataInMemMb (32)",
    );
    for bad in ["ftp://fe:8030", "https://fe:8030/api", "https://fe", "fe"] {
        let p = problems(&MINIMAL.replace("\"fe:8030\"", &format!("\"{bad}\"")));
        assert_problem(
            &p,
            "target.httpHost",
            "expected `host:port`, `http://host:port` or `https://host:port`",
        );
    }
    let p = problems(&MINIMAL.replace("[source]", "[source]\nsessionTimeoutMs = 0"));
    assert_problem(
        &p,
        "source.sessionTimeoutMs",
        "expected an integer from 1 to 3600000",
    );
}

#[test]
fn managed_kafka_keys_are_rejected() {
    let p = problems(&format!(
        "{MINIMAL}\n[source.kafka]\n\"group.id\" = \"x\"\n\"enable.auto.commit\" = true\n"
    ));
    assert_problem(&p, "source.kafka.\"group.id\"", "source.consumerGroupId");
    assert_problem(
        &p,
        "source.kafka.\"enable.auto.commit\"",
        "commits offsets itself",
    );
}

#[test]
fn all_problems_are_collected() {
    let text = r#"
onError = "deadLetter"
bogus = 1
[source]
brokers = "k:9092"
topics = ["a", 3]
schemaFormat = "cloudcanal"
consumerGroupId = "g"
consumeParallel = "x"
typo = true
[target]
host = "fe:9030"
httpHost = "fe"
user = "root"
password = "pw"
passwordEnv = "X"
flushBatchMb = 0
timezone = "Nowhere/Land"
defaultZeroDate = "0000-00-00"
[[tables]]
source = "shop"
target = "ods.*"
"#;
    let p = problems(text);
    for (path, needle) in [
        ("bogus", "unknown key"),
        ("source.topics[1]", "expected a string"),
        ("source.schemaFormat", "CloudCanal"),
        ("source.consumeParallel", "expected an integer"),
        ("source.typo", "unknown key"),
        ("target.httpHost", "host:port"),
        ("target.passwordEnv", "not both"),
        ("target.flushBatchMb", "positive"),
        ("target.timezone", "Nowhere/Land"),
        ("target.defaultZeroDate", "0000-00-00"),
        ("tables[0].source", "db.table"),
        ("deadLetterTopic", "required"),
    ] {
        assert_problem(&p, path, needle);
    }
    assert_eq!(p.len(), 12, "{p}");
    // Every problem with a place in the file comes first, in file order.
    let lines: Vec<usize> = p
        .iter()
        .filter_map(|p| p.location.map(|l| l.line))
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

// ---------------------------------------------------------------------------------------------
// Secrets

#[test]
fn secrets_are_masked_in_debug_and_serialization() {
    let text = format!(
        "{}\n[source.kafka]\n\"sasl.password\" = \"kafkapw\"\n\"ssl.key.password\" = \"keypw\"\n\
         \"sasl.oauthbearer.client.secret\" = \"oauthsecret\"\n\"sasl.username\" = \"alice\"\n",
        MINIMAL.replace("user = \"root\"", "user = \"root\"\npassword = \"hunter2\"")
    );
    let c = Config::parse(&text).unwrap();
    assert_eq!(c.target.password().unwrap().expose(), "hunter2");
    assert_eq!(c.source.kafka.get("sasl.password"), Some("kafkapw"));
    let debug = format!("{c:?} {c:#?}");
    let toml = c.to_masked_toml();
    for shown in [&debug, &toml] {
        for secret in ["hunter2", "kafkapw", "keypw", "oauthsecret"] {
            assert!(!shown.contains(secret), "`{secret}` leaked:\n{shown}");
        }
        assert!(shown.contains("alice"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }
    let s = Secret::new("topsecret");
    assert_eq!(format!("{s} {s:?}"), "*** ***");
    assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
}

#[test]
fn config_check_masks_secrets_and_prints_effective_config() {
    let text = format!(
        "{}\n[source.kafka]\n\"sasl.password\" = \"kafkapw\"\n\"sasl.username\" = \"alice\"\n",
        MINIMAL.replace("user = \"root\"", "user = \"root\"\npassword = \"hunter2\"")
    );
    // ([source.kafka] may follow [target]: it is still the kafka table of [source].)
    let path = write_temp("secrets.toml", &text);
    let out = starpipe(&["config", "check", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for leaked in ["hunter2", "kafkapw"] {
        assert!(
            !stdout.contains(leaked) && !stderr.contains(leaked),
            "{stdout}{stderr}"
        );
    }
    // Defaults filled in, parseable TOML.
    let effective: toml::Table = toml::from_str(&stdout).unwrap();
    assert_eq!(effective["target"]["flushBatchMb"].as_integer(), Some(64));
    assert_eq!(effective["target"]["password"].as_str(), Some("***"));
    assert_eq!(
        effective["source"]["kafka"]["sasl.password"].as_str(),
        Some("***")
    );
    assert_eq!(
        effective["source"]["kafka"]["sasl.username"].as_str(),
        Some("alice")
    );
}

#[test]
fn config_check_reports_every_problem_and_exits_1() {
    let text = with_target("flushBatchMb = 0\nbogus = 1\ntimezone = \"Nowhere\"");
    let path = write_temp("bad.toml", &text);
    let file = path.to_str().unwrap();
    let out = starpipe(&["config", "check", file]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        format!("{file}: target.flushBatchMb: expected a positive integer, got 0"),
        format!("{file}: target.bogus: unknown key `bogus` in [target]"),
        format!("{file}: target.timezone: "),
    ] {
        assert!(
            stderr.lines().any(|l| l.starts_with(&expected)),
            "missing `{expected}` in:\n{stderr}"
        );
    }
    assert!(out.stdout.is_empty());
    let out = starpipe(&["config", "check", "/nonexistent/job.toml"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn config_check_accepts_the_example() {
    let example = manifest_dir().join("perf/demo/example-job.toml");
    let out = starpipe(&["config", "check", example.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("change-me"));
    assert!(stdout.contains("\"sasl.password\" = \"***\""), "{stdout}");
}

// ---------------------------------------------------------------------------------------------
// Routing

#[test]
fn routing_with_globs() {
    let c = Config::parse(&format!(
        r#"{MINIMAL}
[[tables]]
source = "shop.order_items"
target = "dw.items"
[[tables]]
source = "shop.*"
target = "ods.*"
[[tables]]
source = "log_?.event_[0-9][0-9]"
target = "logs.events"
[[tables]]
source = "crm.*"
target = "*_crm.src_*"
"#
    ))
    .unwrap();
    let t = |db: &str, table: &str| TargetName {
        db: db.into(),
        table: table.into(),
    };
    // First match wins.
    assert_eq!(c.route("shop", "order_items"), t("dw", "items"));
    assert_eq!(c.route("shop", "orders"), t("ods", "orders"));
    assert_eq!(c.route("log_a", "event_07"), t("logs", "events"));
    assert_eq!(c.route("log_ab", "event_07"), t("log_ab", "event_07"));
    assert_eq!(c.route("log_a", "event_7"), t("log_a", "event_7"));
    assert_eq!(c.route("crm", "users"), t("crm_crm", "src_users"));
    // No match: same db and table.
    assert_eq!(c.route("other", "t"), t("other", "t"));
    assert_eq!(c.explicit_route("other", "t"), None);
    // Case-sensitive.
    assert_eq!(c.route("SHOP", "orders"), t("SHOP", "orders"));
    assert_eq!(c.route("shop", "orders").to_string(), "ods.orders");
}

#[test]
fn bad_routes() {
    for (source, target, path) in [
        ("shop", "ods.x", "tables[0].source"),
        ("shop.[", "ods.x", "tables[0].source"),
        ("shop.*", "ods", "tables[0].target"),
        ("shop.*", "ods.**", "tables[0].target"),
        ("shop.*", "ods.?", "tables[0].target"),
    ] {
        let p = problems(&format!(
            "{MINIMAL}\n[[tables]]\nsource = \"{source}\"\ntarget = \"{target}\"\n"
        ));
        assert_problem(&p, path, "");
    }
}

/// `[[tables]]` entries with `topic`: the table for a topic's messages that name none.
#[test]
fn topic_tables() {
    let text = MINIMAL.replace("topics = [\"cdc\"]", "topics = [\"cdc\", \"orders-cdc\"]");
    let c = Config::parse(&format!(
        r#"{text}
[[tables]]
source = "shop.*"
target = "ods.*"
[[tables]]
topic = "orders-cdc"
target = "ods.orders"
[[tables]]
source = "crm.users"
target = "dw.users"
"#
    ))
    .unwrap();
    let t = |db: &str, table: &str| TargetName {
        db: db.into(),
        table: table.into(),
    };
    assert_eq!(c.topic_table("orders-cdc"), Some(&t("ods", "orders")));
    assert_eq!(c.topic_table("cdc"), None);
    assert_eq!(c.topic_table("orders"), None);
    assert_eq!(
        c.topic_tables,
        [TopicRoute {
            topic: "orders-cdc".into(),
            target: t("ods", "orders"),
            keys: None,
        }]
    );
    // Source routing is not affected by topic entries.
    assert_eq!(c.tables.len(), 2);
    assert_eq!(c.route("crm", "users"), t("dw", "users"));
    assert_eq!(c.route("shop", "orders"), t("ods", "orders"));
    assert_eq!(c.route("ods", "orders"), t("ods", "orders"));
    // The effective configuration keeps every entry, in file order, and re-parses to the same.
    let toml = c.to_masked_toml();
    let effective: toml::Table = toml::from_str(&toml).unwrap();
    let entries = effective["tables"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{toml}");
    assert_eq!(entries[0]["source"].as_str(), Some("shop.*"));
    assert_eq!(entries[1]["topic"].as_str(), Some("orders-cdc"));
    assert_eq!(entries[1]["target"].as_str(), Some("ods.orders"));
    assert!(entries[1].get("source").is_none());
    assert_eq!(entries[2]["source"].as_str(), Some("crm.users"));
    assert_eq!(Config::parse(&toml).unwrap(), c);

    // A regex subscription (`^…`) may carry any topic name.
    let c = Config::parse(&format!(
        "{}\n[[tables]]\ntopic = \"orders-cdc\"\ntarget = \"ods.orders\"\n",
        MINIMAL.replace("topics = [\"cdc\"]", "topics = [\"^cdc.*\"]")
    ))
    .unwrap();
    assert!(c.topic_table("orders-cdc").is_some());
}

/// The tables a job names literally, which `starpipe check` and `run` check at start.
#[test]
fn explicit_targets() {
    let text = MINIMAL.replace("topics = [\"cdc\"]", "topics = [\"cdc\", \"orders-cdc\"]");
    let c = Config::parse(&format!(
        r#"{text}
[[tables]]
source = "shop.*"
target = "ods.*"
[[tables]]
source = "crm.users"
target = "dw.*"
[[tables]]
topic = "orders-cdc"
target = "ods.orders"
[[tables]]
source = "shop.items"
target = "dw.items"
[[tables]]
source = "crm.users"
target = "dw.users"
"#
    ))
    .unwrap();
    let t = |db: &str, table: &str| TargetName {
        db: db.into(),
        table: table.into(),
    };
    // Globs are left out; a literal source routes as its rows do (`shop.items` matches the
    // earlier `shop.*`); duplicates are listed once, in file order.
    assert_eq!(
        c.explicit_targets(),
        [t("dw", "users"), t("ods", "orders"), t("ods", "items")]
    );
    assert_eq!(Config::parse(MINIMAL).unwrap().explicit_targets(), []);
}

#[test]
fn bad_topic_tables() {
    let entry = |body: &str| format!("{MINIMAL}\n[[tables]]\n{body}\n");
    let p = problems(&entry(
        "source = \"a.b\"\ntopic = \"cdc\"\ntarget = \"c.d\"",
    ));
    assert_problem(&p, "tables[0].topic", "not both");
    let p = problems(&entry("target = \"c.d\""));
    assert_problem(&p, "tables[0].source", "missing required key");
    assert_problem(&p, "tables[0].source", "or give `topic`");
    let p = problems(&entry("topic = \"cdc\""));
    assert_problem(&p, "tables[0].target", "missing required key");
    for bad in ["ods.*", "ods", "*.orders", "ods.ord?rs", "ods.a.b"] {
        let p = problems(&entry(&format!("topic = \"cdc\"\ntarget = \"{bad}\"")));
        assert_problem(&p, "tables[0].target", "expected a literal `db.table`");
        assert_problem(&p, "tables[0].target", bad);
    }
    let p = problems(&entry("topic = \"\"\ntarget = \"c.d\""));
    assert_problem(&p, "tables[0].topic", "expected a non-empty topic name");
    let p = problems(&entry("topic = \"other\"\ntarget = \"c.d\""));
    assert_problem(&p, "tables[0].topic", "`other` is not one of source.topics");
    let p = problems(&entry("topic = 3\ntarget = \"c.d\""));
    assert_problem(&p, "tables[0].topic", "expected a string");
    let p = problems(&format!(
        "{MINIMAL}\n[[tables]]\ntopic = \"cdc\"\ntarget = \"a.b\"\n\
         [[tables]]\ntopic = \"cdc\"\ntarget = \"c.d\"\n"
    ));
    assert_problem(&p, "tables[1].topic", "already has a table (tables[0])");
    assert_eq!(p.len(), 1, "{p}");
    // Problems carry the entry's line.
    let text = entry("topic = \"cdc\"\ntarget = \"ods.*\"");
    let p = problems(&text);
    let line = text
        .lines()
        .position(|l| l.starts_with("target = \"ods"))
        .unwrap()
        + 1;
    let problem = p.iter().find(|p| p.path == "tables[0].target").unwrap();
    assert_eq!(problem.location.map(|l| l.line), Some(line));
}

#[test]
fn config_check_prints_topic_tables() {
    let text = format!("{MINIMAL}\n[[tables]]\ntopic = \"cdc\"\ntarget = \"ods.orders\"\n");
    let path = write_temp("topic.toml", &text);
    let out = starpipe(&["config", "check", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("[[tables]]\ntopic = \"cdc\"\ntarget = \"ods.orders\""),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------------------------
// DDL and schema drift

#[test]
fn ddl_settings_default_and_parse() {
    let d = Config::parse(MINIMAL).unwrap().target.ddl;
    assert!(d.sync_ddl);
    assert!(!d.ddl_exception_skip);
    assert!(!d.ddl_allow_drop_table);
    assert_eq!(d.on_unknown_column, OnUnknownColumn::Fail);
    assert_eq!(d.on_missing_column, OnMissingColumn::Fail);
    assert!(!d.auto_create_table);
    assert_eq!(d.auto_create_buckets, 0);
    assert!(d.auto_create_properties.is_empty());
    let c = Config::parse(&with_target(
        r#"syncDdl = false
ddlExceptionSkip = true
ddlAllowDropTable = true
onUnknownColumn = "addColumn"
onMissingColumn = "partialUpdate"
autoCreateTable = true
autoCreateBuckets = 8
autoCreateProperties = { replication_num = "1", "enable_persistent_index" = "true" }"#,
    ))
    .unwrap();
    let d = &c.target.ddl;
    assert!(!d.sync_ddl && d.ddl_exception_skip && d.ddl_allow_drop_table && d.auto_create_table);
    assert_eq!(d.on_unknown_column, OnUnknownColumn::AddColumn);
    assert_eq!(d.on_missing_column, OnMissingColumn::PartialUpdate);
    assert_eq!(d.auto_create_buckets, 8);
    assert_eq!(
        d.auto_create_properties,
        BTreeMap::from([
            ("enable_persistent_index".to_string(), "true".to_string()),
            ("replication_num".to_string(), "1".to_string())
        ])
    );
    let ignore = Config::parse(&with_target("onUnknownColumn = \"ignore\"")).unwrap();
    assert_eq!(ignore.target.ddl.on_unknown_column, OnUnknownColumn::Ignore);
    // The effective configuration re-parses to the same.
    assert_eq!(Config::parse(&c.to_masked_toml()).unwrap(), c);
    let options = starpipe::ddl::CreateOptions::new(d, Some(&["id".to_string()]));
    assert_eq!(options.buckets, Some(8));
    assert_eq!(options.keys.as_deref(), Some(&["id".to_string()][..]));
    let auto = starpipe::ddl::CreateOptions::new(&Config::parse(MINIMAL).unwrap().target.ddl, None);
    assert_eq!(auto.buckets, None);
}

#[test]
fn bad_ddl_settings() {
    let p = problems(&with_target(
        r#"syncDdl = "yes"
onUnknownColumn = "add"
onMissingColumn = "ignore"
autoCreateBuckets = -1
autoCreateProperties = { replication_num = 1 }"#,
    ));
    assert_problem(&p, "target.syncDdl", "expected a boolean");
    assert_problem(
        &p,
        "target.onUnknownColumn",
        "expected `fail`, `addColumn` or `ignore`, got `add`",
    );
    assert_problem(
        &p,
        "target.onMissingColumn",
        "expected `fail` or `partialUpdate`, got `ignore`",
    );
    assert_problem(&p, "target.autoCreateBuckets", "-1");
    assert_problem(
        &p,
        "target.autoCreateProperties.replication_num",
        "expected a string",
    );
    assert_eq!(p.len(), 5, "{p}");
}

#[test]
fn table_keys() {
    let text = MINIMAL.replace("topics = [\"cdc\"]", "topics = [\"cdc\", \"orders-cdc\"]");
    let c = Config::parse(&format!(
        r#"{text}
[[tables]]
source = "shop.logs"
target = "ods.logs"
keys = ["host", "ts"]
[[tables]]
source = "shop.*"
target = "ods.*"
[[tables]]
topic = "orders-cdc"
target = "ods.orders"
keys = ["id"]
"#
    ))
    .unwrap();
    let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        c.table_keys("shop", "logs"),
        Some(&keys(&["host", "ts"])[..])
    );
    assert_eq!(c.table_keys("shop", "orders"), None);
    assert_eq!(c.table_keys("crm", "users"), None);
    assert_eq!(c.topic_keys("orders-cdc"), Some(&keys(&["id"])[..]));
    assert_eq!(c.topic_keys("cdc"), None);
    let toml = c.to_masked_toml();
    assert!(toml.contains("keys = ["), "{toml}");
    assert_eq!(Config::parse(&toml).unwrap(), c);

    let p = problems(&format!(
        r#"{MINIMAL}
[[tables]]
source = "a.b"
target = "c.d"
keys = []
[[tables]]
source = "a.c"
target = "c.e"
keys = ["id", "ID", ""]
[[tables]]
source = "a.d"
target = "c.f"
keys = "id"
"#
    ));
    assert_problem(&p, "tables[0].keys", "expected at least one column name");
    assert_problem(&p, "tables[1].keys[1]", "column `ID` is named twice");
    assert_problem(&p, "tables[1].keys[2]", "expected a column name");
    assert_problem(&p, "tables[2].keys", "expected an array");
}

/// The existing StarRocks tables a glob entry may load into (`starpipe prepare`).
#[test]
fn glob_targets_among_existing_tables() {
    let c = Config::parse(&format!(
        r#"{MINIMAL}
[[tables]]
source = "shop.special"
target = "vip.special"
[[tables]]
source = "shop.*"
target = "ods.shop_*"
[[tables]]
source = "crm.user?"
target = "dw.*"
[[tables]]
source = "logs_*.*"
target = "ods.all_logs"
"#
    ))
    .unwrap();
    let t = |name: &str| name.parse::<TargetName>().unwrap();
    let existing: Vec<TargetName> = [
        "ods.shop_orders",  // shop.orders
        "ods.shop_special", // shop.special routes to vip.special (first entry wins)
        "ods.orders",       // no shop_ prefix
        "dw.users",         // crm.users
        "dw.accounts",      // crm.accounts does not match crm.user?
        "ods.all_logs",     // any logs_*.* table
        "vip.special",      // explicit, not a glob target
        "other.t",
    ]
    .iter()
    .map(|n| t(n))
    .collect();
    assert_eq!(
        c.glob_targets(&existing),
        [t("ods.shop_orders"), t("dw.users"), t("ods.all_logs")]
    );
    assert_eq!(c.explicit_targets(), [t("vip.special")]);
}

// ---------------------------------------------------------------------------------------------
// README table vs code defaults

#[derive(Debug)]
enum Documented {
    Required,
    None,
    Cpus,
    Literal(toml::Value),
}

/// (key, default) rows of the table in README.md's `## Configuration` section.
fn readme_rows() -> Vec<(String, Documented)> {
    let readme = std::fs::read_to_string(manifest_dir().join("README.md")).unwrap();
    let section = readme
        .split("## Configuration")
        .nth(1)
        .expect("README has a ## Configuration section");
    let section = section.split("\n## ").next().unwrap();
    let mut rows = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let key = cells[1].trim_matches('`').to_owned();
        let default = cells[2];
        let documented = if default == "required" {
            Documented::Required
        } else if default == "none" {
            Documented::None
        } else if default == "number of CPUs" {
            Documented::Cpus
        } else {
            let literal = default
                .strip_prefix('`')
                .and_then(|d| d.strip_suffix('`'))
                .unwrap_or_else(|| panic!("README default of {key} is not a `literal`: {default}"));
            let v: toml::Table = toml::from_str(&format!("v = {literal}"))
                .unwrap_or_else(|e| panic!("README default of {key}: {e}"));
            Documented::Literal(v["v"].clone())
        };
        rows.push((key, documented));
    }
    assert!(rows.len() > 20, "README table not found: {rows:?}");
    rows
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, toml::Value>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            // Tables of free-form keys are one setting each.
            toml::Value::Table(t)
                if key != "source.kafka" && key != "target.autoCreateProperties" =>
            {
                flatten(&key, t, out)
            }
            _ => {
                out.insert(key, v.clone());
            }
        }
    }
}

/// Removes `key` (e.g. `target.user`) from a TOML text made of `[section]`s.
fn without_key(text: &str, key: &str) -> String {
    let (section, name) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            current = trimmed.trim_matches(['[', ']']).to_owned();
        } else if current == section && trimmed.starts_with(&format!("{name} =")) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn readme_table_matches_code_defaults() {
    let rows = readme_rows();
    let config = Config::parse(MINIMAL).unwrap();
    let effective: toml::Table = toml::from_str(&config.to_masked_toml()).unwrap();
    let mut flat = BTreeMap::new();
    flatten("", &effective, &mut flat);
    let documented: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();

    // Every key of the effective configuration is documented...
    for key in flat.keys() {
        assert!(
            documented.contains(&key.as_str()),
            "`{key}` missing from README table"
        );
    }
    let with_table = format!("{MINIMAL}\n[[tables]]\nsource = \"a.b\"\ntarget = \"c.d\"\n");
    for (key, doc) in &rows {
        match doc {
            Documented::Literal(want) => {
                let got = flat
                    .get(key)
                    .unwrap_or_else(|| panic!("README documents `{key}`, not in effective config"));
                assert_eq!(got, want, "default of `{key}`: code {got}, README {want}");
            }
            Documented::Cpus => {
                assert_eq!(
                    flat.get(key).and_then(toml::Value::as_integer),
                    Some(defaults::consume_parallel() as i64),
                    "{key}"
                );
            }
            Documented::None => {
                assert!(
                    !flat.contains_key(key),
                    "`{key}` documented as unset, has a default"
                );
                // ... and it is a real key.
                let (section, name) = key.rsplit_once('.').unwrap_or(("", key));
                let text = if section.is_empty() {
                    format!("{name} = \"x\"\n{MINIMAL}")
                } else {
                    MINIMAL.replace(
                        &format!("[{section}]"),
                        &format!("[{section}]\n{name} = \"x\""),
                    )
                };
                if let Err(p) = Config::parse(&text) {
                    assert!(
                        !p.iter().any(|p| p.message.contains("unknown key")),
                        "README documents unknown key `{key}`: {p}"
                    );
                }
            }
            Documented::Required => {
                let with_alert = format!("{MINIMAL}\n[[alerts]]\nurl = \"http://hook\"\n");
                let in_array = [("tables", &with_table), ("alerts", &with_alert)]
                    .into_iter()
                    .find_map(|(array, text)| {
                        let name = key.strip_prefix(&format!("{array}[]."))?;
                        let text = text
                            .lines()
                            .filter(|l| !l.starts_with(&format!("{name} =")))
                            .collect::<Vec<_>>()
                            .join("\n");
                        Some((text, format!("{array}[0].{name}")))
                    });
                let (text, path) =
                    in_array.unwrap_or_else(|| (without_key(MINIMAL, key), key.clone()));
                assert_ne!(
                    text.trim(),
                    MINIMAL.trim(),
                    "{key} not in the minimal config"
                );
                let p = problems(&text);
                assert_problem(&p, &path, "missing required key");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CLI

#[test]
fn cli_parses_subcommands() {
    let cli =
        Cli::try_parse_from(["starpipe", "run", "--config", "job.toml", "--stop-at-end"]).unwrap();
    match cli.command {
        Sub::Run(a) => {
            assert_eq!(a.config, Path::new("job.toml"));
            assert!(a.stop_at_end);
        }
        other => panic!("{other:?}"),
    }
    let cli = Cli::try_parse_from(["starpipe", "config", "check", "job.toml"]).unwrap();
    assert!(matches!(cli.command, Sub::Config(ConfigCommand::Check(_))));

    for (flag, mode) in [
        ("--truncate", starpipe::prepare::Mode::Truncate),
        ("--recreate", starpipe::prepare::Mode::Recreate),
    ] {
        let cli = Cli::try_parse_from(["starpipe", "prepare", "--config", "j.toml", flag]).unwrap();
        let Sub::Prepare(p) = cli.command else {
            panic!()
        };
        assert_eq!(p.mode.mode(), mode);
        assert!(!p.yes);
    }
    // Exactly one of --truncate and --recreate.
    for args in [
        &["starpipe", "prepare", "--config", "j.toml"][..],
        &[
            "starpipe",
            "prepare",
            "--config",
            "j.toml",
            "--truncate",
            "--recreate",
        ],
    ] {
        assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
    }

    let cli = Cli::try_parse_from([
        "starpipe",
        "decode",
        "--format",
        "cloudcanal",
        "--pk",
        "shop.orders=id",
        "--pk",
        "shop.items=order_id,line",
        "--default-zero-date",
        "1970-01-01",
        "--source-timezone",
        "+08:00",
        "--timezone",
        "UTC",
        "--enable-time-zone-process",
        "--table",
        "ods.orders",
        "msgs.jsonl",
    ])
    .unwrap();
    let Sub::Decode(d) = cli.command else {
        panic!()
    };
    assert_eq!(d.format, Format::CloudCanal);
    assert_eq!(
        d.table,
        Some(TargetName {
            db: "ods".into(),
            table: "orders".into()
        })
    );
    assert_eq!(
        d.pk[1],
        PkOverride {
            db: "shop".into(),
            table: "items".into(),
            columns: vec!["order_id".into(), "line".into()]
        }
    );
    assert_eq!(d.file.as_deref(), Some(Path::new("msgs.jsonl")));
    let s = d.decode_settings().unwrap();
    assert_eq!(
        s.default_zero_date,
        ZeroDatePolicy::Replace("1970-01-01".into())
    );
    assert_eq!(s.source_timezone.name(), "+08:00");
    assert_eq!(s.target_timezone.unwrap().name(), "UTC");

    // --enable-time-zone-process requires --timezone.
    assert!(
        Cli::try_parse_from([
            "starpipe",
            "decode",
            "--format",
            "canal",
            "--enable-time-zone-process"
        ])
        .is_err()
    );
    // --table takes a literal db.table.
    for bad in ["orders", "ods.*", "ods.a.b", " ods.orders", "ods."] {
        let err = Cli::try_parse_from(["starpipe", "decode", "--format", "canal", "--table", bad])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected a literal `db.table`"),
            "{bad}: {err}"
        );
    }
    // --pk parse errors are clear.
    let err = Cli::try_parse_from([
        "starpipe",
        "decode",
        "--format",
        "canal",
        "--pk",
        "orders=id",
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("expected `db.table=col1,col2`, got `orders=id`"),
        "{err}"
    );
    // Bad decode settings name the flag.
    let cli = Cli::try_parse_from([
        "starpipe",
        "decode",
        "--format",
        "canal",
        "--default-zero-date",
        "0000-00-00",
    ])
    .unwrap();
    let Sub::Decode(d) = cli.command else {
        panic!()
    };
    let p = d.decode_settings().unwrap_err();
    assert_problem(&p, "--default-zero-date", "0000-00-00");
}

#[test]
fn help_lists_subcommands_and_run_reports_a_missing_job_file() {
    let out = starpipe(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["run", "decode", "config"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(sub)),
            "{help}"
        );
    }
    for args in [
        &["run", "--help"][..],
        &["decode", "--help"],
        &["config", "--help"],
        &["config", "check", "--help"],
    ] {
        let out = starpipe(args);
        assert!(out.status.success(), "{args:?}");
    }
    let out = starpipe(&["run", "--config", "does-not-exist.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does-not-exist.toml"));
}
