// SPDX-License-Identifier: GPL-2.0
//! `mmiotrace diff`: two traces compared register by register.
//!
//! Each trace is cut into segments at its MARK lines (segment 0 runs from
//! the start to the first MARK, segment i from the i-th MARK to the next);
//! segment i of A is compared with segment i of B, whatever the MARK texts
//! say. In a segment, the accesses are grouped by register: device and BAR
//! offset for accesses inside a memory BAR of a PCIDEV line, else the
//! physical address. A register differs if its sequence of accesses
//! (direction, width, value) differs; the report gives the read and write
//! counts on both sides and the first access where they part. A segment that
//! only one trace has is a difference too.
//!
//! Unlike `print`, this keeps every access of both traces in memory.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::annotate;
use crate::regdb::RegDb;
use crate::stream::{Context, Hex, Sink, Tracker};
use crate::trace::{Entry, Record};
use crate::Error;

/// A register: `device` is `8086:100e` (as `print` labels it) for an
/// access inside a memory BAR, or empty for a physical address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RegisterKey {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub device: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bar: Option<u8>,
    /// BAR offset, or physical address.
    pub offset: Hex,
}

impl RegisterKey {
    fn label(&self) -> String {
        match self.bar {
            Some(bar) => format!("{} bar{bar}+{:#06x}", self.device, self.offset.0),
            None => format!("{:#x}", self.offset.0),
        }
    }
}

/// One access, as compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Access {
    /// `R`, `W` or `UNKNOWN`.
    pub kind: &'static str,
    /// 0 for UNKNOWN.
    pub width: u8,
    pub value: Hex,
    /// The line in its trace.
    pub line: u64,
}

impl Access {
    fn same(&self, other: &Access) -> bool {
        (self.kind, self.width, self.value) == (other.kind, other.width, other.value)
    }

    fn describe(&self) -> String {
        match self.kind {
            "UNKNOWN" => format!("UNKNOWN (line {})", self.line),
            kind => format!(
                "{kind}{} {:#0w$x} (line {})",
                self.width,
                self.value.0,
                self.line,
                w = 2 * usize::from(self.width) + 2
            ),
        }
    }
}

/// The accesses of one segment of a trace.
#[derive(Debug, Clone, Default)]
pub struct Segment {
    /// The MARK line that starts it (none for segment 0).
    pub mark: Option<(u64, String)>,
    pub registers: BTreeMap<RegisterKey, Vec<Access>>,
}

/// Collects the segments of a trace (a [`Sink`]).
pub struct Collector<'a> {
    regdb: Option<&'a RegDb>,
    pub segments: Vec<Segment>,
    /// Register names from the databases.
    pub names: BTreeMap<RegisterKey, String>,
}

impl<'a> Collector<'a> {
    pub fn new(regdb: Option<&'a RegDb>) -> Self {
        Collector {
            regdb,
            segments: vec![Segment::default()],
            names: BTreeMap::new(),
        }
    }
}

impl Sink for Collector<'_> {
    fn record(&mut self, entry: &Entry, context: &Context, tracker: &Tracker) -> Result<(), Error> {
        let (kind, width, value, phys) = match &entry.record {
            Record::Mark(m) => {
                self.segments.push(Segment {
                    mark: Some((entry.line, m.text.clone())),
                    registers: BTreeMap::new(),
                });
                return Ok(());
            }
            Record::Access(a) => (
                if a.dir == crate::trace::Direction::Read {
                    "R"
                } else {
                    "W"
                },
                a.width,
                a.value,
                a.phys,
            ),
            Record::Unknown(u) => ("UNKNOWN", 0, 0, u.phys),
            _ => return Ok(()),
        };
        let key = match context.place {
            Some(place) => {
                let key = RegisterKey {
                    device: tracker.label(place.device),
                    bar: Some(place.bar),
                    offset: Hex(place.offset),
                };
                if !self.names.contains_key(&key) {
                    if let Some((name, _)) = self
                        .regdb
                        .and_then(|db| annotate::register_of(db, tracker, place, None, 0))
                    {
                        self.names.insert(key.clone(), name);
                    }
                }
                key
            }
            None => RegisterKey {
                device: String::new(),
                bar: None,
                offset: Hex(phys),
            },
        };
        let access = Access {
            kind,
            width,
            value: Hex(value),
            line: entry.line,
        };
        if let Some(segment) = self.segments.last_mut() {
            segment.registers.entry(key).or_default().push(access);
        }
        Ok(())
    }
}

/// Reads, writes and UNKNOWN accesses of a register on one side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub reads: usize,
    pub writes: usize,
    pub unknown: usize,
}

impl Counts {
    fn of(accesses: &[Access]) -> Self {
        let count = |kind| accesses.iter().filter(|a| a.kind == kind).count();
        Counts {
            reads: count("R"),
            writes: count("W"),
            unknown: count("UNKNOWN"),
        }
    }
}

/// The first access (counting from 0 in the register's sequence) where the
/// two sides differ; `None` on the side that has no access there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirstDifference {
    pub index: usize,
    pub a: Option<Access>,
    pub b: Option<Access>,
}

/// A register that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisterDiff {
    #[serde(flatten)]
    pub register: RegisterKey,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub a: Counts,
    pub b: Counts,
    pub first_difference: FirstDifference,
}

/// Where a segment starts in one trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentStart {
    /// The MARK line and its text; none for segment 0.
    pub mark_line: Option<u64>,
    pub mark: Option<String>,
    pub accesses: usize,
}

/// One segment of the comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentDiff {
    pub index: usize,
    /// `same`, `differ`, `only-in-a` or `only-in-b`.
    pub status: &'static str,
    pub a: Option<SegmentStart>,
    pub b: Option<SegmentStart>,
    /// The registers that differ, in register order.
    pub registers: Vec<RegisterDiff>,
}

/// Everything `mmiotrace diff` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    pub same: bool,
    pub segments: Vec<SegmentDiff>,
}

fn start(segment: &Segment) -> SegmentStart {
    SegmentStart {
        mark_line: segment.mark.as_ref().map(|(line, _)| *line),
        mark: segment.mark.as_ref().map(|(_, text)| text.clone()),
        accesses: segment.registers.values().map(Vec::len).sum(),
    }
}

fn first_difference(a: &[Access], b: &[Access]) -> Option<FirstDifference> {
    let index = a
        .iter()
        .zip(b)
        .position(|(x, y)| !x.same(y))
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))?;
    Some(FirstDifference {
        index,
        a: a.get(index).copied(),
        b: b.get(index).copied(),
    })
}

fn compare_segment(index: usize, a: &Segment, b: &Segment, names: &Names) -> SegmentDiff {
    let empty = Vec::new();
    let mut keys: Vec<&RegisterKey> = a.registers.keys().chain(b.registers.keys()).collect();
    keys.sort();
    keys.dedup();
    let registers: Vec<RegisterDiff> = keys
        .into_iter()
        .filter_map(|key| {
            let xs = a.registers.get(key).unwrap_or(&empty);
            let ys = b.registers.get(key).unwrap_or(&empty);
            let first = first_difference(xs, ys)?;
            Some(RegisterDiff {
                register: key.clone(),
                name: names.get(key),
                a: Counts::of(xs),
                b: Counts::of(ys),
                first_difference: first,
            })
        })
        .collect();
    SegmentDiff {
        index,
        status: if registers.is_empty() {
            "same"
        } else {
            "differ"
        },
        a: Some(start(a)),
        b: Some(start(b)),
        registers,
    }
}

/// The register names of both traces.
pub struct Names<'a>(pub [&'a BTreeMap<RegisterKey, String>; 2]);

impl Names<'_> {
    fn get(&self, key: &RegisterKey) -> Option<String> {
        self.0.iter().find_map(|names| names.get(key).cloned())
    }
}

/// Compares the segments of A with those of B.
pub fn compare(a: &[Segment], b: &[Segment], names: &Names) -> DiffReport {
    let segments: Vec<SegmentDiff> = (0..a.len().max(b.len()))
        .map(|i| match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) => compare_segment(i, x, y, names),
            (x, y) => SegmentDiff {
                index: i,
                status: if x.is_some() {
                    "only-in-a"
                } else {
                    "only-in-b"
                },
                a: x.map(start),
                b: y.map(start),
                registers: Vec::new(),
            },
        })
        .collect();
    DiffReport {
        same: segments.iter().all(|s| s.status == "same"),
        segments,
    }
}

fn describe_start(side: &str, start: &SegmentStart) -> String {
    match (&start.mark, start.mark_line) {
        (Some(text), Some(line)) => format!("{side}: MARK `{text}` line {line}"),
        _ => format!("{side}: start"),
    }
}

impl DiffReport {
    /// The text report: one line per segment, one per differing register,
    /// and the verdict.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        for segment in &self.segments {
            let starts: Vec<String> = [("A", &segment.a), ("B", &segment.b)]
                .iter()
                .filter_map(|(side, s)| s.as_ref().map(|s| describe_start(side, s)))
                .collect();
            let what = match segment.status {
                "same" => "same".to_string(),
                "only-in-a" => "only in A".to_string(),
                "only-in-b" => "only in B".to_string(),
                _ => format!(
                    "{} register{} differ{}",
                    segment.registers.len(),
                    if segment.registers.len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    if segment.registers.len() == 1 {
                        "s"
                    } else {
                        ""
                    },
                ),
            };
            writeln!(
                out,
                "segment {} ({}): {what}",
                segment.index,
                starts.join(", ")
            )?;
            for reg in &segment.registers {
                let name = reg
                    .name
                    .as_ref()
                    .map_or_else(String::new, |n| format!(" {n}"));
                let first = &reg.first_difference;
                let side = |a: &Option<Access>| {
                    a.as_ref()
                        .map_or_else(|| "none".to_string(), Access::describe)
                };
                writeln!(
                    out,
                    "  {}{name}: A {}R {}W, B {}R {}W; access {}: A {}, B {}",
                    reg.register.label(),
                    reg.a.reads,
                    reg.a.writes,
                    reg.b.reads,
                    reg.b.writes,
                    first.index,
                    side(&first.a),
                    side(&first.b),
                )?;
            }
        }
        let differing = self.segments.iter().filter(|s| s.status != "same").count();
        if self.same {
            writeln!(out, "SAME: {} segment(s)", self.segments.len())
        } else {
            writeln!(
                out,
                "DIFFERENT: {differing} of {} segment(s) differ",
                self.segments.len()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{self, tests::HEADER};

    fn segments(text: &str) -> Vec<Segment> {
        let mut c = Collector::new(None);
        stream::run(text.as_bytes(), &mut c, &mut Err).unwrap();
        c.segments
    }

    fn diff(a: &str, b: &str) -> DiffReport {
        let empty = BTreeMap::new();
        compare(&segments(a), &segments(b), &Names([&empty, &empty]))
    }

    const A: &str = "\
R 4 1.0 1 0xfebc0008 0x80080783 0x0 0
W 4 1.1 1 0xfebc00d8 0xffffffff 0x0 0
MARK 2.0 probe
R 4 2.1 1 0xfebc0008 0x80080783 0x0 0
W 1 2.2 1 0xfed00000 0x1 0x0 0
";

    #[test]
    fn same_trace_is_same() {
        let a = format!("{HEADER}{A}");
        let report = diff(&a, &a);
        assert!(report.same);
        assert_eq!(report.segments.len(), 2);
        assert_eq!(
            report.segments[1].a.as_ref().unwrap().mark.as_deref(),
            Some("probe")
        );
    }

    #[test]
    fn changed_value_and_removed_access_are_found() {
        let a = format!("{HEADER}{A}");
        let b = a.replace("2.1 1 0xfebc0008 0x80080783", "2.1 1 0xfebc0008 0x80080703");
        let report = diff(&a, &b);
        assert!(!report.same);
        assert_eq!(report.segments[0].status, "same");
        let seg = &report.segments[1];
        assert_eq!(seg.registers.len(), 1);
        let reg = &seg.registers[0];
        assert_eq!(reg.register.label(), "8086:100e bar0+0x0008");
        assert_eq!(reg.first_difference.index, 0);
        assert_eq!(reg.first_difference.b.unwrap().value, Hex(0x8008_0703));

        let b = a.replace("W 4 1.1 1 0xfebc00d8 0xffffffff 0x0 0\n", "");
        let report = diff(&a, &b);
        let reg = &report.segments[0].registers[0];
        assert_eq!(reg.register.offset, Hex(0xd8));
        assert_eq!((reg.a.writes, reg.b.writes), (1, 0));
        assert!(reg.first_difference.b.is_none());
        assert_eq!(reg.first_difference.a.unwrap().line, 5);
    }

    #[test]
    fn missing_segment_is_a_difference() {
        let a = format!("{HEADER}{A}");
        let b = format!(
            "{HEADER}{}",
            A.lines().take(2).collect::<Vec<_>>().join("\n")
        );
        let report = diff(&a, &b);
        assert!(!report.same);
        assert_eq!(report.segments[1].status, "only-in-a");
        let mut text = Vec::new();
        report.write_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("segment 1 (A: MARK `probe` line 6): only in A"),
            "{text}"
        );
        assert!(
            text.ends_with("DIFFERENT: 1 of 2 segment(s) differ\n"),
            "{text}"
        );
    }
}
