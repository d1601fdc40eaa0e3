//! `chatkeep gdpr`: data-subject requests (find the person, track the request, export, erase).
//!
//! Bad input (an unknown or ambiguous person, a held person, an unwritable file, a finished
//! request) prints one line naming the problem and the fix, and exits 2 with nothing changed.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chatkeep_core::domain::Actor;
use chatkeep_core::domain::gdpr::{DsrRequest, ErasureStrategy, RequestKind};
use chatkeep_core::ops::gdpr::{self, NewRequestInput, Subject, Target, access, erase};
use chatkeep_core::{Error, Store, time};
use clap::{ArgGroup, Args, Subcommand};

use super::thousands;
use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum GdprCommand {
    /// Find the one person SUBJECT names and show what is stored about them.
    ///
    /// SUBJECT is the chat service's user id (or ext:ID), an email address (or email:ADDRESS),
    /// a phone number (or phone:NUMBER), or id:N for chatkeep's own user id. Emails and phone
    /// numbers are matched normalized (case, spaces, +/00 prefix).
    Find { subject: String },
    /// Data-subject requests: record, list, show, start, extend, reject.
    #[command(subcommand)]
    Request(RequestCommand),
    /// Write everything about one person to a zip: data.json, summary.html and manifest.json.
    Export(ExportArgs),
    /// Erase one person by deletion or anonymization, in one transaction, with a certificate.
    Erase(EraseArgs),
}

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Record a request; it is due one calendar month after receipt (gdpr.deadline_months).
    New {
        /// access or erasure.
        kind: String,
        /// Who it is about (see `gdpr find --help`).
        subject: String,
        /// When it arrived: a date (YYYY-MM-DD, local) or an RFC 3339 instant; default now.
        #[arg(long, value_name = "DATE")]
        received: Option<String>,
        /// A note kept with the request (how it arrived, how identity was checked).
        #[arg(long)]
        note: Option<String>,
    },
    /// Open and in-progress requests, soonest due first (with --all, finished ones too).
    List {
        #[arg(long)]
        all: bool,
    },
    /// One request, with its completion certificate if it has one.
    Show { id: i64 },
    /// Mark an open request as in progress.
    Start { id: i64 },
    /// Extend an open or in-progress request's deadline (at most two further months in all).
    Extend {
        id: i64,
        /// Further months: 1 or 2.
        #[arg(long, default_value_t = 2)]
        months: u32,
        /// Why more time is needed (the person must be told).
        #[arg(long)]
        reason: String,
    },
    /// Reject an open or in-progress request.
    Reject {
        id: i64,
        /// Why (the person must be told).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).multiple(false)))]
pub struct ExportArgs {
    /// Who (see `gdpr find --help`); or give --request.
    #[arg(group = "target")]
    subject: Option<String>,
    /// Answer this access request (it is marked done with the file's path and SHA-256).
    #[arg(long, group = "target", value_name = "ID")]
    request: Option<i64>,
    /// The zip file to write (a new file).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).multiple(false)))]
pub struct EraseArgs {
    /// Who (see `gdpr find --help`); an erasure request is recorded for them. Or give --request.
    #[arg(group = "target")]
    subject: Option<String>,
    /// Answer this erasure request.
    #[arg(long, group = "target", value_name = "ID")]
    request: Option<i64>,
    /// delete (their rows go) or anonymize (their identity becomes a pseudonym).
    #[arg(long)]
    strategy: String,
    /// Erase without asking (for scripts); otherwise type the person's id to confirm.
    #[arg(long)]
    yes: bool,
}

pub async fn run(ctx: &Context, command: GdprCommand) -> anyhow::Result<ExitCode> {
    let store = ctx.store().await?;
    let result = dispatch(ctx, &store, command).await;
    store.close().await;
    match result {
        Ok(code) => Ok(code),
        // The user's input was wrong: say so in one line and exit 2; nothing was changed.
        Err(e) => match e.downcast_ref::<Error>() {
            Some(Error::InvalidInput(_) | Error::NotFound(_)) => {
                say_err!("error: {e}");
                Ok(ExitCode::from(2))
            }
            _ => Err(e),
        },
    }
}

async fn dispatch(ctx: &Context, store: &Store, command: GdprCommand) -> anyhow::Result<ExitCode> {
    let settings = &ctx.config.gdpr;
    let tz = ctx.config.timezone;
    match command {
        GdprCommand::Find { subject } => {
            let found = gdpr::find_subject(store, &subject).await?;
            if ctx.json {
                ctx.print_json(&found)?;
            } else {
                print_subject(&found);
            }
        }
        GdprCommand::Request(RequestCommand::New { kind, subject, received, note }) => {
            let kind = RequestKind::parse(&kind).map_err(Error::invalid)?;
            let input =
                NewRequestInput { kind, subject: &subject, received: received.as_deref(), notes: note.as_deref() };
            let request = gdpr::new_request(store, &input, settings, tz, Actor::Cli, &ctx.clock).await?;
            print_requests(ctx, &[request], "Recorded")?;
        }
        GdprCommand::Request(RequestCommand::List { all }) => {
            let requests = gdpr::list_requests(store, all).await?;
            if !ctx.json && requests.is_empty() {
                say!("No {}requests.", if all { "" } else { "open " });
            } else {
                print_requests(ctx, &requests, "")?;
            }
        }
        GdprCommand::Request(RequestCommand::Show { id }) => {
            let request = gdpr::show_request(store, id).await?;
            if ctx.json {
                ctx.print_json(&request)?;
            } else {
                print_request_details(ctx, &request);
            }
        }
        GdprCommand::Request(RequestCommand::Start { id }) => {
            let request = gdpr::start_request(store, id, Actor::Cli, &ctx.clock).await?;
            print_requests(ctx, &[request], "Started")?;
        }
        GdprCommand::Request(RequestCommand::Extend { id, months, reason }) => {
            let request =
                gdpr::extend_request(store, id, months, &reason, settings, tz, Actor::Cli, &ctx.clock).await?;
            print_requests(ctx, &[request], "Extended")?;
        }
        GdprCommand::Request(RequestCommand::Reject { id, reason }) => {
            let request = gdpr::reject_request(store, id, &reason, Actor::Cli, &ctx.clock).await?;
            print_requests(ctx, &[request], "Rejected")?;
        }
        GdprCommand::Export(args) => {
            let target = target(args.subject.as_deref(), args.request);
            let report = access::export_access(store, target, &args.out, settings, tz, Actor::Cli, &ctx.clock).await?;
            if ctx.json {
                ctx.print_json(&report)?;
            } else {
                say!(
                    "Wrote {} ({} bytes, SHA-256 {}): {} conversations, {} messages, {} read receipts{}.",
                    report.file.display(),
                    thousands(report.bytes as i64),
                    report.sha256,
                    report.conversations,
                    report.messages,
                    report.read_receipts,
                    if report.include_other_participants { ", other participants' messages included" } else { "" }
                );
                if let Some(request) = &report.request {
                    say!("Request #{} is done.", request.id);
                }
            }
        }
        GdprCommand::Erase(args) => {
            let strategy = ErasureStrategy::parse(&args.strategy).map_err(Error::invalid)?;
            let target = target(args.subject.as_deref(), args.request);
            let (_, found) = gdpr::resolve_target(store, target, RequestKind::Erasure).await?;
            if !ctx.json {
                print_subject(&found);
            }
            // Named before anything is asked; the erasure checks again inside its transaction.
            erase::refuse_if_held(&found)?;
            if !args.yes {
                confirm(&found, strategy)?;
            }
            let report = erase::erase(
                store,
                target,
                strategy,
                found.person.id,
                settings,
                &ctx.config.backup,
                tz,
                Actor::Cli,
                &ctx.clock,
            )
            .await?;
            if ctx.json {
                ctx.print_json(&report)?;
            } else {
                say!("Erased ({strategy}); request #{} is done.", report.request.id);
                print_certificate(&report.certificate);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn target(subject: Option<&str>, request: Option<i64>) -> Target<'_> {
    match (request, subject) {
        (Some(id), _) => Target::Request(id),
        (None, subject) => Target::Subject(subject.unwrap_or_default()),
    }
}

/// Asks for the person's external id on a terminal; refuses when no one can answer.
fn confirm(found: &Subject, strategy: ErasureStrategy) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid(
            "an erasure needs confirmation: run it in a terminal to be asked, or add --yes (after checking \
             the person with `chatkeep gdpr find`)",
        )
        .into());
    }
    let what = match strategy {
        ErasureStrategy::Delete => "delete everything above",
        ErasureStrategy::Anonymize => "replace this person's identity with a pseudonym",
    };
    eprint!("This will {what}. Type {} to confirm: ", found.person.external_id);
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != found.person.external_id {
        return Err(Error::invalid("not confirmed; nothing was changed").into());
    }
    Ok(())
}

fn print_subject(found: &Subject) {
    let c = &found.counts;
    say!("Found {} (matched by {})", found.describe(), found.matched_by.join(", "));
    say!("  messages sent      {:>8}", thousands(c.messages));
    say!("  read receipts      {:>8}", thousands(c.message_reads));
    say!("  conversations      {:>8}  (owns {})", thousands(c.conversations), c.conversations_owned);
    say!("  requests           {:>8}", c.requests);
    if found.blockers.is_empty() {
        say!("  legal holds            none");
    } else {
        for b in &found.blockers {
            let hold = b.hold.map(|id| format!("hold #{id} on ")).unwrap_or_default();
            say!("  UNDER LEGAL HOLD: {hold}{} ({})", b.what, b.reason);
        }
    }
}

/// `2026-12-23 (in 30 days)` or `2026-12-23 (OVERDUE by 2 days)`, in the configured zone.
fn due(ctx: &Context, request: &DsrRequest) -> String {
    let Some(at) = time::from_db(&request.due_at) else { return request.due_at.clone() };
    let date = at.with_timezone(&ctx.config.timezone).date_naive();
    if !request.status.is_pending() {
        return date.to_string();
    }
    let now = chatkeep_core::Clock::now(&ctx.clock);
    let today = now.with_timezone(&ctx.config.timezone).date_naive();
    let days = (date - today).num_days();
    if at < now {
        format!("{date} (OVERDUE by {} days)", (today - date).num_days().max(1))
    } else if days == 0 {
        format!("{date} (today)")
    } else {
        format!("{date} (in {days} days)")
    }
}

fn print_requests(ctx: &Context, requests: &[DsrRequest], verb: &str) -> anyhow::Result<()> {
    if ctx.json {
        return ctx.print_json(&requests);
    }
    for r in requests {
        let prefix = if verb.is_empty() { String::new() } else { format!("{verb} ") };
        say!(
            "{prefix}#{:<4} {:<8} {:<11} due {}  {}",
            r.id,
            r.kind.as_str(),
            r.status.as_str(),
            due(ctx, r),
            r.subject
        );
    }
    Ok(())
}

fn print_request_details(ctx: &Context, r: &DsrRequest) {
    say!("Request #{} ({}), {}", r.id, r.kind, r.status);
    say!("  subject        {}", r.subject);
    if let Some(by) = &r.matched_by {
        say!("  matched by     {by}");
    }
    say!("  received       {}", r.received_at);
    say!("  due            {}", due(ctx, r));
    let optional = [
        (
            "extended",
            r.extended_reason
                .as_ref()
                .map(|reason| format!("{reason} (on {})", r.extended_at.as_deref().unwrap_or("?"))),
        ),
        ("rejected", r.rejected_reason.clone()),
        ("completed", r.completed_at.clone()),
        ("strategy", r.erasure_strategy.map(|s| s.to_string())),
        ("artifact", r.artifact_path.clone()),
        ("sha256", r.artifact_sha256.clone()),
        ("note", r.notes.clone()),
    ];
    for (label, value) in optional {
        if let Some(value) = value {
            say!("  {label:<14} {value}");
        }
    }
    if let Some(certificate) = &r.certificate {
        match serde_json::from_value::<erase::Certificate>(certificate.clone()) {
            Ok(certificate) => print_certificate(&certificate),
            Err(_) => say!("  certificate    {certificate}"),
        }
    }
}

fn print_certificate(c: &erase::Certificate) {
    say!("Completion certificate (erasure ledger #{}, {}):", c.ledger_entry, c.erased_at);
    if let Some(pseudonym) = &c.pseudonym {
        say!("  pseudonym: {pseudonym}");
    }
    if let Some(s) = &c.scrubbed {
        say!("  scrubbed from {} message bodies: {} email addresses, {} phone numbers", s.messages, s.emails, s.phones);
    }
    for check in &c.checks {
        say!("  {:>3}  {}: {}", check.result, check.what, check.query);
    }
    say!("  {}", c.residue.secure_delete);
    if let Some(checkpoint) = &c.residue.wal_checkpoint {
        say!("  {checkpoint}");
    }
    say!(
        "  {}",
        if c.all_zero() {
            "All checks are 0: no personal rows remain in the live database."
        } else {
            "SOME CHECKS ARE NOT 0."
        }
    );
    print_survivors(&c.survives);
}

/// What the erasure could not reach, so the certificate never claims more than it did.
fn print_survivors(s: &erase::Survives) {
    say!("Outside the live database:");
    if s.backups.is_empty() {
        say!("  no backups were made before the erasure");
    } else {
        let n = s.backups.len();
        let noun = if n == 1 { "backup" } else { "backups" };
        say!("  {n} {noun} made before it may hold them; a restore erases them again (erasure ledger):");
        for b in &s.backups {
            say!("    #{:<4} {}  kept until about {} by the backup generations", b.id, b.file, b.kept_until);
        }
    }
    if s.exports.is_empty() {
        say!("  no exports were made before the erasure");
    } else {
        say!("  files exported before it may hold their data, and chatkeep cannot reach them:");
        for e in &s.exports {
            say!("    {}  {}  {}", e.at, e.what, e.path);
        }
        if s.more_exports > 0 {
            say!("    and {} older exports (chatkeep audit list --action export)", s.more_exports);
        }
    }
    match (s.mentions, s.mentions_scrubbed) {
        (0, _) => say!("  no other person's message quotes their email address or phone number"),
        (n, scrubbed) if scrubbed == n => {
            say!("  {n} messages of other people quoted their email address or phone number: replaced with [erased]")
        }
        (n, _) => say!(
            "  {n} messages of other people quote their email address or phone number; they were kept \
             (set gdpr.scrub_mentions = true to replace them as part of an erasure)"
        ),
    }
}
