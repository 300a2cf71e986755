//! Reply templates: `messages/<locale>/replies.toml`, checked against the catalogue.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use super::catalog::Msg;
use crate::diagnostic::{Diagnostic, line_of};
use crate::locale::Locale;

/// Reply templates for every locale, indexed by [`Msg`].
#[derive(Debug, Default)]
pub struct Replies {
    by_locale: Vec<Vec<String>>,
}

impl Replies {
    pub(super) fn load(dir: &Path, problems: &mut Vec<Diagnostic>) -> Replies {
        let by_locale = Locale::ALL
            .iter()
            .map(|locale| {
                let path = dir.join(locale.code()).join("replies.toml");
                load_locale(&path, problems)
            })
            .collect();
        Replies { by_locale }
    }

    pub fn text(&self, locale: Locale, msg: Msg) -> &str {
        &self.by_locale[locale.index()][msg.index()]
    }

    /// Fills `{name}` placeholders; a placeholder without a value renders empty.
    pub fn render(&self, locale: Locale, msg: Msg, params: &[(&str, &str)]) -> String {
        let template = self.text(locale, msg);
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    let name = &after[..close];
                    if let Some((_, value)) = params.iter().find(|(k, _)| *k == name) {
                        out.push_str(value);
                    }
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}

fn load_locale(path: &Path, problems: &mut Vec<Diagnostic>) -> Vec<String> {
    let mut texts = vec![String::new(); Msg::ALL.len()];
    let Some((table, source)) = super::parse::<BTreeMap<String, Spanned<String>>>(path, problems)
    else {
        return texts;
    };
    for (key, value) in &table {
        let line = Some(line_of(&source, value.span().start));
        let Some(msg) = Msg::ALL.iter().find(|m| m.key() == key) else {
            problems.push(Diagnostic::new(
                path,
                line,
                key,
                "unknown key: no code shows this text",
            ));
            continue;
        };
        let text = value.get_ref();
        if text.trim().is_empty() {
            problems.push(Diagnostic::new(path, line, key, "the text is empty"));
        }
        for name in placeholders(text) {
            if !msg.params().contains(&name) {
                let allowed = if msg.params().is_empty() {
                    "none".to_string()
                } else {
                    msg.params().join(", ")
                };
                problems.push(Diagnostic::new(
                    path,
                    line,
                    key,
                    format!("unknown placeholder {{{name}}} (allowed: {allowed})"),
                ));
            }
        }
        texts[msg.index()] = text.clone();
    }
    for msg in Msg::ALL {
        if !table.contains_key(msg.key()) {
            problems.push(Diagnostic::new(
                path,
                None,
                msg.key(),
                "missing: every locale needs every key",
            ));
        }
    }
    texts
}

/// The `{name}` placeholders of a template.
fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        out.push(&after[..close]);
        rest = &after[close + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_and_filled() {
        assert_eq!(
            placeholders("Call {emergency} or {lifeline}."),
            ["emergency", "lifeline"]
        );
        let mut replies = Replies {
            by_locale: vec![vec![String::new(); Msg::ALL.len()]; 2],
        };
        replies.by_locale[0][Msg::SafeNoReply.index()] =
            "Call {emergency}, then {lifeline}{".into();
        let out = replies.render(
            Locale::En,
            Msg::SafeNoReply,
            &[("emergency", "911"), ("lifeline", "988")],
        );
        assert_eq!(out, "Call 911, then 988{");
    }
}
