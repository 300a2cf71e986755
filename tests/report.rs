//! Staff reports on a real store: the counts, the three CSV exports, and what an export
//! must never contain (chat ids, store keys) or let through (spreadsheet formulas).

use chrono::{DateTime, NaiveDate, Utc};
use waypoint::engine::UserRecord;
use waypoint::engine::state::{
    Checkin, Escalation, EscalationReason, OutreachReason, OutreachRequest, Rsvp, RsvpAnswer,
    UseAnswer,
};
use waypoint::locale::Locale;
use waypoint::report::{self, ExportKind, ReportError, Stats};
use waypoint::store::Store;
use waypoint::user::{Channel, UserKey};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Monday, Wednesday and Thursday sessions at 18:00 New York time.
fn s1() -> DateTime<Utc> {
    utc("2026-11-30T23:00:00Z")
}
fn s2() -> DateTime<Utc> {
    utc("2026-12-02T23:00:00Z")
}
fn s3() -> DateTime<Utc> {
    utc("2026-12-03T23:00:00Z")
}

fn enrolled(alias: Option<&str>) -> UserRecord {
    let mut r = UserRecord::new(Locale::En, utc("2026-11-20T15:00:00Z"));
    r.timezone = Some("America/New_York".into());
    r.program = Some("evening".into());
    r.alias = alias.map(str::to_string);
    r
}

fn rsvp(session: DateTime<Utc>, answer: RsvpAnswer, at: &str) -> Rsvp {
    Rsvp {
        session,
        answer,
        at: utc(at),
    }
}

fn checkin(
    started: &str,
    mood: Option<u8>,
    used: Option<UseAnswer>,
    reach_out: Option<bool>,
) -> Checkin {
    Checkin {
        started: utc(started),
        mood,
        used,
        reach_out,
    }
}

fn escalation(at: &str, reason: EscalationReason) -> Escalation {
    Escalation {
        at: utc(at),
        reason,
    }
}

/// Every id a store key was made from, and every key prefix: none may reach an export.
const SECRETS: [&str; 10] = [
    "5550123", "5550124", "5550999", "5550777", "5550555", "15550100", "bob", "tg:", "term:",
    "sms:",
];

/// Six people and one unreadable record:
/// - tg:5550123, alias `=HYPERLINK("x")`: a participant reminded of s2 and s3 (s1 has
///   left the recent window), who answered s1 (going) and s2 (late);
/// - tg:5550124, alias `Ana, R.`: a participant reminded of s1 and s2, can't make s2;
/// - term:bob, no alias: an alumnus with an answered, an unanswered and an open check-in,
///   escalated for missed check-ins and a low mood;
/// - sms:+15550100, alias `-Cy`: a paused alumnus who asked for outreach in a check-in;
/// - tg:5550999, alias `Dee "Dot"`: an unreachable participant, going to s3;
/// - tg:5550777: consented, never enrolled.
fn clinic() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let discharged = NaiveDate::from_ymd_opt(2026, 11, 1);
    let mut people = Vec::new();

    let mut hyperlink = enrolled(Some("=HYPERLINK(\"x\")"));
    hyperlink.notified = vec![s2(), s3()];
    hyperlink.rsvps = vec![
        rsvp(s1(), RsvpAnswer::Going, "2026-11-30T21:05:00Z"),
        rsvp(s2(), RsvpAnswer::Late, "2026-12-02T21:10:00Z"),
    ];
    people.push((UserKey::new(Channel::Telegram, "5550123"), hyperlink));

    let mut ana = enrolled(Some("Ana, R."));
    ana.notified = vec![s1(), s2()];
    ana.rsvps = vec![rsvp(s2(), RsvpAnswer::Absent, "2026-12-02T21:00:00Z")];
    ana.escalations = vec![escalation(
        "2026-12-02T21:00:00Z",
        EscalationReason::Absent { session: s2() },
    )];
    people.push((UserKey::new(Channel::Telegram, "5550124"), ana));

    let mut bob = enrolled(None);
    bob.discharged_on = discharged;
    bob.checkins = vec![
        checkin(
            "2026-11-04T22:00:00Z",
            Some(4),
            Some(UseAnswer::No),
            Some(false),
        ),
        checkin("2026-11-11T22:00:00Z", None, None, None),
    ];
    bob.open_checkin = Some(checkin("2026-11-18T22:00:00Z", Some(2), None, None));
    bob.escalations = vec![
        escalation(
            "2026-11-18T22:00:00Z",
            EscalationReason::MissedCheckins { count: 2 },
        ),
        escalation(
            "2026-11-18T22:03:00Z",
            EscalationReason::LowMood { score: 2 },
        ),
    ];
    people.push((UserKey::new(Channel::Terminal, "bob"), bob));

    let mut cy = enrolled(Some("-Cy"));
    cy.discharged_on = discharged;
    cy.paused = true;
    cy.checkins = vec![checkin(
        "2026-11-04T22:00:00Z",
        Some(5),
        Some(UseAnswer::Undisclosed),
        Some(true),
    )];
    cy.escalations = vec![escalation(
        "2026-11-04T22:02:00Z",
        EscalationReason::ReachOut,
    )];
    cy.outreach_requests = vec![OutreachRequest {
        at: utc("2026-11-04T22:02:00Z"),
        reason: OutreachReason::Support,
    }];
    people.push((UserKey::new(Channel::Sms, "+15550100"), cy));

    let mut dee = enrolled(Some("Dee \"Dot\""));
    dee.unreachable = true;
    dee.notified = vec![s3()];
    dee.rsvps = vec![rsvp(s3(), RsvpAnswer::Going, "2026-12-03T21:00:00Z")];
    people.push((UserKey::new(Channel::Telegram, "5550999"), dee));

    let mut lurker = UserRecord::new(Locale::Es, utc("2026-11-20T15:00:00Z"));
    lurker.alias = Some("Never enrolled".into());
    people.push((UserKey::new(Channel::Telegram, "5550777"), lurker));

    for (key, record) in &people {
        store.save(key, record, false).unwrap();
    }
    // A record the store cannot decode is left out of every report.
    store
        .put_raw(
            &UserKey::new(Channel::Telegram, "5550555"),
            "users",
            &[],
            b"not a record",
        )
        .unwrap();
    (dir, store)
}

fn export(store: &Store, kind: ExportKind) -> (usize, String) {
    let mut out = Vec::new();
    let rows = report::export_csv(store, kind, &mut out).unwrap();
    (rows, String::from_utf8(out).unwrap())
}

#[test]
fn stats_count_people_reminders_rsvps_check_ins_and_escalations() {
    let (_dir, store) = clinic();
    let stats = report::stats(&store).unwrap();
    assert_eq!(
        stats,
        Stats {
            people: 6,
            enrolled: 5,
            active: 3,
            paused: 1,
            unreachable: 1,
            participants: 3,
            alumni: 2,
            reminders_sent: 5,
            rsvp_going: 2,
            rsvp_late: 1,
            rsvp_absent: 1,
            // The going to s1 is for a reminder no longer kept.
            rsvps_to_kept_reminders: 3,
            checkins_sent: 4,
            checkins_answered: 3,
            checkins_open: 1,
            open_escalations: 4,
            outreach_requests: 1,
        }
    );
    assert_eq!(stats.rsvp_rate(), Some(0.6));
    assert_eq!(stats.checkin_response_rate(), Some(0.75));

    let table = stats.render();
    for line in [
        "  consented                      6",
        "    active                       3",
        "  reminders sent (recent)        5",
        "  RSVP rate                    60%",
        "  response rate                75%",
        "  recorded escalations           4",
    ] {
        assert!(table.lines().any(|l| l == line), "{line:?} in\n{table}");
    }
    for secret in SECRETS {
        assert!(!table.contains(secret), "{secret} in\n{table}");
    }
}

#[test]
fn an_empty_store_has_no_rates() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let stats = report::stats(&store).unwrap();
    assert_eq!(stats, Stats::default());
    assert_eq!(
        (stats.rsvp_rate(), stats.checkin_response_rate()),
        (None, None)
    );
    let table = stats.render();
    assert_eq!(table.matches("n/a").count(), 2, "{table}");
    for kind in [
        ExportKind::Rsvps,
        ExportKind::Checkins,
        ExportKind::Escalations,
    ] {
        let (rows, text) = export(&store, kind);
        assert_eq!(rows, 0);
        assert_eq!(text.lines().count(), 1, "only the header: {text}");
    }
}

#[test]
fn each_export_has_its_header_and_one_row_per_item() {
    let (_dir, store) = clinic();
    // Rows are sorted by alias as stored (before a leading `'` defuses it), then time.
    let cases: [(ExportKind, &[&str]); 3] = [
        (
            ExportKind::Rsvps,
            &[
                "alias,program,session_utc,answer,answered_at_utc",
                r#""'=HYPERLINK(""x"")",evening,2026-11-30T23:00:00Z,going,2026-11-30T21:05:00Z"#,
                r#""'=HYPERLINK(""x"")",evening,2026-12-02T23:00:00Z,late,2026-12-02T21:10:00Z"#,
                r#""Ana, R.",evening,2026-12-02T23:00:00Z,absent,2026-12-02T21:00:00Z"#,
                r#""Dee ""Dot""",evening,2026-12-03T23:00:00Z,going,2026-12-03T21:00:00Z"#,
            ],
        ),
        (
            ExportKind::Checkins,
            &[
                "alias,program,started_utc,mood,use,reach_out",
                "(no alias),evening,2026-11-04T22:00:00Z,4,no,no",
                "(no alias),evening,2026-11-11T22:00:00Z,,,",
                "(no alias),evening,2026-11-18T22:00:00Z,2,,",
                "'-Cy,evening,2026-11-04T22:00:00Z,5,undisclosed,yes",
            ],
        ),
        (
            ExportKind::Escalations,
            &[
                "alias,program,at_utc,reason,detail",
                "(no alias),evening,2026-11-18T22:00:00Z,missed_checkins,2",
                "(no alias),evening,2026-11-18T22:03:00Z,low_mood,2",
                "'-Cy,evening,2026-11-04T22:02:00Z,reach_out,",
                r#""Ana, R.",evening,2026-12-02T21:00:00Z,absent,2026-12-02T23:00:00Z"#,
            ],
        ),
    ];
    for (kind, expected) in cases {
        let (rows, text) = export(&store, kind);
        assert_eq!(rows, expected.len() - 1, "{kind:?}");
        assert!(text.ends_with("\r\n"), "{kind:?}: CRLF line ends");
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines, expected, "{kind:?}");
    }
}

#[test]
fn no_export_names_a_person_by_chat_id_phone_or_store_key() {
    let (_dir, store) = clinic();
    for kind in [
        ExportKind::Rsvps,
        ExportKind::Checkins,
        ExportKind::Escalations,
    ] {
        let (_, text) = export(&store, kind);
        for secret in SECRETS {
            assert!(
                !text.contains(secret),
                "{kind:?} export contains {secret}:\n{text}"
            );
        }
    }
}

#[test]
fn cells_are_quoted_and_would_be_formulas_defused() {
    // (alias, the cell it must become)
    let cases = [
        ("Ana", "Ana"),
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-Cy", "'-Cy"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("O'Neil", "O'Neil"),
        ("Ana, R.", "\"Ana, R.\""),
        ("Dee \"Dot\"", "\"Dee \"\"Dot\"\"\""),
        ("two\nlines", "\"two\nlines\""),
        ("cr\rhere", "\"cr\rhere\""),
        ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
        ("=A1,B1", "\"'=A1,B1\""),
        ("a = b", "a = b"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (i, (alias, _)) in cases.iter().enumerate() {
        let mut r = enrolled(Some(alias));
        r.escalations = vec![escalation("2026-12-01T12:00:00Z", EscalationReason::Use)];
        let key = UserKey::new(Channel::Telegram, format!("{}", 900 + i));
        store.save(&key, &r, false).unwrap();
    }
    let (rows, text) = export(&store, ExportKind::Escalations);
    assert_eq!(rows, cases.len());
    for (alias, cell) in cases {
        let row = format!("\r\n{cell},evening,2026-12-01T12:00:00Z,use,\r\n");
        assert!(
            text.contains(&row),
            "{alias:?} should be {cell:?} in\n{text}"
        );
    }
}

#[test]
fn export_kinds_parse_from_their_names_and_anything_else_is_refused() {
    let cases = [
        ("rsvps", Some(ExportKind::Rsvps)),
        ("checkins", Some(ExportKind::Checkins)),
        ("escalations", Some(ExportKind::Escalations)),
        (" Escalations ", Some(ExportKind::Escalations)),
        ("RSVPS", Some(ExportKind::Rsvps)),
        ("rsvp", None),
        ("people", None),
        ("", None),
    ];
    for (text, expected) in cases {
        match (text.parse::<ExportKind>(), expected) {
            (Ok(kind), Some(want)) => assert_eq!(kind, want, "{text:?}"),
            (Err(e), None) => {
                assert!(
                    matches!(e, ReportError::UnknownExport(_)),
                    "{text:?}: {e:?}"
                );
                let message = e.to_string();
                assert!(
                    message.contains("\"rsvps\", \"checkins\" or \"escalations\""),
                    "{message}"
                );
            }
            (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn a_failing_writer_is_an_io_error() {
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let (_dir, store) = clinic();
    let err = report::export_csv(&store, ExportKind::Rsvps, Broken).unwrap_err();
    assert!(matches!(err, ReportError::Io(_)), "{err:?}");
    assert!(err.to_string().contains("disk full"), "{err}");
}
