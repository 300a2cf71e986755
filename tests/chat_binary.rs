//! Black box: a whole conversation piped through the `waypoint chat` binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use waypoint::engine::Stored;
use waypoint::store::Store;
use waypoint::user::{Channel, UserKey};

fn chat(data: &std::path::Path, user: &str, input: &str) -> (bool, String, String) {
    chat_with(&[], &[], data, user, input)
}

/// `waypoint GLOBAL… chat --lang en --user USER CHAT… --data DATA` with `input` piped in.
fn chat_with(
    global: &[&str],
    chat_args: &[&str],
    data: &std::path::Path,
    user: &str,
    input: &str,
) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .args(global)
        .args(["chat", "--lang", "en", "--user", user])
        .args(chat_args)
        .arg("--data")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_scripted_conversation_from_consent_to_forget() {
    let data = tempfile::tempdir().unwrap();
    // Buttons print as numbers: 1 = "I agree", then 2 = the second time zone offered.
    let script = "/start\n1\n2\n/privacy\n/stop\n/resume\n";
    let (ok, out, err) = chat(data.path(), "ana", script);
    assert!(ok, "{err}");
    for expected in [
        "[1] I agree",
        "[2] Not now",
        "Time zone saved: America/Chicago",
        "time zone: America/Chicago",
        "reminders and check-ins: on",
        "Paused",
        "Welcome back",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let ana = UserKey::new(Channel::Terminal, "ana");
    {
        let store = Store::open(data.path()).unwrap();
        assert!(matches!(store.load(&ana).unwrap(), Stored::Found(_)));
    }

    // A later session on the same store remembers, then forgets.
    let (ok, out, err) = chat(data.path(), "ana", "/privacy\n/forget\n1\n/privacy\n");
    assert!(ok, "{err}");
    assert!(out.contains("time zone: America/Chicago"), "{out}");
    assert!(out.contains("has been erased"), "{out}");
    assert!(out.contains("I don't keep anything about you"), "{out}");
    let store = Store::open(data.path()).unwrap();
    assert_eq!(store.load(&ana).unwrap(), Stored::Nothing);
    assert!(store.keys_of(&ana).unwrap().is_empty());
}

#[test]
fn spanish_works_end_to_end() {
    let data = tempfile::tempdir().unwrap();
    let (ok, out, err) = chat(data.path(), "luz", "/language\n2\n1\n1\n/help\n");
    assert!(ok, "{err}");
    assert!(out.contains("[2] Español"), "{out}");
    assert!(out.contains("Acepto"), "{out}");
    assert!(out.contains("/privacy"), "{out}");
}

#[test]
fn a_second_process_on_the_same_data_gets_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let mut first = Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .args(["chat", "--lang", "en", "--data"])
        .arg(data.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first process has the store open: it has answered a message.
    let mut stdin = first.stdin.take().unwrap();
    stdin.write_all(b"/help\n").unwrap();
    // The reader stays alive to the end: dropping it would close the first process's
    // stdout, end it on its next write and release the lock early.
    let mut reader = BufReader::new(first.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(!line.is_empty());

    let (ok, _, err) = chat(data.path(), "other", "/help\n");
    assert!(!ok);
    assert!(err.contains("in use by another Waypoint process"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    drop(stdin);
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(first.wait().unwrap().success());
}

#[test]
fn check_reports_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("waypoint.toml");
    std::fs::write(
        &config,
        "[bot]\ndefault_language = \"en\"\ndefault_timezone = \"Atlantis/Main\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .arg("--config")
        .arg(&config)
        .arg("check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("waypoint.toml:3: bot.default_timezone"),
        "{err}"
    );

    let ok = Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .arg("check")
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn with_the_example_config_a_newcomer_joins_watches_a_reminder_then_a_check_in_arrive() {
    let data = tempfile::tempdir().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/waypoint.example.toml");
    // Monday 30 November 2026, 10:00 in New York. Buttons: 1 = agree, 1 = New York,
    // 1 = Evening group; after the reminder, 3 = "Can't make it"; at the check-in,
    // 2 = a score of 2, then 2 = no use. Joined without an invite, so no staff member
    // sees the answers: no "reach out?" question, and the replies say so.
    let script = "/start\n1\n1\n/program\n1\n/_time +6h\n3\n/_discharge 2026-11-30\n/_time +2d1h\n2\n2\n/privacy\n";
    let (ok, stdout, err) = chat_with(
        &["--config", config],
        &["--at", "2026-11-30T15:00:00Z"],
        data.path(),
        "newcomer",
        script,
    );
    assert!(ok, "{err}");
    let mut rest = stdout.as_str();
    for expected in [
        "[1] Evening group",
        "You'll get reminders for Evening group. Next session: tonight at 6:00 PM.",
        "(clock moved to 2026-11-30 21:00 UTC)",
        "Evening group: tonight at 6:00 PM.",
        "Where: Room 2, 100 Main Street",
        "[1] Going   [2] Running late   [3] Can't make it",
        "no one at a clinic sees it",
        "Congratulations on finishing the program",
        "(clock moved to 2026-12-02 22:00 UTC)",
        "How are you doing, from 1 (really hard) to 5 (doing well)?",
        "Any alcohol or drug use since the last check-in?",
        "no one at a clinic sees them",
        "This is everything I keep about you",
    ] {
        let at = rest
            .find(expected)
            .unwrap_or_else(|| panic!("missing (in order) {expected:?} in:\n{stdout}"));
        rest = &rest[at + expected.len()..];
    }
    assert!(
        !stdout.contains("care team so someone can follow up"),
        "{stdout}"
    );
    assert!(!stdout.contains("reach out to you?"), "{stdout}");
}

#[test]
fn an_invite_made_with_the_cli_enrolls_a_newcomer_in_the_terminal() {
    let data = tempfile::tempdir().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/waypoint.example.toml");
    let invite = Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .args(["--config", config, "--data"])
        .arg(data.path())
        .args(["invite", "--program", "morning", "--uses", "1"])
        .output()
        .unwrap();
    assert!(
        invite.status.success(),
        "{}",
        String::from_utf8_lossy(&invite.stderr)
    );
    let printed = String::from_utf8_lossy(&invite.stdout);
    assert!(
        printed.starts_with("https://t.me/waypoint_demo_bot?start="),
        "{printed}"
    );
    let code = printed.lines().next().unwrap().rsplit('=').next().unwrap();
    let script = format!("/start {code}\n1\n1\nJo\n1\n/privacy\n");
    let (ok, stdout, err) = chat_with(&["--config", config], &[], data.path(), "jo", &script);
    assert!(ok, "{err}");
    for expected in [
        "You're enrolled in Morning group.",
        "What name should your care team see",
        "your care team will see you as \"Jo\"",
        "- group: Morning group",
    ] {
        assert!(
            stdout.to_lowercase().contains(&expected.to_lowercase()),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

/// A crisis reply asks two questions ([1] safe [2] not safe; [3] tell the care team
/// [4] no thanks): both stay answerable, in either order.
#[test]
fn both_questions_after_a_crisis_reply_can_be_answered_in_either_order() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/waypoint.example.toml");
    for (order, name) in [(["3", "1"], "jo"), (["1", "3"], "al")] {
        let data = tempfile::tempdir().unwrap();
        let invite = Command::new(env!("CARGO_BIN_EXE_waypoint"))
            .args(["--config", config, "--data"])
            .arg(data.path())
            .args(["invite", "--program", "evening", "--uses", "1"])
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&invite.stdout);
        let code = printed.lines().next().unwrap().rsplit('=').next().unwrap();
        let script = format!(
            "/start {code}\n1\n1\nJo\n1\ni want to end my life tonight\n{}\n{}\n",
            order[0], order[1]
        );
        let (ok, stdout, err) = chat_with(&["--config", config], &[], data.path(), name, &script);
        assert!(ok, "{err}");
        let (_, after) = stdout
            .split_once("[3] Yes, let them know")
            .unwrap_or_else(|| panic!("no second question in:\n{stdout}"));
        assert!(
            after.contains("I've saved your request for your care team"),
            "{order:?}: the care-team answer was lost:\n{after}"
        );
        assert!(
            after.contains("I'm glad."),
            "{order:?}: the safety answer was lost:\n{after}"
        );
        assert!(!after.contains("no numbered question"), "{after}");
    }
}

/// Every option and argument of every subcommand says in one line what it is for, and
/// the options every subcommand takes are listed apart from its own.
#[test]
fn every_option_in_help_has_a_line_of_help() {
    let top = Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .arg("--help")
        .output()
        .unwrap();
    let top = String::from_utf8_lossy(&top.stdout).into_owned();
    let subcommands: Vec<String> = top
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(subcommands.len() > 10, "{top}");
    let mut calls: Vec<Vec<String>> = subcommands.iter().map(|c| vec![c.clone()]).collect();
    calls.push(vec!["faq".into(), "explain".into()]);
    for call in calls {
        let out = Command::new(env!("CARGO_BIN_EXE_waypoint"))
            .args(&call)
            .arg("--help")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(help.contains("Global options:"), "{call:?}:\n{help}");
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let entry = line.starts_with("  -") || line.starts_with("  <");
            if !entry || line.contains("--help") || line.contains("--version") {
                continue;
            }
            // Help on the same line, after the column gap, or on the next line, indented.
            let name_end = line.trim_start().find("  ").map(|at| at + 2);
            let same_line = name_end.is_some_and(|at| !line.trim_start()[at..].trim().is_empty());
            let next_line = lines
                .get(i + 1)
                .is_some_and(|next| next.starts_with("          ") && !next.trim().is_empty());
            assert!(
                same_line || next_line,
                "{call:?}: no help for {line:?}:\n{help}"
            );
        }
    }
}

/// A CSV export names aliases and answers: readable by its owner only, even when it
/// replaces a file that was readable by others.
#[cfg(unix)]
#[test]
fn csv_exports_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let (ok, _, err) = chat(data.path(), "ana", "/start\n1\n1\n");
    assert!(ok, "{err}");
    let out = tempfile::tempdir().unwrap();
    let fresh = out.path().join("fresh.csv");
    let old = out.path().join("old.csv");
    std::fs::write(&old, "stale").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    for csv in [&fresh, &old] {
        let run = Command::new(env!("CARGO_BIN_EXE_waypoint"))
            .arg("--data")
            .arg(data.path())
            .args(["export", "--what", "checkins", "--csv"])
            .arg(csv)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let mode = std::fs::metadata(csv).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", csv.display());
    }
}

/// `invite --qr` writes a printable page whose QR code opens the same link, and whose
/// words reveal no treatment, in either language.
#[test]
fn a_printable_invite_opens_the_link_and_reveals_no_treatment() {
    let data = tempfile::tempdir().unwrap();
    let card = data.path().join("card.png");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/waypoint.example.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .args(["--config", config, "--data"])
        .arg(data.path().join("store"))
        .args(["invite", "--program", "evening", "--qr"])
        .arg(&card)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    let page = image::open(&card).unwrap().to_luma8();
    assert!(page.height() > page.width(), "a portrait page");
    let mut prepared = rqrr::PreparedImage::prepare(page.clone());
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    assert_eq!(grids[0].decode().unwrap().1, link);
    // Printed words below the code.
    let below = (page.height() * 3 / 5..page.height())
        .flat_map(|y| (0..page.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| page.get_pixel(x, y).0[0] == 0)
        .count();
    assert!(below > 1000, "no text under the code");
    let content = waypoint::content::Content::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/messages"
    )))
    .unwrap();
    use waypoint::content::Msg;
    for locale in [waypoint::locale::Locale::En, waypoint::locale::Locale::Es] {
        for msg in [
            Msg::InviteCardTelegram,
            Msg::InviteCardSms,
            Msg::InviteCardExpires,
            Msg::InviteCardNoExpiry,
            Msg::InviteCardPrivacy,
        ] {
            let text = content.text(locale, msg);
            assert_eq!(
                waypoint::schedule::program::revealing_word(text),
                None,
                "{locale:?} {msg:?}: {text}"
            );
        }
    }
}

/// `check` speaks the configuration's own terms: a cron error in the five fields written,
/// a type error by table and key, and whether a configuration file was found at all.
#[test]
fn check_names_cron_fields_and_typed_keys_and_says_when_defaults_are_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let config = dir.path().join("waypoint.toml");
        std::fs::write(&config, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_waypoint"))
            .arg("--config")
            .arg(&config)
            .arg("check")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{text}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let program = "[[program]]\nid = \"x\"\nname = \"Group\"\ntimezone = \"America/New_York\"\n";
    let err = check(&format!(
        "{program}[[program.session]]\ncron = \"0 25 * * MON\"\n"
    ));
    assert!(
        err.contains("\"0 25 * * MON\": the hour field has \"25\"; it must be 0-23"),
        "{err}"
    );
    assert!(!err.contains("0 0 25"), "the six-field form leaks: {err}");
    let err = check(&format!(
        "{program}reminders = [24]\n[[program.session]]\ncron = \"0 18 * * MON\"\n"
    ));
    assert!(
        err.contains("waypoint.toml:5: program.reminders: invalid type"),
        "{err}"
    );
    let err = check("[resources]\nemergency = 911\n");
    assert!(
        err.contains("waypoint.toml:2: resources.emergency"),
        "{err}"
    );
    // No file anywhere: said plainly.
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .current_dir(empty.path())
        .env_remove("WAYPOINT_CONFIG")
        .args([
            "--messages",
            concat!(env!("CARGO_MANIFEST_DIR"), "/messages"),
            "check",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("no configuration file found"), "{said}");
}
