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

use crate::print;
use crate::regdb::RegDb;
use crate::stream::{Context, Tracker};
use crate::trace::{Entry, Record};

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

/// The line `annotate` shows for one record.
pub fn format_record(db: &RegDb, entry: &Entry, context: &Context, tracker: &Tracker) -> String {
    let Some(place) = context.place else {
        return print::format_record(entry, context, tracker);
    };
    match &entry.record {
        Record::Access(a) => {
            let Some((name, fields)) = register_of(db, tracker, place, Some(a.width), a.value)
            else {
                return print::format_record(entry, context, tracker);
            };
            let digits = 2 * usize::from(a.width);
            let value = format!("{:#0w$x}", a.value, w = digits + 2);
            let location = format!("bar{}+{:#06x}", place.bar, place.offset);
            let text = format!(
                "{:>12}  {:<10} {location:<11}  {name:<15} {value:<10}  {fields}",
                a.time.to_string(),
                format!("{}{:<5} #{}", a.dir.letter(), a.width, a.map_id),
            );
            text.trim_end().to_string()
        }
        Record::Unknown(u) => {
            let Some((name, _)) = register_of(db, tracker, place, None, 0) else {
                return print::format_record(entry, context, tracker);
            };
            let [b0, b1, b2] = u.opcode;
            let location = format!("bar{}+{:#06x}", place.bar, place.offset);
            format!(
                "{:>12}  {:<10} {location:<11}  {name:<15} opcode {b0:02x},{b1:02x},{b2:02x}",
                u.time.to_string(),
                format!("UNKNOWN #{}", u.map_id),
            )
        }
        _ => print::format_record(entry, context, tracker),
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
        let mut show = |line: &str| {
            let e = entry(10, line);
            let c = t.update(&e);
            format_record(&db, &e, &c, &t)
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
