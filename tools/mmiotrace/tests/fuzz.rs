// SPDX-License-Identifier: GPL-2.0
//! Bounded random-mutation fuzzing of the trace parser on stable Rust
//! (cargo-fuzz needs nightly).
//!
//! The lines of tests/fixtures/*.txt are mutated (byte and bit flips,
//! truncation, fields deleted, duplicated or swapped, huge numbers,
//! non-UTF-8 bytes, NULs, very long lines, CR/LF variants, blank and
//! comment lines) and fed to [`TraceReader`] and, through [`stream::run`],
//! to the `print`, `annotate`, `stats` and `export` sinks. Checked: nothing
//! panics; every line that is not blank or a comment yields exactly one
//! record or one parse error, with its line number, in order (so parsing
//! goes on after a bad line); the reader agrees with [`parse_record`] on
//! each line; the sinks see the same records and errors and `stats` counts
//! the same lines.
//!
//! Each test runs for `MMIOTRACE_FUZZ_SECS` seconds (default 3) or
//! `MMIOTRACE_FUZZ_ITERS` iterations, whichever ends first, from the seed
//! `MMIOTRACE_FUZZ_SEED` (default fixed, so `cargo test` is reproducible);
//! it prints the seed and the iterations per second. A failure prints the
//! seed of the failing case and its input; `MMIOTRACE_FUZZ_SEED=<case seed>
//! MMIOTRACE_FUZZ_ITERS=1` replays exactly that case.

use std::io::{self, BufWriter, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use mmiotrace::export::Exporter;
use mmiotrace::print::Printer;
use mmiotrace::regdb::{self, RegDb};
use mmiotrace::stats::Stats;
use mmiotrace::stream::{self, Context, Sink, Tracker};
use mmiotrace::trace::{parse_record, Entry, TraceReader};
use mmiotrace::Error;

/// xorshift64*: small, deterministic, no crate.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Never zero; spread similar seeds apart.
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={v}: not a number")))
}

/// Every line (without its terminator) of every fixture trace.
fn fixture_lines() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    let mut lines = Vec::new();
    for path in paths {
        let text = std::fs::read(&path).unwrap();
        lines.extend(
            text.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    assert!(lines.len() > 50, "fixtures in {}", dir.display());
    lines
}

fn e1000_regdb() -> RegDb {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../regdb/e1000.regs");
    let text = regdb::read(&path, "test").unwrap();
    RegDb {
        devices: vec![regdb::parse_native(&text, &path).unwrap()],
    }
}

const HUGE: &[&[u8]] = &[
    b"18446744073709551616",
    b"99999999999999999999999999999999",
    b"-2147483649",
    b"2147483648",
    b"-0",
    b"0xffffffffffffffff",
    b"0x10000000000000000",
    b"0x0000000000000000000000000000001",
    b"18446744073709551615.999999",
    b"18446744073709.1",
    b"0.0000001",
    b"4294967296.000000",
    b".5",
    b"5.",
    b".",
    b"0x",
    b"-",
    b"ff,ff,ff",
    b"f3,a5",
    b",,",
    b"8",
    b"3",
];

fn fields(line: &[u8]) -> Vec<&[u8]> {
    line.split(|&b| b == b' ')
        .filter(|f| !f.is_empty())
        .collect()
}

/// One random change of `line`.
fn mutate(rng: &mut Rng, line: &mut Vec<u8>, pool: &[Vec<u8>]) {
    match rng.below(16) {
        0 if !line.is_empty() => {
            let i = rng.below(line.len());
            line[i] = rng.next() as u8;
        }
        1 if !line.is_empty() => {
            let i = rng.below(line.len());
            line[i] ^= 1 << rng.below(8);
        }
        2 => {
            let at = rng.below(line.len() + 1);
            line.truncate(at);
        }
        3..=5 => {
            // Delete, duplicate or replace a field.
            let mut f: Vec<Vec<u8>> = fields(line).into_iter().map(<[u8]>::to_vec).collect();
            if f.is_empty() {
                return;
            }
            let i = rng.below(f.len());
            match rng.below(3) {
                0 => {
                    f.remove(i);
                }
                1 => {
                    let dup = f[i].clone();
                    f.insert(i, dup);
                }
                _ => f[i] = HUGE[rng.below(HUGE.len())].to_vec(),
            }
            *line = f.join(&b' ');
        }
        6 => {
            // Swap two fields.
            let mut f: Vec<Vec<u8>> = fields(line).into_iter().map(<[u8]>::to_vec).collect();
            if f.len() >= 2 {
                let (i, j) = (rng.below(f.len()), rng.below(f.len()));
                f.swap(i, j);
                *line = f.join(&b' ');
            }
        }
        7 => {
            // Non-UTF-8 or control bytes somewhere.
            const ODD: &[&[u8]] = &[
                b"\xff",
                b"\xc3",
                b"\xe2\x82",
                b"\0",
                b"\x80\x80",
                b"\t",
                b"\x0b",
                b"\x1b[0m",
                "é".as_bytes(),
            ];
            let at = rng.below(line.len() + 1);
            let odd = ODD[rng.below(ODD.len())];
            line.splice(at..at, odd.iter().copied());
        }
        8 => {
            // A very long line: a long field or many fields.
            let n = 1 << (10 + rng.below(8)); // 1 KiB .. 128 KiB
            if rng.chance(2) {
                let at = rng.below(line.len() + 1);
                let byte = [b'f', b'0', b'9', b' ', b'x'][rng.below(5)];
                line.splice(at..at, std::iter::repeat_n(byte, n));
            } else {
                let copy = line.clone();
                while line.len() < n {
                    line.push(b' ');
                    line.extend_from_slice(&copy);
                }
            }
        }
        9 => {
            // A carriage return inside or at either end, or stray spaces.
            let insert: &[u8] = [&b"\r"[..], b"\r\r", b" ", b"  \t ", b"\r "][rng.below(5)];
            let at = match rng.below(3) {
                0 => 0,
                1 => line.len(),
                _ => rng.below(line.len() + 1),
            };
            line.splice(at..at, insert.iter().copied());
        }
        10 => {
            // Another fixture line spliced in (two records on one line).
            let other = &pool[rng.below(pool.len())];
            let at = rng.below(line.len() + 1);
            line.splice(at..at, other.iter().copied());
        }
        11 => {
            // A keyword that fits another record, or a lower-case one.
            const KEYWORDS: &[&[u8]] = &[
                b"R", b"W", b"MAP", b"UNMAP", b"MARK", b"UNKNOWN", b"PCIDEV", b"VERSION", b"r",
                b"", b"#",
            ];
            let rest = match line.iter().position(|&b| b == b' ') {
                Some(i) => line[i..].to_vec(),
                None => Vec::new(),
            };
            *line = [KEYWORDS[rng.below(KEYWORDS.len())], &rest].concat();
        }
        12 => line.clear(),
        13 => *line = b"MARK 0.000000 Lost 18446744073709551616 events.".to_vec(),
        _ => {
            // A digit changed: numbers just out of range, widths 3 and 16.
            let digits: Vec<usize> = (0..line.len())
                .filter(|&i| line[i].is_ascii_digit())
                .collect();
            if !digits.is_empty() {
                let i = digits[rng.below(digits.len())];
                line[i] = b'0' + rng.below(10) as u8;
                if rng.chance(2) {
                    line.insert(i, b'0' + rng.below(10) as u8);
                }
            }
        }
    }
}

/// A trace of mutated fixture lines with mixed line terminators.
fn make_input(rng: &mut Rng, pool: &[Vec<u8>]) -> Vec<u8> {
    let mut input = Vec::new();
    // Mostly a run of consecutive lines (keeps PCIDEV/MAP before accesses),
    // sometimes random lines from anywhere.
    let n = 1 + rng.below(40);
    let start = rng.below(pool.len());
    let consecutive = !rng.chance(4);
    let mutation_rate = 1 + rng.below(8);
    for k in 0..n {
        let mut line = if consecutive {
            pool[(start + k) % pool.len()].clone()
        } else {
            pool[rng.below(pool.len())].clone()
        };
        while rng.chance(mutation_rate) {
            mutate(rng, &mut line, pool);
            if rng.chance(2) {
                break;
            }
        }
        if rng.chance(30) {
            input.extend_from_slice([&b"\n"[..], b"# comment\n", b"  \t\n", b"\r\n"][rng.below(4)]);
        }
        input.extend_from_slice(&line);
        let last = k + 1 == n;
        if !(last && rng.chance(4)) {
            input.extend_from_slice([&b"\n"[..], b"\r\n", b"\n", b"\n\r", b"\r\r\n"][rng.below(5)]);
        }
    }
    input
}

/// What the reader must yield: for each line (split at `\n`) that is not
/// blank or a comment after trimming, its 1-based number and the trimmed
/// text. Independent of lex::trim: leading spaces and tabs, trailing spaces,
/// tabs and CRs go.
fn expected_lines(input: &[u8]) -> (Vec<(u64, Vec<u8>)>, u64) {
    let mut out = Vec::new();
    let mut pieces: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    for (i, piece) in pieces.iter().enumerate() {
        let is_space = |b: &u8| *b == b' ' || *b == b'\t';
        let end = piece
            .iter()
            .rposition(|b| !(is_space(b) || *b == b'\r'))
            .map_or(0, |p| p + 1);
        let text = &piece[..end];
        let start = text.iter().position(|b| !is_space(b)).unwrap_or(end);
        let text = &text[start..];
        if !text.is_empty() && text[0] != b'#' {
            out.push((i as u64 + 1, text.to_vec()));
        }
    }
    (out, pieces.len() as u64)
}

/// The reader: one item per expected line, with its number, agreeing with
/// `parse_record`. Returns the number of parse errors.
fn check_reader(input: &[u8]) -> u64 {
    let (expected, lines) = expected_lines(input);
    let mut reader = TraceReader::new(input);
    let items: Vec<_> = reader.by_ref().collect();
    assert_eq!(reader.lines_read(), lines, "lines read");
    assert_eq!(
        items.len(),
        expected.len(),
        "one record or error per non-blank line"
    );
    let mut errors = 0;
    for (item, (line, text)) in items.iter().zip(&expected) {
        let alone = parse_record(text, *line);
        match (item, &alone) {
            (Ok(entry), Ok(record)) => {
                assert_eq!(entry.line, *line, "line number of a record");
                assert_eq!(&entry.record, record, "reader and parse_record differ");
            }
            (Err(e @ Error::Parse { .. }), Err(e2)) => {
                assert_eq!(e.line(), Some(*line), "line number of an error: {e}");
                assert_eq!(e.to_string(), e2.to_string());
                errors += 1;
            }
            _ => panic!("line {line}: reader gave {item:?}, parse_record {alone:?}"),
        }
    }
    errors
}

/// Counts what reaches a sink and checks the line numbers go up.
struct Counted<S> {
    inner: S,
    records: u64,
    malformed: u64,
    last_line: u64,
    finished: Option<u64>,
}

impl<S> Counted<S> {
    fn new(inner: S) -> Self {
        Counted {
            inner,
            records: 0,
            malformed: 0,
            last_line: 0,
            finished: None,
        }
    }
}

impl<S: Sink> Sink for Counted<S> {
    fn record(&mut self, entry: &Entry, context: &Context, tracker: &Tracker) -> Result<(), Error> {
        assert!(entry.line > self.last_line, "record line numbers go up");
        self.last_line = entry.line;
        self.records += 1;
        self.inner.record(entry, context, tracker)
    }
    fn malformed(&mut self, error: &Error) {
        let line = error.line().expect("a malformed line has a number");
        assert!(line > self.last_line, "error line numbers go up");
        self.last_line = line;
        self.malformed += 1;
        self.inner.malformed(error);
    }
    fn finish(&mut self, lines: u64, tracker: &Tracker) -> Result<(), Error> {
        self.finished = Some(lines);
        self.inner.finish(lines, tracker)
    }
}

/// Runs `sink` over `input`, skipping malformed lines; checks the counts.
fn run_sink<S: Sink>(input: &[u8], sink: S, records: u64, errors: u64, lines: u64) -> S {
    let mut counted = Counted::new(sink);
    let mut skipped = 0;
    stream::run(input, &mut counted, &mut |_| {
        skipped += 1;
        Ok(())
    })
    .expect("a sink writing to memory does not fail");
    assert_eq!(counted.records, records, "records reaching the sink");
    assert_eq!(
        counted.malformed, errors,
        "malformed lines reaching the sink"
    );
    assert_eq!(skipped, errors, "malformed lines reaching the handler");
    assert_eq!(counted.finished, Some(lines), "finish after every line");
    counted.inner
}

/// Every sink over `input`; returns the parsed lines and the errors.
fn check_sinks(input: &[u8], db: &RegDb) -> (u64, u64) {
    let (expected, lines) = expected_lines(input);
    let errors = check_reader(input);
    let records = expected.len() as u64 - errors;

    let mut out = BufWriter::new(io::sink());
    run_sink(input, Printer::new(&mut out, None), records, errors, lines);
    let mut out = Vec::new();
    run_sink(
        input,
        Printer::new(&mut out, None).with_regdb(db.clone()),
        records,
        errors,
        lines,
    );
    // The reader splits at newlines, so no MARK text or driver name has
    // one: one output line per record.
    assert_eq!(
        out.iter().filter(|&&b| b == b'\n').count() as u64,
        records,
        "one annotate line per record"
    );
    let mut out = Vec::new();
    run_sink(input, Exporter::new(&mut out), records, errors, lines);
    for json in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        serde_json::from_slice::<serde_json::Value>(json).expect("export writes valid JSON");
    }
    let stats = run_sink(input, Stats::new(), records, errors, lines);
    let report = stats.report();
    assert_eq!(report.totals.lines, lines, "stats: lines");
    assert_eq!(report.totals.malformed, errors, "stats: malformed");
    let mut text = Vec::new();
    report.write_text(&mut text).unwrap();
    serde_json::to_string(&report).unwrap();
    (expected.len() as u64, errors)
}

/// Runs `check` on inputs made from the fixtures until the time or
/// iteration budget is spent.
/// `check` returns the parsed lines and how many of them were malformed.
fn fuzz(name: &str, stream_id: u64, check: impl Fn(&[u8]) -> (u64, u64)) {
    let pool = fixture_lines();
    let secs = env_u64("MMIOTRACE_FUZZ_SECS").unwrap_or(3);
    let max_iters = env_u64("MMIOTRACE_FUZZ_ITERS").unwrap_or(u64::MAX);
    let base = env_u64("MMIOTRACE_FUZZ_SEED").unwrap_or(0x6d6d_696f_0000_0000 | stream_id);
    let budget = Duration::from_secs(secs);
    let start = Instant::now();
    let mut iters = 0u64;
    let mut bytes = 0u64;
    let (mut parsed, mut malformed) = (0u64, 0u64);
    while iters < max_iters && (iters == 0 || start.elapsed() < budget) {
        let case_seed = base.wrapping_add(iters);
        let mut rng = Rng::new(case_seed);
        let input = make_input(&mut rng, &pool);
        bytes += input.len() as u64;
        let result = panic::catch_unwind(AssertUnwindSafe(|| check(&input)));
        match result {
            Ok((p, m)) => {
                parsed += p;
                malformed += m;
            }
            Err(cause) => {
                let shown: String = input.escape_ascii().to_string();
                let shown = if shown.len() > 4000 {
                    format!("{}... ({} bytes)", &shown[..4000], input.len())
                } else {
                    shown
                };
                let _ = writeln!(
                    io::stderr(),
                    "{name}: FAILED at iteration {iters}; replay with \
                 MMIOTRACE_FUZZ_SEED={case_seed:#x} MMIOTRACE_FUZZ_ITERS=1\ninput: b\"{shown}\""
                );
                panic::resume_unwind(cause);
            }
        }
        iters += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{name}: seed {base:#x}, {iters} iterations in {elapsed:.2} s ({:.0}/s, {:.1} MiB, \
         {parsed} lines parsed, {:.0}% malformed)",
        iters as f64 / elapsed,
        bytes as f64 / (1 << 20) as f64,
        100.0 * malformed as f64 / parsed.max(1) as f64
    );
}

#[test]
fn fuzz_reader_line_numbers() {
    fuzz("fuzz_reader_line_numbers", 1, |input| {
        let errors = check_reader(input);
        (expected_lines(input).0.len() as u64, errors)
    });
}

#[test]
fn fuzz_sinks() {
    let db = e1000_regdb();
    fuzz("fuzz_sinks", 2, |input| check_sinks(input, &db));
}

/// Inputs a random walk may not reach.
#[test]
fn edge_cases() {
    let db = e1000_regdb();
    let long_field = [
        b"R 4 1.0 1 0x".to_vec(),
        vec![b'0'; 1 << 20],
        b"1 0x1 0x0 0\n".to_vec(),
    ]
    .concat();
    let cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\n".to_vec(),
        b"\r".to_vec(),
        b"\r\n\r\n".to_vec(),
        b"R".to_vec(),
        b"MARK".to_vec(),
        b"MARK 1.0".to_vec(),
        b"MARK 1.0 \xff\xfe text\n".to_vec(),
        b"PCIDEV\n".to_vec(),
        b"\xef\xbb\xbfVERSION 20070824\n".to_vec(),
        b"\0\0\0\n\0".to_vec(),
        (0..=255u8).collect(),
        long_field,
        vec![b' '; 1 << 20],
        b"R 4 1.0 1 0x0 0x1 0x0 0\n".repeat(1000),
        [&b"PCIDEV 0010 8086100e a febc0000 c101 0 0 0 0 0 20000 40 0 0 0 0 0 \n"[..],
            b"MAP 1.0 1 0xfffffffffffffff0 0x0 0xffffffffffffffff 0x0 0\n",
            b"R 8 1.0 1 0xffffffffffffffff 0xffffffffffffffff 0x0 0\n",
            b"UNMAP 1.0 1 0x0 0\n",
            b"UNMAP 1.0 1 0x0 0\n",
            b"W 1 1.0 -2147483648 0xfebdffff 0xff 0x0 -2147483648\n",
            b"R 2 1.0 1 0xfebc0003 0xffff 0x0 0\n"]
            .concat(),
        [&b"PCIDEV 0010 8086100e a fffffffffffffff0 c101 0 0 0 0 0 ffffffffffffffff 40 0 0 0 0 0 \n"[..],
            b"R 4 1.0 1 0xfffffffffffffffc 0x1 0x0 0\n"]
            .concat(),
    ];
    for input in &cases {
        check_sinks(input, &db);
    }
}
