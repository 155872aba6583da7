// SPDX-License-Identifier: GPL-2.0
//! The oracle comparison: the MMIO accesses a guest's mmiotrace recorded for
//! one PCI device against the accesses QEMU logged for that device's memory
//! regions.
//!
//! The steps, each usable on its own:
//! 1. [`read_guest`] collects the PCIDEV lines and all accesses of a trace;
//! 2. [`Target::select`] picks the device and its memory BARs, and
//!    [`Target::guest_accesses`] keeps the accesses inside them (G);
//! 3. [`read_qemu`] collects the ops of the named regions, optionally only
//!    within one window between sync writes (Q);
//! 4. [`compare`] aligns G with Q, allowing for QEMU splitting or widening
//!    accesses to the device model's access sizes;
//! 5. [`crate::report::Report`] renders the result as text or JSON.

use std::collections::HashMap;
use std::fmt;
use std::io::BufRead;
use std::str::FromStr;

use serde::Serialize;

use crate::diff;
use crate::lex;
use crate::qemu::{self, QemuLogReader};
use crate::trace::{Direction, Entry, PciDev, Record, TraceReader};
use crate::Error;

/// What an access did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessKind {
    Read,
    Write,
    /// An mmiotrace `UNKNOWN` record: the kernel could not decode it.
    Unknown,
}

impl From<Direction> for AccessKind {
    fn from(dir: Direction) -> Self {
        match dir {
            Direction::Read => AccessKind::Read,
            Direction::Write => AccessKind::Write,
        }
    }
}

/// One access of either side, reduced to what is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The line of the guest trace or QEMU log it came from.
    pub line: u64,
    pub kind: AccessKind,
    /// Absolute guest-physical address.
    pub addr: u64,
    /// Width in bytes; 0 for [`AccessKind::Unknown`].
    pub width: u8,
    /// The value masked to `width` bytes; for [`AccessKind::Unknown`] the
    /// three opcode bytes as `b0 << 16 | b1 << 8 | b2`.
    pub value: u64,
}

impl Access {
    /// Same direction, address, width and value (never true for UNKNOWN).
    fn same_access(&self, other: &Access) -> bool {
        self.kind != AccessKind::Unknown
            && self.kind == other.kind
            && self.addr == other.addr
            && self.width == other.width
            && self.value == other.value
    }

    /// Same direction, address and width, or an UNKNOWN at the same address:
    /// the two can be reported as one access that differs.
    fn same_place(&self, other: &Access) -> bool {
        self.addr == other.addr
            && (self.kind == AccessKind::Unknown
                || other.kind == AccessKind::Unknown
                || (self.kind == other.kind && self.width == other.width))
    }

    /// (direction, address, width): what QEMU's access size adjustment
    /// depends on.
    fn key(&self) -> Key {
        (self.kind, self.addr, self.width)
    }

    /// The byte offset of `self` within `wide` if `wide` can be the access
    /// QEMU logged for `self` after widening it to the device model's minimum
    /// access size: same direction, wider, containing `self`, and at the same
    /// address (what `access_with_adjusted_size` does) or at that address
    /// rounded down to its width.
    fn widened_offset(&self, wide: &Access) -> Option<u64> {
        if self.kind == AccessKind::Unknown || self.kind != wide.kind || wide.width <= self.width {
            return None;
        }
        let w = u64::from(wide.width);
        let off = self.addr.checked_sub(wide.addr)?;
        let at = off == 0 || off == self.addr % w;
        (at && off + u64::from(self.width) <= w).then_some(off)
    }

    /// The bytes of the wider QEMU access `wide` at `self`'s address (see
    /// [`Access::widened_offset`]).
    pub(crate) fn widened_value(&self, wide: &Access) -> Option<u64> {
        let off = self.widened_offset(wide)?;
        Some(qemu::mask(wide.value >> (8 * off), self.width))
    }

    /// Whether `wide` is exactly what QEMU logs for `self` widened: a read
    /// whose bytes at `self`'s address are `self`'s value, or a write of
    /// `self`'s value shifted into place, the other bytes zero.
    fn widened_equal(&self, wide: &Access) -> bool {
        match self.widened_offset(wide) {
            Some(off) if self.kind == AccessKind::Write => wide.value == self.value << (8 * off),
            Some(_) => self.widened_value(wide) == Some(self.value),
            None => false,
        }
    }

    /// `R4`, `W1` or `UNKNOWN`.
    pub(crate) fn op(&self) -> String {
        match self.kind {
            AccessKind::Read => format!("R{}", self.width),
            AccessKind::Write => format!("W{}", self.width),
            AccessKind::Unknown => "UNKNOWN".to_string(),
        }
    }

    /// The opcode bytes of an UNKNOWN access: `f3,a5,48`.
    pub(crate) fn opcode(&self) -> String {
        format!(
            "{:02x},{:02x},{:02x}",
            (self.value >> 16) & 0xff,
            (self.value >> 8) & 0xff,
            self.value & 0xff
        )
    }
}

/// Which PCI device to check: `8086:100e` or `00:03.0` (`0000:00:03.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSelector {
    Ids { vendor: u16, device: u16 },
    Bdf { bus: u8, slot: u8, function: u8 },
}

impl DeviceSelector {
    pub fn matches(&self, dev: &PciDev) -> bool {
        match *self {
            DeviceSelector::Ids { vendor, device } => dev.vendor == vendor && dev.device == device,
            DeviceSelector::Bdf {
                bus,
                slot,
                function,
            } => dev.bus == bus && dev.slot() == slot && dev.function() == function,
        }
    }
}

fn hex_field(s: &str, max: u64) -> Option<u64> {
    lex::hex_upto(s, 4, max)
}

impl FromStr for DeviceSelector {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidArgument {
            what: "--device",
            value: s.to_string(),
            reason: "expected vendor:device in hex (8086:100e) or bus:dev.fn (00:03.0)".to_string(),
        };
        let parts: Vec<&str> = s.split(':').collect();
        if let Some((slot, function)) = parts.last().and_then(|p| p.split_once('.')) {
            let bus = match parts.as_slice() {
                [bus, _] | [_, bus, _] => *bus,
                _ => return Err(bad()),
            };
            return Ok(DeviceSelector::Bdf {
                bus: hex_field(bus, 0xff).ok_or_else(bad)? as u8,
                slot: hex_field(slot, 0x1f).ok_or_else(bad)? as u8,
                function: hex_field(function, 7).ok_or_else(bad)? as u8,
            });
        }
        match parts.as_slice() {
            [vendor, device] => Ok(DeviceSelector::Ids {
                vendor: hex_field(vendor, 0xffff).ok_or_else(bad)? as u16,
                device: hex_field(device, 0xffff).ok_or_else(bad)? as u16,
            }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for DeviceSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DeviceSelector::Ids { vendor, device } => write!(f, "{vendor:04x}:{device:04x}"),
            DeviceSelector::Bdf {
                bus,
                slot,
                function,
            } => write!(f, "{bus:02x}:{slot:02x}.{function:x}"),
        }
    }
}

/// `bar<N>+0x<offset>`: guest writes there are expected to have no QEMU
/// counterpart (e.g. doorbells that QEMU handles through an ioeventfd and
/// does not log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectExtra {
    pub bar: u8,
    pub offset: u64,
}

impl FromStr for ExpectExtra {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidArgument {
            what: "--expect-extra",
            value: s.to_string(),
            reason: "expected bar<N>+0x<offset>, e.g. bar0+0x3818".to_string(),
        };
        let (bar, offset) = s
            .strip_prefix("bar")
            .and_then(|rest| rest.split_once('+'))
            .ok_or_else(bad)?;
        let bar = bar.parse::<u8>().ok().filter(|&b| b <= 6).ok_or_else(bad)?;
        let offset = offset
            .strip_prefix("0x")
            .or_else(|| offset.strip_prefix("0X"))
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .ok_or_else(bad)?;
        Ok(ExpectExtra { bar, offset })
    }
}

impl fmt::Display for ExpectExtra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bar{}+{:#x}", self.bar, self.offset)
    }
}

/// What [`read_guest`] keeps of a guest trace.
#[derive(Debug, Clone, Default)]
pub struct GuestTrace {
    /// Every PCIDEV line, with its line number.
    pub pcidevs: Vec<(u64, PciDev)>,
    /// Every R, W and UNKNOWN record, in file order.
    pub accesses: Vec<Access>,
    /// Sum of the `MARK 0.000000 Lost N events.` lines.
    pub lost_events: u64,
    /// The VERSION line's value, if any.
    pub version: Option<String>,
    /// Number of malformed lines passed to the error handler.
    pub errors: u64,
}

/// Reads a guest trace. Malformed lines go to `on_error`, which returns
/// `Err` to stop reading (`--strict`) or `Ok` to skip the line; I/O errors
/// always stop.
pub fn read_guest<R: BufRead>(
    reader: R,
    on_error: &mut dyn FnMut(Error) -> Result<(), Error>,
) -> Result<GuestTrace, Error> {
    let mut out = GuestTrace::default();
    for item in TraceReader::new(reader) {
        match item {
            Ok(Entry { line, record }) => match record {
                Record::Access(a) => out.accesses.push(Access {
                    line,
                    kind: a.dir.into(),
                    addr: a.phys,
                    width: a.width,
                    value: qemu::mask(a.value, a.width),
                }),
                Record::Unknown(u) => out.accesses.push(Access {
                    line,
                    kind: AccessKind::Unknown,
                    addr: u.phys,
                    width: 0,
                    value: u64::from(u.opcode[0]) << 16
                        | u64::from(u.opcode[1]) << 8
                        | u64::from(u.opcode[2]),
                }),
                Record::PciDev(dev) => out.pcidevs.push((line, dev)),
                Record::LostEvents(n) => out.lost_events = out.lost_events.saturating_add(n),
                Record::Version(v) => {
                    out.version.get_or_insert(v);
                }
                Record::Map(_) | Record::Unmap(_) | Record::Mark(_) => {}
            },
            Err(e @ Error::Read { .. }) => return Err(e),
            Err(e) => {
                out.errors += 1;
                on_error(e)?;
            }
        }
    }
    Ok(out)
}

/// The error for a `selector` that matches none of `pcidevs`: it lists them.
pub(crate) fn no_device(selector: &DeviceSelector, pcidevs: &[(u64, PciDev)]) -> Error {
    Error::NoDevice {
        selector: selector.to_string(),
        available: pcidevs
            .iter()
            .map(|(line, dev)| {
                format!(
                    "{} {} ({}, line {line})",
                    dev.ids(),
                    dev.bdf(),
                    dev.driver.as_deref().unwrap_or("no driver"),
                )
            })
            .collect(),
    }
}

/// A memory BAR of a selected device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// Index into [`Target::devices`].
    pub device: usize,
    /// Resource index: 0..5, or 6 for the ROM.
    pub index: u8,
    pub start: u64,
    pub size: u64,
}

/// Where an address falls within the selected device(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub device: usize,
    pub bar: u8,
    pub offset: u64,
}

/// The selected device(s) and their memory BARs.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The matching PCIDEV lines, with their line numbers.
    pub devices: Vec<(u64, PciDev)>,
    pub bars: Vec<Bar>,
}

impl Target {
    /// The devices among `pcidevs` that `selector` matches.
    pub fn select(pcidevs: &[(u64, PciDev)], selector: &DeviceSelector) -> Result<Self, Error> {
        let mut target = Target::default();
        for (line, dev) in pcidevs.iter().filter(|(_, dev)| selector.matches(dev)) {
            target.push(*line, dev.clone());
        }
        if target.devices.is_empty() {
            return Err(no_device(selector, pcidevs));
        }
        Ok(target)
    }

    /// Adds a device (the PCIDEV line at `line`) and its memory BARs.
    pub fn push(&mut self, line: u64, dev: PciDev) {
        let device = self.devices.len();
        for (index, res) in dev.resources.iter().enumerate() {
            if dev.is_memory(index) {
                self.bars.push(Bar {
                    device,
                    index: index as u8,
                    start: res.start(),
                    size: res.size,
                });
            }
        }
        self.devices.push((line, dev));
    }

    /// The BAR containing `addr`, if any.
    pub fn locate(&self, addr: u64) -> Option<Place> {
        self.bars.iter().find_map(|bar| {
            let offset = addr.checked_sub(bar.start)?;
            (offset < bar.size).then_some(Place {
                device: bar.device,
                bar: bar.index,
                offset,
            })
        })
    }

    /// The accesses that fall into one of the BARs, in order.
    pub fn guest_accesses(&self, all: &[Access]) -> Vec<Access> {
        all.iter()
            .filter(|a| self.locate(a.addr).is_some())
            .copied()
            .collect()
    }

    /// `bar0+0x8`, or the absolute address outside the BARs; prefixed by the
    /// device's bus:dev.fn when several devices are selected.
    pub fn describe(&self, addr: u64) -> String {
        match self.locate(addr) {
            Some(place) if self.devices.len() > 1 => {
                let bdf = self
                    .devices
                    .get(place.device)
                    .map_or_else(String::new, |(_, d)| d.bdf());
                format!("{bdf}/bar{}+{:#x}", place.bar, place.offset)
            }
            Some(place) => format!("bar{}+{:#x}", place.bar, place.offset),
            None => format!("{addr:#x}"),
        }
    }

    /// The vendor:device ids of the selected devices.
    pub fn ids(&self) -> String {
        let mut ids: Vec<String> = self.devices.iter().map(|(_, d)| d.ids()).collect();
        ids.dedup();
        ids.join(",")
    }

    /// The bound driver of the first device, if any.
    pub fn driver(&self) -> Option<&str> {
        self.devices.first().and_then(|(_, d)| d.driver.as_deref())
    }

    /// A human description of the BARs: `bar0 0xfebc0000+0x20000, ...`.
    pub fn describe_bars(&self) -> String {
        if self.bars.is_empty() {
            return "no memory BARs".to_string();
        }
        let bars: Vec<String> = self
            .bars
            .iter()
            .map(|b| format!("bar{} {:#x}+{:#x}", b.index, b.start, b.size))
            .collect();
        bars.join(", ")
    }
}

/// Which QEMU ops to keep.
#[derive(Debug, Clone, Copy)]
pub struct QemuFilter<'a> {
    /// Region names whose ops are the device's accesses.
    pub regions: &'a [String],
    /// Region whose writes delimit windows.
    pub sync: Option<&'a str>,
    /// Which window: between sync write `window` and `window + 1` (0-based).
    pub window: usize,
    /// Keep only the ops of this vCPU (QEMU's `cpu` field).
    pub cpu: Option<i32>,
}

/// The window of the QEMU log that was compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub index: usize,
    /// Number of sync writes in the whole log.
    pub sync_writes: usize,
    /// Line of the sync write that opens the window.
    pub after_line: u64,
    /// Line of the sync write that closes it; `None` at end of file.
    pub before_line: Option<u64>,
}

/// What [`read_qemu`] keeps of a QEMU log.
#[derive(Debug, Clone, Default)]
pub struct QemuTrace {
    /// The ops of the wanted regions within the window, in file order.
    pub accesses: Vec<Access>,
    pub window: Option<Window>,
    /// All region names in the log, in order of first appearance.
    pub regions_seen: Vec<String>,
    /// Ops of the wanted regions in the whole log, window or not.
    pub region_ops: usize,
    /// Number of malformed lines passed to the error handler.
    pub errors: u64,
}

/// Reads a QEMU log, keeping the ops `filter` selects. Errors are handled as
/// in [`read_guest`]; asking for a window the log does not have is an error.
pub fn read_qemu<R: BufRead>(
    reader: R,
    filter: &QemuFilter<'_>,
    on_error: &mut dyn FnMut(Error) -> Result<(), Error>,
) -> Result<QemuTrace, Error> {
    let mut reader = QemuLogReader::new(reader);
    let mut out = QemuTrace::default();
    // Per region id: (is one of the wanted regions, is the sync region).
    let mut flags: Vec<(bool, bool)> = Vec::new();
    let mut syncs = 0usize;
    let mut window = Window {
        index: filter.window,
        sync_writes: 0,
        after_line: 0,
        before_line: None,
    };
    while let Some(item) = reader.next() {
        let op = match item {
            Ok(op) => op,
            Err(e @ Error::Read { .. }) => return Err(e),
            Err(e) => {
                out.errors += 1;
                on_error(e)?;
                continue;
            }
        };
        let id = op.region.0 as usize;
        while flags.len() <= id {
            let name = reader.regions().get(flags.len()).map_or("", String::as_str);
            flags.push((
                filter.regions.iter().any(|r| r == name),
                filter.sync == Some(name),
            ));
        }
        let (wanted, sync) = flags.get(id).copied().unwrap_or_default();
        if sync && op.dir == Direction::Write {
            syncs += 1;
            if syncs == filter.window + 1 {
                window.after_line = op.line;
            } else if syncs == filter.window + 2 {
                window.before_line = Some(op.line);
            }
            continue;
        }
        if wanted && filter.cpu.is_none_or(|cpu| cpu == op.cpu) {
            out.region_ops += 1;
            if filter.sync.is_none() || syncs == filter.window + 1 {
                out.accesses.push(Access {
                    line: op.line,
                    kind: op.dir.into(),
                    addr: op.addr,
                    width: op.size,
                    value: op.value,
                });
            }
        }
    }
    out.regions_seen = reader.regions().to_vec();
    if let Some(sync) = filter.sync {
        if syncs <= filter.window {
            return Err(Error::SyncWindow {
                sync: sync.to_string(),
                window: filter.window,
                found: syncs,
            });
        }
        window.sync_writes = syncs;
        out.window = Some(window);
    }
    Ok(out)
}

/// Options of [`compare`].
#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub expect_extra: Vec<ExpectExtra>,
    /// UNKNOWN records paired with a QEMU access are not failures.
    pub allow_unknown: bool,
    /// How far apart, in positions of Q, an extra and a missing identical
    /// access may be to count as one reordered access; 0: never.
    pub reorder_window: usize,
    /// Reordered accesses are not failures.
    pub allow_reorder: bool,
}

/// The default of [`CompareOptions::reorder_window`].
pub const DEFAULT_REORDER_WINDOW: usize = 64;

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            expect_extra: Vec::new(),
            allow_unknown: false,
            reorder_window: DEFAULT_REORDER_WINDOW,
            allow_reorder: false,
        }
    }
}

/// The kind of a difference between G and Q.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// Same direction, address and width, different value.
    Mismatched,
    /// In Q but not in G: the tracer missed it.
    Missing,
    /// In G but not in Q.
    Extra,
    /// A guest UNKNOWN paired with a QEMU access at the same address.
    Unknown,
    /// An extra guest write that `--expect-extra` allows.
    ExpectedExtra,
    /// An access that is in both, identical, but not in the same order: an
    /// extra and a missing access that are the same and close in Q.
    Reordered,
}

impl DiffKind {
    pub fn name(self) -> &'static str {
        match self {
            DiffKind::Mismatched => "mismatched",
            DiffKind::Missing => "missing",
            DiffKind::Extra => "extra",
            DiffKind::Unknown => "unknown",
            DiffKind::ExpectedExtra => "expected-extra",
            DiffKind::Reordered => "reordered",
        }
    }
}

/// How QEMU logged the access a guest access is paired with. QEMU adjusts
/// each access to the access sizes the device model implements
/// (`access_with_adjusted_size` in its memory.c) before logging it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Shape {
    /// As one access of the same width.
    #[default]
    Same,
    /// As `pieces` narrower accesses at ascending consecutive addresses,
    /// one after the other in the log (the model's maximum access size is
    /// smaller). The QEMU side of the pair is their little-endian
    /// combination, with the line of the first piece.
    Split { pieces: u8 },
    /// As one wider access that contains it (the model's minimum access
    /// size is larger). The QEMU side of the pair is that wider access.
    Widened,
}

/// One difference, with the access of each side that it involves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Difference {
    pub kind: DiffKind,
    pub guest: Option<Access>,
    pub qemu: Option<Access>,
    /// How QEMU logged the guest access, when both sides are present.
    pub shape: Shape,
    /// Whether it makes the check fail.
    pub failing: bool,
}

impl Difference {
    /// The address involved (the guest's if there is a guest access).
    pub fn addr(&self) -> u64 {
        self.guest.or(self.qemu).map_or(0, |a| a.addr)
    }
}

/// Counts of one comparison. Every guest access is exactly one of matched,
/// mismatched, unknown, reordered, extra or expected-extra; every QEMU
/// access is part of exactly one matched, mismatched, unknown or reordered
/// pair, or missing. A pair is one guest access and one QEMU access, except
/// that a guest access QEMU split (see [`Shape::Split`]) pairs with all its
/// pieces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub guest: usize,
    pub qemu: usize,
    pub matched: usize,
    /// Of `matched`: guest accesses QEMU logged as several narrower ones.
    pub split: usize,
    /// Of `matched`: guest accesses QEMU logged as one wider access.
    pub widened: usize,
    pub mismatched: usize,
    pub missing: usize,
    pub extra: usize,
    /// Pairs of an extra and a missing access that are identical and close
    /// (see [`CompareOptions::reorder_window`]): each pair counts once here
    /// and not as missing or extra.
    pub reordered: usize,
    pub unknown: usize,
    pub expected_extra: usize,
}

/// PASS or FAIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
        })
    }
}

/// The result of [`compare`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub counts: Counts,
    /// All differences (failing or not), in alignment order.
    pub differences: Vec<Difference>,
    pub verdict: Verdict,
}

impl Comparison {
    /// The differences that make the check fail.
    pub fn failures(&self) -> impl Iterator<Item = &Difference> {
        self.differences.iter().filter(|d| d.failing)
    }
}

/// (direction, address, width) of an access.
type Key = (AccessKind, u64, u8);

/// Aligns the guest accesses G with the QEMU accesses Q, in order.
///
/// QEMU logs an access after adjusting it to the access sizes the device
/// model implements, so one guest access can appear in Q as several
/// narrower accesses ([`Shape::Split`]) or as one wider one
/// ([`Shape::Widened`]). The alignment therefore runs on units: a guest
/// access, or, where Q shows that QEMU splits accesses of that direction,
/// address and width, the pieces QEMU would log for
/// it. Separate narrow guest accesses stay separate units, so they pair one
/// to one with QEMU's.
///
/// First a longest common subsequence of identical accesses (direction,
/// address, width, value; or a narrower guest access and the wider QEMU
/// access it was widened to, with equal bytes) anchors the alignment; then
/// within each gap between anchors a second one pairs accesses at the same
/// place (same direction, address and width, a widening of one another, or
/// a guest UNKNOWN at the same address): those are mismatched (or unknown).
/// What stays unpaired is extra (G) or missing (Q). Last, the pieces of a
/// split guest access are put back together: if they all paired with QEMU
/// accesses that follow one another in Q, the guest access matches (or
/// mismatches) their combination; otherwise it is extra and its partners
/// missing. Finally an extra and a missing access that are identical and at
/// most [`CompareOptions::reorder_window`] positions of Q apart become one
/// reordered access, nearest pairs first.
pub fn compare(
    target: &Target,
    guest: &[Access],
    qemu: &[Access],
    opts: &CompareOptions,
) -> Comparison {
    let mut widths = split_widths(guest, qemu);
    let widen = widenable(guest, qemu);
    let mut units = guest_units(guest, &widths, &widen);
    let mut steps = align(&units, qemu);
    // A split guest access whose pieces did not pair with QEMU accesses that
    // follow one another is no match; its pieces may hold QEMU accesses that
    // belong to other guest accesses, so align again with it whole.
    for _ in 0..MAX_REALIGN {
        let partner = partners(units.len(), &steps);
        let mut failed = false;
        for (first, u) in units.iter().enumerate() {
            if u.pieces > 1 && u.piece == 0 && split_run(&partner, first, u.pieces).is_none() {
                widths[u.guest] = 0;
                failed = true;
            }
        }
        if !failed {
            break;
        }
        units = guest_units(guest, &widths, &widen);
        steps = align(&units, qemu);
    }
    let mut run = Aligner {
        target,
        guest,
        qemu,
        units: &units,
        opts,
        counts: Counts {
            guest: guest.len(),
            qemu: qemu.len(),
            ..Counts::default()
        },
        differences: Vec::new(),
        positions: Vec::new(),
        next_q: 0,
    };
    run.resolve(&steps);
    run.reorder();
    let counts = run.counts;
    let failing = run.differences.iter().any(|d| d.failing);
    let verdict = if failing || (counts.guest == 0 && counts.qemu == 0) {
        Verdict::Fail
    } else {
        Verdict::Pass
    };
    Comparison {
        counts,
        differences: run.differences,
        verdict,
    }
}

/// One item of the guest side of the alignment: a guest access, or one
/// piece of a guest access that QEMU splits.
#[derive(Debug, Clone, Copy)]
struct Unit {
    /// The access, or the piece: its address, width and bytes of the value.
    acc: Access,
    /// Index of the guest access.
    guest: usize,
    /// Which piece, from 0, and of how many (1: not split).
    piece: u8,
    pieces: u8,
    /// Whether QEMU may have widened it: Q never has it at its own width.
    widen: bool,
}

impl Unit {
    /// Identical, or widened with equal bytes: an anchor of the alignment.
    fn matches(&self, q: &Access) -> bool {
        self.acc.same_access(q) || (self.widen && self.acc.widened_equal(q))
    }

    /// At the same place: can be reported as one access that differs.
    fn same_place(&self, q: &Access) -> bool {
        self.acc.same_place(q) || (self.widen && self.acc.widened_offset(q).is_some())
    }
}

/// For each guest access, the width of the pieces QEMU splits it into, or 0.
///
/// QEMU splits every access wider than the region's maximum access size,
/// so the guest accesses of one direction, address and width are either all
/// split or none. A key (direction, address, width W) counts as split into
/// pieces of width w when Q never logs it whole and has more runs of W / w
/// consecutive accesses of width w at ascending addresses from that address
/// than G has (those in G are separate narrow guest accesses, which QEMU
/// logs as they are). Of several piece widths, the one with the most such
/// runs wins.
fn split_widths(guest: &[Access], qemu: &[Access]) -> Vec<u8> {
    let none = || vec![0; guest.len()];
    // The wide guest keys, and whether Q logs them whole.
    let mut whole: HashMap<Key, bool> = guest
        .iter()
        .filter(|a| a.kind != AccessKind::Unknown && a.width >= 2)
        .map(|a| (a.key(), false))
        .collect();
    if whole.is_empty() {
        return none();
    }
    for q in qemu {
        if let Some(seen) = whole.get_mut(&q.key()) {
            *seen = true;
        }
    }
    whole.retain(|_, seen| !*seen);
    if whole.is_empty() {
        return none();
    }
    let mut surplus: HashMap<(Key, u8), isize> = HashMap::new();
    count_runs(qemu, 1, &whole, &mut surplus);
    count_runs(guest, -1, &whole, &mut surplus);
    let mut best: HashMap<Key, (isize, u8)> = HashMap::new();
    for ((key, w), n) in surplus {
        if n <= 0 {
            continue;
        }
        let e = best.entry(key).or_insert((n, w));
        if n > e.0 || (n == e.0 && w < e.1) {
            *e = (n, w);
        }
    }
    guest
        .iter()
        .map(|a| best.get(&a.key()).map_or(0, |&(_, w)| w))
        .collect()
}

/// Adds `sign` to `counts[((dir, a, W), w)]` for every run in `seq` of W / w
/// (at least 2) accesses of direction dir and width w at a, a + w, ...
/// whose key (dir, a, W) is in `wanted`.
fn count_runs(
    seq: &[Access],
    sign: isize,
    wanted: &HashMap<Key, bool>,
    counts: &mut HashMap<(Key, u8), isize>,
) {
    for (j, a) in seq.iter().enumerate() {
        let w = usize::from(a.width);
        if a.kind == AccessKind::Unknown || w == 0 || w >= 8 {
            continue;
        }
        // How many accesses continue the run from `a`, up to 8 bytes.
        let mut k = 1;
        while k * w < 8
            && seq.get(j + k).is_some_and(|b| {
                b.kind == a.kind
                    && b.width == a.width
                    && b.addr == a.addr.wrapping_add((k * w) as u64)
            })
        {
            k += 1;
        }
        for total in [2usize, 4, 8] {
            if total > w && total % w == 0 && total / w <= k {
                let key = (a.kind, a.addr, total as u8);
                if wanted.contains_key(&key) {
                    *counts.entry((key, a.width)).or_default() += sign;
                }
            }
        }
    }
}

/// How many times [`compare`] aligns again after splits that did not pair.
const MAX_REALIGN: usize = 2;

/// For each guest access, whether QEMU may have widened it: it is narrower
/// than 8 bytes and Q never logs its direction, address and width as they
/// are (QEMU widens all accesses narrower than the region's minimum access
/// size, or none).
fn widenable(guest: &[Access], qemu: &[Access]) -> Vec<bool> {
    let mut logged: HashMap<Key, bool> = guest
        .iter()
        .filter(|a| a.kind != AccessKind::Unknown && a.width < 8)
        .map(|a| (a.key(), false))
        .collect();
    for q in qemu {
        if let Some(seen) = logged.get_mut(&q.key()) {
            *seen = true;
        }
    }
    guest
        .iter()
        .map(|g| logged.get(&g.key()) == Some(&false))
        .collect()
}

/// The guest side of the alignment: each guest access whole, or split into
/// pieces of `widths[i]` bytes (see [`compare`]).
fn guest_units(guest: &[Access], widths: &[u8], widen: &[bool]) -> Vec<Unit> {
    let mut units = Vec::with_capacity(guest.len());
    for (i, g) in guest.iter().enumerate() {
        let w = widths[i];
        if w == 0 {
            units.push(Unit {
                acc: *g,
                guest: i,
                piece: 0,
                pieces: 1,
                widen: widen[i],
            });
            continue;
        }
        let pieces = g.width / w;
        for p in 0..pieces {
            let off = u64::from(p) * u64::from(w);
            units.push(Unit {
                acc: Access {
                    addr: g.addr.wrapping_add(off),
                    width: w,
                    value: qemu::mask(g.value >> (8 * off), w),
                    ..*g
                },
                guest: i,
                piece: p,
                pieces,
                widen: false,
            });
        }
    }
    units
}

/// One step of an alignment of units with QEMU accesses, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Pair { unit: usize, qemu: usize },
    Extra(usize),
    Missing(usize),
}

/// The QEMU access each unit is paired with in `steps`.
fn partners(units: usize, steps: &[Step]) -> Vec<Option<usize>> {
    let mut partner = vec![None; units];
    for step in steps {
        if let Step::Pair { unit, qemu } = *step {
            partner[unit] = Some(qemu);
        }
    }
    partner
}

/// The first of the QEMU accesses the `pieces` units from `first` paired
/// with, if they paired with QEMU accesses that follow one another.
fn split_run(partner: &[Option<usize>], first: usize, pieces: u8) -> Option<usize> {
    let j0 = partner[first]?;
    (1..usize::from(pieces))
        .all(|p| partner[first + p] == Some(j0 + p))
        .then_some(j0)
}

/// Aligns `units` with `qemu`: anchors, then same-place pairs in the gaps.
fn align(units: &[Unit], qemu: &[Access]) -> Vec<Step> {
    let mut steps = Vec::with_capacity(units.len().max(qemu.len()));
    let anchors = diff::lcs(units.len(), qemu.len(), |i, j| units[i].matches(&qemu[j]));
    let (mut ui, mut qj) = (0, 0);
    for (ai, aj) in anchors
        .into_iter()
        .chain(std::iter::once((units.len(), qemu.len())))
    {
        gap(units, qemu, ui..ai, qj..aj, &mut steps);
        if ai < units.len() {
            steps.push(Step::Pair { unit: ai, qemu: aj });
        }
        ui = ai + 1;
        qj = aj + 1;
    }
    steps
}

/// Aligns `units[us]` with `qemu[qs]`, which have no identical accesses in
/// common, by place.
fn gap(
    units: &[Unit],
    qemu: &[Access],
    us: std::ops::Range<usize>,
    qs: std::ops::Range<usize>,
    steps: &mut Vec<Step>,
) {
    let (u, q) = (&units[us.clone()], &qemu[qs.clone()]);
    let pairs = if u.is_empty() || q.is_empty() {
        Vec::new()
    } else {
        diff::lcs(u.len(), q.len(), |i, j| u[i].same_place(&q[j]))
    };
    let (mut i0, mut j0) = (us.start, qs.start);
    for (pi, pj) in pairs.into_iter().chain(std::iter::once((u.len(), q.len()))) {
        let (pi, pj) = (us.start + pi, qs.start + pj);
        steps.extend((i0..pi).map(Step::Extra));
        steps.extend((j0..pj).map(Step::Missing));
        if pi < us.end {
            steps.push(Step::Pair { unit: pi, qemu: pj });
        }
        i0 = pi + 1;
        j0 = pj + 1;
    }
}

/// Turns the steps of an alignment into counts and differences.
struct Aligner<'a> {
    target: &'a Target,
    guest: &'a [Access],
    qemu: &'a [Access],
    units: &'a [Unit],
    opts: &'a CompareOptions,
    counts: Counts,
    differences: Vec<Difference>,
    /// For each difference, its position in Q: the index of its QEMU access,
    /// or for an extra the index of the QEMU access that follows it.
    positions: Vec<usize>,
    /// The index of the QEMU access after the last one resolved.
    next_q: usize,
}

impl Aligner<'_> {
    fn resolve(&mut self, steps: &[Step]) {
        let partner = partners(self.units.len(), steps);
        for step in steps {
            let (unit, paired) = match *step {
                Step::Missing(j) => {
                    self.next_q = j;
                    self.missing(self.qemu[j]);
                    self.next_q = j + 1;
                    continue;
                }
                Step::Extra(unit) => (unit, None),
                Step::Pair { unit, qemu } => {
                    self.next_q = qemu + 1;
                    (unit, Some(qemu))
                }
            };
            let u = self.units[unit];
            let g = self.guest[u.guest];
            if u.pieces == 1 {
                match paired {
                    Some(j) => self.pair(&u, self.qemu[j]),
                    None => self.extra(g),
                }
                continue;
            }
            // A piece of a split guest access: the pieces come in order, so
            // the first one decides for all.
            let first = unit - usize::from(u.piece);
            match split_run(&partner, first, u.pieces) {
                Some(j0) if u.piece == 0 => self.pair_split(g, j0, u.pieces),
                Some(_) => {}
                None => {
                    if u.piece == 0 {
                        self.extra(g);
                    }
                    if let Some(j) = paired {
                        self.next_q = j;
                        self.missing(self.qemu[j]);
                        self.next_q = j + 1;
                    }
                }
            }
        }
    }

    /// A guest access (not split) paired with one QEMU access.
    fn pair(&mut self, u: &Unit, q: Access) {
        let g = u.acc;
        if g.kind == AccessKind::Unknown {
            self.counts.unknown += 1;
            let failing = !self.opts.allow_unknown;
            self.push(DiffKind::Unknown, Some(g), Some(q), Shape::Same, failing);
            return;
        }
        let shape = if q.width == g.width {
            Shape::Same
        } else {
            Shape::Widened
        };
        if u.matches(&q) {
            self.counts.matched += 1;
            if shape == Shape::Widened {
                self.counts.widened += 1;
            }
        } else {
            self.counts.mismatched += 1;
            self.push(DiffKind::Mismatched, Some(g), Some(q), shape, true);
        }
    }

    /// A split guest access whose pieces paired with `qemu[j0..j0 + pieces]`.
    fn pair_split(&mut self, g: Access, j0: usize, pieces: u8) {
        let run = &self.qemu[j0..j0 + usize::from(pieces)];
        let value = run.iter().rev().fold(0u64, |v, q| {
            // Pieces are narrower than 8 bytes.
            (v << (8 * u32::from(q.width))) | q.value
        });
        let logical = Access {
            width: g.width,
            value,
            ..run[0]
        };
        if value == g.value {
            self.counts.matched += 1;
            self.counts.split += 1;
        } else {
            self.counts.mismatched += 1;
            let shape = Shape::Split { pieces };
            self.push(DiffKind::Mismatched, Some(g), Some(logical), shape, true);
        }
    }

    /// Pairs each extra with the nearest identical missing access at most
    /// `reorder_window` positions of Q away, nearest pairs first, and
    /// replaces each pair by one reordered difference where the earlier of
    /// the two was.
    ///
    /// A mismatched pair may be two reorderings that the alignment took for
    /// a changed value (two CPUs writing one register with different values
    /// in the other order): its guest half is tried as an extra and its QEMU
    /// half as a missing access.  A half that pairs becomes a reordered
    /// access; if neither does, the mismatch stays as it was.
    fn reorder(&mut self) {
        let window = self.opts.reorder_window;
        if window == 0 || self.counts.missing + self.counts.mismatched == 0 {
            return;
        }
        // (mismatch, its extra half, its missing half), by index.
        let mut halves = Vec::new();
        for i in 0..self.differences.len() {
            let d = self.differences[i];
            if d.kind != DiffKind::Mismatched || d.shape != Shape::Same {
                continue;
            }
            let pos = self.positions[i];
            let half = |kind, guest, qemu| Difference {
                kind,
                guest,
                qemu,
                shape: Shape::Same,
                failing: true,
            };
            self.differences.push(half(DiffKind::Extra, d.guest, None));
            self.differences.push(half(DiffKind::Missing, None, d.qemu));
            self.positions.extend([pos, pos]);
            let n = self.differences.len();
            halves.push((i, n - 2, n - 1));
            self.counts.extra += 1;
            self.counts.missing += 1;
        }
        if self.counts.missing == 0 || self.counts.extra == 0 {
            return;
        }
        let same = |d: &Difference| {
            d.guest
                .or(d.qemu)
                .map(|a| (a.kind, a.addr, a.width, a.value))
        };
        let mut missing: HashMap<_, Vec<usize>> = HashMap::new();
        for (i, d) in self.differences.iter().enumerate() {
            if d.kind == DiffKind::Missing {
                if let Some(key) = same(d) {
                    missing.entry(key).or_default().push(i);
                }
            }
        }
        for ms in missing.values_mut() {
            ms.sort_by_key(|&m| self.positions[m]);
        }
        // (distance, extra, missing), by index into `differences`.
        let mut candidates = Vec::new();
        for (e, d) in self.differences.iter().enumerate() {
            let unknown = d.guest.is_some_and(|g| g.kind == AccessKind::Unknown);
            if d.kind != DiffKind::Extra || unknown {
                continue;
            }
            let Some(ms) = same(d).and_then(|key| missing.get(&key)) else {
                continue;
            };
            let pos = self.positions[e];
            // `ms` is in Q order: only those within the window.
            let from = ms.partition_point(|&m| self.positions[m].saturating_add(window) < pos);
            for &m in &ms[from..] {
                let dist = self.positions[m].abs_diff(pos);
                if self.positions[m] > pos.saturating_add(window) {
                    break;
                }
                candidates.push((dist, e, m));
            }
        }
        candidates.sort_unstable();
        let mut used = vec![false; self.differences.len()];
        let mut drop = vec![false; self.differences.len()];
        for (_, e, m) in candidates {
            if used[e] || used[m] {
                continue;
            }
            // The two halves of one mismatch are that mismatch.
            if halves.iter().any(|&(_, he, hm)| he == e && hm == m) {
                continue;
            }
            used[e] = true;
            used[m] = true;
            let (keep, gone) = (e.min(m), e.max(m));
            let guest = self.differences[e].guest;
            let qemu = self.differences[m].qemu;
            self.differences[keep] = Difference {
                kind: DiffKind::Reordered,
                guest,
                qemu,
                shape: Shape::Same,
                failing: !self.opts.allow_reorder,
            };
            drop[gone] = true;
            self.counts.missing -= 1;
            self.counts.extra -= 1;
            self.counts.reordered += 1;
        }
        for (i, e, m) in halves {
            if !used[e] && !used[m] {
                // Neither half was a reordering: the mismatch stands.
                drop[e] = true;
                drop[m] = true;
                self.counts.extra -= 1;
                self.counts.missing -= 1;
            } else {
                // A half that did not pair stays as an extra or missing access.
                drop[i] = true;
                self.counts.mismatched -= 1;
            }
        }
        let mut i = 0;
        self.differences.retain(|_| {
            i += 1;
            !drop[i - 1]
        });
        let mut i = 0;
        self.positions.retain(|_| {
            i += 1;
            !drop[i - 1]
        });
        // The halves were appended: back into the order of Q.
        let mut order: Vec<usize> = (0..self.differences.len()).collect();
        order.sort_by_key(|&k| self.positions[k]);
        self.differences = order.iter().map(|&k| self.differences[k]).collect();
        self.positions = order.iter().map(|&k| self.positions[k]).collect();
    }

    fn missing(&mut self, q: Access) {
        self.counts.missing += 1;
        self.push(DiffKind::Missing, None, Some(q), Shape::Same, true);
    }

    fn extra(&mut self, a: Access) {
        let expected = a.kind == AccessKind::Write
            && self.target.locate(a.addr).is_some_and(|place| {
                self.opts
                    .expect_extra
                    .iter()
                    .any(|e| e.bar == place.bar && e.offset == place.offset)
            });
        if expected {
            self.counts.expected_extra += 1;
            self.push(DiffKind::ExpectedExtra, Some(a), None, Shape::Same, false);
        } else {
            self.counts.extra += 1;
            self.push(DiffKind::Extra, Some(a), None, Shape::Same, true);
        }
    }

    fn push(
        &mut self,
        kind: DiffKind,
        guest: Option<Access>,
        qemu: Option<Access>,
        shape: Shape,
        failing: bool,
    ) {
        self.differences.push(Difference {
            kind,
            guest,
            qemu,
            shape,
            failing,
        });
        self.positions.push(self.next_q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Resource;

    const BAR0: u64 = 0xfebc_0000;

    fn e1000() -> PciDev {
        let mut resources = [Resource::default(); 7];
        resources[0] = Resource {
            raw_start: BAR0,
            size: 0x20000,
        };
        resources[1] = Resource {
            raw_start: 0xc041,
            size: 0x40,
        };
        PciDev {
            bus: 0,
            devfn: 0x18,
            vendor: 0x8086,
            device: 0x100e,
            irq: 11,
            resources,
            driver: Some("e1000".to_string()),
        }
    }

    fn target() -> Target {
        let sel: DeviceSelector = "8086:100e".parse().unwrap();
        Target::select(&[(2, e1000())], &sel).unwrap()
    }

    fn acc(line: u64, kind: AccessKind, off: u64, value: u64) -> Access {
        Access {
            line,
            kind,
            addr: BAR0 + off,
            width: if kind == AccessKind::Unknown { 0 } else { 4 },
            value,
        }
    }

    fn r(off: u64, value: u64) -> Access {
        acc(0, AccessKind::Read, off, value)
    }

    fn w(off: u64, value: u64) -> Access {
        acc(0, AccessKind::Write, off, value)
    }

    /// A plausible sequence of `n` accesses with distinct neighbours.
    fn sequence(n: usize) -> Vec<Access> {
        (0..n as u64)
            .map(|i| {
                let mut a = if i % 3 == 0 {
                    w(i * 4, i)
                } else {
                    r(i * 4, !i)
                };
                a.value = qemu::mask(a.value, 4);
                a.line = i + 10;
                a
            })
            .collect()
    }

    fn run(g: &[Access], q: &[Access]) -> Comparison {
        compare(&target(), g, q, &CompareOptions::default())
    }

    fn counts(c: &Comparison) -> [usize; 8] {
        let c = c.counts;
        [
            c.guest,
            c.qemu,
            c.matched,
            c.mismatched,
            c.missing,
            c.extra,
            c.unknown,
            c.expected_extra,
        ]
    }

    #[test]
    fn selectors_parse() {
        assert_eq!(
            "8086:100e".parse::<DeviceSelector>().unwrap(),
            DeviceSelector::Ids {
                vendor: 0x8086,
                device: 0x100e
            }
        );
        let bdf = DeviceSelector::Bdf {
            bus: 0,
            slot: 3,
            function: 0,
        };
        assert_eq!("00:03.0".parse::<DeviceSelector>().unwrap(), bdf);
        assert_eq!("0000:00:03.0".parse::<DeviceSelector>().unwrap(), bdf);
        assert_eq!(bdf.to_string(), "00:03.0");
        for bad in [
            "8086",
            "8086:100e:1",
            "zz:100e",
            "00:20.0",
            "00:03.8",
            "",
            "1:2:3:4.0",
        ] {
            assert!(bad.parse::<DeviceSelector>().is_err(), "{bad}");
        }
        assert!(bdf.matches(&e1000()));
        assert_eq!(
            "bar0+0x3818".parse::<ExpectExtra>().unwrap(),
            ExpectExtra {
                bar: 0,
                offset: 0x3818
            }
        );
        for bad in ["bar0", "bar7+0x0", "bar0+10", "foo0+0x1", "bar0+0xg"] {
            assert!(bad.parse::<ExpectExtra>().is_err(), "{bad}");
        }
    }

    #[test]
    fn device_selection_and_bars() {
        let t = target();
        assert_eq!(t.bars.len(), 1, "the I/O BAR is not a memory range");
        assert_eq!(t.locate(BAR0 + 0x1fffc).map(|p| p.offset), Some(0x1fffc));
        assert_eq!(t.locate(BAR0 + 0x20000), None);
        assert_eq!(t.locate(0xc040), None);
        assert_eq!(t.describe(BAR0 + 8), "bar0+0x8");
        assert_eq!(t.describe(0x1000), "0x1000");
        let err = Target::select(&[(2, e1000())], &"1234:1111".parse().unwrap()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("--device 1234:1111"), "{msg}");
        assert!(msg.contains("8086:100e 00:03.0 (e1000, line 2)"), "{msg}");
        let err = Target::select(&[], &"1234:1111".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("no PCIDEV lines"));
    }

    #[test]
    fn identical_sequences_pass() {
        let s = sequence(50);
        let c = run(&s, &s);
        assert_eq!(counts(&c), [50, 50, 50, 0, 0, 0, 0, 0]);
        assert_eq!(c.verdict, Verdict::Pass);
        assert!(c.differences.is_empty());
    }

    #[test]
    fn nothing_to_compare_fails() {
        let c = run(&[], &[]);
        assert_eq!(c.verdict, Verdict::Fail);
    }

    #[test]
    fn one_access_missing() {
        let q = sequence(30);
        let mut g = q.clone();
        g.remove(12);
        let c = run(&g, &q);
        assert_eq!(counts(&c), [29, 30, 29, 0, 1, 0, 0, 0]);
        assert_eq!(c.verdict, Verdict::Fail);
        assert_eq!(c.differences.len(), 1);
        assert_eq!(c.differences[0].kind, DiffKind::Missing);
        assert_eq!(c.differences[0].qemu, Some(q[12]));
    }

    #[test]
    fn one_access_extra() {
        let q = sequence(30);
        let mut g = q.clone();
        g.insert(7, g[7]);
        let c = run(&g, &q);
        assert_eq!(counts(&c), [31, 30, 30, 0, 0, 1, 0, 0]);
        assert_eq!(c.verdict, Verdict::Fail);
        assert_eq!(c.differences[0].kind, DiffKind::Extra);
    }

    #[test]
    fn one_wrong_value() {
        let q = sequence(30);
        let mut g = q.clone();
        g[20].value ^= 0x100;
        let c = run(&g, &q);
        assert_eq!(counts(&c), [30, 30, 29, 1, 0, 0, 0, 0]);
        let d = c.differences[0];
        assert_eq!(d.kind, DiffKind::Mismatched);
        assert_eq!((d.guest, d.qemu), (Some(g[20]), Some(q[20])));
        assert_eq!(c.verdict, Verdict::Fail);
    }

    #[test]
    fn same_place_wrong_values_pair_in_order() {
        // Polling a status register: the tracer missed the first read, the
        // others must still match rather than shift into mismatches.
        let q = vec![r(8, 0), r(8, 1), r(8, 1), r(8, 2), w(0, 5)];
        let g = vec![r(8, 1), r(8, 1), r(8, 2), w(0, 5)];
        let c = run(&g, &q);
        assert_eq!(counts(&c), [4, 5, 4, 0, 1, 0, 0, 0]);
        // A width difference is not a mismatch but an extra plus a missing
        // (a guest access wider than one QEMU access is no widening, and one
        // QEMU access is no split).
        let mut g2 = q.clone();
        g2[4].width = 8;
        let c = run(&g2, &q);
        assert_eq!(counts(&c), [5, 5, 4, 0, 1, 1, 0, 0]);
    }

    #[test]
    fn unknown_pairs_with_any_access_at_the_same_address() {
        let q = sequence(10);
        let mut g = q.clone();
        g[4] = acc(14, AccessKind::Unknown, q[4].addr - BAR0, 0xf3a548);
        let c = run(&g, &q);
        assert_eq!(counts(&c), [10, 10, 9, 0, 0, 0, 1, 0]);
        assert_eq!(c.verdict, Verdict::Fail);
        let allow = CompareOptions {
            allow_unknown: true,
            ..CompareOptions::default()
        };
        let c = compare(&target(), &g, &q, &allow);
        assert_eq!(c.verdict, Verdict::Pass);
        assert_eq!(c.counts.unknown, 1);

        // An UNKNOWN elsewhere has nothing to pair with: extra (and the QEMU
        // access it displaced is missing).
        g[4].addr += 0x1000;
        let c = compare(&target(), &g, &q, &allow);
        assert_eq!(counts(&c), [10, 10, 9, 0, 1, 1, 0, 0]);
        assert_eq!(c.verdict, Verdict::Fail);
    }

    #[test]
    fn expected_extra_writes() {
        let q = sequence(12);
        let mut g = q.clone();
        g.insert(5, w(0x3818, 7));
        g.insert(9, w(0x3818, 8));
        let opts = CompareOptions {
            expect_extra: vec!["bar0+0x3818".parse().unwrap()],
            ..CompareOptions::default()
        };
        let c = compare(&target(), &g, &q, &opts);
        assert_eq!(counts(&c), [14, 12, 12, 0, 0, 0, 0, 2]);
        assert_eq!(c.verdict, Verdict::Pass);
        // Only writes are expected: a read there is a plain extra.
        g.insert(2, r(0x3818, 0));
        let c = compare(&target(), &g, &q, &opts);
        assert_eq!(c.counts.extra, 1);
        assert_eq!(c.verdict, Verdict::Fail);
        // Without the option they are extras.
        let c = run(&g, &q);
        assert_eq!(c.counts.extra, 3);
    }

    #[test]
    fn counts_add_up_on_a_messy_alignment() {
        let q = sequence(200);
        let mut g = q.clone();
        g.remove(150);
        g[100].value = 12345;
        g.insert(50, w(0x7000, 1));
        g.remove(10);
        g.remove(10);
        let c = run(&g, &q);
        let k = c.counts;
        assert_eq!(
            k.matched + k.mismatched + k.unknown + k.extra + k.expected_extra,
            k.guest
        );
        assert_eq!(k.matched + k.mismatched + k.unknown + k.missing, k.qemu);
        assert_eq!((k.missing, k.extra, k.mismatched), (3, 1, 1));
    }

    #[test]
    fn swapped_accesses_are_one_reordered_pair() {
        // Two CPUs: the trace has 5 and 6 the other way round. The LCS
        // matches one of them; the other is a missing plus an extra of the
        // same access, which count as one reordered pair (pairs are counted,
        // not accesses).
        let q = numbered(sequence(20), 100);
        let mut g = sequence(20);
        g.swap(5, 6);
        let c = run(&g, &q);
        let k = c.counts;
        assert_eq!(counts(&c), [20, 20, 19, 0, 0, 0, 0, 0]);
        assert_eq!(k.reordered, 1);
        assert_eq!(c.verdict, Verdict::Fail, "order is part of the oracle");
        assert_eq!(c.differences.len(), 1);
        let d = c.differences[0];
        assert_eq!(d.kind, DiffKind::Reordered);
        assert!(d.failing);
        let (ga, qa) = (d.guest.unwrap(), d.qemu.unwrap());
        assert!(ga.same_access(&qa));
        assert_ne!(ga.line, qa.line);

        let allow = CompareOptions {
            allow_reorder: true,
            ..CompareOptions::default()
        };
        let c = compare(&target(), &g, &q, &allow);
        assert_eq!(c.counts.reordered, 1);
        assert_eq!(c.verdict, Verdict::Pass);
        assert!(!c.differences[0].failing);

        // Window 0 disables it: a missing and an extra as before.
        let off = CompareOptions {
            reorder_window: 0,
            ..CompareOptions::default()
        };
        let c = compare(&target(), &g, &q, &off);
        assert_eq!(counts(&c), [20, 20, 19, 0, 1, 1, 0, 0]);
        assert_eq!(c.counts.reordered, 0);
    }

    #[test]
    fn a_mismatch_of_two_reordered_writes_is_two_reorderings() {
        // Two CPUs write one register, 3 then 4; the trace has both late,
        // 3 next to where QEMU has 4: the alignment takes that for a
        // changed value, with the 3 missing and the 4 extra elsewhere.
        let s = sequence(30);
        let mut q = s.clone();
        q.insert(20, w(0x3818, 4));
        q.insert(10, w(0x3818, 3));
        let q = numbered(q, 100);
        let mut g = s.clone();
        g.insert(21, w(0x3818, 4));
        g.insert(20, w(0x3818, 3));
        let c = run(&g, &q);
        let k = c.counts;
        assert_eq!((k.mismatched, k.missing, k.extra), (0, 0, 0));
        assert_eq!((k.matched, k.reordered), (30, 2));
        assert!(c.differences.iter().all(|d| d.kind == DiffKind::Reordered));
        assert!(c
            .differences
            .windows(2)
            .all(|p| p[0].qemu.unwrap().line <= p[1].qemu.unwrap().line));
        let allow = CompareOptions {
            allow_reorder: true,
            ..CompareOptions::default()
        };
        assert_eq!(compare(&target(), &g, &q, &allow).verdict, Verdict::Pass);

        // A changed value with nothing to pair with stays a mismatch.
        let mut g = s.clone();
        g[12].value ^= 0x10;
        let c = run(&g, &s);
        assert_eq!(
            (c.counts.mismatched, c.counts.missing, c.counts.extra),
            (1, 0, 0)
        );
        assert_eq!(c.differences.len(), 1);
        assert_eq!(c.differences[0].kind, DiffKind::Mismatched);
    }

    #[test]
    fn reordering_needs_identical_accesses_within_the_window() {
        // An access the trace has 101 positions of Q late: farther than the
        // default window of 64, it stays missing and extra.
        let q = sequence(200);
        let mut g = q.clone();
        let late = g.remove(50);
        g.insert(150, late);
        let c = run(&g, &q);
        assert_eq!(counts(&c), [200, 200, 199, 0, 1, 1, 0, 0]);
        assert_eq!(c.counts.reordered, 0);
        let wide = CompareOptions {
            reorder_window: 101,
            ..CompareOptions::default()
        };
        let c = compare(&target(), &g, &q, &wide);
        assert_eq!(counts(&c), [200, 200, 199, 0, 0, 0, 0, 0]);
        assert_eq!(c.counts.reordered, 1);

        // Another value is no reordering, nor is another width.
        let mut g = q.clone();
        g.swap(5, 6);
        g[6].value ^= 1;
        let c = run(&g, &q);
        assert_eq!(c.counts.reordered, 0);
        assert_eq!((c.counts.missing, c.counts.extra), (1, 1));

        // Nearest first: of two identical missing accesses, the extra pairs
        // with the closer one; the other stays missing.
        let a = w(0x3818, 0x20);
        let mut q = sequence(40);
        q.insert(10, a);
        q.insert(30, a);
        let q = numbered(q, 100);
        let mut g = sequence(40);
        g.insert(25, a);
        let c = run(&g, &q);
        let k = c.counts;
        assert_eq!((k.matched, k.reordered, k.missing, k.extra), (40, 1, 1, 0));
        let d = c
            .failures()
            .find(|d| d.kind == DiffKind::Reordered)
            .unwrap();
        assert_eq!(d.qemu.unwrap().line, 130);
        let m = c.failures().find(|d| d.kind == DiffKind::Missing).unwrap();
        assert_eq!(m.qemu.unwrap().line, 110);
    }

    #[test]
    fn large_nearly_identical_sequences_are_fast() {
        let q = sequence(50_000);
        let mut g = q.clone();
        g.remove(40_000);
        g[25_000].value ^= 1;
        g.insert(100, w(0x10, 0));
        let start = std::time::Instant::now();
        let c = run(&g, &q);
        assert_eq!(counts(&c), [50_000, 50_000, 49_998, 1, 1, 1, 0, 0]);
        // Generous even for an unoptimised build on a busy machine.
        assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
    }

    /// An access of any width, on line 0.
    fn at(kind: AccessKind, off: u64, width: u8, value: u64) -> Access {
        Access {
            line: 0,
            kind,
            addr: BAR0 + off,
            width,
            value,
        }
    }

    fn rd(off: u64, width: u8, value: u64) -> Access {
        at(AccessKind::Read, off, width, value)
    }

    fn wr(off: u64, width: u8, value: u64) -> Access {
        at(AccessKind::Write, off, width, value)
    }

    /// Numbers the lines from `first`.
    fn numbered(mut v: Vec<Access>, first: u64) -> Vec<Access> {
        for (i, a) in v.iter_mut().enumerate() {
            a.line = first + i as u64;
        }
        v
    }

    /// The pieces QEMU logs for `a` when it splits it into accesses of
    /// `width` bytes.
    fn pieces(a: Access, width: u8) -> Vec<Access> {
        (0..a.width / width)
            .map(|p| {
                let off = u64::from(p) * u64::from(width);
                Access {
                    addr: a.addr + off,
                    width,
                    value: qemu::mask(a.value >> (8 * off), width),
                    ..a
                }
            })
            .collect()
    }

    fn split_and_widened(c: &Comparison) -> (usize, usize) {
        (c.counts.split, c.counts.widened)
    }

    #[test]
    fn split_reads_match_one_guest_access() {
        // pci-testdev's mmio region implements 1-byte accesses only: QEMU
        // logs the driver's 4-byte reads as four 1-byte reads.
        let g = numbered(
            vec![
                wr(0, 1, 0),
                rd(4, 4, 0x800),
                rd(8, 1, 0xfa),
                wr(0x800, 1, 0xfa),
                rd(0xc, 4, 1),
                wr(0, 1, 0),
            ],
            14017,
        );
        let mut q = vec![g[0]];
        q.extend(pieces(g[1], 1));
        q.extend([g[2], g[3]]);
        q.extend(pieces(g[4], 1));
        q.push(g[5]);
        let q = numbered(q, 206522);
        assert_eq!(
            q[1..5].iter().map(|a| a.value).collect::<Vec<_>>(),
            [0, 8, 0, 0]
        );
        let c = run(&g, &q);
        assert_eq!(counts(&c), [6, 12, 6, 0, 0, 0, 0, 0]);
        assert_eq!(split_and_widened(&c), (2, 0));
        assert!(c.differences.is_empty(), "{:?}", c.differences);
        assert_eq!(c.verdict, Verdict::Pass);
    }

    #[test]
    fn split_writes_carry_little_endian_slices() {
        let g = vec![wr(0x10, 4, 0x1122_3344), rd(0x14, 4, 7)];
        let mut q = pieces(g[0], 1);
        assert_eq!(q[0].value, 0x44);
        assert_eq!(q[3].value, 0x11);
        q.push(g[1]);
        let c = run(&g, &q);
        assert_eq!(counts(&c), [2, 5, 2, 0, 0, 0, 0, 0]);
        assert_eq!(split_and_widened(&c), (1, 0));

        // The same pieces in descending order are not that write.
        let mut rev = q.clone();
        rev[..4].reverse();
        let c = run(&g, &rev);
        assert_eq!(c.counts.split, 0);
        assert_eq!(c.verdict, Verdict::Fail);
    }

    #[test]
    fn eight_byte_write_split_into_two_four_byte_writes() {
        // A region with a maximum access size of 4; the guest also writes
        // the two halves separately, which QEMU logs as they are.
        let g = numbered(
            vec![
                wr(0x20, 4, 0x5566_7788),
                wr(0x24, 4, 0x1122_3344),
                wr(0x20, 8, 0x1122_3344_5566_7788),
                rd(0x28, 4, 1),
            ],
            10,
        );
        let mut q = vec![g[0], g[1]];
        q.extend(pieces(g[2], 4));
        q.push(g[3]);
        let q = numbered(q, 100);
        let c = run(&g, &q);
        assert_eq!(counts(&c), [4, 5, 4, 0, 0, 0, 0, 0]);
        assert_eq!(split_and_widened(&c), (1, 0));
        assert_eq!(c.verdict, Verdict::Pass);

        // One half wrong: one mismatch against the combination, reported
        // with the first piece's line.
        let mut bad = q.clone();
        bad[3].value = 0x1122_3345;
        let c = run(&g, &bad);
        assert_eq!(counts(&c), [4, 5, 3, 1, 0, 0, 0, 0]);
        let d = c.differences[0];
        assert_eq!(d.kind, DiffKind::Mismatched);
        assert_eq!(d.shape, Shape::Split { pieces: 2 });
        assert_eq!(d.guest, Some(g[2]));
        let qa = d.qemu.unwrap();
        assert_eq!((qa.line, qa.addr, qa.width), (102, BAR0 + 0x20, 8));
        assert_eq!(qa.value, 0x1122_3345_5566_7788);
    }

    #[test]
    fn narrow_access_matches_the_wider_access_it_was_widened_to() {
        // A region with a minimum access size of 4: a 1-byte read at +5 is
        // logged as a 4-byte read at +4 (the guest's byte is byte 1).
        let g = vec![rd(5, 1, 0x56), rd(0x16, 2, 0x1234), rd(8, 4, 3)];
        let q = vec![rd(4, 4, 0x1234_5678), rd(0x14, 4, 0x1234_0000), g[2]];
        let c = run(&g, &q);
        assert_eq!(counts(&c), [3, 3, 3, 0, 0, 0, 0, 0]);
        assert_eq!(split_and_widened(&c), (0, 2));
        assert_eq!(c.verdict, Verdict::Pass);

        // QEMU 7.2 keeps the guest's address: a 4-byte read at +5 whose low
        // byte is the guest's.
        let c = run(&g[..1], &[rd(5, 4, 0xabcd_ef56)]);
        assert_eq!(split_and_widened(&c), (0, 1));
        assert_eq!(c.counts.matched, 1);

        // Other bytes: a mismatch, reported with QEMU's wider access.
        let mut bad = g.clone();
        bad[0].value = 0x57;
        let c = run(&bad, &q);
        assert_eq!(counts(&c), [3, 3, 2, 1, 0, 0, 0, 0]);
        let d = c.differences[0];
        assert_eq!(d.shape, Shape::Widened);
        assert_eq!(d.qemu, Some(q[0]));
        assert_eq!(bad[0].widened_value(&q[0]), Some(0x56));

        // Not a widening: another direction, or a QEMU access that does not
        // contain the guest's, or a width QEMU also logs as it is.
        let c = run(&[wr(5, 1, 0x56)], &q[..1]);
        assert_eq!(counts(&c), [1, 1, 0, 0, 1, 1, 0, 0]);
        let c = run(&[rd(3, 2, 0x56)], &q[..1]);
        assert_eq!(counts(&c), [1, 1, 0, 0, 1, 1, 0, 0]);
        let c = run(
            &[rd(4, 1, 0x78), rd(4, 1, 0x78)],
            &[rd(4, 4, 0x78), rd(4, 1, 0x78)],
        );
        assert_eq!(counts(&c), [2, 2, 1, 0, 1, 1, 0, 0]);
        assert_eq!(split_and_widened(&c), (0, 0));
    }

    #[test]
    fn widened_writes_have_the_other_bytes_zero() {
        let g = vec![wr(5, 1, 0x56)];
        let c = run(&g, &[wr(4, 4, 0x5600)]);
        assert_eq!(counts(&c), [1, 1, 1, 0, 0, 0, 0, 0]);
        assert_eq!(split_and_widened(&c), (0, 1));
        let c = run(&g, &[wr(4, 4, 0x1234_5600)]);
        assert_eq!(counts(&c), [1, 1, 0, 1, 0, 0, 0, 0]);
        assert_eq!(c.differences[0].shape, Shape::Widened);
    }

    #[test]
    fn separate_byte_accesses_are_not_merged() {
        // The guest really reads four bytes: they pair one to one, even
        // though QEMU's log looks like a split 4-byte read.
        let g = vec![rd(4, 1, 0), rd(5, 1, 8), rd(6, 1, 0), rd(7, 1, 0)];
        let c = run(&g, &g);
        assert_eq!(counts(&c), [4, 4, 4, 0, 0, 0, 0, 0]);
        assert_eq!(split_and_widened(&c), (0, 0));
        // One wrong byte is one mismatch, not a mismatched 4-byte read.
        let mut bad = g.clone();
        bad[1].value = 9;
        let c = run(&bad, &g);
        assert_eq!(counts(&c), [4, 4, 3, 1, 0, 0, 0, 0]);
        assert_eq!(c.differences[0].shape, Shape::Same);
        assert_eq!(c.differences[0].guest, Some(bad[1]));

        // Byte reads between split 4-byte reads of the same register, with
        // the same bytes: each side pairs with its own.
        let word = rd(4, 4, 0x800);
        let mut g = vec![word];
        g.extend(pieces(word, 1));
        g.push(word);
        let g = numbered(g, 1);
        let mut q = pieces(word, 1);
        q.extend(pieces(word, 1));
        q.extend(pieces(word, 1));
        let q = numbered(q, 1);
        let c = run(&g, &q);
        assert_eq!(counts(&c), [6, 12, 6, 0, 0, 0, 0, 0]);
        assert_eq!(split_and_widened(&c), (2, 0));

        // Where QEMU logs the 4-byte read as it is, nothing is split.
        let mut q = vec![word];
        q.extend(pieces(word, 1));
        q.push(word);
        let c = run(&g, &q);
        assert_eq!(counts(&c), [6, 6, 6, 0, 0, 0, 0, 0]);
        assert_eq!(split_and_widened(&c), (0, 0));
    }

    #[test]
    fn a_split_with_a_missing_piece_is_no_match() {
        let word = rd(4, 4, 0x800);
        let mut q = pieces(word, 1);
        q.remove(2);
        let c = run(&[word], &q);
        assert_eq!(counts(&c), [1, 3, 0, 0, 3, 1, 0, 0]);
        assert_eq!(c.verdict, Verdict::Fail);

        // Also where other reads show that QEMU splits it.
        let g = vec![word, word, word];
        let mut q = pieces(word, 1);
        q.extend([q[0], q[1], q[3]]);
        q.extend(pieces(word, 1));
        let c = run(&g, &q);
        assert_eq!(counts(&c), [3, 11, 2, 0, 3, 1, 0, 0]);
        assert_eq!(split_and_widened(&c), (2, 0));

        // And pieces that do not follow one another in the log are not one
        // access either.
        let g = vec![word, wr(0x800, 1, 0)];
        let p = pieces(word, 1);
        let q = vec![p[0], p[1], g[1], p[2], p[3]];
        let c = run(&g, &q);
        assert_eq!(counts(&c), [2, 5, 1, 0, 4, 1, 0, 0]);
        assert_eq!(c.counts.split, 0);
        // The same where a complete split later shows that QEMU splits these
        // reads: the write still matches, the first read is extra.
        let g = vec![word, wr(0x800, 1, 0), word];
        let q = vec![p[0], p[1], g[1], p[2], p[3], p[0], p[1], p[2], p[3]];
        let c = run(&g, &q);
        assert_eq!(counts(&c), [3, 9, 2, 0, 4, 1, 0, 0]);
        assert_eq!(c.counts.split, 1);
        assert_eq!(c.differences[0].kind, DiffKind::Extra);
        assert_eq!(c.differences[0].guest, Some(word));
    }

    #[test]
    fn byte_runs_the_guest_made_are_not_taken_for_splits() {
        // QEMU's only byte run is the guest's own byte reads; the 4-byte
        // read before them is not in the log at all.
        let word = rd(4, 4, 0x800);
        let bytes = pieces(word, 1);
        let mut g = vec![word];
        g.extend(bytes.iter().copied());
        let c = run(&g, &bytes);
        assert_eq!(counts(&c), [5, 4, 4, 0, 0, 1, 0, 0]);
        assert_eq!(c.counts.split, 0);
        assert_eq!(c.differences[0].guest, Some(word));

        // QEMU logs the 4-byte reads as they are, and the tracer missed a
        // run of byte reads: the reads are not split.
        let mut g = vec![word];
        g.extend(bytes.iter().copied());
        g.push(word);
        let mut q = vec![word];
        q.extend(bytes.iter().copied());
        q.extend(bytes.iter().copied());
        q.push(word);
        let c = run(&g, &q);
        assert_eq!(counts(&c), [6, 10, 6, 0, 4, 0, 0, 0]);
        assert_eq!(c.counts.split, 0);
    }

    #[test]
    fn a_wrong_piece_is_one_mismatch() {
        let g = numbered(vec![wr(0, 1, 0), rd(4, 4, 0x800), wr(0, 1, 0)], 5);
        let mut q = vec![g[0]];
        q.extend(pieces(g[1], 1));
        q.push(g[2]);
        let mut q = numbered(q, 50);
        q[2].value = 9;
        let c = run(&g, &q);
        assert_eq!(counts(&c), [3, 6, 2, 1, 0, 0, 0, 0]);
        assert_eq!(c.counts.split, 0);
        assert_eq!(c.verdict, Verdict::Fail);
        assert_eq!(c.differences.len(), 1);
        let d = c.differences[0];
        assert_eq!(d.kind, DiffKind::Mismatched);
        assert_eq!(d.shape, Shape::Split { pieces: 4 });
        assert_eq!(d.guest, Some(g[1]));
        assert_eq!(
            d.qemu,
            Some(Access {
                line: 51,
                value: 0x900,
                ..g[1]
            })
        );
    }

    #[test]
    fn large_split_sequences_are_fast() {
        // Every 4-byte access split into bytes, a few edits.
        let g = sequence(50_000);
        let mut q: Vec<Access> = g.iter().flat_map(|&a| pieces(a, 1)).collect();
        q[4 * 30_000 + 2].value ^= 1;
        q.remove(4 * 20_000 + 1);
        let q = numbered(q, 1);
        let start = std::time::Instant::now();
        let c = run(&g, &q);
        let k = c.counts;
        assert_eq!(
            (k.guest, k.qemu, k.matched, k.mismatched, k.missing, k.extra),
            (50_000, 199_999, 49_998, 1, 3, 1)
        );
        assert_eq!(k.split, 49_998);
        assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
    }

    const LOG: &str = "\
memory_region_ops_read cpu 0 mr 0x1 addr 0xfebc0008 value 0x1 size 4 name 'e1000-mmio'
memory_region_ops_write cpu 0 mr 0x2 addr 0xe9 value 0x53 size 1 name 'debugcon'
memory_region_ops_read cpu 0 mr 0x1 addr 0xfebc0008 value 0x2 size 4 name 'e1000-mmio'
memory_region_ops_read cpu 0 mr 0x2 addr 0xe9 value 0xe9 size 1 name 'debugcon'
memory_region_ops_write cpu 0 mr 0x3 addr 0xa0000 value 0x0 size 1 name 'vga-lowmem'
memory_region_ops_write cpu 0 mr 0x1 addr 0xfebc0000 value 0x3 size 4 name 'e1000-mmio'
memory_region_ops_write cpu 0 mr 0x2 addr 0xe9 value 0x45 size 1 name 'debugcon'
memory_region_ops_read cpu 0 mr 0x1 addr 0xfebc0008 value 0x4 size 4 name 'e1000-mmio'
memory_region_ops_write cpu 0 mr 0x2 addr 0xe9 value 0x53 size 1 name 'debugcon'
memory_region_ops_read cpu 0 mr 0x1 addr 0xfebc0008 value 0x5 size 4 name 'e1000-mmio'
";

    fn read_log(sync: Option<&str>, window: usize) -> Result<QemuTrace, Error> {
        let regions = ["e1000-mmio".to_string()];
        let filter = QemuFilter {
            cpu: None,
            regions: &regions,
            sync,
            window,
        };
        read_qemu(LOG.as_bytes(), &filter, &mut |e| Err(e))
    }

    fn values(t: &QemuTrace) -> Vec<u64> {
        t.accesses.iter().map(|a| a.value).collect()
    }

    #[test]
    fn qemu_cpu_filter_keeps_one_vcpu() {
        let log = "\
memory_region_ops_read cpu 0 mr 0x1 addr 0xfebc0008 value 0x1 size 4 name 'e1000-mmio'
memory_region_ops_write cpu 2 mr 0x2 addr 0xe9 value 0x53 size 1 name 'debugcon'
memory_region_ops_read cpu 1 mr 0x1 addr 0xfebc0008 value 0x2 size 4 name 'e1000-mmio'
memory_region_ops_read cpu 0 mr 0x1 addr 0xfebc0008 value 0x3 size 4 name 'e1000-mmio'
memory_region_ops_read cpu 1 mr 0x1 addr 0xfebc0008 value 0x4 size 4 name 'e1000-mmio'
";
        let regions = ["e1000-mmio".to_string()];
        let read = |cpu| {
            let filter = QemuFilter {
                cpu,
                regions: &regions,
                sync: Some("debugcon"),
                window: 0,
            };
            read_qemu(log.as_bytes(), &filter, &mut |e| Err(e)).unwrap()
        };
        // The sync write of another vCPU still opens the window.
        assert_eq!(values(&read(None)), [2, 3, 4]);
        assert_eq!(values(&read(Some(1))), [2, 4]);
        assert_eq!(values(&read(Some(0))), [3]);
        assert_eq!(read(Some(3)).accesses.len(), 0);
    }

    #[test]
    fn qemu_windows_between_sync_writes() {
        let all = read_log(None, 0).unwrap();
        assert_eq!(values(&all), [1, 2, 3, 4, 5]);
        assert_eq!(all.window, None);
        assert_eq!(all.regions_seen, ["e1000-mmio", "debugcon", "vga-lowmem"]);

        // The debugcon read is not a marker; only writes are.
        let w0 = read_log(Some("debugcon"), 0).unwrap();
        assert_eq!(values(&w0), [2, 3]);
        assert_eq!(
            w0.window,
            Some(Window {
                index: 0,
                sync_writes: 3,
                after_line: 2,
                before_line: Some(7),
            })
        );
        assert_eq!(w0.accesses[0].line, 3);
        assert_eq!(values(&read_log(Some("debugcon"), 1).unwrap()), [4]);
        let last = read_log(Some("debugcon"), 2).unwrap();
        assert_eq!(values(&last), [5]);
        assert_eq!(last.window.and_then(|w| w.before_line), None);

        let err = read_log(Some("debugcon"), 3).unwrap_err();
        assert!(matches!(err, Error::SyncWindow { found: 3, .. }), "{err}");
        assert!(err.to_string().contains("between 0 and 2"), "{err}");
        let err = read_log(Some("nosuch"), 0).unwrap_err();
        assert!(matches!(err, Error::SyncWindow { found: 0, .. }), "{err}");
    }
}
