// SPDX-License-Identifier: GPL-2.0
//! `mmiotrace`: command-line tools for Linux mmiotrace traces.
//!
//! Exit status: 0 on success (PASS), 1 when a check fails, 2 on usage or
//! input errors.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mmiotrace::check::{
    self, CompareOptions, DeviceSelector, ExpectExtra, QemuFilter, Target, Verdict,
};
use mmiotrace::export::Exporter;
use mmiotrace::plot::{self, Plotter, XAxis};
use mmiotrace::print::Printer;
use mmiotrace::record::{
    self, Filter, Op, Paths, PciAddress, PhysRange, Progress, RecordOptions, TraceDevice,
};
use mmiotrace::regdb::{self, DomainMap, RegDb};
use mmiotrace::report::Report;
use mmiotrace::stats::Stats;
use mmiotrace::stream::{self, Sink};
use mmiotrace::tracediff::{self, Collector, Names};
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

    /// Print a trace like `print`, with register names and bit fields
    ///
    /// Accesses inside a memory BAR of a device that has a register
    /// database show the register (NAME, NAME[i] for arrays, ? if unknown),
    /// the value and its bit fields that are not zero. Databases: the
    /// `*.regs` files of --regdb-dir and the --db files. Exit status: 0 on
    /// success, 2 on usage or input errors.
    Annotate(AnnotateArgs),

    /// Compare two traces register by register, segment by segment
    ///
    /// The traces are cut at their MARK lines; segment i of A is compared
    /// with segment i of B. For each register (device and BAR offset, or
    /// physical address) that differs: reads and writes in A and B and the
    /// first access where they part. Exit status: 0 if the traces are the
    /// same, 1 if they differ, 2 on usage or input errors.
    Diff(DiffArgs),

    /// Draw the register accesses of a trace as an SVG timeline (heat map)
    ///
    /// One row per register (device, BAR and offset, named from the
    /// register databases as for `annotate`), time (or with --by-index the
    /// access's number) across; reads and writes in two colours, darker
    /// for more accesses per column; MARK lines as vertical lines, mappings
    /// from MAP to UNMAP as shaded spans. The trace is read once: long
    /// traces are binned into at most --width columns. Exit status: 0 on
    /// success, 2 on usage or input errors.
    Plot(PlotArgs),

    /// Record a trace from the kmmiotrace kernel module
    ///
    /// Writes the filter (from --dev, --bar, --phys and --op, or --filter)
    /// to the module's debugfs `filter`, starts tracing (`tracing_on`),
    /// copies /dev/kmmiotrace to -o FILE or standard output until Ctrl-C
    /// (SIGINT, SIGTERM, SIGHUP) or --duration, then stops tracing and
    /// writes out what is left. A progress line goes to standard error if
    /// it is a terminal (or with --progress), a summary at the end. Needs
    /// root. Exit status: 0 on success, 2 on errors.
    Record(RecordArgs),

    /// Write a marker into the trace of the kmmiotrace kernel module
    ///
    /// The words of TEXT, joined by spaces, go to /dev/kmmiotrace in one
    /// write and appear in the trace as a MARK line (what `diff` cuts
    /// segments at). One line of at most 256 bytes. Exit status: 0 on
    /// success, 2 on errors.
    Mark(MarkArgs),
}

/// Where the kmmiotrace device is, and the root check.
#[derive(Args)]
struct DeviceArgs {
    /// The kmmiotrace character device.
    #[arg(long, value_name = "PATH", default_value = record::DEFAULT_DEVICE)]
    device: PathBuf,

    /// Do not check that mmiotrace runs as root (for tests with files
    /// standing in for the device and the control files).
    #[arg(long)]
    no_root_check: bool,

    /// The module's sysfs directory: if neither it nor the device exists,
    /// the module is not loaded (for tests).
    #[arg(long, value_name = "DIR", default_value = record::DEFAULT_MODULE_DIR, hide = true)]
    module_dir: PathBuf,
}

#[derive(Args)]
struct RecordArgs {
    #[command(flatten)]
    device: DeviceArgs,

    /// The module's debugfs directory (filter, tracing_on, stats).
    #[arg(long, value_name = "DIR", default_value = record::DEFAULT_CONTROL)]
    control: PathBuf,

    /// Trace the mappings of this PCI device, [DDDD:]BB:DD.F as `lspci -D`
    /// shows it (repeatable).
    #[arg(long = "dev", value_name = "BDF")]
    devs: Vec<PciAddress>,

    /// Only mappings of this BAR, 0 to 5 (repeatable).
    #[arg(long = "bar", value_name = "N", value_parser = clap::value_parser!(u8).range(0..=5))]
    bars: Vec<u8>,

    /// Trace the mappings of this physical range, START-END or START+LEN in
    /// hex (repeatable).
    #[arg(long = "phys", value_name = "RANGE")]
    phys: Vec<PhysRange>,

    /// Which accesses: r (reads), w (writes) or rw.
    #[arg(long, value_name = "r|w|rw")]
    op: Option<Op>,

    /// The whole filter, verbatim, instead of --dev, --bar, --phys and
    /// --op: tokens `all`, `dev=BDF`, `bar=N`, `phys=RANGE`, `op=r|w|rw`.
    #[arg(long, value_name = "STRING", value_parser = record::parse_filter_text,
          conflicts_with_all = ["devs", "bars", "phys", "op"])]
    filter: Option<String>,

    /// Write the trace to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Stop after this many seconds (a fraction is fine).
    #[arg(long, value_name = "SECS", value_parser = record::parse_duration)]
    duration: Option<Duration>,

    /// Leave tracing on at the end.
    #[arg(long)]
    keep_on: bool,

    /// Write this marker into the trace right after starting.
    #[arg(long, value_name = "TEXT", value_parser = record::parse_mark)]
    mark: Option<String>,

    /// Show the progress line also when standard error is no terminal (one
    /// line per update).
    #[arg(long, conflicts_with = "quiet")]
    progress: bool,

    /// No progress line and no note at the start (the summary stays).
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args)]
struct MarkArgs {
    #[command(flatten)]
    device: DeviceArgs,

    /// The marker text (several words are joined by spaces).
    #[arg(value_name = "TEXT", required = true, allow_hyphen_values = true)]
    text: Vec<String>,
}

/// Where register databases come from.
#[derive(Args)]
struct RegDbArgs {
    /// A register database: a `.regs` file, or rnndb XML (`.xml`, needs
    /// --device and, if it has several domains, --domain). Repeatable;
    /// used before those of --regdb-dir.
    #[arg(long = "db", value_name = "FILE")]
    dbs: Vec<PathBuf>,

    /// Directory whose `*.regs` files are loaded [default: $MMIOTRACE_REGDB,
    /// or the regdb/ directory shipped with the source].
    #[arg(long, value_name = "DIR")]
    regdb_dir: Option<PathBuf>,

    /// The rnndb <domain> of the --db XML files.
    #[arg(long, value_name = "NAME")]
    domain: Option<String>,

    /// The BAR the rnndb domain describes.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=5))]
    bar: u8,
}

#[derive(Args)]
struct AnnotateArgs {
    #[command(flatten)]
    regdb: RegDbArgs,

    /// Only the records of this device, as for `print`; also the device an
    /// rnndb --db file describes.
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
struct DiffArgs {
    #[command(flatten)]
    regdb: RegDbArgs,

    /// The device an rnndb --db file describes.
    #[arg(long, value_name = "ID")]
    device: Option<DeviceSelector>,

    /// Print one JSON object instead of the text report.
    #[arg(long)]
    json: bool,

    /// Stop at the first malformed line instead of skipping it.
    #[arg(long)]
    strict: bool,

    /// The first trace ("-" for standard input).
    #[arg(value_name = "A")]
    a: PathBuf,

    /// The second trace.
    #[arg(value_name = "B")]
    b: PathBuf,
}

#[derive(Args)]
struct PlotArgs {
    #[command(flatten)]
    regdb: RegDbArgs,

    /// Only the accesses (and mappings) of this device, as for `print`;
    /// also the device an rnndb --db file describes.
    #[arg(long, value_name = "ID")]
    device: Option<DeviceSelector>,

    /// x axis: the number of the access instead of its time stamp (for
    /// traces whose accesses cluster in time).
    #[arg(long)]
    by_index: bool,

    /// Width of the plot area in columns (pixels); more accesses than
    /// columns share columns.
    #[arg(long, value_name = "COLUMNS", default_value_t = plot::DEFAULT_COLUMNS as u16,
          value_parser = clap::value_parser!(u16).range(plot::MIN_COLUMNS as i64..=plot::MAX_COLUMNS as i64))]
    width: u16,

    /// Write the SVG to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Stop at the first malformed line instead of skipping it.
    #[arg(long)]
    strict: bool,

    /// The mmiotrace text trace ("-" for standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,
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

    /// A guest access that is extra and an identical QEMU access that is
    /// missing at most N positions of the QEMU log apart count as one
    /// reordered access (e.g. accesses of several CPUs recorded in another
    /// order); 0: never.
    #[arg(long, value_name = "N", default_value_t = check::DEFAULT_REORDER_WINDOW)]
    reorder_window: usize,

    /// Do not fail because of reordered accesses.
    #[arg(long)]
    allow_reorder: bool,

    /// Compare only the accesses QEMU logged for vCPU N, against a trace of
    /// guest CPU N alone (e.g. from tracefs per_cpu/cpuN/trace_pipe): one
    /// CPU's accesses, in exact program order.
    #[arg(long, value_name = "N")]
    cpu: Option<i32>,

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
        Command::Annotate(args) => annotate_command(&args),
        Command::Diff(args) => diff_command(&args),
        Command::Plot(args) => plot_command(&args),
        Command::Record(args) => record_command(&args),
        Command::Mark(args) => mark_command(&args),
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
        cpu: args.cpu,
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
        reorder_window: args.reorder_window,
        allow_reorder: args.allow_reorder,
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

/// The register databases of `args`; rnndb files describe `device`.
fn load_regdb(args: &RegDbArgs, device: Option<DeviceSelector>) -> Result<RegDb, String> {
    let mut db = RegDb::default();
    for path in &args.dbs {
        let text = regdb::read(path, "--db").map_err(|e| e.to_string())?;
        let device_db = if path.extension().is_some_and(|e| e == "xml") {
            let device = device.ok_or_else(|| {
                format!(
                    "`{}` is rnndb XML: give --device VENDOR:DEVICE (and --domain NAME, \
                     --bar N) to say which device and BAR it describes",
                    path.display()
                )
            })?;
            let map = DomainMap {
                domain: args.domain.as_deref(),
                device,
                bar: args.bar,
            };
            let (device_db, warnings) =
                regdb::parse_rnndb(&text, path, map).map_err(|e| e.to_string())?;
            for warning in warnings {
                eprintln!("warning: {warning}");
            }
            device_db
        } else {
            regdb::parse_native(&text, path).map_err(|e| e.to_string())?
        };
        db.devices.push(device_db);
    }
    let dir = match (&args.regdb_dir, std::env::var_os("MMIOTRACE_REGDB")) {
        (Some(dir), _) => Some(dir.clone()),
        (None, Some(dir)) => Some(PathBuf::from(dir)),
        (None, None) => {
            // The source's own databases, if the binary runs where it was built.
            let shipped = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../regdb"));
            shipped.is_dir().then(|| shipped.to_path_buf())
        }
    };
    if let Some(dir) = dir {
        db.load_dir(&dir).map_err(|e| e.to_string())?;
    }
    Ok(db)
}

fn annotate_command(args: &AnnotateArgs) -> Result<ExitCode, String> {
    let db = load_regdb(&args.regdb, args.device)?;
    let mut out = BufWriter::new(io::stdout().lock());
    let mut printer = Printer::new(&mut out, args.device).with_regdb(db);
    let result = read_trace(&args.file, args.strict, &mut printer);
    flush(&mut out)?;
    result.map(|()| ExitCode::SUCCESS)
}

fn diff_command(args: &DiffArgs) -> Result<ExitCode, String> {
    if args.a == Path::new("-") && args.b == Path::new("-") {
        return Err(
            "A and B cannot both be `-` (standard input); give at least one as a file".into(),
        );
    }
    let db = load_regdb(&args.regdb, args.device)?;
    let mut a = Collector::new(Some(&db));
    read_trace(&args.a, args.strict, &mut a)?;
    let mut b = Collector::new(Some(&db));
    read_trace(&args.b, args.strict, &mut b)?;
    let report = tracediff::compare(&a.segments, &b.segments, &Names([&a.names, &b.names]));
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
    Ok(if report.same {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn plot_command(args: &PlotArgs) -> Result<ExitCode, String> {
    let db = load_regdb(&args.regdb, args.device)?;
    let axis = if args.by_index {
        XAxis::Index
    } else {
        XAxis::Time
    };
    let mut plotter = Plotter::new(args.device, db, axis, usize::from(args.width));
    read_trace(&args.file, args.strict, &mut plotter)?;
    let title = args.file.display().to_string();
    match &args.output {
        Some(path) => {
            let file = File::create(path).map_err(|source| {
                Error::Open {
                    what: "output",
                    flag: "-o",
                    path: path.clone(),
                    source,
                }
                .to_string()
            })?;
            plotter
                .write_svg(BufWriter::new(file), &title)
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        }
        None => {
            let mut out = BufWriter::new(io::stdout().lock());
            match plotter.write_svg(&mut out, &title) {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                    return Err(format!("cannot write the output: {e}"))
                }
                _ => flush(&mut out)?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn record_command(args: &RecordArgs) -> Result<ExitCode, String> {
    let filter = match &args.filter {
        Some(text) => text.clone(),
        None => {
            let filter = Filter {
                all: false,
                devs: args.devs.clone(),
                bars: args.bars.clone(),
                phys: args.phys.clone(),
                op: args.op,
            };
            filter.validate().map_err(|e| e.to_string())?;
            filter.to_string()
        }
    };
    let paths = Paths {
        device: args.device.device.clone(),
        control: args.control.clone(),
        module: args.device.module_dir.clone(),
    };
    record::preflight(&paths, "record", !args.device.no_root_check, true)
        .map_err(|e| e.to_string())?;
    // A signal from now on stops the recording cleanly.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| format!("cannot handle signal {signal}: {e}"))?;
    }
    // The device first: a busy one leaves the output file alone.
    let mut device = TraceDevice::open(&paths.device).map_err(|e| e.to_string())?;
    let stderr_tty = io::stderr().is_terminal();
    let progress = match (args.quiet, args.progress, stderr_tty) {
        (true, _, _) => Progress::Off,
        (false, _, true) => Progress::InPlace,
        (false, true, false) => Progress::Lines,
        (false, false, false) => Progress::Off,
    };
    let mut options = RecordOptions {
        filter,
        mark: args.mark.clone(),
        duration: args.duration,
        keep_on: args.keep_on,
        progress,
        quiet: args.quiet,
        destination: String::new(),
    };
    let mut status = io::stderr().lock();
    let result = match args.output.as_deref().filter(|p| *p != Path::new("-")) {
        Some(path) => {
            let file = File::create(path).map_err(|source| {
                Error::Open {
                    what: "output",
                    flag: "-o",
                    path: path.to_path_buf(),
                    source,
                }
                .to_string()
            })?;
            options.destination = format!("`{}`", path.display());
            let mut out = BufWriter::with_capacity(1 << 16, file);
            record::record(&paths, &mut device, &options, &stop, &mut out, &mut status)
        }
        None => {
            options.destination = "standard output".to_string();
            let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
            record::record(&paths, &mut device, &options, &stop, &mut out, &mut status)
        }
    };
    result.map(|_| ExitCode::SUCCESS).map_err(|e| e.to_string())
}

fn mark_command(args: &MarkArgs) -> Result<ExitCode, String> {
    let text = record::parse_mark(&args.text.join(" ")).map_err(|e| e.to_string())?;
    let paths = Paths {
        device: args.device.device.clone(),
        module: args.device.module_dir.clone(),
        ..Paths::default()
    };
    record::preflight(&paths, "mark", !args.device.no_root_check, false)
        .map_err(|e| e.to_string())?;
    record::write_mark(&paths.device, &text).map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}
