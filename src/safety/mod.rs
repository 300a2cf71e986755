//! Triage of free text: crisis, clinical-advice, support and small-talk detection.
//!
//! Pure and total: no I/O, no clock, and every input (empty, huge, any Unicode) gets an
//! [`Assessment`]. The lexicons and rules are content (`messages/`), compiled once at start.
//! Crisis rules always run over the concepts of every locale, whatever the person's language.

mod fast_hash;
pub mod lexicon;
pub mod normalize;

use lexicon::{ConceptId, Hit, Lexicon, Prepared};

/// The name of the concept whose matches are blanked before any rule runs.
pub const MASK_CONCEPT: &str = "mask";
/// Default span, in words, inside which all of a rule's concepts must occur.
pub const DEFAULT_WITHIN: usize = 12;

/// A danger to life or safety: the reply leads with human help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Crisis {
    Overdose,
    Withdrawal,
    HarmOthers,
    Unsafe,
    Suicide,
    SelfHarm,
}

impl Crisis {
    /// Whether 911 (or the local emergency number) comes first in the reply.
    pub fn is_emergency(self) -> bool {
        matches!(
            self,
            Crisis::Overdose | Crisis::Withdrawal | Crisis::HarmOthers | Crisis::Unsafe
        )
    }
}

/// A request for medical advice that Waypoint must decline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Clinical {
    Medication,
    Diagnosis,
    HomeDetox,
    TestResult,
}

/// Cravings, urges and lapses that are not a danger to life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Support {
    Craving,
    Lapse,
    HighRisk,
}

/// A request Waypoint cannot act on: about the person's own case, schedule or staff, or
/// asking it to do something outside its job. It gets an honest pointer to the care team,
/// never an FAQ entry that merely shares a word with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    Personal,
    Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Smalltalk {
    Greeting,
    Thanks,
    Ack,
}

/// What a rule concludes when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finding {
    Crisis(Crisis),
    Clinical(Clinical),
    Support(Support),
    Request(Request),
    Smalltalk(Smalltalk),
}

impl Finding {
    /// Parses a rule's `route` and `category`; `None` names an unknown pair.
    pub fn parse(route: &str, category: &str) -> Option<Finding> {
        Some(match (route, category) {
            ("crisis", "suicide") => Finding::Crisis(Crisis::Suicide),
            ("crisis", "self_harm") => Finding::Crisis(Crisis::SelfHarm),
            ("crisis", "overdose") => Finding::Crisis(Crisis::Overdose),
            ("crisis", "withdrawal") => Finding::Crisis(Crisis::Withdrawal),
            ("crisis", "harm_others") => Finding::Crisis(Crisis::HarmOthers),
            ("crisis", "unsafe") => Finding::Crisis(Crisis::Unsafe),
            ("clinical", "medication") => Finding::Clinical(Clinical::Medication),
            ("clinical", "diagnosis") => Finding::Clinical(Clinical::Diagnosis),
            ("clinical", "home_detox") => Finding::Clinical(Clinical::HomeDetox),
            ("clinical", "test_result") => Finding::Clinical(Clinical::TestResult),
            ("support", "craving") => Finding::Support(Support::Craving),
            ("support", "lapse") => Finding::Support(Support::Lapse),
            ("support", "high_risk") => Finding::Support(Support::HighRisk),
            ("request", "personal") => Finding::Request(Request::Personal),
            ("request", "action") => Finding::Request(Request::Action),
            ("smalltalk", "greeting") => Finding::Smalltalk(Smalltalk::Greeting),
            ("smalltalk", "thanks") => Finding::Smalltalk(Smalltalk::Thanks),
            ("smalltalk", "ack") => Finding::Smalltalk(Smalltalk::Ack),
            _ => return None,
        })
    }
}

/// A compiled triage rule: all of `all` within `within` words, none of `none` nearby.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub finding: Finding,
    pub all: Vec<ConceptId>,
    pub none: Vec<ConceptId>,
    pub within: usize,
    pub max_words: Option<usize>,
}

/// Everything the rules found in one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assessment {
    /// Every crisis category found, most urgent first.
    pub crisis: Vec<Crisis>,
    pub clinical: Option<Clinical>,
    pub support: Option<Support>,
    pub request: Option<Request>,
    pub smalltalk: Option<Smalltalk>,
    /// Ids of the rules that fired, for `waypoint triage --explain` and logs of counts.
    pub rules: Vec<String>,
}

impl Assessment {
    pub fn is_crisis(&self) -> bool {
        !self.crisis.is_empty()
    }
}

/// The lexicons and rules, ready to screen messages.
pub struct Screener {
    lexicon: Lexicon,
    mask: Option<ConceptId>,
    rules: Vec<Rule>,
}

impl Screener {
    pub fn new(lexicon: Lexicon, rules: Vec<Rule>) -> Self {
        let mask = lexicon.concept_id(MASK_CONCEPT);
        Self {
            lexicon,
            mask,
            rules,
        }
    }

    /// Screens one message. Never fails and never panics, whatever the input.
    pub fn screen(&self, text: &str) -> Assessment {
        let (prepared, hits) = self.matched(text);
        // Hits grouped by concept, so a rule whose first concept is absent costs one check.
        let mut by_concept: Vec<Vec<Hit>> = vec![Vec::new(); self.lexicon.concept_count()];
        for hit in hits {
            by_concept[hit.concept].push(hit);
        }
        let mut out = Assessment::default();
        for rule in &self.rules {
            if !fires(rule, &by_concept, prepared.len()) {
                continue;
            }
            out.rules.push(rule.id.clone());
            match rule.finding {
                Finding::Crisis(c) if !out.crisis.contains(&c) => out.crisis.push(c),
                Finding::Crisis(_) => {}
                Finding::Clinical(c) => {
                    out.clinical.get_or_insert(c);
                }
                Finding::Support(s) => {
                    out.support.get_or_insert(s);
                }
                Finding::Request(r) => {
                    out.request.get_or_insert(r);
                }
                Finding::Smalltalk(s) => {
                    out.smalltalk.get_or_insert(s);
                }
            }
        }
        out.crisis.sort();
        out
    }

    /// The message's words and the concept hits left once idioms are masked.
    fn matched(&self, text: &str) -> (Prepared, Vec<Hit>) {
        let mut prepared = self.lexicon.prepare(text);
        let hits = self.lexicon.hits(&prepared);
        let Some(mask) = self.mask else {
            return (prepared, hits);
        };
        let masks: Vec<Hit> = hits.iter().filter(|h| h.concept == mask).copied().collect();
        if masks.is_empty() {
            return (prepared, hits);
        }
        for m in &masks {
            prepared.mask(m.start, m.end);
        }
        let hits = self.lexicon.hits(&prepared);
        (prepared, hits)
    }

    /// For authors tuning lexicons: each concept found in `text` (after masking) with the
    /// words it matched, and the words the mask blanked.
    pub fn explain(&self, text: &str) -> Vec<String> {
        let words = normalize::words(text);
        let span = |h: &Hit| words[h.start..=h.end].join(" ");
        let prepared = self.lexicon.prepare(text);
        let mut out: Vec<String> = self
            .lexicon
            .hits(&prepared)
            .iter()
            .filter(|h| Some(h.concept) == self.mask)
            .map(|h| format!("{MASK_CONCEPT}: {}", span(h)))
            .collect();
        let (_, hits) = self.matched(text);
        out.extend(
            hits.iter()
                .filter(|h| Some(h.concept) != self.mask)
                .map(|h| format!("{}: {}", self.lexicon.concept_name(h.concept), span(h))),
        );
        out
    }
}

fn fires(rule: &Rule, by_concept: &[Vec<Hit>], words: usize) -> bool {
    if rule.max_words.is_some_and(|max| words > max) {
        return false;
    }
    let Some((&first, rest)) = rule.all.split_first() else {
        return false;
    };
    if rest.iter().any(|&c| by_concept[c].is_empty()) {
        return false;
    }
    // Try each hit of the first concept as an anchor; the rule fires if every other concept
    // has a hit such that the whole group spans at most `within` words.
    by_concept[first].iter().any(|anchor| {
        let (mut lo, mut hi) = (anchor.start, anchor.end);
        for &concept in rest {
            let best = by_concept[concept]
                .iter()
                .map(|h| (h.start.min(lo), h.end.max(hi)))
                .min_by_key(|(s, e)| e - s);
            match best {
                Some(span) => (lo, hi) = span,
                None => return false,
            }
        }
        if hi - lo + 1 > rule.within.max(1) {
            return false;
        }
        let near = lo.saturating_sub(rule.within)..=hi + rule.within;
        !rule
            .none
            .iter()
            .flat_map(|&c| &by_concept[c])
            .any(|h| near.contains(&h.start))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screener(
        concepts: &[(&str, &[&str])],
        rules: &[(&str, &[&str], &[&str], usize)],
    ) -> Screener {
        let mut lex = Lexicon::default();
        for (name, list) in concepts {
            let id = lex.concept(name);
            for p in *list {
                lex.add_pattern(id, p, *name != MASK_CONCEPT).unwrap();
            }
        }
        let rules = rules
            .iter()
            .map(|(id, all, none, within)| Rule {
                id: id.to_string(),
                finding: Finding::Crisis(Crisis::Suicide),
                all: all.iter().map(|n| lex.concept_id(n).unwrap()).collect(),
                none: none.iter().map(|n| lex.concept_id(n).unwrap()).collect(),
                within: *within,
                max_words: None,
            })
            .collect();
        Screener::new(lex, rules)
    }

    #[test]
    fn concepts_must_be_close_together() {
        let s = screener(
            &[("means", &["pills"]), ("plan", &["tonight"])],
            &[("means-plan", &["means", "plan"], &[], 5)],
        );
        assert!(s.screen("taking the pills tonight").is_crisis());
        assert!(
            !s.screen("pills are in the cabinet and i am going out to the movies tonight")
                .is_crisis()
        );
    }

    #[test]
    fn none_concepts_cancel_nearby_only() {
        let s = screener(
            &[("die", &["want to die"]), ("joke", &["lol"])],
            &[("wish", &["die"], &["joke"], 4)],
        );
        assert!(!s.screen("want to die lol").is_crisis());
        assert!(s.screen("want to die").is_crisis());
    }

    #[test]
    fn masks_blank_idioms_only() {
        let s = screener(
            &[("dead", &["dead"]), ("mask", &["dead serious"])],
            &[("dead", &["dead"], &[], 12)],
        );
        assert!(!s.screen("i'm dead serious").is_crisis());
        assert!(s.screen("dead serious, i'd rather be dead").is_crisis());
    }
}
