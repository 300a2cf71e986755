//! `waypoint triage`: one message per input line in, one JSON object per line out, with
//! the route and the exact reply a consented participant would receive.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, Outcome};
use crate::locale::Locale;
use crate::safety::model::Label;

/// One line of `waypoint triage` output.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    pub route: String,
    pub faq_id: Option<String>,
    pub locale: String,
    pub reply: String,
    /// With `--explain`: the triage rules that fired and the concepts found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explain: Option<Explanation>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Explanation {
    pub rules: Vec<String>,
    pub concepts: Vec<String>,
    /// The learned layer's probabilities (crisis is the highest of the whole message and
    /// its windows), absent when the model does not read this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<BTreeMap<String, f32>>,
    /// The model's thresholds, to read the scores against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<BTreeMap<String, f32>>,
}

impl Verdict {
    pub fn from_outcome(outcome: &Outcome) -> Verdict {
        Verdict {
            route: outcome.route.name().to_string(),
            faq_id: outcome.faq_id.clone(),
            locale: outcome.locale.code().to_string(),
            reply: outcome
                .replies
                .iter()
                .map(|r| r.text.as_str())
                .collect::<Vec<_>>()
                .join("\n\n"),
            explain: None,
        }
    }
}

#[derive(Deserialize)]
struct JsonLine {
    text: String,
    #[serde(default)]
    lang: Option<String>,
}

/// Triages every line of `input`. With `jsonl`, lines are objects with `text` (and an
/// optional `lang`); a line that is not valid JSON is reported on stderr and skipped.
pub fn run(
    engine: &Engine,
    at: DateTime<Utc>,
    locale: Locale,
    jsonl: bool,
    explain: bool,
    input: impl BufRead,
    mut output: impl Write,
) -> io::Result<()> {
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        let (text, lang) = if jsonl {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<JsonLine>(&line) {
                Ok(j) => (
                    j.text,
                    j.lang
                        .as_deref()
                        .and_then(Locale::from_tag)
                        .unwrap_or(locale),
                ),
                Err(e) => {
                    eprintln!(
                        "line {}: not a JSON object with a \"text\" field: {e}",
                        n + 1
                    );
                    continue;
                }
            }
        } else {
            (line, locale)
        };
        let mut verdict = Verdict::from_outcome(&engine.triage(&text, lang, at));
        if explain {
            let screener = &engine.content().screener;
            let assessment = screener.screen(&text);
            let round = |v: f32| (v * 1000.0).round() / 1000.0;
            verdict.explain = Some(Explanation {
                model: assessment.scores.map(|s| {
                    Label::ALL
                        .into_iter()
                        .map(|l| (l.name().to_string(), round(s.of(l))))
                        .collect()
                }),
                thresholds: screener.model().map(|m| {
                    m.thresholds
                        .named()
                        .into_iter()
                        .map(|(n, v)| (n.to_string(), round(v)))
                        .collect()
                }),
                rules: assessment.rules,
                concepts: screener.explain(&text),
            });
        }
        serde_json::to_writer(&mut output, &verdict)?;
        writeln!(output)?;
    }
    Ok(())
}
