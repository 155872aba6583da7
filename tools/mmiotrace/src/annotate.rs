// SPDX-License-Identifier: GPL-2.0
//! `mmiotrace annotate`: `print` with register names and bit fields.
//!
//! ```text
//!    87.474642  R4     #1  bar0+0x0008  STATUS          0x80080783  FD=1 LU=1 SPEED=2(1000M) ASDV=3
//!    87.477410  W4     #1  bar0+0x00d8  IMC             0xffffffff
//!    87.506188  R4     #1  bar0+0x5820  MANC            0x00222300
//!    87.480000  W4     #1  bar0+0x0004  ?               0x00000000
//! ```
//!
//! An access inside a memory BAR of a device that has a register database
//! shows the register's name (`MTA[3]` for an element of an array,
//! `STATUS+0x2` for an access inside a register) or `?` if the database
//! does not have it, then the value and the bit fields that are not zero
//! (only for an access of the register's width at its start). Every other
//! record is shown as `print` shows it.

use std::fmt::Write as _;

use crate::check::Place;
use crate::print;
use crate::regdb::{DeviceDb, Hit, RegDb};
use crate::stream::{Context, Tracker};
use crate::trace::{Entry, Record, Timestamp};

/// The name of the register an access at `place` hits, and its decoded
/// fields for `value`; `None` if the device has no database.
pub fn register_of(
    db: &RegDb,
    tracker: &Tracker,
    place: crate::check::Place,
    width: Option<u8>,
    value: u64,
) -> Option<(String, String)> {
    let device = db.find_device(tracker.device(place.device)?)?;
    Some(match device.find(place.bar, place.offset) {
        Some(hit) => {
            let fields = width.map_or_else(String::new, |w| hit.decode(w, value));
            (hit.label(), fields)
        }
        None => ("?".to_string(), String::new()),
    })
}

/// Which database each device of a trace uses: looked up once per device
/// (by its index in the [`Tracker`], which only ever appends devices).
#[derive(Debug, Clone, Default)]
pub struct DeviceDbs {
    /// By device index: the index in [`RegDb::devices`] of its database, or
    /// `None` if it has none; not looked up yet where missing.
    by_device: Vec<Option<Option<usize>>>,
}

impl DeviceDbs {
    /// The database of the tracker's device `device`, if any.
    pub fn get<'d>(
        &mut self,
        db: &'d RegDb,
        tracker: &Tracker,
        device: usize,
    ) -> Option<&'d DeviceDb> {
        if let Some(Some(found)) = self.by_device.get(device) {
            return found.and_then(|i| db.devices.get(i));
        }
        let dev = tracker.device(device)?;
        let found = db.devices.iter().position(|d| d.device.matches(dev));
        if self.by_device.len() <= device {
            self.by_device.resize(device + 1, None);
        }
        self.by_device[device] = Some(found);
        found.and_then(|i| db.devices.get(i))
    }
}

/// Pads what `out` has from `start` on with spaces to `width` characters,
/// as `{:<width}` does.
fn pad(out: &mut String, start: usize, width: usize) {
    let text = &out[start..];
    let len = if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    };
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(len)));
}

/// Appends the columns an access and an UNKNOWN share: `kind` (direction,
/// width, map id) in 10 columns, the BAR offset in 11 and the register name
/// (`?` when the database has none) in 15.
fn write_columns(
    out: &mut String,
    kind: std::fmt::Arguments<'_>,
    place: Place,
    hit: Option<&Hit<'_>>,
) {
    let at = out.len();
    let _ = out.write_fmt(kind);
    pad(out, at, 10);
    out.push(' ');
    let at = out.len();
    let _ = write!(out, "bar{}+{:#06x}", place.bar, place.offset);
    pad(out, at, 11);
    out.push_str("  ");
    let at = out.len();
    match hit {
        Some(hit) => hit.write_label(out),
        None => out.push('?'),
    }
    pad(out, at, 15);
}

/// Appends `time` right-aligned in 12 columns, as `{:>12}` does.
fn write_time(out: &mut String, time: Timestamp) {
    let start = out.len();
    let _ = write!(out, "{time}");
    let len = out.len() - start;
    if len < 12 {
        out.insert_str(start, &"            "[..12 - len]);
    }
}

/// The line `annotate` shows for one record.
pub fn format_record(db: &RegDb, entry: &Entry, context: &Context, tracker: &Tracker) -> String {
    let mut line = String::new();
    write_record(
        &mut line,
        db,
        &mut DeviceDbs::default(),
        entry,
        context,
        tracker,
    );
    line
}

/// Appends the line `annotate` shows for one record to `out` (without a
/// newline); `dbs` caches which database each device uses.
pub fn write_record(
    out: &mut String,
    db: &RegDb,
    dbs: &mut DeviceDbs,
    entry: &Entry,
    context: &Context,
    tracker: &Tracker,
) {
    // Writing to a String cannot fail: the results of write! are ignored.
    let device = match (context.place, &entry.record) {
        (Some(place), Record::Access(_) | Record::Unknown(_)) => dbs
            .get(db, tracker, place.device)
            .map(|device| (place, device)),
        _ => None,
    };
    let Some((place, device)) = device else {
        out.push_str(&print::format_record(entry, context, tracker));
        return;
    };
    let hit = device.find(place.bar, place.offset);
    let start = out.len();
    match &entry.record {
        Record::Access(a) => {
            write_time(out, a.time);
            out.push_str("  ");
            let kind = format_args!("{}{:<5} #{}", a.dir.letter(), a.width, a.map_id);
            write_columns(out, kind, place, hit.as_ref());
            out.push(' ');
            let at = out.len();
            let digits = 2 * usize::from(a.width);
            let _ = write!(out, "{:#0w$x}", a.value, w = digits + 2);
            pad(out, at, 10);
            out.push_str("  ");
            if let Some(hit) = &hit {
                hit.write_decode(out, a.width, a.value);
            }
            let end = start + out[start..].trim_end().len();
            out.truncate(end);
        }
        Record::Unknown(u) => {
            write_time(out, u.time);
            out.push_str("  ");
            write_columns(
                out,
                format_args!("UNKNOWN #{}", u.map_id),
                place,
                hit.as_ref(),
            );
            let [b0, b1, b2] = u.opcode;
            let _ = write!(out, " opcode {b0:02x},{b1:02x},{b2:02x}");
        }
        _ => out.push_str(&print::format_record(entry, context, tracker)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regdb::parse_native;
    use crate::stream::tests::{entry, tracker};
    use std::path::Path;

    #[test]
    fn accesses_get_register_names_and_fields() {
        let db = RegDb {
            devices: vec![parse_native(
                "device 8086:100e\nbar0 0x0 4 CTRL\n  bit 26 RST\nbar0 0x5200 4 MTA[128]\n",
                Path::new("t.regs"),
            )
            .unwrap()],
        };
        let mut t = tracker();
        // One cache for all lines, as `annotate` uses it.
        let mut dbs = DeviceDbs::default();
        let mut show = |line: &str| {
            let e = entry(10, line);
            let c = t.update(&e);
            let mut out = String::from("kept ");
            write_record(&mut out, &db, &mut dbs, &e, &c, &t);
            let text = format_record(&db, &e, &c, &t);
            assert_eq!(out.strip_prefix("kept "), Some(text.as_str()));
            text
        };
        assert_eq!(
            show("W 4 1.000000 1 0xfebc0000 0x4000000 0x0 0"),
            "    1.000000  W4     #1  bar0+0x0000  CTRL            0x04000000  RST=1"
        );
        assert_eq!(
            show("R 4 1.000000 1 0xfebc5208 0x0 0x0 0"),
            "    1.000000  R4     #1  bar0+0x5208  MTA[2]          0x00000000"
        );
        assert_eq!(
            show("W 1 1.000000 1 0xfebc0003 0x4 0x0 0"),
            "    1.000000  W1     #1  bar0+0x0003  CTRL+0x3        0x04"
        );
        assert_eq!(
            show("R 4 1.000000 1 0xfebc0004 0x1 0x0 0"),
            "    1.000000  R4     #1  bar0+0x0004  ?               0x00000001"
        );
        assert_eq!(
            show("UNKNOWN 1.000000 1 0xfebc0000 f3,a5,48 0x0 0"),
            "    1.000000  UNKNOWN #1 bar0+0x0000  CTRL            opcode f3,a5,48"
        );
        // No database for pci-testdev: as print shows it.
        assert_eq!(
            show("R 1 1.000000 2 0xfebe0008 0xfa 0x0 0"),
            "    1.000000  R1     #2  bar0+0x0008  0xfa                  1b36:0005"
        );
    }
}
