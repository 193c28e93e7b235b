//! §9.2 BE Stream Load checklist, driven over real HTTP.
mod common;
use common::Sim;
use serde_json::json;

const CSV: &[(&str, &str)] = &[("format", "csv")];

#[test]
fn csv_upsert_then_delete_with_op_column() {
    let sim = Sim::start();
    sim.simple_table("d");
    let r = sim.load(
        "d",
        "t",
        &[("label", "a1"), ("columns", "id,name,score,__op")],
        b"1\tAlice\t90\t0\n2\tBob\t80\t0\n3\tCarl\t70\t0\n",
    );
    assert_eq!(r["Status"], "Success");
    assert_eq!(r["Message"], "OK");
    assert_eq!(r["NumberLoadedRows"], 3);
    let r = sim.load(
        "d",
        "t",
        &[("label", "a2"), ("columns", "id,name,score,__op")],
        b"2\tBob\t80\t1\n3\tCarla\t71\t0\n",
    );
    assert_eq!(r["Status"], "Success");
    let rows = sim.rows("d", "t");
    assert_eq!(
        rows,
        vec![
            json!({"id":1,"name":"Alice","score":90}),
            json!({"id":3,"name":"Carla","score":71})
        ]
    );
}

#[test]
fn json_mixed_ops_last_row_per_key_wins() {
    let sim = Sim::start();
    sim.simple_table("d");
    let body = json!([
        {"id": 1, "name": "a", "score": 1},
        {"id": 1, "name": "b", "score": 2},
        {"id": 2, "name": "x", "score": 3, "__op": 0},
        {"id": 2, "__op": 1},
        {"id": 3, "name": "gone", "__op": 1},
        {"id": 3, "name": "back", "score": 9}
    ]);
    let r = sim.load(
        "d",
        "t",
        &[
            ("label", "j1"),
            ("format", "json"),
            ("strip_outer_array", "true"),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(r["NumberTotalRows"], 6);
    assert_eq!(
        sim.rows("d", "t"),
        vec![
            json!({"id":1,"name":"b","score":2}),
            json!({"id":3,"name":"back","score":9})
        ]
    );
}

#[test]
fn json_concatenated_objects_and_single_object() {
    let sim = Sim::start();
    sim.simple_table("d");
    let r = sim.load(
        "d",
        "t",
        &[("label", "c1"), ("format", "json")],
        br#"{"id":1,"name":"a"} {"id":2,"name":"b"}"#,
    );
    assert_eq!(r["NumberLoadedRows"], 2, "{r}");
    let r = sim.load(
        "d",
        "t",
        &[("label", "c2"), ("format", "json")],
        br#"{"id":3,"extra_key":"ignored"}"#,
    );
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(
        sim.rows("d", "t")[2],
        json!({"id":3,"name":null,"score":null})
    );
}

#[test]
fn constant_op_delete_in_columns_header() {
    let sim = Sim::start();
    sim.simple_table("d");
    sim.load(
        "d",
        "t",
        &[("label", "u"), ("columns", "id,name,score")],
        b"1\ta\t1\n2\tb\t2\n",
    );
    let r = sim.load(
        "d",
        "t",
        &[("label", "del"), ("columns", "id,name,score,__op='delete'")],
        b"1\ta\t1\n",
    );
    assert_eq!(r["Status"], "Success");
    assert_eq!(sim.rows("d", "t").len(), 1);
    let r = sim.load(
        "d",
        "t",
        &[
            ("label", "bad_op"),
            ("columns", "id,name,score,__op='remove'"),
        ],
        b"1\ta\t1\n",
    );
    assert_eq!(r["Status"], "Fail");
    assert_eq!(r["Message"], "load op type string not supported");
}

#[test]
fn response_has_documented_fields_in_order() {
    let sim = Sim::start();
    sim.simple_table("d");
    let r = sim.put(
        &sim.be,
        "/api/d/t/_stream_load",
        &[("label", "order1")],
        b"1\ta\t1\n",
        true,
    );
    let expected = [
        "TxnId",
        "Label",
        "Status",
        "Message",
        "NumberTotalRows",
        "NumberLoadedRows",
        "NumberFilteredRows",
        "NumberUnselectedRows",
        "LoadBytes",
        "LoadTimeMs",
        "BeginTxnTimeMs",
        "StreamLoadPlanTimeMs",
        "ReadDataTimeMs",
        "WriteDataTimeMs",
        "CommitAndPublishTimeMs",
    ];
    let mut last = 0;
    for f in expected {
        let pos = r
            .body
            .find(&format!("\"{f}\""))
            .unwrap_or_else(|| panic!("{f} missing in {}", r.body));
        assert!(pos >= last, "{f} out of order");
        last = pos;
    }
    assert!(
        r.body.contains("\n    \"TxnId\""),
        "4-space pretty print: {}",
        r.body
    );
    let dup = sim.load("d", "t", &[("label", "order1")], b"1\ta\t1\n");
    assert_eq!(dup["Status"], "Label Already Exists");
    assert_eq!(dup["ExistingJobStatus"], "FINISHED");
    assert_eq!(dup["Message"], "Label [order1] has already been used.");
    assert_eq!(dup["TxnId"], -1);
    let dup_body = sim
        .put(
            &sim.be,
            "/api/d/t/_stream_load",
            &[("label", "order1")],
            b"1\ta\t1\n",
            true,
        )
        .body;
    assert!(dup_body.find("ExistingJobStatus").unwrap() < dup_body.find("Message").unwrap());
}

#[test]
fn labels_are_per_database_and_aborted_labels_are_reusable() {
    let sim = Sim::start();
    sim.simple_table("d");
    sim.sql("CREATE TABLE d.t2 (id BIGINT NOT NULL) PRIMARY KEY(id) DISTRIBUTED BY HASH(id)");
    sim.simple_table("e");
    assert_eq!(
        sim.load("d", "t", &[("label", "L")], b"1\ta\t1\n")["Status"],
        "Success"
    );
    assert_eq!(
        sim.load("d", "t2", &[("label", "L")], b"1\n")["Status"],
        "Label Already Exists"
    );
    assert_eq!(
        sim.load("e", "t", &[("label", "L")], b"1\ta\t1\n")["Status"],
        "Success"
    );
    // A failed load frees its label.
    assert_eq!(
        sim.load("d", "t", &[("label", "F")], b"x\ta\t1\n")["Status"],
        "Fail"
    );
    assert_eq!(
        sim.load("d", "t", &[("label", "F")], b"2\ta\t1\n")["Status"],
        "Success"
    );
    let bad = sim.load("d", "t", &[("label", "bad label!")], b"2\ta\t1\n");
    assert_eq!(bad["Status"], "Fail");
    assert!(
        bad["Message"]
            .as_str()
            .unwrap()
            .contains("Label format error")
    );
}

#[test]
fn label_retention_count_based_cleaner() {
    let sim = Sim::start();
    sim.simple_table("d");
    sim.config(json!({"label_keep_max_num": 2}));
    for l in ["r1", "r2", "r3"] {
        assert_eq!(
            sim.load("d", "t", &[("label", l)], b"1\ta\t1\n")["Status"],
            "Success"
        );
    }
    assert_eq!(sim.control_get("/labels/d/r1")["state"], "VISIBLE");
    assert_eq!(sim.control_post("/labels/clean", json!({}))["removed"], 1);
    assert_eq!(sim.control_get("/labels/d/r1")["state"], "UNKNOWN");
    assert_eq!(
        sim.load("d", "t", &[("label", "r1")], b"1\ta\t1\n")["Status"],
        "Success"
    );
    assert_eq!(
        sim.load("d", "t", &[("label", "r3")], b"1\ta\t1\n")["Status"],
        "Label Already Exists"
    );
}

#[test]
fn filtered_rows_fail_the_load_and_error_url_serves_them() {
    let sim = Sim::start();
    sim.simple_table("d");
    let r = sim.load(
        "d",
        "t",
        &[("label", "f1")],
        b"1\ta\t1\nnotanumber\tb\t2\n3\tc\t3\n",
    );
    assert_eq!(r["Status"], "Fail");
    assert_eq!(r["Message"], "too many filtered rows");
    assert_eq!(r["NumberTotalRows"], 3);
    assert_eq!(r["NumberFilteredRows"], 1);
    let url = r["ErrorURL"].as_str().unwrap();
    assert!(
        url.starts_with(&format!(
            "http://{}/api/_load_error_log?file=error_log_",
            sim.be
        )),
        "{url}"
    );
    let log = sim.get(url);
    assert_eq!(log.status, 200);
    assert!(
        log.body
            .starts_with("Error: NULL value in non-nullable column 'id'. Row: notanumber\tb\t2"),
        "{}",
        log.body
    );
    assert!(sim.rows("d", "t").is_empty(), "nothing applied");
    // Within max_filter_ratio the good rows load and ErrorURL is still given.
    let r = sim.load(
        "d",
        "t",
        &[("label", "f2"), ("max_filter_ratio", "0.5")],
        b"1\ta\t1\nnotanumber\tb\t2\n3\tc\t3\n",
    );
    assert_eq!(r["Status"], "Success");
    assert_eq!(r["NumberLoadedRows"], 2);
    assert!(r["ErrorURL"].is_string());
    // Expired error logs answer 404.
    sim.config(json!({"error_log_ttl_ms": 0}));
    assert_eq!(sim.get(url).status, 404);
}

#[test]
fn value_conversion_rules() {
    let sim = Sim::start();
    sim.sql("CREATE DATABASE v");
    sim.sql("CREATE TABLE v.t (id INT NOT NULL, ti TINYINT NULL, li LARGEINT NULL, de DECIMAL(5,2) NULL, \
             vc VARCHAR(4) NULL, d DATE NULL, dt DATETIME NULL, j JSON NULL, b BOOLEAN NULL, nn INT NOT NULL DEFAULT \"0\") \
             PRIMARY KEY(id) DISTRIBUTED BY HASH(id)");
    // (column, input JSON value, expected stored JSON value; null = invalid → NULL in non-strict mode)
    let cases = [
        ("ti", json!(127), json!(127)),
        ("ti", json!(128), json!(null)),
        ("ti", json!(-129), json!(null)),
        (
            "li",
            json!("170141183460469231731687303715884105727"),
            json!("170141183460469231731687303715884105727"),
        ),
        (
            "li",
            json!("170141183460469231731687303715884105728"),
            json!(null),
        ),
        ("de", json!("123.456"), json!("123.46")),
        ("de", json!(1.5), json!("1.50")),
        ("de", json!("1234.5"), json!(null)),
        ("vc", json!("abcd"), json!("abcd")),
        ("vc", json!("ééé"), json!(null)),
        ("d", json!("2024-02-29"), json!("2024-02-29")),
        ("d", json!("2023-02-29"), json!(null)),
        ("d", json!("0000-00-00"), json!(null)),
        ("d", json!("0000-01-01"), json!("0000-01-01")),
        (
            "dt",
            json!("2024-01-02 03:04:05"),
            json!("2024-01-02 03:04:05"),
        ),
        (
            "dt",
            json!("2024-01-02 03:04:05.123"),
            json!("2024-01-02 03:04:05.123000"),
        ),
        ("dt", json!("2024-01-02"), json!("2024-01-02 00:00:00")),
        ("dt", json!(1700000000), json!(null)),
        ("dt", json!("10000-01-01 00:00:00"), json!(null)),
        ("j", json!({"a": [1, 2]}), json!({"a": [1, 2]})),
        ("j", json!("{\"k\":1}"), json!({"k": 1})),
        ("b", json!(true), json!(true)),
        ("b", json!("0"), json!(false)),
        ("b", json!("maybe"), json!(null)),
    ];
    for (i, (col, input, expected)) in cases.iter().enumerate() {
        let mut row = json!({"id": i});
        row[*col] = input.clone();
        let r = sim.load(
            "v",
            "t",
            &[("label", &format!("v{i}")), ("format", "json")],
            row.to_string().as_bytes(),
        );
        assert_eq!(r["Status"], "Success", "case {col}={input}: {r}");
        let stored = sim
            .rows("v", "t")
            .into_iter()
            .find(|r| r["id"] == json!(i))
            .unwrap();
        assert_eq!(&stored[*col], expected, "case {col}={input}");
        assert_eq!(stored["nn"], 0, "default of NOT NULL column");
        // strict mode filters the invalid value instead.
        let r = sim.load(
            "v",
            "t",
            &[
                ("label", &format!("s{i}")),
                ("format", "json"),
                ("strict_mode", "true"),
            ],
            row.to_string().as_bytes(),
        );
        let expected_status = if expected.is_null() {
            "Fail"
        } else {
            "Success"
        };
        assert_eq!(
            r["Status"], expected_status,
            "strict case {col}={input}: {r}"
        );
    }
}

/// JSON numbers convert from their exact source text (StarRocks' `raw_json_token()`), not from
/// an f64: DECIMAL/LARGEINT/BIGINT keep every digit and string columns store the text as written.
#[test]
fn json_numbers_convert_from_their_source_text() {
    let sim = Sim::start();
    sim.sql("CREATE DATABASE p");
    sim.sql(
        "CREATE TABLE p.t (id INT NOT NULL, de DECIMAL(30,10) NULL, li LARGEINT NULL, \
         bi BIGINT NULL, vc VARCHAR(32) NULL, v4 VARCHAR(4) NULL, j JSON NULL) \
         PRIMARY KEY(id) DISTRIBUTED BY HASH(id)",
    );
    // (column, raw JSON number text, expected stored value; null = invalid → NULL / strict Fail)
    let cases = [
        ("de", "567568735.8209100684", json!("567568735.8209100684")),
        (
            "de",
            "-567568735.8209100684",
            json!("-567568735.8209100684"),
        ),
        (
            "de",
            "12345678901234567890.1234567891",
            json!("12345678901234567890.1234567891"),
        ),
        (
            "de",
            "5.675687358209100684e8",
            json!("567568735.8209100684"),
        ),
        // more fraction digits than the scale: rounded half-up on the exact digits.
        ("de", "0.12345678905", json!("0.1234567891")),
        ("de", "1.000000000049999999999", json!("1.0000000000")),
        ("de", "-0.00000000005", json!("-0.0000000001")),
        // 21 integer digits do not fit DECIMAL(30,10).
        ("de", "123456789012345678901.5", json!(null)),
        ("de", "1e999999999", json!(null)),
        ("de", "1e-999999999", json!("0.0000000000")),
        ("li", "18446744073709551615", json!("18446744073709551615")),
        (
            "li",
            "170141183460469231731687303715884105727",
            json!("170141183460469231731687303715884105727"),
        ),
        (
            "li",
            "-170141183460469231731687303715884105728",
            json!("-170141183460469231731687303715884105728"),
        ),
        ("li", "170141183460469231731687303715884105728", json!(null)),
        ("bi", "9223372036854775807", json!(9223372036854775807i64)),
        ("bi", "-9223372036854775808", json!(-9223372036854775808i64)),
        ("bi", "9223372036854775808", json!(null)),
        ("bi", "18446744073709551615", json!(null)),
        ("vc", "567568735.8209100684", json!("567568735.8209100684")),
        ("vc", "1.50", json!("1.50")),
        ("vc", "1E3", json!("1E3")),
        ("vc", "-0", json!("-0")),
        ("vc", "18446744073709551616", json!("18446744073709551616")),
        ("v4", "1234", json!("1234")),
        ("v4", "12345", json!(null)),
        // JSON columns keep their parsed-document semantics.
        ("j", "1.50", json!(1.5)),
    ];
    for (i, (col, num, expected)) in cases.iter().enumerate() {
        let body = format!(r#"{{"id": {i}, "{col}": {num}}}"#);
        let r = sim.load(
            "p",
            "t",
            &[("label", &format!("n{i}")), ("format", "json")],
            body.as_bytes(),
        );
        assert_eq!(r["Status"], "Success", "case {col}={num}: {r}");
        let stored = sim
            .rows("p", "t")
            .into_iter()
            .find(|r| r["id"] == json!(i))
            .unwrap();
        assert_eq!(&stored[*col], expected, "case {col}={num}");
        let r = sim.load(
            "p",
            "t",
            &[
                ("label", &format!("s{i}")),
                ("format", "json"),
                ("strict_mode", "true"),
            ],
            body.as_bytes(),
        );
        let expected_status = if expected.is_null() {
            "Fail"
        } else {
            "Success"
        };
        assert_eq!(r["Status"], expected_status, "strict case {col}={num}: {r}");
    }
    // Nested values reached by jsonpaths / json_root keep their digits too, as do numbers
    // that `columns` expressions see.
    let r = sim.load(
        "p",
        "t",
        &[
            ("label", "paths"),
            ("format", "json"),
            ("jsonpaths", r#"["$.k","$.v.d","$.v.l"]"#),
            ("columns", "id,de,tmp,li=tmp,vc=tmp"),
            ("json_root", "$.data"),
            ("strip_outer_array", "true"),
        ],
        br#"{"data":[{"k":1000,"v":{"d":0.0000000001,"l":99999999999999999999999}}]}"#,
    );
    assert_eq!(r["Status"], "Success", "{r}");
    let stored = sim
        .rows("p", "t")
        .into_iter()
        .find(|r| r["id"] == json!(1000))
        .unwrap();
    assert_eq!(stored["de"], "0.0000000001");
    assert_eq!(stored["li"], "99999999999999999999999");
    assert_eq!(stored["vc"], "99999999999999999999999");
}

#[test]
fn not_null_and_op_null_are_filtered() {
    let sim = Sim::start();
    sim.sql("CREATE DATABASE n");
    sim.sql("CREATE TABLE n.t (id INT NOT NULL, v VARCHAR(10) NOT NULL) PRIMARY KEY(id) DISTRIBUTED BY HASH(id)");
    let r = sim.load("n", "t", &[("label", "n1"), ("format", "json"), ("strip_outer_array", "true"), ("max_filter_ratio", "1")],
        br#"[{"id":1,"v":null},{"id":2,"v":"x","__op":null},{"id":3,"v":"ok"},{"id":4,"v":"x","__op":7}]"#);
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(r["NumberFilteredRows"], 3);
    let log = sim.get(r["ErrorURL"].as_str().unwrap()).body;
    assert!(
        log.contains("NULL value in non-nullable column 'v'"),
        "{log}"
    );
    assert!(
        log.contains("NULL value in non-nullable column '__op'"),
        "{log}"
    );
}

#[test]
fn header_validation_errors() {
    let sim = Sim::start();
    sim.simple_table("d");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("format", "parquet")],
            "unknown data format, format=parquet",
        ),
        (&[("timeout", "abc")], "Invalid timeout format"),
        (
            &[("strict_mode", "yes")],
            "Invalid strict mode format. Must be bool type",
        ),
        (&[("columns", "id,nosuch")], "Unknown column 'nosuch'"),
        (&[("columns", "id")], ""),
        (&[("partial_update", "maybe")], "Must be bool type"),
    ];
    for (i, (headers, msg)) in cases.iter().enumerate() {
        let label = format!("h{i}");
        let mut h = vec![("label", label.as_str())];
        h.extend_from_slice(headers);
        let r = sim.load("d", "t", &h, b"1\n");
        if msg.is_empty() {
            assert_eq!(r["Status"], "Success", "{r}");
        } else {
            assert_eq!(r["Status"], "Fail", "{headers:?}");
            assert!(
                r["Message"].as_str().unwrap().contains(msg),
                "{headers:?}: {r}"
            );
        }
    }
    let r = sim.load("nodb", "t", &[("label", "x")], b"1\n");
    assert_eq!(r["Message"], "unknown database, database=nodb");
    let r = sim.load("d", "missing", &[("label", "x")], b"1\n");
    assert_eq!(r["Message"], "unknown table \"d.missing\"");
    let r = sim
        .put(
            &sim.be,
            "/api/d/t/_stream_load",
            &[("label", "noauth")],
            b"1\n",
            false,
        )
        .json();
    assert_eq!(r["Status"], "Fail");
    assert_eq!(r["Message"], "no valid Basic authorization");
}

#[test]
fn column_without_default_and_primary_key_size() {
    let sim = Sim::start();
    sim.sql("CREATE DATABASE k");
    sim.sql("CREATE TABLE k.t (id VARCHAR(200) NOT NULL, v INT NOT NULL) PRIMARY KEY(id) DISTRIBUTED BY HASH(id)");
    let r = sim.load("k", "t", &[("label", "k1"), ("columns", "id")], b"a\n");
    assert_eq!(r["Message"], "Column has no default value. column: v");
    let long = "x".repeat(129);
    let r = sim.load(
        "k",
        "t",
        &[("label", "k2")],
        format!("{long}\t1\n").as_bytes(),
    );
    assert_eq!(r["Status"], "Fail");
    assert_eq!(r["Message"], "primary key size exceed the limit.");
}

#[test]
fn json_body_size_cap_and_ignore_json_size() {
    let sim = Sim::start_with(&["--json-max-bytes", "64"]);
    sim.simple_table("d");
    let body =
        json!([{"id": 1, "name": "aaaaaaaaaaaaaaaa"}, {"id": 2, "name": "bbbbbbbbbbbbbbbb"}])
            .to_string();
    let h = [
        ("label", "big"),
        ("format", "json"),
        ("strip_outer_array", "true"),
    ];
    let r = sim.load("d", "t", &h, body.as_bytes());
    assert_eq!(r["Status"], "Fail");
    assert_eq!(
        r["Message"],
        format!(
            "The size of this batch exceed the max size [64]  of json type data  data [ {} ]. Set ignore_json_size to skip the check, although it may lead huge memory consuming.",
            body.len()
        )
    );
    let r = sim.load(
        "d",
        "t",
        &[h[0], h[1], h[2], ("ignore_json_size", "true")],
        body.as_bytes(),
    );
    assert_eq!(r["Status"], "Success");
}

#[test]
fn csv_options_enclose_escape_separators_skip_header_where() {
    let sim = Sim::start();
    sim.simple_table("d");
    let r = sim.load(
        "d",
        "t",
        &[
            ("label", "e1"),
            ("column_separator", ","),
            ("enclose", "\""),
            ("escape", "\\"),
            ("skip_header", "1"),
        ],
        b"id,name,score\n1,\"a,b\",1\n2,\"q\\\"x\",\\N\n",
    );
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(
        sim.rows("d", "t"),
        vec![
            json!({"id":1,"name":"a,b","score":1}),
            json!({"id":2,"name":"q\"x","score":null})
        ]
    );
    let r = sim.load(
        "d",
        "t",
        &[
            ("label", "e2"),
            ("column_separator", "\\x01"),
            ("row_delimiter", "\\x02"),
            ("where", "score > 5"),
        ],
        b"3\x01c\x0110\x024\x01d\x011\x02",
    );
    assert_eq!(r["NumberUnselectedRows"], 1, "{r}");
    assert_eq!(r["NumberLoadedRows"], 1);
    assert_eq!(sim.rows("d", "t").len(), 3);
    let r = sim.load("d", "t", CSV, b"5\tonly-two-fields\n");
    assert_eq!(r["Message"], "too many filtered rows");
}

#[test]
fn jsonpaths_and_json_root() {
    let sim = Sim::start();
    sim.simple_table("d");
    let r = sim.load(
        "d",
        "t",
        &[
            ("label", "p1"),
            ("format", "json"),
            ("jsonpaths", r#"["$.k","$.info.n"]"#),
            ("columns", "id,name"),
            ("json_root", "$.data"),
            ("strip_outer_array", "true"),
        ],
        br#"{"data":[{"k":7,"info":{"n":"seven"}}]}"#,
    );
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(
        sim.rows("d", "t"),
        vec![json!({"id":7,"name":"seven","score":null})]
    );
}

#[test]
fn partial_update_and_merge_condition() {
    let sim = Sim::start();
    sim.simple_table("d");
    sim.load("d", "t", &[("label", "base")], b"1\ta\t10\n2\tb\t20\n");
    let r = sim.load(
        "d",
        "t",
        &[
            ("label", "pu"),
            ("partial_update", "true"),
            ("columns", "id,score"),
        ],
        b"1\t11\n3\t33\n",
    );
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(
        sim.rows("d", "t"),
        vec![
            json!({"id":1,"name":"a","score":11}),
            json!({"id":2,"name":"b","score":20}),
            json!({"id":3,"name":null,"score":33})
        ]
    );
    // merge_condition: apply only if incoming score >= stored score.
    let r = sim.load(
        "d",
        "t",
        &[("label", "mc"), ("merge_condition", "score")],
        b"1\tstale\t5\n2\tfresh\t20\n",
    );
    assert_eq!(r["Status"], "Success");
    let rows = sim.rows("d", "t");
    assert_eq!(rows[0]["name"], "a");
    assert_eq!(rows[1]["name"], "fresh");
    let r = sim.load(
        "d",
        "t",
        &[("label", "mc2"), ("merge_condition", "id")],
        b"1\tx\t5\n",
    );
    assert!(
        r["Message"]
            .as_str()
            .unwrap()
            .contains("should not be primary key"),
        "{r}"
    );
    sim.sql("CREATE TABLE d.dup (id INT NOT NULL, v INT NULL) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)");
    let r = sim.load(
        "d",
        "dup",
        &[
            ("label", "pu2"),
            ("partial_update", "true"),
            ("columns", "id"),
        ],
        b"1\n",
    );
    assert_eq!(
        r["Message"],
        "Only primary key table support partial update"
    );
}

#[test]
fn compressed_bodies_gzip_lz4_zstd_bzip2() {
    use std::io::Write;
    let sim = Sim::start();
    sim.simple_table("d");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"1\ta\t1\n2\tb\t2\n").unwrap();
    let r = sim.load(
        "d",
        "t",
        &[("label", "gz"), ("compression", "gzip")],
        &gz.finish().unwrap(),
    );
    assert_eq!(r["NumberLoadedRows"], 2, "{r}");
    let mut lz = lz4_flex::frame::FrameEncoder::new(Vec::new());
    lz.write_all(br#"[{"id":3}]"#).unwrap();
    let r = sim.load(
        "d",
        "t",
        &[
            ("label", "lz"),
            ("format", "json"),
            ("strip_outer_array", "true"),
            ("Content-Encoding", "lz4_frame"),
        ],
        &lz.finish().unwrap(),
    );
    assert_eq!(r["NumberLoadedRows"], 1, "{r}");
    let zs = ruzstd::encoding::compress_to_vec(
        &b"4\td\t4\n"[..],
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    let r = sim.load("d", "t", &[("label", "zs"), ("compression", "ZSTD")], &zs);
    assert_eq!(r["NumberLoadedRows"], 1, "{r}");
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(b"5\te\t5\n").unwrap();
    let r = sim.load(
        "d",
        "t",
        &[("label", "bz"), ("format", "bzip2")],
        &bz.finish().unwrap(),
    );
    assert_eq!(r["NumberLoadedRows"], 1, "{r}");
    let r = sim.load(
        "d",
        "t",
        &[("label", "bad"), ("compression", "snappy")],
        b"x",
    );
    assert_eq!(r["Message"], "unknown compression type: snappy");
    assert_eq!(sim.rows("d", "t").len(), 5);
}

#[test]
fn chunked_body_and_keep_alive() {
    let sim = Sim::start();
    sim.simple_table("d");
    let auth = common::basic("root", "");
    let head = format!(
        "PUT /api/d/t/_stream_load HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nlabel: ch\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let body = b"6\r\n1\ta\t1\n\r\n6\r\n2\tb\t2\n\r\n0\r\n\r\n";
    let second =
        "GET /api/_load_error_log?file=none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut all = body.to_vec();
    all.extend_from_slice(second.as_bytes());
    let out = sim.raw(&sim.be, &head, Some(&all));
    assert!(out.contains("\"NumberLoadedRows\": 2"), "{out}");
    assert!(
        out.contains("HTTP/1.1 404"),
        "second request served on the same connection: {out}"
    );
}

#[test]
fn discard_mode_validates_and_answers_but_leaves_tables_unchanged() {
    let sim = Sim::start_with(&["--discard"]);
    sim.simple_table("d");
    let version = sim.dump("d", "t")["version"].clone();
    let r = sim.load("d", "t", &[("label", "x1")], b"1\ta\t1\n2\tb\t2\n");
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(r["NumberLoadedRows"], 2);
    let r = sim.load("d", "t", &[("label", "x1")], b"1\ta\t1\n");
    assert_eq!(r["Status"], "Label Already Exists", "labels are taken");
    let r = sim.load("d", "t", &[("label", "x2")], b"bad\ta\t1\n");
    assert_eq!(r["Status"], "Fail", "rows are still validated");
    assert_eq!(r["Message"], "too many filtered rows");
    let r = sim.load(
        "d",
        "t",
        &[
            ("label", "x3"),
            ("format", "json"),
            ("strip_outer_array", "true"),
        ],
        br#"[{"id": 3, "name": "c", "score": 3}, {"id": 1, "__op": 1}]"#,
    );
    assert_eq!(r["Status"], "Success", "{r}");
    // Transaction API too.
    let h = [("label", "x4"), ("db", "d"), ("table", "t")];
    assert_eq!(sim.post_txn(&sim.be, "begin", &h).json()["Status"], "OK");
    let r = sim.put(&sim.be, "/api/transaction/load", &h, b"5\te\t5\n", true);
    assert_eq!(r.json()["Status"], "OK");
    assert_eq!(sim.post_txn(&sim.be, "commit", &h).json()["Status"], "OK");

    let dump = sim.dump("d", "t");
    assert_eq!(dump["row_count"], 0, "{dump}");
    assert_eq!(dump["version"], version);
    let c = sim.control_get("/counters");
    assert_eq!(c["loads_by_status"]["Success"], 3);
    assert_eq!(c["rows_loaded"], 5);
    assert_eq!(c["tables"]["d.t"]["rows_upserted"], 4);
    assert_eq!(c["tables"]["d.t"]["rows_deleted"], 1);
    assert_eq!(sim.control_get("/loads").as_array().unwrap().len(), 5);
    assert_eq!(sim.control_get("/config")["discard"], true);

    sim.config(serde_json::json!({"discard": false}));
    let r = sim.load("d", "t", &[("label", "x5")], b"7\tg\t7\n");
    assert_eq!(r["Status"], "Success");
    assert_eq!(sim.dump("d", "t")["row_count"], 1);
}
