//! Labelled messages on disk (`training/`, eval files): JSON lines read with every
//! problem located by file and line, and unknown labels refused rather than counted as
//! misses.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::safety::model::Label;

/// One labelled message, in the eval schema plus the corpus's `author`.
#[derive(Debug, Clone, Deserialize)]
pub struct Labelled {
    #[serde(default)]
    pub id: Option<String>,
    pub text: String,
    pub expect: String,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub must_contain_any: Option<Vec<String>>,
    /// The FAQ entry a `faq` question asks about (the FAQ corpus, `training/faq/`).
    #[serde(default)]
    pub entry: Option<String>,
}

impl Labelled {
    /// The label; [`read`] has already refused any other.
    pub fn label(&self) -> Label {
        Label::parse(&self.expect).unwrap_or(Label::Fallback)
    }

    pub fn lang(&self) -> &str {
        self.lang.as_deref().unwrap_or("en")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a labelled message: {source}")]
    Json {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error(
        "{path}:{line}: field expect: unknown label {label:?} (one of crisis, clinical, support, faq, fallback, smalltalk, benign)"
    )]
    Label {
        path: PathBuf,
        line: usize,
        label: String,
    },
    #[error("{path}:{line}: field lang: unknown language {lang:?} (en or es)")]
    Lang {
        path: PathBuf,
        line: usize,
        lang: String,
    },
    #[error("{path}: no .jsonl files")]
    Empty { path: PathBuf },
}

/// Reads one JSON-lines file; blank lines are skipped.
pub fn read(path: &Path) -> Result<Vec<Labelled>, CorpusError> {
    let text = std::fs::read_to_string(path).map_err(|source| CorpusError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Vec<Labelled>, CorpusError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || (path.to_path_buf(), n + 1);
        let item: Labelled = serde_json::from_str(line).map_err(|source| {
            let (path, line) = at();
            CorpusError::Json { path, line, source }
        })?;
        if Label::parse(&item.expect).is_none() {
            let (path, line) = at();
            return Err(CorpusError::Label {
                path,
                line,
                label: item.expect,
            });
        }
        if let Some(lang) = item.lang.as_deref()
            && !matches!(lang, "en" | "es")
        {
            let (path, line) = at();
            return Err(CorpusError::Lang {
                path,
                line,
                lang: lang.to_string(),
            });
        }
        out.push(item);
    }
    Ok(out)
}

/// Reads a file, or every `.jsonl` file of a folder in name order.
pub fn read_all(path: &Path) -> Result<Vec<Labelled>, CorpusError> {
    if !path.is_dir() {
        return read(path);
    }
    let entries = std::fs::read_dir(path).map_err(|source| CorpusError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    if files.is_empty() {
        return Err(CorpusError::Empty {
            path: path.to_path_buf(),
        });
    }
    files.sort();
    let mut out = Vec::new();
    for file in files {
        out.extend(read(&file)?);
    }
    Ok(out)
}

/// `items` without those whose words (normalised as triage sees them) also stand in
/// `seen`.
pub fn unseen(items: Vec<Labelled>, seen: &[Labelled]) -> Vec<Labelled> {
    let key = |text: &str| crate::safety::normalize::words(text).join(" ");
    let seen: HashSet<String> = seen.iter().map(|s| key(&s.text)).collect();
    items
        .into_iter()
        .filter(|i| !seen.contains(&key(&i.text)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_labels_and_languages_are_refused_with_their_line() {
        let path = Path::new("x.jsonl");
        let ok = "{\"text\":\"hi\",\"expect\":\"smalltalk\",\"lang\":\"en\"}\n\n";
        assert_eq!(parse(path, ok).unwrap().len(), 1);
        let bad = format!("{ok}{{\"text\":\"hi\",\"expect\":\"crisiss\"}}\n");
        let e = parse(path, &bad).unwrap_err().to_string();
        assert!(e.contains("x.jsonl:3") && e.contains("crisiss"), "{e}");
        let lang = "{\"text\":\"hi\",\"expect\":\"faq\",\"lang\":\"fr\"}";
        assert!(parse(path, lang).unwrap_err().to_string().contains("fr"));
        let e = parse(path, "{\"text\": 3}").unwrap_err().to_string();
        assert!(e.starts_with("x.jsonl:1: not a labelled message"), "{e}");
    }

    #[test]
    fn unseen_leaves_out_the_same_words_however_typed() {
        let path = Path::new("x.jsonl");
        let items = parse(
            path,
            "{\"text\":\"I want to DIE!!\",\"expect\":\"crisis\"}\n{\"text\":\"hello\",\"expect\":\"smalltalk\"}",
        )
        .unwrap();
        let seen = parse(path, "{\"text\":\"i want to die\",\"expect\":\"crisis\"}").unwrap();
        let left = unseen(items, &seen);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].text, "hello");
    }
}
