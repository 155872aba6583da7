// SPDX-License-Identifier: GPL-2.0
//! `mmiotrace`: command-line tools for Linux mmiotrace traces.
//!
//! Exit status: 0 on success (PASS), 1 when a check fails, 2 on usage or
//! input errors.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mmiotrace::check::{
    self, CompareOptions, DeviceSelector, ExpectExtra, QemuFilter, Target, Verdict,
};
use mmiotrace::export::Exporter;
use mmiotrace::print::Printer;
use mmiotrace::report::Report;
use mmiotrace::stats::Stats;
use mmiotrace::stream::{self, Sink};
use mmiotrace::Error;

#[derive(Parser)]
#[command(
    name = "mmiotrace",
    version,
    about = "Tools for Linux mmiotrace text traces"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compare a guest's mmiotrace of a PCI device with QEMU's log (the oracle)
    ///
    /// The guest accesses inside the device's memory BARs are aligned with
    /// QEMU's memory_region_ops_read/write events of the named regions, and
    /// counted as matched, mismatched, missing, extra, unknown or
    /// expected-extra. Exit status: 0 on PASS, 1 on FAIL, 2 on usage or input
    /// errors.
    Check(CheckArgs),

    /// Print a trace as one readable line per record
    ///
    /// Accesses inside a memory BAR of a PCIDEV line show as BAR offsets
    /// (bar0+0x0008), others as physical addresses; UNMAP lines show the
    /// range their MAP line mapped. Malformed lines are reported on stderr
    /// and skipped. Exit status: 0 on success, 2 on usage or input errors.
    Print(PrintArgs),

    /// Count accesses per device and register, and the totals of a trace
    ///
    /// Reads, writes and UNKNOWN accesses with their first and last time
    /// stamps, per device (accesses inside its memory BARs) or else per
    /// mapping, and per register (BAR offset and width); then lines,
    /// records per kind, malformed lines, lost events, duration and
    /// accesses per second. Exit status: 0 on success, 2 on usage or input
    /// errors.
    Stats(StatsArgs),

    /// Write every record as one JSON object per line (JSON Lines)
    ///
    /// Each object has the record's line and kind (version, pcidev, map,
    /// unmap, read, write, unknown, mark, lost) and its fields; accesses
    /// also their BAR offset and device. Exit status: 0 on success, 2 on
    /// usage or input errors.
    Export(ExportArgs),
}

#[derive(Args)]
struct PrintArgs {
    /// Only the records of this device, as vendor:device (8086:100e) or
    /// bus:dev.fn (00:03.0): its PCIDEV lines, the MAP and UNMAP lines of
    /// ranges that overlap its memory BARs and the accesses inside them
    /// (and the VERSION and MARK lines).
    #[arg(long, value_name = "ID")]
    device: Option<DeviceSelector>,

    /// Stop at the first malformed line instead of skipping it.
    #[arg(long)]
    strict: bool,

    /// The mmiotrace text trace ("-" for standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Args)]
struct StatsArgs {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,

    /// Stop at the first malformed line instead of counting and skipping it.
    #[arg(long)]
    strict: bool,

    /// The mmiotrace text trace ("-" for standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Args)]
struct ExportArgs {
    /// Write JSON Lines (the only format so far, so required).
    #[arg(long, required = true)]
    json: bool,

    /// Stop at the first malformed line instead of skipping it.
    #[arg(long)]
    strict: bool,

    /// The mmiotrace text trace ("-" for standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Args)]
struct CheckArgs {
    /// The guest's mmiotrace text trace ("-" for standard input).
    #[arg(long, value_name = "FILE")]
    trace: PathBuf,

    /// QEMU's log of `-trace memory_region_ops_read -trace
    /// memory_region_ops_write` ("-" for standard input).
    #[arg(long, value_name = "FILE")]
    qemu_log: PathBuf,

    /// The device, as vendor:device (8086:100e) or bus:dev.fn (00:03.0), as
    /// on the trace's PCIDEV lines. Its memory BARs select the guest accesses.
    #[arg(long, value_name = "ID")]
    device: DeviceSelector,

    /// Name of a QEMU memory region of the device, as in the log's `name`
    /// field (repeatable). Its ops are the QEMU accesses.
    #[arg(long = "region", value_name = "NAME", required = true)]
    regions: Vec<String>,

    /// A QEMU region whose writes mark windows (e.g. debugcon): only QEMU
    /// accesses between two such writes are compared.
    #[arg(long, value_name = "NAME")]
    sync: Option<String>,

    /// Which window to compare: the one between sync write K and K+1
    /// (counting from 0; the last one runs to the end of the log).
    #[arg(long, value_name = "K", default_value_t = 0, requires = "sync")]
    window: usize,

    /// Guest writes at this BAR offset, e.g. bar0+0x3818, may have no QEMU
    /// counterpart (QEMU does not log writes that hit an ioeventfd).
    /// Repeatable.
    #[arg(long = "expect-extra", value_name = "barN+0xOFF")]
    expect_extra: Vec<ExpectExtra>,

    /// Do not fail because of UNKNOWN (undecoded) guest accesses that pair
    /// with a QEMU access.
    #[arg(long)]
    allow_unknown: bool,

    /// Print one JSON object instead of the text report.
    #[arg(long)]
    json: bool,

    /// Name to print in the verdict (default: the device's driver).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Stop at the first malformed line instead of skipping it.
    #[arg(long)]
    strict: bool,

    /// How many differences to list on failure.
    #[arg(long, value_name = "N", default_value_t = 20)]
    max_diffs: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check_command(&args),
        Command::Print(args) => print_command(&args),
        Command::Stats(args) => stats_command(&args),
        Command::Export(args) => export_command(&args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Opens `path`, or standard input for "-", for buffered reading.
fn open(path: &Path, what: &'static str, flag: &'static str) -> Result<Box<dyn BufRead>, Error> {
    if path == Path::new("-") {
        return Ok(Box::new(io::stdin().lock()));
    }
    match File::open(path) {
        Ok(file) => Ok(Box::new(BufReader::with_capacity(1 << 16, file))),
        Err(source) => Err(Error::Open {
            what,
            flag,
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// What to do with malformed lines: warn about the first few and go on, or
/// stop at the first one with `--strict`.
struct Malformed {
    label: String,
    strict: bool,
    count: u64,
}

const SHOWN_MALFORMED: u64 = 10;

impl Malformed {
    fn new(label: String, strict: bool) -> Self {
        Malformed {
            label,
            strict,
            count: 0,
        }
    }

    fn handle(&mut self, error: Error) -> Result<(), Error> {
        if self.strict {
            return Err(error);
        }
        self.count += 1;
        if self.count <= SHOWN_MALFORMED {
            eprintln!("warning: {}: {error} (line skipped)", self.label);
        }
        Ok(())
    }

    fn finish(&self) {
        if self.count > SHOWN_MALFORMED {
            eprintln!(
                "warning: {}: {} malformed lines skipped in all",
                self.label, self.count
            );
        }
    }

    /// Context for an error that stopped reading.
    fn context(&self, error: &Error) -> String {
        let hint = if self.strict && matches!(error, Error::Parse { .. }) {
            " (--strict stops at the first malformed line)"
        } else {
            ""
        };
        format!("{}: {error}{hint}", self.label)
    }
}

fn check_command(args: &CheckArgs) -> Result<ExitCode, String> {
    let stdin = Path::new("-");
    if args.trace == stdin && args.qemu_log == stdin {
        return Err(
            "--trace and --qemu-log cannot both be `-` (standard input); \
                    give at least one of them as a file"
                .to_string(),
        );
    }
    let trace_in = open(&args.trace, "guest trace", "--trace").map_err(|e| e.to_string())?;
    let qemu_in = open(&args.qemu_log, "qemu log", "--qemu-log").map_err(|e| e.to_string())?;

    let mut guest_errors = Malformed::new(
        format!("guest trace `{}`", args.trace.display()),
        args.strict,
    );
    let guest = check::read_guest(trace_in, &mut |e| guest_errors.handle(e))
        .map_err(|e| guest_errors.context(&e))?;
    guest_errors.finish();
    let target = Target::select(&guest.pcidevs, &args.device).map_err(|e| e.to_string())?;

    let filter = QemuFilter {
        regions: &args.regions,
        sync: args.sync.as_deref(),
        window: args.window,
    };
    let mut qemu_errors = Malformed::new(
        format!("qemu log `{}`", args.qemu_log.display()),
        args.strict,
    );
    let qemu = check::read_qemu(qemu_in, &filter, &mut |e| qemu_errors.handle(e))
        .map_err(|e| qemu_errors.context(&e))?;
    qemu_errors.finish();

    let opts = CompareOptions {
        expect_extra: args.expect_extra.clone(),
        allow_unknown: args.allow_unknown,
    };
    let guest_accesses = target.guest_accesses(&guest.accesses);
    let comparison = check::compare(&target, &guest_accesses, &qemu.accesses, &opts);
    let name = args
        .name
        .as_deref()
        .or(target.driver())
        .or(args.regions.first().map(String::as_str))
        .unwrap_or("device");
    let report = Report::new(
        name,
        &target,
        &guest,
        &qemu,
        &filter,
        &comparison,
        args.max_diffs,
    );

    let mut out = BufWriter::new(io::stdout().lock());
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &report)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        report.write_text(&mut out)
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => {}
        // The reader went away (e.g. `| head`): the verdict still counts.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(format!("writing the report: {e}")),
    }
    Ok(match report.verdict {
        Verdict::Pass => ExitCode::SUCCESS,
        Verdict::Fail => ExitCode::FAILURE,
    })
}

/// Feeds the trace `file` to `sink`, handling malformed lines as `strict`
/// says. A reader of standard output that went away ends reading quietly.
fn read_trace(file: &Path, strict: bool, sink: &mut dyn Sink) -> Result<(), String> {
    let input = open(file, "trace", "FILE").map_err(|e| e.to_string())?;
    let mut malformed = Malformed::new(format!("trace `{}`", file.display()), strict);
    let result = stream::run(input, sink, &mut |e| malformed.handle(e));
    malformed.finish();
    match result {
        Ok(()) => Ok(()),
        Err(Error::Write { source }) if source.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e @ Error::Write { .. }) => Err(e.to_string()),
        Err(e) => Err(malformed.context(&e)),
    }
}

/// Flushes standard output; a reader that went away is no error.
fn flush(out: &mut dyn Write) -> Result<(), String> {
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the output: {e}"))
        }
        _ => Ok(()),
    }
}

fn print_command(args: &PrintArgs) -> Result<ExitCode, String> {
    let mut out = BufWriter::new(io::stdout().lock());
    let mut printer = Printer::new(&mut out, args.device);
    let result = read_trace(&args.file, args.strict, &mut printer);
    // What was printed before an error stays printed.
    flush(&mut out)?;
    result.map(|()| ExitCode::SUCCESS)
}

fn stats_command(args: &StatsArgs) -> Result<ExitCode, String> {
    let mut stats = Stats::new();
    read_trace(&args.file, args.strict, &mut stats)?;
    let report = stats.report();
    let mut out = BufWriter::new(io::stdout().lock());
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &report)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        report.write_text(&mut out)
    };
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            return Err(format!("cannot write the output: {e}"))
        }
        _ => flush(&mut out)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn export_command(args: &ExportArgs) -> Result<ExitCode, String> {
    // --json is required: JSON Lines is the only format.
    debug_assert!(args.json);
    let mut out = BufWriter::new(io::stdout().lock());
    let mut exporter = Exporter::new(&mut out);
    let result = read_trace(&args.file, args.strict, &mut exporter);
    flush(&mut out)?;
    result.map(|()| ExitCode::SUCCESS)
}
