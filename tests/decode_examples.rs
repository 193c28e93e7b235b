//! Every line of `shared/spec/examples/{canal,cloudcanal}.jsonl` against the expected result in
//! formats.md §6, through the `starpipe decode` command (so the CLI contract is tested too).
//!
//! Settings as §6.0 assumes: source TIMESTAMP zone +08:00, no target zone conversion, zero dates
//! → NULL, and the target PKs of §6.0 given with `--pk`.
//!
//! Expectation syntax, one string per resulting change, in order:
//! `"upsert shop.orders id=1001|note=NULL"` — op, table, and the columns to check (`NULL` = SQL
//! NULL; unlisted columns are not checked); `"ddl ALTER shop.orders"`; `"err Value"`; `""` for
//! a line that must print nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const PKS: &[&str] = &[
    "shop.orders=id",
    "shop.order_items=order_id,line_no",
    "shop.event_log=ts,level",
    "shop.users=id",
    "shop.coupons=id",
    "lab.num_demo=id",
    "lab.time_demo=id",
    "lab.bin_demo=id",
    "lab.misc_demo=id",
];

fn examples(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/spec/examples")
        .join(file)
}

/// Runs `starpipe decode` and returns, per input line, the rendered changes and errors.
fn decode(format: &str, file: &str) -> (BTreeMap<usize, Vec<String>>, bool) {
    decode_with(format, &examples(file), &[])
}

/// [`decode`] on any file, with extra arguments.
fn decode_with(
    format: &str,
    file: &std::path::Path,
    extra: &[&str],
) -> (BTreeMap<usize, Vec<String>>, bool) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_starpipe"));
    cmd.args(["decode", "--format", format, "--source-timezone", "+08:00"]);
    for pk in PKS {
        cmd.args(["--pk", pk]);
    }
    let out = cmd
        .args(extra)
        .arg(file)
        .output()
        .expect("run starpipe decode");
    let mut lines: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for l in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("bad output {l}: {e}"));
        let n = v["line"].as_u64().unwrap() as usize;
        let table = format!(
            "{}.{}",
            v["db"].as_str().unwrap(),
            v["table"].as_str().unwrap()
        );
        let rendered = match v["op"].as_str().unwrap() {
            "ddl" => format!("ddl {} {table}", v["kind"].as_str().unwrap()),
            op => {
                let row = v["row"].as_object().unwrap();
                let cols: Vec<String> = row
                    .iter()
                    .map(|(k, v)| match v {
                        Value::Null => format!("{k}=NULL"),
                        Value::String(s) => format!("{k}={s}"),
                        other => panic!("value must be a string or null: {other}"),
                    })
                    .collect();
                format!("{op} {table} {}", cols.join("|"))
            }
        };
        lines.entry(n).or_default().push(rendered);
    }
    for l in String::from_utf8(out.stderr).unwrap().lines() {
        let rest = l
            .strip_prefix("line ")
            .unwrap_or_else(|| panic!("bad stderr {l}"));
        let (n, msg) = rest.split_once(": ").unwrap();
        let class = msg.split(':').next().unwrap();
        lines
            .entry(n.parse().unwrap())
            .or_default()
            .push(format!("err {class}"));
    }
    (lines, out.status.code() == Some(1))
}

/// Checks `actual` (full rendering) against `expected` (subset of columns).
fn matches(expected: &str, actual: &str) -> bool {
    let (e_head, e_cols) = split_change(expected);
    let (a_head, a_cols) = split_change(actual);
    e_head == a_head
        && e_cols
            .iter()
            .all(|(k, v)| a_cols.iter().any(|(ak, av)| ak == k && av == v))
}

fn split_change(s: &str) -> (String, Vec<(&str, &str)>) {
    let mut parts = s.splitn(3, ' ');
    let op = parts.next().unwrap_or("");
    let table = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("");
    if op == "ddl" || op == "err" {
        return (s.to_string(), Vec::new());
    }
    let cols = rest
        .split('|')
        .filter(|c| !c.is_empty())
        .map(|c| c.split_once('=').unwrap())
        .collect();
    (format!("{op} {table}"), cols)
}

fn check(format: &str, file: &str, expected: &[(usize, &[&str])], total_lines: usize) {
    let (actual, exit_one) = decode(format, file);
    assert!(exit_one, "exit status must be 1 when a line fails");
    let mut failures = Vec::new();
    for n in 1..=total_lines {
        let exp: &[&str] = expected
            .iter()
            .find(|(l, _)| *l == n)
            .map(|(_, e)| *e)
            .unwrap_or_else(|| panic!("no expectation for {file} line {n}"));
        let got = actual.get(&n).cloned().unwrap_or_default();
        let exp: Vec<&str> = exp.iter().copied().filter(|e| !e.is_empty()).collect();
        let ok = exp.len() == got.len() && exp.iter().zip(&got).all(|(e, a)| matches(e, a));
        if !ok {
            failures.push(format!(
                "{file} line {n}:\n  expected {exp:#?}\n  got      {got:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const ORDERS_1001: &str = "upsert shop.orders id=1001|user_id=42|amount=99.90|status=NEW|note=NULL|created_at=2024-06-01 10:00:00|updated_at=2024-06-01 10:00:00.123";
const ORDERS_1002: &str = "upsert shop.orders id=1002|user_id=42|amount=10.00|status=NEW|note=gift|created_at=2024-06-01 10:00:01|updated_at=2024-06-01 10:00:01.000";
const ORDERS_1003: &str = "upsert shop.orders id=1003|user_id=43|amount=10.00|status=PAID|note=NULL|created_at=2024-06-01 10:00:01|updated_at=2024-06-01 10:00:01.000";
const ORDERS_1004: &str = "upsert shop.orders id=1004|user_id=44|amount=0.00|status=NEW|note=|created_at=2024-06-01 10:00:01|updated_at=2024-06-01 10:00:01.000";
const PK_CHANGE_2004: [&str; 2] = [
    "delete shop.orders id=1004",
    "upsert shop.orders id=2004|user_id=44|amount=0.00|status=NEW|note=|created_at=2024-06-01 10:00:01|updated_at=2024-06-01 10:07:00.000",
];
const ITEMS: [&str; 2] = [
    "upsert shop.order_items order_id=2004|line_no=1|sku=SKU-A|qty=1",
    "upsert shop.order_items order_id=2004|line_no=2|sku=SKU-B|qty=3",
];
const ITEMS_PK_CHANGE: [&str; 2] = [
    "delete shop.order_items order_id=2004|line_no=2",
    "upsert shop.order_items order_id=2004|line_no=3|sku=SKU-B|qty=4",
];
const EVENT: &str = "upsert shop.event_log ts=2024-06-01 10:11:00.000001|level=INFO|msg=started";
const EVENT_DEL: &str = "delete shop.event_log ts=2024-06-01 10:11:00.000001|level=INFO";
const NUM_MAX: &str = "upsert lab.num_demo id=1|c_tiny_u=255|c_int_u=4294967295|c_big_u=18446744073709551615|c_big=9223372036854775807|c_dec=99999999999999999999999999999999999.999999999999999999999999999999|c_float=-0.0|c_double=1.0E308";
const TIME_ZERO: [&str; 2] = [
    "upsert lab.time_demo id=1|c_date=NULL|c_time=00:00:00.000|c_year=0|c_dt=NULL|c_dt6=NULL|c_ts=NULL|c_ts3=NULL",
    "upsert lab.time_demo id=2|c_date=NULL|c_time=NULL|c_year=1901|c_dt=NULL|c_dt6=NULL|c_ts=NULL|c_ts3=NULL",
];
const TIME_LIMITS: [&str; 2] = [
    "upsert lab.time_demo id=3|c_date=2024-02-29|c_time=-838:59:59.000|c_year=2155|c_dt=9999-12-31 23:59:59|c_dt6=2024-02-29 23:59:59.999999|c_ts=2038-01-19 11:14:07|c_ts3=1970-01-01 08:00:01.000",
    "upsert lab.time_demo id=4|c_date=1000-01-01|c_time=838:59:59.999|c_year=1970|c_dt=1000-01-01 00:00:00|c_dt6=2024-06-01 10:00:00.000001|c_ts=2024-06-01 10:00:00|c_ts3=2024-06-01 10:00:00.050",
];
const BIN: [&str; 2] = [
    "upsert lab.bin_demo id=1|c_char=abc|c_bin=0x00017f80|c_varbin=0xfffe3c262d|c_blob=0x68656c6c6f00776f726c64|c_text=plain text ✓|c_geo=0x000000000101000000000000000000f03f0000000000000040",
    "upsert lab.bin_demo id=2|c_char=|c_bin=NULL|c_varbin=0x|c_blob=NULL|c_text=|c_geo=NULL",
];
const JSON_DOC: &str = r#"{"a": {"b": [1, 2.5, {"c": null}]}, "s": "x\"y", "u": "é"}"#;
const MISC_ENUMS: [&str; 3] = [
    "upsert lab.misc_demo id=4|c_json=[]|c_enum=medium|c_set=a,c",
    "upsert lab.misc_demo id=5|c_json={}|c_enum=|c_set=",
    "upsert lab.misc_demo id=6|c_json=\"just a string\"|c_enum=large|c_set=a,b,c,d",
];

#[test]
fn canal_examples_match_formats_section_6_1() {
    let misc_22 = [
        format!(
            "upsert lab.misc_demo id=1|c_json={JSON_DOC}|c_enum=small|c_set=a|c_bit8=0|c_bit1=0|c_bit64=0"
        ),
        "upsert lab.misc_demo id=2|c_json=null|c_enum=NULL|c_set=NULL|c_bit8=NULL".into(),
        "upsert lab.misc_demo id=3|c_json=NULL|c_enum=NULL|c_set=NULL|c_bit64=NULL".into(),
    ];
    let misc_22: Vec<&str> = misc_22.iter().map(String::as_str).collect();
    let expected: &[(usize, &[&str])] = &[
        (1, &[ORDERS_1001]),
        (2, &[ORDERS_1002, ORDERS_1003, ORDERS_1004]),
        (
            3,
            &[
                "upsert shop.orders id=1001|user_id=42|amount=99.90|status=PAID|note=NULL|updated_at=2024-06-01 10:05:00.456",
            ],
        ),
        (
            4,
            &[
                "upsert shop.orders id=1002|status=PAID|updated_at=2024-06-01 10:06:00.000",
                "upsert shop.orders id=1003|amount=12.50|status=PAID",
            ],
        ),
        (5, &PK_CHANGE_2004),
        (6, &["delete shop.orders id=1001"]),
        (
            7,
            &["delete shop.orders id=1002", "delete shop.orders id=1003"],
        ),
        (8, &ITEMS),
        (9, &ITEMS_PK_CHANGE),
        (10, &[EVENT, EVENT]),
        (11, &[EVENT_DEL]),
        (12, &["upsert shop.users id=7|name=NULL|bio=NULL|email="]),
        (13, &["upsert shop.users id=7|name=Ann|bio=NULL|email=NULL"]),
        (
            14,
            &["upsert shop.users id=8|name=张三 😀 Ünïcödé|email=o'brien@example.com"],
        ),
        (15, &["upsert shop.users id=9|name=long|email=NULL"]),
        (16, &[NUM_MAX]),
        (
            17,
            &[
                "upsert lab.num_demo id=2|c_tiny_u=0|c_int_u=0|c_big_u=9223372036854775808|c_big=-9223372036854775808|c_dec=-0.000000000000000000000000000001|c_float=1.4E-45|c_double=-4.9E-324",
                "upsert lab.num_demo id=3|c_tiny_u=128|c_int_u=2147483648|c_big_u=0|c_big=0|c_dec=0.000000000000000000000000000000|c_float=3.4028235E38",
                "upsert lab.num_demo id=4|c_tiny_u=127|c_int_u=2147483647|c_big_u=9223372036854775807|c_big=-1|c_dec=12.500000000000000000000000000000|c_float=0.1|c_double=100.0",
            ],
        ),
        (18, &TIME_ZERO),
        (19, &TIME_LIMITS),
        (
            20,
            &[
                "upsert lab.time_demo id=5|c_date=2024-06-01|c_time=18:00:00.000|c_year=2024|c_dt=2024-06-01 18:00:00|c_dt6=2024-06-01 18:00:00.000000|c_ts=2024-06-01 18:00:00|c_ts3=2024-06-01 18:00:00.000",
            ],
        ),
        (21, &BIN),
        (22, &misc_22),
        (23, &MISC_ENUMS),
        (
            24,
            &[
                "upsert lab.misc_demo id=7|c_bit8=165|c_bit1=1|c_bit64=18446744073709551615",
                "upsert lab.misc_demo id=8|c_bit8=0|c_bit1=0|c_bit64=9223372036854775808",
            ],
        ),
        (25, &["ddl CREATE shop.coupons"]),
        (26, &["ddl ALTER shop.orders"]),
        (27, &["ddl ALTER shop.orders"]),
        (28, &["ddl ALTER shop.orders"]),
        (29, &["ddl RENAME shop.vouchers"]),
        (30, &["ddl TRUNCATE shop.event_log"]),
        (31, &["ddl ERASE shop.vouchers"]),
        (32, &["ddl CINDEX shop.orders"]),
        (33, &["ddl DINDEX shop.orders"]),
        (34, &["ddl QUERY analytics."]),
        (35, &[""]),
        (36, &["err StatementDml"]),
        (37, &["ddl ALTER shop.orders"]),
        (
            38,
            &[
                "upsert shop.orders id=2004|user_id=44|amount=5.00|status=PAID|channel=app|created_at=2024-06-01 10:00:01|updated_at=2024-06-01 10:40:00.000",
            ],
        ),
        (
            39,
            &["upsert shop.users id=7|name=Ann|bio=NULL|email=ann@example.com"],
        ),
        (40, &[""]),
        (41, &["ddl QUERY analytics."]),
        (42, &["err Envelope"]),
        (43, &["err MissingKey"]),
        (
            44,
            &["upsert shop.users id=8|name=Zhang San|bio=b|email=NULL"],
        ),
        (45, &[""]),
        (46, &["delete shop.users id=9"]),
        (47, &["err Malformed"]),
        (48, &["err Envelope"]),
        (49, &["err Envelope"]),
        (50, &["err Envelope"]),
        (51, &["err UnknownType"]),
        (52, &["err Envelope"]),
        (53, &["err DuplicateKey"]),
        (54, &["err DuplicateKey"]),
        (55, &["err Envelope"]),
        (56, &["err Malformed"]),
        (57, &["delete shop.users id=8"]),
        (58, &["err Unsupported"]),
        (59, &["err Value"]),
        (60, &["upsert Shop-EU.Order Items Order-ID=1|行号=1|SKU=A"]),
        (61, &["err Unsupported"]),
    ];
    check("canal", "canal.jsonl", expected, 61);
}

#[test]
fn cloudcanal_examples_match_formats_section_6_2() {
    let misc_22 = [
        format!(
            "upsert lab.misc_demo id=1|c_json={JSON_DOC}|c_enum=small|c_set=a|c_bit8=0|c_bit1=0|c_bit64=0"
        ),
        r#"upsert lab.misc_demo id=2|c_json={"a":{"b":[1,2.5,{"c":null}]},"k":"v"}|c_enum=NULL"#
            .into(),
        "upsert lab.misc_demo id=3|c_json=NULL|c_enum=NULL".into(),
    ];
    let misc_22: Vec<&str> = misc_22.iter().map(String::as_str).collect();
    let expected: &[(usize, &[&str])] = &[
        (1, &[ORDERS_1001]),
        (2, &[ORDERS_1002, ORDERS_1003, ORDERS_1004]),
        (
            3,
            &["upsert shop.orders id=1001|status=PAID|updated_at=2024-06-01 10:05:00.456"],
        ),
        (
            4,
            &[
                "upsert shop.orders id=1002|status=PAID|updated_at=2024-06-01 10:06:00.000",
                "upsert shop.orders id=1003|amount=12.50|status=PAID|updated_at=2024-06-01 10:06:00.000",
            ],
        ),
        (5, &PK_CHANGE_2004),
        (6, &["delete shop.orders id=1001"]),
        (
            7,
            &["delete shop.orders id=1002", "delete shop.orders id=1003"],
        ),
        (8, &ITEMS),
        (9, &ITEMS_PK_CHANGE),
        (10, &[EVENT, EVENT]),
        (11, &[EVENT_DEL]),
        (12, &["upsert shop.users id=7|name=NULL|bio=NULL|email="]),
        (13, &["upsert shop.users id=7|name=Ann|bio=NULL|email=NULL"]),
        (
            14,
            &["upsert shop.users id=8|name=张三 😀 Ünïcödé|email=o'brien@example.com"],
        ),
        (15, &["upsert shop.users id=9|name=long|email=NULL"]),
        (16, &[NUM_MAX]),
        (
            17,
            &[
                "upsert lab.num_demo id=2|c_tiny_u=0|c_int_u=2147483648|c_big_u=18446744073709551615|c_big=-9223372036854775808|c_dec=-0.000000000000000000000000000001|c_float=-0.0|c_double=1e308",
                "upsert lab.num_demo id=3|c_tiny_u=128|c_int_u=0|c_big_u=9223372036854775808|c_big=0|c_dec=12345678901234567890123456789012345.123456789012345678901234567890|c_float=3.4028235E38|c_double=4.9E-324",
            ],
        ),
        (18, &TIME_ZERO),
        (19, &TIME_LIMITS),
        (
            20,
            &[
                "upsert lab.time_demo id=5|c_date=2024-06-01|c_time=18:00:00|c_year=2024|c_dt=2024-06-01 18:00:00|c_dt6=2024-06-01 18:00:00.000000|c_ts=2024-06-01 18:00:00|c_ts3=2024-06-01 18:00:00.000",
            ],
        ),
        (21, &BIN),
        (22, &misc_22),
        (23, &MISC_ENUMS),
        (
            24,
            &[
                "upsert lab.misc_demo id=7|c_bit8=165|c_bit1=1|c_bit64=18446744073709551615",
                "upsert lab.misc_demo id=8|c_bit8=0|c_bit1=1|c_bit64=9223372036854775808",
            ],
        ),
        (25, &["ddl CREATE shop.coupons"]),
        (26, &["ddl ALTER shop.orders"]),
        (27, &["ddl ALTER shop.orders"]),
        (28, &["ddl ALTER shop.orders"]),
        (29, &["ddl RENAME shop.vouchers"]),
        (30, &["ddl TRUNCATE shop.event_log"]),
        (31, &["ddl DROP shop.vouchers"]),
        (32, &[""]),
        (33, &[""]),
        (34, &["err Envelope"]),
        (35, &["err MissingKey"]),
        (36, &["err Malformed"]),
        (37, &["err Envelope"]),
        (38, &["err Envelope"]),
        (39, &["err UnknownType"]),
        (40, &["err Envelope"]),
        (41, &["err DuplicateKey"]),
        (
            42,
            &["upsert shop.users id=8|name=Zhang San|bio=b|email=NULL"],
        ),
        (
            43,
            &["upsert shop.users id=8|name=Zhang San|bio=c|email=NULL"],
        ),
        (
            44,
            &[
                "upsert pgdb.accounts id=5|active=true|balance=12.3400000000|created=2024-06-01 10:00:00.123456",
            ],
        ),
        (
            45,
            &["upsert shop.users id=12|name=no-entry-type|bio=NULL|email=NULL"],
        ),
        (46, &["err Value"]),
    ];
    check("cloudcanal", "cloudcanal.jsonl", expected, 46);
}

/// Lines 14 and 15 hold values that do not fit the compact syntax above: check them exactly.
#[test]
fn unicode_and_long_values_are_exact() {
    for (format, file) in [("canal", "canal.jsonl"), ("cloudcanal", "cloudcanal.jsonl")] {
        let out = Command::new(env!("CARGO_BIN_EXE_starpipe"))
            .args(["decode", "--format", format])
            .arg(examples(file))
            .output()
            .unwrap();
        let rows: Vec<Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let bio = |id: &str| {
            rows.iter()
                .find(|r| {
                    r["table"] == "users" && r["row"]["id"] == id && r["line"].as_u64() < Some(16)
                })
                .map(|r| r["row"]["bio"].as_str().unwrap().to_string())
                .unwrap()
        };
        assert_eq!(
            bio("8"),
            "quote:\" backslash:\\ slash:/ nl:\n cr:\r tab:\t nul:\u{0} bell:\u{7} ls:\u{2028} rocket:🚀"
        );
        let long = bio("9");
        assert_eq!(long.chars().count(), 70003);
        assert!(long.starts_with(&"x".repeat(70000)) && long.ends_with("END"));
    }
}

/// With `--enable-time-zone-process --timezone UTC`, TIMESTAMP columns move to UTC and
/// DATETIME columns do not (formats.md §6.1 line 20).
#[test]
fn timestamp_zone_conversion() {
    let out = Command::new(env!("CARGO_BIN_EXE_starpipe"))
        .args([
            "decode",
            "--format",
            "canal",
            "--source-timezone",
            "+08:00",
            "--timezone",
            "UTC",
            "--enable-time-zone-process",
        ])
        .arg(examples("canal.jsonl"))
        .output()
        .unwrap();
    let line20: Value = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["line"] == 20)
        .unwrap();
    assert_eq!(line20["row"]["c_ts"], "2024-06-01 10:00:00");
    assert_eq!(line20["row"]["c_ts3"], "2024-06-01 10:00:00.000");
    assert_eq!(line20["row"]["c_dt"], "2024-06-01 18:00:00");
}

/// `--default-zero-date error` fails the zero-date message; a replacement literal is written.
#[test]
fn zero_date_policies() {
    let run = |policy: &str| {
        Command::new(env!("CARGO_BIN_EXE_starpipe"))
            .args(["decode", "--format", "canal", "--default-zero-date", policy])
            .arg(examples("canal.jsonl"))
            .output()
            .unwrap()
    };
    let err = run("error");
    assert!(
        String::from_utf8(err.stderr)
            .unwrap()
            .contains("line 18: Value:")
    );
    let rep = run("1970-01-01 00:00:00");
    let line18: Vec<Value> = String::from_utf8(rep.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["line"] == 18)
        .collect();
    assert_eq!(line18[0]["row"]["c_date"], "1970-01-01");
    assert_eq!(line18[0]["row"]["c_dt"], "1970-01-01 00:00:00");
    assert_eq!(line18[0]["row"]["c_year"], "0");
}

/// Found by `fuzz/` (regressions/decode_*): an empty row object is a partial row image, not a
/// change without columns, whatever else the message carries.
#[test]
fn empty_row_objects_are_rejected() {
    use starpipe::decode::{DecodeOptions, Decoder, ErrorClass, Format, MessageKeys};
    let cases: [(Format, &str); 2] = [
        (
            Format::CloudCanal,
            r#"{"action":"INSERT","data":[{"id":"7"},{}],"db":"lab","table":"t"}"#,
        ),
        (
            Format::Canal,
            r#"{"type":"DELETE","data":[{}],"database":"lab","table":"t","isDdl":false}"#,
        ),
    ];
    for (format, message) in cases {
        let mut decoder = Decoder::new(DecodeOptions::new(format));
        let mut buf = message.as_bytes().to_vec();
        let err = decoder.decode(&mut buf, &MessageKeys).unwrap_err();
        assert_eq!(err.class, ErrorClass::PartialRow, "{message}");
    }
}

/// A row that lacks a column of the type map is a partial row image even when it carries a
/// column the map does not list in its place: the cells are as many as the map's columns, but a
/// full-row upsert would still overwrite the missing one with NULL or its default (formats.md
/// §4.4). Found in review: the check was skipped whenever the row had as many cells as the map.
#[test]
fn a_column_the_map_does_not_list_does_not_stand_in_for_a_missing_one() {
    use starpipe::decode::{DecodeOptions, Decoder, ErrorClass, Format, MessageKeys};
    let rows = [
        r#"{"a":"1","x":"2"}"#,
        r#"{"x":"2","a":"1"}"#,
        r#"{"a":"1","x":"2","y":"3"}"#,
    ];
    for row in rows {
        for (format, message) in [
            (
                Format::Canal,
                format!(
                    r#"{{"type":"INSERT","database":"d","table":"t","isDdl":false,"pkNames":["a"],
                        "mysqlType":{{"a":"int","b":"varchar(8)"}},"data":[{row}]}}"#
                ),
            ),
            (
                Format::Canal,
                format!(
                    r#"{{"type":"UPDATE","database":"d","table":"t","isDdl":false,"pkNames":["a"],
                        "mysqlType":{{"a":"int","b":"varchar(8)"}},"data":[{row}],"old":[{{"x":"0"}}]}}"#
                ),
            ),
            (
                Format::CloudCanal,
                format!(
                    r#"{{"action":"INSERT","db":"d","table":"t","pks":["a"],
                        "dbValType":{{"a":"int","b":"varchar(8)"}},"data":[{row}]}}"#
                ),
            ),
        ] {
            let mut decoder = Decoder::new(DecodeOptions::new(format));
            let mut buf = message.clone().into_bytes();
            let err = decoder
                .decode(&mut buf, &MessageKeys)
                .err()
                .unwrap_or_else(|| panic!("decoded: {message}"));
            assert_eq!(err.class, ErrorClass::PartialRow, "{message}");
        }
    }
}

/// `--table db.table` gives the messages that name no table (Flink's canal-json sink output,
/// formats.md §6.1 line 42) that table; every message that names its table keeps it.
#[test]
fn fallback_table_only_for_messages_without_identity() {
    for (format, file, flink_line) in [
        ("canal", "canal.jsonl", Some(42)),
        ("cloudcanal", "cloudcanal.jsonl", None),
    ] {
        let (plain, _) = decode(format, file);
        let (with, _) = decode_with(format, &examples(file), &["--table", "shop.users"]);
        let lines: std::collections::BTreeSet<usize> =
            plain.keys().chain(with.keys()).copied().collect();
        for n in lines {
            if Some(n) == flink_line {
                assert_eq!(plain[&n], ["err Envelope"]);
                assert_eq!(
                    with[&n],
                    [
                        "delete shop.users id=7|name=Ann|bio=NULL|email=ann@example.com|score=15000000000.0|active=true"
                    ]
                );
            } else {
                assert_eq!(plain.get(&n), with.get(&n), "{file} line {n}");
            }
        }
    }
    // A bad --table is a usage error.
    for bad in ["shop", "shop.*", "shop.a.b", ".users"] {
        let out = Command::new(env!("CARGO_BIN_EXE_starpipe"))
            .args(["decode", "--format", "canal", "--table", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
}

/// Issue 16: canal-json as other projects write it — SERIAL, BOOL / BOOLEAN, MySQL type aliases,
/// Alibaba Cloud DTS `INIT` rows.
#[test]
fn other_producers_canal_json() {
    let lines = [
        // 1: Paimon's all-types message: SERIAL is BIGINT UNSIGNED.
        r#"{"data":[{"_id":"1","_serial":"40000000000"},{"_id":"2","_serial":"50000000000"}],"database":"paimon_sync_table","table":"all_types_table","type":"INSERT","isDdl":false,"pkNames":["_id"],"mysqlType":{"_id":"INT","_serial":"SERIAL"},"old":null,"es":1683006706000,"ts":1683006706000,"id":1,"sql":""}"#,
        // 2: SERIAL bounds.
        r#"{"data":[{"id":"1","s":"0"},{"id":"2","s":"18446744073709551615"}],"database":"lab","table":"t","type":"INSERT","isDdl":false,"pkNames":["id"],"mysqlType":{"id":"int","s":"serial"}}"#,
        // 3: SERIAL is unsigned.
        r#"{"data":[{"id":"1","s":"-1"}],"database":"lab","table":"t","type":"INSERT","isDdl":false,"pkNames":["id"],"mysqlType":{"id":"int","s":"serial"}}"#,
        // 4: BOOL / BOOLEAN hold any TINYINT value, like tinyint(1).
        r#"{"data":[{"id":"1","a":"5","b":"-128","c":"1"},{"id":"2","a":"0","b":"127","c":"5"}],"database":"lab","table":"t","type":"INSERT","isDdl":false,"pkNames":["id"],"mysqlType":{"id":"int","a":"bool","b":"BOOLEAN","c":"tinyint(1)"}}"#,
        // 5: ... and nothing beyond it.
        r#"{"data":[{"id":"1","a":"128"}],"database":"lab","table":"t","type":"INSERT","isDdl":false,"pkNames":["id"],"mysqlType":{"id":"int","a":"boolean"}}"#,
        // 6: aliases MySQL maps at CREATE TABLE, as DDL-parsed metadata passes them through.
        r#"{"data":[{"id":"8388607","m":"-8388608","lv":"ÿ","lc":"long text","n":"ñ","d":"1.0E308","x":"12.50"}],"database":"lab","table":"t","type":"INSERT","isDdl":false,"pkNames":["id"],"mysqlType":{"id":"middleint unsigned","m":"MIDDLEINT","lv":"long varbinary","lc":"LONG VARCHAR","n":"national char(4)","d":"double precision","x":"fixed(10,2)"}}"#,
        // 7: Alibaba Cloud DTS initial-load rows.
        r#"{"data":[{"id":"1","name":"a"},{"id":"2","name":"b"}],"database":"lab","table":"t","type":"INIT","isDdl":false,"pkNames":["id"],"mysqlType":{"id":"int","name":"varchar(8)"},"old":null,"sql":""}"#,
        // 8: ... matched case-insensitively like every type.
        r#"{"data":[{"id":"3"}],"database":"lab","table":"t","type":"init","isDdl":false,"pkNames":["id"]}"#,
        // 9: INIT without rows is not a known type.
        r#"{"data":null,"database":"lab","table":"t","type":"INIT","isDdl":false}"#,
    ];
    let file = std::env::temp_dir().join(format!("starpipe-issue16-{}.jsonl", std::process::id()));
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (got, _) = decode_with("canal", &file, &["--pk", "lab.t=id"]);
    std::fs::remove_file(&file).ok();
    let expected: &[(usize, &[&str])] = &[
        (
            1,
            &[
                "upsert paimon_sync_table.all_types_table _id=1|_serial=40000000000",
                "upsert paimon_sync_table.all_types_table _id=2|_serial=50000000000",
            ],
        ),
        (
            2,
            &[
                "upsert lab.t id=1|s=0",
                "upsert lab.t id=2|s=18446744073709551615",
            ],
        ),
        (3, &["err Value"]),
        (
            4,
            &[
                "upsert lab.t id=1|a=5|b=-128|c=1",
                "upsert lab.t id=2|a=0|b=127|c=5",
            ],
        ),
        (5, &["err Value"]),
        (
            6,
            &["upsert lab.t id=8388607|m=-8388608|lv=0xff|lc=long text|n=ñ|d=1.0E308|x=12.50"],
        ),
        (7, &["upsert lab.t id=1|name=a", "upsert lab.t id=2|name=b"]),
        (8, &["upsert lab.t id=3"]),
        (9, &["err UnknownType"]),
    ];
    let mut failures = Vec::new();
    for (n, exp) in expected {
        let g = got.get(n).cloned().unwrap_or_default();
        if !(exp.len() == g.len() && exp.iter().zip(&g).all(|(e, a)| matches(e, a))) {
            failures.push(format!("line {n}: expected {exp:?}, got {g:?}"));
        }
    }
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The decoder's fallback table (what a `[[tables]]` entry with `topic` gives a topic's decoder):
/// used only by messages that name no table, and marked on the batch so that the engine loads it
/// as is instead of routing it again.
#[test]
fn fallback_table_is_marked_on_the_batch() {
    use starpipe::decode::{DecodeOptions, Decoded, Decoder, Format, MessageKeys};
    use starpipe::model::Warnings;
    let cases: [(Format, &str, &str, bool); 5] = [
        (
            Format::Canal,
            r#"{"data":[{"id":7}],"type":"INSERT"}"#,
            "ods.orders",
            true,
        ),
        (
            Format::Canal,
            r#"{"data":[{"id":"7"}],"type":"INSERT","database":"shop","table":""}"#,
            "ods.orders",
            true,
        ),
        (
            Format::Canal,
            r#"{"data":[{"id":"7"}],"type":"INSERT","database":"shop","table":"orders"}"#,
            "shop.orders",
            false,
        ),
        (
            Format::CloudCanal,
            r#"{"action":"INSERT","data":[{"id":"7"}]}"#,
            "ods.orders",
            true,
        ),
        (
            Format::CloudCanal,
            r#"{"action":"INSERT","data":[{"id":"7"}],"db":"pgdb","schema":"public","table":"t"}"#,
            "pgdb.public.t",
            false,
        ),
    ];
    for (format, message, table, fallback) in cases {
        let mut options = DecodeOptions::new(format);
        options.fallback_table = Some(("ods".into(), "orders".into()));
        let mut decoder = Decoder::new(options);
        let mut buf = message.as_bytes().to_vec();
        let Decoded::Rows(batch) = decoder.decode(&mut buf, &MessageKeys).unwrap() else {
            panic!("{message}")
        };
        assert_eq!(batch.table.to_string(), table, "{message}");
        assert_eq!(
            batch.warnings.contains(Warnings::TABLE_FROM_FALLBACK),
            fallback,
            "{message}"
        );
    }
}

/// The before-image overlay takes a fast path while the before image, the after image and the
/// type map list the same columns in the same order; every other shape must give the same
/// result as that path would, and a repeated before-image key stays an error.
#[test]
fn before_images_overlay_the_after_image_in_any_column_order() {
    use starpipe::decode::{DecodeOptions, Decoder, Format};
    let decode = |message: &str| {
        decoded_changes(
            &mut Decoder::new(DecodeOptions::new(Format::CloudCanal)),
            message,
        )
    };
    let message = |after: &str, before: &str| {
        format!(
            r#"{{"action":"UPDATE","db":"d","table":"t","pks":["a"],
                "dbValType":{{"a":"int","b":"varchar(8)","c":"int"}},
                "data":[{after}],"before":[{before}]}}"#
        )
    };
    let key_change = [
        "Delete a=1 b=x c=3".to_string(),
        "Upsert a=2 b=y c=3".to_string(),
    ];
    // Aligned throughout.
    assert_eq!(
        decode(&message(
            r#"{"a":2,"b":"y","c":3}"#,
            r#"{"a":1,"b":"x","c":3}"#
        )),
        Ok(key_change.to_vec())
    );
    // The after image out of order: the before image is aligned with the type map but not with
    // the after image's cells.
    let reordered = decode(&message(
        r#"{"b":"y","a":2,"c":3}"#,
        r#"{"a":1,"b":"x","c":3}"#,
    ))
    .unwrap();
    assert_eq!(reordered, ["Delete b=x a=1 c=3", "Upsert b=y a=2 c=3"]);
    // The before image out of order, and a partial one (only the changed columns).
    assert_eq!(
        decode(&message(r#"{"a":2,"b":"y","c":3}"#, r#"{"b":"x","a":1}"#)),
        Ok(key_change.to_vec())
    );
    // A repeated key in the before image, after an aligned prefix.
    assert_eq!(
        decode(&message(
            r#"{"a":2,"b":"y","c":3}"#,
            r#"{"a":1,"b":"x","a":1}"#
        )),
        Err("DuplicateKey".to_string())
    );
}

/// Each change `message` decodes to as `Op name=value …` (`NULL` for SQL NULL), or the error's
/// class.
fn decoded_changes(
    decoder: &mut starpipe::decode::Decoder,
    message: &str,
) -> Result<Vec<String>, String> {
    use starpipe::decode::{Decoded, MessageKeys};
    let mut buf = message.as_bytes().to_vec();
    match decoder.decode(&mut buf, &MessageKeys) {
        Ok(Decoded::Rows(batch)) => Ok(batch
            .changes()
            .map(|c| {
                let cols: Vec<String> = c
                    .row
                    .columns()
                    .map(|col| {
                        let value = col.value.bytes().unwrap_or(b"NULL");
                        format!("{}={}", col.name, String::from_utf8_lossy(value))
                    })
                    .collect();
                format!("{:?} {}", c.op, cols.join(" "))
            })
            .collect()),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e.class.as_str().to_string()),
    }
}

/// The overlay against a model of it, on row images of any shape: before images that list the
/// type map's columns in any order, some of them (canal's `old` lists the updated columns, in
/// the map's order, which the overlay takes a fast path for), repeated, or columns the map does
/// not list (`x`, and `A`, which only differs from the key `a` in case); after images in the
/// map's order or another, with a column the map does not list, or without one of the map's.
/// The model: a row without the key is MissingKey, without another column of the map
/// PartialRow; a repeated before-image key is DuplicateKey; the before image is the after image
/// with each column it lists replaced, and the columns the after image lacks added in its
/// order; it is loaded (as a DELETE) only when the key changed.
#[test]
fn before_images_of_any_shape_overlay_as_the_model_says() {
    use proptest::prelude::*;
    use starpipe::decode::{DecodeOptions, Decoder, Format};
    // The map's columns, then two it does not list.
    const NAMES: [&str; 8] = ["a", "b", "c", "d", "e", "f", "x", "A"];
    const MAP_MAX: usize = 6;
    let shapes = (2..=MAP_MAX).prop_flat_map(|n| {
        (
            Just(n),
            Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
            any::<bool>(),
            proptest::option::weighted(0.2, 0..n),
            proptest::option::weighted(0.3, 0..=n),
            prop::collection::vec(prop_oneof![4 => 0..n, 1 => MAP_MAX..NAMES.len()], 0..=n + 2),
            any::<bool>(),
        )
    });
    // One decoder for all cases, as a worker keeps one: its cached type maps come and go.
    let decoder = std::cell::RefCell::new(Decoder::new(DecodeOptions::new(Format::Canal)));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 3000,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &shapes,
            |(n, shuffled, map_order, dropped, extra_at, mut before, ordered)| {
                let mut after = if map_order {
                    (0..n).collect()
                } else {
                    shuffled
                };
                if let Some(d) = dropped {
                    after.retain(|&i| i != d);
                }
                if let Some(at) = extra_at {
                    after.insert(at.min(after.len()), MAP_MAX); // `x`
                }
                if ordered {
                    // In the map's order without repeats, as canal writes `old`.
                    before.sort_unstable();
                    before.dedup();
                }
                let members = |cols: &[usize], side: char| -> String {
                    let m: Vec<String> = cols
                        .iter()
                        .map(|&i| format!(r#""{0}":"{side}{0}""#, NAMES[i]))
                        .collect();
                    m.join(",")
                };
                let types: Vec<String> = NAMES[..n]
                    .iter()
                    .map(|c| format!(r#""{c}":"varchar(8)""#))
                    .collect();
                let message = format!(
                    r#"{{"type":"UPDATE","database":"d","table":"t","isDdl":false,"pkNames":["a"],
                        "mysqlType":{{{}}},"data":[{{{}}}],"old":[{{{}}}]}}"#,
                    types.join(","),
                    members(&after, 'A'),
                    members(&before, 'B')
                );
                let got = decoded_changes(&mut decoder.borrow_mut(), &message);
                let image = |listed: &[usize]| -> String {
                    let cell = |i: usize, side: char| format!("{0}={side}{0}", NAMES[i]);
                    let mut cols: Vec<String> = after
                        .iter()
                        .map(|&i| cell(i, if listed.contains(&i) { 'B' } else { 'A' }))
                        .collect();
                    cols.extend(
                        listed
                            .iter()
                            .filter(|i| !after.contains(i))
                            .map(|&i| cell(i, 'B')),
                    );
                    cols.join(" ")
                };
                let repeated = (1..before.len()).any(|j| before[..j].contains(&before[j]));
                let expected = if !after.contains(&0) {
                    Err("MissingKey".to_string())
                } else if (0..n).any(|i| !after.contains(&i)) {
                    Err("PartialRow".to_string())
                } else if repeated {
                    Err("DuplicateKey".to_string())
                } else if before.contains(&0) {
                    Ok(vec![
                        format!("Delete {}", image(&before)),
                        format!("Upsert {}", image(&[])),
                    ])
                } else {
                    Ok(vec![format!("Upsert {}", image(&[]))])
                };
                prop_assert_eq!(got, expected, "{}", message);
                Ok(())
            },
        )
        .unwrap();
}

/// One decoder keeps each table's last type map: a message of the same table with a changed
/// map (a type, a name, a column more or fewer, a repeated name) and a message of another table
/// with the same names are read with their own map, whatever came before.
#[test]
fn a_decoder_reads_each_message_with_its_own_type_map() {
    use starpipe::decode::{DecodeOptions, Decoded, Decoder, Format, MessageKeys};
    let mut decoder = Decoder::new(DecodeOptions::new(Format::Canal));
    let mut decode = |table: &str, types: &str, row: &str| -> Result<String, String> {
        let message = format!(
            r#"{{"type":"INSERT","database":"d","table":"{table}","isDdl":false,
                "pkNames":["a"],"mysqlType":{{{types}}},"data":[{{{row}}}]}}"#
        );
        let mut buf = message.into_bytes();
        match decoder.decode(&mut buf, &MessageKeys) {
            Ok(Decoded::Rows(batch)) => Ok(batch
                .changes()
                .flat_map(|c| c.row.columns().collect::<Vec<_>>())
                .map(|col| format!("{}={:?}:{:?}", col.name, col.kind, col.value))
                .collect::<Vec<_>>()
                .join(" ")),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.class.as_str().to_string()),
        }
    };
    let int_b = r#""a":"int","b":"int""#;
    assert_eq!(
        decode("t", int_b, r#""a":"1","b":"2""#).unwrap(),
        r#"a=Integer:Text("1") b=Integer:Text("2")"#
    );
    assert_eq!(
        decode("t", int_b, r#""a":"1","b":"x""#),
        Err("Value".into())
    );
    // The same table, `b` now a VARCHAR: read as text.
    let text_b = r#""a":"int","b":"varchar(8)""#;
    assert_eq!(
        decode("t", text_b, r#""a":"1","b":"x""#).unwrap(),
        r#"a=Integer:Text("1") b=Text:Text("x")"#
    );
    // Another table with the same names and `b` an INT, in between.
    assert_eq!(
        decode("u", int_b, r#""a":"1","b":"x""#),
        Err("Value".into())
    );
    assert_eq!(
        decode("t", text_b, r#""a":"1","b":"y""#).unwrap(),
        r#"a=Integer:Text("1") b=Text:Text("y")"#
    );
    // A column more: the row must carry it.
    let three = r#""a":"int","b":"varchar(8)","c":"int""#;
    assert_eq!(
        decode("t", three, r#""a":"1","b":"x""#),
        Err("PartialRow".into())
    );
    assert_eq!(
        decode("t", three, r#""a":"1","b":"x","c":"3""#).unwrap(),
        r#"a=Integer:Text("1") b=Text:Text("x") c=Integer:Text("3")"#
    );
    // A column fewer, then a renamed one.
    assert_eq!(
        decode("t", r#""a":"int""#, r#""a":"1""#).unwrap(),
        r#"a=Integer:Text("1")"#
    );
    assert_eq!(
        decode(
            "t",
            r#""a":"int","d":"date""#,
            r#""a":"1","d":"2024-02-30""#
        ),
        Err("Value".into())
    );
    // A map that repeats a name: rows are no longer matched to it by position.
    let repeated = r#""a":"int","b":"int","b":"varchar(8)""#;
    assert_eq!(
        decode("t", repeated, r#""a":"1","b":"2","b":"3""#),
        Err("DuplicateKey".into())
    );
    assert_eq!(
        decode("t", repeated, r#""a":"1","b":"2""#).unwrap(),
        r#"a=Integer:Text("1") b=Integer:Text("2")"#
    );
    // Back to distinct names of the same count (a stale "names repeat" would only be slower; a
    // stale "names are distinct" is what the case above guards against).
    let distinct = r#""a":"int","b":"int","c":"varchar(8)""#;
    assert_eq!(
        decode("t", distinct, r#""a":"1","b":"2","c":"x""#).unwrap(),
        r#"a=Integer:Text("1") b=Integer:Text("2") c=Text:Text("x")"#
    );
    assert_eq!(
        decode("t", distinct, r#""a":"1","b":"2","b":"3""#),
        Err("DuplicateKey".into())
    );
}

/// Integer cells against a model, through both formats (canal's strings, CloudCanal's JSON
/// numbers and strings): text of an optional sign and digits is the integer it spells, loaded in
/// its canonical form when in the column type's range, and refused otherwise; any other text is
/// refused. The decoder keeps canonical text in range on a fast path before its general
/// conversion, which must agree with it.
#[test]
fn integer_cells_decode_as_the_model_says() {
    use proptest::prelude::*;
    use starpipe::decode::{DecodeOptions, Decoder, Format};
    const TYPES: [(&str, i128, i128); 5] = [
        ("tinyint", -128, 127),
        ("smallint unsigned", 0, 65_535),
        ("int", -2_147_483_648, 2_147_483_647),
        ("bigint", i64::MIN as i128, i64::MAX as i128),
        ("bigint unsigned", 0, u64::MAX as i128),
    ];
    let model = |text: &str, (_, min, max): (&str, i128, i128)| -> Result<String, String> {
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("Value".into());
        }
        match text.parse::<i128>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v.to_string()),
            _ => Err("Value".into()),
        }
    };
    let text = "[-+]?0{0,2}[0-9]{1,21}|-0|0|[0-9]{1,3}\\.[0-9]|[0-9]{1,3}[a ]";
    proptest!(|(text in text, ty in 0..TYPES.len())| {
        let column = TYPES[ty];
        let expected = model(&text, column).map(|v| vec![format!("Upsert a={v}")]);
        let canal = format!(
            r#"{{"type":"INSERT","database":"d","table":"t","isDdl":false,"pkNames":["a"],
                "mysqlType":{{"a":"{}"}},"data":[{{"a":"{text}"}}]}}"#,
            column.0
        );
        let mut decoder = Decoder::new(DecodeOptions::new(Format::Canal));
        prop_assert_eq!(decoded_changes(&mut decoder, &canal), expected.clone(), "canal {}", canal);
        // A JSON number where the text is one (no `+`, no leading zero), a string otherwise.
        let unsigned = text.strip_prefix('-').unwrap_or(&text);
        let json_number = !unsigned.starts_with(['+', '-'])
            && (unsigned == "0" || !unsigned.starts_with('0'))
            && unsigned.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && unsigned.ends_with(|c: char| c.is_ascii_digit());
        let value = if json_number { text.clone() } else { format!("\"{text}\"") };
        let cloudcanal = format!(
            r#"{{"action":"INSERT","db":"d","table":"t","pks":["a"],
                "dbValType":{{"a":"{}"}},"data":[{{"a":{value}}}]}}"#,
            column.0
        );
        let mut decoder = Decoder::new(DecodeOptions::new(Format::CloudCanal));
        let got = decoded_changes(&mut decoder, &cloudcanal);
        prop_assert_eq!(got, expected, "cloudcanal {}", cloudcanal);
    });
}

/// JSON numbers keep their lexemes (formats.md §5): integers beyond 64 bits too, which simd-json
/// refused as invalid numbers unless told to read them as floats (the float is never used; the
/// decoder reads the lexeme).
#[test]
fn json_integers_beyond_64_bits_keep_their_lexemes() {
    use starpipe::decode::{DecodeOptions, Decoder, Format};
    for (ty, number) in [
        ("decimal(30,0)", "20000000000000000000"),
        ("decimal(30,0)", "123456789012345678901234567890"),
        ("decimal(30,0)", "-9223372036854775809"),
        ("bigint unsigned", "18446744073709551615"),
        ("decimal(65,0)", &"9".repeat(65)),
    ] {
        let message = format!(
            r#"{{"action":"INSERT","db":"d","table":"t","pks":["a"],
                "dbValType":{{"a":"{ty}"}},"data":[{{"a":{number}}}]}}"#
        );
        let mut decoder = Decoder::new(DecodeOptions::new(Format::CloudCanal));
        assert_eq!(
            decoded_changes(&mut decoder, &message),
            Ok(vec![format!("Upsert a={number}")]),
            "{message}"
        );
    }
}
