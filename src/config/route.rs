//! `[[tables]]`: routing source `db.table` names (globs allowed) to StarRocks `db.table`.

use std::fmt;
use std::str::FromStr;

use glob::{MatchOptions, Pattern};
use serde::{Serialize, Serializer};

use crate::names::{self, BadName};

/// A StarRocks table to load into.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetName {
    pub db: String,
    pub table: String,
}

impl fmt::Display for TargetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.db, self.table)
    }
}

/// Why a literal `db.table` was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected a literal `db.table` without `*`, `?`, `[`, `]` or backquotes, got `{0}`")]
pub struct BadTableName(pub String);

impl FromStr for TargetName {
    type Err = BadTableName;

    /// A literal `db.table`: both parts non-empty, one `.`, no glob or template characters.
    fn from_str(s: &str) -> Result<Self, BadTableName> {
        match split_name(s) {
            Some((db, table)) if !s.contains(['*', '?', '[', ']', '`']) => Ok(TargetName {
                db: db.to_owned(),
                table: table.to_owned(),
            }),
            _ => Err(BadTableName(s.to_owned())),
        }
    }
}

/// One `[[tables]]` entry, compiled.
#[derive(Clone, Debug)]
pub struct TableRoute {
    source_text: String,
    target_text: String,
    db: Pattern,
    table: Pattern,
    target_db: NameTemplate,
    target_table: NameTemplate,
    keys: Option<Vec<String>>,
}

/// A target name part: literal text with at most one `*`, which stands for the corresponding
/// source name part.
#[derive(Clone, Debug, PartialEq, Eq)]
struct NameTemplate {
    prefix: String,
    /// `Some(suffix)` when the template contains `*`.
    suffix: Option<String>,
}

impl NameTemplate {
    fn render(&self, source: &str) -> String {
        match &self.suffix {
            None => self.prefix.clone(),
            Some(suffix) => format!("{}{source}{suffix}", self.prefix),
        }
    }

    /// The source part `target` was rendered from: `Some(Some(part))` when the template keeps
    /// it (`*`), `Some(None)` when the template is literal and equal (any source part),
    /// `None` when `target` cannot come from this template.
    fn source_of(&self, target: &str) -> Option<Option<String>> {
        match &self.suffix {
            None => (target == self.prefix).then_some(None),
            Some(suffix) => {
                let middle = target
                    .strip_prefix(&self.prefix)?
                    .strip_suffix(suffix.as_str())?;
                (!middle.is_empty()).then(|| Some(middle.to_string()))
            }
        }
    }
}

/// The source name parts a target can come from through one `[[tables]]` entry
/// ([`TableRoute::sources_of`]); `None` where the entry's target part is literal, so any source
/// part matching its glob does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceParts {
    pub db: Option<String>,
    pub table: Option<String>,
}

const MATCH: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

impl TableRoute {
    /// Compiles `source = "db.table"` (each part a glob: `*`, `?`, `[abc]`) and
    /// `target = "db.table"` (each part literal, or containing one `*` that is replaced by the
    /// source's db or table name). Errors name the offending key (`source` or `target`).
    pub fn new(source: &str, target: &str) -> Result<Self, (&'static str, String)> {
        let (sdb, stable) = split_name(source).ok_or_else(|| {
            (
                "source",
                format!(
                    "expected `db.table` (each part may be a glob such as `shop.*`), got `{source}`"
                ),
            )
        })?;
        let compile = |part: &str| {
            Pattern::new(part)
                .map_err(|e| ("source", format!("invalid glob `{source}`: {}", e.msg)))
        };
        let (db, table) = (compile(sdb)?, compile(stable)?);
        let bad_target = || {
            (
                "target",
                format!(
                    "expected `db.table` where each part is a name optionally containing one `*` \
                     (the source's name), got `{target}`"
                ),
            )
        };
        let (tdb, ttable) = split_name(target).ok_or_else(bad_target)?;
        check_literal(tdb, ttable).map_err(|e| ("target", e.to_string()))?;
        let template = |part: &str| {
            if part.contains(['?', '[', ']', '`']) || part.matches('*').count() > 1 {
                return Err(bad_target());
            }
            Ok(match part.split_once('*') {
                None => NameTemplate {
                    prefix: part.to_owned(),
                    suffix: None,
                },
                Some((p, s)) => NameTemplate {
                    prefix: p.to_owned(),
                    suffix: Some(s.to_owned()),
                },
            })
        };
        Ok(TableRoute {
            source_text: source.to_owned(),
            target_text: target.to_owned(),
            db,
            table,
            target_db: template(tdb)?,
            target_table: template(ttable)?,
            keys: None,
        })
    }

    /// The entry with `keys`: the key columns of the targets starpipe creates for it.
    pub fn with_keys(mut self, keys: Option<Vec<String>>) -> Self {
        self.keys = keys;
        self
    }

    /// `keys`, when the entry gives them.
    pub fn keys(&self) -> Option<&[String]> {
        self.keys.as_deref()
    }

    /// The `source` pattern as written.
    pub fn source(&self) -> &str {
        &self.source_text
    }

    /// The `target` as written.
    pub fn target(&self) -> &str {
        &self.target_text
    }

    /// Whether the entry's `source` has a glob (`*`, `?`, `[`), i.e. matches tables not named
    /// in the job.
    pub fn is_glob(&self) -> bool {
        self.source_text.contains(['*', '?', '['])
    }

    /// The source names that would route to `target` through this entry: what a template's
    /// `*` stands for, when it matches the source glob. `None` when no source this entry matches
    /// can route there.
    pub fn sources_of(&self, target: &TargetName) -> Option<SourceParts> {
        let db = self.target_db.source_of(&target.db)?;
        let table = self.target_table.source_of(&target.table)?;
        let fits = |p: &Pattern, part: &Option<String>| {
            part.as_ref().is_none_or(|s| p.matches_with(s, MATCH))
        };
        // A source part without a glob is known even where the target does not keep it.
        let literal =
            |p: &Pattern| (!p.as_str().contains(['*', '?', '['])).then(|| p.as_str().to_string());
        (fits(&self.db, &db) && fits(&self.table, &table)).then(|| SourceParts {
            db: db.or_else(|| literal(&self.db)),
            table: table.or_else(|| literal(&self.table)),
        })
    }

    /// The target for `db.table` if this entry matches it.
    pub fn apply(&self, db: &str, table: &str) -> Option<TargetName> {
        if self.db.matches_with(db, MATCH) && self.table.matches_with(table, MATCH) {
            Some(TargetName {
                db: self.target_db.render(db),
                table: self.target_table.render(table),
            })
        } else {
            None
        }
    }
}

impl PartialEq for TableRoute {
    fn eq(&self, other: &Self) -> bool {
        self.source_text == other.source_text
            && self.target_text == other.target_text
            && self.keys == other.keys
    }
}

impl Eq for TableRoute {}

impl Serialize for TableRoute {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("TableRoute", 3)?;
        s.serialize_field("source", &self.source_text)?;
        s.serialize_field("target", &self.target_text)?;
        if let Some(keys) = &self.keys {
            s.serialize_field("keys", keys)?;
        }
        s.end()
    }
}

/// A `[[tables]]` entry with `topic` instead of `source`: the table for the messages of that
/// topic that name no table of their own (Flink's canal-json sink and Flink-style sinks write
/// only `data` and `type`; formats.md §2.6, example 42). Messages that name their table keep it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicRoute {
    /// The Kafka topic, exactly as in `source.topics`.
    pub topic: String,
    /// The StarRocks table (a literal `db.table`).
    pub target: TargetName,
    /// `keys`: the key columns of the target when starpipe creates it.
    pub keys: Option<Vec<String>>,
}

impl Serialize for TopicRoute {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("TopicRoute", 3)?;
        s.serialize_field("topic", &self.topic)?;
        s.serialize_field("target", &self.target.to_string())?;
        if let Some(keys) = &self.keys {
            s.serialize_field("keys", keys)?;
        }
        s.end()
    }
}

/// One `[[tables]]` entry as written, for printing the effective configuration in file order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum TableEntry {
    Source(TableRoute),
    Topic(TopicRoute),
}

impl TableEntry {
    pub(crate) fn with_keys(self, keys: Option<Vec<String>>) -> Self {
        match self {
            TableEntry::Source(r) => TableEntry::Source(r.with_keys(keys)),
            TableEntry::Topic(r) => TableEntry::Topic(TopicRoute { keys, ..r }),
        }
    }
}

/// The parts of a target without `*` are names StarRocks and Stream Load take (a part with
/// `*` is checked once the source name fills it in, when the table is first used).
pub(crate) fn check_literal(db: &str, table: &str) -> Result<(), BadName> {
    if !db.contains('*') {
        names::check_database(db)?;
    }
    if !table.contains('*') {
        names::check_table(table)?;
    }
    Ok(())
}

/// Splits `db.table` at the only `.`; both parts non-empty.
fn split_name(s: &str) -> Option<(&str, &str)> {
    let (db, table) = s.split_once('.')?;
    if db.is_empty() || table.is_empty() || table.contains('.') || s.trim() != s {
        return None;
    }
    Some((db, table))
}

/// Routes with the first matching entry of `routes`; with none, the same db and table name.
pub fn route(routes: &[TableRoute], db: &str, table: &str) -> TargetName {
    routes
        .iter()
        .find_map(|r| r.apply(db, table))
        .unwrap_or_else(|| TargetName {
            db: db.to_owned(),
            table: table.to_owned(),
        })
}
