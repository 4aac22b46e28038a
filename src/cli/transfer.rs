//! `usergraph import FILE` and `usergraph export`: users in and out as JSON
//! lines (`service::imports::Record`), in batches, from the shell.

use std::{
    collections::HashMap,
    io::{BufRead, IsTerminal, Write},
    path::Path,
};

use crate::service::{
    AppContext,
    imports::{self, CatalogueLine, Importer, MAX_BATCH, OnConflict, Outcome, Record},
};

/// What an import did, for its summary.
#[derive(Default)]
struct Tally {
    lines: usize,
    created: usize,
    updated: usize,
    skipped: usize,
    failed: usize,
}

/// The records of one batch, with their lines in the file.
#[derive(Default)]
struct Batch {
    records: Vec<Record>,
    lines: Vec<usize>,
    plain_passwords: usize,
}

/// A batch holds at most this many passwords in the clear
/// (`importUsers`' own bound).
const PLAIN_PASSWORDS_PER_BATCH: usize = 100;

/// Reads `file` as JSON lines and imports them in batches of `batch_size`.
/// With `FAIL` the whole file is checked first (every batch as a dry run,
/// and emails, usernames and external ids across batches), and nothing is
/// written when a line fails. Failing lines are reported on standard
/// error; the answer is whether every line went in.
pub async fn import(
    ctx: &AppContext,
    file: &Path,
    on_conflict: OnConflict,
    dry_run: bool,
    batch_size: usize,
) -> anyhow::Result<bool> {
    let batch_size = batch_size.clamp(1, MAX_BATCH);
    let reserved = usernames_in(file)?;
    let checked_first = on_conflict == OnConflict::Fail && !dry_run;
    if checked_first {
        let tally = pass(ctx, file, on_conflict, true, batch_size, &reserved).await?;
        if tally.failed > 0 {
            eprintln!(
                "{} of {} lines fail: nothing was written (--on-conflict fail checks the whole file first)",
                tally.failed, tally.lines
            );
            return Ok(false);
        }
    }
    let tally = pass(ctx, file, on_conflict, dry_run, batch_size, &reserved).await?;
    eprintln!(
        "{}{} lines: {} created, {} updated, {} skipped, {} failed",
        if dry_run {
            "dry run, nothing written: "
        } else {
            ""
        },
        tally.lines,
        tally.created,
        tally.updated,
        tally.skipped,
        tally.failed
    );
    Ok(tally.failed == 0)
}

/// The usernames the file's records ask for, so that one made from an
/// email in an early batch does not take a later record's.
fn usernames_in(file: &Path) -> anyhow::Result<std::collections::HashSet<String>> {
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
    );
    let mut names = std::collections::HashSet::new();
    for line in reader.lines() {
        if let Ok(record) = serde_json::from_str::<Record>(&line?)
            && let Some(name) = record.username
        {
            names.insert(name.trim().to_lowercase());
        }
    }
    Ok(names)
}

/// One pass over the file.
async fn pass(
    ctx: &AppContext,
    file: &Path,
    on_conflict: OnConflict,
    dry_run: bool,
    batch_size: usize,
    reserved: &std::collections::HashSet<String>,
) -> anyhow::Result<Tally> {
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
    );
    let progress = std::io::stderr().is_terminal();
    let pass = Pass {
        ctx,
        on_conflict,
        dry_run,
        reserved,
    };
    let mut tally = Tally::default();
    let mut batch = Batch::default();
    // Roles and tiers come first in an export; each batch carries them.
    let mut catalogue: Vec<CatalogueLine> = Vec::new();
    // Across batches, as the service sees only one batch at a time.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (number, line) in reader.lines().enumerate() {
        let number = number + 1;
        let line = line.map_err(|e| anyhow::anyhow!("{}: line {number}: {e}", file.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        if line.trim_start().starts_with("{\"role\"") || line.trim_start().starts_with("{\"tier\"")
        {
            match serde_json::from_str::<CatalogueLine>(&line) {
                Ok(entry) => match imports::check_catalogue_line(&entry) {
                    Ok(()) => catalogue.push(entry),
                    Err(err) => {
                        tally.lines += 1;
                        fail(
                            &mut tally,
                            number,
                            err.code(),
                            err.field(),
                            &err.public_message(),
                        );
                    }
                },
                Err(err) => {
                    tally.lines += 1;
                    fail(&mut tally, number, "BAD_USER_INPUT", None, &err.to_string());
                }
            }
            continue;
        }
        tally.lines += 1;
        let record: Record = match serde_json::from_str(&line) {
            Ok(record) => record,
            Err(err) => {
                fail(&mut tally, number, "BAD_USER_INPUT", None, &err.to_string());
                continue;
            }
        };
        let keys = [
            Some(format!("email {}", record.email.trim().to_lowercase())),
            record
                .username
                .as_ref()
                .map(|u| format!("username {}", u.trim().to_lowercase())),
            record
                .external_id
                .as_ref()
                .map(|e| format!("externalId {}", e.trim())),
        ];
        if let Some((key, earlier)) = keys
            .iter()
            .flatten()
            .find_map(|key| seen.get(key).map(|line| (key, *line)))
        {
            let field = key.split(' ').next().unwrap_or_default();
            fail(
                &mut tally,
                number,
                "BAD_USER_INPUT",
                Some(field),
                &format!("line {earlier} has the same {field}"),
            );
            continue;
        }
        for key in keys.into_iter().flatten() {
            seen.insert(key, number);
        }
        let plain = usize::from(record.password.is_some());
        if batch.records.len() == batch_size
            || batch.plain_passwords + plain > PLAIN_PASSWORDS_PER_BATCH
        {
            pass.flush(&catalogue, &mut batch, &mut tally).await?;
            if progress {
                eprint!("\r{} lines read", tally.lines);
            }
        }
        batch.plain_passwords += plain;
        batch.records.push(record);
        batch.lines.push(number);
    }
    pass.flush(&catalogue, &mut batch, &mut tally).await?;
    if progress {
        eprint!("\r");
    }
    Ok(tally)
}

fn fail(tally: &mut Tally, line: usize, code: &str, field: Option<&str>, message: &str) {
    tally.failed += 1;
    match field {
        Some(field) => eprintln!("line {line}: {code} on {field}: {message}"),
        None => eprintln!("line {line}: {code}: {message}"),
    }
}

/// How one pass sends its batches.
struct Pass<'a> {
    ctx: &'a AppContext,
    on_conflict: OnConflict,
    dry_run: bool,
    reserved: &'a std::collections::HashSet<String>,
}

impl Pass<'_> {
    /// Sends `batch` (emptying it) and counts what happened to its lines.
    async fn flush(
        &self,
        catalogue: &[CatalogueLine],
        batch: &mut Batch,
        tally: &mut Tally,
    ) -> anyhow::Result<()> {
        if batch.records.is_empty() {
            return Ok(());
        }
        let (ctx, on_conflict, dry_run) = (self.ctx, self.on_conflict, self.dry_run);
        let Batch { records, lines, .. } = std::mem::take(batch);
        let results = imports::import(
            ctx,
            Importer::Shell,
            catalogue,
            self.reserved,
            records,
            on_conflict,
            dry_run,
        )
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "lines {}–{}: {}",
                lines[0],
                lines[lines.len() - 1],
                e.public_message()
            )
        })?;
        for result in results {
            let line = lines[result.index];
            match result.outcome {
                Outcome::Created => tally.created += 1,
                Outcome::Updated => tally.updated += 1,
                Outcome::Skipped => tally.skipped += 1,
                Outcome::Failed => {
                    for err in &result.errors {
                        fail(tally, line, err.code(), err.field(), &err.public_message());
                    }
                    if result.errors.len() > 1 {
                        tally.failed -= result.errors.len() - 1;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Writes every user (but erased ones) to standard output as JSON lines,
/// oldest first, in pages; with `with_hashes` their password hashes too.
pub async fn export(ctx: &AppContext, with_hashes: bool) -> anyhow::Result<usize> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for entry in imports::export_catalogue(&ctx.db)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?
    {
        serde_json::to_writer(&mut out, &entry)?;
        out.write_all(b"\n")?;
    }
    let mut after = None;
    let mut count = 0;
    loop {
        let page = imports::export_page(&ctx.db, after, 500, with_hashes)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
        let Some((id, at, _)) = page.last() else {
            break;
        };
        after = Some((*at, *id));
        for (_, _, record) in &page {
            serde_json::to_writer(&mut out, record)?;
            out.write_all(b"\n")?;
            count += 1;
        }
    }
    out.flush()?;
    Ok(count)
}
