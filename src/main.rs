//! The `waypoint` command: thin wiring around the library; `anyhow` lives only here.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};

use waypoint::app::App;
use waypoint::channels::{console, hub, hub::Hub, ops, sms, telegram};
use waypoint::clock::{Clock, ManualClock, ShiftedClock, SystemClock};
use waypoint::config::Config;
use waypoint::content::{Content, Msg};
use waypoint::delivery::Scheduler;
use waypoint::engine::Engine;
use waypoint::locale::Locale;
use waypoint::store::Store;
use waypoint::store::crypto::KeySource;
use waypoint::tools::{eval, triage};
use waypoint::user::{Channel, UserKey};

/// Waypoint: reminders, check-ins, a curated FAQ and crisis routing for people in
/// Intensive Outpatient Programs.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (default: ./waypoint.toml if it exists).
    #[arg(long, global = true, env = "WAYPOINT_CONFIG", help_heading = GLOBAL)]
    config: Option<PathBuf>,
    /// Data directory for the store (default: ./data).
    #[arg(long, global = true, env = "WAYPOINT_DATA", help_heading = GLOBAL)]
    data: Option<PathBuf>,
    /// Content directory (default: ./messages).
    #[arg(long, global = true, env = "WAYPOINT_MESSAGES", help_heading = GLOBAL)]
    messages: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Where `--help` lists the options every subcommand takes.
const GLOBAL: &str = "Global options";

#[derive(Subcommand)]
enum Command {
    /// Chat with the bot in this terminal: no token, no network, the same engine and store.
    Chat {
        /// Who you are in the store (each name is a separate person).
        #[arg(long, default_value = "local")]
        user: String,
        /// Language before you choose one: en or es (default: from $LANG).
        #[arg(long)]
        lang: Option<String>,
        /// Start the clock at this instant (RFC 3339, e.g. 2026-12-01T15:00:00Z) and keep
        /// it still except for /_time: for scripted demos and tests.
        #[arg(long)]
        at: Option<String>,
    },
    /// Run the live channels: Telegram (when TELOXIDE_TOKEN is set) and SMS over Twilio
    /// (when the configuration has [sms]; credentials from TWILIO_ACCOUNT_SID and
    /// TWILIO_AUTH_TOKEN).
    Run {
        /// Bot API base URL (default: TELOXIDE_API_URL, then the config, then Telegram's).
        #[arg(long)]
        api_url: Option<String>,
        /// Receive Telegram updates at this public HTTPS URL instead of polling (the
        /// listener is [telegram] webhook_listen, behind a TLS-terminating proxy).
        #[arg(long)]
        webhook: Option<String>,
    },
    /// Route messages from stdin and print what the bot would answer, as JSON lines.
    Triage {
        /// Input lines are JSON objects with a "text" field (and optional "lang").
        #[arg(long)]
        jsonl: bool,
        /// Add the triage rules that fired and the concepts found.
        #[arg(long)]
        explain: bool,
        /// Language of plain-text lines: en or es.
        #[arg(long, default_value = "en")]
        lang: String,
    },
    /// Measure triage against labelled JSON lines; exit non-zero below the thresholds.
    Eval(EvalArgs),
    /// Rebuild the learned triage layer from training/train (seeded: same corpus, same
    /// bytes), calibrating its thresholds beside the rules.
    Train(TrainArgs),
    /// Rebuild the FAQ model (messages/faq-model.bin) from training/faq/train and the
    /// FAQ's own questions (seeded: same corpus and content, same bytes), calibrating
    /// its thresholds on out-of-author predictions.
    TrainFaq(TrainFaqArgs),
    /// Validate the configuration and every file in messages/ (and lint the FAQ).
    Check,
    /// Export answers or escalations as CSV for staff (aliases only, never chat ids).
    Export {
        /// rsvps, checkins or escalations.
        #[arg(long)]
        what: String,
        /// Where to write the CSV.
        #[arg(long)]
        csv: PathBuf,
    },
    /// Enrollment, reminders, answers and escalations, in numbers.
    Stats,
    /// Write the whole store to FILE (stop `waypoint run` first: the store has one user at
    /// a time, which is what makes the copy consistent).
    Backup {
        /// The backup file to write (readable by its owner only).
        file: PathBuf,
    },
    /// Restore a backup into the data directory, which must be new or empty. It opens
    /// only with the master key it was made under.
    Restore {
        /// A file `waypoint backup` wrote.
        file: PathBuf,
    },
    /// Write a new random master key to FILE (readable by its owner only).
    Keygen {
        /// Where to write the key (readable by its owner only).
        file: PathBuf,
    },
    /// Re-wrap every data key under a new master key (stop `waypoint run` first). The
    /// current key comes from the usual place; the new one from FILE, made if missing.
    RotateKey {
        /// The new master key (64 hex digits), made here if the file is missing.
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
    },
    /// Create an invite link (and a printable QR code) that enrolls people in a program,
    /// or revoke one.
    Invite(InviteArgs),
    /// FAQ authoring tools.
    Faq {
        #[command(subcommand)]
        command: FaqCommand,
    },
}

#[derive(Subcommand)]
enum FaqCommand {
    /// Show the top three entries for a question, with scores and the terms that matched.
    Explain {
        /// The question, as a person would type it.
        question: String,
        /// en or es (default: guessed from the question).
        #[arg(long)]
        lang: Option<String>,
    },
    /// Measure FAQ answers against labelled questions (faq with an entry, or fallback),
    /// lexical only, semantic only and hybrid, per language; exit non-zero when the
    /// hybrid falls outside the limits.
    Eval(FaqEvalArgs),
}

#[derive(Args)]
struct FaqEvalArgs {
    /// A labelled JSON-lines file, or a folder of them.
    file: PathBuf,
    /// List the missed items (by position; their texts only with --show-text).
    #[arg(long)]
    misses: bool,
    /// Print the texts of missed questions (off: held-out sets are measured, not read).
    #[arg(long)]
    show_text: bool,
    /// Minimum share of English questions answered with their entry (0–1).
    #[arg(long, value_parser = share)]
    min_right_en: Option<f64>,
    /// Minimum share of Spanish questions answered with their entry (0–1).
    #[arg(long, value_parser = share)]
    min_right_es: Option<f64>,
    /// Maximum share of off-topic questions answered from the FAQ, per language.
    #[arg(long, value_parser = share)]
    max_off_topic_answered: Option<f64>,
    /// Maximum share of answerable questions given "did you mean", per language.
    #[arg(long, value_parser = share)]
    max_suggested: Option<f64>,
}

#[derive(Args)]
struct TrainFaqArgs {
    /// A labelled JSON-lines file, or a folder of them: faq questions name their entry,
    /// every line its author.
    #[arg(long, default_value = "training/faq/train")]
    corpus: PathBuf,
    /// Where to write the model (default: faq-model.bin in the content directory).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The random seed: the same corpus and seed give the same bytes.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[derive(Args)]
struct InviteArgs {
    /// The program's id, as in the configuration.
    #[arg(long, required_unless_present = "revoke")]
    program: Option<String>,
    /// participant or alumnus (alumni start aftercare check-ins at once).
    #[arg(long, default_value = "participant")]
    role: String,
    /// How long the invite stays valid (e.g. 14d, 48h), or "never".
    #[arg(long, default_value = "14d")]
    expires: String,
    /// How many people may use it, at least 1 (default: no limit).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    uses: Option<u32>,
    /// Also write the link as a QR code PNG here.
    #[arg(long)]
    qr: Option<PathBuf>,
    /// The bot's @username (default: [telegram] bot_username in the configuration).
    #[arg(long, conflicts_with = "sms")]
    bot: Option<String>,
    /// An invite for texting instead of Telegram: a case-insensitive code people text
    /// as "JOIN CODE" to the [sms] number (the QR code opens a prefilled text).
    #[arg(long)]
    sms: bool,
    /// Revoke this code instead of creating one.
    #[arg(long, conflicts_with_all = ["program", "qr", "uses"])]
    revoke: Option<String>,
}

#[derive(Args)]
struct TrainArgs {
    /// A labelled JSON-lines file, or a folder of them; every line names its author.
    #[arg(long, default_value = "training/train")]
    corpus: PathBuf,
    /// Where to write the weights (default: triage-model.bin in the content directory).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The random seed: the same corpus and seed give the same bytes.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Also write each training message's out-of-author scores here (JSON lines), to
    /// study what the model gets wrong without touching the held-out split.
    #[arg(long)]
    dump_predictions: Option<PathBuf>,
}

#[derive(Args)]
struct EvalArgs {
    /// A labelled JSON-lines file, or a folder of them.
    file: PathBuf,
    /// Print the texts of missed messages (off: held-out sets are measured, not read).
    #[arg(long)]
    show_text: bool,
    /// Also measure the rules alone and the model alone.
    #[arg(long)]
    layers: bool,
    /// Leave out messages whose words also stand in this corpus (a file or folder), so a
    /// held-out figure is not helped by a short message two authors both wrote.
    #[arg(long)]
    exclude_seen: Option<PathBuf>,
    /// Minimum crisis recall (crisis reply or safety check), per language (0–1).
    #[arg(long, value_parser = share)]
    min_crisis_recall: Option<f64>,
    /// Maximum share of benign messages given the full crisis reply.
    #[arg(long, value_parser = share)]
    max_benign_as_crisis: Option<f64>,
    /// Maximum share of benign messages asked "are you safe right now?".
    #[arg(long, value_parser = share)]
    max_benign_as_check: Option<f64>,
    /// Minimum share of clinical questions given the clinical-advice refusal.
    #[arg(long, value_parser = share)]
    min_clinical_recall: Option<f64>,
    /// Maximum share of program questions routed to clinical.
    #[arg(long, value_parser = share)]
    max_faq_as_clinical: Option<f64>,
    /// Minimum share of support messages (cravings, lapses, hard moments) given support.
    #[arg(long, value_parser = share)]
    min_support_recall: Option<f64>,
    /// Minimum share of FAQ questions answered with an expected phrase.
    #[arg(long, value_parser = share)]
    min_faq_correct: Option<f64>,
    /// Maximum share of off-topic questions answered from the FAQ.
    #[arg(long, value_parser = share)]
    max_fallback_answered: Option<f64>,
}

/// A threshold: a share between 0 and 1.
fn share(raw: &str) -> Result<f64, String> {
    let v: f64 = raw
        .parse()
        .map_err(|_| format!("{raw:?} is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{raw} is outside 0–1 (a share: 0.95 means 95 %)"))
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let quiet = matches!(
        cli.command,
        Command::Chat { .. }
            | Command::Triage { .. }
            | Command::Eval(_)
            | Command::Train(_)
            | Command::TrainFaq(_)
            | Command::Faq { .. }
            | Command::Check
            | Command::Invite(_)
            | Command::Export { .. }
            | Command::Stats
            | Command::Backup { .. }
            | Command::Restore { .. }
            | Command::Keygen { .. }
            | Command::RotateKey { .. }
    );
    init_logging(if quiet { "warn" } else { "info" });
    // Making a key needs no configuration or content: it is run as root, anywhere.
    if let Command::Keygen { file } = &cli.command {
        emit(&waypoint::tools::keys::keygen(file).map_err(|e| anyhow!("{e}"))?);
        return Ok(());
    }
    let config = load_config(cli.config.as_deref())?;
    let messages_dir = messages_dir(cli.messages.as_deref(), &config);
    // Training needs the rules but not a model: it is how the first model is made.
    if let Command::Train(args) = &cli.command {
        return run_train(&messages_dir, args);
    }
    // Likewise the FAQ model: training it needs the FAQ, not a model.
    if let Command::TrainFaq(args) = &cli.command {
        return run_train_faq(&messages_dir, args);
    }
    let content = Content::load_with_clinic(&messages_dir, config.faq_clinic_file.as_deref())
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| {
            format!(
                "the content in {} has problems (run `waypoint check`)",
                messages_dir.display()
            )
        })?;
    let engine = Engine::new(Arc::new(content), config.settings.clone());
    let clock = SystemClock;
    match cli.command {
        Command::Check => {
            let mut out = match (&cli.config, Path::new("waypoint.toml").exists()) {
                (Some(path), _) => format!("configuration: {}\n", path.display()),
                (None, true) => "configuration: ./waypoint.toml\n".to_string(),
                (None, false) => "no configuration file found (no --config, no WAYPOINT_CONFIG, no ./waypoint.toml): the built-in defaults are in use; copy waypoint.example.toml to waypoint.toml to set your programs\n".to_string(),
            };
            out.push_str(&format!(
                "configuration and content OK ({})\n",
                messages_dir.display()
            ));
            // Staff can see at a glance that a cron line means what they intended.
            for program in &config.settings.schedules.programs {
                out.push_str(&format!("program {:?} ({}):", program.id, program.name));
                let mut at = clock.now();
                for _ in 0..3 {
                    let Some(next) = program.next_session(at) else {
                        break;
                    };
                    let local = next.start.with_timezone(&program.timezone);
                    let cancelled = if program.is_cancelled(next.start) {
                        " (cancelled)"
                    } else {
                        ""
                    };
                    out.push_str(&format!(
                        " {}{cancelled};",
                        local.format("%a %Y-%m-%d %H:%M %Z")
                    ));
                    at = next.start;
                }
                out.push('\n');
            }
            out.push_str(&waypoint::tools::texting::report(
                engine.content(),
                engine.settings(),
            ));
            emit(&out);
            Ok(())
        }
        Command::Triage {
            jsonl,
            explain,
            lang,
        } => {
            let locale = parse_locale(&lang)?;
            triage::run(
                &engine,
                clock.now(),
                locale,
                jsonl,
                explain,
                io::stdin().lock(),
                io::stdout().lock(),
            )
            .context("triage failed")
        }
        Command::Eval(args) => run_eval(&engine, &args, clock.now()),
        Command::Export { what, csv } => {
            let kind: waypoint::report::ExportKind = what.parse().map_err(|e| anyhow!("{e}"))?;
            let store = open_store(cli.data.as_deref(), &config)?;
            let file = create_private(&csv)?;
            let rows = waypoint::report::export_csv(&store, kind, io::BufWriter::new(file))
                .map_err(|e| anyhow!("{e}"))?;
            emit(&format!("{rows} rows written to {}\n", csv.display()));
            Ok(())
        }
        Command::Stats => {
            let store = open_store(cli.data.as_deref(), &config)?;
            let stats = waypoint::report::stats(&store).map_err(|e| anyhow!("{e}"))?;
            emit(&stats.render());
            Ok(())
        }
        Command::Backup { file } => {
            let dir = data_dir(cli.data.as_deref(), &config);
            // Backing up a mistyped path would quietly create and save an empty store.
            if !dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
                bail!("{} holds no store: check --data", dir.display());
            }
            let store = open_store(cli.data.as_deref(), &config)?;
            // Written to a new file of its own beside the target (readable by its owner
            // only), synced, then renamed: a failed backup never replaces a good one, and
            // no other file is touched.
            let parent = match file.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let partial = tempfile::Builder::new()
                .prefix(".waypoint-backup-")
                .tempfile_in(parent)
                .with_context(|| format!("cannot create a file in {}", parent.display()))?;
            let summary = write_backup(&store, partial.as_file(), partial.path())?;
            partial
                .persist(&file)
                .with_context(|| format!("cannot move the backup to {}", file.display()))?;
            let _ = std::fs::File::open(parent).and_then(|d| d.sync_all());
            emit(&format!(
                "backed up {} trees, {} entries to {}\n",
                summary.trees,
                summary.entries,
                file.display()
            ));
            Ok(())
        }
        Command::Restore { file } => {
            let dir = data_dir(cli.data.as_deref(), &config);
            let input = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let summary = Store::restore(&dir, io::BufReader::new(input))
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| format!("cannot restore {}", file.display()))?;
            emit(&format!(
                "restored {} trees, {} entries into {}\n",
                summary.trees,
                summary.entries,
                dir.display()
            ));
            // Sealed data is only as good as the key that opens it: say now, not at start.
            Store::open(&dir)
                .map(drop)
                .map_err(|e| anyhow!("{e}"))
                .context("restored, but it cannot be opened yet")
        }
        Command::Keygen { .. } => unreachable!("handled before the configuration is read"),
        Command::Train(_) | Command::TrainFaq(_) => {
            unreachable!("handled before the content is loaded")
        }
        Command::RotateKey { new_key_file } => {
            let dir = data_dir(cli.data.as_deref(), &config);
            emit(&waypoint::tools::keys::rotate(&dir, &new_key_file).map_err(|e| anyhow!("{e}"))?);
            Ok(())
        }
        Command::Invite(args) => {
            let store = open_store(cli.data.as_deref(), &config)?;
            invite(&store, &config, engine.content(), &args, clock.now())
        }
        Command::Faq {
            command: FaqCommand::Explain { question, lang },
        } => {
            let locale = match lang {
                Some(l) => parse_locale(&l)?,
                None => Locale::guess(&question).unwrap_or(config.settings.default_locale),
            };
            emit(&explain_faq(&engine.content().faq, &question, locale));
            Ok(())
        }
        Command::Faq {
            command: FaqCommand::Eval(args),
        } => run_faq_eval(&engine, &args, clock.now()),
        Command::Chat { user, lang, at } => {
            let store = open_store(cli.data.as_deref(), &config)?;
            let app = Arc::new(App::staffed(engine, store.clone()));
            let scheduler = Scheduler::new(app.clone(), store);
            let language = match lang {
                Some(l) => Some(parse_locale(&l)?),
                None => std::env::var("LANG")
                    .ok()
                    .and_then(|l| Locale::from_tag(&l)),
            };
            let clock: Box<dyn Clock> = match at {
                Some(text) => {
                    let start = chrono::DateTime::parse_from_rfc3339(&text)
                        .with_context(|| format!("--at {text:?} is not an RFC 3339 instant"))?;
                    Box::new(ManualClock::new(start.with_timezone(&chrono::Utc)))
                }
                None => Box::new(ShiftedClock::default()),
            };
            let user = UserKey::new(Channel::Terminal, user);
            let stdin = io::stdin();
            let interactive = stdin.is_terminal();
            if interactive {
                eprintln!(
                    "Waypoint terminal chat. Type /start to begin, /_time +3h to move the clock; Ctrl-D to leave."
                );
            }
            console::run(
                &app,
                &scheduler,
                clock.as_ref(),
                &user,
                language,
                io::BufReader::new(stdin),
                io::stdout().lock(),
                interactive,
            )
            .context("terminal chat failed")
        }
        Command::Run { api_url, webhook } => {
            let token = std::env::var("TELOXIDE_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty());
            if token.is_none() && config.sms.is_none() {
                bail!(
                    "nothing to run: set TELOXIDE_TOKEN for Telegram (create a bot with @BotFather, \
                     /newbot, then TELOXIDE_TOKEN=<its token> waypoint run), or configure [sms] \
                     for texting (see the README)"
                );
            }
            if token.is_none() && config.settings.staff.group.is_some() {
                bail!(
                    "[staff] group_chat_id is set but TELOXIDE_TOKEN is not: staff alerts are \
                     posted to the Telegram staff group, so Telegram must run too (set \
                     TELOXIDE_TOKEN, or remove group_chat_id)"
                );
            }
            let credentials = match &config.sms {
                Some(_) => Some(sms::Credentials::from_env()?),
                None => None,
            };
            let api_url = api_url
                .or_else(|| std::env::var("TELOXIDE_API_URL").ok())
                .or(config.api_url.clone());
            let updates = match webhook {
                None => telegram::Updates::Polling,
                Some(url) => telegram::Updates::Webhook {
                    url: url::Url::parse(&url)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "https" | "http"))
                        .ok_or_else(|| anyhow!("--webhook {url:?} is not an http(s) URL"))?,
                    listen: config
                        .webhook_listen
                        .unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 8443))),
                },
            };
            let store = open_store(cli.data.as_deref(), &config)?;
            if let KeySource::Fallback(path) = store.key_source() {
                tracing::warn!(
                    key_file = %path.display(),
                    "no master key is configured: the store is sealed with a key kept beside it, so /forget is still final (the forgotten person's keys are gone from every file at once) but a stolen disk is not protected; make one with `waypoint keygen FILE` and set WAYPOINT_MASTER_KEY_FILE (see SECURITY.md)"
                );
            }
            let app = Arc::new(App::staffed(engine, store.clone()));
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(run_live(
                app,
                store.clone(),
                token.map(|t| (t, api_url, updates)),
                config.sms.as_ref().zip(credentials),
                config.metrics_listen,
            ))?;
            store
                .flush()
                .context("cannot flush the store on shutdown")?;
            Ok(())
        }
    }
}

/// Starts every configured channel on one scheduler and runs them until a signal (or
/// until one of them fails, which stops the others too).
async fn run_live(
    app: Arc<App>,
    store: Store,
    telegram: Option<(String, Option<String>, telegram::Updates)>,
    sms: Option<(&sms::SmsSettings, sms::Credentials)>,
    metrics: Option<std::net::SocketAddr>,
) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let endpoint = match metrics {
        Some(listen) => Some(
            ops::Endpoint::start(listen, store.clone(), clock.clone())
                .await
                .context("the metrics endpoint could not start")?,
        ),
        None => None,
    };
    let mut hub = Hub::new(app, store, clock);
    let telegram = match telegram {
        Some((token, api_url, updates)) => Some((
            telegram::Telegram::connect(&mut hub, token, api_url)
                .await
                .context("the Telegram channel could not start")?,
            updates,
        )),
        None => None,
    };
    let texting = match sms {
        Some((settings, credentials)) => Some(
            sms::Sms::start(&mut hub, settings, credentials)
                .await
                .context("the SMS channel could not start")?,
        ),
        None => None,
    };
    hub.start_scheduler();
    let stop = hub.trigger();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        hub::signal().await;
        let _ = on_signal.send(true);
    });
    let shutdown = hub.shutdown();
    let ops_task = endpoint.map(|endpoint| {
        if let Some(addr) = endpoint.local_addr() {
            tracing::info!(%addr, "metrics and health endpoint listening");
        }
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = endpoint.serve(shutdown).await {
                tracing::error!(error = %e, "the metrics endpoint stopped");
            }
        })
    });
    let (telegram_result, sms_result) = tokio::join!(
        async {
            let Some((t, updates)) = telegram else {
                return Ok(());
            };
            let result = t.serve(updates, shutdown.clone()).await;
            let _ = stop.send(true);
            result.context("the Telegram channel stopped with an error")
        },
        async {
            let Some(s) = texting else { return Ok(()) };
            let result = s.serve(shutdown.clone()).await;
            let _ = stop.send(true);
            result.context("the SMS channel stopped with an error")
        },
    );
    hub.finish().await;
    if let Some(task) = ops_task {
        let _ = task.await;
    }
    tracing::info!("stopped");
    telegram_result.and(sms_result)
}

fn invite(
    store: &Store,
    config: &Config,
    content: &Content,
    args: &InviteArgs,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    use waypoint::enroll::{self, Invite, Role};
    if let Some(code) = &args.revoke {
        if store
            .revoke_invite(&enroll::sms_code(code).unwrap_or_else(|| code.trim().to_string()))
            .map_err(|e| anyhow!("{e}"))?
        {
            emit("revoked: the code no longer enrolls anyone\n");
            return Ok(());
        }
        bail!("no invite has that code");
    }
    let program = args.program.as_deref().unwrap_or_default();
    let programs = &config.settings.schedules.programs;
    if !programs.iter().any(|p| p.id == program) {
        let known: Vec<&str> = programs.iter().map(|p| p.id.as_str()).collect();
        bail!(
            "no program {program:?} in the configuration (known: {}); add it as [[program]] first",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    let role: Role = args.role.parse().map_err(|e: String| anyhow!(e))?;
    let expires = match args.expires.trim() {
        "never" => None,
        text => {
            // A year is the longest an invite may stay valid: a printed code is a bearer
            // token until then.
            let within = waypoint::schedule::program::parse_duration(text)
                .ok()
                .filter(|d| *d > chrono::Duration::zero() && *d <= chrono::Duration::days(365));
            let at = within.and_then(|d| now.checked_add_signed(d));
            Some(at.ok_or_else(|| {
                anyhow!(
                    "--expires: {text:?} must be a duration from 1 minute to 365 days (like 14d or 48h), or \"never\""
                )
            })?)
        }
    };
    // Where the invite points: a Telegram deep link, or a text to the clinic's number;
    // and how the printed invite says to join.
    let locale = config.settings.default_locale;
    let (code, stored_as, link, how, join) = if args.sms {
        let number = config.sms.as_ref().map(|s| s.from.clone()).ok_or_else(|| {
            anyhow!("--sms needs [sms] in the configuration (the number people text)")
        })?;
        let code = enroll::new_sms_code().map_err(|e| anyhow!("{e}"))?;
        let canonical = enroll::sms_code(&code).unwrap_or_else(|| code.clone());
        let how = format!("text JOIN {code} to {number}");
        let join = content.render(
            locale,
            Msg::InviteCardSms,
            &[("number", &number), ("code", &code)],
        );
        (
            code.clone(),
            canonical,
            format!("SMSTO:{number}:JOIN {code}"),
            how,
            join,
        )
    } else {
        let bot = args
            .bot
            .clone()
            .or_else(|| config.bot_username.clone())
            .ok_or_else(|| {
                anyhow!("the bot's username is needed for the link: pass --bot NAME or set [telegram] bot_username")
            })?;
        let code = enroll::new_code().map_err(|e| anyhow!("{e}"))?;
        let link = enroll::deep_link(&bot, &code);
        let how = format!("in the terminal: /start {code}");
        let join = content.render(
            locale,
            Msg::InviteCardTelegram,
            &[("bot", bot.trim_start_matches('@')), ("code", &code)],
        );
        (code.clone(), code, link.clone(), how, join)
    };
    let invite = Invite {
        program: program.to_string(),
        role,
        created: now,
        expires,
        max_uses: args.uses,
        uses: 0,
        revoked: false,
    };
    store
        .put_invite(&stored_as, &invite)
        .map_err(|e| anyhow!("{e}"))?;
    let mut out = format!(
        "{}\ncode: {code} ({how})\nprogram: {program}, role: {}, expires: {}, uses: {}\n",
        if args.sms { &how } else { &link },
        args.role.trim().to_ascii_lowercase(),
        expires.map_or("never".into(), |e| e
            .format("%Y-%m-%d %H:%M UTC")
            .to_string()),
        args.uses.map_or("no limit".into(), |n| n.to_string()),
    );
    if let Some(path) = &args.qr {
        let until = match expires {
            Some(at) => {
                let date = at.with_timezone(&config.settings.default_timezone);
                let date = date
                    .format(content.text(locale, Msg::DateFormat))
                    .to_string();
                content.render(locale, Msg::InviteCardExpires, &[("date", &date)])
            }
            None => content.text(locale, Msg::InviteCardNoExpiry).to_string(),
        };
        let name = programs
            .iter()
            .find(|p| p.id == program)
            .map_or(program, |p| p.name.as_str());
        let lines = [
            join,
            until,
            content.text(locale, Msg::InviteCardPrivacy).to_string(),
        ];
        let png = enroll::invite_card_png(name, &link, &lines).map_err(|e| anyhow!("{e}"))?;
        std::fs::write(path, png).with_context(|| format!("cannot write {}", path.display()))?;
        out.push_str(&format!("printable invite: {}\n", path.display()));
    }
    emit(&out);
    Ok(())
}

fn run_train(messages_dir: &Path, args: &TrainArgs) -> Result<()> {
    let out =
        (args.out.clone()).unwrap_or_else(|| messages_dir.join(waypoint::content::MODEL_FILE));
    let options = waypoint::safety::training::Options {
        seed: args.seed,
        ..Default::default()
    };
    let report = waypoint::tools::train::run(
        messages_dir,
        &args.corpus,
        &out,
        &options,
        args.dump_predictions.as_deref(),
    )
    .context("training the triage model")?;
    emit(&report);
    Ok(())
}

fn run_train_faq(messages_dir: &Path, args: &TrainFaqArgs) -> Result<()> {
    let out =
        (args.out.clone()).unwrap_or_else(|| messages_dir.join(waypoint::content::FAQ_MODEL_FILE));
    let options = waypoint::tools::train_faq::Options {
        seed: args.seed,
        ..Default::default()
    };
    let report = waypoint::tools::train_faq::run(messages_dir, &args.corpus, &out, &options)
        .context("training the FAQ model")?;
    emit(&report);
    Ok(())
}

/// `waypoint faq explain`: every candidate's lexical, semantic and combined scores, and
/// the decision.
fn explain_faq(faq: &waypoint::faq::Faq, question: &str, locale: Locale) -> String {
    use std::fmt::Write as _;
    let e = faq.explain(question, locale);
    let mut out = format!(
        "terms: {:?}\nclassifier's \"no entry\": {:.3}\n",
        e.terms, e.none
    );
    if e.candidates.is_empty() {
        let _ = writeln!(out, "no candidate entry ({})", locale.code());
    }
    for c in &e.candidates {
        let _ = writeln!(
            out,
            "{:<24} lexical {:6.2} (coverage {:4.2}, keyword {})  semantic {}  combined {:5.3} [{}: answer >= {:.3}, suggest >= {:.3}]",
            c.id,
            c.score,
            c.coverage,
            if c.anchored { "yes" } else { "no " },
            c.semantic
                .map_or("  -  ".to_string(), |p| format!("{p:5.3}")),
            c.combined,
            c.mode.name(),
            c.answer_at,
            c.suggest_at,
        );
    }
    let _ = writeln!(out, "decision: {}", e.decision);
    out
}

fn run_faq_eval(
    engine: &Engine,
    args: &FaqEvalArgs,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    use waypoint::tools::faq_eval;
    let items = waypoint::tools::corpus::read_all(&args.file)?;
    let mut hybrid = None;
    for mode in waypoint::faq::Mode::ALL {
        let report = faq_eval::evaluate(engine, mode, &items, at, args.show_text);
        let show = mode == waypoint::faq::Mode::Hybrid && args.misses;
        emit(&format!(
            "{}:\n{}",
            mode.name(),
            report.render(show, args.show_text)
        ));
        hybrid = Some(report);
    }
    let thresholds = faq_eval::Thresholds {
        min_right: [("en", args.min_right_en), ("es", args.min_right_es)]
            .into_iter()
            .filter_map(|(l, v)| v.map(|v| (l, v)))
            .collect(),
        max_off_topic_answered: args.max_off_topic_answered,
        max_suggested: args.max_suggested,
    };
    let failures = hybrid.map(|r| r.failures(&thresholds)).unwrap_or_default();
    if failures.is_empty() {
        emit("\nall thresholds met\n");
        Ok(())
    } else {
        for f in &failures {
            emit(&format!("FAIL {f}\n"));
        }
        bail!("{} threshold(s) not met", failures.len())
    }
}

fn run_eval(engine: &Engine, args: &EvalArgs, at: chrono::DateTime<chrono::Utc>) -> Result<()> {
    let mut items = waypoint::tools::corpus::read_all(&args.file)?;
    if let Some(seen) = &args.exclude_seen {
        let before = items.len();
        items = waypoint::tools::corpus::unseen(items, &waypoint::tools::corpus::read_all(seen)?);
        emit(&format!(
            "left out {} of {before} messages also found in {}\n",
            before - items.len(),
            seen.display()
        ));
    }
    if args.layers {
        emit(&eval::compare_layers(engine, &items, at));
    }
    let report = eval::evaluate(engine, &items, at, args.show_text);
    emit(&report.render(args.show_text));
    let thresholds = eval::Thresholds {
        min_crisis_recall: args.min_crisis_recall,
        max_benign_as_crisis: args.max_benign_as_crisis,
        max_benign_as_check: args.max_benign_as_check,
        min_clinical_recall: args.min_clinical_recall,
        max_faq_as_clinical: args.max_faq_as_clinical,
        min_support_recall: args.min_support_recall,
        min_faq_correct: args.min_faq_correct,
        max_fallback_answered: args.max_fallback_answered,
    };
    let failures = report.failures(&thresholds);
    if failures.is_empty() {
        emit("\nall thresholds met\n");
        Ok(())
    } else {
        for f in &failures {
            emit(&format!("FAIL {f}\n"));
        }
        bail!("{} threshold(s) not met", failures.len())
    }
}

/// Prints to stdout; a closed pipe (`waypoint eval … | head`) ends the output quietly
/// instead of panicking.
fn emit(text: &str) {
    use std::io::Write;
    let _ = io::stdout().lock().write_all(text.as_bytes());
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    // Colour codes only for a person at a terminal, never into a log file or journal.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .init();
}

fn load_config(path: Option<&Path>) -> Result<Config> {
    let default = Path::new("waypoint.toml");
    match path {
        Some(p) => Config::load(p).map_err(|e| anyhow!("{e}")),
        None if default.exists() => Config::load(default).map_err(|e| anyhow!("{e}")),
        None => Ok(Config::default()),
    }
}

fn messages_dir(flag: Option<&Path>, config: &Config) -> PathBuf {
    if let Some(dir) = flag.or(config.messages_dir.as_deref()) {
        return dir.to_path_buf();
    }
    let local = PathBuf::from("messages");
    if local.is_dir() {
        return local;
    }
    // Running the binary from elsewhere in a checkout: use the content it was built with.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("messages")
}

/// Creates (or empties) `path` readable by its owner only, even if it existed before with
/// a wider mode: exports and backups name people's aliases and answers.
fn create_private(path: &Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private", path.display()))?;
    }
    Ok(file)
}

/// Writes a backup to `file` (at `path`) and syncs it to disk.
fn write_backup(
    store: &Store,
    file: &std::fs::File,
    path: &Path,
) -> Result<waypoint::store::BackupSummary> {
    use std::io::Write;
    let mut out = io::BufWriter::new(file);
    let summary = store.backup(&mut out).map_err(|e| anyhow!("{e}"))?;
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot sync {}", path.display()))?;
    Ok(summary)
}

fn data_dir(flag: Option<&Path>, config: &Config) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| config.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("data"))
}

fn open_store(flag: Option<&Path>, config: &Config) -> Result<Store> {
    Store::open(&data_dir(flag, config)).map_err(|e| anyhow!("{e}"))
}

fn parse_locale(tag: &str) -> Result<Locale> {
    Locale::from_tag(tag).ok_or_else(|| anyhow!("unsupported language {tag:?}: use en or es"))
}
