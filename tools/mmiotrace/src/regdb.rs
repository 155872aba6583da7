// SPDX-License-Identifier: GPL-2.0
//! Register databases: names of a device's registers and their bit fields,
//! for `mmiotrace annotate` and `diff`.
//!
//! Two formats load into the same model ([`DeviceDb`]):
//!
//! - a small native text format (`*.regs`, grammar in tools/README.md):
//!
//!   ```text
//!   device 8086:100e e1000
//!   bar0 0x0000 4 CTRL   Device Control
//!     bit 26 RST  Device reset
//!     bits 8..9 SPEED
//!       value 2 1000M
//!   bar0 0x5200 4 MTA[128] Multicast Table Array
//!   bar0 0x5400 4 RAL[16,8] Receive Address Low
//!   ```
//!
//! - the common subset of envytools' rnndb XML (see [`parse_rnndb`]): one
//!   `<domain>` of it, mapped to a device and BAR by the caller.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::check::DeviceSelector;
use crate::Error;

/// A named value of a bit field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub value: u64,
    pub name: String,
}

/// Bits `low..=high` of a register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub low: u8,
    pub high: u8,
    pub values: Vec<Value>,
}

impl Field {
    /// The field's bits of `value`, shifted down.
    pub fn extract(&self, value: u64) -> u64 {
        let bits = u32::from(self.high - self.low) + 1;
        let mask = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        (value >> self.low) & mask
    }
}

/// A register, or an array of `count` registers `stride` bytes apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    pub name: String,
    /// For registers inside an rnndb `<array>`: its name (`ARR[i].REG`).
    pub array: Option<String>,
    pub bar: u8,
    /// Byte offset in the BAR (of element 0 for arrays).
    pub offset: u64,
    /// Width in bytes: 1, 2, 4 or 8.
    pub width: u8,
    /// Number of elements; 1 for a plain register.
    pub count: u64,
    /// Bytes between elements.
    pub stride: u64,
    pub fields: Vec<Field>,
}

impl Register {
    fn is_array(&self) -> bool {
        self.count > 1 || self.array.is_some()
    }

    /// The element index and byte within it that `offset` falls on.
    fn position(&self, bar: u8, offset: u64) -> Option<(u64, u64)> {
        if bar != self.bar {
            return None;
        }
        let rel = offset.checked_sub(self.offset)?;
        let stride = self.stride.max(1);
        let index = rel / stride;
        let byte = rel % stride;
        (index < self.count && byte < u64::from(self.width)).then_some((index, byte))
    }

    /// `CTRL`, `MTA[3]`, `RAL[0]+0x2` or `ARR[1].REG`.
    pub fn label(&self, index: u64, byte: u64) -> String {
        let mut text = String::new();
        self.write_label(&mut text, index, byte);
        text
    }

    /// Appends [`Register::label`] to `out`.
    pub fn write_label(&self, out: &mut String, index: u64, byte: u64) {
        // Writing to a String cannot fail.
        let _ = match (&self.array, self.is_array()) {
            (Some(array), _) => write!(out, "{array}[{index}].{}", self.name),
            (None, true) => write!(out, "{}[{index}]", self.name),
            (None, false) => {
                out.push_str(&self.name);
                Ok(())
            }
        };
        if byte != 0 {
            let _ = write!(out, "+{byte:#x}");
        }
    }

    /// `FD=1 LU=1 SPEED=2(1000M)`: the fields that are not zero in `value`.
    pub fn decode(&self, value: u64) -> String {
        let mut text = String::new();
        self.write_decode(&mut text, value);
        text
    }

    /// Appends [`Register::decode`] to `out`.
    pub fn write_decode(&self, out: &mut String, value: u64) {
        let mut first = true;
        for field in &self.fields {
            let v = field.extract(value);
            if v == 0 {
                continue;
            }
            if !first {
                out.push(' ');
            }
            first = false;
            let _ = match field.values.iter().find(|n| n.value == v) {
                Some(named) => write!(out, "{}={v}({})", field.name, named.name),
                None => write!(out, "{}={v}", field.name),
            };
        }
    }
}

/// What an access hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'a> {
    pub register: &'a Register,
    pub index: u64,
    /// Byte offset inside the register (0 for an access at its start).
    pub byte: u64,
}

impl Hit<'_> {
    pub fn label(&self) -> String {
        self.register.label(self.index, self.byte)
    }

    /// Appends [`Hit::label`] to `out`.
    pub fn write_label(&self, out: &mut String) {
        self.register.write_label(out, self.index, self.byte);
    }

    /// The decoded fields, for an access of the register's own width at its
    /// start; nothing otherwise.
    pub fn decode(&self, width: u8, value: u64) -> String {
        let mut text = String::new();
        self.write_decode(&mut text, width, value);
        text
    }

    /// Appends [`Hit::decode`] to `out`.
    pub fn write_decode(&self, out: &mut String, width: u8, value: u64) {
        if self.byte == 0 && width == self.register.width {
            self.register.write_decode(out, value);
        }
    }
}

/// The registers of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDb {
    pub device: DeviceSelector,
    pub name: String,
    /// Where it was loaded from.
    pub source: PathBuf,
    pub registers: Vec<Register>,
}

impl DeviceDb {
    /// The register `bar`+`offset` falls in (the first one listed).
    pub fn find(&self, bar: u8, offset: u64) -> Option<Hit<'_>> {
        self.registers.iter().find_map(|register| {
            register.position(bar, offset).map(|(index, byte)| Hit {
                register,
                index,
                byte,
            })
        })
    }
}

/// Several device databases; the first one matching a device wins.
#[derive(Debug, Clone, Default)]
pub struct RegDb {
    pub devices: Vec<DeviceDb>,
}

impl RegDb {
    pub fn find_device(&self, dev: &crate::trace::PciDev) -> Option<&DeviceDb> {
        self.devices.iter().find(|db| db.device.matches(dev))
    }

    /// Loads every `*.regs` file of `dir`, in name order.
    pub fn load_dir(&mut self, dir: &Path) -> Result<(), Error> {
        let open_error = |source| Error::Open {
            what: "register database directory",
            flag: "--regdb-dir (or $MMIOTRACE_REGDB)",
            path: dir.to_path_buf(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(open_error)? {
            let path = entry.map_err(open_error)?.path();
            if path.extension().is_some_and(|e| e == "regs") {
                paths.push(path);
            }
        }
        paths.sort();
        for path in paths {
            let text = read(&path, "--regdb-dir")?;
            self.devices.push(parse_native(&text, &path)?);
        }
        Ok(())
    }
}

/// Reads a database file.
pub fn read(path: &Path, flag: &'static str) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Open {
        what: "register database",
        flag,
        path: path.to_path_buf(),
        source,
    })
}

fn db_error(path: &Path, line: u64, message: impl Into<String>) -> Error {
    Error::RegDb {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// A number in hex (`0x1f`) or decimal.
fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks that a field fits a register of `width` bytes.
fn check_field(field: &Field, width: u8) -> Result<(), String> {
    if field.low > field.high {
        return Err(format!(
            "field {}: low bit {} is above high bit {}",
            field.name, field.low, field.high
        ));
    }
    if u32::from(field.high) >= u32::from(width) * 8 {
        return Err(format!(
            "field {}: bit {} is outside a {}-byte register",
            field.name, field.high, width
        ));
    }
    Ok(())
}

/// Parses the native format (grammar in tools/README.md); `path` is for
/// error messages.
pub fn parse_native(text: &str, path: &Path) -> Result<DeviceDb, Error> {
    let mut device: Option<(DeviceSelector, String)> = None;
    let mut registers: Vec<Register> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        let err = |message: String| db_error(path, line, message);
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        match (indented, words[0]) {
            (false, "device") => {
                if device.is_some() {
                    return Err(err("a second `device` line; one device per file".into()));
                }
                let ids = words.get(1).ok_or_else(|| {
                    err(
                        "expected `device VENDOR:DEVICE [NAME]`, e.g. `device 8086:100e e1000`"
                            .into(),
                    )
                })?;
                let selector: DeviceSelector = ids.parse().map_err(|_| {
                    err(format!(
                        "expected vendor:device in hex (8086:100e), found `{ids}`"
                    ))
                })?;
                if !matches!(selector, DeviceSelector::Ids { .. }) {
                    return Err(err(format!(
                        "expected vendor:device in hex (8086:100e), found `{ids}`"
                    )));
                }
                let name = words
                    .get(2)
                    .map_or_else(|| ids.to_string(), |n| n.to_string());
                device = Some((selector, name));
            }
            (false, first) if first.starts_with("bar") => {
                if device.is_none() {
                    return Err(err("register before the `device VENDOR:DEVICE` line".into()));
                }
                registers.push(native_register(&words).map_err(err)?);
            }
            (false, first) => {
                return Err(err(format!(
                    "expected `device`, a register line `barN OFFSET WIDTH NAME [TEXT]` or \
                     (indented) a `bit`/`bits`/`value` line, found `{first}`"
                )))
            }
            (true, kind @ ("bit" | "bits")) => {
                let register = registers
                    .last_mut()
                    .ok_or_else(|| err(format!("`{kind}` line before any register line")))?;
                let field = native_field(&words).map_err(err)?;
                check_field(&field, register.width).map_err(err)?;
                register.fields.push(field);
            }
            (true, "value") => {
                let field = registers
                    .last_mut()
                    .and_then(|r| r.fields.last_mut())
                    .ok_or_else(|| err("`value` line before any `bit`/`bits` line".into()))?;
                let (Some(v), Some(name)) = (words.get(1).and_then(|v| number(v)), words.get(2))
                else {
                    return Err(err("expected `value NUMBER NAME`".into()));
                };
                field.values.push(Value {
                    value: v,
                    name: name.to_string(),
                });
            }
            (true, other) => {
                return Err(err(format!(
                    "expected an indented `bit N NAME`, `bits LOW..HIGH NAME` or \
                     `value NUMBER NAME` line, found `{other}`"
                )))
            }
        }
    }
    let Some((device, name)) = device else {
        return Err(db_error(
            path,
            0,
            "no `device VENDOR:DEVICE [NAME]` line; add one before the registers",
        ));
    };
    Ok(DeviceDb {
        device,
        name,
        source: path.to_path_buf(),
        registers,
    })
}

/// `barN OFFSET WIDTH NAME[COUNT,STRIDE] [TEXT...]`
fn native_register(words: &[&str]) -> Result<Register, String> {
    let usage = "expected `barN OFFSET WIDTH NAME [TEXT]`, e.g. `bar0 0x0008 4 STATUS`";
    let [bar, offset, width, name, ..] = words else {
        return Err(usage.to_string());
    };
    let bar = bar
        .strip_prefix("bar")
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|&n| n <= 5)
        .ok_or_else(|| format!("expected bar0 to bar5, found `{bar}`"))?;
    let offset = number(offset).ok_or_else(|| format!("expected an offset, found `{offset}`"))?;
    let width = match *width {
        "1" => 1,
        "2" => 2,
        "4" => 4,
        "8" => 8,
        w => {
            return Err(format!(
                "expected a width of 1, 2, 4 or 8 bytes, found `{w}`"
            ))
        }
    };
    let (name, count, stride) = match name.split_once('[') {
        None => (*name, 1, u64::from(width)),
        Some((base, rest)) => {
            let inner = rest.strip_suffix(']').ok_or_else(|| {
                format!("expected NAME[COUNT] or NAME[COUNT,STRIDE], found `{name}`")
            })?;
            let (count, stride) = match inner.split_once(',') {
                Some((c, s)) => (number(c), number(s)),
                None => (number(inner), Some(u64::from(width))),
            };
            match (count, stride) {
                (Some(c), Some(s)) if c > 0 && s >= u64::from(width) => (base, c, s),
                _ => {
                    return Err(format!(
                        "expected NAME[COUNT] or NAME[COUNT,STRIDE] with COUNT > 0 and \
                         STRIDE >= WIDTH, found `{name}`"
                    ))
                }
            }
        }
    };
    if !is_name(name) {
        return Err(format!(
            "expected a register name (letters, digits, _), found `{name}`"
        ));
    }
    Ok(Register {
        name: name.to_string(),
        array: None,
        bar,
        offset,
        width,
        count,
        stride,
        fields: Vec::new(),
    })
}

/// `bit N NAME [TEXT]` or `bits LOW..HIGH NAME [TEXT]`
fn native_field(words: &[&str]) -> Result<Field, String> {
    let [kind, bits, name, ..] = words else {
        return Err("expected `bit N NAME` or `bits LOW..HIGH NAME`".to_string());
    };
    let bit = |s: &str| s.parse::<u8>().ok().filter(|&b| b < 64);
    let (low, high) = if *kind == "bit" {
        let b = bit(bits).ok_or_else(|| format!("expected a bit number 0..63, found `{bits}`"))?;
        (b, b)
    } else {
        bits.split_once("..")
            .and_then(|(l, h)| Some((bit(l)?, bit(h)?)))
            .ok_or_else(|| format!("expected LOW..HIGH bit numbers (8..9), found `{bits}`"))?
    };
    if !is_name(name) {
        return Err(format!(
            "expected a field name (letters, digits, _), found `{name}`"
        ));
    }
    Ok(Field {
        name: name.to_string(),
        low,
        high,
        values: Vec::new(),
    })
}

/// How an rnndb domain maps to a device.
#[derive(Debug, Clone, Copy)]
pub struct DomainMap<'a> {
    /// The `<domain name=...>`; `None` if the file has only one domain.
    pub domain: Option<&'a str>,
    pub device: DeviceSelector,
    pub bar: u8,
}

/// Parses envytools' rnndb XML and returns the registers of one domain,
/// and warnings about what was ignored (unknown elements, `<import>`,
/// nested arrays), each with its line.
///
/// Supported: `<database>`, `<domain name width>`, `<reg8/16/32/64 name
/// offset [length stride] [type]>`, `<array name offset stride length>`
/// and `<stripe offset [stride length]>` around registers, `<bitfield name
/// low high>` or `pos`, `<value value name>`, and `<enum>`/`<bitset>`
/// referenced by `type=`. Offsets are in units of the domain's width
/// (bits, default 8).
pub fn parse_rnndb(
    text: &str,
    path: &Path,
    map: DomainMap<'_>,
) -> Result<(DeviceDb, Vec<String>), Error> {
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        let pos = e.pos();
        db_error(path, u64::from(pos.row), e.to_string())
    })?;
    let line = |node: roxmltree::Node| u64::from(doc.text_pos_at(node.range().start).row);
    let mut rnn = Rnn {
        path,
        warnings: Vec::new(),
        line: &line,
        enums: Vec::new(),
        bitsets: Vec::new(),
    };
    // Types first: they may be used before they are defined.
    for node in doc.descendants().filter(|n| n.is_element()) {
        let name = node.attribute("name").unwrap_or_default().to_string();
        match node.tag_name().name() {
            "enum" => {
                let values = rnn.values(node)?;
                rnn.enums.push((name, values));
            }
            "bitset" => {
                let fields = rnn.bitfields(node)?;
                rnn.bitsets.push((name, fields));
            }
            _ => {}
        }
    }
    let domains: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("domain"))
        .collect();
    let names: Vec<&str> = domains
        .iter()
        .map(|d| d.attribute("name").unwrap_or("?"))
        .collect();
    let domain = match map.domain {
        Some(wanted) => domains
            .iter()
            .find(|d| d.attribute("name") == Some(wanted))
            .ok_or_else(|| {
                db_error(
                    path,
                    0,
                    format!(
                        "no <domain name=\"{wanted}\">; --domain one of: {}",
                        names.join(", ")
                    ),
                )
            })?,
        None => match domains.as_slice() {
            [only] => only,
            [] => return Err(db_error(path, 0, "no <domain> element")),
            _ => {
                return Err(db_error(
                    path,
                    0,
                    format!(
                        "several domains; choose one with --domain: {}",
                        names.join(", ")
                    ),
                ))
            }
        },
    };
    let width = match domain.attribute("width") {
        None => 8,
        Some(w) => number(w)
            .filter(|w| *w >= 8 && w % 8 == 0)
            .ok_or_else(|| db_error(path, line(*domain), format!("bad domain width `{w}`")))?,
    };
    let mut registers = Vec::new();
    rnn.registers(*domain, width / 8, 0, None, map.bar, &mut registers)?;
    let name = domain.attribute("name").unwrap_or("domain").to_string();
    Ok((
        DeviceDb {
            device: map.device,
            name,
            source: path.to_path_buf(),
            registers,
        },
        rnn.warnings,
    ))
}

/// Elements of rnndb that only document: skipped without a warning.
const DOC_ELEMENTS: [&str; 7] = [
    "doc",
    "brief",
    "copyright",
    "author",
    "license",
    "nick",
    "description",
];

struct Rnn<'p, 'l> {
    path: &'p Path,
    warnings: Vec<String>,
    line: &'l dyn Fn(roxmltree::Node) -> u64,
    enums: Vec<(String, Vec<Value>)>,
    bitsets: Vec<(String, Vec<Field>)>,
}

impl Rnn<'_, '_> {
    fn err(&self, node: roxmltree::Node, message: String) -> Error {
        db_error(self.path, (self.line)(node), message)
    }

    fn warn(&mut self, node: roxmltree::Node, what: &str) {
        self.warnings.push(format!(
            "register database `{}`: line {}: {what}",
            self.path.display(),
            (self.line)(node)
        ));
    }

    fn unknown(&mut self, node: roxmltree::Node) {
        let tag = node.tag_name().name();
        if !DOC_ELEMENTS.contains(&tag) {
            self.warn(node, &format!("<{tag}> is not supported, ignored"));
        }
    }

    fn number_attr(&self, node: roxmltree::Node, attr: &str) -> Result<Option<u64>, Error> {
        match node.attribute(attr) {
            None => Ok(None),
            Some(v) => number(v)
                .map(Some)
                .ok_or_else(|| self.err(node, format!("attribute {attr}=\"{v}\" is not a number"))),
        }
    }

    fn required(&self, node: roxmltree::Node, attr: &str) -> Result<u64, Error> {
        self.number_attr(node, attr)?.ok_or_else(|| {
            self.err(
                node,
                format!("<{}> needs a {attr}= attribute", node.tag_name().name()),
            )
        })
    }

    fn values(&mut self, node: roxmltree::Node) -> Result<Vec<Value>, Error> {
        let mut values = Vec::new();
        for child in node.children().filter(|n| n.is_element()) {
            if child.has_tag_name("value") {
                let value = self.required(child, "value")?;
                let name = child.attribute("name").unwrap_or_default().to_string();
                values.push(Value { value, name });
            } else {
                self.unknown(child);
            }
        }
        Ok(values)
    }

    fn bitfields(&mut self, node: roxmltree::Node) -> Result<Vec<Field>, Error> {
        let mut fields = Vec::new();
        for child in node.children().filter(|n| n.is_element()) {
            match child.tag_name().name() {
                "bitfield" => fields.push(self.bitfield(child)?),
                "value" => {} // a register's own values: not shown
                _ => self.unknown(child),
            }
        }
        Ok(fields)
    }

    fn bitfield(&mut self, node: roxmltree::Node) -> Result<Field, Error> {
        let name = node
            .attribute("name")
            .ok_or_else(|| self.err(node, "<bitfield> needs a name= attribute".into()))?
            .to_string();
        let (low, high) = match self.number_attr(node, "pos")? {
            Some(pos) => (pos, pos),
            None => (self.required(node, "low")?, self.required(node, "high")?),
        };
        let (Ok(low), Ok(high)) = (u8::try_from(low), u8::try_from(high)) else {
            return Err(self.err(node, format!("bitfield {name}: bits out of range")));
        };
        let mut values = self.values(node)?;
        if let Some(ty) = node.attribute("type") {
            if let Some((_, enum_values)) = self.enums.iter().find(|(n, _)| n == ty) {
                values.extend(enum_values.iter().cloned());
            }
        }
        Ok(Field {
            name,
            low,
            high,
            values,
        })
    }

    /// The registers among the children of `node`, `base` bytes into the
    /// BAR; `unit` bytes per offset unit; inside an array if `array`.
    fn registers(
        &mut self,
        node: roxmltree::Node,
        unit: u64,
        base: u64,
        array: Option<(&str, u64, u64)>,
        bar: u8,
        out: &mut Vec<Register>,
    ) -> Result<(), Error> {
        for child in node.children().filter(|n| n.is_element()) {
            let tag = child.tag_name().name();
            match tag {
                "reg8" | "reg16" | "reg32" | "reg64" => {
                    let width: u8 = match tag {
                        "reg8" => 1,
                        "reg16" => 2,
                        "reg32" => 4,
                        _ => 8,
                    };
                    let name = child
                        .attribute("name")
                        .ok_or_else(|| self.err(child, format!("<{tag}> needs a name= attribute")))?
                        .to_string();
                    let offset = base + self.required(child, "offset")? * unit;
                    let length = self.number_attr(child, "length")?.unwrap_or(1);
                    let stride = self
                        .number_attr(child, "stride")?
                        .map_or(u64::from(width), |s| s * unit);
                    let mut fields = self.bitfields(child)?;
                    if let Some(ty) = child.attribute("type") {
                        if let Some((_, set)) = self.bitsets.iter().find(|(n, _)| n == ty) {
                            fields.extend(set.iter().cloned());
                        }
                    }
                    for field in &fields {
                        check_field(field, width).map_err(|m| self.err(child, m))?;
                    }
                    let (array_name, count, stride) = match array {
                        Some((array_name, count, array_stride)) => {
                            if length > 1 {
                                self.warn(child, "a register array inside an array: only its first element is used");
                            }
                            (Some(array_name.to_string()), count, array_stride)
                        }
                        None => (None, length.max(1), stride),
                    };
                    out.push(Register {
                        name,
                        array: array_name,
                        bar,
                        offset,
                        width,
                        count,
                        stride,
                        fields,
                    });
                }
                "array" | "stripe" => {
                    let offset = base + self.number_attr(child, "offset")?.unwrap_or(0) * unit;
                    let length = self.number_attr(child, "length")?;
                    let stride = self.number_attr(child, "stride")?;
                    match (array, length, stride) {
                        (None, Some(length), Some(stride)) => {
                            let name = child.attribute("name").unwrap_or(tag).to_string();
                            self.registers(
                                child,
                                unit,
                                offset,
                                Some((&name, length, stride * unit)),
                                bar,
                                out,
                            )?;
                        }
                        (Some(_), Some(_), _) => {
                            self.warn(child, &format!("nested <{tag}> is not supported, ignored"));
                        }
                        // A stripe without length: a plain offset.
                        (_, None, _) => self.registers(child, unit, offset, array, bar, out)?,
                        (None, Some(_), None) => {
                            return Err(
                                self.err(child, format!("<{tag}> with length= needs stride="))
                            )
                        }
                    }
                }
                "enum" | "bitset" => {} // read before
                _ => self.unknown(child),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E1000: &str = "\
# a comment
device 8086:100e e1000
bar0 0x0000 4 CTRL   Device Control
  bit 26 RST  Device reset

bar0 0x0008 4 STATUS Device Status
  bit 0 FD
  bit 1 LU
  bits 6..7 SPEED
    value 2 1000M
bar0 0x5200 4 MTA[128] Multicast Table Array
bar0 0x5400 4 RAL[16,8]
bar0 0x5404 4 RAH[16,8]
bar1 0x0 1 B1
";

    fn native(text: &str) -> Result<DeviceDb, Error> {
        parse_native(text, Path::new("t.regs"))
    }

    fn line_of(err: Error) -> (u64, String) {
        let text = err.to_string();
        match err {
            Error::RegDb { line, .. } => (line, text),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn native_format_parses() {
        let db = native(E1000).unwrap();
        assert_eq!(db.name, "e1000");
        assert_eq!(db.device.to_string(), "8086:100e");
        assert_eq!(db.registers.len(), 6);
        let hit = db.find(0, 0x8).unwrap();
        assert_eq!(hit.label(), "STATUS");
        assert_eq!(hit.decode(4, 0x8008_0783), "FD=1 LU=1 SPEED=2(1000M)");
        assert_eq!(hit.decode(2, 0x8008_0783), "", "not the register's width");
        assert_eq!(db.find(0, 0).unwrap().decode(4, 0x0400_0000), "RST=1");
        assert_eq!(db.find(0, 0x5200 + 4 * 127).unwrap().label(), "MTA[127]");
        assert_eq!(db.find(0, 0x5200 + 4 * 128).unwrap().label(), "RAL[0]");
        assert_eq!(db.find(0, 0x5400 + 8 * 3).unwrap().label(), "RAL[3]");
        assert_eq!(db.find(0, 0x5404 + 8 * 3).unwrap().label(), "RAH[3]");
        assert_eq!(db.find(0, 0x0a).unwrap().label(), "STATUS+0x2");
        assert_eq!(db.find(1, 0).unwrap().label(), "B1");
        assert!(db.find(0, 0x4).is_none());
        assert!(db.find(2, 0).is_none());
    }

    #[test]
    fn native_errors_have_line_numbers() {
        let cases: [(&str, u64, &str); 10] = [
            ("bar0 0x0 4 CTRL\n", 1, "before the `device"),
            ("device 8086\n", 1, "expected vendor:device"),
            ("device 8086:100e\nbar9 0x0 4 X\n", 2, "bar0 to bar5"),
            ("device 8086:100e\nbar0 zz 4 X\n", 2, "expected an offset"),
            (
                "device 8086:100e\nbar0 0x0 3 X\n",
                2,
                "width of 1, 2, 4 or 8",
            ),
            (
                "device 8086:100e\nbar0 0x0 4 X\n  bit 32 Y\n",
                3,
                "outside a 4-byte",
            ),
            (
                "device 8086:100e\nbar0 0x0 4 X\n  bits 9..8 Y\n",
                3,
                "above high bit",
            ),
            ("device 8086:100e\n  bit 1 Y\n", 2, "before any register"),
            ("device 8086:100e\nbar0 0x0 4 X[0]\n", 2, "COUNT > 0"),
            ("device 8086:100e\nfoo\n", 2, "found `foo`"),
        ];
        for (text, line, message) in cases {
            let (got, text_err) = line_of(native(text).unwrap_err());
            assert_eq!(got, line, "{text_err}");
            assert!(text_err.contains(message), "{text_err}");
            assert!(
                text_err.starts_with("register database `t.regs`: line"),
                "{text_err}"
            );
        }
        let (line, text) = line_of(native("# nothing\n").unwrap_err());
        assert_eq!(line, 0);
        assert!(text.contains("no `device"), "{text}");
    }

    const RNN: &str = r#"<?xml version="1.0"?>
<database xmlns="http://nouveau.freedesktop.org/">
<copyright><author name="x"/></copyright>
<enum name="speed">
  <value value="0" name="10M"/>
  <value value="2" name="1000M"/>
</enum>
<bitset name="status_bits">
  <bitfield name="FD" pos="0"/>
  <bitfield name="SPEED" low="6" high="7" type="speed"/>
</bitset>
<domain name="OTHER"/>
<domain name="E1000" width="8">
  <reg32 offset="0x0" name="CTRL">
    <doc>Device control</doc>
    <bitfield name="RST" pos="26"/>
  </reg32>
  <reg32 offset="0x8" name="STATUS" type="status_bits"/>
  <reg8 offset="0x10" name="B"/>
  <reg32 offset="0x5200" name="MTA" length="128" stride="4"/>
  <array offset="0x5400" name="RA" stride="8" length="16">
    <reg32 offset="0" name="LO"/>
    <reg32 offset="4" name="HI"/>
  </array>
  <stripe offset="0x100">
    <reg16 offset="2" name="S"/>
  </stripe>
  <group name="g"/>
</domain>
</database>
"#;

    fn rnn(text: &str, domain: Option<&str>) -> Result<(DeviceDb, Vec<String>), Error> {
        let map = DomainMap {
            domain,
            device: "8086:100e".parse().unwrap(),
            bar: 0,
        };
        parse_rnndb(text, Path::new("t.xml"), map)
    }

    #[test]
    fn rnndb_subset_parses() {
        let (db, warnings) = rnn(RNN, Some("E1000")).unwrap();
        assert_eq!(db.name, "E1000");
        assert_eq!(db.find(0, 0).unwrap().decode(4, 0x0400_0000), "RST=1");
        assert_eq!(
            db.find(0, 8).unwrap().decode(4, 0x81),
            "FD=1 SPEED=2(1000M)"
        );
        assert_eq!(db.find(0, 0x10).unwrap().register.width, 1);
        assert_eq!(db.find(0, 0x5200 + 8).unwrap().label(), "MTA[2]");
        assert_eq!(db.find(0, 0x5400 + 8).unwrap().label(), "RA[1].LO");
        assert_eq!(db.find(0, 0x5404 + 8 * 15).unwrap().label(), "RA[15].HI");
        assert_eq!(db.find(0, 0x102).unwrap().label(), "S");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("line 28: <group> is not supported"),
            "{warnings:?}"
        );
    }

    #[test]
    fn rnndb_domain_width_scales_offsets() {
        let xml = r#"<database><domain name="D" width="32"><reg32 offset="3" name="R"/></domain></database>"#;
        let (db, _) = rnn(xml, None).unwrap();
        assert_eq!(db.find(0, 12).unwrap().label(), "R");
    }

    #[test]
    fn rnndb_errors_have_line_numbers() {
        let err = rnn(RNN, None).unwrap_err().to_string();
        assert!(
            err.contains("choose one with --domain: OTHER, E1000"),
            "{err}"
        );
        let err = rnn(RNN, Some("NOPE")).unwrap_err().to_string();
        assert!(err.contains("--domain one of: OTHER, E1000"), "{err}");
        let (line, err) =
            line_of(rnn("<database>\n<domain name=\"D\">\n</database>", None).unwrap_err());
        assert_eq!(line, 3, "{err}");
        let bad = "<database>\n<domain name=\"D\">\n<reg32 name=\"R\" offset=\"x1\"/>\n</domain></database>";
        let (line, err) = line_of(rnn(bad, None).unwrap_err());
        assert_eq!(line, 3);
        assert!(err.contains("offset=\"x1\" is not a number"), "{err}");
        let bad = "<database><domain name=\"D\">\n\n<reg8 name=\"R\" offset=\"0\"><bitfield name=\"F\" low=\"4\" high=\"8\"/></reg8></domain></database>";
        let (line, err) = line_of(rnn(bad, None).unwrap_err());
        assert_eq!(line, 3);
        assert!(err.contains("outside a 1-byte register"), "{err}");
        let bad = "<database><domain name=\"D\"><reg32 offset=\"0\"/></domain></database>";
        assert!(rnn(bad, None)
            .unwrap_err()
            .to_string()
            .contains("needs a name="));
    }
}
