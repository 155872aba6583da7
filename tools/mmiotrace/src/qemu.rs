// SPDX-License-Identifier: GPL-2.0
//! QEMU's MMIO trace log: the `memory_region_ops_read` and
//! `memory_region_ops_write` events of
//! `qemu-system-x86_64 -trace memory_region_ops_read -trace memory_region_ops_write -D qemu.log`:
//!
//! ```text
//! memory_region_ops_read cpu 0 mr 0x55d5c6e4b0a0 addr 0xfebc0008 value 0x80080783 size 4 name 'e1000-mmio'
//! 1234@1700000000.123456:memory_region_ops_write cpu 1 mr 0x55d5c6e4b0a0 addr 0xfebc0000 value 0x4000000 size 4 name 'e1000-mmio'
//! ```
//!
//! `addr` is the absolute guest-physical address (or I/O port). Every other
//! line of the log is skipped.

use std::collections::HashMap;
use std::io::BufRead;

use crate::lex::{self, Fields};
use crate::trace::Direction;
use crate::Error;

/// Index of a memory region name in [`QemuLogReader::regions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionId(pub u32);

/// One memory region access from the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QemuOp {
    /// The (1-based) line of the log.
    pub line: u64,
    pub dir: Direction,
    /// The vCPU index, -1 if not from a vCPU.
    pub cpu: i32,
    /// QEMU's MemoryRegion pointer.
    pub mr: u64,
    /// Absolute guest-physical address (or absolute I/O port).
    pub addr: u64,
    /// The value, masked to `size` bytes.
    pub value: u64,
    /// Access size in bytes, 1 to 8.
    pub size: u8,
    pub region: RegionId,
}

/// A parsed op line whose region name still borrows from the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawOp<'a> {
    pub dir: Direction,
    pub cpu: i32,
    pub mr: u64,
    pub addr: u64,
    pub value: u64,
    pub size: u8,
    pub name: &'a [u8],
}

/// `value` keeps its low `size` bytes.
pub fn mask(value: u64, size: u8) -> u64 {
    if size >= 8 {
        value
    } else {
        value & ((1u64 << (8 * u32::from(size))) - 1)
    }
}

/// Strips an optional `<pid>@<secs>.<usecs>:` prefix.
fn strip_prefix(text: &[u8]) -> &[u8] {
    let Some(colon) = text.iter().position(|&b| b == b':') else {
        return text;
    };
    let prefix = &text[..colon];
    let Some(at) = prefix.iter().position(|&b| b == b'@') else {
        return text;
    };
    let (pid, time) = (&prefix[..at], &prefix[at + 1..]);
    let Some(dot) = time.iter().position(|&b| b == b'.') else {
        return text;
    };
    let is_num = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    if is_num(pid) && is_num(&time[..dot]) && is_num(&time[dot + 1..]) {
        &text[colon + 1..]
    } else {
        text
    }
}

/// `%p`: `0x55d5c6e4b0a0`, or `(nil)` for a null pointer.
fn pointer(s: &[u8]) -> Option<u64> {
    if s == b"(nil)" {
        Some(0)
    } else {
        lex::hex0x(s)
    }
}

fn size(s: &[u8]) -> Option<u8> {
    lex::dec(s)
        .and_then(|v| u8::try_from(v).ok())
        .filter(|v| (1..=8).contains(v))
}

/// Parses one log line (a line terminator is ignored). `Ok(None)` for lines that
/// are not memory_region_ops events; an error for such events that do not
/// have the expected fields.
pub fn parse_op_line(text: &[u8], line: u64) -> Result<Option<RawOp<'_>>, Error> {
    let body = strip_prefix(lex::trim(text));
    let mut f = Fields::new(body, line);
    let dir = match f.next_field() {
        Some(b"memory_region_ops_read") => Direction::Read,
        Some(b"memory_region_ops_write") => Direction::Write,
        _ => return Ok(None),
    };
    f.keyword("cpu")?;
    let cpu = f.parse("a decimal cpu index", lex::dec_i32)?;
    f.keyword("mr")?;
    let mr = f.parse("a memory region pointer", pointer)?;
    f.keyword("addr")?;
    let addr = f.parse("a 0x-prefixed hex address", lex::hex0x)?;
    f.keyword("value")?;
    let value = f.parse("a 0x-prefixed hex value", lex::hex0x)?;
    f.keyword("size")?;
    let size = f.parse("a decimal size 1 to 8", size)?;
    f.keyword("name")?;
    let quoted = f.remainder();
    let name = match quoted {
        [b'\'', name @ .., b'\''] => name,
        _ => {
            let found = (!quoted.is_empty()).then_some(quoted);
            return Err(Error::parse(line, "a quoted region name 'name'", found));
        }
    };
    Ok(Some(RawOp {
        dir,
        cpu,
        mr,
        addr,
        value: mask(value, size),
        size,
        name,
    }))
}

/// Streaming reader of a QEMU log: yields the memory region ops, skipping
/// all other lines. Region names are interned: see [`QemuLogReader::regions`].
///
/// A malformed op line yields `Err(Error::Parse)` and reading goes on; an
/// I/O error yields `Err(Error::Read)` and ends the stream.
pub struct QemuLogReader<R> {
    reader: R,
    buf: Vec<u8>,
    line: u64,
    done: bool,
    names: Vec<String>,
    ids: HashMap<String, RegionId>,
}

impl<R: BufRead> QemuLogReader<R> {
    pub fn new(reader: R) -> Self {
        QemuLogReader {
            reader,
            buf: Vec::with_capacity(256),
            line: 0,
            done: false,
            names: Vec::new(),
            ids: HashMap::new(),
        }
    }

    /// The region names seen so far; `RegionId(i)` is `regions()[i]`.
    pub fn regions(&self) -> &[String] {
        &self.names
    }

    /// The name of a region seen so far.
    pub fn region_name(&self, id: RegionId) -> Option<&str> {
        self.names.get(id.0 as usize).map(String::as_str)
    }

    /// The id of a region name, if it has been seen.
    pub fn region_id(&self, name: &str) -> Option<RegionId> {
        self.ids.get(name).copied()
    }

    /// Number of lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    fn intern(
        names: &mut Vec<String>,
        ids: &mut HashMap<String, RegionId>,
        name: &[u8],
    ) -> RegionId {
        let name = String::from_utf8_lossy(name);
        if let Some(&id) = ids.get(name.as_ref()) {
            return id;
        }
        let id = RegionId(names.len() as u32);
        names.push(name.to_string());
        ids.insert(name.into_owned(), id);
        id
    }
}

impl<R: BufRead> Iterator for QemuLogReader<R> {
    type Item = Result<QemuOp, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    let line = self.line;
                    let op = match parse_op_line(lex::trim(&self.buf), line) {
                        Ok(Some(op)) => op,
                        Ok(None) => continue,
                        Err(e) => return Some(Err(e)),
                    };
                    let region = Self::intern(&mut self.names, &mut self.ids, op.name);
                    return Some(Ok(QemuOp {
                        line,
                        dir: op.dir,
                        cpu: op.cpu,
                        mr: op.mr,
                        addr: op.addr,
                        value: op.value,
                        size: op.size,
                        region,
                    }));
                }
                Err(source) => {
                    self.done = true;
                    return Some(Err(Error::Read {
                        line: self.line,
                        source,
                    }));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: &str = "memory_region_ops_read cpu 0 mr 0x55d5c6e4b0a0 addr 0xfebc0008 \
                        value 0x80080783 size 4 name 'e1000-mmio'";

    fn parse(text: &str) -> Result<Option<RawOp<'_>>, Error> {
        parse_op_line(text.as_bytes(), 3)
    }

    #[test]
    fn read_line() {
        let op = parse(READ).unwrap().unwrap();
        assert_eq!(
            op,
            RawOp {
                dir: Direction::Read,
                cpu: 0,
                mr: 0x55d5_c6e4_b0a0,
                addr: 0xfebc_0008,
                value: 0x8008_0783,
                size: 4,
                name: b"e1000-mmio",
            }
        );
    }

    #[test]
    fn write_line_with_prefix_and_negative_cpu() {
        let op = parse(
            "1234@1700000000.123456:memory_region_ops_write cpu -1 mr 0x1 addr 0xe9 \
             value 0x41 size 1 name 'debugcon'",
        )
        .unwrap()
        .unwrap();
        assert_eq!(op.dir, Direction::Write);
        assert_eq!(op.cpu, -1);
        assert_eq!((op.addr, op.value, op.size), (0xe9, 0x41, 1));
        assert_eq!(op.name, b"debugcon");
    }

    #[test]
    fn values_are_masked_to_size() {
        let op = parse(
            "memory_region_ops_read cpu 0 mr 0x1 addr 0x10 value 0xdeadbeefcafe size 2 name 'x y'",
        )
        .unwrap()
        .unwrap();
        assert_eq!(op.value, 0xcafe);
        assert_eq!(op.name, b"x y");
        assert_eq!(mask(u64::MAX, 8), u64::MAX);
        assert_eq!(mask(0x1234, 1), 0x34);
    }

    #[test]
    fn other_lines_are_skipped() {
        for line in [
            "",
            "qemu-system-x86_64: warning: host doesn't support requested feature",
            "memory_region_subpage_read cpu 0 mr 0x1 offset 0x0 value 0x0 size 4",
            "1234@1700000000.123456:pci_cfg_read e1000 03:0 @0x0 -> 0x100e8086",
            "memory_region_ops_readx cpu 0",
            "12@x:memory_region_ops_read cpu 0 mr 0x1 addr 0x0 value 0x0 size 4 name 'a'",
        ] {
            assert_eq!(parse(line).unwrap(), None, "{line}");
        }
    }

    #[test]
    fn malformed_op_lines() {
        let err = parse("memory_region_ops_read cpu 0 mr 0x1 addr 0xzz value 0x0 size 4 name 'a'")
            .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("line 3: expected a 0x-prefixed hex address"));
        let err = parse("memory_region_ops_write cpu 0 mr 0x1 addr 0x0 value 0x0").unwrap_err();
        assert_eq!(err.to_string(), "line 3: expected size, found end of line");
        let err = parse("memory_region_ops_write cpu 0 mr 0x1 addr 0x0 value 0x0 size 16 name 'a'")
            .unwrap_err();
        assert!(err.to_string().contains("size 1 to 8"));
        let err = parse("memory_region_ops_write cpu 0 mr 0x1 addr 0x0 value 0x0 size 4 name a")
            .unwrap_err();
        assert!(err.to_string().contains("quoted region name"));
    }

    #[test]
    fn reader_interns_names_and_goes_on_after_errors() {
        let log = format!(
            "qemu: starting\n{READ}\n\
             memory_region_ops_write cpu 0 mr 0x1 addr 0xe9 value 0x41 size 1 name 'debugcon'\n\
             memory_region_ops_read cpu 0 mr 0x1 addr bad value 0x0 size 4 name 'e1000-mmio'\n\
             1@2.3:{READ}\n"
        );
        let mut reader = QemuLogReader::new(log.as_bytes());
        let items: Vec<_> = reader.by_ref().collect();
        assert_eq!(items.len(), 4);
        let first = items[0].as_ref().unwrap();
        assert_eq!((first.line, first.region), (2, RegionId(0)));
        assert_eq!(items[1].as_ref().unwrap().region, RegionId(1));
        assert_eq!(items[2].as_ref().unwrap_err().line(), Some(4));
        let last = items[3].as_ref().unwrap();
        assert_eq!((last.line, last.region), (5, RegionId(0)));
        assert_eq!(reader.regions(), ["e1000-mmio", "debugcon"]);
        assert_eq!(reader.region_id("debugcon"), Some(RegionId(1)));
        assert_eq!(reader.region_name(RegionId(0)), Some("e1000-mmio"));
        assert_eq!(reader.lines_read(), 5);
    }
}
