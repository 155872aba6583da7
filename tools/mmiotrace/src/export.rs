// SPDX-License-Identifier: GPL-2.0
//! `mmiotrace export --json`: every record as one JSON object per line
//! (JSON Lines), in file order.
//!
//! Every object has the record's `line` and `kind` (`version`, `pcidev`,
//! `map`, `unmap`, `read`, `write`, `unknown`, `mark`, `lost`); times are
//! numbers of seconds, addresses and values `0x` hex strings. Accesses,
//! MAP and UNMAP records carry the BAR and offset of their address and the
//! device's `device` (vendor:device) and `bdf` (bus:dev.fn), all `null`
//! outside the memory BARs of the PCIDEV lines:
//!
//! ```text
//! {"line":12,"kind":"read","time":70.162001,"map":1,"phys":"0xfebc0008","bar":0,"offset":"0x8","width":4,"value":"0x80080783","pc":"0x0","pid":0,"device":"8086:100e","bdf":"00:02.0"}
//! ```

use std::io::Write;

use serde::Serialize;

use crate::check::Place;
use crate::stream::{Context, Hex, Sink, Tracker};
use crate::trace::{Direction, Entry, Record, Timestamp};
use crate::Error;

/// One used resource of a PCIDEV line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Resource {
    /// 0..5, or 6 for the expansion ROM.
    bar: u8,
    /// `memory` or `io`.
    space: &'static str,
    start: Hex,
    size: Hex,
}

/// Where an address is, for the JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Located {
    bar: Option<u8>,
    offset: Option<Hex>,
    device: Option<String>,
    bdf: Option<String>,
}

impl Located {
    fn new(place: Option<Place>, tracker: &Tracker) -> Self {
        let Some(p) = place else {
            return Located::default();
        };
        let dev = tracker.device(p.device);
        Located {
            bar: Some(p.bar),
            offset: Some(Hex(p.offset)),
            device: dev.map(|d| d.ids()),
            bdf: dev.map(|d| d.bdf()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct AccessItem {
    time: Timestamp,
    map: i32,
    phys: Hex,
    bar: Option<u8>,
    offset: Option<Hex>,
    width: u8,
    value: Hex,
    pc: Hex,
    pid: i32,
    device: Option<String>,
    bdf: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Item<'a> {
    Version {
        version: &'a str,
    },
    Pcidev {
        bdf: String,
        device: String,
        irq: u32,
        driver: Option<&'a str>,
        resources: Vec<Resource>,
    },
    Map {
        time: Timestamp,
        map: i32,
        phys: Hex,
        len: Hex,
        virt: Hex,
        bar: Option<u8>,
        offset: Option<Hex>,
        device: Option<String>,
        bdf: Option<String>,
    },
    /// `phys` and `len` are those of the MAP line, `null` if the id was
    /// not mapped.
    Unmap {
        time: Timestamp,
        map: i32,
        phys: Option<Hex>,
        len: Option<Hex>,
        bar: Option<u8>,
        offset: Option<Hex>,
        device: Option<String>,
        bdf: Option<String>,
    },
    Read(AccessItem),
    Write(AccessItem),
    Unknown {
        time: Timestamp,
        map: i32,
        phys: Hex,
        bar: Option<u8>,
        offset: Option<Hex>,
        /// The first three instruction bytes: `f3,a5,48`.
        opcode: String,
        pc: Hex,
        pid: i32,
        device: Option<String>,
        bdf: Option<String>,
    },
    Mark {
        time: Timestamp,
        text: &'a str,
    },
    /// `MARK 0.000000 Lost N events.`
    Lost {
        events: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Line<'a> {
    line: u64,
    #[serde(flatten)]
    item: Item<'a>,
}

fn item<'a>(record: &'a Record, context: &Context, tracker: &Tracker) -> Item<'a> {
    let at = Located::new(context.place, tracker);
    match record {
        Record::Version(v) => Item::Version { version: v },
        Record::PciDev(dev) => Item::Pcidev {
            bdf: dev.bdf(),
            device: dev.ids(),
            irq: dev.irq,
            driver: dev.driver.as_deref(),
            resources: (0..dev.resources.len())
                .filter_map(|i| {
                    let res = dev.resources.get(i).filter(|r| r.is_used())?;
                    Some(Resource {
                        bar: i as u8,
                        space: if dev.is_memory(i) { "memory" } else { "io" },
                        start: Hex(res.start()),
                        size: Hex(res.size),
                    })
                })
                .collect(),
        },
        Record::Map(m) => Item::Map {
            time: m.time,
            map: m.map_id,
            phys: Hex(m.phys),
            len: Hex(m.len),
            virt: Hex(m.virt),
            bar: at.bar,
            offset: at.offset,
            device: at.device,
            bdf: at.bdf,
        },
        Record::Unmap(u) => Item::Unmap {
            time: u.time,
            map: u.map_id,
            phys: context.map.map(|m| Hex(m.map.phys)),
            len: context.map.map(|m| Hex(m.map.len)),
            bar: at.bar,
            offset: at.offset,
            device: at.device,
            bdf: at.bdf,
        },
        Record::Access(a) => {
            let access = AccessItem {
                time: a.time,
                map: a.map_id,
                phys: Hex(a.phys),
                bar: at.bar,
                offset: at.offset,
                width: a.width,
                value: Hex(a.value),
                pc: Hex(a.pc),
                pid: a.pid,
                device: at.device,
                bdf: at.bdf,
            };
            match a.dir {
                Direction::Read => Item::Read(access),
                Direction::Write => Item::Write(access),
            }
        }
        Record::Unknown(u) => {
            let [b0, b1, b2] = u.opcode;
            Item::Unknown {
                time: u.time,
                map: u.map_id,
                phys: Hex(u.phys),
                bar: at.bar,
                offset: at.offset,
                opcode: format!("{b0:02x},{b1:02x},{b2:02x}"),
                pc: Hex(u.pc),
                pid: u.pid,
                device: at.device,
                bdf: at.bdf,
            }
        }
        Record::Mark(m) => Item::Mark {
            time: m.time,
            text: &m.text,
        },
        Record::LostEvents(n) => Item::Lost { events: *n },
    }
}

/// The JSON object of one record, without a line terminator.
pub fn to_json(entry: &Entry, context: &Context, tracker: &Tracker) -> String {
    let line = Line {
        line: entry.line,
        item: item(&entry.record, context, tracker),
    };
    // Serializing plain structs of strings and numbers cannot fail.
    serde_json::to_string(&line).unwrap_or_default()
}

/// Writes each record as one line of JSON.
pub struct Exporter<W> {
    out: W,
}

impl<W: Write> Exporter<W> {
    pub fn new(out: W) -> Self {
        Exporter { out }
    }
}

impl<W: Write> Sink for Exporter<W> {
    fn record(&mut self, entry: &Entry, context: &Context, tracker: &Tracker) -> Result<(), Error> {
        let line = Line {
            line: entry.line,
            item: item(&entry.record, context, tracker),
        };
        serde_json::to_writer(&mut self.out, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(self.out))
            .map_err(|source| Error::Write { source })
    }

    fn finish(&mut self, _lines: u64, _tracker: &Tracker) -> Result<(), Error> {
        self.out.flush().map_err(|source| Error::Write { source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::tests::{entry, tracker, HEADER};
    use crate::stream::{self, Tracker};

    fn export(tracker: &mut Tracker, line: u64, text: &str) -> serde_json::Value {
        let e = entry(line, text);
        let c = tracker.update(&e);
        serde_json::from_str(&to_json(&e, &c, tracker)).unwrap()
    }

    #[test]
    fn accesses() {
        let mut t = tracker();
        let read = to_json(
            &entry(12, "R 4 70.162001 1 0xfebc0008 0x80080783 0x0 0"),
            &t.update(&entry(12, "R 4 70.162001 1 0xfebc0008 0x80080783 0x0 0")),
            &t,
        );
        assert_eq!(
            read,
            r#"{"line":12,"kind":"read","time":70.162001,"map":1,"phys":"0xfebc0008","bar":0,"offset":"0x8","width":4,"value":"0x80080783","pc":"0x0","pid":0,"device":"8086:100e","bdf":"00:02.0"}"#
        );
        let w = export(
            &mut t,
            13,
            "W 1 70.162002 -1 0xfed00000 0xff 0xffffffff81000000 42",
        );
        assert_eq!(w["kind"], "write");
        assert_eq!(w["map"], -1);
        assert_eq!(w["bar"], serde_json::Value::Null);
        assert_eq!(w["offset"], serde_json::Value::Null);
        assert_eq!(w["device"], serde_json::Value::Null);
        assert_eq!(w["pc"], "0xffffffff81000000");
        assert_eq!(w["pid"], 42);
        let u = export(&mut t, 14, "UNKNOWN 12.345900 1 0xfebe0100 f3,a5,48 0x0 0");
        assert_eq!(u["kind"], "unknown");
        assert_eq!(u["opcode"], "f3,a5,48");
        assert_eq!(u["device"], "1b36:0005");
        assert_eq!(u["offset"], "0x100");
        assert_eq!(u.get("width"), None);
    }

    #[test]
    fn maps_marks_and_header() {
        let mut t = Tracker::new();
        let v = export(&mut t, 1, "VERSION 20070824");
        assert_eq!(
            v,
            serde_json::json!({"line": 1, "kind": "version", "version": "20070824"})
        );
        let p = export(
            &mut t,
            2,
            "PCIDEV 0010 8086100e a febc0000 c101 0 0 0 0 fff00001 20000 40 0 0 0 0 800 e1000",
        );
        assert_eq!(
            p,
            serde_json::json!({"line": 2, "kind": "pcidev", "bdf": "00:02.0",
                "device": "8086:100e", "irq": 10, "driver": "e1000", "resources": [
                {"bar": 0, "space": "memory", "start": "0xfebc0000", "size": "0x20000"},
                {"bar": 1, "space": "io", "start": "0xc100", "size": "0x40"},
                {"bar": 6, "space": "memory", "start": "0xfff00000", "size": "0x800"}]})
        );
        let m = export(
            &mut t,
            3,
            "MAP 1.500000 2 0xfebc0100 0xffffc90000035000 0x100 0x0 0",
        );
        assert_eq!(
            m,
            serde_json::json!({"line": 3, "kind": "map", "time": 1.5, "map": 2,
                "phys": "0xfebc0100", "len": "0x100", "virt": "0xffffc90000035000",
                "bar": 0, "offset": "0x100", "device": "8086:100e", "bdf": "00:02.0"})
        );
        let u = export(&mut t, 4, "UNMAP 2.000000 2 0x0 0");
        assert_eq!(u["phys"], "0xfebc0100");
        assert_eq!(u["len"], "0x100");
        assert_eq!(u["offset"], "0x100");
        let u = export(&mut t, 5, "UNMAP 2.000001 2 0x0 0");
        assert_eq!(u["phys"], serde_json::Value::Null);
        assert_eq!(u["device"], serde_json::Value::Null);
        let l = export(&mut t, 6, "MARK 0.000000 Lost 17 events.");
        assert_eq!(
            l,
            serde_json::json!({"line": 6, "kind": "lost", "events": 17})
        );
        let k = export(&mut t, 7, "MARK 3.000000 \"quoted\" text");
        assert_eq!(
            k,
            serde_json::json!({"line": 7, "kind": "mark", "time": 3.0, "text": "\"quoted\" text"})
        );
    }

    #[test]
    fn exporter_writes_one_line_per_record() {
        let text = format!("{HEADER}R 4 1.0 1 0xfebc0008 0x1 0x0 0\nbad\nMARK 2.0 x\n");
        let mut out = Vec::new();
        let mut skipped = 0;
        stream::run(text.as_bytes(), &mut Exporter::new(&mut out), &mut |_| {
            skipped += 1;
            Ok(())
        })
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let kinds: Vec<&str> = lines.iter().filter_map(|v| v["kind"].as_str()).collect();
        assert_eq!(kinds, ["version", "pcidev", "pcidev", "read", "mark"]);
        assert_eq!(lines[4]["line"], 6);
        assert_eq!(skipped, 1);
    }
}
