//! Triage lexicons (`messages/<locale>/safety.toml`) and rules (`messages/rules.toml`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{Diagnostic, line_of};
use crate::locale::Locale;
use crate::safety::lexicon::Lexicon;
use crate::safety::model::Model;
use crate::safety::{DEFAULT_WITHIN, Finding, MASK_CONCEPT, Rule, Screener};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LexiconFile {
    concepts: BTreeMap<String, Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    rule: Vec<RuleToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleToml {
    id: Spanned<String>,
    route: Spanned<String>,
    category: Spanned<String>,
    all: Spanned<Vec<String>>,
    #[serde(default)]
    none: Option<Spanned<Vec<String>>>,
    within: Option<usize>,
    max_words: Option<usize>,
}

pub(super) fn load(dir: &Path, problems: &mut Vec<Diagnostic>) -> Screener {
    let (lexicon, rules) = load_rules(dir, problems);
    Screener::new(lexicon, rules, load_model(dir, problems))
}

/// The lexicons and rules alone: what `waypoint train` calibrates the model beside.
pub(super) fn load_rules(dir: &Path, problems: &mut Vec<Diagnostic>) -> (Lexicon, Vec<Rule>) {
    let mut lexicon = Lexicon::default();
    for locale in Locale::ALL {
        let path = dir.join(locale.code()).join("safety.toml");
        let Some((file, source)) = super::parse::<LexiconFile>(&path, problems) else {
            continue;
        };
        for (name, patterns) in &file.concepts {
            let concept = lexicon.concept(name);
            for pattern in patterns {
                let typos = name != MASK_CONCEPT;
                if let Err(e) = lexicon.add_pattern(concept, pattern.get_ref(), typos) {
                    let line = Some(line_of(&source, pattern.span().start));
                    let field = format!("concepts.{name}: \"{}\"", pattern.get_ref());
                    problems.push(Diagnostic::new(&path, line, field, e.to_string()));
                }
            }
        }
    }
    let path = dir.join("rules.toml");
    let mut rules = Vec::new();
    if let Some((file, source)) = super::parse::<RulesFile>(&path, problems) {
        let mut seen = Vec::new();
        for raw in &file.rule {
            let at = |span: std::ops::Range<usize>| Some(line_of(&source, span.start));
            let id = raw.id.get_ref().clone();
            if seen.contains(&id) {
                problems.push(Diagnostic::new(
                    &path,
                    at(raw.id.span()),
                    "id",
                    format!("duplicate rule id {id}"),
                ));
            }
            seen.push(id.clone());
            let finding = Finding::parse(raw.route.get_ref(), raw.category.get_ref());
            if finding.is_none() {
                problems.push(Diagnostic::new(
                    &path,
                    at(raw.category.span()),
                    format!("rule {id}: category"),
                    format!(
                        "unknown route/category {}/{} (see docs/CONTENT.md)",
                        raw.route.get_ref(),
                        raw.category.get_ref()
                    ),
                ));
            }
            let mut resolve = |names: &Spanned<Vec<String>>, field: &str| -> Vec<usize> {
                names
                    .get_ref()
                    .iter()
                    .filter_map(|n| {
                        let found = lexicon.concept_id(n);
                        if found.is_none() {
                            problems.push(Diagnostic::new(
                                &path,
                                at(names.span()),
                                format!("rule {id}: {field}"),
                                format!("no locale defines the concept {n}"),
                            ));
                        }
                        found
                    })
                    .collect()
            };
            let all = resolve(&raw.all, "all");
            let none = raw
                .none
                .as_ref()
                .map(|n| resolve(n, "none"))
                .unwrap_or_default();
            if all.is_empty() {
                problems.push(Diagnostic::new(
                    &path,
                    at(raw.all.span()),
                    format!("rule {id}: all"),
                    "a rule needs at least one concept",
                ));
            }
            if let Some(finding) = finding {
                rules.push(Rule {
                    id,
                    finding,
                    all,
                    none,
                    within: raw.within.unwrap_or(DEFAULT_WITHIN),
                    max_words: raw.max_words,
                });
            }
        }
    }
    (lexicon, rules)
}

/// The learned layer's weights, written by `waypoint train`.
pub const MODEL_FILE: &str = "triage-model.bin";

fn load_model(dir: &Path, problems: &mut Vec<Diagnostic>) -> Option<Model> {
    let path = dir.join(MODEL_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => {
            problems.push(Diagnostic::new(
                &path,
                None,
                "file",
                format!("cannot read the triage model: {e} (rebuild it with `waypoint train`)"),
            ));
            return None;
        }
    };
    match Model::from_bytes(&bytes) {
        Ok(model) => Some(model),
        Err(e) => {
            problems.push(Diagnostic::new(&path, None, "model", e.to_string()));
            None
        }
    }
}
