//! Authoring, quality and key tools behind the CLI: `triage`, `eval`, `check` (with its
//! texting table), `keygen` and `rotate-key`. They run the
//! same engine as the channels, so what they show is what a person would get.

pub mod corpus;
pub mod eval;
pub mod faq_eval;
pub mod keys;
pub mod texting;
pub mod train;
pub mod train_faq;
pub mod triage;
