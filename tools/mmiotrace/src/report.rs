// SPDX-License-Identifier: GPL-2.0
//! The report of `mmiotrace check`: a one-line verdict, the first
//! differences and notes as text, or all of it as one JSON object.

use std::io::{self, Write};

use serde::Serialize;

use crate::check::{
    Access, AccessKind, Comparison, Counts, DiffKind, Difference, GuestTrace, QemuFilter,
    QemuTrace, Shape, Target, Verdict, Window,
};

/// One side of a reported difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideReport {
    pub line: u64,
    pub direction: AccessKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opcode: Option<String>,
}

impl SideReport {
    fn new(a: &Access) -> Self {
        let known = a.kind != AccessKind::Unknown;
        SideReport {
            line: a.line,
            direction: a.kind,
            width: known.then_some(a.width),
            value: known.then(|| format!("{:#x}", a.value)),
            opcode: (!known).then(|| a.opcode()),
        }
    }
}

/// One reported difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DifferenceReport {
    pub kind: DiffKind,
    /// `bar0+0x8`, or the absolute address outside the BARs.
    pub location: String,
    pub addr: String,
    pub guest: Option<SideReport>,
    /// For a split guest access: the combination of QEMU's pieces, with the
    /// first piece's line.
    pub qemu: Option<SideReport>,
    /// QEMU logged the guest access as this many narrower accesses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_pieces: Option<u8>,
    /// QEMU logged the guest access as the wider `qemu` access: its bytes at
    /// the guest's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub widened_value: Option<String>,
    #[serde(skip)]
    detail: String,
}

impl DifferenceReport {
    fn new(target: &Target, d: &Difference) -> Self {
        let value = |a: Option<Access>| a.map_or_else(String::new, |a| format!("{:#x}", a.value));
        let op = |a: Option<Access>| a.map_or_else(String::new, |a| a.op());
        let widened = match (d.shape, d.guest, d.qemu) {
            (Shape::Widened, Some(g), Some(q)) => g.widened_value(&q),
            _ => None,
        };
        let split_pieces = match d.shape {
            Shape::Split { pieces } => Some(pieces),
            _ => None,
        };
        let detail = match (d.guest, d.qemu) {
            (Some(g), Some(_)) if d.kind == DiffKind::Reordered => {
                format!("{} {}", g.op(), value(Some(g)))
            }
            (Some(g), Some(q)) if g.kind == AccessKind::Unknown => format!(
                "UNKNOWN opcode {}, qemu {} {}",
                g.opcode(),
                q.op(),
                value(Some(q))
            ),
            (Some(g), Some(q)) => match (widened, split_pieces) {
                (Some(part), _) => format!(
                    "{} guest {} qemu {part:#x} (widened: {} {} at {})",
                    g.op(),
                    value(Some(g)),
                    q.op(),
                    value(Some(q)),
                    target.describe(q.addr)
                ),
                (None, Some(pieces)) => format!(
                    "{} guest {} qemu {} (split into {pieces} {})",
                    g.op(),
                    value(Some(g)),
                    value(Some(q)),
                    Access {
                        width: g.width / pieces.max(1),
                        ..g
                    }
                    .op()
                ),
                (None, None) => format!(
                    "{} guest {} qemu {}",
                    g.op(),
                    value(Some(g)),
                    value(Some(q))
                ),
            },
            (Some(g), None) if g.kind == AccessKind::Unknown => {
                format!("UNKNOWN opcode {}", g.opcode())
            }
            (a @ Some(_), None) | (None, a @ Some(_)) => format!("{} {}", op(a), value(a)),
            (None, None) => String::new(),
        };
        DifferenceReport {
            kind: d.kind,
            location: target.describe(d.addr()),
            addr: format!("{:#x}", d.addr()),
            guest: d.guest.as_ref().map(SideReport::new),
            qemu: d.qemu.as_ref().map(SideReport::new),
            split_pieces,
            widened_value: widened.map(|v| format!("{v:#x}")),
            detail,
        }
    }

    /// The one-line description of the accesses, as in the text report:
    /// `R4 guest 0x1 qemu 0x2`, `W4 0x9d`, `UNKNOWN opcode 89,50,00, ...`.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

/// Malformed lines skipped in each input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ParseErrors {
    pub guest: u64,
    pub qemu: u64,
}

/// Everything `mmiotrace check` prints, as text or as one JSON object.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub name: String,
    /// vendor:device of the selected device(s).
    pub device: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    pub lost_events: u64,
    pub parse_errors: ParseErrors,
    /// Number of failing differences (of which `differences` lists the first).
    pub failures: usize,
    pub differences: Vec<DifferenceReport>,
    /// Hints on what went wrong or what to look at.
    pub notes: Vec<String>,
}

impl Report {
    /// Builds the report of a comparison, listing at most `max_differences`
    /// failing differences.
    pub fn new(
        name: &str,
        target: &Target,
        guest: &GuestTrace,
        qemu: &QemuTrace,
        filter: &QemuFilter<'_>,
        comparison: &Comparison,
        max_differences: usize,
    ) -> Self {
        let mut notes = Vec::new();
        if target.devices.len() > 1 {
            let bdfs: Vec<String> = target.devices.iter().map(|(_, d)| d.bdf()).collect();
            notes.push(format!(
                "{} PCIDEV lines match ({}): their BARs are compared together",
                target.devices.len(),
                bdfs.join(", ")
            ));
        }
        if guest.lost_events > 0 {
            notes.push(format!(
                "the guest trace reports {} lost events: the tracer dropped accesses",
                guest.lost_events
            ));
        }
        let counts = comparison.counts;
        if counts.guest == 0 {
            notes.push(format!(
                "no guest accesses fall into the device's memory BARs ({})",
                target.describe_bars()
            ));
        }
        if counts.qemu == 0 {
            if qemu.region_ops == 0 {
                notes.push(format!(
                    "the qemu log has no ops of region(s) {}; regions in the log: {}",
                    quote_list(filter.regions),
                    if qemu.regions_seen.is_empty() {
                        "none (was qemu run with -trace memory_region_ops_read \
                         -trace memory_region_ops_write?)"
                            .to_string()
                    } else {
                        quote_list(&qemu.regions_seen)
                    }
                ));
            } else {
                notes.push(format!(
                    "the qemu log has {} ops of region(s) {}, but none in the selected window",
                    qemu.region_ops,
                    quote_list(filter.regions)
                ));
            }
        }
        if counts.split > 0 || counts.widened > 0 {
            let mut how = Vec::new();
            if counts.split > 0 {
                how.push(format!(
                    "{} as several narrower accesses (split to the device model's \
                     maximum access size)",
                    counts.split
                ));
            }
            if counts.widened > 0 {
                how.push(format!(
                    "{} as one wider access (widened to its minimum access size)",
                    counts.widened
                ));
            }
            notes.push(format!(
                "of the matched guest accesses, QEMU logged {}; each counts as one match",
                how.join(" and ")
            ));
        }
        if counts.guest == 0 && counts.qemu == 0 {
            notes.push("nothing was compared, which is not a pass".to_string());
        }
        Report {
            name: name.to_string(),
            device: target.ids(),
            counts,
            verdict: comparison.verdict,
            window: qemu.window,
            lost_events: guest.lost_events,
            parse_errors: ParseErrors {
                guest: guest.errors,
                qemu: qemu.errors,
            },
            failures: comparison.failures().count(),
            differences: comparison
                .failures()
                .take(max_differences)
                .map(|d| DifferenceReport::new(target, d))
                .collect(),
            notes,
        }
    }

    /// The one-line verdict.
    pub fn verdict_line(&self) -> String {
        let c = &self.counts;
        // Split and widened matches only show where there are any, so that
        // the line of a device without them stays as it was.
        let mut adjusted = Vec::new();
        if c.split > 0 {
            adjusted.push(format!("split {}", c.split));
        }
        if c.widened > 0 {
            adjusted.push(format!("widened {}", c.widened));
        }
        let matched = if adjusted.is_empty() {
            c.matched.to_string()
        } else {
            format!("{} ({})", c.matched, adjusted.join(", "))
        };
        format!(
            "{} {}: guest {}, qemu {} | matched {}, mismatched {}, missing {}, extra {}, \
             reordered {}, unknown {}, expected-extra {} | {}",
            self.name,
            self.device,
            c.guest,
            c.qemu,
            matched,
            c.mismatched,
            c.missing,
            c.extra,
            c.reordered,
            c.unknown,
            c.expected_extra,
            self.verdict
        )
    }

    /// The human report: the verdict line, then on failure the first
    /// differences, then notes.
    pub fn write_text(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(w, "{}", self.verdict_line())?;
        if self.verdict == Verdict::Fail && !self.differences.is_empty() {
            write!(
                w,
                "first {} of {} differences (guest = trace line, qemu = log line",
                self.differences.len(),
                self.failures
            )?;
            if let Some(win) = &self.window {
                write!(
                    w,
                    "; qemu window {} after line {}",
                    win.index, win.after_line
                )?;
                if let Some(before) = win.before_line {
                    write!(w, ", before line {before}")?;
                }
            }
            writeln!(w, "):")?;
            for d in &self.differences {
                let line = |s: &Option<SideReport>| {
                    s.as_ref()
                        .map_or_else(|| "-".to_string(), |s| s.line.to_string())
                };
                writeln!(
                    w,
                    "  {:<10} guest:{:<7} qemu:{:<7} {:<14} {}",
                    d.kind.name(),
                    line(&d.guest),
                    line(&d.qemu),
                    d.location,
                    d.detail
                )?;
            }
        }
        for note in &self.notes {
            writeln!(w, "note: {note}")?;
        }
        Ok(())
    }
}

fn quote_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    quoted.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{compare, CompareOptions};
    use crate::trace::{parse_record, Record};

    fn target() -> Target {
        let line = b"PCIDEV 0018 8086100e b feb80000 c001 0 0 0 0 0 20000 40 0 0 0 0 0 e1000";
        let Ok(Record::PciDev(dev)) = parse_record(line, 5) else {
            panic!("PCIDEV line does not parse");
        };
        Target::select(&[(5, dev)], &"8086:100e".parse().unwrap()).unwrap()
    }

    fn access(line: u64, kind: AccessKind, off: u64, value: u64) -> Access {
        Access {
            line,
            kind,
            addr: 0xfeb8_0000 + off,
            width: 4,
            value,
        }
    }

    fn filter(regions: &[String]) -> QemuFilter<'_> {
        QemuFilter {
            cpu: None,
            regions,
            sync: None,
            window: 0,
        }
    }

    #[test]
    fn text_and_json() {
        let q: Vec<Access> = (0..30)
            .map(|i| {
                let kind = if i % 3 == 0 {
                    AccessKind::Write
                } else {
                    AccessKind::Read
                };
                access(i + 10, kind, i * 4, i)
            })
            .collect();
        let mut g = q.clone();
        g.remove(3);
        g[10].value = 0xabc;
        let c = compare(&target(), &g, &q, &CompareOptions::default());
        let guest = GuestTrace {
            lost_events: 4,
            ..GuestTrace::default()
        };
        let regions = ["e1000-mmio".to_string()];
        let report = Report::new(
            "e1000",
            &target(),
            &guest,
            &QemuTrace::default(),
            &filter(&regions),
            &c,
            1,
        );
        let mut text = Vec::new();
        report.write_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "e1000 8086:100e: guest 29, qemu 30 | matched 28, mismatched 1, missing 1, \
             extra 0, reordered 0, unknown 0, expected-extra 0 | FAIL"
        );
        assert!(lines
            .next()
            .unwrap()
            .starts_with("first 1 of 2 differences"));
        let diff = lines.next().unwrap();
        assert!(diff.contains("missing"), "{diff}");
        assert!(diff.contains("guest:-"), "{diff}");
        assert!(diff.contains("qemu:13"), "{diff}");
        assert!(diff.contains("bar0+0xc"), "{diff}");
        assert!(diff.contains("W4 0x3"), "{diff}");
        assert_eq!(
            lines.next().unwrap(),
            "note: the guest trace reports 4 lost events: the tracer dropped accesses"
        );

        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["verdict"], "FAIL");
        assert_eq!(json["missing"], 1);
        assert_eq!(json["mismatched"], 1);
        assert_eq!(json["failures"], 2);
        assert_eq!(json["lost_events"], 4);
        assert_eq!(json["differences"].as_array().map(Vec::len), Some(1));
        assert_eq!(json["differences"][0]["kind"], "missing");
        assert_eq!(json["differences"][0]["qemu"]["line"], 13);
        assert_eq!(json["differences"][0]["qemu"]["value"], "0x3");
        assert_eq!(json["differences"][0]["qemu"]["direction"], "write");
        assert_eq!(json["differences"][0]["guest"], serde_json::Value::Null);
    }

    #[test]
    fn unknown_and_mismatch_details() {
        let q = vec![
            access(7, AccessKind::Write, 0x400, 0x103f_010a),
            access(8, AccessKind::Read, 8, 1),
        ];
        let mut g = q.clone();
        g[0].kind = AccessKind::Unknown;
        g[0].width = 0;
        g[0].value = 0x89_5000;
        g[1].value = 2;
        let c = compare(&target(), &g, &q, &CompareOptions::default());
        let regions = ["e1000-mmio".to_string()];
        let report = Report::new(
            "nic",
            &target(),
            &GuestTrace::default(),
            &QemuTrace::default(),
            &filter(&regions),
            &c,
            20,
        );
        let mut text = Vec::new();
        report.write_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("UNKNOWN opcode 89,50,00, qemu W4 0x103f010a"),
            "{text}"
        );
        assert!(text.contains("R4 guest 0x2 qemu 0x1"), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["differences"][0]["guest"]["direction"], "unknown");
        assert_eq!(json["differences"][0]["guest"]["opcode"], "89,50,00");
        assert_eq!(json["differences"][0]["guest"].get("value"), None);
    }

    #[test]
    fn split_and_widened_accesses() {
        // QEMU splits the 4-byte read at 0x4 into bytes (one wrong) and the
        // one at 0xc too (right), and widens the 1-byte read at 0x21 to a
        // 4-byte read at 0x20 (wrong byte) and the one at 0x31 (right).
        let read = |line, off, width, value| Access {
            width,
            ..access(line, AccessKind::Read, off, value)
        };
        let g = vec![
            read(1, 4, 4, 0x800),
            read(2, 0xc, 4, 1),
            read(3, 0x21, 1, 0x12),
            read(4, 0x31, 1, 0x34),
        ];
        let q = vec![
            read(10, 4, 1, 0),
            read(11, 5, 1, 9),
            read(12, 6, 1, 0),
            read(13, 7, 1, 0),
            read(14, 0xc, 1, 1),
            read(15, 0xd, 1, 0),
            read(16, 0xe, 1, 0),
            read(17, 0xf, 1, 0),
            read(18, 0x20, 4, 0xabcd_13ef),
            read(19, 0x30, 4, 0x3400),
        ];
        let c = compare(&target(), &g, &q, &CompareOptions::default());
        let regions = ["pci-testdev-mmio".to_string()];
        let report = Report::new(
            "t",
            &target(),
            &GuestTrace::default(),
            &QemuTrace::default(),
            &filter(&regions),
            &c,
            20,
        );
        let mut text = Vec::new();
        report.write_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "t 8086:100e: guest 4, qemu 10 | matched 2 (split 1, widened 1), mismatched 2, \
             missing 0, extra 0, reordered 0, unknown 0, expected-extra 0 | FAIL"
        );
        lines.next();
        let split = lines.next().unwrap();
        assert!(split.starts_with("  mismatched guest:1 "), "{split}");
        assert!(split.contains("qemu:10 "), "{split}");
        assert!(
            split.ends_with("bar0+0x4       R4 guest 0x800 qemu 0x900 (split into 4 R1)"),
            "{split}"
        );
        let widened = lines.next().unwrap();
        assert!(widened.contains("guest:3 "), "{widened}");
        assert!(widened.contains("qemu:18 "), "{widened}");
        assert!(
            widened.ends_with(
                "bar0+0x21      R1 guest 0x12 qemu 0x13 (widened: R4 0xabcd13ef at bar0+0x20)"
            ),
            "{widened}"
        );
        assert_eq!(
            lines.next().unwrap(),
            "note: of the matched guest accesses, QEMU logged 1 as several narrower accesses \
             (split to the device model's maximum access size) and 1 as one wider access \
             (widened to its minimum access size); each counts as one match"
        );
        assert_eq!(lines.next(), None);

        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["matched"], 2);
        assert_eq!(json["split"], 1);
        assert_eq!(json["widened"], 1);
        let d = &json["differences"];
        assert_eq!(d[0]["split_pieces"], 4);
        assert_eq!(d[0]["qemu"]["value"], "0x900");
        assert_eq!(d[0]["qemu"]["width"], 4);
        assert_eq!(d[0]["qemu"]["line"], 10);
        assert_eq!(d[0].get("widened_value"), None);
        assert_eq!(d[1]["widened_value"], "0x13");
        assert_eq!(d[1]["qemu"]["value"], "0xabcd13ef");
        assert_eq!(d[1].get("split_pieces"), None);
    }

    #[test]
    fn notes_explain_an_empty_comparison() {
        let c = compare(&target(), &[], &[], &CompareOptions::default());
        let regions = ["e1000".to_string()];
        let qemu = QemuTrace {
            regions_seen: vec!["e1000-mmio".to_string()],
            ..QemuTrace::default()
        };
        let report = Report::new(
            "e1000",
            &target(),
            &GuestTrace::default(),
            &qemu,
            &filter(&regions),
            &c,
            20,
        );
        assert_eq!(report.verdict, Verdict::Fail);
        let notes = report.notes.join("\n");
        assert!(notes.contains("bar0 0xfeb80000+0x20000"), "{notes}");
        assert!(
            notes.contains("no ops of region(s) 'e1000'; regions in the log: 'e1000-mmio'"),
            "{notes}"
        );
        assert!(notes.contains("nothing was compared"), "{notes}");
    }
}
