//! `waypoint faq eval FILE`: measures FAQ answers through the whole engine (the safety
//! screen and the other routes first, as a person would meet them) for each scorer on its
//! own and the hybrid, per language, and fails below the thresholds given. Missed texts
//! stay hidden unless asked for: held-out sets are measured, not read.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::engine::{Engine, Route};
use crate::faq::Mode;
use crate::locale::Locale;
use crate::tools::corpus::Labelled;
use crate::tools::train_faq::{Shares, render_shares};

/// Limits, each checked per language; `None` is not checked.
#[derive(Debug, Default, Clone)]
pub struct Thresholds {
    /// Answerable questions answered with their entry, per language.
    pub min_right: BTreeMap<&'static str, f64>,
    /// Off-topic questions answered with some entry.
    pub max_off_topic_answered: Option<f64>,
    /// Answerable questions given "did you mean" instead of an answer.
    pub max_suggested: Option<f64>,
}

/// The figures of one mode.
#[derive(Debug, Default)]
pub struct Report {
    pub shares: BTreeMap<&'static str, Shares>,
    pub misses: Vec<String>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Runs every `faq` item that names its entry and every `fallback` item (others are
/// skipped) through `engine` with the FAQ scorers of `mode`.
pub fn evaluate(
    engine: &Engine,
    mode: Mode,
    items: &[Labelled],
    at: DateTime<Utc>,
    show_text: bool,
) -> Report {
    let engine = engine.with_faq_mode(mode);
    let mut report = Report::default();
    for (n, item) in items.iter().enumerate() {
        // An faq question that names no entry (the dev set's kind) cannot be scored here;
        // `waypoint eval` checks its reply's words instead.
        let answerable = item.expect == "faq" && item.entry.is_some();
        if !answerable && item.expect != "fallback" {
            continue;
        }
        let lang = Locale::from_tag(item.lang()).unwrap_or(Locale::En);
        let outcome = engine.triage(&item.text, lang, at);
        let suggested = outcome.route == Route::Fallback
            && outcome
                .replies
                .iter()
                .flat_map(|r| r.buttons.iter().flatten())
                .any(|b| b.data.starts_with("q:"));
        let answered = outcome.route == Route::Faq;
        let s = report.shares.entry(lang.code()).or_default();
        let ok = match item.entry.as_deref() {
            Some(entry) if item.expect == "faq" => {
                let right = answered && outcome.faq_id.as_deref() == Some(entry);
                s.answerable += 1;
                s.right += usize::from(right);
                s.wrong += usize::from(answered && !right);
                s.suggested += usize::from(suggested);
                right
            }
            _ => {
                s.off_topic += 1;
                s.off_topic_answered += usize::from(answered);
                s.off_topic_suggested += usize::from(suggested);
                !answered
            }
        };
        if !ok {
            let text = if show_text {
                format!("  | {}", item.text.chars().take(90).collect::<String>())
            } else {
                String::new()
            };
            report.misses.push(format!(
                "item {}: expected {} got {}{text}",
                n + 1,
                item.entry.as_deref().unwrap_or("fallback"),
                if answered {
                    outcome.faq_id.unwrap_or_default()
                } else if suggested {
                    "did-you-mean".to_string()
                } else {
                    "fallback".to_string()
                },
            ));
        }
    }
    report
}

impl Report {
    /// The limits not met, as readable lines naming the language.
    pub fn failures(&self, t: &Thresholds) -> Vec<String> {
        let mut out = Vec::new();
        for (lang, s) in &self.shares {
            let mut check = |name: &str, value: f64, limit: Option<f64>, at_least: bool| {
                let Some(limit) = limit else { return };
                let failed = if at_least {
                    value + 1e-9 < limit
                } else {
                    value > limit + 1e-9
                };
                if failed {
                    out.push(format!(
                        "[{lang}] {name} {:.1}% is {} {:.1}%",
                        value * 100.0,
                        if at_least { "below" } else { "above" },
                        limit * 100.0
                    ));
                }
            };
            if s.answerable > 0 {
                check(
                    "right entry",
                    ratio(s.right, s.answerable),
                    t.min_right.get(lang).copied(),
                    true,
                );
                check(
                    "did-you-mean on answerable questions",
                    ratio(s.suggested, s.answerable),
                    t.max_suggested,
                    false,
                );
            }
            if s.off_topic > 0 {
                check(
                    "off-topic answered",
                    ratio(s.off_topic_answered, s.off_topic),
                    t.max_off_topic_answered,
                    false,
                );
            }
        }
        out
    }

    pub fn render(&self, show_misses: bool, show_text: bool) -> String {
        let mut s = render_shares(&self.shares);
        if show_misses && !self.misses.is_empty() {
            let _ = writeln!(s, "  misses ({})", self.misses.len());
            if !show_text {
                let _ = writeln!(s, "    (texts hidden: held-out questions are not read)");
            }
            for m in &self.misses {
                let _ = writeln!(s, "    {m}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_language_is_held_to_its_own_minimum() {
        let mut r = Report::default();
        r.shares.insert(
            "en",
            Shares {
                answerable: 100,
                right: 96,
                off_topic: 10,
                ..Shares::default()
            },
        );
        r.shares.insert(
            "es",
            Shares {
                answerable: 100,
                right: 91,
                suggested: 20,
                off_topic: 10,
                off_topic_answered: 1,
                ..Shares::default()
            },
        );
        let t = Thresholds {
            min_right: [("en", 0.95), ("es", 0.92)].into(),
            max_off_topic_answered: Some(0.05),
            max_suggested: Some(0.15),
        };
        let f = r.failures(&t);
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(f.iter().all(|l| l.starts_with("[es]")), "{f:?}");
    }
}
