//! The SMS channel's figures, one run, printed as a markdown table (not a criterion bench;
//! each figure is measured once, on whatever machine runs it).
//!
//! 1. **Pure work per text**: verifying a Twilio signature over a realistic parameter set,
//!    and counting the segments of a 300-character text (mean of many runs).
//! 2. **Inbound**: `--texts N` (default 2,000) signed webhook requests from N/10 numbers,
//!    16 at a time, against the real SMS channel in this process (axum, signature, the
//!    engine, the store, the outbox), its replies sent to a loopback Twilio stand-in.
//!    Shown: requests a second and the webhook's answer time (p50, p99); every request
//!    must be answered 200 and every reply delivered.
//! 3. **Pacing**: `--send M` (default 120) texts to M numbers queued at once with
//!    `per_second = 20`; shown: the achieved rate (goal: at most the configured rate, and
//!    within 10 % of it), nothing lost, nothing sent twice.
//!
//! Run: `cargo bench --bench sms -- [--texts N] [--send M]`.

#[path = "../tests/common/twilio.rs"]
mod twilio;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use twilio::{ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, Twilio};
use waypoint::app::App;
use waypoint::channels::hub::Hub;
use waypoint::channels::sms::{Credentials, Sms};
use waypoint::clock::SystemClock;
use waypoint::config::Config;
use waypoint::content::Content;
use waypoint::engine::{Engine, Reply};
use waypoint::sms::{segments, signature};
use waypoint::store::{Outgoing, Priority, Store};
use waypoint::user::{Channel, UserKey};

const PUBLIC_URL: &str = "https://clinic.example.org/sms/inbound";

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Fallible<()> {
    let texts = arg("--texts", 2000);
    let send = arg("--send", 120);
    let mut rows: Vec<(String, String)> = Vec::new();
    pure(&mut rows);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(inbound(texts, &mut rows))?;
    runtime.block_on(pacing(send, &mut rows))?;
    println!("\n### SMS benchmark: {texts} inbound texts, {send} paced sends\n");
    println!("| measure | result |\n|---|---|");
    for (k, v) in rows {
        println!("| {k} | {v} |");
    }
    Ok(())
}

fn pure(rows: &mut Vec<(String, String)>) {
    let params = twilio::inbound_params(
        "+15551230001",
        FROM_NUMBER,
        "what time is group tonight?",
        "SM0123456789abcdef0123456789abcdef",
    );
    let header = signature::sign(AUTH_TOKEN, PUBLIC_URL, &params);
    let runs = 20_000;
    let start = Instant::now();
    let mut ok = 0;
    for _ in 0..runs {
        ok += usize::from(signature::verify(
            AUTH_TOKEN,
            PUBLIC_URL,
            std::hint::black_box(&params),
            &header,
        ));
    }
    assert_eq!(ok, runs);
    rows.push((
        "verify a Twilio signature (20 parameters)".into(),
        format!(
            "{:.1} µs",
            start.elapsed().as_secs_f64() * 1e6 / runs as f64
        ),
    ));
    let text = "Evening group: tonight at 6:00 PM. Where: Room 2. Will you make it? ".repeat(5);
    let start = Instant::now();
    let mut total = 0;
    for _ in 0..runs {
        total += segments::segments(&segments::gsm_friendly(std::hint::black_box(&text))).count;
    }
    assert!(total > 0);
    rows.push((
        "GSM-friendly + segment count, 340 characters".into(),
        format!(
            "{:.2} µs",
            start.elapsed().as_secs_f64() * 1e6 / runs as f64
        ),
    ));
}

/// The SMS channel on a fresh store, texting through a stand-in; returns what to stop it.
async fn channel(
    twilio: &Twilio,
    per_second: f64,
    dir: &Path,
) -> Fallible<(
    String,
    Store,
    Arc<tokio::sync::watch::Sender<bool>>,
    tokio::task::JoinHandle<()>,
)> {
    let config = Config::parse(
        Path::new("bench.toml"),
        &format!(
            "[resources]\nclinic_line = \"+1 555 010 0100\"\n[sms]\nlisten = \"127.0.0.1:0\"\nwebhook_url = \"{PUBLIC_URL}\"\nfrom = \"{FROM_NUMBER}\"\napi_url = \"{}\"\nper_second = {per_second}\n",
            twilio.url
        ),
    )
    .map_err(|d| d.to_string())?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let content = Arc::new(Content::load(&root.join("messages")).map_err(|d| d.to_string())?);
    let store = Store::open(dir)?;
    let app = Arc::new(App::staffed(
        Engine::new(content, config.settings.clone()),
        store.clone(),
    ));
    let mut hub = Hub::new(app, store.clone(), Arc::new(SystemClock));
    let sms_settings = config.sms.clone().ok_or("no [sms]")?;
    let credentials = Credentials {
        account_sid: ACCOUNT_SID.into(),
        auth_token: AUTH_TOKEN.into(),
    };
    let sms = Sms::start(&mut hub, &sms_settings, credentials).await?;
    let addr = sms.local_addr().ok_or("no address")?;
    hub.start_scheduler();
    let (stop, shutdown) = (hub.trigger(), hub.shutdown());
    let task = tokio::spawn(async move {
        if let Err(e) = sms.serve(shutdown).await {
            eprintln!("the SMS channel failed: {e}");
        }
        hub.finish().await;
    });
    Ok((format!("http://{addr}/sms/inbound"), store, stop, task))
}

async fn inbound(texts: usize, rows: &mut Vec<(String, String)>) -> Fallible<()> {
    let twilio = Twilio::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let dir = tempfile::tempdir()?;
    let (webhook, store, stop, task) = channel(&twilio, 100.0, dir.path()).await?;
    let questions = [
        "what is an IOP?",
        "how long does IOP last?",
        "hi",
        "HELP",
        "thanks",
        "is it confidential?",
    ];
    let people = (texts / 10).max(1);
    let jobs: Vec<(String, &str)> = (0..texts)
        .map(|i| {
            (
                format!("+1555{:07}", i % people),
                questions[i % questions.len()],
            )
        })
        .collect();
    let jobs = Arc::new(std::sync::Mutex::new(jobs.into_iter()));
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (jobs, webhook) = (jobs.clone(), webhook.clone());
        workers.spawn(async move {
            let mut times = Vec::new();
            loop {
                let next = jobs.lock().unwrap().next();
                let Some((from, body)) = next else { break };
                let params =
                    twilio::inbound_params(&from, FROM_NUMBER, body, &twilio::new_message_sid());
                let sig = twilio::twilio_signature(AUTH_TOKEN, PUBLIC_URL, &params);
                let t = Instant::now();
                let (status, _) = twilio::post_inbound(
                    &webhook,
                    AUTH_TOKEN,
                    &twilio::borrowed(&params),
                    Some(&sig),
                )
                .await;
                assert_eq!(status, 200);
                times.push(t.elapsed());
            }
            times
        });
    }
    let mut times = Vec::new();
    while let Some(done) = workers.join_next().await {
        times.extend(done?);
    }
    let elapsed = start.elapsed();
    times.sort();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    rows.push((
        "inbound webhook requests a second (16 at a time)".into(),
        format!("{:.0}", texts as f64 / elapsed.as_secs_f64()),
    ));
    rows.push((
        "webhook answer time p50 / p99".into(),
        format!(
            "{:.1} ms / {:.1} ms",
            pct(0.5).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3
        ),
    ));
    let waited = Instant::now();
    while store.outbox_len() > 0 && waited.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rows.push((
        "replies delivered / still queued".into(),
        format!("{} / {}", twilio.delivered().len(), store.outbox_len()),
    ));
    let _ = stop.send(true);
    task.await?;
    Ok(())
}

async fn pacing(send: usize, rows: &mut Vec<(String, String)>) -> Fallible<()> {
    let twilio = Twilio::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let dir = tempfile::tempdir()?;
    let per_second = 20.0;
    let (_webhook, store, stop, task) = channel(&twilio, per_second, dir.path()).await?;
    let items: Vec<Outgoing> = (0..send)
        .map(|i| {
            let reply = Reply {
                text: format!("Evening group: tonight at 6:00 PM (#{i})."),
                buttons: Vec::new(),
                urgent: false,
            };
            Outgoing::new(
                UserKey::new(Channel::Sms, format!("+1666{i:07}")),
                reply,
                Priority::Scheduled,
            )
        })
        .collect();
    let start = Instant::now();
    store.enqueue(&items)?;
    store.flush()?;
    // The sender wakes on its own within its idle poll; nudge it by a reply-less wait.
    let mut first: Option<Instant> = None;
    while twilio.delivered().len() < send && start.elapsed() < Duration::from_secs(120) {
        if first.is_none() && !twilio.delivered().is_empty() {
            first = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done = Instant::now();
    let delivered = twilio.delivered();
    let unique: HashSet<&String> = delivered.iter().map(|(_, _, body)| body).collect();
    let span = done.duration_since(first.unwrap_or(start)).as_secs_f64();
    let rate = (delivered.len().saturating_sub(1)) as f64 / span.max(1e-9);
    rows.push((
        format!("paced sends at per_second = {per_second}"),
        format!("{rate:.2} texts/s"),
    ));
    rows.push((
        "paced: delivered / lost / sent twice".into(),
        format!(
            "{} / {} / {}",
            delivered.len(),
            send - unique.len().min(send),
            delivered.len() - unique.len()
        ),
    ));
    let _ = stop.send(true);
    task.await?;
    Ok(())
}
