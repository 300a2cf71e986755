//! FAQ content: `messages/<locale>/faq.toml`, `faq_terms.toml`, and the clinic's own file,
//! loaded, merged and linted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{Diagnostic, line_of};
use crate::faq::analyzer::Analyzer;
use crate::faq::combiner::FaqModel;
use crate::faq::{Catalog, Entry, Faq, Topic};
use crate::locale::Locale;

/// Longest answer, in characters.
pub const MAX_ANSWER_CHARS: usize = 700;
/// Longest question: it doubles as a button label.
pub const MAX_QUESTION_CHARS: usize = 80;
/// Most entries in one topic, so that any answer is two taps away in `/faq`.
pub const MAX_TOPIC_ENTRIES: usize = 12;
/// Questions sharing this share of their terms are near-duplicates.
const NEAR_DUPLICATE: f64 = 0.8;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaqFile {
    #[serde(default)]
    topic: Vec<toml::Spanned<TopicToml>>,
    #[serde(default)]
    entry: Vec<Spanned<EntryToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicToml {
    id: String,
    title: String,
    /// Only in the clinic's file, where entries of every locale live together.
    #[serde(default)]
    locale: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct EntryToml {
    id: String,
    topic: String,
    question: String,
    #[serde(default)]
    phrasings: Vec<String>,
    #[serde(default)]
    keywords: Vec<String>,
    answer: String,
    #[serde(default)]
    source: String,
    reviewed: String,
    #[serde(default)]
    related: Vec<String>,
    #[serde(default)]
    locale: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TermsFile {
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    synonyms: Vec<Vec<String>>,
}

/// An entry and where it came from, for diagnostics.
struct Located {
    entry: Entry,
    path: PathBuf,
    line: usize,
}

/// The FAQ model's file in the content directory, written by `waypoint train-faq`.
pub const FAQ_MODEL_FILE: &str = "faq-model.bin";

pub(super) fn load(
    dir: &Path,
    clinic_file: Option<&Path>,
    problems: &mut Vec<Diagnostic>,
) -> Option<Faq> {
    let catalogs = load_catalogs(dir, clinic_file, problems);
    let model = load_model(dir, problems)?;
    // Every shipped entry must be one the classifier was trained on; a clinic's own may
    // not be (the lexical decider judges those).
    for locale in Locale::ALL {
        let shipped = dir.join(locale.code()).join("faq.toml");
        if let Some((file, _)) = super::parse::<FaqFile>(&shipped, &mut Vec::new()) {
            for e in file.entry {
                let id = &e.get_ref().id;
                if !model.classifier.classes.iter().any(|c| c == id) {
                    problems.push(Diagnostic::new(
                        &dir.join(FAQ_MODEL_FILE),
                        None,
                        format!("entry {id}"),
                        "the FAQ model does not know this entry: rebuild it with `waypoint train-faq`",
                    ));
                }
            }
        }
    }
    Some(Faq::new(catalogs, model))
}

fn load_model(dir: &Path, problems: &mut Vec<Diagnostic>) -> Option<FaqModel> {
    let path = dir.join(FAQ_MODEL_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            problems.push(Diagnostic::new(
                &path,
                None,
                "model",
                format!("cannot read the FAQ model: {e} (rebuild it with `waypoint train-faq`)"),
            ));
            return None;
        }
    };
    match FaqModel::from_bytes(&bytes) {
        Ok(m) => Some(m),
        Err(e) => {
            problems.push(Diagnostic::new(&path, None, "model", e.to_string()));
            None
        }
    }
}

/// The catalogs of every locale (shipped entries plus the clinic's), linted, without the
/// model: what training the model starts from.
pub(super) fn load_catalogs(
    dir: &Path,
    clinic_file: Option<&Path>,
    problems: &mut Vec<Diagnostic>,
) -> Vec<Catalog> {
    let mut topics: Vec<Vec<Topic>> = vec![Vec::new(); Locale::ALL.len()];
    let mut entries: Vec<Vec<Located>> = Locale::ALL.iter().map(|_| Vec::new()).collect();
    for locale in Locale::ALL {
        let path = dir.join(locale.code()).join("faq.toml");
        if let Some((file, source)) = super::parse::<FaqFile>(&path, problems) {
            absorb(
                file,
                &source,
                &path,
                Some(locale),
                &mut topics,
                &mut entries,
                problems,
            );
        }
    }
    if let Some(path) = clinic_file
        && let Some((file, source)) = super::parse::<FaqFile>(path, problems)
    {
        absorb(
            file,
            &source,
            path,
            None,
            &mut topics,
            &mut entries,
            problems,
        );
    }
    lint(dir, &topics, &entries, problems);
    Locale::ALL
        .iter()
        .map(|&locale| {
            let path = dir.join(locale.code()).join("faq_terms.toml");
            let terms = if path.exists() {
                super::parse::<TermsFile>(&path, problems)
                    .map(|(t, _)| t)
                    .unwrap_or_default()
            } else {
                TermsFile::default()
            };
            let analyzer = Analyzer::new(locale, &terms.stopwords, &terms.synonyms);
            let list = entries[locale.index()]
                .iter()
                .map(|l| l.entry.clone())
                .collect();
            Catalog::new(topics[locale.index()].clone(), list, analyzer)
        })
        .collect()
}

/// Adds a file's topics and entries; in the clinic's file (`locale` = None) each item names
/// its locale, and an entry with an existing id replaces the shipped one.
fn absorb(
    file: FaqFile,
    source: &str,
    path: &Path,
    locale: Option<Locale>,
    topics: &mut [Vec<Topic>],
    entries: &mut [Vec<Located>],
    problems: &mut Vec<Diagnostic>,
) {
    let pick = |tag: &Option<String>,
                line: Option<usize>,
                problems: &mut Vec<Diagnostic>|
     -> Option<Locale> {
        match (locale, tag) {
            (Some(l), None) => Some(l),
            (Some(_), Some(_)) => {
                problems.push(Diagnostic::new(
                    path,
                    line,
                    "locale",
                    "only the clinic's file names a locale per item",
                ));
                None
            }
            (None, Some(tag)) => Locale::from_tag(tag).or_else(|| {
                problems.push(Diagnostic::new(
                    path,
                    line,
                    "locale",
                    format!("unsupported locale {tag:?}"),
                ));
                None
            }),
            (None, None) => {
                problems.push(Diagnostic::new(
                    path,
                    line,
                    "locale",
                    "each clinic entry and topic needs locale = \"en\" or \"es\"",
                ));
                None
            }
        }
    };
    for spanned in file.topic {
        let line = line_of(source, spanned.span().start);
        let topic = spanned.into_inner();
        // A topic becomes button data (`t:<id>`, at most 64 bytes) and a button label.
        if !valid_id(&topic.id) {
            problems.push(Diagnostic::new(
                path,
                Some(line),
                format!("topic {}: id", topic.id),
                "ids are 1-40 characters of a-z, 0-9 and -",
            ));
            continue;
        }
        if topic.title.trim().is_empty() || topic.title.chars().count() > 60 {
            problems.push(Diagnostic::new(
                path,
                Some(line),
                format!("topic {}: title", topic.id),
                "a topic's title is 1-60 characters (it is a button label)",
            ));
            continue;
        }
        if let Some(l) = pick(&topic.locale, Some(line), problems) {
            let list = &mut topics[l.index()];
            let new = Topic {
                id: topic.id,
                title: topic.title,
            };
            match list.iter_mut().find(|t| t.id == new.id) {
                Some(existing) => *existing = new,
                None => list.push(new),
            }
        }
    }
    for spanned in file.entry {
        let line = line_of(source, spanned.span().start);
        let raw = spanned.into_inner();
        let Some(l) = pick(&raw.locale, Some(line), problems) else {
            continue;
        };
        let entry = Entry {
            id: raw.id,
            topic: raw.topic,
            question: raw.question,
            phrasings: raw.phrasings,
            keywords: raw.keywords,
            answer: raw.answer.trim().to_string(),
            source: raw.source,
            reviewed: raw.reviewed,
            related: raw.related,
        };
        let list = &mut entries[l.index()];
        let located = Located {
            entry,
            path: path.to_path_buf(),
            line,
        };
        match (
            locale,
            list.iter_mut().find(|e| e.entry.id == located.entry.id),
        ) {
            (None, Some(existing)) => *existing = located,
            _ => list.push(located),
        }
    }
}

/// FAQ entry and topic ids: 1-40 characters of a-z, 0-9 and -.
fn valid_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn lint(
    dir: &Path,
    topics: &[Vec<Topic>],
    entries: &[Vec<Located>],
    problems: &mut Vec<Diagnostic>,
) {
    let mut ids_by_locale: Vec<BTreeSet<&str>> = Vec::new();
    for locale in Locale::ALL {
        let list = &entries[locale.index()];
        let topic_ids: Vec<&str> = topics[locale.index()]
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        let ids: BTreeSet<&str> = list.iter().map(|l| l.entry.id.as_str()).collect();
        let mut seen = BTreeSet::new();
        let mut per_topic: BTreeMap<&str, usize> = BTreeMap::new();
        for l in list {
            let e = &l.entry;
            let mut bad = |field: &str, problem: String| {
                problems.push(Diagnostic::new(
                    &l.path,
                    Some(l.line),
                    format!("entry {}: {field}", e.id),
                    problem,
                ));
            };
            if !seen.insert(e.id.as_str()) {
                bad("id", "duplicate id".into());
            }
            if !valid_id(&e.id) {
                bad("id", "ids are 1-40 characters of a-z, 0-9 and -".into());
            }
            if !topic_ids.contains(&e.topic.as_str()) {
                bad("topic", format!("no topic {:?} in this locale", e.topic));
            }
            *per_topic.entry(e.topic.as_str()).or_default() += 1;
            if e.question.trim().is_empty() || e.question.chars().count() > MAX_QUESTION_CHARS {
                bad(
                    "question",
                    format!(
                        "must be 1-{MAX_QUESTION_CHARS} characters (it is also a button label)"
                    ),
                );
            }
            let len = e.answer.chars().count();
            if len == 0 || len > MAX_ANSWER_CHARS {
                bad(
                    "answer",
                    format!("must be 1-{MAX_ANSWER_CHARS} characters, is {len}"),
                );
            }
            if e.source.trim().is_empty() {
                bad(
                    "source",
                    "every entry names the public source of its facts".into(),
                );
            }
            if chrono::NaiveDate::parse_from_str(&e.reviewed, "%Y-%m-%d").is_err() {
                bad(
                    "reviewed",
                    format!("{:?} is not a date like 2026-11-24", e.reviewed),
                );
            }
            for r in &e.related {
                if !ids.contains(r.as_str()) {
                    bad("related", format!("no entry {r:?}"));
                }
            }
        }
        let faq_path = dir.join(locale.code()).join("faq.toml");
        for (topic, n) in per_topic {
            if n > MAX_TOPIC_ENTRIES {
                problems.push(Diagnostic::new(
                    &faq_path,
                    None,
                    format!("topic {topic}"),
                    format!("{n} entries; at most {MAX_TOPIC_ENTRIES} fit two taps"),
                ));
            }
        }
        near_duplicates(locale, list, problems);
        ids_by_locale.push(ids);
    }
    for (i, locale) in Locale::ALL.iter().enumerate() {
        for (j, other) in Locale::ALL.iter().enumerate() {
            if i == j {
                continue;
            }
            for id in ids_by_locale[i].difference(&ids_by_locale[j]) {
                let path = dir.join(other.code()).join("faq.toml");
                problems.push(Diagnostic::new(
                    &path,
                    None,
                    format!("entry {id}"),
                    format!("present in {} but missing here", locale.code()),
                ));
            }
        }
    }
}

/// Two questions that share most of their terms confuse the matcher and the reader.
fn near_duplicates(locale: Locale, list: &[Located], problems: &mut Vec<Diagnostic>) {
    let analyzer = Analyzer::new(locale, &[], &[]);
    let sets: Vec<BTreeSet<String>> = list
        .iter()
        .map(|l| analyzer.terms(&l.entry.question).into_iter().collect())
        .collect();
    for i in 0..list.len() {
        for j in i + 1..list.len() {
            let (a, b) = (&sets[i], &sets[j]);
            let union = a.union(b).count();
            if union >= 2 && a.intersection(b).count() as f64 / union as f64 >= NEAR_DUPLICATE {
                problems.push(Diagnostic::new(
                    &list[j].path,
                    Some(list[j].line),
                    format!("entry {}: question", list[j].entry.id),
                    format!("near-duplicate of entry {}'s question", list[i].entry.id),
                ));
            }
        }
    }
}
