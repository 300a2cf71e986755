//! Triage of free text: crisis, clinical-advice, support and small-talk detection.
//!
//! Pure and total: no I/O, no clock, and every input (empty, huge, any Unicode) gets an
//! [`Assessment`]. The lexicons and rules are content (`messages/`), compiled once at start.
//! Crisis rules always run over the concepts of every locale, whatever the person's language.

mod fast_hash;
pub mod lexicon;
pub mod model;
pub mod normalize;
pub mod training;

use lexicon::{ConceptId, Hit, Lexicon, Prepared};
use model::{Label, Model, Scores};

/// The name of the concept whose matches are blanked before any rule runs.
pub const MASK_CONCEPT: &str = "mask";
/// Concepts that, found together, keep a mask from hiding a crisis rule's words: "it's
/// time to kill myself" is not the idiom "time to kill".
pub const INTENT_CONCEPT: &str = "intent";
pub const SELF_CONCEPT: &str = "self_ref";
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
    /// Risk the learned layer is sure of, or that the person confirmed ("I need help now"),
    /// without a rule to name its kind.
    Distress,
}

impl Crisis {
    /// Whether 911 (or the local emergency number) comes first in the reply. When the
    /// kind is unknown it may be an overdose, so the emergency line leads.
    pub fn is_emergency(self) -> bool {
        matches!(
            self,
            Crisis::Overdose
                | Crisis::Withdrawal
                | Crisis::HarmOthers
                | Crisis::Unsafe
                | Crisis::Distress
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
    /// When the person's own next session is: answered from their program, if they have one.
    Session,
    /// An answer to a session reminder in words ("can't make it to group tonight"): taken
    /// as the RSVP when the person has a session within a day.
    Attend(Attendance),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attendance {
    Going,
    Late,
    Absent,
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
            ("request", "session") => Finding::Request(Request::Session),
            ("request", "rsvp_absent") => Finding::Request(Request::Attend(Attendance::Absent)),
            ("request", "rsvp_late") => Finding::Request(Request::Attend(Attendance::Late)),
            ("request", "rsvp_going") => Finding::Request(Request::Attend(Attendance::Going)),
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

/// Everything the rules and the learned layer found in one message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assessment {
    /// Every crisis category found, most urgent first: the full crisis reply.
    pub crisis: Vec<Crisis>,
    /// Risk is possible but not clear: ask "are you safe right now?" first.
    pub check: bool,
    /// Some sign of risk, however faint: such a message never gets the generic fallback.
    pub signal: bool,
    /// A crisis rule fired on words an idiom mask covers, in a message that states intent
    /// about the writer: no layer may overrule it below the check.
    pub stated: bool,
    pub clinical: Option<Clinical>,
    pub support: Option<Support>,
    pub request: Option<Request>,
    pub smalltalk: Option<Smalltalk>,
    /// Ids of the rules that fired, for `waypoint triage --explain` and logs of counts.
    pub rules: Vec<String>,
    /// The learned layer's scores, when a model is loaded.
    pub scores: Option<Scores>,
}

impl Assessment {
    /// Whether the full crisis reply is due.
    pub fn is_crisis(&self) -> bool {
        !self.crisis.is_empty()
    }

    /// Whether the message gets the crisis reply or the "are you safe?" check: the
    /// messages that never wait behind anything else.
    pub fn is_risk(&self) -> bool {
        self.is_crisis() || self.check
    }
}

/// Which layers decide: the evaluation compares them; production uses both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layers {
    Rules,
    Model,
    Both,
}

/// The lexicons, rules and learned model, ready to screen messages.
pub struct Screener {
    lexicon: Lexicon,
    mask: Option<ConceptId>,
    intent: Option<ConceptId>,
    self_ref: Option<ConceptId>,
    rules: Vec<Rule>,
    model: Option<Model>,
}

impl Screener {
    pub fn new(lexicon: Lexicon, rules: Vec<Rule>, model: Option<Model>) -> Self {
        Self {
            mask: lexicon.concept_id(MASK_CONCEPT),
            intent: lexicon.concept_id(INTENT_CONCEPT),
            self_ref: lexicon.concept_id(SELF_CONCEPT),
            lexicon,
            rules,
            model,
        }
    }

    pub fn model(&self) -> Option<&Model> {
        self.model.as_ref()
    }

    /// Screens one message with every layer. Never fails and never panics, whatever the
    /// input.
    pub fn screen(&self, text: &str) -> Assessment {
        self.screen_with(text, Layers::Both)
    }

    /// Screens with the chosen layers (for measuring each on its own).
    pub fn screen_with(&self, text: &str, layers: Layers) -> Assessment {
        let (ruled, evidence) = self.by_rules(text);
        let mut out = if layers == Layers::Model {
            Assessment::default()
        } else {
            ruled
        };
        if layers != Layers::Rules
            && model_reads(text, &evidence)
            && let Some(model) = &self.model
        {
            let evidence: Vec<&str> = evidence.iter().map(String::as_str).collect();
            combine(&mut out, model, model.score(text, &evidence));
        }
        out
    }

    /// The names of what the rules found in `text` (`c:` concepts, `r:` rules, `mask`),
    /// which the learned layer weighs beside the words.
    pub fn evidence(&self, text: &str) -> Vec<String> {
        self.by_rules(text).1
    }

    /// What the rules alone find, and the evidence for the model.
    fn by_rules(&self, text: &str) -> (Assessment, Vec<String>) {
        let (prepared, hits, unmasked) = self.matched(text);
        let by_concept = group(&hits, self.lexicon.concept_count());
        let mut evidence: Vec<String> = Vec::new();
        for (concept, found) in by_concept.iter().enumerate() {
            if !found.is_empty() {
                evidence.push(format!("c:{}", self.lexicon.concept_name(concept)));
            }
        }
        if unmasked.is_some() {
            evidence.push(MASK_CONCEPT.to_string());
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
        // A mask never hides a crisis rule's words from someone who states intent about
        // themselves; without those, what the mask hid is still a sign of risk.
        if let Some(unmasked) = unmasked {
            let by_concept = group(&unmasked, self.lexicon.concept_count());
            let present = |c: Option<ConceptId>| c.is_some_and(|c| !by_concept[c].is_empty());
            let stated = present(self.intent) && present(self.self_ref);
            for rule in &self.rules {
                let Finding::Crisis(c) = rule.finding else {
                    continue;
                };
                if out.crisis.contains(&c) || !fires(rule, &by_concept, prepared.len()) {
                    continue;
                }
                if stated {
                    out.rules.push(format!("{}+unmasked", rule.id));
                    out.crisis.push(c);
                    out.stated = true;
                } else {
                    out.signal = true;
                }
            }
        }
        out.crisis.sort();
        out.signal |= out.is_crisis();
        evidence.extend(out.rules.iter().map(|r| format!("r:{r}")));
        (out, evidence)
    }

    /// The message's words, the concept hits left once idioms are masked, and (when a mask
    /// blanked anything) the hits before masking.
    fn matched(&self, text: &str) -> (Prepared, Vec<Hit>, Option<Vec<Hit>>) {
        let mut prepared = self.lexicon.prepare(text);
        let hits = self.lexicon.hits(&prepared);
        let Some(mask) = self.mask else {
            return (prepared, hits, None);
        };
        let masks: Vec<Hit> = hits.iter().filter(|h| h.concept == mask).copied().collect();
        if masks.is_empty() {
            return (prepared, hits, None);
        }
        for m in &masks {
            prepared.mask(m.start, m.end);
        }
        let masked = self.lexicon.hits(&prepared);
        (prepared, masked, Some(hits))
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
        let (_, hits, _) = self.matched(text);
        out.extend(
            hits.iter()
                .filter(|h| Some(h.concept) != self.mask)
                .map(|h| format!("{}: {}", self.lexicon.concept_name(h.concept), span(h))),
        );
        out
    }
}

/// Whether the learned layer has something to read. A command ("/help") and a texted
/// invite code ("JOIN 7KQ2-M9XD-A3B4", whose random letters the model would read as
/// noise) are the bot's own vocabulary, and a single word the rules know nothing of
/// ("Ben", typed as a name) gives the model nothing but its guess; the rules still read
/// all of them.
fn model_reads(text: &str, evidence: &[String]) -> bool {
    if crate::command::is_command(text) || crate::sms::keywords::invite(text).is_some() {
        return false;
    }
    let mut words = 0;
    normalize::scan_words(text, |_| words += 1);
    words > 1 || !evidence.is_empty()
}

/// Hits grouped by concept, so a rule whose first concept is absent costs one check.
fn group(hits: &[Hit], concepts: usize) -> Vec<Vec<Hit>> {
    let mut by_concept: Vec<Vec<Hit>> = vec![Vec::new(); concepts];
    for hit in hits {
        by_concept[hit.concept].push(*hit);
    }
    by_concept
}

/// Adds the learned layer's view to what the rules found. The model has weighed the
/// rules' findings as evidence, so its probability decides the tier; a rule's finding
/// names the kind of crisis, and is overruled only when the model is confident the words
/// are not about danger now ("I overdosed years ago, now I carry naloxone").
fn combine(out: &mut Assessment, model: &Model, scores: Scores) {
    let t = &model.thresholds;
    out.scores = Some(scores);
    if scores.known < model::MIN_KNOWN {
        return;
    }
    let top = scores.top_non_crisis();
    let (full, check) = t.tier(scores.crisis, out.is_crisis(), scores.rival());
    if full && out.crisis.is_empty() {
        out.crisis.push(Crisis::Distress);
    } else if !full {
        out.crisis.clear();
    }
    out.check = check || (out.stated && !full);
    out.signal = out.is_risk() || scores.crisis >= t.signal;
    if out.clinical.is_none() && out.support.is_none() {
        if top == Label::Clinical && scores.of(Label::Clinical) >= t.clinical {
            out.clinical = Some(Clinical::Medication);
        } else if top == Label::Support && scores.of(Label::Support) >= t.support {
            out.support = Some(Support::Craving);
        }
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
        Screener::new(lex, rules, None)
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
