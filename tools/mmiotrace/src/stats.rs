// SPDX-License-Identifier: GPL-2.0
//! `mmiotrace stats`: accesses per device and register, and the totals of a
//! trace.
//!
//! Accesses inside a memory BAR of a PCIDEV line count for that device and
//! register (BAR, offset, width). Others count for the mapping they went
//! through (MAP line to UNMAP line, registers by offset in the mapped
//! range), or, if their map id was not mapped, for that map id (registers
//! by physical address). UNKNOWN accesses have no width: they count as
//! `unknown` in a register of their own.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::stream::{Context, Hex, LiveMap, Sink, Tracker};
use crate::trace::{Direction, Entry, Record, Timestamp};
use crate::Error;

/// Accesses counted, and the earliest and latest of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub reads: u64,
    pub writes: u64,
    pub unknown: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

/// What kind of access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Unknown,
}

impl Counts {
    fn add(&mut self, kind: Kind, time: Timestamp) {
        match kind {
            Kind::Read => self.reads += 1,
            Kind::Write => self.writes += 1,
            Kind::Unknown => self.unknown += 1,
        }
        self.first = Some(self.first.map_or(time, |t| t.min(time)));
        self.last = Some(self.last.map_or(time, |t| t.max(time)));
    }
}

/// One R, W or UNKNOWN record, as counted.
#[derive(Debug, Clone, Copy)]
struct Hit {
    kind: Kind,
    time: Timestamp,
    map_id: i32,
    phys: u64,
    /// `None` for UNKNOWN.
    width: Option<u8>,
}

/// A register: BAR offset (or offset in a mapping, or physical address)
/// and width (`None` for UNKNOWN accesses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Register {
    /// The BAR, for accesses of a device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bar: Option<u8>,
    pub offset: Hex,
    pub width: Option<u8>,
}

/// What accesses are grouped by, in the order of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum GroupKey {
    /// Inside a memory BAR: the index of the device's PCIDEV line.
    Device(usize),
    /// Outside the BARs, through the mapping of this MAP line.
    Map { line: u64 },
    /// Outside the BARs, with a map id that was not mapped.
    Unmapped { map_id: i32 },
}

/// A group of accesses, in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Group {
    /// The accesses inside the memory BARs of a device.
    Device {
        /// vendor:device
        device: String,
        bdf: String,
        driver: Option<String>,
        /// The line of the PCIDEV record.
        line: u64,
    },
    /// The accesses outside the BARs through one mapping.
    Map {
        map: i32,
        /// The line of the MAP record.
        line: u64,
        phys: Hex,
        len: Hex,
    },
    /// The accesses outside the BARs with a map id that had no live MAP.
    Unmapped { map: i32 },
}

impl Group {
    /// The name in the text table.
    fn label(&self) -> String {
        match self {
            Group::Device {
                device,
                bdf,
                driver,
                ..
            } => match driver {
                Some(driver) => format!("{bdf} {device} {driver}"),
                None => format!("{bdf} {device}"),
            },
            Group::Map { map, phys, len, .. } => {
                format!("map #{map} {:#x}+{:#x}", phys.0, len.0)
            }
            Group::Unmapped { map } => format!("map #{map} (not mapped)"),
        }
    }
}

/// The counts of one register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisterStats {
    #[serde(flatten)]
    pub register: Register,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The counts of one group and its registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupStats {
    #[serde(flatten)]
    pub group: Group,
    #[serde(flatten)]
    pub counts: Counts,
    /// Sorted by BAR, offset and width.
    pub registers: Vec<RegisterStats>,
}

/// Records of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecordCounts {
    pub version: u64,
    pub pcidev: u64,
    pub map: u64,
    pub unmap: u64,
    pub read: u64,
    pub write: u64,
    pub unknown: u64,
    pub mark: u64,
    pub lost: u64,
}

impl RecordCounts {
    fn total(&self) -> u64 {
        self.version
            + self.pcidev
            + self.map
            + self.unmap
            + self.read
            + self.write
            + self.unknown
            + self.mark
            + self.lost
    }
}

/// The totals of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    /// Lines read, blank and malformed ones included.
    pub lines: u64,
    pub records: RecordCounts,
    pub malformed: u64,
    /// Sum of the `MARK 0.000000 Lost N events.` lines.
    pub lost_events: u64,
    /// The earliest and latest time stamp of any record (the lost-events
    /// marks have none).
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// `last - first` in seconds.
    pub duration: Option<f64>,
    /// R, W and UNKNOWN records.
    pub accesses: u64,
    /// `accesses / duration`; none for a duration of 0.
    pub accesses_per_second: Option<f64>,
}

/// Everything `mmiotrace stats` prints, as a table or one JSON object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsReport {
    /// Devices in PCIDEV order, then mappings in MAP order, then unmapped
    /// map ids.
    pub groups: Vec<GroupStats>,
    pub totals: Totals,
}

#[derive(Debug, Clone, Default)]
struct GroupState {
    counts: Counts,
    registers: BTreeMap<Register, Counts>,
}

/// Collects the statistics of a trace as [`crate::stream::run`] feeds it.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    groups: BTreeMap<GroupKey, (Group, GroupState)>,
    records: RecordCounts,
    malformed: u64,
    lost_events: u64,
    lines: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

impl Stats {
    pub fn new() -> Self {
        Stats::default()
    }

    fn time(&mut self, time: Timestamp) {
        self.first = Some(self.first.map_or(time, |t| t.min(time)));
        self.last = Some(self.last.map_or(time, |t| t.max(time)));
    }

    fn access(&mut self, access: Hit, context: &Context, tracker: &Tracker) {
        let Hit {
            kind,
            time,
            map_id,
            phys,
            width,
        } = access;
        self.time(time);
        let live: Option<LiveMap> = context.map.filter(|m| m.contains(phys));
        let (key, register) = match (context.place, live) {
            (Some(place), _) => (
                GroupKey::Device(place.device),
                Register {
                    bar: Some(place.bar),
                    offset: Hex(place.offset),
                    width,
                },
            ),
            (None, Some(m)) => (
                GroupKey::Map { line: m.line },
                Register {
                    bar: None,
                    offset: Hex(phys - m.map.phys),
                    width,
                },
            ),
            (None, None) => (
                GroupKey::Unmapped { map_id },
                Register {
                    bar: None,
                    offset: Hex(phys),
                    width,
                },
            ),
        };
        let (_, state) = self.groups.entry(key).or_insert_with(|| {
            let group = match key {
                GroupKey::Device(index) => {
                    let (line, dev) = tracker
                        .devices()
                        .get(index)
                        .map_or((0, None), |(line, dev)| (*line, Some(dev)));
                    Group::Device {
                        device: dev.map_or_else(String::new, |d| d.ids()),
                        bdf: dev.map_or_else(String::new, |d| d.bdf()),
                        driver: dev.and_then(|d| d.driver.clone()),
                        line,
                    }
                }
                GroupKey::Map { line } => Group::Map {
                    map: map_id,
                    line,
                    phys: Hex(live.map_or(0, |m| m.map.phys)),
                    len: Hex(live.map_or(0, |m| m.map.len)),
                },
                GroupKey::Unmapped { map_id } => Group::Unmapped { map: map_id },
            };
            (group, GroupState::default())
        });
        state.counts.add(kind, time);
        state.registers.entry(register).or_default().add(kind, time);
    }

    /// The report of what was collected.
    pub fn report(&self) -> StatsReport {
        let groups = self
            .groups
            .values()
            .map(|(group, state)| GroupStats {
                group: group.clone(),
                counts: state.counts,
                registers: state
                    .registers
                    .iter()
                    .map(|(register, counts)| RegisterStats {
                        register: *register,
                        counts: *counts,
                    })
                    .collect(),
            })
            .collect();
        let r = &self.records;
        let accesses = r.read + r.write + r.unknown;
        let micros = match (self.first, self.last) {
            (Some(first), Some(last)) => Some(last.as_micros().saturating_sub(first.as_micros())),
            _ => None,
        };
        StatsReport {
            groups,
            totals: Totals {
                lines: self.lines,
                records: self.records,
                malformed: self.malformed,
                lost_events: self.lost_events,
                first: self.first,
                last: self.last,
                duration: micros.map(|us| Timestamp::from_micros(us).as_secs_f64()),
                accesses,
                accesses_per_second: micros
                    .filter(|&us| us > 0)
                    .map(|us| accesses as f64 * 1e6 / us as f64),
            },
        }
    }
}

impl Sink for Stats {
    fn record(&mut self, entry: &Entry, context: &Context, tracker: &Tracker) -> Result<(), Error> {
        let r = &mut self.records;
        match &entry.record {
            Record::Version(_) => r.version += 1,
            Record::PciDev(_) => r.pcidev += 1,
            Record::Map(m) => {
                r.map += 1;
                self.time(m.time);
            }
            Record::Unmap(u) => {
                r.unmap += 1;
                self.time(u.time);
            }
            Record::Access(a) => {
                let kind = match a.dir {
                    Direction::Read => {
                        r.read += 1;
                        Kind::Read
                    }
                    Direction::Write => {
                        r.write += 1;
                        Kind::Write
                    }
                };
                let hit = Hit {
                    kind,
                    time: a.time,
                    map_id: a.map_id,
                    phys: a.phys,
                    width: Some(a.width),
                };
                self.access(hit, context, tracker);
            }
            Record::Unknown(u) => {
                r.unknown += 1;
                let hit = Hit {
                    kind: Kind::Unknown,
                    time: u.time,
                    map_id: u.map_id,
                    phys: u.phys,
                    width: None,
                };
                self.access(hit, context, tracker);
            }
            Record::Mark(m) => {
                r.mark += 1;
                self.time(m.time);
            }
            Record::LostEvents(n) => {
                r.lost += 1;
                self.lost_events = self.lost_events.saturating_add(*n);
            }
        }
        Ok(())
    }

    fn malformed(&mut self, _error: &Error) {
        self.malformed += 1;
    }

    fn finish(&mut self, lines: u64, _tracker: &Tracker) -> Result<(), Error> {
        self.lines = lines;
        Ok(())
    }
}

fn time_or_dash(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".to_string(), |t| t.to_string())
}

/// The register column of the table: `bar0+0x0008`, `+0x0010` (in a
/// mapping), `0xfed00010` (a physical address).
fn register_name(group: &Group, register: &Register) -> String {
    match (register.bar, group) {
        (Some(bar), _) => format!("bar{bar}+{:#06x}", register.offset.0),
        (None, Group::Unmapped { .. }) => format!("{:#x}", register.offset.0),
        (None, _) => format!("+{:#06x}", register.offset.0),
    }
}

/// Writes rows of cells, each column as wide as its widest cell, the first
/// `left` columns left-aligned and the others right-aligned.
fn write_table(out: &mut dyn Write, rows: &[Vec<String>], left: usize) -> io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            if c < left {
                line.push_str(&format!("{cell:<width$}"));
            } else {
                line.push_str(&format!("{cell:>width$}"));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

impl StatsReport {
    /// The text report: one table row per group (`all` registers) and per
    /// register, then the totals.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.groups.is_empty() {
            writeln!(out, "no accesses")?;
        } else {
            let header = [
                "device", "register", "width", "reads", "writes", "unknown", "first", "last",
            ];
            let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
            let row = |label: &str, register: String, width: String, c: &Counts| {
                vec![
                    label.to_string(),
                    register,
                    width,
                    c.reads.to_string(),
                    c.writes.to_string(),
                    c.unknown.to_string(),
                    time_or_dash(c.first),
                    time_or_dash(c.last),
                ]
            };
            for g in &self.groups {
                let label = g.group.label();
                rows.push(row(&label, "all".to_string(), "-".to_string(), &g.counts));
                for r in &g.registers {
                    rows.push(row(
                        &label,
                        register_name(&g.group, &r.register),
                        r.register
                            .width
                            .map_or_else(|| "?".to_string(), |w| w.to_string()),
                        &r.counts,
                    ));
                }
            }
            write_table(out, &rows, 2)?;
        }
        let t = &self.totals;
        let r = &t.records;
        let duration = match (t.first, t.last) {
            (Some(first), Some(last)) => {
                let micros = last.as_micros().saturating_sub(first.as_micros());
                format!("{} s ({first} to {last})", Timestamp::from_micros(micros))
            }
            _ => "-".to_string(),
        };
        let rate = t
            .accesses_per_second
            .map_or_else(|| "-".to_string(), |rate| format!("{rate:.1}"));
        let rows: Vec<Vec<String>> = vec![
            vec!["lines".into(), t.lines.to_string()],
            vec![
                "records".into(),
                format!(
                    "{} (version {}, pcidev {}, map {}, unmap {}, read {}, write {}, \
                     unknown {}, mark {}, lost {})",
                    r.total(),
                    r.version,
                    r.pcidev,
                    r.map,
                    r.unmap,
                    r.read,
                    r.write,
                    r.unknown,
                    r.mark,
                    r.lost
                ),
            ],
            vec!["malformed lines".into(), t.malformed.to_string()],
            vec!["lost events".into(), t.lost_events.to_string()],
            vec!["duration".into(), duration],
            vec!["accesses".into(), t.accesses.to_string()],
            vec!["accesses per second".into(), rate],
        ];
        writeln!(out)?;
        write_table(out, &rows, 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{self, tests::HEADER};

    fn stats(text: &str) -> StatsReport {
        let mut stats = Stats::new();
        stream::run(text.as_bytes(), &mut stats, &mut |_| Ok(())).unwrap();
        stats.report()
    }

    const TRACE: &str = "\
MAP 10.000000 1 0xfebc0000 0xffffc90000 0x20000 0x0 0
R 4 10.000100 1 0xfebc0008 0x1 0x0 0
R 4 10.000300 1 0xfebc0008 0x1 0x0 0
W 4 10.000200 1 0xfebc0000 0x1 0x0 0
W 2 10.000400 1 0xfebc0000 0x1 0x0 0
UNKNOWN 10.000500 1 0xfebc0100 f3,a5,48 0x0 0
UNMAP 11.000000 1 0x0 0
MAP 12.000000 1 0xfed00000 0xffffc90001 0x400 0x0 0
W 4 12.000001 1 0xfed00010 0x1 0x0 0
R 1 12.000002 1 0xfebe0001 0x1 0x0 0
UNMAP 13.000000 1 0x0 0
W 4 13.500000 5 0xfed00010 0x1 0x0 0
this line is malformed
MARK 0.000000 Lost 3 events.
MARK 0.000000 Lost 4 events.
MARK 14.000000 done
";

    #[test]
    fn accesses_are_counted_per_device_mapping_and_register() {
        let report = stats(&format!("{HEADER}{TRACE}"));
        let groups: Vec<String> = report.groups.iter().map(|g| g.group.label()).collect();
        assert_eq!(
            groups,
            [
                "00:02.0 8086:100e",
                "00:03.0 1b36:0005",
                "map #1 0xfed00000+0x400",
                "map #5 (not mapped)"
            ]
        );
        let e1000 = &report.groups[0];
        assert_eq!((e1000.counts.reads, e1000.counts.writes), (2, 2));
        assert_eq!(e1000.counts.unknown, 1);
        assert_eq!(e1000.counts.first.map(|t| t.usecs), Some(100));
        assert_eq!(e1000.counts.last.map(|t| t.usecs), Some(500));
        let registers: Vec<(u64, Option<u8>, u64, u64, u64)> = e1000
            .registers
            .iter()
            .map(|r| {
                (
                    r.register.offset.0,
                    r.register.width,
                    r.counts.reads,
                    r.counts.writes,
                    r.counts.unknown,
                )
            })
            .collect();
        assert_eq!(
            registers,
            [
                (0, Some(2), 0, 1, 0),
                (0, Some(4), 0, 1, 0),
                (8, Some(4), 2, 0, 0),
                (0x100, None, 0, 0, 1),
            ]
        );
        // Out of order time stamps: first and last are the earliest and
        // latest.
        let r8 = &e1000.registers[2].counts;
        assert_eq!(r8.first.map(|t| t.usecs), Some(100));
        assert_eq!(r8.last.map(|t| t.usecs), Some(300));
        let map = &report.groups[2];
        assert_eq!(map.registers.len(), 1);
        assert_eq!(map.registers[0].register.offset, Hex(0x10));
        assert_eq!(map.registers[0].register.bar, None);
        let unmapped = &report.groups[3];
        assert_eq!(unmapped.registers[0].register.offset, Hex(0xfed0_0010));

        let t = &report.totals;
        assert_eq!(t.lines, 19);
        assert_eq!(t.malformed, 1);
        assert_eq!(t.lost_events, 7);
        assert_eq!(t.records.lost, 2);
        assert_eq!(t.records.pcidev, 2);
        assert_eq!(t.records.total(), 18);
        assert_eq!(t.accesses, 8);
        assert_eq!(t.duration, Some(4.0));
        assert_eq!(t.accesses_per_second, Some(2.0));
    }

    #[test]
    fn text_and_json() {
        let report = stats(&format!("{HEADER}{TRACE}"));
        let mut text = Vec::new();
        report.write_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "device                   register     width  reads  writes  unknown      first       last"
        );
        assert_eq!(
            lines[1],
            "00:02.0 8086:100e        all              -      2       2        1  10.000100  10.000500"
        );
        assert_eq!(
            lines[5],
            "00:02.0 8086:100e        bar0+0x0100      ?      0       0        1  10.000500  10.000500"
        );
        assert!(lines[9].starts_with("map #1 0xfed00000+0x400  +0x0010          4      0       1"));
        assert!(lines[11].starts_with("map #5 (not mapped)      0xfed00010       4      0       1"));
        assert_eq!(lines[12], "");
        assert_eq!(
            lines[14],
            "records              18 (version 1, pcidev 2, map 2, unmap 2, read 3, write 4, \
             unknown 1, mark 1, lost 2)"
        );
        assert_eq!(lines[19], "accesses per second  2.0");
        assert!(text.contains("\nduration             4.000000 s (10.000000 to 14.000000)\n"));

        let json = serde_json::to_value(&report).unwrap();
        let g = &json["groups"][0];
        assert_eq!(g["kind"], "device");
        assert_eq!(g["device"], "8086:100e");
        assert_eq!(g["bdf"], "00:02.0");
        assert_eq!(g["reads"], 2);
        assert_eq!(g["first"], 10.0001);
        assert_eq!(g["registers"][2]["bar"], 0);
        assert_eq!(g["registers"][2]["offset"], "0x8");
        assert_eq!(g["registers"][3]["width"], serde_json::Value::Null);
        assert_eq!(json["groups"][2]["kind"], "map");
        assert_eq!(json["groups"][2]["phys"], "0xfed00000");
        assert_eq!(json["groups"][2]["registers"][0].get("bar"), None);
        assert_eq!(json["groups"][3]["kind"], "unmapped");
        assert_eq!(json["totals"]["records"]["read"], 3);
        assert_eq!(json["totals"]["accesses_per_second"], 2.0);
    }

    #[test]
    fn empty_trace() {
        let report = stats("");
        let mut text = Vec::new();
        report.write_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.starts_with("no accesses\n\nlines "), "{text}");
        assert!(text.contains("duration             -\n"), "{text}");
        assert_eq!(report.totals.accesses_per_second, None);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["totals"]["duration"], serde_json::Value::Null);
    }
}
