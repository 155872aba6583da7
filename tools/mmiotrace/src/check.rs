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
//! 4. [`compare`] aligns G with Q;
//! 5. [`crate::report::Report`] renders the result as text or JSON.

use std::fmt;
use std::io::BufRead;
use std::str::FromStr;

use serde::Serialize;

use crate::diff;
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
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok().filter(|&v| v <= max)
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
        let devices: Vec<(u64, PciDev)> = pcidevs
            .iter()
            .filter(|(_, dev)| selector.matches(dev))
            .cloned()
            .collect();
        if devices.is_empty() {
            return Err(Error::NoDevice {
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
            });
        }
        let mut bars = Vec::new();
        for (device, (_, dev)) in devices.iter().enumerate() {
            for (index, res) in dev.resources.iter().enumerate() {
                if dev.is_memory(index) {
                    bars.push(Bar {
                        device,
                        index: index as u8,
                        start: res.start(),
                        size: res.size,
                    });
                }
            }
        }
        Ok(Target { devices, bars })
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
        if wanted {
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
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    pub expect_extra: Vec<ExpectExtra>,
    /// UNKNOWN records paired with a QEMU access are not failures.
    pub allow_unknown: bool,
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
}

impl DiffKind {
    pub fn name(self) -> &'static str {
        match self {
            DiffKind::Mismatched => "mismatched",
            DiffKind::Missing => "missing",
            DiffKind::Extra => "extra",
            DiffKind::Unknown => "unknown",
            DiffKind::ExpectedExtra => "expected-extra",
        }
    }
}

/// One difference, with the access of each side that it involves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Difference {
    pub kind: DiffKind,
    pub guest: Option<Access>,
    pub qemu: Option<Access>,
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
/// mismatched, unknown, extra or expected-extra; every QEMU access exactly
/// one of matched, mismatched, unknown or missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub guest: usize,
    pub qemu: usize,
    pub matched: usize,
    pub mismatched: usize,
    pub missing: usize,
    pub extra: usize,
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

/// Aligns the guest accesses G with the QEMU accesses Q, in order.
///
/// First a longest common subsequence of identical accesses (direction,
/// address, width, value) anchors the alignment; then within each gap
/// between anchors a second one pairs accesses at the same place (same
/// direction, address and width, or a guest UNKNOWN at the same address):
/// those are mismatched (or unknown). What stays unpaired is extra (G) or
/// missing (Q).
pub fn compare(
    target: &Target,
    guest: &[Access],
    qemu: &[Access],
    opts: &CompareOptions,
) -> Comparison {
    let mut run = Aligner {
        target,
        guest,
        qemu,
        opts,
        counts: Counts {
            guest: guest.len(),
            qemu: qemu.len(),
            ..Counts::default()
        },
        differences: Vec::new(),
    };
    let anchors = diff::lcs(guest.len(), qemu.len(), |i, j| {
        guest[i].same_access(&qemu[j])
    });
    let (mut gi, mut qj) = (0, 0);
    for (ai, aj) in anchors
        .into_iter()
        .chain(std::iter::once((guest.len(), qemu.len())))
    {
        run.gap(gi, ai, qj, aj);
        if ai < guest.len() {
            run.counts.matched += 1;
        }
        gi = ai + 1;
        qj = aj + 1;
    }
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

struct Aligner<'a> {
    target: &'a Target,
    guest: &'a [Access],
    qemu: &'a [Access],
    opts: &'a CompareOptions,
    counts: Counts,
    differences: Vec<Difference>,
}

impl Aligner<'_> {
    /// Handles `guest[g0..g1]` against `qemu[q0..q1]`, which have no
    /// identical accesses in common.
    fn gap(&mut self, g0: usize, g1: usize, q0: usize, q1: usize) {
        let (guest, qemu) = (self.guest, self.qemu);
        let (g, q) = (&guest[g0..g1], &qemu[q0..q1]);
        let pairs = if g.is_empty() || q.is_empty() {
            Vec::new()
        } else {
            diff::lcs(g.len(), q.len(), |i, j| g[i].same_place(&q[j]))
        };
        let (mut i0, mut j0) = (0, 0);
        for (pi, pj) in pairs.into_iter().chain(std::iter::once((g.len(), q.len()))) {
            for a in &g[i0..pi] {
                self.extra(*a);
            }
            for a in &q[j0..pj] {
                self.counts.missing += 1;
                self.push(DiffKind::Missing, None, Some(*a), true);
            }
            if let (Some(ga), Some(qa)) = (g.get(pi), q.get(pj)) {
                if ga.kind == AccessKind::Unknown {
                    self.counts.unknown += 1;
                    let failing = !self.opts.allow_unknown;
                    self.push(DiffKind::Unknown, Some(*ga), Some(*qa), failing);
                } else {
                    self.counts.mismatched += 1;
                    self.push(DiffKind::Mismatched, Some(*ga), Some(*qa), true);
                }
            }
            i0 = pi + 1;
            j0 = pj + 1;
        }
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
            self.push(DiffKind::ExpectedExtra, Some(a), None, false);
        } else {
            self.counts.extra += 1;
            self.push(DiffKind::Extra, Some(a), None, true);
        }
    }

    fn push(&mut self, kind: DiffKind, guest: Option<Access>, qemu: Option<Access>, failing: bool) {
        self.differences.push(Difference {
            kind,
            guest,
            qemu,
            failing,
        });
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
        // A width difference is not a mismatch but an extra plus a missing.
        let mut g2 = q.clone();
        g2[4].width = 2;
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
            allow_unknown: false,
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
