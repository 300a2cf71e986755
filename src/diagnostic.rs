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

    /// From a TOML syntax or type error, which carries a byte span but not a line. A
    /// value of the wrong type is named by its table and key ("resources.emergency"),
    /// read from the line the span points into.
    pub fn from_toml(path: &Path, source: &str, err: &toml::de::Error) -> Self {
        let line = err.span().map(|s| line_of(source, s.start));
        let problem = err.message().trim().to_string();
        let wrong_value = ["invalid type", "invalid value", "invalid length"]
            .iter()
            .any(|p| problem.starts_with(p));
        let field = match (wrong_value, line) {
            (true, Some(line)) => key_at(source, line),
            _ => None,
        }
        .or_else(|| {
            problem
                .split('`')
                .nth(1)
                .filter(|_| problem.contains("field"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "syntax".to_string());
        Self::new(path, line, field, problem)
    }
}

/// "table.key" for the `key = value` on 1-based `line`, the table being the nearest
/// `[table]` or `[[table]]` header above it.
fn key_at(source: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = source.lines().collect();
    let (key, _) = lines.get(line.checked_sub(1)?)?.split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() {
        return None;
    }
    let table = lines[..line - 1].iter().rev().find_map(|l| {
        let l = l.trim();
        l.starts_with('[')
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    });
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key.to_string(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_of_the_wrong_type_is_named_by_table_and_key() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)] // only the error is read
        struct Resources {
            emergency: String,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct File {
            resources: Resources,
        }
        let source = "# clinic\n[resources]\nemergency = 911\n";
        let err = toml::from_str::<File>(source).unwrap_err();
        let d = Diagnostic::from_toml(Path::new("w.toml"), source, &err);
        assert_eq!(
            (d.line, d.field.as_str()),
            (Some(3), "resources.emergency"),
            "{d}"
        );
    }
}
