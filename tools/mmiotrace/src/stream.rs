// SPDX-License-Identifier: GPL-2.0
//! Walking a trace record by record, with the state the records before
//! build up: the PCI devices of the PCIDEV lines and their memory BARs, and
//! the live mappings (from MAP to UNMAP, per map id; an id may be used again
//! after its UNMAP). What `print`, `stats` and `export` share.
//!
//! [`run`] reads a trace and hands every record, with its [`Context`], to a
//! [`Sink`]. Memory does not grow with the length of the trace: only the
//! devices and the live mappings are kept.

use std::collections::HashMap;
use std::io::BufRead;

use serde::{Serialize, Serializer};

use crate::check::{Place, Target};
use crate::trace::{Entry, Map, PciDev, Record, TraceReader};
use crate::Error;

/// A number that is a `0x`-prefixed hex string in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hex(pub u64);

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{:#x}", self.0))
    }
}

/// A mapping between its MAP and its UNMAP line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveMap {
    /// The line of the MAP record.
    pub line: u64,
    pub map: Map,
}

impl LiveMap {
    /// Whether `addr` lies in the mapped physical range.
    pub fn contains(&self, addr: u64) -> bool {
        addr.checked_sub(self.map.phys)
            .is_some_and(|offset| offset < self.map.len)
    }
}

/// What the records before say about one record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Context {
    /// R, W and UNKNOWN: the memory BAR containing the address. MAP and
    /// UNMAP: the BAR containing the start of the mapped range.
    pub place: Option<Place>,
    /// R, W and UNKNOWN: the live mapping of the record's map id. MAP: a
    /// mapping of the same id that had no UNMAP yet (it is replaced). UNMAP:
    /// the mapping that ends; `None` if the id was not mapped.
    pub map: Option<LiveMap>,
}

/// The devices and live mappings seen so far.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// Every PCIDEV line so far, in order, and their memory BARs.
    devices: Target,
    /// The live mappings by map id.
    maps: HashMap<i32, LiveMap>,
}

impl Tracker {
    pub fn new() -> Self {
        Tracker::default()
    }

    /// Takes `entry` into account and returns its context.
    pub fn update(&mut self, entry: &Entry) -> Context {
        match &entry.record {
            Record::PciDev(dev) => {
                self.devices.push(entry.line, dev.clone());
                Context::default()
            }
            Record::Map(map) => {
                let live = LiveMap {
                    line: entry.line,
                    map: *map,
                };
                Context {
                    place: self.locate(map.phys),
                    map: self.maps.insert(map.map_id, live),
                }
            }
            Record::Unmap(unmap) => {
                let ended = self.maps.remove(&unmap.map_id);
                Context {
                    place: ended.and_then(|m| self.locate(m.map.phys)),
                    map: ended,
                }
            }
            Record::Access(a) => self.access_context(a.map_id, a.phys),
            Record::Unknown(u) => self.access_context(u.map_id, u.phys),
            Record::Version(_) | Record::Mark(_) | Record::LostEvents(_) => Context::default(),
        }
    }

    fn access_context(&self, map_id: i32, phys: u64) -> Context {
        Context {
            place: self.locate(phys),
            map: self.maps.get(&map_id).copied(),
        }
    }

    /// The memory BAR containing `addr` (the first one, should BARs overlap).
    pub fn locate(&self, addr: u64) -> Option<Place> {
        self.devices.locate(addr)
    }

    /// The PCIDEV lines so far, with their line numbers; [`Place::device`]
    /// indexes this.
    pub fn devices(&self) -> &[(u64, PciDev)] {
        &self.devices.devices
    }

    /// The device of a [`Place`].
    pub fn device(&self, index: usize) -> Option<&PciDev> {
        self.devices.devices.get(index).map(|(_, dev)| dev)
    }

    /// How the device is named in `print` output: `8086:100e`, or
    /// `8086:100e@00:02.0` if another PCIDEV line has the same ids.
    pub fn label(&self, index: usize) -> String {
        let Some(dev) = self.device(index) else {
            return String::new();
        };
        let twins = self
            .devices()
            .iter()
            .filter(|(_, d)| d.vendor == dev.vendor && d.device == dev.device)
            .count();
        if twins > 1 {
            format!("{}@{}", dev.ids(), dev.bdf())
        } else {
            dev.ids()
        }
    }

    /// Whether the physical range `start..start + len` overlaps a memory BAR
    /// of a device that `select` accepts.
    pub fn overlaps(&self, start: u64, len: u64, select: impl Fn(&PciDev) -> bool) -> bool {
        let end = start.saturating_add(len.max(1));
        self.devices.bars.iter().any(|bar| {
            let bar_end = bar.start.saturating_add(bar.size);
            start < bar_end && bar.start < end && self.device(bar.device).is_some_and(&select)
        })
    }

    /// The mapping `map_id` refers to now, if any.
    pub fn live_map(&self, map_id: i32) -> Option<&LiveMap> {
        self.maps.get(&map_id)
    }
}

/// What consumes the records of [`run`].
pub trait Sink {
    /// One record, in file order, with its context.
    fn record(&mut self, entry: &Entry, context: &Context, tracker: &Tracker) -> Result<(), Error>;

    /// A malformed line (before it goes to the error handler of [`run`]).
    fn malformed(&mut self, _error: &Error) {}

    /// The end of the trace, after `lines` lines.
    fn finish(&mut self, _lines: u64, _tracker: &Tracker) -> Result<(), Error> {
        Ok(())
    }
}

/// Reads a trace and feeds every record to `sink`. Malformed lines go to
/// `on_error`, which returns `Err` to stop reading (`--strict`) or `Ok` to
/// skip the line; read errors and errors of the sink always stop.
pub fn run<R: BufRead, S: Sink + ?Sized>(
    reader: R,
    sink: &mut S,
    on_error: &mut dyn FnMut(Error) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut reader = TraceReader::new(reader);
    let mut tracker = Tracker::new();
    for item in reader.by_ref() {
        match item {
            Ok(entry) => {
                let context = tracker.update(&entry);
                sink.record(&entry, &context, &tracker)?;
            }
            Err(e @ Error::Read { .. }) => return Err(e),
            Err(e) => {
                sink.malformed(&e);
                on_error(e)?;
            }
        }
    }
    sink.finish(reader.lines_read(), &tracker)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::trace::parse_record;

    pub(crate) const HEADER: &str = "\
VERSION 20070824
PCIDEV 0010 8086100e a febc0000 c101 0 0 0 0 0 20000 40 0 0 0 0 0 
PCIDEV 0018 1b360005 0 febe0000 c001 0 0 0 0 0 1000 100 0 0 0 0 0 
";

    pub(crate) fn entry(line: u64, text: &str) -> Entry {
        Entry {
            line,
            record: parse_record(text.as_bytes(), line).unwrap(),
        }
    }

    /// A tracker that has seen [`HEADER`].
    pub(crate) fn tracker() -> Tracker {
        let mut t = Tracker::new();
        for (i, line) in HEADER.lines().enumerate() {
            t.update(&entry(i as u64 + 1, line));
        }
        t
    }

    #[test]
    fn accesses_are_located_in_bars() {
        let mut t = tracker();
        let c = t.update(&entry(4, "R 4 1.000000 1 0xfebc0008 0x1 0x0 0"));
        let place = c.place.unwrap();
        assert_eq!((place.device, place.bar, place.offset), (0, 0, 8));
        let c = t.update(&entry(5, "W 1 1.000000 2 0xfebe0fff 0x1 0x0 0"));
        let place = c.place.unwrap();
        assert_eq!((place.device, place.bar, place.offset), (1, 0, 0xfff));
        // Just past the end of pci-testdev's BAR, and in its I/O BAR.
        let c = t.update(&entry(6, "W 1 1.000000 2 0xfebe1000 0x1 0x0 0"));
        assert_eq!(c.place, None);
        assert_eq!(t.locate(0xc000), None);
        assert_eq!(t.label(0), "8086:100e");
        assert_eq!(t.label(9), "");
    }

    #[test]
    fn maps_are_tracked_per_id_and_ids_reused() {
        let mut t = tracker();
        let c = t.update(&entry(
            4,
            "MAP 1.000000 1 0xfebc0000 0xffffc90000 0x20000 0x0 0",
        ));
        assert_eq!(c.place.map(|p| (p.device, p.offset)), Some((0, 0)));
        assert_eq!(c.map, None);
        let c = t.update(&entry(5, "R 4 1.000001 1 0xfebc0008 0x1 0x0 0"));
        assert_eq!(c.map.map(|m| m.line), Some(4));
        let c = t.update(&entry(6, "UNMAP 2.000000 1 0x0 0"));
        assert_eq!(c.map.map(|m| m.line), Some(4));
        assert_eq!(c.place.map(|p| p.device), Some(0));
        assert!(t.live_map(1).is_none());
        // Id 1 again, for the other device.
        let c = t.update(&entry(
            7,
            "MAP 3.000000 1 0xfebe0000 0xffffc90001 0x1000 0x0 0",
        ));
        assert_eq!(c.map, None, "the first mapping has ended");
        let c = t.update(&entry(8, "R 1 3.000001 1 0xfebe0008 0xfa 0x0 0"));
        let live = c.map.unwrap();
        assert_eq!((live.line, live.map.phys), (7, 0xfebe_0000));
        assert!(live.contains(0xfebe_0fff));
        assert!(!live.contains(0xfebe_1000));
        assert!(!live.contains(0xfebd_ffff));
        // A second MAP of a live id replaces it.
        let c = t.update(&entry(
            9,
            "MAP 4.000000 1 0xfed00000 0xffffc90002 0x400 0x0 0",
        ));
        assert_eq!(c.map.map(|m| m.line), Some(7));
        assert_eq!(c.place, None);
        let c = t.update(&entry(10, "UNMAP 5.000000 1 0x0 0"));
        assert_eq!(c.map.map(|m| m.line), Some(9));
        let c = t.update(&entry(11, "UNMAP 5.000001 1 0x0 0"));
        assert_eq!(c, Context::default(), "nothing left to unmap");
    }

    #[test]
    fn ranges_overlap_bars_of_selected_devices() {
        let t = tracker();
        let e1000 = |d: &PciDev| d.device == 0x100e;
        assert!(t.overlaps(0xfebc_0000, 0x20000, e1000));
        assert!(t.overlaps(0xfebb_0000, 0x10001, e1000));
        assert!(!t.overlaps(0xfebb_0000, 0x10000, e1000));
        assert!(t.overlaps(0xfebd_ffff, 0, e1000), "an address is one byte");
        assert!(!t.overlaps(0xfebe_0000, 0x1000, e1000));
        assert!(t.overlaps(0xfebe_0000, 0x1000, |_| true));
        assert!(!t.overlaps(u64::MAX, u64::MAX, |_| true));
    }

    /// Collects what [`run`] hands over.
    #[derive(Default)]
    struct Collect {
        lines: Vec<u64>,
        malformed: Vec<u64>,
        finished: Option<u64>,
    }

    impl Sink for Collect {
        fn record(&mut self, entry: &Entry, _: &Context, _: &Tracker) -> Result<(), Error> {
            self.lines.push(entry.line);
            Ok(())
        }
        fn malformed(&mut self, error: &Error) {
            self.malformed.push(error.line().unwrap_or(0));
        }
        fn finish(&mut self, lines: u64, tracker: &Tracker) -> Result<(), Error> {
            assert_eq!(tracker.devices().len(), 2);
            self.finished = Some(lines);
            Ok(())
        }
    }

    #[test]
    fn run_skips_or_stops_at_malformed_lines() {
        let text = format!("{HEADER}R 4 1.0 1 0xfebc0008 0x1 0x0 0\nR 4 1.0 1\n\nW 4 1.0 1 0x0");
        let mut sink = Collect::default();
        let mut skipped = 0;
        run(text.as_bytes(), &mut sink, &mut |_| {
            skipped += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(sink.lines, [1, 2, 3, 4]);
        assert_eq!(sink.malformed, [5, 7]);
        assert_eq!(skipped, 2);
        assert_eq!(sink.finished, Some(7));

        let mut sink = Collect::default();
        let err = run(text.as_bytes(), &mut sink, &mut Err).unwrap_err();
        assert_eq!(err.line(), Some(5));
        assert_eq!(sink.lines, [1, 2, 3, 4]);
        assert_eq!(sink.finished, None);
    }
}
