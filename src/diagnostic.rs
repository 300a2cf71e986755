//! A problem found in a file a person edits (config, content), located for that person:
//! file, line and field, so it can be fixed without reading Rust.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    /// 1-based; `None` when the problem is an absence (a missing key has no line).
    pub line: Option<usize>,
    pub field: String,
    pub problem: String,
}

impl Diagnostic {
    pub fn new(
        path: &Path,
        line: Option<usize>,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self {
            path: path.to_path_buf(),
            line,
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// From a TOML syntax or type error, which carries a byte span but not a line.
    pub fn from_toml(path: &Path, source: &str, err: &toml::de::Error) -> Self {
        let line = err.span().map(|s| line_of(source, s.start));
        let problem = err.message().trim().to_string();
        let field = problem
            .split('`')
            .nth(1)
            .filter(|_| problem.contains("field"))
            .unwrap_or("syntax")
            .to_string();
        Self::new(path, line, field, problem)
    }
}

/// The 1-based line holding byte `offset` of `source`.
pub fn line_of(source: &str, offset: usize) -> usize {
    source.as_bytes()[..offset.min(source.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "{}:{}: {}: {}",
                self.path.display(),
                line,
                self.field,
                self.problem
            ),
            None => write!(
                f,
                "{}: {}: {}",
                self.path.display(),
                self.field,
                self.problem
            ),
        }
    }
}

/// One or more diagnostics, shown one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}
