//! Loading and validating `messages/`: reply texts, triage lexicons and rules.
//!
//! Invariant: once [`Content::load`] succeeds, every locale has every reply key and every
//! placeholder in a template is one the code fills, so rendering cannot fail at run time.

pub mod catalog;
mod faq;
mod lexicons;

pub use faq::FAQ_MODEL_FILE;
pub use lexicons::MODEL_FILE;
mod replies;

use std::path::{Path, PathBuf};

pub use catalog::Msg;
pub use replies::Replies;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::faq::Faq;
use crate::locale::Locale;
use crate::safety::Screener;

/// All reviewed content, validated and compiled.
pub struct Content {
    pub dir: PathBuf,
    pub replies: Replies,
    pub screener: Screener,
    pub faq: Faq,
}

impl Content {
    /// Loads every file under `dir`, collecting every problem rather than stopping at the
    /// first, so an author can fix them in one pass.
    pub fn load(dir: &Path) -> Result<Content, Diagnostics> {
        Content::load_with_clinic(dir, None)
    }

    /// Loads `dir` plus the clinic's own FAQ file, whose entries add to or replace the
    /// shipped ones.
    pub fn load_with_clinic(dir: &Path, clinic_faq: Option<&Path>) -> Result<Content, Diagnostics> {
        let mut problems = Vec::new();
        let replies = Replies::load(dir, &mut problems);
        let screener = lexicons::load(dir, &mut problems);
        let faq = faq::load(dir, clinic_faq, &mut problems);
        let Some(faq) = faq.filter(|_| problems.is_empty()) else {
            return Err(Diagnostics(problems));
        };
        Ok(Content {
            dir: dir.to_path_buf(),
            replies,
            screener,
            faq,
        })
    }

    /// The triage rules without the learned layer, for training that layer (which must
    /// work before any model file exists).
    pub fn load_rules(dir: &Path) -> Result<Screener, Diagnostics> {
        let mut problems = Vec::new();
        let (lexicon, rules) = lexicons::load_rules(dir, &mut problems);
        if !problems.is_empty() {
            return Err(Diagnostics(problems));
        }
        Ok(Screener::new(lexicon, rules, None))
    }

    /// The safety screen alone (rules and the triage model), for training the FAQ model
    /// on the questions that reach the FAQ.
    pub fn load_screener(dir: &Path) -> Result<Screener, Diagnostics> {
        let mut problems = Vec::new();
        let screener = lexicons::load(dir, &mut problems);
        if !problems.is_empty() {
            return Err(Diagnostics(problems));
        }
        Ok(screener)
    }

    /// The FAQ's catalogs without its model, for training that model (which must work
    /// before any model file exists). The clinic's file is left out: the shipped model
    /// is what the shipped content gives.
    pub fn load_faq_catalogs(dir: &Path) -> Result<Vec<crate::faq::Catalog>, Diagnostics> {
        let mut problems = Vec::new();
        let catalogs = faq::load_catalogs(dir, None, &mut problems);
        if !problems.is_empty() {
            return Err(Diagnostics(problems));
        }
        Ok(catalogs)
    }

    pub fn text(&self, locale: Locale, msg: Msg) -> &str {
        self.replies.text(locale, msg)
    }

    pub fn render(&self, locale: Locale, msg: Msg, params: &[(&str, &str)]) -> String {
        self.replies.render(locale, msg, params)
    }
}

/// Reads a content file, recording a diagnostic if it cannot be read.
pub(crate) fn read(path: &Path, problems: &mut Vec<Diagnostic>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) => {
            problems.push(Diagnostic::new(
                path,
                None,
                "file",
                format!("cannot read: {e}"),
            ));
            None
        }
    }
}

/// Parses a content file as TOML into `T`, recording a located diagnostic on failure.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    path: &Path,
    problems: &mut Vec<Diagnostic>,
) -> Option<(T, String)> {
    let source = read(path, problems)?;
    match toml::from_str(&source) {
        Ok(value) => Some((value, source)),
        Err(e) => {
            problems.push(Diagnostic::from_toml(path, &source, &e));
            None
        }
    }
}
