//! Typed configuration errors: one [`Problem`] per mistake, all of them collected in [`Problems`].

use std::fmt;
use std::path::PathBuf;

/// A position in the job file (both 1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The line and column of byte offset `offset` in `text`.
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// One problem in a job file: the key path it concerns (`target.flushBatchMb`,
/// `source.kafka."sasl.password"`, `tables[1].source`; empty for TOML syntax errors), what was
/// expected, and where in the file, when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
    pub location: Option<Location>,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
            location: None,
        }
    }

    pub(crate) fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path.is_empty(), self.location) {
            (true, Some(loc)) => write!(f, "{loc}: {}", self.message),
            (true, None) => f.write_str(&self.message),
            (false, Some(loc)) => write!(f, "{}: {} ({loc})", self.path, self.message),
            (false, None) => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Every problem found in one job file (never empty when returned as an error).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn push(&mut self, problem: Problem) {
        self.0.push(problem);
    }
}

impl fmt::Display for Problems {
    /// One problem per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl<'a> IntoIterator for &'a Problems {
    type Item = &'a Problem;
    type IntoIter = std::slice::Iter<'a, Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Why a job configuration could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The job file could not be read.
    #[error("cannot read job file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The job file was read but is invalid; every problem found is listed, one per line.
    #[error("{} problem(s) in job file {}:\n{problems}", problems.len(), path.display())]
    Invalid { path: PathBuf, problems: Problems },
    /// The job text is invalid (no file involved).
    #[error("{0}")]
    InvalidText(Problems),
    /// `target.passwordEnv` names an environment variable that is not set (or not UTF-8).
    #[error("target.passwordEnv: environment variable `{var}` is not set")]
    PasswordEnvMissing { var: String },
}

impl ConfigError {
    /// The individual problems, if this is a validation error.
    pub fn problems(&self) -> Option<&Problems> {
        match self {
            ConfigError::Invalid { problems, .. } | ConfigError::InvalidText(problems) => {
                Some(problems)
            }
            _ => None,
        }
    }
}
