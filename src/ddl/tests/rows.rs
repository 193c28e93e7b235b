//! CREATE TABLE from a row message's column types, in both formats.

use super::*;
use crate::decode::{DecodeOptions, Decoded, Decoder, Format, MessageKeys};

/// The CREATE TABLE statement for the one row message `json` in `format`.
fn create(format: Format, json: &str, options: &CreateOptions) -> Result<String, CannotApply> {
    let mut decoder = Decoder::new(DecodeOptions::new(format));
    let mut input = json.as_bytes().to_vec();
    let Decoded::Rows(rows) = decoder.decode(&mut input, &MessageKeys).unwrap() else {
        panic!("not rows: {json}");
    };
    create_table_for_rows(&target(), &rows, options).map(|s| s[1].sql.clone())
}

const CANAL: &str = r#"{"data":[{"id":"1","line":"2","amount":"9.50","note":"x","at":"2024-01-01 00:00:00","tags":"a,b"}],
"database":"shop","table":"orders","isDdl":false,"type":"INSERT","pkNames":["id","line"],
"mysqlType":{"id":"bigint(20) unsigned","line":"int(11)","amount":"decimal(10,2)","note":"varchar(20)","at":"datetime(3)","tags":"set('a','b')"},
"sqlType":{"id":-5,"line":4,"amount":3,"note":12,"at":93,"tags":12},"old":null,"es":1,"ts":1}"#;

const CLOUDCANAL: &str = r#"{"action":"INSERT","db":"shop","schema":"shop","table":"orders","isDdl":false,
"data":[{"id":"1","line":"2","amount":"9.50","note":"x"}],"before":[],"pks":["id","line"],
"dbValType":{"id":"bigint(20) unsigned","line":"int(11)","amount":"decimal(10,2)","note":"varchar(20)"},
"jdbcType":{"id":-5,"line":4,"amount":3,"note":12},"sql":"","entryType":"ROWDATA"}"#;

#[test]
fn canal_mysql_type_and_pk_names_with_a_composite_key() {
    let options = CreateOptions {
        buckets: Some(8),
        properties: [("replication_num".to_string(), "1".to_string())].into(),
        keys: None,
    };
    assert_eq!(
        create(Format::Canal, CANAL, &options).unwrap(),
        "CREATE TABLE IF NOT EXISTS `ods`.`orders` (\n  `id` LARGEINT NOT NULL,\n  `line` INT NOT NULL,\n  \
         `amount` DECIMAL(10,2) NULL,\n  `note` VARCHAR(80) NULL,\n  `at` DATETIME NULL,\n  \
         `tags` VARCHAR(12) NULL\n)\nPRIMARY KEY (`id`, `line`)\nDISTRIBUTED BY HASH (`id`, `line`) BUCKETS 8\n\
         PROPERTIES (\n  \"replication_num\" = \"1\"\n)"
    );
}

#[test]
fn cloudcanal_db_val_type_and_pks() {
    assert_eq!(
        create(Format::CloudCanal, CLOUDCANAL, &CreateOptions::default()).unwrap(),
        "CREATE TABLE IF NOT EXISTS `ods`.`orders` (\n  `id` LARGEINT NOT NULL,\n  `line` INT NOT NULL,\n  \
         `amount` DECIMAL(10,2) NULL,\n  `note` VARCHAR(80) NULL\n)\nPRIMARY KEY (`id`, `line`)\n\
         DISTRIBUTED BY HASH (`id`, `line`)"
    );
}

#[test]
fn a_source_without_a_key_needs_keys() {
    // canal: `pkNames: null`; CloudCanal: `pks: []` (as the vendor's own examples show).
    let canal = CANAL.replace(r#""pkNames":["id","line"]"#, r#""pkNames":null"#);
    let cloud = CLOUDCANAL.replace(r#""pks":["id","line"]"#, r#""pks":[]"#);
    for (format, json) in [(Format::Canal, &canal), (Format::CloudCanal, &cloud)] {
        assert_eq!(
            create(format, json, &CreateOptions::default()),
            Err(CannotApply::NoPrimaryKey),
            "{format:?}"
        );
        let keyed = CreateOptions {
            keys: Some(vec!["note".into()]),
            ..CreateOptions::default()
        };
        let sql = create(format, json, &keyed).unwrap();
        assert!(
            sql.starts_with("CREATE TABLE IF NOT EXISTS `ods`.`orders` (\n  `note` VARCHAR(80) NOT NULL,\n  `id` LARGEINT NULL,"),
            "{format:?}: {sql}"
        );
        assert!(
            sql.contains("PRIMARY KEY (`note`)\nDISTRIBUTED BY HASH (`note`)"),
            "{sql}"
        );
    }
}

#[test]
fn a_message_without_types_cannot_create() {
    let flink = r#"{"data":[{"id":1}],"type":"INSERT","database":"shop","table":"orders"}"#;
    assert_eq!(
        create(Format::Canal, flink, &CreateOptions::default()),
        Err(CannotApply::NoColumnTypes)
    );
}

#[test]
fn a_column_name_starpipe_could_not_load_into_is_refused() {
    let json = CANAL.replace("\"note\"", "\"no=te\"");
    assert!(matches!(
        create(Format::Canal, &json, &CreateOptions::default()),
        Err(CannotApply::BadName(_))
    ));
}
