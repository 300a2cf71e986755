//! One person's flood against everyone else's replies, one run, printed as a markdown
//! table (not a criterion bench; each figure is measured once).
//!
//! One chat sends `--flood N` messages (default 10,000) as fast as it can, while
//! `--people P` others (default 1,000), arriving evenly over `--over S` seconds (default
//! 100), each send a crisis message and, two seconds later, a question. Everything runs
//! in this process as `waypoint run` wires it: `App::handle` on a blocking thread (the
//! crisis check, the pace, the engine, the store), replies queued in the sealed outbox,
//! and the real `Sender` with `Limits::default()` (30 a second, one a second per chat)
//! sending through a stand-in transport that takes 50 ms a message. `--flood-crisis`
//! makes every flood message crisis language, which the pace never holds back.
//!
//! Shown: the others' reply latency (from their message's arrival to the send of each
//! reply) at p50, p99 and max, crisis replies and the rest apart (goals: p99 ≤ 2 s and
//! ≤ 5 s); replies lost (goal 0); the flood's messages answered and replies sent; the
//! outbox left at the end and the largest seen; the peak resident memory.
//!
//! Run: `cargo bench --bench flood -- [--flood N] [--people P] [--over S] [--flood-crisis]`.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use waypoint::app::App;
use waypoint::content::Content;
use waypoint::delivery::{Limits, SendError, Sender, Transport, queue_replies};
use waypoint::engine::{Body, ChatKind, Engine, Inbound, Reply, Settings};
use waypoint::locale::Locale;
use waypoint::store::Store;
use waypoint::user::{Channel, UserKey};

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

const FLOODER: &str = "999999999";
const QUESTION: &str = "how long does the program last";
const FLOOD_TEXT: &str = "hello? hello? anyone there";
const CRISIS: &str = "i want to kill myself tonight";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// When each reply was queued, per chat and urgency, in queue order: the sender keeps
/// each chat's order within an urgency, so deliveries pop them in turn.
#[derive(Default)]
struct Ledger {
    waiting: HashMap<(String, bool), VecDeque<Instant>>,
    /// (urgent, latency) of each delivered reply to someone other than the flooder.
    latencies: Vec<(bool, Duration)>,
    flood_sent: usize,
}

/// Takes 50 ms a message, like a nearby Bot API, and records each delivery.
struct Recorder {
    ledger: Arc<Mutex<Ledger>>,
}

impl Transport for Recorder {
    fn channel(&self) -> Channel {
        Channel::Telegram
    }

    async fn send(&self, to: &UserKey, reply: &Reply) -> Result<(), SendError> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut ledger = self.ledger.lock().unwrap();
        let arrived = ledger
            .waiting
            .get_mut(&(to.id.clone(), reply.urgent))
            .and_then(VecDeque::pop_front);
        if to.id == FLOODER {
            ledger.flood_sent += 1;
        } else if let Some(arrived) = arrived {
            ledger.latencies.push((reply.urgent, arrived.elapsed()));
        }
        Ok(())
    }
}

/// Handles one message as the Telegram channel does, and notes its replies' arrival.
async fn message(
    app: &Arc<App>,
    store: &Store,
    transport: &Recorder,
    wake: &Notify,
    chat: &str,
    text: &str,
) -> usize {
    let arrived = Instant::now();
    let inbound = Inbound {
        user: UserKey::new(Channel::Telegram, chat),
        at: chrono::Utc::now(),
        language: Some(Locale::En),
        chat: ChatKind::Private,
        body: Body::Text(text.into()),
        sender: None,
    };
    let user = inbound.user.clone();
    let app = app.clone();
    let outcome = tokio::task::spawn_blocking(move || app.handle(&inbound))
        .await
        .expect("handling does not panic");
    {
        let mut ledger = transport.ledger.lock().unwrap();
        for reply in &outcome.replies {
            ledger
                .waiting
                .entry((chat.to_string(), reply.urgent))
                .or_default()
                .push_back(arrived);
        }
    }
    let n = outcome.replies.len();
    queue_replies(store, transport, &user, outcome.replies).await;
    wake.notify_one();
    n
}

fn percentile(sorted: &[Duration], p: f64) -> String {
    if sorted.is_empty() {
        return "–".into();
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    format!("{:.2} s", sorted[i].as_secs_f64())
}

/// Peak resident memory (Linux), in MiB.
fn peak_rss_mib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .map_or("–".into(), |kib| format!("{:.0} MiB", kib / 1024.0))
}

fn main() -> Fallible<()> {
    let flood = arg("--flood", 10_000);
    let people = arg("--people", 1_000);
    let over = arg("--over", 100);
    let flood_crisis = std::env::args().any(|a| a == "--flood-crisis");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(flood, people, over, flood_crisis))
}

async fn run(flood: u64, people: u64, over: u64, flood_crisis: bool) -> Fallible<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let messages = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("messages");
    let engine = Engine::new(Arc::new(Content::load(&messages)?), Settings::default());
    let app = Arc::new(App::staffed(engine, store.clone()));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let transport = Arc::new(Recorder {
        ledger: ledger.clone(),
    });
    let wake = Arc::new(Notify::new());
    let (stop, shutdown) = watch::channel(false);
    let sender = Sender::new(
        store.clone(),
        app.clone(),
        transport.clone(),
        Limits::default(),
    );
    let sending = tokio::spawn(sender.run(wake.clone(), shutdown));

    let started = Instant::now();
    let most_queued = Arc::new(Mutex::new(0usize));
    let watcher = {
        let (store, most) = (store.clone(), most_queued.clone());
        tokio::spawn(async move {
            loop {
                let depth = store.outbox_len();
                {
                    let mut most = most.lock().unwrap();
                    *most = (*most).max(depth);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let flooder = {
        let (app, store, transport, wake) =
            (app.clone(), store.clone(), transport.clone(), wake.clone());
        tokio::spawn(async move {
            let text = if flood_crisis { CRISIS } else { FLOOD_TEXT };
            let mut answered = 0;
            for _ in 0..flood {
                answered +=
                    usize::from(message(&app, &store, &transport, &wake, FLOODER, text).await > 0);
            }
            answered
        })
    };
    let mut others = tokio::task::JoinSet::new();
    let mut expected = 0usize;
    let counted = Arc::new(Mutex::new(0usize));
    for i in 0..people {
        let (app, store, transport, wake, counted) = (
            app.clone(),
            store.clone(),
            transport.clone(),
            wake.clone(),
            counted.clone(),
        );
        let at = started + Duration::from_secs_f64(over as f64 * i as f64 / people as f64);
        others.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let chat = (1_000_000 + i).to_string();
            let mut n = message(&app, &store, &transport, &wake, &chat, CRISIS).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            n += message(&app, &store, &transport, &wake, &chat, QUESTION).await;
            *counted.lock().unwrap() += n;
        });
    }
    while others.join_next().await.is_some() {}
    let answered_flood = flooder.await?;
    expected += *counted.lock().unwrap();
    // Wait for the others' replies (the flood's may take much longer).
    let deadline = Instant::now() + Duration::from_secs(600);
    while ledger.lock().unwrap().latencies.len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wall = started.elapsed();
    stop.send(true)?;
    sending.await?;
    watcher.abort();

    let ledger = ledger.lock().unwrap();
    let mut crisis: Vec<Duration> = Vec::new();
    let mut rest: Vec<Duration> = Vec::new();
    for (urgent, latency) in &ledger.latencies {
        if *urgent {
            crisis.push(*latency);
        } else {
            rest.push(*latency);
        }
    }
    crisis.sort();
    rest.sort();
    let left = store.outbox_len();
    let kind = if flood_crisis {
        "crisis language"
    } else {
        "ordinary text"
    };
    println!(
        "\n### Flood benchmark: one chat sends {flood} messages ({kind}); {people} others over {over} s\n"
    );
    println!("| measure | result |\n|---|---|");
    let row = |k: &str, v: String| println!("| {k} | {v} |");
    row(
        "others' crisis replies: p50 / p99 / max",
        format!(
            "{} / {} / {} ({} replies)",
            percentile(&crisis, 0.5),
            percentile(&crisis, 0.99),
            percentile(&crisis, 1.0),
            crisis.len()
        ),
    );
    row(
        "others' other replies: p50 / p99 / max",
        format!(
            "{} / {} / {} ({} replies)",
            percentile(&rest, 0.5),
            percentile(&rest, 0.99),
            percentile(&rest, 1.0),
            rest.len()
        ),
    );
    row(
        "others' replies lost",
        expected.saturating_sub(ledger.latencies.len()).to_string(),
    );
    row(
        "flood messages answered (the pace drops the rest; a reply already waiting is not queued again)",
        format!("{answered_flood} of {flood}"),
    );
    row(
        "flood replies sent by the end / outbox entries left",
        format!("{} / {left}", ledger.flood_sent),
    );
    row(
        "largest outbox seen",
        format!("{} entries", *most_queued.lock().unwrap()),
    );
    row("peak resident memory", peak_rss_mib());
    row("wall time", format!("{:.0} s", wall.as_secs_f64()));
    Ok(())
}
