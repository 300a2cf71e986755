//! `waypoint eval FILE`: measures triage against labelled messages — per language, per
//! layer (rules alone, model alone, both), per tag — and fails when a measure falls below
//! a threshold given on the command line. Every threshold is checked in each language
//! separately: a good English figure must not hide a poor Spanish one.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::engine::Engine;
use crate::locale::Locale;
use crate::safety::Layers;
use crate::tools::corpus::Labelled;
use crate::tools::triage::Verdict;

/// Minimums and maximums, each checked per language; `None` is not checked.
#[derive(Debug, Default, Clone)]
pub struct Thresholds {
    /// Crisis messages answered with the crisis reply or the "are you safe?" check.
    pub min_crisis_recall: Option<f64>,
    /// Benign messages given the full crisis reply.
    pub max_benign_as_crisis: Option<f64>,
    /// Benign messages asked "are you safe?".
    pub max_benign_as_check: Option<f64>,
    pub min_clinical_recall: Option<f64>,
    /// Program (`faq`) questions wrongly refused as clinical.
    pub max_faq_as_clinical: Option<f64>,
    pub min_support_recall: Option<f64>,
    /// `faq` items whose reply contains one of `must_contain_any`.
    pub min_faq_correct: Option<f64>,
    /// `fallback` items that got an FAQ answer.
    pub max_fallback_answered: Option<f64>,
}

/// expected route -> predicted route -> count
type Confusion = BTreeMap<String, BTreeMap<String, usize>>;

#[derive(Debug, Default)]
pub struct Report {
    pub total: usize,
    pub by_lang: BTreeMap<String, Confusion>,
    /// lang -> (correct answers, faq items)
    pub faq_correct: BTreeMap<String, (usize, usize)>,
    /// tag -> (right route, messages)
    pub tags: BTreeMap<String, (usize, usize)>,
    pub misses: Vec<String>,
}

/// The measures of one language.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Figures {
    pub crisis_recall: Option<f64>,
    pub benign_as_crisis: Option<f64>,
    pub benign_as_check: Option<f64>,
    pub clinical_recall: Option<f64>,
    pub faq_as_clinical: Option<f64>,
    pub support_recall: Option<f64>,
    pub faq_correct: Option<f64>,
    pub fallback_answered: Option<f64>,
}

impl Report {
    pub fn figures(&self, lang: &str) -> Figures {
        let empty = Confusion::new();
        let c = self.by_lang.get(lang).unwrap_or(&empty);
        let count = |e: &str, p: &[&str]| -> usize {
            c.get(e)
                .map(|row| p.iter().filter_map(|p| row.get(*p)).sum())
                .unwrap_or(0)
        };
        let total = |e: &str| -> usize { c.get(e).map(|r| r.values().sum()).unwrap_or(0) };
        let rate = |e: &str, p: &[&str]| ratio(count(e, p), total(e));
        let faq = self.faq_correct.get(lang).copied().unwrap_or((0, 0));
        Figures {
            crisis_recall: rate("crisis", &["crisis", "check"]),
            benign_as_crisis: rate("benign", &["crisis"]),
            benign_as_check: rate("benign", &["check"]),
            clinical_recall: rate("clinical", &["clinical"]),
            faq_as_clinical: rate("faq", &["clinical"]),
            support_recall: rate("support", &["support"]),
            faq_correct: ratio(faq.0, faq.1),
            fallback_answered: rate("fallback", &["faq"]),
        }
    }

    /// The thresholds not met, as readable lines naming the language.
    pub fn failures(&self, t: &Thresholds) -> Vec<String> {
        let mut out = Vec::new();
        for lang in self.by_lang.keys() {
            let f = self.figures(lang);
            let checks = [
                ("crisis recall", f.crisis_recall, t.min_crisis_recall, true),
                (
                    "clinical recall",
                    f.clinical_recall,
                    t.min_clinical_recall,
                    true,
                ),
                (
                    "support recall",
                    f.support_recall,
                    t.min_support_recall,
                    true,
                ),
                (
                    "faq correct answers",
                    f.faq_correct,
                    t.min_faq_correct,
                    true,
                ),
                (
                    "benign given the crisis reply",
                    f.benign_as_crisis,
                    t.max_benign_as_crisis,
                    false,
                ),
                (
                    "benign asked the safety check",
                    f.benign_as_check,
                    t.max_benign_as_check,
                    false,
                ),
                (
                    "program questions refused as clinical",
                    f.faq_as_clinical,
                    t.max_faq_as_clinical,
                    false,
                ),
                (
                    "fallback items answered from the FAQ",
                    f.fallback_answered,
                    t.max_fallback_answered,
                    false,
                ),
            ];
            for (name, value, limit, at_least) in checks {
                let (Some(v), Some(limit)) = (value, limit) else {
                    continue;
                };
                let failed = if at_least {
                    v + 1e-9 < limit
                } else {
                    v > limit + 1e-9
                };
                if failed {
                    out.push(format!(
                        "[{lang}] {name} {:.1}% is {} {:.1}%",
                        v * 100.0,
                        if at_least { "below" } else { "above" },
                        limit * 100.0
                    ));
                }
            }
        }
        out
    }

    /// The measures, per language.
    pub fn render_figures(&self) -> String {
        let mut s = String::from(
            "lang  crisis  benign>crisis  benign>check  clinical  faq>clinical  support  faq-ok  fallback>faq\n",
        );
        for lang in self.by_lang.keys() {
            let f = self.figures(lang);
            let _ = writeln!(
                s,
                "{lang:<5} {}  {}         {}        {}    {}        {}   {}  {}",
                pct(f.crisis_recall),
                pct(f.benign_as_crisis),
                pct(f.benign_as_check),
                pct(f.clinical_recall),
                pct(f.faq_as_clinical),
                pct(f.support_recall),
                pct(f.faq_correct),
                pct(f.fallback_answered),
            );
        }
        s
    }

    pub fn render(&self, show_text: bool) -> String {
        let mut s = format!("{} messages\n\n", self.total);
        s.push_str(&self.render_figures());
        let _ = writeln!(s, "\nconfusion (expected -> predicted: count)");
        for (lang, confusion) in &self.by_lang {
            for (expected, row) in confusion {
                let cells: Vec<String> = row.iter().map(|(p, n)| format!("{p}:{n}")).collect();
                let _ = writeln!(s, "  [{lang}] {expected:<10} {}", cells.join("  "));
            }
        }
        let _ = writeln!(s, "\nright route by tag (tags with 5 or more messages)");
        for (tag, (ok, n)) in self.tags.iter().filter(|(_, (_, n))| *n >= 5) {
            let _ = writeln!(s, "  {tag:<24} {}  ({ok}/{n})", pct(ratio(*ok, *n)));
        }
        if !self.misses.is_empty() {
            let _ = writeln!(s, "\nmisses ({})", self.misses.len());
            if !show_text {
                let _ = writeln!(s, "  (texts hidden: held-out messages are not read)");
            }
            for m in &self.misses {
                let _ = writeln!(s, "  {m}");
            }
        }
        s
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("   -  ".to_string(), |v| format!("{:5.1}%", v * 100.0))
}

fn ratio(hit: usize, total: usize) -> Option<f64> {
    (total > 0).then(|| hit as f64 / total as f64)
}

/// Runs every item through the engine's triage.
pub fn evaluate(engine: &Engine, items: &[Labelled], at: DateTime<Utc>, show_text: bool) -> Report {
    let mut report = Report::default();
    for (n, item) in items.iter().enumerate() {
        let lang = Locale::from_tag(item.lang()).unwrap_or(Locale::En);
        let verdict = Verdict::from_outcome(&engine.triage(&item.text, lang, at));
        let predicted = verdict.route.clone();
        report.total += 1;
        *report
            .by_lang
            .entry(lang.code().to_string())
            .or_default()
            .entry(item.expect.clone())
            .or_default()
            .entry(predicted.clone())
            .or_default() += 1;
        let route_ok = match item.expect.as_str() {
            "crisis" => predicted == "crisis" || predicted == "check",
            "benign" => predicted != "crisis" && predicted != "check",
            expected => predicted == expected,
        };
        let mut content_ok = true;
        if item.expect == "faq" {
            let wanted = item.must_contain_any.as_deref().unwrap_or(&[]);
            let reply = verdict.reply.to_lowercase();
            content_ok = predicted == "faq"
                && (wanted.is_empty() || wanted.iter().any(|w| reply.contains(&w.to_lowercase())));
            let slot = report
                .faq_correct
                .entry(lang.code().to_string())
                .or_default();
            slot.1 += 1;
            slot.0 += usize::from(content_ok);
        }
        for tag in &item.tags {
            let slot = report.tags.entry(tag.clone()).or_default();
            slot.1 += 1;
            slot.0 += usize::from(route_ok);
        }
        if !route_ok || !content_ok {
            let id = item.id.clone().unwrap_or_else(|| format!("line {}", n + 1));
            let excerpt: String = if show_text {
                format!("  | {}", item.text.chars().take(90).collect::<String>())
            } else {
                String::new()
            };
            report.misses.push(format!(
                "{id}: expected {} got {}{}{excerpt}",
                item.expect,
                predicted,
                verdict
                    .faq_id
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default()
            ));
        }
    }
    report
}

/// The figures of each layer on its own and of both together, side by side.
pub fn compare_layers(engine: &Engine, items: &[Labelled], at: DateTime<Utc>) -> String {
    let mut s = String::new();
    for (name, layers) in [
        ("rules alone", Layers::Rules),
        ("model alone", Layers::Model),
        ("rules + model", Layers::Both),
    ] {
        let report = evaluate(&engine.with_layers(layers), items, at, false);
        let _ = writeln!(s, "{name}:");
        s.push_str(&report.render_figures());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rows: &[(&str, &str, &str, usize)]) -> Report {
        let mut r = Report::default();
        for (lang, e, p, n) in rows {
            *r.by_lang
                .entry(lang.to_string())
                .or_default()
                .entry(e.to_string())
                .or_default()
                .entry(p.to_string())
                .or_default() += n;
        }
        r
    }

    #[test]
    fn the_check_counts_as_found_for_crises_and_as_an_alarm_for_benign() {
        let r = report(&[
            ("en", "crisis", "crisis", 6),
            ("en", "crisis", "check", 3),
            ("en", "crisis", "fallback", 1),
            ("en", "benign", "check", 2),
            ("en", "benign", "fallback", 8),
        ]);
        let f = r.figures("en");
        assert_eq!(f.crisis_recall, Some(0.9));
        assert_eq!(f.benign_as_check, Some(0.2));
        assert_eq!(f.benign_as_crisis, Some(0.0));
    }

    #[test]
    fn each_language_is_held_to_the_thresholds_on_its_own() {
        let r = report(&[
            ("en", "crisis", "crisis", 99),
            ("en", "crisis", "fallback", 1),
            ("es", "crisis", "crisis", 9),
            ("es", "crisis", "fallback", 1),
        ]);
        let t = Thresholds {
            min_crisis_recall: Some(0.95),
            ..Thresholds::default()
        };
        let failures = r.failures(&t);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].starts_with("[es] crisis recall 90.0%"));
    }
}
