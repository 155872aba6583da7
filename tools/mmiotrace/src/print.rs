// SPDX-License-Identifier: GPL-2.0
//! `mmiotrace print`: a trace as one human-readable line per record.
//!
//! ```text
//!               VERSION 20070824
//!               PCIDEV 00:02.0 8086:100e irq 10  bar0 0xfebc0000 +0x20000  bar1 io 0xc100 +0x40
//!    87.463594  MAP    #1  0xfebc0000 +0x20000  -> 0xffffc900002a0000  8086:100e bar0
//!    87.474642  R4     #1  bar0+0x0008  0x80080783            8086:100e
//!    87.480063  W4     #1  bar0+0x00d8  0xffffffff            8086:100e
//!    87.480372  UNKNOWN #1 bar0+0x0100  opcode f3,a5,48       8086:100e
//!    87.480400  W1     #1  0xfed00010   0x00
//!    87.487000  MARK   any text
//!     0.000000  LOST   17 events
//!    93.007397  UNMAP  #1  0xfebc0000 +0x20000  8086:100e bar0
//! ```
//!
//! Addresses inside a memory BAR of a PCIDEV line are shown as BAR offsets,
//! others as physical addresses; values have as many hex digits as the
//! access is wide. An UNMAP line shows the range that its MAP line mapped.

use std::io::Write;

use crate::annotate::{self, DeviceDbs};
use crate::check::{self, DeviceSelector, Place};
use crate::regdb::RegDb;
use crate::stream::{Context, Sink, Tracker};
use crate::trace::{Entry, PciDev, Record, Timestamp};
use crate::Error;

/// Writes each record as one line, optionally only those of one device.
pub struct Printer<W> {
    out: W,
    device: Option<DeviceSelector>,
    /// Whether `device` has been checked against the PCIDEV lines.
    checked: bool,
    /// `annotate`: register names and bit fields from these databases, and
    /// which one each device uses.
    regdb: Option<(RegDb, DeviceDbs)>,
    /// The line being written (reused).
    line: String,
}

impl<W: Write> Printer<W> {
    /// A printer of every record, or with `device` only the records of that
    /// device (its PCIDEV lines, the mappings that overlap its memory BARs
    /// and the accesses inside them) and the VERSION and MARK lines.
    pub fn new(out: W, device: Option<DeviceSelector>) -> Self {
        Printer {
            out,
            device,
            checked: false,
            regdb: None,
            line: String::new(),
        }
    }

    /// Shows accesses as `annotate` does, with the registers of `regdb`.
    pub fn with_regdb(mut self, regdb: RegDb) -> Self {
        self.regdb = Some((regdb, DeviceDbs::default()));
        self
    }

    /// The selected device must have a PCIDEV line.
    fn check_device(&mut self, tracker: &Tracker) -> Result<(), Error> {
        self.checked = true;
        match &self.device {
            Some(sel) if !tracker.devices().iter().any(|(_, d)| sel.matches(d)) => {
                Err(check::no_device(sel, tracker.devices()))
            }
            _ => Ok(()),
        }
    }
}

/// Whether the record belongs to a device that `selector` matches.
fn keep(selector: &DeviceSelector, entry: &Entry, context: &Context, tracker: &Tracker) -> bool {
    let selected = |dev: &PciDev| selector.matches(dev);
    match &entry.record {
        Record::Version(_) | Record::Mark(_) | Record::LostEvents(_) => true,
        Record::PciDev(dev) => selector.matches(dev),
        Record::Map(map) => tracker.overlaps(map.phys, map.len, selected),
        Record::Unmap(_) => context
            .map
            .is_some_and(|m| tracker.overlaps(m.map.phys, m.map.len, selected)),
        Record::Access(a) => tracker.overlaps(a.phys, u64::from(a.width), selected),
        Record::Unknown(u) => tracker.overlaps(u.phys, 1, selected),
    }
}

impl<W: Write> Sink for Printer<W> {
    fn record(&mut self, entry: &Entry, context: &Context, tracker: &Tracker) -> Result<(), Error> {
        if let Some(selector) = self.device {
            // The PCIDEV lines come first: check once they are all there.
            let header = matches!(entry.record, Record::Version(_) | Record::PciDev(_));
            if !self.checked && !header {
                self.check_device(tracker)?;
            }
            if !keep(&selector, entry, context, tracker) {
                return Ok(());
            }
        }
        let written = match &mut self.regdb {
            Some((db, dbs)) => {
                self.line.clear();
                annotate::write_record(&mut self.line, db, dbs, entry, context, tracker);
                self.line.push('\n');
                self.out.write_all(self.line.as_bytes())
            }
            None => writeln!(self.out, "{}", format_record(entry, context, tracker)),
        };
        written.map_err(|source| Error::Write { source })
    }

    fn finish(&mut self, _lines: u64, tracker: &Tracker) -> Result<(), Error> {
        if !self.checked {
            self.check_device(tracker)?;
        }
        self.out.flush().map_err(|source| Error::Write { source })
    }
}

/// One line: the time right-aligned in 12 columns, the record kind in 6
/// and, for records of a mapping, `#id`; `rest` starts in the same column
/// for all of those.
fn line(time: Option<Timestamp>, kind: &str, map_id: Option<i32>, rest: &str) -> String {
    let time = time.map_or_else(String::new, |t| t.to_string());
    let mut text = match map_id {
        Some(id) => format!("{time:>12}  {:<10} {rest}", format!("{kind:<6} #{id}")),
        None => format!("{time:>12}  {kind:<6} {rest}"),
    };
    text.truncate(text.trim_end().len());
    text
}

/// `bar0+0x0008`, or the physical address outside the BARs.
fn location(place: Option<Place>, phys: u64) -> String {
    match place {
        Some(p) => format!("bar{}+{:#06x}", p.bar, p.offset),
        None => format!("{phys:#x}"),
    }
}

/// `8086:100e e1000 bar0` (`bar0+0x100` inside the BAR), or nothing.
fn mapped_device(place: Option<Place>, tracker: &Tracker) -> String {
    let Some(p) = place else {
        return String::new();
    };
    let mut text = tracker.label(p.device);
    if let Some(driver) = tracker.device(p.device).and_then(|d| d.driver.as_deref()) {
        text.push(' ');
        text.push_str(driver);
    }
    if p.offset == 0 {
        text.push_str(&format!(" bar{}", p.bar));
    } else {
        text.push_str(&format!(" bar{}+{:#x}", p.bar, p.offset));
    }
    text
}

/// `00:02.0 8086:100e e1000 irq 10  bar0 0xfebc0000 +0x20000  bar1 io 0xc100 +0x40`
fn describe_pcidev(dev: &PciDev) -> String {
    let mut text = format!("{} {}", dev.bdf(), dev.ids());
    if let Some(driver) = &dev.driver {
        text.push(' ');
        text.push_str(driver);
    }
    text.push_str(&format!(" irq {}", dev.irq));
    for (index, res) in dev.resources.iter().enumerate() {
        if !res.is_used() {
            continue;
        }
        let name = if index == 6 {
            "rom".to_string()
        } else {
            format!("bar{index}")
        };
        let space = if dev.is_memory(index) { "" } else { " io" };
        text.push_str(&format!(
            "  {name}{space} {:#x} +{:#x}",
            res.start(),
            res.size
        ));
    }
    text
}

/// The line `print` shows for one record.
pub fn format_record(entry: &Entry, context: &Context, tracker: &Tracker) -> String {
    let device = |place: Option<Place>| place.map_or_else(String::new, |p| tracker.label(p.device));
    match &entry.record {
        Record::Version(v) => line(None, "VERSION", None, v),
        Record::PciDev(dev) => line(None, "PCIDEV", None, &describe_pcidev(dev)),
        Record::Map(m) => line(
            Some(m.time),
            "MAP",
            Some(m.map_id),
            &format!(
                "{:#x} +{:#x}  -> {:#x}  {}",
                m.phys,
                m.len,
                m.virt,
                mapped_device(context.place, tracker)
            ),
        ),
        Record::Unmap(u) => {
            let rest = match context.map {
                Some(live) => format!(
                    "{:#x} +{:#x}  {}",
                    live.map.phys,
                    live.map.len,
                    mapped_device(context.place, tracker)
                ),
                None => "(not mapped)".to_string(),
            };
            line(Some(u.time), "UNMAP", Some(u.map_id), &rest)
        }
        Record::Access(a) => {
            let digits = 2 * usize::from(a.width);
            let value = format!("{:#0w$x}", a.value, w = digits + 2);
            line(
                Some(a.time),
                &format!("{}{}", a.dir.letter(), a.width),
                Some(a.map_id),
                &format!(
                    "{:<11}  {value:<20}  {}",
                    location(context.place, a.phys),
                    device(context.place)
                ),
            )
        }
        Record::Unknown(u) => {
            let [b0, b1, b2] = u.opcode;
            line(
                Some(u.time),
                "UNKNOWN",
                Some(u.map_id),
                &format!(
                    "{:<11}  {:<20}  {}",
                    location(context.place, u.phys),
                    format!("opcode {b0:02x},{b1:02x},{b2:02x}"),
                    device(context.place)
                ),
            )
        }
        Record::Mark(m) => line(Some(m.time), "MARK", None, &m.text),
        Record::LostEvents(n) => line(
            Some(Timestamp::default()),
            "LOST",
            None,
            &format!("{n} event{}", if *n == 1 { "" } else { "s" }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::tests::{entry, tracker, HEADER};
    use crate::stream::{self, Tracker};

    /// Prints `text` after [`HEADER`] (without printing the header).
    fn print_lines(tracker: &mut Tracker, lines: &[&str]) -> Vec<String> {
        lines
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let e = entry(i as u64 + 10, text);
                let c = tracker.update(&e);
                format_record(&e, &c, tracker)
            })
            .collect()
    }

    #[test]
    fn records_are_formatted() {
        let mut t = tracker();
        let out = print_lines(
            &mut t,
            &[
                "MAP 70.161978 1 0xfebc0000 0xffffc900002c0000 0x20000 0x0 0",
                "R 4 70.162001 1 0xfebc0008 0x80080783 0x0 0",
                "W 4 70.162010 1 0xfebc0000 0x4000000 0x0 0",
                "W 1 70.162011 1 0xfebc0003 0x4 0x0 0",
                "R 2 70.162012 1 0xfebc1ffe 0xa 0x0 0",
                "R 8 70.162013 1 0xfebc0010 0x1 0x0 0",
                "UNKNOWN 70.170000 1 0xfebc0100 f3,a5,48 0x0 0",
                "UNMAP 75.935887 1 0x0 0",
                "UNMAP 75.935888 1 0x0 0",
                "MARK 12.500000 any text",
                "MARK 0.000000 Lost 17 events.",
                "MARK 0.000000 Lost 1 events.",
                "MAP 80.000000 12 0xfebe0100 0xffffc90000035100 0x100 0x0 0",
                "W 4 80.000001 12 0xfed00000 0x1 0xffffffff81000000 42",
            ],
        );
        let expected = [
            "   70.161978  MAP    #1  0xfebc0000 +0x20000  -> 0xffffc900002c0000  8086:100e bar0",
            "   70.162001  R4     #1  bar0+0x0008  0x80080783            8086:100e",
            "   70.162010  W4     #1  bar0+0x0000  0x04000000            8086:100e",
            "   70.162011  W1     #1  bar0+0x0003  0x04                  8086:100e",
            "   70.162012  R2     #1  bar0+0x1ffe  0x000a                8086:100e",
            "   70.162013  R8     #1  bar0+0x0010  0x0000000000000001    8086:100e",
            "   70.170000  UNKNOWN #1 bar0+0x0100  opcode f3,a5,48       8086:100e",
            "   75.935887  UNMAP  #1  0xfebc0000 +0x20000  8086:100e bar0",
            "   75.935888  UNMAP  #1  (not mapped)",
            "   12.500000  MARK   any text",
            "    0.000000  LOST   17 events",
            "    0.000000  LOST   1 event",
            "   80.000000  MAP    #12 0xfebe0100 +0x100  -> 0xffffc90000035100  1b36:0005 bar0+0x100",
            "   80.000001  W4     #12 0xfed00000   0x00000001",
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn header_records_are_formatted() {
        let mut t = Tracker::new();
        let lines: Vec<&str> = HEADER.lines().collect();
        let out = print_lines(&mut t, &lines);
        assert_eq!(
            out,
            [
                "              VERSION 20070824",
                "              PCIDEV 00:02.0 8086:100e irq 10  bar0 0xfebc0000 +0x20000  \
                 bar1 io 0xc100 +0x40",
                "              PCIDEV 00:03.0 1b36:0005 irq 0  bar0 0xfebe0000 +0x1000  \
                 bar1 io 0xc000 +0x100",
            ]
        );
        let out = print_lines(
            &mut t,
            &[
                "PCIDEV 0028 8086100e b fe00000c 0 0 0 0 0 fff00001 4000 0 0 0 0 0 800 e1000",
                "R 4 1.000000 3 0xfebc0008 0x1 0x0 0",
                "MAP 1.000001 3 0xfe000000 0xffffc90000035100 0x4000 0x0 0",
            ],
        );
        assert_eq!(
            out,
            [
                "              PCIDEV 00:05.0 8086:100e e1000 irq 11  bar0 0xfe000000 +0x4000  \
                 rom 0xfff00000 +0x800",
                // Two devices with the same ids: the bus address tells them apart.
                "    1.000000  R4     #3  bar0+0x0008  0x00000001            8086:100e@00:02.0",
                "    1.000001  MAP    #3  0xfe000000 +0x4000  -> 0xffffc90000035100  \
                 8086:100e@00:05.0 e1000 bar0",
            ]
        );
    }

    fn print(text: &str, device: Option<&str>) -> Result<String, Error> {
        let mut out = Vec::new();
        let mut printer = Printer::new(&mut out, device.map(|d| d.parse().unwrap()));
        stream::run(text.as_bytes(), &mut printer, &mut Err)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn device_filter_follows_reused_map_ids() {
        let text = format!(
            "{HEADER}\
             MAP 1.000000 1 0xfebc0000 0xffffc90000 0x20000 0x0 0\n\
             R 4 1.000001 1 0xfebc0008 0x1 0x0 0\n\
             UNMAP 2.000000 1 0x0 0\n\
             MARK 2.500000 between\n\
             MAP 3.000000 1 0xfebe0000 0xffffc90001 0x1000 0x0 0\n\
             R 1 3.000001 1 0xfebe0008 0xfa 0x0 0\n\
             W 4 3.000002 1 0xfed00000 0x1 0x0 0\n\
             UNMAP 4.000000 1 0x0 0\n\
             UNMAP 4.000001 7 0x0 0\n"
        );
        let all = print(&text, None).unwrap();
        assert_eq!(all.lines().count(), 12);
        let testdev = print(&text, Some("00:03.0")).unwrap();
        let lines: Vec<&str> = testdev.lines().collect();
        assert_eq!(lines.len(), 6, "{testdev}");
        assert!(lines[0].contains("VERSION"));
        assert!(lines[1].contains("PCIDEV 00:03.0"));
        assert!(lines[2].contains("MARK   between"));
        assert!(lines[3].contains("MAP    #1  0xfebe0000"));
        assert!(lines[4].contains("R1     #1  bar0+0x0008  0xfa"));
        assert!(lines[5].contains("UNMAP  #1  0xfebe0000 +0x1000"));
        let e1000 = print(&text, Some("8086:100e")).unwrap();
        assert_eq!(e1000.matches("#1").count(), 3, "{e1000}");
        assert!(e1000.contains("UNMAP  #1  0xfebc0000 +0x20000"), "{e1000}");
    }

    #[test]
    fn device_without_pcidev_line_is_an_error() {
        let text = format!("{HEADER}R 4 1.000001 1 0xfebc0008 0x1 0x0 0\n");
        let err = print(&text, Some("8086:10d3")).unwrap_err();
        assert!(matches!(err, Error::NoDevice { .. }), "{err}");
        assert!(err.to_string().contains("1b36:0005 00:03.0"), "{err}");
        // Also when there is nothing after the header.
        let err = print(HEADER, Some("8086:10d3")).unwrap_err();
        assert!(matches!(err, Error::NoDevice { .. }), "{err}");
        assert!(print(HEADER, Some("8086:100e")).is_ok());
    }
}
