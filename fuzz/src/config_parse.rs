//! The `config_parse` target: job-file text → `starpipe::config::Config::parse` (the function
//! `Config::read` uses for a file's text).
//!
//! Properties:
//! * never panics; parsing the same text twice gives the same result;
//! * an invalid job has at least one problem, and every problem has a message that says
//!   something and a key path or a place in the file (line ≥ 1, column ≥ 1, a line of the text);
//! * a valid job's effective configuration (`Config::to_masked_toml`, what `starpipe config
//!   check` prints) is itself a valid job that renders the same; without masked secrets it is
//!   the same `Config`, routes the same (`same_tables`) and a reload to it would be refused for
//!   nothing;
//! * the derived views of a valid job do not panic: decode options, explicit targets, routing
//!   of a few names, the table of each topic, glob targets.

use starpipe::config::{Config, MASK, TargetName};

fn says_something(message: &str) -> bool {
    message.chars().any(char::is_alphanumeric)
}

/// The `config_parse` target: `data` as job text (bytes that are not UTF-8 replaced).
pub fn check_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_config_text(&text);
}

/// Checks one job text.
pub fn check_config_text(text: &str) {
    let first = Config::parse(text);
    assert_eq!(first, Config::parse(text), "parsing is not deterministic");
    match first {
        Err(problems) => {
            assert!(!problems.is_empty(), "an invalid job without problems");
            let lines = text.split('\n').count();
            for p in &problems {
                assert!(
                    says_something(&p.message),
                    "problem without a message: {p:?}"
                );
                assert!(
                    !p.path.is_empty() || p.location.is_some(),
                    "problem with neither a key path nor a place: {p:?}"
                );
                if let Some(loc) = p.location {
                    assert!(
                        loc.line >= 1 && loc.column >= 1 && loc.line <= lines,
                        "problem placed outside the text ({lines} lines): {p:?}"
                    );
                }
                assert!(!p.to_string().is_empty());
            }
        }
        Ok(config) => check_valid(&config),
    }
}

fn check_valid(config: &Config) {
    let rendered = config.to_masked_toml();
    let again = Config::parse(&rendered).unwrap_or_else(|problems| {
        panic!(
            "the effective configuration of a valid job is invalid:\n{problems}\n--- rendered:\n{rendered}\n--- config: {config:?}"
        )
    });
    assert_eq!(
        again.to_masked_toml(),
        rendered,
        "the effective configuration renders differently when read back"
    );
    assert!(
        config.same_tables(&again),
        "[[tables]] differ when read back"
    );
    if !rendered.contains(MASK) {
        assert_eq!(
            *config, again,
            "a job without secrets reads back as a different job:\n{rendered}"
        );
        assert_eq!(config.reload_refusals(&again), Vec::<String>::new());
    }

    // Derived views.
    let _ = config.decode_options();
    let _ = config.decode_settings();
    let explicit = config.explicit_targets();
    let _ = config.glob_targets(explicit.iter());
    for topic in &config.source.topics {
        let _ = config.topic_table(topic);
        let _ = config.topic_keys(topic);
    }
    for (db, table) in [("shop", "orders"), ("", ""), ("a.b", "c*"), ("ods", "日本")] {
        let routed = config.route(db, table);
        if let Some(explicit) = config.explicit_route(db, table) {
            assert_eq!(routed, explicit, "route and explicit_route disagree");
        } else {
            assert_eq!(
                routed,
                TargetName {
                    db: db.to_owned(),
                    table: table.to_owned()
                },
                "an unrouted table keeps its name"
            );
        }
        let _ = config.table_keys(db, table);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn minimal_and_broken_jobs_pass() {
        check_config_text(MINIMAL);
        check_config_text(&format!(
            "{MINIMAL}password = \"s3cret\"\n[[tables]]\nsource = \"shop.*\"\ntarget = \"ods.*\"\nkeys = [\"id\"]\n"
        ));
        check_config_text("");
        check_config_text("[source\n");
        check_config_text("onError = 3\n[target]\nflushBatchMb = -1\n");
    }
}
