// SPDX-License-Identifier: GPL-2.0
//! `mmiotrace record` and `mmiotrace mark`: recording a trace from the
//! `kmmiotrace` kernel module.
//!
//! The module's interface:
//!
//! - `/dev/kmmiotrace`, a character device. Reading it gives the trace as
//!   mmiotrace text ("VERSION 20070824", what [`crate::trace`] parses);
//!   reads consume, block while nothing is buffered and fail with `EAGAIN`
//!   under `O_NONBLOCK`. Only one reader at a time: a second `open()` fails
//!   with `EBUSY`. Writing one line (at most [`MAX_MARK_LEN`] bytes, the
//!   newline optional) puts a MARK line with that text into the trace.
//! - `/sys/kernel/debug/kmmiotrace/` (debugfs): `filter` (which mappings
//!   and accesses to trace, see [`Filter`]; a write replaces it whole or
//!   fails with `EINVAL`, leaving the old one in force), `tracing_on`
//!   (`1` starts, `0` stops) and `stats` (`KEY VALUE` lines, see
//!   [`KernelStats`]).
//!
//! [`preflight`] checks what can be checked before anything is opened (root,
//! the module, debugfs), [`TraceDevice::open`] opens the device (and tells
//! a busy one), and [`record`] writes the filter, starts tracing, copies the
//! device to the output until it is told to stop, stops tracing and drains
//! what is left. Whatever was read is written out, on every path.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::lex::hex_upto;
use crate::Error;

/// The character device of the kmmiotrace module.
pub const DEFAULT_DEVICE: &str = "/dev/kmmiotrace";
/// Its debugfs control directory.
pub const DEFAULT_CONTROL: &str = "/sys/kernel/debug/kmmiotrace";
/// What exists while the module is loaded.
pub const DEFAULT_MODULE_DIR: &str = "/sys/module/kmmiotrace";
/// The longest marker text the device takes in one write.
pub const MAX_MARK_LEN: usize = 256;

/// How long one wait for the device lasts: how soon a stop is noticed.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How often the progress line is updated (and the output flushed).
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// With `--keep-on` tracing goes on while the rest is drained: stop there.
const KEEP_ON_DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// Bytes read from the device at a time.
const CHUNK: usize = 1 << 16;

/// Where the kmmiotrace interface is (the defaults, or test doubles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The character device.
    pub device: PathBuf,
    /// The debugfs directory with `filter`, `tracing_on` and `stats`.
    pub control: PathBuf,
    /// `/sys/module/kmmiotrace`: whether the module is loaded.
    pub module: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            device: DEFAULT_DEVICE.into(),
            control: DEFAULT_CONTROL.into(),
            module: DEFAULT_MODULE_DIR.into(),
        }
    }
}

impl Paths {
    /// The control file `name` (`filter`, `tracing_on`, `stats`).
    pub fn control_file(&self, name: &str) -> PathBuf {
        self.control.join(name)
    }
}

// The filter.

/// A PCI address `DDDD:BB:DD.F` (domain, bus, slot, function).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    pub domain: u32,
    pub bus: u8,
    pub slot: u8,
    pub function: u8,
}

/// `0000:00:02.0`, as `lspci -D` prints it.
impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.slot, self.function
        )
    }
}

impl PciAddress {
    /// `[DDDD:]BB:DD.F`; `what` names the option in the error.
    fn parse(s: &str, what: &'static str) -> Result<Self, Error> {
        let bad = |reason: String| Error::InvalidArgument {
            what,
            value: s.to_string(),
            reason,
        };
        let parts: Vec<&str> = s.split(':').collect();
        let (domain, bus, rest) = match parts.as_slice() {
            [bus, rest] => ("0", *bus, *rest),
            [domain, bus, rest] => (*domain, *bus, *rest),
            _ => ("", "", ""),
        };
        let parsed = rest.split_once('.').and_then(|(slot, function)| {
            Some(PciAddress {
                domain: hex_upto(domain, 8, u64::from(u32::MAX))? as u32,
                bus: hex_upto(bus, 2, 0xff)? as u8,
                slot: hex_upto(slot, 2, 0x1f)? as u8,
                function: hex_upto(function, 1, 7)? as u8,
            })
        });
        parsed.ok_or_else(|| {
            let mut reason = "expected a PCI address [DDDD:]BB:DD.F as `lspci -D` prints it, \
                              e.g. 0000:00:02.0 or 00:02.0 (hex; slot at most 1f, function 0 to 7)"
                .to_string();
            if matches!(parts.as_slice(), [a, b] if !b.contains('.')
                && hex_upto(a, 4, 0xffff).is_some() && hex_upto(b, 4, 0xffff).is_some())
            {
                reason.push_str(&format!(
                    "; `{s}` looks like vendor:device: `lspci -D -d {s}` shows its address"
                ));
            }
            bad(reason)
        })
    }
}

impl FromStr for PciAddress {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        PciAddress::parse(s, "--dev")
    }
}

/// A physical address range, `START-END` or `START+LEN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhysRange {
    /// `START-END`: from START to END (END not below START).
    Span { start: u64, end: u64 },
    /// `START+LEN`: LEN (not 0) bytes from START.
    Len { start: u64, len: u64 },
}

/// `0xfebc0000-0xfebdffff` or `0xfebc0000+0x20000`.
impl fmt::Display for PhysRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhysRange::Span { start, end } => write!(f, "{start:#x}-{end:#x}"),
            PhysRange::Len { start, len } => write!(f, "{start:#x}+{len:#x}"),
        }
    }
}

/// Hex with an optional `0x`.
fn hex_number(s: &str) -> Option<u64> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    hex_upto(digits, 16, u64::MAX)
}

impl PhysRange {
    fn parse(s: &str, what: &'static str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidArgument {
            what,
            value: s.to_string(),
            reason: reason.to_string(),
        };
        const FORM: &str = "expected START-END or START+LEN in hex, e.g. \
                            0xfebc0000-0xfebdffff or febc0000+20000";
        if let Some((start, len)) = s.split_once('+') {
            let (start, len) = hex_number(start)
                .zip(hex_number(len))
                .ok_or_else(|| bad(FORM))?;
            if len == 0 {
                return Err(bad("the range is empty (LEN 0)"));
            }
            if start.checked_add(len - 1).is_none() {
                return Err(bad("the range runs past the end of the address space"));
            }
            Ok(PhysRange::Len { start, len })
        } else if let Some((start, end)) = s.split_once('-') {
            let (start, end) = hex_number(start)
                .zip(hex_number(end))
                .ok_or_else(|| bad(FORM))?;
            if end < start {
                return Err(bad("END is below START"));
            }
            Ok(PhysRange::Span { start, end })
        } else {
            Err(bad(FORM))
        }
    }
}

impl FromStr for PhysRange {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        PhysRange::parse(s, "--phys")
    }
}

/// Which accesses to trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Read,
    Write,
    ReadWrite,
}

/// `r`, `w` or `rw`.
impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Read => "r",
            Op::Write => "w",
            Op::ReadWrite => "rw",
        })
    }
}

impl Op {
    fn parse(s: &str, what: &'static str) -> Result<Self, Error> {
        match s {
            "r" => Ok(Op::Read),
            "w" => Ok(Op::Write),
            "rw" => Ok(Op::ReadWrite),
            _ => Err(Error::InvalidArgument {
                what,
                value: s.to_string(),
                reason: "expected r (reads), w (writes) or rw (both)".to_string(),
            }),
        }
    }
}

impl FromStr for Op {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Op::parse(s, "--op")
    }
}

/// The BARs a filter can name.
pub const MAX_BAR: u8 = 5;

/// What the kernel traces: the contents of the `filter` control file.
///
/// Whitespace-separated tokens: `all` (every new mapping, the default),
/// `dev=[DDDD:]BB:DD.F` (repeatable), `bar=N` (0 to 5, repeatable),
/// `phys=START-END` or `phys=START+LEN` (hex, repeatable) and
/// `op=r|w|rw` (once). `all` goes with `op=` only. Shown (written to the
/// kernel) as `dev=` tokens first, then `bar=`, `phys=` and `op=`; `all`
/// when nothing selects mappings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `all` was given.
    pub all: bool,
    pub devs: Vec<PciAddress>,
    pub bars: Vec<u8>,
    pub phys: Vec<PhysRange>,
    pub op: Option<Op>,
}

impl Filter {
    /// Whether the filter selects mappings (by device, BAR or range).
    fn selects(&self) -> bool {
        !(self.devs.is_empty() && self.bars.is_empty() && self.phys.is_empty())
    }

    /// Checks the composition: BARs 0 to 5, and `all` only with `op=`.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(&bar) = self.bars.iter().find(|&&b| b > MAX_BAR) {
            return Err(Error::InvalidArgument {
                what: "--bar",
                value: bar.to_string(),
                reason: format!("a BAR is 0 to {MAX_BAR}"),
            });
        }
        if self.all && self.selects() {
            return Err(Error::InvalidArgument {
                what: "--filter",
                value: self.to_string(),
                reason: "`all` traces every mapping: it goes with op= only, not with dev=, \
                         bar= or phys="
                    .to_string(),
            });
        }
        Ok(())
    }

    /// Parses (and checks) a filter as the `filter` file takes it.
    pub fn parse(text: &str) -> Result<Self, Error> {
        const WHAT: &str = "--filter";
        let mut filter = Filter::default();
        for token in text.split_whitespace() {
            let (key, value) = token.split_once('=').unwrap_or((token, ""));
            match (key, token.contains('=')) {
                ("all", false) => filter.all = true,
                ("dev", true) => filter.devs.push(PciAddress::parse(value, WHAT)?),
                ("bar", true) => {
                    let bar = value
                        .parse::<u8>()
                        .ok()
                        .filter(|&b| b <= MAX_BAR)
                        .ok_or_else(|| Error::InvalidArgument {
                            what: WHAT,
                            value: token.to_string(),
                            reason: format!("a BAR is 0 to {MAX_BAR}"),
                        })?;
                    filter.bars.push(bar);
                }
                ("phys", true) => filter.phys.push(PhysRange::parse(value, WHAT)?),
                ("op", true) => {
                    if filter.op.is_some() {
                        return Err(Error::InvalidArgument {
                            what: WHAT,
                            value: text.to_string(),
                            reason: "op= can be given only once".to_string(),
                        });
                    }
                    filter.op = Some(Op::parse(value, WHAT)?);
                }
                _ => {
                    return Err(Error::InvalidArgument {
                        what: WHAT,
                        value: token.to_string(),
                        reason: "expected all, dev=[DDDD:]BB:DD.F, bar=N, phys=START-END, \
                                 phys=START+LEN or op=r|w|rw"
                            .to_string(),
                    })
                }
            }
        }
        if text.split_whitespace().next().is_none() {
            return Err(Error::InvalidArgument {
                what: WHAT,
                value: text.to_string(),
                reason: "the filter is empty: give `all` to trace every mapping".to_string(),
            });
        }
        filter.validate()?;
        Ok(filter)
    }
}

/// The filter as written to the kernel: `dev=0000:00:02.0 bar=0 op=w`,
/// `all` (or `all op=w`) if it selects no mappings.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tokens: Vec<String> = Vec::new();
        if self.all || !self.selects() {
            tokens.push("all".into());
        }
        tokens.extend(self.devs.iter().map(|d| format!("dev={d}")));
        tokens.extend(self.bars.iter().map(|b| format!("bar={b}")));
        tokens.extend(self.phys.iter().map(|p| format!("phys={p}")));
        tokens.extend(self.op.map(|op| format!("op={op}")));
        f.write_str(&tokens.join(" "))
    }
}

/// A `--filter` value: checked as [`Filter::parse`] does, kept verbatim.
pub fn parse_filter_text(text: &str) -> Result<String, Error> {
    Filter::parse(text).map(|_| text.trim().to_string())
}

/// A marker text: one line of at most [`MAX_MARK_LEN`] bytes (one trailing
/// newline is dropped).
pub fn parse_mark(text: &str) -> Result<String, Error> {
    let bad = |reason: String| Error::InvalidArgument {
        what: "marker",
        value: text.to_string(),
        reason,
    };
    let line = text.strip_suffix('\n').unwrap_or(text);
    if line.contains(['\n', '\r']) {
        return Err(bad("a marker is one line: remove the line breaks".into()));
    }
    if line.is_empty() {
        return Err(bad("the marker text is empty".into()));
    }
    if line.len() > MAX_MARK_LEN {
        return Err(bad(format!(
            "a marker is at most {MAX_MARK_LEN} bytes, this one is {}",
            line.len()
        )));
    }
    Ok(line.to_string())
}

/// `--duration SECS`: a positive number of seconds (a fraction is fine).
pub fn parse_duration(text: &str) -> Result<Duration, Error> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| Error::InvalidArgument {
            what: "--duration",
            value: text.to_string(),
            reason: "expected a positive number of seconds, e.g. 10 or 0.5".to_string(),
        })
}

// The kernel's statistics.

/// The `stats` control file: `KEY VALUE` totals (traced, emulated, stepped,
/// refused, dropped, lost, mappings), then `cpuN.KEY VALUE` per CPU. Lines
/// of another form are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelStats {
    pub totals: BTreeMap<String, u64>,
    pub cpus: BTreeMap<u32, BTreeMap<String, u64>>,
}

impl KernelStats {
    pub fn parse(text: &str) -> Self {
        let mut stats = KernelStats::default();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let (Some(key), Some(value), None) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            let per_cpu = key
                .strip_prefix("cpu")
                .and_then(|rest| rest.split_once('.'))
                .and_then(|(n, key)| Some((n.parse::<u32>().ok()?, key)));
            match per_cpu {
                Some((cpu, key)) => {
                    stats
                        .cpus
                        .entry(cpu)
                        .or_default()
                        .insert(key.to_string(), value);
                }
                None => {
                    stats.totals.insert(key.to_string(), value);
                }
            }
        }
        stats
    }

    /// A total.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.totals.get(key).copied()
    }

    /// The events the kernel lost (`lost`).
    pub fn lost(&self) -> Option<u64> {
        self.get("lost")
    }
}

/// Reads the `stats` control file.
pub fn read_stats(paths: &Paths) -> Result<KernelStats, Error> {
    let path = paths.control_file("stats");
    fs::read_to_string(&path)
        .map(|text| KernelStats::parse(&text))
        .map_err(|source| control_error("read", path, source))
}

// Checks and control files.

/// Whether the process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The checks before anything is opened, in this order: root (unless
/// `root_check` is false), the module (the device or `/sys/module/kmmiotrace`
/// exists), and with `control` the debugfs directory.
pub fn preflight(
    paths: &Paths,
    command: &'static str,
    root_check: bool,
    control: bool,
) -> Result<(), Error> {
    if root_check && !is_root() {
        return Err(Error::NotRoot { command });
    }
    if !exists(&paths.device) {
        return Err(if exists(&paths.module) {
            Error::NoDeviceNode {
                device: paths.device.clone(),
                module: paths.module.clone(),
            }
        } else {
            Error::ModuleNotLoaded {
                device: paths.device.clone(),
            }
        });
    }
    if control && !paths.control.is_dir() {
        return Err(Error::DebugfsNotMounted {
            control: paths.control.clone(),
        });
    }
    Ok(())
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// An error on a control file; a missing one means another module version.
fn control_error(action: &'static str, path: PathBuf, source: io::Error) -> Error {
    if source.kind() == io::ErrorKind::NotFound {
        Error::NoControlFile { path }
    } else {
        Error::Kmmiotrace {
            action,
            path,
            source,
        }
    }
}

/// Writes `text` to a control file in one write, as `echo TEXT > FILE` does.
fn write_control(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).truncate(true).open(path)?;
    file.write_all(text.as_bytes())
}

/// An error writing the filter: `EINVAL` is the kernel rejecting it.
fn filter_error(path: PathBuf, filter: &str, source: io::Error) -> Error {
    if source.raw_os_error() == Some(libc::EINVAL) {
        Error::FilterRejected {
            filter: filter.to_string(),
            path,
        }
    } else {
        control_error("write", path, source)
    }
}

/// Replaces the kernel's filter with `filter`.
pub fn write_filter(paths: &Paths, filter: &str) -> Result<(), Error> {
    let path = paths.control_file("filter");
    write_control(&path, &format!("{filter}\n")).map_err(|e| filter_error(path, filter, e))
}

/// The kernel's filter, in its canonical form.
pub fn read_filter(paths: &Paths) -> Result<String, Error> {
    let path = paths.control_file("filter");
    match fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().to_string()),
        Err(source) => Err(control_error("read", path, source)),
    }
}

/// Starts (`1`) or stops (`0`) tracing.
pub fn set_tracing(paths: &Paths, on: bool) -> Result<(), Error> {
    let path = paths.control_file("tracing_on");
    write_control(&path, if on { "1\n" } else { "0\n" })
        .map_err(|source| control_error("write", path, source))
}

// The device.

/// An error opening or using the device.
fn device_error(action: &'static str, path: &Path, source: io::Error) -> Error {
    match source.raw_os_error() {
        Some(libc::EBUSY) => Error::DeviceBusy {
            device: path.to_path_buf(),
        },
        _ => Error::Kmmiotrace {
            action,
            path: path.to_path_buf(),
            source,
        },
    }
}

/// Writes one marker: the device puts `text` into the trace as a MARK line.
/// `text` is checked as [`parse_mark`] does.
pub fn write_mark(device: &Path, text: &str) -> Result<(), Error> {
    let text = parse_mark(text)?;
    let mut file = OpenOptions::new()
        .write(true)
        .open(device)
        .map_err(|e| device_error("open", device, e))?;
    // One write: each write is one marker.
    match file.write(text.as_bytes()) {
        Ok(n) if n == text.len() => Ok(()),
        Ok(n) => Err(Error::Kmmiotrace {
            action: "write a marker to",
            path: device.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::WriteZero,
                format!("only {n} of {} bytes were taken", text.len()),
            ),
        }),
        Err(e) => Err(device_error("write a marker to", device, e)),
    }
}

/// What one read of the device gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadResult {
    /// This many bytes.
    Data(usize),
    /// Nothing buffered (`EAGAIN`) or the wait was interrupted.
    Empty,
    /// End of file (a FIFO without writer or a file standing in for the
    /// device in tests; the real device blocks instead).
    End,
}

/// The trace device, open for reading without blocking.
#[derive(Debug)]
pub struct TraceDevice {
    file: File,
    path: PathBuf,
}

impl TraceDevice {
    /// Opens the device; `EBUSY` is [`Error::DeviceBusy`].
    pub fn open(path: &Path) -> Result<Self, Error> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| device_error("open", path, e))?;
        Ok(TraceDevice {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits at most `timeout` for something to read; false if nothing
    /// came (or a signal came).
    pub fn wait(&self, timeout: Duration) -> Result<bool, Error> {
        let mut pfd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd, and the count says one.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(device_error("wait for", &self.path, e));
        }
        Ok(n > 0)
    }

    /// Reads what is there into `buf`, without blocking.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<ReadResult, Error> {
        match self.file.read(buf) {
            Ok(0) => Ok(ReadResult::End),
            Ok(n) => Ok(ReadResult::Data(n)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(ReadResult::Empty)
            }
            Err(e) => Err(device_error("read", &self.path, e)),
        }
    }
}

// Counting what streams by.

/// How much of a line is kept to tell what it is.
const LINE_HEAD: usize = 80;

/// Counts the bytes, events and lost events of the trace text as it streams
/// by, in chunks that may cut lines anywhere. Events are the R, W, UNKNOWN,
/// MAP, UNMAP and MARK lines; `MARK 0.000000 Lost N events.` lines add N to
/// the lost events instead.
#[derive(Debug, Clone, Default)]
pub struct StreamCounter {
    pub bytes: u64,
    pub events: u64,
    /// The sum of the `Lost N events` lines.
    pub lost: u64,
    /// The start of the current line.
    head: Vec<u8>,
    /// The current line is longer than `head`.
    long: bool,
}

impl StreamCounter {
    pub fn new() -> Self {
        StreamCounter::default()
    }

    /// Counts a chunk of the stream.
    pub fn feed(&mut self, mut data: &[u8]) {
        self.bytes += data.len() as u64;
        while let Some(newline) = data.iter().position(|&b| b == b'\n') {
            self.keep(&data[..newline]);
            self.end_line();
            data = &data[newline + 1..];
        }
        self.keep(data);
    }

    /// Counts a last line without newline.
    pub fn finish(&mut self) {
        if !self.head.is_empty() {
            self.end_line();
        }
    }

    fn keep(&mut self, part: &[u8]) {
        let room = LINE_HEAD - self.head.len();
        self.long |= part.len() > room;
        self.head.extend_from_slice(&part[..part.len().min(room)]);
    }

    fn end_line(&mut self) {
        let line = self.head.strip_suffix(b"\r").unwrap_or(&self.head);
        let keyword = line.split(|&b| b == b' ').next().unwrap_or_default();
        match keyword {
            b"R" | b"W" | b"UNKNOWN" | b"MAP" | b"UNMAP" => self.events += 1,
            b"MARK" => match lost_events(line).filter(|_| !self.long) {
                Some(n) => self.lost = self.lost.saturating_add(n),
                None => self.events += 1,
            },
            _ => {}
        }
        self.head.clear();
        self.long = false;
    }
}

/// N of `MARK 0.000000 Lost N events.`
fn lost_events(line: &[u8]) -> Option<u64> {
    let n = line
        .strip_prefix(b"MARK 0.000000 Lost ")?
        .strip_suffix(b" events.")?;
    std::str::from_utf8(n).ok()?.parse().ok()
}

// Recording.

/// Whether and how progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Off,
    /// One line rewritten in place (a terminal).
    InPlace,
    /// One line per update (not a terminal).
    Lines,
}

/// What to record and how.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// The filter text to write.
    pub filter: String,
    /// A marker to write right after starting.
    pub mark: Option<String>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Leave tracing on at the end.
    pub keep_on: bool,
    pub progress: Progress,
    /// No note at the start.
    pub quiet: bool,
    /// Where the trace goes, for the note at the start.
    pub destination: String,
}

/// Why the recording stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Signal,
    Duration,
    /// The reader of the output went away (a broken pipe).
    OutputClosed,
    Error,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::Signal => "stopped by a signal",
            StopReason::Duration => "stopped after --duration",
            StopReason::OutputClosed => "stopped: the output was closed",
            StopReason::Error => "stopped by an error",
        })
    }
}

/// What was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub events: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    /// The kernel's `lost` statistic (None if the stats file did not read).
    pub lost_kernel: Option<u64>,
    /// The sum of the `Lost N events` lines in the trace.
    pub lost_in_trace: u64,
    pub stop: StopReason,
}

fn optional(value: Option<u64>) -> String {
    value.map_or_else(|| "?".to_string(), |v| v.to_string())
}

/// `12345 events, 678901 bytes, 10.0 s, lost 0 (kernel), 0 (in the trace);
/// stopped by a signal`
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} events, {} bytes, {:.1} s, lost {} (kernel), {} (in the trace); {}",
            self.events,
            self.bytes,
            self.elapsed.as_secs_f64(),
            optional(self.lost_kernel),
            self.lost_in_trace,
            self.stop
        )
    }
}

/// `4.2 MiB`
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The progress line and the summary, on standard error.
struct Status<'a> {
    out: &'a mut dyn Write,
    mode: Progress,
    /// A progress line is on the screen (in place) and must be cleared.
    shown: bool,
    last: Instant,
    last_events: u64,
}

impl Status<'_> {
    fn update(&mut self, now: Instant, counter: &StreamCounter, lost_kernel: Option<u64>) {
        let seconds = now.duration_since(self.last).as_secs_f64();
        let rate = if seconds > 0.0 {
            (counter.events - self.last_events) as f64 / seconds
        } else {
            0.0
        };
        self.last = now;
        self.last_events = counter.events;
        let line = format!(
            "mmiotrace record: {rate:.0} events/s, {} events, {}, lost {} (kernel), {} (in the trace)",
            counter.events,
            human_bytes(counter.bytes),
            optional(lost_kernel),
            counter.lost
        );
        // Standard error going away is no reason to stop recording.
        let _ = match self.mode {
            Progress::Off => Ok(()),
            Progress::InPlace => {
                self.shown = true;
                write!(self.out, "\r{line}\x1b[K")
            }
            Progress::Lines => writeln!(self.out, "{line}"),
        };
        let _ = self.out.flush();
    }

    fn clear(&mut self) {
        if self.shown {
            let _ = write!(self.out, "\r\x1b[K");
            self.shown = false;
        }
    }

    fn say(&mut self, line: &str) {
        self.clear();
        let _ = writeln!(self.out, "mmiotrace record: {line}");
        let _ = self.out.flush();
    }
}

/// The copy from the device to the output.
struct Pump<'a, W> {
    device: &'a mut TraceDevice,
    out: &'a mut W,
    buf: Vec<u8>,
    counter: StreamCounter,
}

/// What one step of the copy did.
enum Step {
    Copied,
    Nothing,
    End,
    OutputClosed,
}

impl<W: Write> Pump<'_, W> {
    /// Reads once and writes what came.
    fn step(&mut self) -> Result<Step, Error> {
        let n = match self.device.read(&mut self.buf)? {
            ReadResult::Data(n) => n,
            ReadResult::Empty => return Ok(Step::Nothing),
            ReadResult::End => return Ok(Step::End),
        };
        self.counter.feed(&self.buf[..n]);
        match self.out.write_all(&self.buf[..n]) {
            Ok(()) => Ok(Step::Copied),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Step::OutputClosed),
            Err(source) => Err(Error::Write { source }),
        }
    }
}

/// Records a trace: writes the filter, starts tracing (and writes the
/// marker), copies `device` to `out` until `stop` is set (by a signal
/// handler), the duration is over, or an error, then stops tracing (unless
/// `keep_on`), drains what is left and flushes `out`. Progress, the note at
/// the start and the summary go to `status`.
///
/// Errors before tracing starts leave the kernel as it was (but for the
/// filter). Once it has started, every path stops it, writes out what was
/// read and prints the summary; the first error is returned. `stop` is
/// cleared when the copy stops, so that a second signal ends the draining.
pub fn record<W: Write>(
    paths: &Paths,
    device: &mut TraceDevice,
    options: &RecordOptions,
    stop: &AtomicBool,
    out: &mut W,
    status: &mut dyn Write,
) -> Result<Summary, Error> {
    write_filter(paths, &options.filter)?;
    let mut status = Status {
        out: status,
        mode: options.progress,
        shown: false,
        last: Instant::now(),
        last_events: 0,
    };
    if !options.quiet {
        // The kernel's canonical form, if it reads back.
        let filter = read_filter(paths).unwrap_or_else(|_| options.filter.clone());
        status.say(&format!(
            "tracing `{filter}` to {}; Ctrl-C stops",
            options.destination
        ));
    }
    set_tracing(paths, true)?;
    let start = Instant::now();
    status.last = start;

    let mut copy = Pump {
        device,
        out,
        buf: vec![0; CHUNK],
        counter: StreamCounter::new(),
    };
    let mut first_error = None;
    let mut reason = match &options.mark {
        Some(text) => match write_mark(&paths.device, text) {
            Ok(()) => None,
            Err(e) => {
                first_error = Some(e);
                Some(StopReason::Error)
            }
        },
        None => None,
    };
    if reason.is_none() {
        let deadline = options.duration.map(|d| start + d);
        match stream(&mut copy, &mut status, paths, stop, deadline) {
            Ok(r) => reason = Some(r),
            Err(e) => {
                first_error = Some(e);
                reason = Some(StopReason::Error);
            }
        }
    }
    let reason = reason.unwrap_or(StopReason::Error);
    stop.store(false, Ordering::SeqCst);

    if !options.keep_on {
        if let Err(e) = set_tracing(paths, false) {
            first_error.get_or_insert(e);
        }
    }
    // Drain what is buffered, unless the device failed or nobody reads on.
    if matches!(reason, StopReason::Signal | StopReason::Duration) {
        let limit = options
            .keep_on
            .then(|| Instant::now() + KEEP_ON_DRAIN_LIMIT);
        loop {
            if stop.load(Ordering::SeqCst) || limit.is_some_and(|l| Instant::now() >= l) {
                break;
            }
            match copy.step() {
                Ok(Step::Copied) => {}
                Ok(Step::Nothing | Step::End | Step::OutputClosed) => break,
                Err(e) => {
                    first_error.get_or_insert(e);
                    break;
                }
            }
        }
    }
    copy.counter.finish();
    match copy.out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            first_error.get_or_insert(Error::Write { source: e });
        }
        _ => {}
    }
    let summary = Summary {
        events: copy.counter.events,
        bytes: copy.counter.bytes,
        elapsed: start.elapsed(),
        lost_kernel: read_stats(paths).ok().and_then(|s| s.lost()),
        lost_in_trace: copy.counter.lost,
        stop: reason,
    };
    status.say(&summary.to_string());
    match first_error {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// The copy loop: until `stop`, `deadline`, the end of the output or an
/// error.
fn stream<W: Write>(
    copy: &mut Pump<'_, W>,
    status: &mut Status<'_>,
    paths: &Paths,
    stop: &AtomicBool,
    deadline: Option<Instant>,
) -> Result<StopReason, Error> {
    let mut next_update = Instant::now() + PROGRESS_INTERVAL;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(StopReason::Signal);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(StopReason::Duration);
        }
        if now >= next_update {
            next_update = now + PROGRESS_INTERVAL;
            if status.mode != Progress::Off {
                let lost = read_stats(paths).ok().and_then(|s| s.lost());
                status.update(now, &copy.counter, lost);
            }
            // What was read is in the output within a second.
            match copy.out.flush() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    return Ok(StopReason::OutputClosed)
                }
                Err(source) => return Err(Error::Write { source }),
            }
        }
        let mut timeout = POLL_INTERVAL.min(next_update - now);
        if let Some(d) = deadline {
            timeout = timeout.min(d - now);
        }
        if !copy.device.wait(timeout)? {
            continue;
        }
        match copy.step()? {
            Step::Copied | Step::Nothing => {}
            // Readable at the end of a file: wait rather than spin.
            Step::End => std::thread::sleep(timeout),
            Step::OutputClosed => return Ok(StopReason::OutputClosed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(devs: &[&str], bars: &[u8], phys: &[&str], op: Option<&str>) -> Filter {
        Filter {
            all: false,
            devs: devs.iter().map(|d| d.parse().unwrap()).collect(),
            bars: bars.to_vec(),
            phys: phys.iter().map(|p| p.parse().unwrap()).collect(),
            op: op.map(|o| o.parse().unwrap()),
        }
    }

    fn reason(e: Error) -> String {
        match e {
            Error::InvalidArgument { reason, .. } => reason,
            other => panic!("not an invalid argument: {other}"),
        }
    }

    #[test]
    fn pci_addresses() {
        let a: PciAddress = "00:02.0".parse().unwrap();
        assert_eq!((a.domain, a.bus, a.slot, a.function), (0, 0, 2, 0));
        assert_eq!(a.to_string(), "0000:00:02.0");
        let a: PciAddress = "0001:3A:1f.7".parse().unwrap();
        assert_eq!(a.to_string(), "0001:3a:1f.7");
        assert_eq!(
            "10000:e0:00.0".parse::<PciAddress>().unwrap().to_string(),
            "10000:e0:00.0"
        );
        for bad in [
            "",
            "00:02",
            "00:20.0",
            "00:02.8",
            "100:02.0",
            "0:0:0:0.0",
            "0x00:02.0",
            "00:02.0 ",
            "g0:02.0",
            ":02.0",
            "00:.0",
            "00:02.",
        ] {
            let e = bad.parse::<PciAddress>().unwrap_err();
            assert!(e.to_string().starts_with("invalid --dev"), "{bad}: {e}");
        }
        let e = "8086:100e".parse::<PciAddress>().unwrap_err();
        assert!(reason(e).contains("looks like vendor:device"));
    }

    #[test]
    fn phys_ranges() {
        let r: PhysRange = "0xfebc0000-0xfebdffff".parse().unwrap();
        assert_eq!(
            r,
            PhysRange::Span {
                start: 0xfebc_0000,
                end: 0xfebd_ffff
            }
        );
        assert_eq!(r.to_string(), "0xfebc0000-0xfebdffff");
        let r: PhysRange = "FEBC0000+20000".parse().unwrap();
        assert_eq!(r.to_string(), "0xfebc0000+0x20000");
        assert!("0x1000-0x1000".parse::<PhysRange>().is_ok());
        assert!(reason("0x2000-0x1000".parse::<PhysRange>().unwrap_err()).contains("below"));
        assert!(reason("0x1000+0".parse::<PhysRange>().unwrap_err()).contains("empty"));
        assert!(reason("0xffffffffffffffff+2".parse::<PhysRange>().unwrap_err()).contains("past"));
        assert!("0xffffffffffffffff+1".parse::<PhysRange>().is_ok());
        for bad in ["", "0x1000", "0x1000-", "+10", "0xg-0x1", "1-2-3", "0x-0x1"] {
            assert!(bad.parse::<PhysRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_are_composed() {
        assert_eq!(Filter::default().to_string(), "all");
        assert_eq!(filter(&[], &[], &[], Some("w")).to_string(), "all op=w");
        assert_eq!(
            filter(&["00:02.0", "0000:00:03.0"], &[0, 2], &[], Some("rw")).to_string(),
            "dev=0000:00:02.0 dev=0000:00:03.0 bar=0 bar=2 op=rw"
        );
        assert_eq!(
            filter(&[], &[], &["febc0000+1000", "0x0-0xfff"], None).to_string(),
            "phys=0xfebc0000+0x1000 phys=0x0-0xfff"
        );
        assert_eq!(filter(&[], &[1], &[], None).to_string(), "bar=1");
        assert!(filter(&["00:02.0"], &[0], &[], None).validate().is_ok());
        let e = filter(&[], &[6], &[], None).validate().unwrap_err();
        assert!(e.to_string().starts_with("invalid --bar `6`"), "{e}");
    }

    #[test]
    fn filter_text_is_validated() {
        let f = Filter::parse("  dev=00:02.0\tbar=0 op=r ").unwrap();
        assert_eq!(f, filter(&["00:02.0"], &[0], &[], Some("r")));
        assert_eq!(f.to_string(), "dev=0000:00:02.0 bar=0 op=r");
        assert_eq!(Filter::parse("all").unwrap().to_string(), "all");
        assert_eq!(Filter::parse("all op=w").unwrap().to_string(), "all op=w");
        assert_eq!(
            parse_filter_text(" dev=00:02.0  op=w\n").unwrap(),
            "dev=00:02.0  op=w"
        );
        for (bad, why) in [
            ("", "empty"),
            ("  ", "empty"),
            ("dev=00:02", "PCI address"),
            ("bar=6", "0 to 5"),
            ("bar=", "0 to 5"),
            ("phys=1-0", "below"),
            ("op=x", "r (reads)"),
            ("op=r op=w", "only once"),
            ("all dev=00:02.0", "goes with op="),
            ("everything", "expected all"),
            ("all=1", "expected all"),
            ("dev", "expected all"),
        ] {
            let e = Filter::parse(bad).unwrap_err();
            assert!(e.to_string().starts_with("invalid --filter"), "{bad}: {e}");
            assert!(reason(e).contains(why), "{bad}");
        }
    }

    #[test]
    fn markers() {
        assert_eq!(parse_mark("e1000 probe").unwrap(), "e1000 probe");
        assert_eq!(parse_mark("e1000 probe\n").unwrap(), "e1000 probe");
        assert_eq!(parse_mark(&"x".repeat(256)).unwrap().len(), 256);
        assert!(reason(parse_mark(&"x".repeat(257)).unwrap_err()).contains("256 bytes"));
        assert!(reason(parse_mark("a\nb").unwrap_err()).contains("one line"));
        assert!(reason(parse_mark("a\r").unwrap_err()).contains("one line"));
        assert!(reason(parse_mark("").unwrap_err()).contains("empty"));
        assert!(reason(parse_mark("\n").unwrap_err()).contains("empty"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("0.25").unwrap(), Duration::from_millis(250));
        for bad in ["0", "-1", "x", "", "inf", "NaN", "1e300"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kernel_stats() {
        let stats = KernelStats::parse(
            "traced 120\nemulated 100\nstepped 20\nrefused 0\ndropped 1\nlost 7\nmappings 2\n\
             cpu0.traced 70\ncpu0.lost 3\ncpu1.traced 50\ncpu1.lost 4\nbogus line here\nx y\n",
        );
        assert_eq!(stats.get("traced"), Some(120));
        assert_eq!(stats.lost(), Some(7));
        assert_eq!(stats.get("mappings"), Some(2));
        assert_eq!(stats.totals.len(), 7);
        assert_eq!(stats.cpus.len(), 2);
        assert_eq!(stats.cpus[&1]["lost"], 4);
        assert_eq!(KernelStats::parse("").lost(), None);
    }

    #[test]
    fn stream_counter_counts_across_chunks() {
        let text = "VERSION 20070824\n\
                    PCIDEV 0010 8086100e a febc0000 0 0 0 0 0 0 20000 0 0 0 0 0 0 \n\
                    MAP 1.000000 1 0xfebc0000 0xffffc90000 0x20000 0x0 0\n\
                    R 4 1.000001 1 0xfebc0008 0x1 0x0 0\n\
                    MARK 0.000000 Lost 17 events.\n\
                    W 4 1.000002 1 0xfebc0000 0x1 0x0 0\r\n\
                    MARK 1.5 phase two\n\
                    MARK 0.000000 Lost 3 events.\n\
                    UNKNOWN 1.000003 1 0xfebc0100 f3,a5,48 0x0 0\n\
                    UNMAP 2.000000 1 0x0 0";
        for chunk in [1, 2, 7, 64, 4096] {
            let mut c = StreamCounter::new();
            for part in text.as_bytes().chunks(chunk) {
                c.feed(part);
            }
            c.finish();
            assert_eq!(c.bytes, text.len() as u64);
            assert_eq!((c.events, c.lost), (6, 20), "chunks of {chunk}");
        }
        // A long MARK line that starts like a lost-events line is a mark.
        let mut c = StreamCounter::new();
        c.feed(format!("MARK 0.000000 Lost 1 events.{}\n", " x".repeat(100)).as_bytes());
        assert_eq!((c.events, c.lost), (1, 0));
    }

    #[test]
    fn kernel_errors_are_explained() {
        let einval = io::Error::from_raw_os_error(libc::EINVAL);
        let e = filter_error("/d/filter".into(), "dev=0000:00:09.0", einval);
        let text = e.to_string();
        assert!(
            text.contains("rejected the filter `dev=0000:00:09.0`")
                && text.contains("stays in force"),
            "{text}"
        );
        let ebusy = io::Error::from_raw_os_error(libc::EBUSY);
        let text = device_error("open", Path::new("/dev/kmmiotrace"), ebusy).to_string();
        assert!(
            text.contains("busy") && text.contains("one reader"),
            "{text}"
        );
        let missing = io::Error::from(io::ErrorKind::NotFound);
        let text = control_error("write", "/d/tracing_on".into(), missing).to_string();
        assert!(text.contains("`/d/tracing_on` does not exist"), "{text}");
        let text = Error::NotRoot { command: "record" }.to_string();
        assert!(text.contains("root") && text.contains("sudo"), "{text}");
    }

    #[test]
    fn preflight_order() {
        let dir = tempfile::TempDir::new().unwrap();
        let paths = Paths {
            device: dir.path().join("dev"),
            control: dir.path().join("control"),
            module: dir.path().join("module"),
        };
        let e = preflight(&paths, "record", false, true).unwrap_err();
        assert!(matches!(e, Error::ModuleNotLoaded { .. }), "{e}");
        fs::create_dir(&paths.module).unwrap();
        let e = preflight(&paths, "record", false, true).unwrap_err();
        assert!(matches!(e, Error::NoDeviceNode { .. }), "{e}");
        fs::write(&paths.device, "").unwrap();
        let e = preflight(&paths, "record", false, true).unwrap_err();
        assert!(matches!(e, Error::DebugfsNotMounted { .. }), "{e}");
        assert!(preflight(&paths, "mark", false, false).is_ok());
        fs::create_dir(&paths.control).unwrap();
        assert!(preflight(&paths, "record", false, true).is_ok());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 20), "5.0 MiB");
    }

    #[test]
    fn summary_line() {
        let s = Summary {
            events: 12,
            bytes: 345,
            elapsed: Duration::from_millis(1500),
            lost_kernel: None,
            lost_in_trace: 2,
            stop: StopReason::Duration,
        };
        assert_eq!(
            s.to_string(),
            "12 events, 345 bytes, 1.5 s, lost ? (kernel), 2 (in the trace); \
             stopped after --duration"
        );
    }
}
