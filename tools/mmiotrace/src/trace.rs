// SPDX-License-Identifier: GPL-2.0
//! The Linux mmiotrace text format ("VERSION 20070824") and a streaming
//! parser for it.
//!
//! One record per line, as `kernel/trace/trace_mmiotrace.c` prints them:
//!
//! ```text
//! VERSION 20070824
//! PCIDEV 0018 8086100e b fe000008 c041 0 0 0 0 fe020000 20000 40 0 0 0 0 20000 e1000
//! MAP 12.345678 1 0xfebc0000 0xffffc90000200000 0x20000 0x0 0
//! R 4 12.345700 1 0xfebc0008 0x80080783 0x0 0
//! W 4 12.345800 1 0xfebc0000 0x4000000 0x0 0
//! UNKNOWN 12.345900 1 0xfebc0100 f3,a5,48 0x0 0
//! UNMAP 13.000000 1 0x0 0
//! MARK 12.500000 any free text to end of line
//! MARK 0.000000 Lost 17 events.
//! ```
//!
//! Extra trailing fields on R, W, UNKNOWN, MAP and UNMAP lines are accepted
//! and ignored (later kernels may add some). Blank lines and lines starting
//! with `#` are skipped.

use std::fmt;
use std::io::BufRead;

use serde::{Serialize, Serializer};

use crate::lex::{self, Fields};
use crate::Error;

/// The only trace format version there is.
pub const VERSION: &str = "20070824";

/// A trace time stamp, `secs.usecs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    pub secs: u64,
    /// Microseconds, below 1 000 000.
    pub usecs: u32,
}

impl Timestamp {
    /// The time in microseconds (saturating).
    pub fn as_micros(&self) -> u64 {
        self.secs
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(self.usecs))
    }

    /// The time of `micros` microseconds.
    pub fn from_micros(micros: u64) -> Self {
        Timestamp {
            secs: micros / 1_000_000,
            usecs: (micros % 1_000_000) as u32,
        }
    }

    /// The time in seconds. One division of the exact number of
    /// microseconds, so the nearest `f64` to `secs.usecs`: printed as the
    /// shortest decimal that reads back the same (as `serde_json` does), it
    /// is the trace's time stamp for any time below 2^53 us (285 years).
    pub fn as_secs_f64(&self) -> f64 {
        self.as_micros() as f64 / 1e6
    }
}

/// A JSON number of seconds: `70.162001`.
impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_secs_f64())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.secs, self.usecs)
    }
}

/// Read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Read,
    Write,
}

impl Direction {
    /// `R` or `W`, as in the trace.
    pub fn letter(self) -> char {
        match self {
            Direction::Read => 'R',
            Direction::Write => 'W',
        }
    }
}

/// One PCI resource (BAR 0..5 or the expansion ROM, index 6) of a PCIDEV line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resource {
    /// The start address or'ed with the low four PCI flag bits, as printed.
    pub raw_start: u64,
    /// The size in bytes; 0 if the resource is unused.
    pub size: u64,
}

impl Resource {
    /// The start address, flag bits masked off.
    pub fn start(&self) -> u64 {
        self.raw_start & !0xf
    }

    /// The low four flag bits.
    pub fn flags(&self) -> u8 {
        (self.raw_start & 0xf) as u8
    }

    /// Whether the resource is in use (non-zero size).
    pub fn is_used(&self) -> bool {
        self.size != 0
    }
}

/// A `PCIDEV` line: one PCI device present when tracing started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciDev {
    pub bus: u8,
    pub devfn: u8,
    pub vendor: u16,
    pub device: u16,
    pub irq: u32,
    /// Resources 0..5 are BARs, 6 is the expansion ROM.
    pub resources: [Resource; 7],
    /// The bound driver's name, if any.
    pub driver: Option<String>,
}

impl PciDev {
    /// Device number (bits 7..3 of devfn).
    pub fn slot(&self) -> u8 {
        self.devfn >> 3
    }

    /// Function number (bits 2..0 of devfn).
    pub fn function(&self) -> u8 {
        self.devfn & 7
    }

    /// `bus:dev.fn`, as lspci prints it without the domain.
    pub fn bdf(&self) -> String {
        format!("{:02x}:{:02x}.{:x}", self.bus, self.slot(), self.function())
    }

    /// `vendor:device`, as lspci -n prints it.
    pub fn ids(&self) -> String {
        format!("{:04x}:{:04x}", self.vendor, self.device)
    }

    /// Whether resource `index` is a used memory range. BARs with flag bit 0
    /// set are I/O ports; the ROM (index 6) is always memory (its bit 0 is
    /// the ROM enable bit).
    pub fn is_memory(&self, index: usize) -> bool {
        match self.resources.get(index) {
            Some(r) => r.is_used() && (index == 6 || r.flags() & 1 == 0),
            None => false,
        }
    }
}

/// An `R` or `W` line: one decoded MMIO access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub dir: Direction,
    /// Access width in bytes: 1, 2, 4 or 8.
    pub width: u8,
    pub time: Timestamp,
    pub map_id: i32,
    pub phys: u64,
    pub value: u64,
    pub pc: u64,
    pub pid: i32,
}

/// An `UNKNOWN` line: an access the kernel could not decode (no width, no
/// value, no direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownAccess {
    pub time: Timestamp,
    pub map_id: i32,
    pub phys: u64,
    /// The first three bytes of the instruction.
    pub opcode: [u8; 3],
    pub pc: u64,
    pub pid: i32,
}

/// A `MAP` line: an ioremap() of a traced range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Map {
    pub time: Timestamp,
    pub map_id: i32,
    pub phys: u64,
    pub virt: u64,
    pub len: u64,
}

/// An `UNMAP` line: the mapping `map_id` went away (the id may be reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unmap {
    pub time: Timestamp,
    pub map_id: i32,
}

/// A `MARK` line with free text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub time: Timestamp,
    pub text: String,
}

/// One line of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// `VERSION x`: the format version (only `20070824` exists).
    Version(String),
    PciDev(PciDev),
    Map(Map),
    Unmap(Unmap),
    /// `R` or `W`.
    Access(Access),
    Unknown(UnknownAccess),
    Mark(Mark),
    /// `MARK 0.000000 Lost N events.`: the kernel dropped N events.
    LostEvents(u64),
}

/// A record with the (1-based) line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: u64,
    pub record: Record,
}

/// Streaming reader: yields one [`Entry`] or one error per non-blank line.
///
/// A malformed line yields `Err(Error::Parse)` and reading goes on with the
/// next line; an I/O error yields `Err(Error::Read)` and ends the stream.
pub struct TraceReader<R> {
    reader: R,
    buf: Vec<u8>,
    line: u64,
    done: bool,
}

impl<R: BufRead> TraceReader<R> {
    pub fn new(reader: R) -> Self {
        TraceReader {
            reader,
            buf: Vec::with_capacity(256),
            line: 0,
            done: false,
        }
    }

    /// Number of lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<Entry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    let line = self.line;
                    let text = lex::trim(&self.buf);
                    if text.is_empty() || text[0] == b'#' {
                        continue;
                    }
                    return Some(parse_record(text, line).map(|record| Entry { line, record }));
                }
                Err(source) => {
                    self.done = true;
                    return Some(Err(Error::Read {
                        line: self.line,
                        source,
                    }));
                }
            }
        }
        None
    }
}

const KEYWORDS: &str = "a record keyword (VERSION, PCIDEV, MAP, UNMAP, R, W, UNKNOWN, MARK)";

/// Parses one non-blank trace line (a line terminator and surrounding
/// spaces are ignored).
pub fn parse_record(text: &[u8], line: u64) -> Result<Record, Error> {
    let mut f = Fields::new(lex::trim(text), line);
    let keyword = f.expect(KEYWORDS)?;
    match keyword {
        b"R" => parse_access(&mut f, Direction::Read),
        b"W" => parse_access(&mut f, Direction::Write),
        b"UNKNOWN" => parse_unknown(&mut f),
        b"MAP" => parse_map(&mut f),
        b"UNMAP" => parse_unmap(&mut f),
        b"MARK" => parse_mark(&mut f),
        b"PCIDEV" => parse_pcidev(&mut f),
        b"VERSION" => {
            let v = f.expect("a version number")?;
            Ok(Record::Version(String::from_utf8_lossy(v).into_owned()))
        }
        other => Err(Error::parse(line, KEYWORDS, Some(other))),
    }
}

/// `secs.usecs` with 1 to 6 fraction digits.
fn timestamp(s: &[u8]) -> Option<Timestamp> {
    let dot = s.iter().position(|&b| b == b'.')?;
    let (secs, frac) = (&s[..dot], &s[dot + 1..]);
    if frac.is_empty() || frac.len() > 6 {
        return None;
    }
    let mut usecs = u32::try_from(lex::dec(frac)?).ok()?;
    for _ in frac.len()..6 {
        usecs *= 10;
    }
    Some(Timestamp {
        secs: lex::dec(secs)?,
        usecs,
    })
}

fn width(s: &[u8]) -> Option<u8> {
    match s {
        b"1" => Some(1),
        b"2" => Some(2),
        b"4" => Some(4),
        b"8" => Some(8),
        _ => None,
    }
}

const TIME: &str = "a time stamp secs.usecs";
const MAP_ID: &str = "a decimal map id";
const PHYS: &str = "a 0x-prefixed hex physical address";
const PC: &str = "a 0x-prefixed hex pc";
const PID: &str = "a decimal pid";

fn parse_access(f: &mut Fields<'_>, dir: Direction) -> Result<Record, Error> {
    Ok(Record::Access(Access {
        dir,
        width: f.parse("an access width 1, 2, 4 or 8", width)?,
        time: f.parse(TIME, timestamp)?,
        map_id: f.parse(MAP_ID, lex::dec_i32)?,
        phys: f.parse(PHYS, lex::hex0x)?,
        value: f.parse("a 0x-prefixed hex value", lex::hex0x)?,
        pc: f.parse(PC, lex::hex0x)?,
        pid: f.parse(PID, lex::dec_i32)?,
    }))
}

/// `f3,a5,48`: three hex bytes.
fn opcode(s: &[u8]) -> Option<[u8; 3]> {
    let mut out = [0u8; 3];
    let mut parts = s.split(|&b| b == b',');
    for byte in &mut out {
        let part = parts.next()?;
        if part.len() > 2 {
            return None;
        }
        *byte = u8::try_from(lex::hex(part)?).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn parse_unknown(f: &mut Fields<'_>) -> Result<Record, Error> {
    Ok(Record::Unknown(UnknownAccess {
        time: f.parse(TIME, timestamp)?,
        map_id: f.parse(MAP_ID, lex::dec_i32)?,
        phys: f.parse(PHYS, lex::hex0x)?,
        opcode: f.parse("three opcode bytes b0,b1,b2 in hex", opcode)?,
        pc: f.parse(PC, lex::hex0x)?,
        pid: f.parse(PID, lex::dec_i32)?,
    }))
}

fn parse_map(f: &mut Fields<'_>) -> Result<Record, Error> {
    let map = Map {
        time: f.parse(TIME, timestamp)?,
        map_id: f.parse(MAP_ID, lex::dec_i32)?,
        phys: f.parse(PHYS, lex::hex0x)?,
        virt: f.parse("a 0x-prefixed hex virtual address", lex::hex0x)?,
        len: f.parse("a 0x-prefixed hex length", lex::hex0x)?,
    };
    f.parse("a 0x-prefixed hex field (0x0)", lex::hex0x)?;
    f.parse("a decimal field (0)", lex::dec_i32)?;
    Ok(Record::Map(map))
}

fn parse_unmap(f: &mut Fields<'_>) -> Result<Record, Error> {
    let unmap = Unmap {
        time: f.parse(TIME, timestamp)?,
        map_id: f.parse(MAP_ID, lex::dec_i32)?,
    };
    f.parse("a 0x-prefixed hex field (0x0)", lex::hex0x)?;
    f.parse("a decimal field (0)", lex::dec_i32)?;
    Ok(Record::Unmap(unmap))
}

fn parse_mark(f: &mut Fields<'_>) -> Result<Record, Error> {
    let time = f.parse(TIME, timestamp)?;
    let text = f.remainder();
    if time == Timestamp::default() {
        if let Some(n) = lost_events(text) {
            return Ok(Record::LostEvents(n));
        }
    }
    Ok(Record::Mark(Mark {
        time,
        text: String::from_utf8_lossy(text).into_owned(),
    }))
}

/// `Lost N events.`
fn lost_events(text: &[u8]) -> Option<u64> {
    let n = text.strip_prefix(b"Lost ")?.strip_suffix(b" events.")?;
    lex::dec(n)
}

fn parse_pcidev(f: &mut Fields<'_>) -> Result<Record, Error> {
    let bdf = f.parse("bus and devfn as 4 hex digits", |s| {
        (s.len() == 4).then(|| lex::hex(s)).flatten()
    })?;
    let ids = f.parse("vendor and device as 8 hex digits", |s| {
        (s.len() == 8).then(|| lex::hex(s)).flatten()
    })?;
    let irq = f.parse("a hex irq", |s| {
        lex::hex(s).and_then(|v| u32::try_from(v).ok())
    })?;
    let mut resources = [Resource::default(); 7];
    for r in &mut resources {
        r.raw_start = f.parse("a hex resource start (7 of them)", lex::hex)?;
    }
    for r in &mut resources {
        r.size = f.parse("a hex resource size (7 of them)", lex::hex)?;
    }
    // The driver name is the last field; anything between is ignored.
    let mut driver = None;
    while let Some(field) = f.next_field() {
        driver = Some(field);
    }
    Ok(Record::PciDev(PciDev {
        bus: (bdf >> 8) as u8,
        devfn: bdf as u8,
        vendor: (ids >> 16) as u16,
        device: ids as u16,
        irq,
        resources,
        driver: driver.map(|d| String::from_utf8_lossy(d).into_owned()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Record, Error> {
        parse_record(text.as_bytes(), 7)
    }

    fn ts(secs: u64, usecs: u32) -> Timestamp {
        Timestamp { secs, usecs }
    }

    fn expected_of(err: Error) -> (u64, &'static str, String) {
        match err {
            Error::Parse {
                line,
                expected,
                found,
            } => (line, expected, found),
            other => panic!("not a parse error: {other}"),
        }
    }

    #[test]
    fn timestamps_in_seconds() {
        let t = ts(70, 162_001);
        assert_eq!(t.as_micros(), 70_162_001);
        assert_eq!(Timestamp::from_micros(70_162_001), t);
        assert_eq!(serde_json::to_string(&t).unwrap(), "70.162001");
        assert_eq!(serde_json::to_string(&ts(12, 500_000)).unwrap(), "12.5");
        assert_eq!(serde_json::to_string(&ts(0, 1)).unwrap(), "1e-6");
        // Every microsecond of a long uptime reads back as written.
        for usecs in (0..1_000_000).step_by(7) {
            let t = ts(123_456, usecs);
            assert_eq!(format!("{:.6}", t.as_secs_f64()), t.to_string());
        }
        assert_eq!(ts(u64::MAX, 999_999).as_micros(), u64::MAX);
    }

    #[test]
    fn version() {
        assert_eq!(
            parse("VERSION 20070824").unwrap(),
            Record::Version(VERSION.to_string())
        );
    }

    #[test]
    fn pcidev_with_driver() {
        let r = parse(
            "PCIDEV 0018 8086100e b febc0000 c041 0 0 0 0 fe020000 20000 40 0 0 0 0 20000 e1000",
        )
        .unwrap();
        let Record::PciDev(d) = r else {
            panic!("not a PCIDEV: {r:?}")
        };
        assert_eq!((d.bus, d.devfn, d.slot(), d.function()), (0, 0x18, 3, 0));
        assert_eq!((d.vendor, d.device, d.irq), (0x8086, 0x100e, 0xb));
        assert_eq!(d.bdf(), "00:03.0");
        assert_eq!(d.ids(), "8086:100e");
        assert_eq!(d.resources[0].start(), 0xfebc_0000);
        assert_eq!(d.resources[0].size, 0x20000);
        assert!(d.is_memory(0));
        assert_eq!(d.resources[1].start(), 0xc040);
        assert!(!d.is_memory(1), "bit 0 marks an I/O BAR");
        assert!(!d.is_memory(2), "size 0 is unused");
        assert!(d.is_memory(6), "the ROM is memory");
        assert_eq!(d.driver.as_deref(), Some("e1000"));
    }

    #[test]
    fn pcidev_extra_fields_before_the_driver_are_ignored() {
        // Eight sizes: the driver is still the last field.
        let r = parse(
            "PCIDEV 0018 8086100e b fe000008 c041 0 0 0 0 fe020000 20000 40 0 0 0 0 0 20000 e1000",
        )
        .unwrap();
        let Record::PciDev(d) = r else {
            panic!("not a PCIDEV: {r:?}")
        };
        assert_eq!(d.resources[6].size, 0);
        assert_eq!(d.driver.as_deref(), Some("e1000"));
    }

    #[test]
    fn pcidev_without_driver_and_with_flags() {
        // No driver: the kernel ends the line with a space.
        let r = parse("PCIDEV 0a11 1af41000 1f fe00000c 0 0 0 0 0 0 4000 0 0 0 0 0 0 \n").unwrap();
        let Record::PciDev(d) = r else {
            panic!("not a PCIDEV: {r:?}")
        };
        assert_eq!((d.bus, d.devfn, d.slot(), d.function()), (0x0a, 0x11, 2, 1));
        assert_eq!(d.resources[0].flags(), 0xc);
        assert_eq!(d.resources[0].start(), 0xfe00_0000);
        assert_eq!(d.driver, None);
    }

    #[test]
    fn read_and_write() {
        assert_eq!(
            parse("R 4 12.345700 1 0xfebc0008 0x80080783 0x0 0").unwrap(),
            Record::Access(Access {
                dir: Direction::Read,
                width: 4,
                time: ts(12, 345_700),
                map_id: 1,
                phys: 0xfebc_0008,
                value: 0x8008_0783,
                pc: 0,
                pid: 0,
            })
        );
        assert_eq!(
            parse("W 8 0.000001 -1 0xfebc0000 0xffffffffffffffff 0xffffffff81000000 4242").unwrap(),
            Record::Access(Access {
                dir: Direction::Write,
                width: 8,
                time: ts(0, 1),
                map_id: -1,
                phys: 0xfebc_0000,
                value: u64::MAX,
                pc: 0xffff_ffff_8100_0000,
                pid: 4242,
            })
        );
    }

    #[test]
    fn extra_trailing_fields_are_ignored() {
        let r = parse("W 2 1.000000 3 0x10 0x1 0x0 77 cpu=1 extra").unwrap();
        assert!(matches!(r, Record::Access(Access { pid: 77, .. })));
        let r = parse("UNKNOWN 1.000000 3 0x10 0f,0b,00 0x0 0 more").unwrap();
        assert!(matches!(r, Record::Unknown(_)));
        let r = parse("MAP 1.000000 3 0x10 0x20 0x30 0x0 0 more").unwrap();
        assert!(matches!(r, Record::Map(_)));
    }

    #[test]
    fn unknown() {
        assert_eq!(
            parse("UNKNOWN 12.345900 1 0xfebc0100 f3,a5,48 0x0 0").unwrap(),
            Record::Unknown(UnknownAccess {
                time: ts(12, 345_900),
                map_id: 1,
                phys: 0xfebc_0100,
                opcode: [0xf3, 0xa5, 0x48],
                pc: 0,
                pid: 0,
            })
        );
        assert!(parse("UNKNOWN 1.000000 1 0x0 f3,a5 0x0 0").is_err());
        assert!(parse("UNKNOWN 1.000000 1 0x0 f3,a5,48,00 0x0 0").is_err());
        assert!(parse("UNKNOWN 1.000000 1 0x0 f3,a5,100 0x0 0").is_err());
    }

    #[test]
    fn map_and_unmap() {
        assert_eq!(
            parse("MAP 12.345678 1 0xfebc0000 0xffffc90000200000 0x20000 0x0 0").unwrap(),
            Record::Map(Map {
                time: ts(12, 345_678),
                map_id: 1,
                phys: 0xfebc_0000,
                virt: 0xffff_c900_0020_0000,
                len: 0x20000,
            })
        );
        assert_eq!(
            parse("UNMAP 13.000000 -1 0x0 0").unwrap(),
            Record::Unmap(Unmap {
                time: ts(13, 0),
                map_id: -1,
            })
        );
    }

    #[test]
    fn marks_and_lost_events() {
        assert_eq!(
            parse("MARK 12.500000 any free  text to end of line").unwrap(),
            Record::Mark(Mark {
                time: ts(12, 500_000),
                text: "any free  text to end of line".to_string(),
            })
        );
        assert_eq!(
            parse("MARK 0.000000 Lost 17 events.").unwrap(),
            Record::LostEvents(17)
        );
        // The same text at another time is a plain mark.
        assert!(matches!(
            parse("MARK 1.000000 Lost 17 events.").unwrap(),
            Record::Mark(_)
        ));
        assert_eq!(
            parse("MARK 3.000000").unwrap(),
            Record::Mark(Mark {
                time: ts(3, 0),
                text: String::new(),
            })
        );
    }

    #[test]
    fn malformed_lines() {
        let (line, expected, found) = expected_of(parse("R 4 12.345700 1 0xfebc0008").unwrap_err());
        assert_eq!(line, 7);
        assert_eq!(expected, "a 0x-prefixed hex value");
        assert_eq!(found, "end of line");

        let (_, expected, found) =
            expected_of(parse("R 4 12.345700 1 0xfebcz008 0x1 0x0 0").unwrap_err());
        assert_eq!(expected, PHYS);
        assert_eq!(found, "`0xfebcz008`");

        let (_, expected, _) = expected_of(parse("R 3 1.0 1 0x0 0x1 0x0 0").unwrap_err());
        assert!(expected.contains("width"));
        let (_, expected, _) = expected_of(parse("W 4 1 1 0x0 0x1 0x0 0").unwrap_err());
        assert_eq!(expected, TIME);
        let (_, expected, _) = expected_of(parse("W 4 1.0 1 febc0000 0x1 0x0 0").unwrap_err());
        assert_eq!(expected, PHYS);

        let (_, expected, found) = expected_of(parse("FOO 1 2 3").unwrap_err());
        assert_eq!(expected, KEYWORDS);
        assert_eq!(found, "`FOO`");
        assert!(parse("rw what?").is_err());
        assert!(parse("PCIDEV 0018 8086100e b 0 0 0").is_err());
        assert!(parse("UNMAP 1.000000 1").is_err());
    }

    #[test]
    fn reader_reports_line_numbers_and_goes_on() {
        let text = "VERSION 20070824\n\
                    \n\
                    R 4 12.345700 1 0xfebc0008\n\
                    W 4 12.345800 1 0xfebc0000 0x4000000 0x0 0\n\
                    R 4 12.3 1 0xfebcXX08 0x1 0x0 0\r\n\
                    BOGUS line\n\
                    # a comment\n\
                    UNMAP 13.000000 1 0x0 0\n";
        let items: Vec<_> = TraceReader::new(text.as_bytes()).collect();
        assert_eq!(items.len(), 6);
        assert!(matches!(items[0], Ok(Entry { line: 1, .. })));
        assert_eq!(items[1].as_ref().unwrap_err().line(), Some(3));
        assert!(matches!(
            items[2],
            Ok(Entry {
                line: 4,
                record: Record::Access(Access {
                    dir: Direction::Write,
                    ..
                })
            })
        ));
        assert_eq!(items[3].as_ref().unwrap_err().line(), Some(5));
        assert_eq!(items[4].as_ref().unwrap_err().line(), Some(6));
        assert!(matches!(
            items[5],
            Ok(Entry {
                line: 8,
                record: Record::Unmap(_)
            })
        ));
    }
}
