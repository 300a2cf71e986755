//! Scale of the scheduler and the sender: one run of a large, stateful scenario, printed as
//! a markdown table (not a criterion bench; each figure is measured once).
//!
//! 1. **Index build**: `--users N` consented people (default 1,000,000) in a fresh store,
//!    each in the "Evening group" program (Mon/Wed/Thu 18:00 New York), their jobs planned
//!    by the engine — some alumni with check-ins, some with a sober date and milestones —
//!    and saved one transaction each. 1,000 of them, spread over the key space, hold a
//!    check-in due at `t0 + 1h`; nothing else is due before `t0 + 5h`.
//! 2. **Resident memory** (VmRSS, VmHWM) after the build.
//! 3. **One wake** at `t0 + 1h`: the due-index read that finds the 1,000 due items
//!    (goal ≤ 10 ms), then `Scheduler::run_due` firing them all through the engine,
//!    queueing their messages and flushing once.
//! 4. **Start-up**: everything dropped (the drop's own flush timed), then this binary run
//!    again as a fresh process that opens the store and reads `next_due` (goal ≤ 1 s),
//!    with that process's resident memory. The page cache is warm: a cold boot is slower.
//! 5. **Delivery**: `--deliver M` messages (default 10,000, to as many chats) queued in a
//!    fresh store's outbox and drained by the real `Sender` with `Limits::default()`
//!    through a minimal HTTP/1.1 client to a loopback Bot API stand-in that enforces
//!    Telegram's limits — more than 30 accepted sendMessage calls in any sliding second,
//!    or two to one chat less than a second apart, get a 429 with `retry_after: 1`.
//!    Goals: a sustained ≥ 29 messages a second, no 429, nothing lost, nothing sent twice.
//!    Also shown: the gaps between accepted calls and, for the tightest refused window,
//!    how far apart its calls were at the server and when the sender called `send()`.
//!
//! Run: `cargo bench --bench schedule -- [--users N] [--deliver M] [--outbox-dir DIR]`;
//! `--deliver 600` is a quick delivery check (10,000 takes about six minutes at Telegram's
//! rate); `--outbox-dir /dev/shm` puts the delivery store on a tmpfs, where a flush costs
//! nothing, to tell the sender's own timing from the disk's.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use waypoint::app::App;
use waypoint::config::Config;
use waypoint::content::Content;
use waypoint::delivery::{Limits, Scheduler, SendError, Sender, SenderStats, Transport};
use waypoint::engine::state::Sobriety;
use waypoint::engine::{Dialogue, Engine, Job, JobKind, Reply, Settings, UserRecord};
use waypoint::locale::Locale;
use waypoint::store::{Outgoing, Priority, Store};
use waypoint::user::{Channel, UserKey};

const PROGRAM: &str = r#"
[[program]]
id = "evening"
name = "Evening group"

[[program.session]]
cron = "0 18 * * MON,WED,THU"
"#;

/// How many people are due at the measured wake.
const DUE_AT_WAKE: usize = 1_000;
const WAKE_GOAL: Duration = Duration::from_millis(10);
const STARTUP_GOAL: Duration = Duration::from_secs(1);
const RATE_GOAL: f64 = 29.0;
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Telegram's limits, as the stand-in enforces them.
const API_PER_SECOND: usize = 30;
const API_WINDOW: Duration = Duration::from_secs(1);
const API_PER_CHAT: Duration = Duration::from_secs(1);
/// Makes this binary the start-up probe of step 4 instead of the benchmark.
const PROBE_FLAG: &str = "--startup-probe";
const TOO_MANY: &str = r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}"#;

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Fallible<()> {
    let args = Args::parse();
    if let Some(dir) = &args.probe {
        return run_probe(dir);
    }
    assert!(
        args.users >= DUE_AT_WAKE,
        "--users must be at least {DUE_AT_WAKE}"
    );
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let content = Arc::new(Content::load(&root.join("messages")).map_err(|d| d.to_string())?);
    let settings = Config::parse(Path::new("bench.toml"), PROGRAM)
        .map_err(|d| d.to_string())?
        .settings;
    let mut table = Table::default();

    let temporary = tempfile::tempdir()?;
    let dir = args.keep.as_deref().unwrap_or(temporary.path());
    scale(&args, dir, &content, &settings, &mut table)?;
    drop(temporary);
    if args.deliver > 0 {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(delivery(&args, &content, &settings, &mut table))?;
    }
    println!(
        "\n### Schedule benchmark: {} users, {} deliveries{}\n",
        group(args.users as u64),
        group(args.deliver as u64),
        args.outbox_dir
            .as_ref()
            .map(|d| format!(" (outbox store under {})", d.display()))
            .unwrap_or_default()
    );
    table.print();
    Ok(())
}

/// Steps 1–4: build, memory, one wake, start-up.
fn scale(
    args: &Args,
    dir: &Path,
    content: &Arc<Content>,
    settings: &Settings,
    table: &mut Table,
) -> Fallible<()> {
    // Monday 2 March 2026, 03:00 in New York: everything the engine plans is at 08:00
    // local or later, so only the overridden check-ins fall before `t0 + 5h`.
    let t0 = Utc
        .with_ymd_and_hms(2026, 3, 2, 8, 0, 0)
        .single()
        .ok_or("t0")?;
    let wake_at = t0 + TimeDelta::hours(1);
    let today = t0.date_naive();
    let store = Store::open(dir)?;
    let engine = Engine::new(content.clone(), settings.clone());
    let app = Arc::new(App::new(engine, Arc::new(store.clone())));

    // 1. Index build.
    eprintln!("building {} users…", group(args.users as u64));
    let stride = args.users / DUE_AT_WAKE;
    let (mut planning, mut saving) = (Duration::ZERO, Duration::ZERO);
    let mut jobs = 0usize;
    let started = Instant::now();
    for i in 0..args.users {
        let user = UserKey::new(Channel::Telegram, i.to_string());
        let due = i.is_multiple_of(stride) && i / stride < DUE_AT_WAKE;
        let t = Instant::now();
        let record = person(app.engine(), i, due, t0, wake_at, today);
        let planned = t.elapsed();
        store.save(&user, &record, false)?;
        planning += planned;
        saving += t.elapsed() - planned;
        jobs += record.jobs.len();
        if (i + 1) % 100_000 == 0 {
            eprintln!("  {} users, {:.1?}", group(i as u64 + 1), started.elapsed());
        }
    }
    let built = started.elapsed();
    let t = Instant::now();
    store.flush()?;
    let flushed = t.elapsed();
    assert_eq!(store.due_len(), jobs, "the due index mirrors every job");
    table.row(
        "Index build: users saved (one transaction each)",
        format!(
            "{} in {} ({} users/s)",
            group(args.users as u64),
            secs(built),
            group((args.users as f64 / built.as_secs_f64()) as u64)
        ),
        "",
        None,
    );
    table.row(
        "Index build including the final flush",
        format!(
            "{} ({} users/s)",
            secs(built + flushed),
            group((args.users as f64 / (built + flushed).as_secs_f64()) as u64)
        ),
        "",
        None,
    );
    table.row(
        "… planning / saving / final flush",
        format!("{} / {} / {}", secs(planning), secs(saving), secs(flushed)),
        "",
        None,
    );
    table.row(
        "Due-index entries; on-disk size",
        format!(
            "{}; {}",
            group(store.due_len() as u64),
            bytes(dir_size(dir))
        ),
        "",
        None,
    );

    // 2. Resident memory.
    let (rss, hwm) = memory();
    table.row(
        "Memory after build: VmRSS / VmHWM",
        format!("{} / {}", bytes(rss), bytes(hwm)),
        "",
        None,
    );

    // 3. One wake.
    let t = Instant::now();
    let found = store.due_until(wake_at, 100_000)?;
    let first_read = t.elapsed();
    assert_eq!(
        found.len(),
        DUE_AT_WAKE,
        "the wake finds exactly the due people"
    );
    let mut reads: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            let n = store.due_until(wake_at, 100_000).map(|v| v.len());
            assert_eq!(n.ok(), Some(DUE_AT_WAKE));
            t.elapsed()
        })
        .collect();
    reads.sort();
    table.row(
        &format!(
            "Wake: due-index read finding {} due (first / median of 10)",
            group(DUE_AT_WAKE as u64)
        ),
        format!("{} / {}", ms(first_read), ms(reads[reads.len() / 2])),
        "≤ 10 ms",
        Some(first_read <= WAKE_GOAL),
    );
    let scheduler = Scheduler::new(app.clone(), store.clone());
    let queued_before = store.outbox_len();
    let t = Instant::now();
    let wake = scheduler.run_due(wake_at)?;
    let fired = t.elapsed();
    assert_eq!(wake.fired, DUE_AT_WAKE, "every due check-in fires");
    assert_eq!(store.outbox_len() - queued_before, wake.queued);
    assert!(store.due_until(wake_at, 10)?.is_empty(), "nothing left due");
    table.row(
        "Wake: `run_due` firing them (engine, transactions, outbox, one flush)",
        format!(
            "{} fired, {} queued in {} ({} per item)",
            group(wake.fired as u64),
            group(wake.queued as u64),
            ms(fired),
            micros(fired / wake.fired.max(1) as u32)
        ),
        "",
        None,
    );

    // /forget of people spread over the key space: the key file holding each one's data
    // key is rewritten whole (new file, fsync, rename, fsync the directory) before their
    // records go, then the store is flushed.
    let mut forgets: Vec<Duration> = (0..100)
        .map(|n| {
            let user = UserKey::new(Channel::Telegram, (n * stride + 1).to_string());
            let t = Instant::now();
            let removed = store.forget(&user).map(|r| r > 0);
            assert_eq!(removed.ok(), Some(true), "a person is forgotten");
            t.elapsed()
        })
        .collect();
    forgets.sort();
    table.row(
        "/forget of one person (100 people; median / max)",
        format!(
            "{} / {}",
            ms(forgets[forgets.len() / 2]),
            ms(forgets[forgets.len() - 1])
        ),
        "",
        None,
    );

    // 4. Start-up, in a fresh process as a restarted service would see it (this process
    // keeps the memory it freed, so its own RSS would say little).
    drop(scheduler);
    drop(app);
    let t = Instant::now();
    drop(store);
    let closed = t.elapsed();
    let probe = startup_probe(dir)?;
    assert!(
        probe.next_millis > wake_at.timestamp_millis(),
        "the next job is after the wake"
    );
    table.row(
        "Shut-down: dropping the store (its final flush)",
        ms(closed),
        "",
        None,
    );
    table.row(
        "Start-up, first after the build (fresh process, warm page cache): open + first `next_due` (open alone)",
        format!(
            "{} ({}{})",
            ms(probe.ready),
            ms(probe.opened),
            if probe.attempts > 1 {
                format!(", {} attempts: the store was still locked", probe.attempts)
            } else {
                String::new()
            }
        ),
        "≤ 1 s",
        Some(probe.ready <= STARTUP_GOAL),
    );
    // sled writes its snapshot of the page table only when it opens a store, and each
    // start replays the log written since the last one: the first start after the
    // build replays all of it, a later restart only what changed in between.
    let again = startup_probe(dir)?;
    table.row(
        "Restart (the next fresh process, after the first start's snapshot)",
        ms(again.ready),
        "",
        None,
    );
    table.row(
        "Memory after start-up (fresh process): VmRSS / VmHWM",
        format!("{} / {}", bytes(probe.rss), bytes(probe.hwm)),
        "",
        None,
    );
    Ok(())
}

/// What the start-up probe measured in its own process.
struct Probe {
    opened: Duration,
    ready: Duration,
    attempts: u32,
    next_millis: i64,
    rss: u64,
    hwm: u64,
}

/// Runs this binary again with `--startup-probe <dir>` and reads its one line of figures.
fn startup_probe(dir: &Path) -> Fallible<Probe> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .arg(PROBE_FLAG)
        .arg(dir)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<i64> = text
        .split_whitespace()
        .map(|w| w.parse().unwrap_or(-1))
        .collect();
    let [opened, ready, attempts, next_millis, rss, hwm] = fields[..] else {
        return Err(format!("the start-up probe failed ({}): {text:?}", output.status).into());
    };
    let micros = |n: i64| Duration::from_micros(u64::try_from(n).unwrap_or(0));
    Ok(Probe {
        opened: micros(opened),
        ready: micros(ready),
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_millis,
        rss: u64::try_from(rss).unwrap_or(0),
        hwm: u64::try_from(hwm).unwrap_or(0),
    })
}

/// The probe itself: open the store, read the next due time, print the figures.
fn run_probe(dir: &Path) -> Fallible<()> {
    let t = Instant::now();
    let mut attempts = 1;
    let store = loop {
        match Store::open(dir) {
            Ok(store) => break store,
            // The parent's sled threads may hold the lock for a moment after its drop.
            Err(waypoint::store::StoreError::Locked(_)) if attempts < 100 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let opened = t.elapsed();
    let next = store
        .next_due()?
        .ok_or("nothing scheduled after reopening")?;
    let ready = t.elapsed();
    let (rss, hwm) = memory();
    println!(
        "{} {} {attempts} {} {rss} {hwm}",
        opened.as_micros(),
        ready.as_micros(),
        next.timestamp_millis()
    );
    Ok(())
}

/// Person `i`: a consented program member; every third an alumnus, every fourth counting
/// sober days. `due` people instead hold one check-in at `wake_at`.
fn person(
    engine: &Engine,
    i: usize,
    due: bool,
    t0: DateTime<Utc>,
    wake_at: DateTime<Utc>,
    today: NaiveDate,
) -> UserRecord {
    let days = |n: usize| today - TimeDelta::days(n as i64);
    let mut record = UserRecord::new(Locale::En, t0 - TimeDelta::days(30));
    record.dialogue = Dialogue::Idle;
    record.timezone = Some("America/New_York".into());
    record.program = Some("evening".into());
    if due {
        record.discharged_on = Some(days(3));
        record.jobs = vec![Job {
            at: wake_at,
            kind: JobKind::Checkin,
        }];
        return record;
    }
    if i.is_multiple_of(3) {
        record.discharged_on = Some(days(1 + i % 720));
    }
    if i % 4 == 1 {
        record.sober = Some(Sobriety {
            since: days(1 + i % 2000),
            earlier: Vec::new(),
        });
    }
    record.jobs = engine.plan(&record, t0);
    record
}

/// Step 5: the sender against the stand-in.
async fn delivery(
    args: &Args,
    content: &Arc<Content>,
    settings: &Settings,
    table: &mut Table,
) -> Fallible<()> {
    let dir = match &args.outbox_dir {
        Some(parent) => tempfile::tempdir_in(parent)?,
        None => tempfile::tempdir()?,
    };
    let store = Store::open(dir.path())?;
    let engine = Engine::new(content.clone(), settings.clone());
    let app = Arc::new(App::new(engine, Arc::new(store.clone())));
    let chat = |i: usize| 100_000_000 + i as i64;
    let items: Vec<Outgoing> = (0..args.deliver)
        .map(|i| {
            let reply = Reply {
                text: format!("Reminder {i}: Evening group tomorrow at 6:00 PM."),
                buttons: Vec::new(),
                urgent: false,
            };
            let user = UserKey::new(Channel::Telegram, chat(i).to_string());
            Outgoing::new(user, reply, Priority::Scheduled)
        })
        .collect();
    store.enqueue(&items)?;
    store.flush()?;
    let queued = store.outbox_len();
    assert_eq!(queued, args.deliver);

    let api = StandIn::start().await?;
    let transport = Arc::new(Loopback::new(api.addr, "123456:bench"));
    let sender = Sender::new(store.clone(), app, transport.clone(), Limits::default());
    let (stop, stopped) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    eprintln!("delivering {} messages…", group(queued as u64));
    let started = Instant::now();
    let task = tokio::spawn(sender.run(wake.clone(), stopped));
    wake.notify_one();
    let mut report = started;
    let mut left = queued;
    while left > 0 && started.elapsed() < DELIVERY_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = store.outbox_len();
        if report.elapsed() >= Duration::from_secs(30) {
            report = Instant::now();
            eprintln!(
                "  {:.0?}: {} left, {} accepted, {} answered 429",
                started.elapsed(),
                group(left as u64),
                group(api.ledger().accepted_total),
                api.ledger().too_many()
            );
        }
    }
    let elapsed = started.elapsed();
    stop.send(true)?;
    let stats: SenderStats = task.await?;
    let ledger = api.ledger();

    let delivered = ledger.accepted_total;
    let lost = (0..args.deliver)
        .filter(|&i| !ledger.per_chat.contains_key(&chat(i)))
        .count();
    let duplicates: u64 = ledger
        .per_chat
        .values()
        .map(|&n| u64::from(n.saturating_sub(1)))
        .sum();
    // From the sender's start to the last call the stand-in accepted (the outbox is only
    // polled every 100 ms).
    let busy = ledger
        .arrivals
        .last()
        .map_or(elapsed, |last| last.saturating_duration_since(started));
    let rate = delivered as f64 / busy.as_secs_f64();
    let span = match (ledger.arrivals.first(), ledger.arrivals.last()) {
        (Some(a), Some(b)) if delivered > 1 => (delivered - 1) as f64 / (*b - *a).as_secs_f64(),
        _ => 0.0,
    };
    let mut gaps: Vec<Duration> = ledger.arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    table.row(
        "Delivery: queued / accepted by the stand-in",
        format!("{} / {}", group(queued as u64), group(delivered)),
        "",
        None,
    );
    table.row(
        "Delivery: elapsed (sender start → last accepted call)",
        format!(
            "{}{}",
            secs(busy),
            if left > 0 {
                format!(" — TIMED OUT with {} left", group(left as u64))
            } else {
                String::new()
            }
        ),
        "",
        None,
    );
    table.row(
        "Delivery: sustained rate (from the first accepted call)",
        format!("{rate:.2} msg/s ({span:.2} msg/s)"),
        "≥ 29 msg/s",
        Some(rate >= RATE_GOAL),
    );
    table.row(
        "Delivery: answered 429 (overall window / per chat)",
        format!(
            "{} ({} / {})",
            ledger.too_many(),
            ledger.window_429,
            ledger.chat_429
        ),
        "0",
        Some(ledger.too_many() == 0),
    );
    if !gaps.is_empty() {
        let at = |q: f64| gaps[((gaps.len() - 1) as f64 * q) as usize];
        table.row(
            "Delivery: gap between accepted calls: min / median / p99 / max",
            format!(
                "{} / {} / {} / {}",
                ms(at(0.0)),
                ms(at(0.5)),
                ms(at(0.99)),
                ms(at(1.0))
            ),
            "",
            None,
        );
    }
    if let Some(worst) = diagnose(&ledger.refused, &transport) {
        table.row(
            "Delivery: tightest refused window: 31st call after the 1st, at the server / at `send()`",
            worst,
            "",
            None,
        );
    }
    table.row(
        "Delivery: lost (queued, never accepted)",
        group(lost as u64),
        "0",
        Some(lost == 0),
    );
    table.row(
        "Delivery: duplicates (accepted twice for one chat)",
        group(duplicates),
        "0",
        Some(duplicates == 0),
    );
    table.row(
        "Delivery: sender's own counts (sent / 429 / transient / given up)",
        format!(
            "{} / {} / {} / {}",
            stats.sent, stats.retried_after_429, stats.transient_failures, stats.given_up
        ),
        "",
        None,
    );
    Ok(())
}

/// For each 429 of the overall limit: how far apart the window's first call and the
/// refused one were at the server, and when the sender handed them to the transport. The
/// sender keeps 30 starts per 1.03 s by its own clock; if `send()` was called less than
/// 1.03 s apart, the time went between its bookkeeping and the call (flush, spawn).
fn diagnose(refused: &[Refusal], transport: &Loopback) -> Option<String> {
    let calls = transport.calls.lock().ok()?;
    let called = |chat: i64, by: Instant| {
        calls
            .iter()
            .filter(|(c, t)| *c == chat && *t <= by)
            .map(|(_, t)| *t)
            .max()
    };
    let mut worst: Option<(Duration, String)> = None;
    for r in refused {
        let at_server = r.arrived - r.oldest_arrived;
        let (Some(first), Some(last)) = (
            called(r.oldest_chat, r.oldest_arrived),
            called(r.chat, r.arrived),
        ) else {
            continue;
        };
        let line = format!(
            "{} / {} (first call {} on the wire, refused one {})",
            ms(at_server),
            ms(last.saturating_duration_since(first)),
            ms(r.oldest_arrived - first),
            ms(r.arrived - last)
        );
        eprintln!("  429: {line}");
        if worst.as_ref().is_none_or(|(w, _)| at_server < *w) {
            worst = Some((at_server, line));
        }
    }
    worst.map(|(_, line)| line)
}

/// The loopback Bot API: sendMessage only, with Telegram's limits and a ledger.
struct StandIn {
    addr: SocketAddr,
    ledger: Arc<Mutex<Ledger>>,
}

#[derive(Clone, Copy)]
struct Refusal {
    chat: i64,
    arrived: Instant,
    oldest_chat: i64,
    oldest_arrived: Instant,
}

#[derive(Default, Clone)]
struct Ledger {
    /// When the calls accepted in the last second arrived, and to which chat.
    recent: VecDeque<(Instant, i64)>,
    /// Every 429 of the overall limit: the refused call, and the oldest call in its window.
    refused: Vec<Refusal>,
    last_to: HashMap<i64, Instant>,
    per_chat: HashMap<i64, u32>,
    accepted_total: u64,
    window_429: u64,
    chat_429: u64,
    /// When every accepted call arrived, in order.
    arrivals: Vec<Instant>,
}

impl Ledger {
    fn too_many(&self) -> u64 {
        self.window_429 + self.chat_429
    }

    /// Accepts the call or says why not, as Telegram would.
    fn admit(&mut self, chat: i64, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= API_WINDOW)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= API_PER_SECOND {
            self.window_429 += 1;
            if let Some(&(oldest_arrived, oldest_chat)) = self.recent.front() {
                self.refused.push(Refusal {
                    chat,
                    arrived: now,
                    oldest_chat,
                    oldest_arrived,
                });
            }
            return false;
        }
        if self
            .last_to
            .get(&chat)
            .is_some_and(|t| now.duration_since(*t) < API_PER_CHAT)
        {
            self.chat_429 += 1;
            return false;
        }
        self.recent.push_back((now, chat));
        self.last_to.insert(chat, now);
        *self.per_chat.entry(chat).or_default() += 1;
        self.accepted_total += 1;
        self.arrivals.push(now);
        true
    }
}

impl StandIn {
    async fn start() -> std::io::Result<StandIn> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let shared = ledger.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        Ok(StandIn { addr, ledger })
    }

    fn ledger(&self) -> Ledger {
        self.ledger.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// One keep-alive connection: requests in turn until the client closes it.
async fn serve(stream: TcpStream, ledger: Arc<Mutex<Ledger>>) {
    let _ = stream.set_nodelay(true);
    let mut stream = BufReader::new(stream);
    while let Ok(Some((path, body))) = read_message(&mut stream).await {
        let arrived = Instant::now();
        let params: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let (status, answer) = if !path.ends_with("/sendMessage") {
            (
                404,
                json!({"ok": false, "error_code": 404, "description": "Not Found"}).to_string(),
            )
        } else if let Some(chat) = params["chat_id"].as_i64() {
            let admitted = ledger.lock().map(|mut l| {
                let ok = l.admit(chat, arrived);
                (ok, l.accepted_total)
            });
            match admitted {
                Ok((true, id)) => (
                    200,
                    json!({"ok": true, "result": {
                        "message_id": id, "date": 0,
                        "chat": {"id": chat, "type": "private", "first_name": "x"},
                        "text": params["text"],
                    }})
                    .to_string(),
                ),
                Ok((false, _)) => (429, TOO_MANY.to_string()),
                Err(_) => (500, r#"{"ok":false,"error_code":500}"#.to_string()),
            }
        } else {
            (
                400,
                json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"})
                    .to_string(),
            )
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if stream
            .get_mut()
            .write_all(response.as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Reads one HTTP/1.1 message with a `content-length` body: the request target (or the
/// status code) from the first line, and the body. `None` when the peer closed.
async fn read_message(
    stream: &mut BufReader<TcpStream>,
) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut first = String::new();
    if stream.read_line(&mut first).await? == 0 {
        return Ok(None);
    }
    let second_word = first.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if stream.read_line(&mut header).await? == 0 {
            return Ok(None);
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(Some((second_word, body)))
}

/// A [`Transport`] that POSTs `sendMessage` to the stand-in over pooled keep-alive
/// connections.
struct Loopback {
    addr: SocketAddr,
    path: String,
    pool: Mutex<Vec<BufReader<TcpStream>>>,
    /// When `send` was called, for which chat: to tell the sender's delays from the wire's.
    calls: Mutex<Vec<(i64, Instant)>>,
}

impl Loopback {
    fn new(addr: SocketAddr, token: &str) -> Self {
        Self {
            addr,
            path: format!("/bot{token}/sendMessage"),
            pool: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
        }
    }

    async fn post(&self, body: &str) -> std::io::Result<(u16, Vec<u8>)> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let mut conn = match pooled {
            Some(conn) => conn,
            None => {
                let stream = TcpStream::connect(self.addr).await?;
                stream.set_nodelay(true)?;
                BufReader::new(stream)
            }
        };
        let request = format!(
            "POST {} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            self.path,
            body.len()
        );
        conn.get_mut().write_all(request.as_bytes()).await?;
        let (status, answer) = read_message(&mut conn)
            .await?
            .ok_or_else(|| std::io::Error::other("the server closed the connection"))?;
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(conn);
        }
        let status = status
            .parse()
            .map_err(|_| std::io::Error::other("not an HTTP status"))?;
        Ok((status, answer))
    }
}

impl Transport for Loopback {
    fn channel(&self) -> Channel {
        Channel::Telegram
    }

    async fn send(&self, to: &UserKey, reply: &Reply) -> Result<(), SendError> {
        let chat: i64 = to
            .id
            .parse()
            .map_err(|_| SendError::Permanent("not a Telegram chat id".into()))?;
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((chat, Instant::now()));
        }
        let body = json!({"chat_id": chat, "text": reply.text}).to_string();
        let (status, answer) = self
            .post(&body)
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?;
        let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        match status {
            200 if answer["ok"] == true => Ok(()),
            429 => Err(SendError::RetryAfter(Duration::from_secs(
                answer["parameters"]["retry_after"].as_u64().unwrap_or(1),
            ))),
            403 => Err(SendError::Unreachable),
            500..=599 => Err(SendError::Transient(format!("HTTP {status}"))),
            _ => Err(SendError::Permanent(format!(
                "HTTP {status}: {}",
                answer["description"]
            ))),
        }
    }
}

struct Args {
    users: usize,
    deliver: usize,
    /// Where the delivery store lives (default: the system's temporary directory); a
    /// tmpfs such as /dev/shm shows what the sender does when flushing costs nothing.
    outbox_dir: Option<PathBuf>,
    probe: Option<PathBuf>,
    /// Build the store here and keep it (for profiling start-up with `--probe`).
    keep: Option<PathBuf>,
}

impl Args {
    /// `--users N`, `--deliver N` (or `--users=N`), `--outbox-dir DIR` and `--keep DIR`;
    /// anything else, such as the
    /// `--bench` cargo passes, is ignored.
    fn parse() -> Args {
        let mut args = Args {
            users: 1_000_000,
            deliver: 10_000,
            outbox_dir: None,
            probe: None,
            keep: None,
        };
        let mut words = std::env::args().skip(1);
        while let Some(word) = words.next() {
            let (name, inline) = match word.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (word, None),
            };
            if name == PROBE_FLAG || name == "--outbox-dir" || name == "--keep" {
                let dir = inline.or_else(|| words.next()).map(PathBuf::from);
                match name.as_str() {
                    PROBE_FLAG => args.probe = dir,
                    "--keep" => args.keep = dir,
                    _ => args.outbox_dir = dir,
                }
                continue;
            }
            let slot = match name.as_str() {
                "--users" => &mut args.users,
                "--deliver" => &mut args.deliver,
                _ => continue,
            };
            let value = inline.or_else(|| words.next()).unwrap_or_default();
            *slot = value
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("{name} needs a number, not {value:?}"));
        }
        args
    }
}

/// The figures, printed as a markdown table.
#[derive(Default)]
struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    fn row(&mut self, what: &str, value: String, goal: &str, met: Option<bool>) {
        let met = match met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        self.rows
            .push([what.to_string(), value, goal.to_string(), met.to_string()]);
    }

    fn print(&self) {
        println!("| Measure | Value | Goal | Met |");
        println!("|---|---|---|---|");
        for [what, value, goal, met] in &self.rows {
            println!("| {what} | {value} | {goal} | {met} |");
        }
    }
}

/// VmRSS and VmHWM of this process, in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => dir_size(&entry.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(n: u64) -> String {
    format!("{:.0} MiB", n as f64 / (1024.0 * 1024.0))
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}
