// SPDX-License-Identifier: GPL-2.0
//! `mmiotrace plot`: an SVG timeline (heat map) of the register accesses of
//! a trace, to see a driver's init sequence at a glance.
//!
//! - x: time since the first plotted access, or with [`XAxis::Index`] the
//!   access's number (for traces whose time stamps cluster);
//! - y: one row per register, i.e. per device, BAR and offset (accesses
//!   outside the memory BARs: per physical address, after the devices),
//!   sorted by BAR offset and named from the register databases (the
//!   offset when unknown);
//! - in each row, reads in the upper half (blue) and writes in the lower
//!   half (orange); the darker a cell, the more accesses it counts;
//! - MARK lines as labelled vertical lines, `Lost N events` as red ones,
//!   and each mapping from MAP to UNMAP as a shaded span.
//!
//! # Streaming and binning
//!
//! A trace is read once (it may be standard input), and its time range is
//! only known at the end. So the accesses are not kept: each row has a
//! fixed number of bins (the plot's width in columns, at most
//! [`MAX_COLUMNS`]); a bin starts as 1 us (or 1 access) wide, and when an
//! access falls past the last bin, the bins of every row are merged pairwise
//! and their width doubles ([`Bins`]). At the end between half and all of
//! the columns are in use, whatever the length of the trace. Memory and the
//! SVG's size are bounded by rows x columns: at most [`MAX_ROWS`] rows (the
//! registers seen after that share one last row), and runs of cells of the
//! same intensity are drawn as one rectangle.
//!
//! Accesses with a time stamp before the first access are put in the
//! first column. UNKNOWN (undecoded) accesses are counted, not drawn.

use std::collections::HashMap;
use std::io::{self, Write};

use crate::annotate;
use crate::check::{self, DeviceSelector};
use crate::regdb::RegDb;
use crate::stream::{Context, Sink, Tracker};
use crate::trace::{Direction, Entry, Record, Timestamp};
use crate::Error;

/// The fewest, default and most columns (bins, and pixels) of the plot.
pub const MIN_COLUMNS: usize = 100;
pub const DEFAULT_COLUMNS: usize = 1200;
pub const MAX_COLUMNS: usize = 2000;
/// The most rows; later registers share one "(other registers)" row.
pub const MAX_ROWS: usize = 1000;
/// The most MARK lines and mappings drawn; later ones are counted.
pub const MAX_MARKS: usize = 500;
pub const MAX_SPANS: usize = 500;
/// Intensity levels of the heat map.
pub const LEVELS: u32 = 8;

/// What the x axis shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    /// Microseconds since the first plotted access.
    Time,
    /// The number of the access (0 for the first plotted one).
    Index,
}

/// Counts of reads and writes per row in a fixed number of bins whose
/// width (in x units) doubles when an x falls past the last bin.
#[derive(Debug, Clone)]
pub struct Bins {
    columns: usize,
    width: u64,
    /// Per row, `columns` cells of [reads, writes].
    rows: Vec<Vec<[u32; 2]>>,
    max_x: Option<u64>,
}

impl Bins {
    /// Bins of width 1; `columns` is at least 2.
    pub fn new(columns: usize) -> Self {
        Bins {
            columns: columns.max(2),
            width: 1,
            rows: Vec::new(),
            max_x: None,
        }
    }

    /// A new empty row; returns its index.
    pub fn add_row(&mut self) -> usize {
        self.rows.push(vec![[0; 2]; self.columns]);
        self.rows.len() - 1
    }

    /// Counts one access of `dir` at `x` in `row`.
    pub fn add(&mut self, row: usize, x: u64, dir: Direction) {
        while x / self.width >= self.columns as u64 {
            self.merge();
        }
        let cell = &mut self.rows[row][(x / self.width) as usize];
        let kind = usize::from(dir == Direction::Write);
        cell[kind] = cell[kind].saturating_add(1);
        self.max_x = Some(self.max_x.map_or(x, |m| m.max(x)));
    }

    /// Halves the resolution: bins 2i and 2i+1 become bin i.
    fn merge(&mut self) {
        self.width = self.width.saturating_mul(2);
        for row in &mut self.rows {
            for i in 0..self.columns {
                let (a, b) = (2 * i, 2 * i + 1);
                let sum = |k: usize| {
                    let left = row.get(a).map_or(0, |c| c[k]);
                    let right = row.get(b).map_or(0, |c| c[k]);
                    left.saturating_add(right)
                };
                row[i] = if a < self.columns {
                    [sum(0), sum(1)]
                } else {
                    [0, 0]
                };
            }
        }
    }

    /// The x units per bin.
    pub fn width(&self) -> u64 {
        self.width
    }

    /// The bins from the first to the one of the largest x (0 if empty).
    pub fn used(&self) -> usize {
        self.max_x.map_or(0, |x| (x / self.width) as usize + 1)
    }

    /// [reads, writes] of `row` in bin `column`.
    pub fn cell(&self, row: usize, column: usize) -> [u32; 2] {
        self.rows[row][column]
    }

    /// The largest count of one kind in one bin.
    pub fn max_count(&self) -> u32 {
        self.rows
            .iter()
            .flatten()
            .flat_map(|c| c.iter().copied())
            .max()
            .unwrap_or(0)
    }
}

/// The intensity level (1..=[`LEVELS`], 0 for none) of `count` out of a
/// largest count `max`, on a log scale so that single accesses show.
pub fn level(count: u32, max: u32) -> u32 {
    if count == 0 || max == 0 {
        return 0;
    }
    let ratio = f64::from(count).ln_1p() / f64::from(max).ln_1p();
    ((ratio * f64::from(LEVELS)).ceil() as u32).clamp(1, LEVELS)
}

/// Maps x in `0..=span` to pixels `left..=left + width`; beyond `span`
/// clamps to the right edge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub span: u64,
    pub left: f64,
    pub width: f64,
}

impl Scale {
    pub fn px(&self, x: u64) -> f64 {
        let span = self.span.max(1);
        self.left + self.width * (x.min(span) as f64 / span as f64)
    }
}

/// Tick positions in `0..=span`: multiples of a 1, 2 or 5 x 10^k step,
/// the smallest step that gives at most `target` + 1 ticks; and the step.
pub fn ticks(span: u64, target: u64) -> (Vec<u64>, u64) {
    let target = target.max(1);
    let mut magnitude: u64 = 1;
    let step = loop {
        if let Some(step) = [1, 2, 5]
            .iter()
            .map(|m| m * magnitude)
            .find(|step| span / step <= target)
        {
            break step;
        }
        match magnitude.checked_mul(10) {
            Some(m) => magnitude = m,
            None => break u64::MAX,
        }
    };
    let ticks = (0..=span / step).map(|i| i * step).collect();
    (ticks, step)
}

/// `text` for SVG character data and attribute values: markup characters
/// escaped, characters XML does not allow replaced by U+FFFD, at most
/// `max` characters (then `…`).
pub fn escape(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || matches!(c, '\u{fffe}' | '\u{ffff}') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A row: a register of a device, or a physical address outside the BARs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum RowKey {
    Register { device: usize, bar: u8, offset: u64 },
    Phys(u64),
    Other,
}

#[derive(Debug, Clone)]
struct Row {
    key: RowKey,
    /// The device's label (`8086:100e`), empty outside the BARs.
    device: String,
    /// The register's name, if a database knows it.
    name: Option<String>,
    /// `bar0+0x0008` or the physical address.
    offset: String,
}

/// Where a MARK or MAP line falls: its time and the accesses before it.
#[derive(Debug, Clone, Copy)]
struct Pos {
    micros: u64,
    index: u64,
}

#[derive(Debug, Clone)]
struct Mark {
    pos: Pos,
    text: String,
    lost: bool,
}

#[derive(Debug, Clone)]
struct Span {
    start: Pos,
    end: Option<Pos>,
    label: String,
}

/// Collects what `mmiotrace plot` draws, record by record.
pub struct Plotter {
    device: Option<DeviceSelector>,
    checked: bool,
    regdb: RegDb,
    axis: XAxis,
    bins: Bins,
    rows: Vec<Row>,
    row_of: HashMap<RowKey, usize>,
    /// The time of the first plotted access, in microseconds.
    origin: Option<u64>,
    /// The latest time stamp so far.
    now: u64,
    reads: u64,
    writes: u64,
    unknown: u64,
    /// Accesses of registers beyond [`MAX_ROWS`].
    other: u64,
    marks: Vec<Mark>,
    spans: Vec<Span>,
    /// The span of each live map id.
    open: HashMap<i32, usize>,
    dropped_marks: u64,
    dropped_spans: u64,
}

impl Plotter {
    /// A plotter of `columns` columns (clamped to
    /// [`MIN_COLUMNS`]..=[`MAX_COLUMNS`]) of all devices, or only `device`,
    /// naming registers from `regdb`.
    pub fn new(device: Option<DeviceSelector>, regdb: RegDb, axis: XAxis, columns: usize) -> Self {
        Plotter {
            device,
            checked: false,
            regdb,
            axis,
            bins: Bins::new(columns.clamp(MIN_COLUMNS, MAX_COLUMNS)),
            rows: Vec::new(),
            row_of: HashMap::new(),
            origin: None,
            now: 0,
            reads: 0,
            writes: 0,
            unknown: 0,
            other: 0,
            marks: Vec::new(),
            spans: Vec::new(),
            open: HashMap::new(),
            dropped_marks: 0,
            dropped_spans: 0,
        }
    }

    /// The number of rows (registers) so far.
    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// Reads and writes plotted so far.
    pub fn accesses(&self) -> u64 {
        self.reads + self.writes
    }

    fn check_device(&mut self, tracker: &Tracker) -> Result<(), Error> {
        self.checked = true;
        match &self.device {
            Some(sel) if !tracker.devices().iter().any(|(_, d)| sel.matches(d)) => {
                Err(check::no_device(sel, tracker.devices()))
            }
            _ => Ok(()),
        }
    }

    /// Whether the place of an access (or a mapping) is plotted.
    fn selected(&self, context: &Context, tracker: &Tracker) -> bool {
        match (&self.device, context.place) {
            (None, _) => true,
            (Some(sel), Some(place)) => {
                tracker.device(place.device).is_some_and(|d| sel.matches(d))
            }
            (Some(_), None) => false,
        }
    }

    fn pos(&self) -> Pos {
        Pos {
            micros: self.now,
            index: self.accesses(),
        }
    }

    fn row(&mut self, context: &Context, phys: u64, tracker: &Tracker) -> usize {
        let key = match context.place {
            Some(p) => RowKey::Register {
                device: p.device,
                bar: p.bar,
                offset: p.offset,
            },
            None => RowKey::Phys(phys),
        };
        let key = if self.row_of.contains_key(&key) || self.rows.len() < MAX_ROWS {
            key
        } else {
            RowKey::Other
        };
        if let Some(&row) = self.row_of.get(&key) {
            return row;
        }
        let row = match (key, context.place) {
            (RowKey::Register { bar, offset, .. }, Some(place)) => Row {
                key,
                device: tracker.label(place.device),
                name: annotate::register_of(&self.regdb, tracker, place, None, 0)
                    .map(|(name, _)| name)
                    .filter(|name| name != "?"),
                offset: format!("bar{bar}+{offset:#06x}"),
            },
            (RowKey::Other, _) => Row {
                key,
                device: String::new(),
                name: Some("(other registers)".to_string()),
                offset: String::new(),
            },
            _ => Row {
                key,
                device: String::new(),
                name: None,
                offset: format!("{phys:#x}"),
            },
        };
        self.rows.push(row);
        let index = self.bins.add_row();
        self.row_of.insert(key, index);
        index
    }

    fn access(
        &mut self,
        dir: Direction,
        time: Timestamp,
        phys: u64,
        context: &Context,
        tracker: &Tracker,
    ) {
        let row = self.row(context, phys, tracker);
        if self.rows[row].key == RowKey::Other {
            self.other += 1;
        }
        let micros = time.as_micros();
        let origin = *self.origin.get_or_insert(micros);
        let x = match self.axis {
            XAxis::Time => micros.saturating_sub(origin),
            XAxis::Index => self.accesses(),
        };
        self.bins.add(row, x, dir);
        match dir {
            Direction::Read => self.reads += 1,
            Direction::Write => self.writes += 1,
        }
    }

    fn mark(&mut self, text: String, lost: bool) {
        if self.marks.len() < MAX_MARKS {
            let pos = self.pos();
            self.marks.push(Mark { pos, text, lost });
        } else {
            self.dropped_marks += 1;
        }
    }

    /// The x of `pos`, before the first access 0.
    fn x(&self, pos: Pos) -> u64 {
        match self.axis {
            XAxis::Time => pos.micros.saturating_sub(self.origin.unwrap_or(u64::MAX)),
            XAxis::Index => pos.index,
        }
    }
}

impl Sink for Plotter {
    fn record(&mut self, entry: &Entry, context: &Context, tracker: &Tracker) -> Result<(), Error> {
        let header = matches!(entry.record, Record::Version(_) | Record::PciDev(_));
        if self.device.is_some() && !self.checked && !header {
            self.check_device(tracker)?;
        }
        match &entry.record {
            Record::Version(_) | Record::PciDev(_) => {}
            Record::Access(a) => {
                self.now = self.now.max(a.time.as_micros());
                if self.selected(context, tracker) {
                    self.access(a.dir, a.time, a.phys, context, tracker);
                }
            }
            Record::Unknown(u) => {
                self.now = self.now.max(u.time.as_micros());
                if self.selected(context, tracker) {
                    self.unknown += 1;
                }
            }
            Record::Mark(m) => {
                self.now = self.now.max(m.time.as_micros());
                self.mark(m.text.clone(), false);
            }
            Record::LostEvents(n) => self.mark(format!("lost {n} events"), true),
            Record::Map(map) => {
                self.now = self.now.max(map.time.as_micros());
                let pos = self.pos();
                // A MAP of a live id ends its mapping.
                if let Some(span) = self.open.remove(&map.map_id) {
                    self.spans[span].end = Some(pos);
                }
                if !self.selected(context, tracker) {
                    return Ok(());
                }
                if self.spans.len() >= MAX_SPANS {
                    self.dropped_spans += 1;
                    return Ok(());
                }
                let device = context
                    .place
                    .map(|p| format!(" {} bar{}", tracker.label(p.device), p.bar))
                    .unwrap_or_default();
                self.open.insert(map.map_id, self.spans.len());
                self.spans.push(Span {
                    start: pos,
                    end: None,
                    label: format!("map #{} {:#x}+{:#x}{device}", map.map_id, map.phys, map.len),
                });
            }
            Record::Unmap(unmap) => {
                self.now = self.now.max(unmap.time.as_micros());
                if let Some(span) = self.open.remove(&unmap.map_id) {
                    self.spans[span].end = Some(self.pos());
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, _lines: u64, tracker: &Tracker) -> Result<(), Error> {
        if self.device.is_some() && !self.checked {
            self.check_device(tracker)?;
        }
        Ok(())
    }
}

/// Layout, in pixels.
const ROW_HEIGHT: f64 = 14.0;
const TOP: f64 = 70.0;
const BOTTOM: f64 = 48.0;
const MARGIN: f64 = 10.0;
/// Single accesses in a long time range still show.
const MIN_CELL_WIDTH: f64 = 2.0;
/// The advance of one character of the 11 px monospace labels.
const CHAR_WIDTH: f64 = 6.7;
/// Labels longer than this are cut.
const MAX_LABEL: usize = 40;
/// Fonts with the same metrics everywhere first, then the generic ones.
const SANS: &str = "DejaVu Sans, Liberation Sans, Arial, sans-serif";
const MONO: &str = "DejaVu Sans Mono, Liberation Mono, Courier New, monospace";
const READ_COLOUR: &str = "#1f77b4";
const WRITE_COLOUR: &str = "#ff7f0e";
const MARK_COLOUR: &str = "#2ca02c";
const LOST_COLOUR: &str = "#d62728";

impl Plotter {
    /// Writes the SVG; `title` (e.g. the file name) heads it.
    pub fn write_svg<W: Write>(&self, mut out: W, title: &str) -> io::Result<()> {
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        order.sort_by_key(|&r| self.rows[r].key);
        let mut devices: Vec<&str> = self.rows.iter().map(|r| r.device.as_str()).collect();
        devices.sort_unstable();
        devices.dedup();
        let prefix_device = devices.len() > 1;
        let names: Vec<String> = order
            .iter()
            .map(|&r| {
                let row = &self.rows[r];
                let name = row.name.as_deref().unwrap_or("");
                if prefix_device && !row.device.is_empty() {
                    format!("{} {name}", row.device).trim_end().to_string()
                } else {
                    name.to_string()
                }
            })
            .collect();
        let chars = |s: &str| s.chars().count().min(MAX_LABEL + 1) as f64;
        let name_width = names.iter().map(|n| chars(n)).fold(0.0, f64::max) * CHAR_WIDTH;
        let offset_width = self
            .rows
            .iter()
            .map(|r| chars(&r.offset))
            .fold(0.0, f64::max)
            * CHAR_WIDTH;
        let left = MARGIN + name_width + MARGIN + offset_width + MARGIN;
        let plot_width = self.bins.columns as f64;
        let plot_top = TOP;
        let plot_height = (self.rows.len().max(1) as f64) * ROW_HEIGHT;
        let plot_bottom = plot_top + plot_height;
        let width = (left + plot_width + 2.0 * MARGIN).max(720.0);
        let height = plot_bottom + BOTTOM;
        let used = self.bins.used().max(1);
        let scale = Scale {
            span: used as u64 * self.bins.width(),
            left,
            width: plot_width,
        };

        writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="{SANS}" font-size="11">"#
        )?;
        writeln!(
            out,
            r##"<rect class="background" x="0" y="0" width="{width:.0}" height="{height:.0}" fill="#ffffff"/>"##
        )?;

        // Title and legend.
        let (axis_name, unit) = match self.axis {
            XAxis::Time => ("time (s)", "us"),
            XAxis::Index => ("access index", "accesses"),
        };
        let mut summary = format!(
            "{} reads, {} writes, {} registers; {} {unit} per column",
            self.reads,
            self.writes,
            self.rows.len(),
            self.bins.width()
        );
        if self.unknown > 0 {
            summary.push_str(&format!("; {} UNKNOWN accesses not shown", self.unknown));
        }
        if self.other > 0 {
            summary.push_str(&format!(
                "; {} accesses of registers past the first {MAX_ROWS} in the last row",
                self.other
            ));
        }
        if self.dropped_marks + self.dropped_spans > 0 {
            summary.push_str(&format!(
                "; {} MARK lines and {} mappings past the first {MAX_MARKS} not shown",
                self.dropped_marks, self.dropped_spans
            ));
        }
        writeln!(
            out,
            r#"<text class="title" x="{MARGIN}" y="18" font-size="14" font-weight="bold">{}</text>"#,
            escape(&format!("mmiotrace plot: {title}"), 200)
        )?;
        writeln!(
            out,
            r#"<text class="summary" x="{MARGIN}" y="34">{}</text>"#,
            escape(&summary, 400)
        )?;
        let max = self.bins.max_count();
        writeln!(
            out,
            r##"<g class="legend" transform="translate({MARGIN},42)"><rect width="12" height="10" fill="{READ_COLOUR}"/><text x="16" y="9">read (upper half)</text><rect x="130" width="12" height="10" fill="{WRITE_COLOUR}"/><text x="146" y="9">write (lower half)</text><line x1="270" y1="0" x2="270" y2="10" stroke="{MARK_COLOUR}" stroke-width="2"/><text x="276" y="9">MARK</text><rect x="330" width="24" height="10" fill="#000000" fill-opacity="0.12"/><text x="358" y="9">MAP..UNMAP</text><text x="450" y="9">darker: more accesses per column (darkest: {max})</text></g>"##
        )?;

        // Row stripes and labels.
        writeln!(out, r#"<g class="rows" font-family="{MONO}">"#)?;
        for (i, (&r, name)) in order.iter().zip(&names).enumerate() {
            let y = plot_top + i as f64 * ROW_HEIGHT;
            if i % 2 == 0 {
                writeln!(
                    out,
                    r##"<rect x="0" y="{y:.1}" width="{:.1}" height="{ROW_HEIGHT}" fill="#f2f2f2"/>"##,
                    left + plot_width
                )?;
            }
            let text_y = y + ROW_HEIGHT - 3.0;
            writeln!(
                out,
                r##"<text class="name" x="{MARGIN}" y="{text_y:.1}">{}</text><text class="offset" x="{:.1}" y="{text_y:.1}" fill="#666666">{}</text>"##,
                escape(name, MAX_LABEL),
                MARGIN + name_width + MARGIN,
                escape(&self.rows[r].offset, MAX_LABEL)
            )?;
        }
        writeln!(out, "</g>")?;

        // Mappings.
        writeln!(
            out,
            r##"<g class="spans" fill="#000000" fill-opacity="0.08">"##
        )?;
        for span in &self.spans {
            let x0 = scale.px(self.x(span.start));
            let x1 = span
                .end
                .map_or(left + plot_width, |end| scale.px(self.x(end)));
            if x1 <= x0 && span.end.is_some() {
                continue;
            }
            writeln!(
                out,
                r#"<rect x="{x0:.2}" y="{plot_top:.1}" width="{:.2}" height="{plot_height:.1}"><title>{}</title></rect>"#,
                (x1 - x0).max(1.0),
                escape(&span.label, 200)
            )?;
        }
        writeln!(out, "</g>")?;

        // The cells: per row and kind, runs of one level are one rectangle.
        for (kind, colour) in [(0, READ_COLOUR), (1, WRITE_COLOUR)] {
            let class = ["reads", "writes"][kind];
            writeln!(out, r#"<g class="{class}" fill="{colour}">"#)?;
            for (i, &r) in order.iter().enumerate() {
                let y =
                    plot_top + i as f64 * ROW_HEIGHT + 1.0 + kind as f64 * (ROW_HEIGHT / 2.0 - 1.0);
                let mut column = 0;
                while column < used {
                    let lvl = level(self.bins.cell(r, column)[kind], max);
                    let mut end = column + 1;
                    while end < used && level(self.bins.cell(r, end)[kind], max) == lvl {
                        end += 1;
                    }
                    if lvl > 0 {
                        let x0 = scale.px(column as u64 * self.bins.width());
                        let x1 = scale.px(end as u64 * self.bins.width());
                        let opacity = 0.25 + 0.75 * f64::from(lvl) / f64::from(LEVELS);
                        writeln!(
                            out,
                            r#"<rect x="{x0:.2}" y="{y:.1}" width="{:.2}" height="{:.1}" fill-opacity="{opacity:.3}"/>"#,
                            (x1 - x0).max(MIN_CELL_WIDTH),
                            ROW_HEIGHT / 2.0 - 1.0
                        )?;
                    }
                    column = end;
                }
            }
            writeln!(out, "</g>")?;
        }

        // The x axis.
        writeln!(
            out,
            r##"<g class="axis" stroke="#999999"><line x1="{left:.1}" y1="{plot_bottom:.1}" x2="{:.1}" y2="{plot_bottom:.1}"/><line x1="{left:.1}" y1="{plot_top:.1}" x2="{left:.1}" y2="{plot_bottom:.1}"/></g>"##,
            left + plot_width
        )?;
        let (tick_xs, step) = ticks(scale.span, (plot_width / 100.0) as u64);
        writeln!(out, r#"<g class="ticks" text-anchor="middle">"#)?;
        for x in tick_xs {
            let px = scale.px(x);
            let label = match self.axis {
                XAxis::Time => {
                    let digits = (6 - step.ilog10().min(6)) as usize;
                    let t = Timestamp::from_micros(self.origin.unwrap_or(0).saturating_add(x));
                    format!("{:.digits$}", t.as_secs_f64())
                }
                XAxis::Index => x.to_string(),
            };
            writeln!(
                out,
                r##"<line x1="{px:.2}" y1="{plot_top:.1}" x2="{px:.2}" y2="{:.1}" stroke="#cccccc" stroke-width="0.5"/><text x="{px:.2}" y="{:.1}">{}</text>"##,
                plot_bottom + 4.0,
                plot_bottom + 16.0,
                escape(&label, 40)
            )?;
        }
        writeln!(
            out,
            r#"<text class="axis-title" x="{:.1}" y="{:.1}">{axis_name}</text></g>"#,
            left + plot_width / 2.0,
            plot_bottom + 34.0
        )?;

        // MARK lines, over the cells.
        writeln!(out, r#"<g class="marks" font-size="10">"#)?;
        for mark in &self.marks {
            let px = scale.px(self.x(mark.pos));
            let colour = if mark.lost { LOST_COLOUR } else { MARK_COLOUR };
            writeln!(
                out,
                r#"<g class="mark"><title>{}</title><line x1="{px:.2}" y1="{plot_top:.1}" x2="{px:.2}" y2="{plot_bottom:.1}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="4 2"/><text transform="translate({:.2},{:.1}) rotate(90)" fill="{colour}">{}</text></g>"#,
                escape(&mark.text, 500),
                px + 3.0,
                plot_top + 3.0,
                escape(&mark.text, 60)
            )?;
        }
        writeln!(out, "</g>")?;
        if self.rows.is_empty() {
            writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no accesses</text>"#,
                left + plot_width / 2.0,
                plot_top + ROW_HEIGHT - 3.0
            )?;
        }
        writeln!(out, "</svg>")?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regdb::parse_native;
    use crate::stream::{self, tests::HEADER};
    use std::path::Path;

    #[test]
    fn bins_double_and_keep_every_count() {
        let mut bins = Bins::new(4);
        let a = bins.add_row();
        let b = bins.add_row();
        bins.add(a, 0, Direction::Read);
        bins.add(a, 3, Direction::Write);
        bins.add(b, 1, Direction::Read);
        assert_eq!((bins.width(), bins.used()), (1, 4));
        assert_eq!(bins.cell(a, 3), [0, 1]);
        // x = 4 does not fit in 4 bins of 1: bins of 2.
        bins.add(b, 4, Direction::Write);
        assert_eq!((bins.width(), bins.used()), (2, 3));
        assert_eq!(bins.cell(a, 0), [1, 0]);
        assert_eq!(bins.cell(a, 1), [0, 1]);
        assert_eq!(bins.cell(b, 0), [1, 0]);
        assert_eq!(bins.cell(b, 2), [0, 1]);
        assert_eq!(bins.cell(a, 2), [0, 0]);
        assert_eq!(bins.cell(a, 3), [0, 0], "the upper half is cleared");
        // A far x doubles several times; nothing is lost.
        bins.add(a, 1000, Direction::Read);
        assert_eq!(bins.width(), 256);
        assert_eq!(bins.used(), 4);
        assert_eq!(bins.cell(a, 0), [1, 1]);
        assert_eq!(bins.cell(b, 0), [1, 1]);
        assert_eq!(bins.cell(a, 3), [1, 0]);
        assert_eq!(bins.max_count(), 1);
        let total: u32 = (0..4)
            .flat_map(|c| [bins.cell(a, c), bins.cell(b, c)])
            .map(|[r, w]| r + w)
            .sum();
        assert_eq!(total, 5);
        // The largest x still fits.
        bins.add(b, u64::MAX, Direction::Read);
        assert_eq!(bins.used(), 4);
        assert_eq!(bins.cell(b, 3), [1, 0]);
    }

    #[test]
    fn bins_of_odd_column_counts_merge() {
        let mut bins = Bins::new(5);
        let r = bins.add_row();
        for x in 0..5 {
            bins.add(r, x, Direction::Read);
        }
        bins.add(r, 5, Direction::Read);
        assert_eq!(bins.width(), 2);
        let cells: Vec<u32> = (0..5).map(|c| bins.cell(r, c)[0]).collect();
        assert_eq!(cells, [2, 2, 2, 0, 0]);
    }

    #[test]
    fn levels_are_logarithmic_and_bounded() {
        assert_eq!(level(0, 100), 0);
        assert_eq!(level(5, 0), 0);
        assert_eq!(level(1, 1), LEVELS);
        assert_eq!(level(100, 100), LEVELS);
        assert_eq!(level(1, 1_000_000), 1);
        assert!(level(10, 1000) < level(100, 1000));
        assert!(level(1, 3) > 1, "single accesses are visible");
    }

    #[test]
    fn scale_maps_and_clamps() {
        let s = Scale {
            span: 200,
            left: 100.0,
            width: 1000.0,
        };
        assert_eq!(s.px(0), 100.0);
        assert_eq!(s.px(100), 600.0);
        assert_eq!(s.px(200), 1100.0);
        assert_eq!(s.px(5000), 1100.0);
        let empty = Scale { span: 0, ..s };
        assert_eq!(empty.px(0), 100.0);
    }

    #[test]
    fn ticks_use_round_steps() {
        assert_eq!(ticks(10, 10), ((0..=10).collect(), 1));
        assert_eq!(
            ticks(45, 10),
            (vec![0, 5, 10, 15, 20, 25, 30, 35, 40, 45], 5)
        );
        let (t, step) = ticks(34_875, 12);
        assert_eq!(step, 5000);
        assert_eq!(t.len(), 7);
        assert_eq!(ticks(0, 12), (vec![0], 1));
        let (t, step) = ticks(u64::MAX, 12);
        assert!(step >= 1_000_000_000_000_000_000);
        assert!(t.len() <= 13);
    }

    #[test]
    fn text_is_escaped_and_cut() {
        assert_eq!(
            escape("a<b>&\"c'\u{1}\td", 100),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{fffd} d"
        );
        assert_eq!(escape("abcdef", 3), "abc…");
    }

    fn plot(trace: &str, axis: XAxis, device: Option<DeviceSelector>) -> (Plotter, String) {
        let db = RegDb {
            devices: vec![parse_native(
                "device 8086:100e\nbar0 0x0 4 CTRL\nbar0 0x8 4 STATUS\n",
                Path::new("t.regs"),
            )
            .unwrap()],
        };
        let mut plotter = Plotter::new(device, db, axis, 100);
        let text = format!("{HEADER}{trace}");
        stream::run(text.as_bytes(), &mut plotter, &mut Err).unwrap();
        let mut svg = Vec::new();
        plotter.write_svg(&mut svg, "t<&>").unwrap();
        (plotter, String::from_utf8(svg).unwrap())
    }

    const ACCESSES: &str = "\
MAP 1.000000 1 0xfebc0000 0xffffc90000 0x20000 0x0 0
R 4 1.000000 1 0xfebc0008 0x1 0x0 0
MARK 1.000050 <probe> & \"go\"
W 4 1.000100 1 0xfebc0000 0x1 0x0 0
W 4 1.000200 1 0xfebc0004 0x1 0x0 0
R 1 1.000300 2 0xfebe0008 0xfa 0x0 0
UNKNOWN 1.000300 1 0xfebc0000 f3,a5,48 0x0 0
UNMAP 2.000000 1 0x0 0
";

    #[test]
    fn rows_are_registers_sorted_by_offset() {
        let (p, svg) = plot(ACCESSES, XAxis::Time, None);
        assert_eq!((p.rows(), p.accesses(), p.unknown), (4, 4, 1));
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let texts = |class: &str| -> Vec<String> {
            doc.descendants()
                .filter(|n| n.attribute("class") == Some(class))
                .map(|n| n.text().unwrap_or("").to_string())
                .collect()
        };
        // Two devices: names carry the device.
        assert_eq!(
            texts("name"),
            [
                "8086:100e CTRL",
                "8086:100e",
                "8086:100e STATUS",
                "1b36:0005"
            ]
        );
        assert_eq!(
            texts("offset"),
            ["bar0+0x0000", "bar0+0x0004", "bar0+0x0008", "bar0+0x0008"]
        );
        assert!(texts("title")[0].ends_with("t<&>"));
        let marks: Vec<_> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("mark"))
            .collect();
        assert_eq!(marks.len(), 1);
        assert!(svg.contains("&lt;probe&gt; &amp; &quot;go&quot;"));
        // The time axis: 300 us in 100 columns of 4 us; the mark at 50 us.
        assert_eq!(p.bins.width(), 4);
        let line = marks[0]
            .descendants()
            .find(|n| n.has_tag_name("line"))
            .unwrap();
        let x: f64 = line.attribute("x1").unwrap().parse().unwrap();
        let left: f64 = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("axis"))
            .and_then(|g| g.first_element_child())
            .and_then(|l| l.attribute("x1"))
            .unwrap()
            .parse()
            .unwrap();
        // 76 columns used (0..=300 us), the mark at 50 us.
        let expected = left + 100.0 * 50.0 / (76.0 * 4.0);
        assert!((x - expected).abs() < 0.01, "{x} != {expected}");
        let spans = doc
            .descendants()
            .filter(|n| n.is_element())
            .filter(|n| n.parent().and_then(|p| p.attribute("class")) == Some("spans"))
            .count();
        assert_eq!(spans, 1);
    }

    #[test]
    fn one_device_by_index() {
        let dev: DeviceSelector = "8086:100e".parse().unwrap();
        let (p, svg) = plot(ACCESSES, XAxis::Index, Some(dev));
        assert_eq!((p.rows(), p.accesses(), p.bins.width()), (3, 3, 1));
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let names: Vec<_> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("name"))
            .map(|n| n.text().unwrap_or(""))
            .collect();
        assert_eq!(names, ["CTRL", "", "STATUS"]);
        let cells = |class: &str| {
            doc.descendants()
                .find(|n| n.attribute("class") == Some(class))
                .unwrap()
                .children()
                .filter(|n| n.is_element())
                .count()
        };
        assert_eq!((cells("reads"), cells("writes")), (1, 2));

        let other: DeviceSelector = "1234:5678".parse().unwrap();
        let mut plotter = Plotter::new(Some(other), RegDb::default(), XAxis::Index, 100);
        let text = format!("{HEADER}{ACCESSES}");
        let err = stream::run(text.as_bytes(), &mut plotter, &mut Err).unwrap_err();
        assert!(err.to_string().contains("1234:5678"), "{err}");
    }

    #[test]
    fn many_accesses_give_a_bounded_plot() {
        let mut trace = String::new();
        for i in 0..200_000u64 {
            let reg = (i % 64) * 4;
            let dir = if i % 3 == 0 { 'W' } else { 'R' };
            trace.push_str(&format!(
                "{dir} 4 {}.{:06} 1 {:#x} 0x1 0x0 0\n",
                1 + i / 1_000_000,
                i % 1_000_000,
                0xfebc_0000 + reg
            ));
        }
        let (p, svg) = plot(&trace, XAxis::Time, None);
        assert_eq!((p.rows(), p.accesses()), (64, 200_000));
        assert!(p.bins.used() <= 100);
        // At most one rectangle per cell, each under 100 bytes.
        assert!(svg.len() < 64 * 2 * 100 * 100 + 100_000, "{}", svg.len());
        roxmltree::Document::parse(&svg).unwrap();
    }
}
