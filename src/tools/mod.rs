//! Authoring and quality tools behind the CLI: `triage`, `eval` and `check` (with its
//! texting table). They run the
//! same engine as the channels, so what they show is what a person would get.

pub mod eval;
pub mod texting;
pub mod triage;
