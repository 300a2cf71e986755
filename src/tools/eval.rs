//! `waypoint eval FILE`: measures triage against labelled messages — per-route recall and
//! precision, the confusion of routes, the misses, FAQ answer correctness — and fails
//! when a measure falls below a threshold given on the command line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::engine::Engine;
use crate::locale::Locale;
use crate::tools::triage::Verdict;

/// One labelled message.
#[derive(Debug, Deserialize)]
pub struct Labelled {
    #[serde(default)]
    pub id: Option<String>,
    pub text: String,
    pub expect: String,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub must_contain_any: Option<Vec<String>>,
}

/// Minimums and maximums; `None` is not checked.
#[derive(Debug, Default, Clone)]
pub struct Thresholds {
    /// Crisis recall, checked for each language separately.
    pub min_crisis_recall: Option<f64>,
    pub max_benign_as_crisis: Option<f64>,
    pub min_clinical_recall: Option<f64>,
    /// Program (`faq`) questions wrongly refused as clinical.
    pub max_faq_as_clinical: Option<f64>,
    pub min_support_recall: Option<f64>,
    /// `faq` items whose reply contains one of `must_contain_any`.
    pub min_faq_correct: Option<f64>,
    /// `fallback` items that got an FAQ answer.
    pub max_fallback_answered: Option<f64>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub total: usize,
    /// expected route -> predicted route -> count
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// (lang, expected) -> (hits, total) for crisis recall per language
    pub crisis_by_lang: BTreeMap<String, (usize, usize)>,
    pub faq_correct: (usize, usize),
    pub misses: Vec<String>,
}

impl Report {
    fn count(&self, expected: &str, predicted: &str) -> usize {
        self.confusion
            .get(expected)
            .and_then(|row| row.get(predicted))
            .copied()
            .unwrap_or(0)
    }

    fn expected_total(&self, expected: &str) -> usize {
        self.confusion
            .get(expected)
            .map(|r| r.values().sum())
            .unwrap_or(0)
    }

    fn predicted_total(&self, predicted: &str) -> usize {
        self.confusion
            .values()
            .filter_map(|r| r.get(predicted))
            .sum()
    }

    pub fn recall(&self, route: &str) -> Option<f64> {
        ratio(self.count(route, route), self.expected_total(route))
    }

    pub fn precision(&self, route: &str) -> Option<f64> {
        ratio(self.count(route, route), self.predicted_total(route))
    }

    /// The share of items expected as `expected` that went to `predicted`.
    pub fn rate(&self, expected: &str, predicted: &str) -> Option<f64> {
        ratio(
            self.count(expected, predicted),
            self.expected_total(expected),
        )
    }

    /// The thresholds not met, as readable lines.
    pub fn failures(&self, t: &Thresholds) -> Vec<String> {
        let mut out = Vec::new();
        let mut at_least = |name: &str, value: Option<f64>, min: Option<f64>| {
            if let (Some(v), Some(min)) = (value, min)
                && v + 1e-9 < min
            {
                out.push(format!(
                    "{name} {:.1}% is below {:.1}%",
                    v * 100.0,
                    min * 100.0
                ));
            }
        };
        for (lang, (hit, total)) in &self.crisis_by_lang {
            at_least(
                &format!("crisis recall ({lang})"),
                ratio(*hit, *total),
                t.min_crisis_recall,
            );
        }
        at_least(
            "clinical recall",
            self.recall("clinical"),
            t.min_clinical_recall,
        );
        at_least(
            "support recall",
            self.recall("support"),
            t.min_support_recall,
        );
        at_least(
            "faq correct answers",
            ratio(self.faq_correct.0, self.faq_correct.1),
            t.min_faq_correct,
        );
        let mut at_most = |name: &str, value: Option<f64>, max: Option<f64>| {
            if let (Some(v), Some(max)) = (value, max)
                && v > max + 1e-9
            {
                out.push(format!(
                    "{name} {:.1}% is above {:.1}%",
                    v * 100.0,
                    max * 100.0
                ));
            }
        };
        at_most(
            "benign routed to crisis",
            self.rate("benign", "crisis"),
            t.max_benign_as_crisis,
        );
        at_most(
            "program questions routed to clinical",
            self.rate("faq", "clinical"),
            t.max_faq_as_clinical,
        );
        at_most(
            "fallback items answered from the FAQ",
            self.rate("fallback", "faq"),
            t.max_fallback_answered,
        );
        out
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let pct =
            |v: Option<f64>| v.map_or("   -  ".to_string(), |v| format!("{:5.1}%", v * 100.0));
        let _ = writeln!(s, "{} messages", self.total);
        let _ = writeln!(s, "\nroute        recall  precision  (n)");
        for route in [
            "crisis",
            "support",
            "clinical",
            "faq",
            "smalltalk",
            "fallback",
        ] {
            let _ = writeln!(
                s,
                "{route:<12} {}  {}     ({})",
                pct(self.recall(route)),
                pct(self.precision(route)),
                self.expected_total(route)
            );
        }
        for (lang, (hit, total)) in &self.crisis_by_lang {
            let _ = writeln!(s, "crisis recall [{lang}]: {hit}/{total}");
        }
        let _ = writeln!(
            s,
            "benign -> crisis: {}",
            pct(self.rate("benign", "crisis"))
        );
        let _ = writeln!(s, "faq -> clinical: {}", pct(self.rate("faq", "clinical")));
        let _ = writeln!(s, "fallback -> faq: {}", pct(self.rate("fallback", "faq")));
        let _ = writeln!(
            s,
            "faq replies containing an expected phrase: {}/{} {}",
            self.faq_correct.0,
            self.faq_correct.1,
            pct(ratio(self.faq_correct.0, self.faq_correct.1))
        );
        let _ = writeln!(s, "\nconfusion (expected -> predicted: count)");
        for (expected, row) in &self.confusion {
            let cells: Vec<String> = row.iter().map(|(p, n)| format!("{p}:{n}")).collect();
            let _ = writeln!(s, "  {expected:<10} {}", cells.join("  "));
        }
        if !self.misses.is_empty() {
            let _ = writeln!(s, "\nmisses ({})", self.misses.len());
            for m in &self.misses {
                let _ = writeln!(s, "  {m}");
            }
        }
        s
    }
}

fn ratio(hit: usize, total: usize) -> Option<f64> {
    (total > 0).then(|| hit as f64 / total as f64)
}

/// Runs every item through the engine's triage.
pub fn evaluate(engine: &Engine, items: &[Labelled], at: DateTime<Utc>) -> Report {
    let mut report = Report::default();
    for (n, item) in items.iter().enumerate() {
        let lang = item
            .lang
            .as_deref()
            .and_then(Locale::from_tag)
            .unwrap_or(Locale::En);
        let verdict = Verdict::from_outcome(&engine.triage(&item.text, lang, at));
        let predicted = verdict.route.clone();
        report.total += 1;
        *report
            .confusion
            .entry(item.expect.clone())
            .or_default()
            .entry(predicted.clone())
            .or_default() += 1;
        let id = item.id.clone().unwrap_or_else(|| format!("line {}", n + 1));
        if item.expect == "crisis" {
            let slot = report
                .crisis_by_lang
                .entry(lang.code().to_string())
                .or_default();
            slot.1 += 1;
            slot.0 += usize::from(predicted == "crisis");
        }
        let route_ok = match item.expect.as_str() {
            "benign" => predicted != "crisis",
            expected => predicted == expected,
        };
        let mut content_ok = true;
        if item.expect == "faq" {
            let wanted = item.must_contain_any.as_deref().unwrap_or(&[]);
            let reply = verdict.reply.to_lowercase();
            content_ok = predicted == "faq"
                && (wanted.is_empty() || wanted.iter().any(|w| reply.contains(&w.to_lowercase())));
            report.faq_correct.1 += 1;
            report.faq_correct.0 += usize::from(content_ok);
        }
        if !route_ok || !content_ok {
            let excerpt: String = item.text.chars().take(90).collect();
            report.misses.push(format!(
                "{id}: expected {} got {}{}  | {excerpt}",
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
