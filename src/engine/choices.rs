//! Numbered choices, for channels that show buttons as numbers (SMS, the terminal).
//!
//! The buttons of replies shown together are numbered on from 1 across the replies, so a
//! crisis reply's two questions read 1–2 and 3–4. Every question offered stays answerable
//! by its own numbers until it is answered, a newer question takes one of its numbers, or
//! it expires: answering one question never closes another, and a number is never read
//! as the answer to a question it was not printed beside.

use std::ops::Range;

use chrono::{DateTime, Duration, Utc};

use super::Reply;

/// How long a question stays answerable: a "3" typed days later is a new message, not an
/// old RSVP.
pub const ANSWERABLE_FOR: Duration = Duration::days(3);

/// The questions a person has open, by number.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Choices {
    questions: Vec<Question>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Question {
    /// The number of the first button.
    first: usize,
    /// The button data behind `first`, `first + 1`, …
    data: Vec<String>,
    /// It came with an urgent reply (a crisis question): answerable even after STOP.
    urgent: bool,
    at: DateTime<Utc>,
}

impl Question {
    fn numbers(&self) -> Range<usize> {
        self.first..self.first + self.data.len()
    }
}

/// The number of each reply's first button when `replies` are shown together (`None` for
/// a reply without buttons).
pub fn numbering(replies: &[Reply]) -> Vec<Option<usize>> {
    let mut next = 1;
    replies
        .iter()
        .map(|reply| {
            let count: usize = reply.buttons.iter().map(Vec::len).sum();
            (count > 0).then(|| {
                let first = next;
                next += count;
                first
            })
        })
        .collect()
}

impl Choices {
    /// Opens the questions among `replies`, shown together at `at`, numbered as
    /// [`numbering`] says. A question already open with the same buttons keeps its
    /// numbers: a reply may be offered twice (when it is queued and when it is sent).
    pub fn offer(&mut self, replies: &[Reply], at: DateTime<Utc>) {
        self.expire(at);
        for (reply, first) in replies.iter().zip(numbering(replies)) {
            let Some(first) = first else { continue };
            let data: Vec<String> = reply
                .buttons
                .iter()
                .flatten()
                .map(|b| b.data.clone())
                .collect();
            if self.questions.iter().any(|q| q.data == data) {
                continue;
            }
            let new = Question {
                first,
                data,
                urgent: reply.urgent,
                at,
            };
            let taken = new.numbers();
            self.questions
                .retain(|q| q.numbers().end <= taken.start || taken.end <= q.first);
            self.questions.push(new);
        }
    }

    /// Answers the question that number `n` belongs to: its button data, and whether it
    /// came with an urgent reply. That question closes; the others stay open.
    pub fn answer(&mut self, n: usize, now: DateTime<Utc>) -> Option<(String, bool)> {
        self.expire(now);
        let index = self
            .questions
            .iter()
            .position(|q| q.numbers().contains(&n))?;
        let question = self.questions.remove(index);
        let data = question.data.into_iter().nth(n - question.first)?;
        Some((data, question.urgent))
    }

    /// Whether any question is still open at `now`.
    pub fn any_open(&self, now: DateTime<Utc>) -> bool {
        self.questions.iter().any(|q| now - q.at < ANSWERABLE_FOR)
    }

    fn expire(&mut self, now: DateTime<Utc>) {
        self.questions.retain(|q| now - q.at < ANSWERABLE_FOR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Button;

    fn question(data: &[&str], urgent: bool) -> Reply {
        Reply {
            text: String::new(),
            buttons: vec![
                data.iter()
                    .map(|d| Button {
                        label: d.to_string(),
                        data: d.to_string(),
                    })
                    .collect(),
            ],
            urgent,
        }
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minutes * 60, 0).unwrap()
    }

    fn crisis() -> Vec<Reply> {
        vec![
            question(&["safe", "unsafe"], true),
            question(&["team-yes", "team-no"], true),
        ]
    }

    #[test]
    fn questions_shown_together_are_numbered_on() {
        let mut replies = crisis();
        replies.insert(1, crate::engine::plain(String::new()));
        assert_eq!(numbering(&replies), vec![Some(1), None, Some(3)]);
    }

    #[test]
    fn two_questions_can_be_answered_in_either_order() {
        for order in [[1, 3], [3, 1], [4, 2]] {
            let mut book = Choices::default();
            book.offer(&crisis(), at(0));
            let answers: Vec<_> = order.iter().map(|&n| book.answer(n, at(1))).collect();
            let expected = |n: usize| ["safe", "unsafe", "team-yes", "team-no"][n - 1].to_string();
            assert_eq!(
                answers,
                order.map(|n| Some((expected(n), true))).to_vec(),
                "{order:?}"
            );
            assert!(!book.any_open(at(1)));
        }
    }

    #[test]
    fn an_answered_question_takes_no_second_answer() {
        let mut book = Choices::default();
        book.offer(&[question(&["going", "late", "absent"], false)], at(0));
        assert_eq!(book.answer(3, at(1)), Some(("absent".into(), false)));
        assert_eq!(book.answer(1, at(2)), None);
    }

    #[test]
    fn a_newer_question_takes_the_numbers_it_uses() {
        let mut book = Choices::default();
        book.offer(&crisis(), at(0));
        // A reminder with three choices takes 1–3: the first question and "team-yes" go.
        book.offer(&[question(&["going", "late", "absent"], false)], at(5));
        assert_eq!(book.answer(3, at(6)), Some(("absent".into(), false)));
        assert_eq!(book.answer(4, at(6)), None, "its question lost number 3");
        // Offering the same question again (when it is sent) keeps its numbers.
        let mut book = Choices::default();
        book.offer(&crisis(), at(0));
        book.offer(&crisis()[1..], at(1));
        assert_eq!(book.answer(3, at(2)), Some(("team-yes".into(), true)));
        assert_eq!(book.answer(1, at(2)), Some(("safe".into(), true)));
    }

    #[test]
    fn questions_expire() {
        let mut book = Choices::default();
        book.offer(&crisis(), at(0));
        let later = at(0) + ANSWERABLE_FOR;
        assert!(!book.any_open(later));
        assert_eq!(book.answer(1, later), None);
    }
}
