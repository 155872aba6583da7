// SPDX-License-Identifier: GPL-2.0
//! Throughput of the trace parser on a large generated trace (`cargo bench`).
//!
//! Generates a realistic e1000 trace of `MMIOTRACE_BENCH_MB` MiB (default
//! 1024) once, reuses it while its size is right, and measures on one
//! thread, one after the other:
//!
//! - `parse`: [`TraceReader`] only, every record built and dropped;
//! - `parse+track`: [`stream::run`] with a sink that only counts (the
//!   PCIDEV/MAP bookkeeping every command does);
//! - `annotate`: `mmiotrace annotate` as the command runs it, with
//!   tools/regdb/e1000.regs, into `io::sink()` through a `BufWriter`.
//!
//! Each prints lines/s, MiB/s, wall time and the peak RSS (VmHWM) before
//! and after: memory must not grow with the trace. The goal is 2 M lines/s
//! for `parse` on one core.
//!
//! Environment: `MMIOTRACE_BENCH_MB` (size; 64 is a quick run),
//! `MMIOTRACE_BENCH_DELETE=1` (delete the generated trace afterwards),
//! `MMIOTRACE_BENCH_FILE` (use this path, e.g. a real trace, as is).

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mmiotrace::print::Printer;
use mmiotrace::regdb::RegDb;
use mmiotrace::stream::{self, Context, Sink, Tracker};
use mmiotrace::trace::{Entry, Record, TraceReader};
use mmiotrace::Error;

/// The goal of the issue, for `parse` on one core.
const GOAL_LINES_PER_SEC: f64 = 2e6;
/// The read buffer the `mmiotrace` command uses.
const READ_BUF: usize = 1 << 16;
const MIB: f64 = 1024.0 * 1024.0;

/// A small deterministic PRNG (xorshift64*), so the trace is the same on
/// every run and no crate is needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const HEADER: &str = "\
VERSION 20070824
PCIDEV 0000 80861237 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 
PCIDEV 0008 80867000 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 
PCIDEV 0009 80867010 0 1f0 3f6 170 376 c141 0 0 8 0 8 0 10 0 0 
PCIDEV 0010 8086100e a febc0000 c101 0 0 0 0 0 20000 40 0 0 0 0 0 
PCIDEV 0018 1b360005 0 febe0000 c001 0 0 0 0 0 1000 100 0 0 0 0 0 
";

const BAR0: u64 = 0xfebc_0000;

/// e1000 registers the driver touches, with (read value, written value)
/// patterns; weights by repetition (STATUS, ICR, IMC and the ring tails are
/// the hot ones in the real traces).
const REGS: &[(u64, u64)] = &[
    (0x0008, 0x8008_0783), // STATUS
    (0x0008, 0x8008_0783),
    (0x0008, 0x8008_0783),
    (0x0000, 0x4014_0240), // CTRL
    (0x0010, 0x0000_01c8), // EECD
    (0x0014, 0x0000_0011), // EERD
    (0x0018, 0x0000_0000), // CTRL_EXT
    (0x0020, 0x1820_0000), // MDIC
    (0x00c0, 0x0000_0004), // ICR
    (0x00c0, 0x0000_0083),
    (0x00d0, 0x0000_009d), // IMS
    (0x00d8, 0xffff_ffff), // IMC
    (0x00d8, 0xffff_ffff),
    (0x0100, 0x0400_801a), // RCTL
    (0x0400, 0x0103_f0fa), // TCTL
    (0x0410, 0x0060_200a), // TIPG
    (0x2810, 0x0000_0000), // RDH
    (0x2818, 0x0000_00ff), // RDT
    (0x2818, 0x0000_0007),
    (0x3810, 0x0000_0003), // TDH
    (0x3818, 0x0000_0004), // TDT
    (0x3818, 0x0000_0005),
    (0x4000, 0x0000_0000), // STATS[0]
    (0x4074, 0x0000_1a2b), // STATS[29]
    (0x5208, 0x0000_0000), // MTA[2]
    (0x5400, 0x1200_5452), // RAL[0]
    (0x5404, 0x8000_5634), // RAH[0]
    (0x5820, 0x0022_2300), // MANC
    (0x0e00, 0x0706_0e0f), // LEDCTL, unknown bits
    (0x0004, 0x0000_0000), // not in the database: `?`
];

/// Writes a trace of about `bytes` bytes to `path`; returns the bytes
/// written.
fn generate(path: &Path, bytes: u64) -> io::Result<u64> {
    let tmp = path.with_extension("partial");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    let mut rng = Rng(0x6d6d_696f_7472_6163);
    let mut written = HEADER.len() as u64;
    out.write_all(HEADER.as_bytes())?;
    let mut micros: u64 = 87_463_594;
    let mut line = String::with_capacity(128);
    let mut map_id = 1;
    let mut mapped = false;
    let mut since_map = 0u64;
    while written < bytes {
        line.clear();
        micros += 1 + rng.below(150);
        let (secs, usecs) = (micros / 1_000_000, micros % 1_000_000);
        use std::fmt::Write as _;
        if !mapped {
            // ioremap of BAR0: map ids go up as the driver rebinds.
            writeln!(
                line,
                "MAP {secs}.{usecs:06} {map_id} {BAR0:#x} 0xffffc900{:08x} 0x20000 0x0 0",
                0x002a_0000 + 0x4_0000 * (map_id as u64 % 64)
            )
            .unwrap();
            mapped = true;
            since_map = 0;
        } else if since_map > 200_000 && rng.below(1000) == 0 {
            writeln!(line, "UNMAP {secs}.{usecs:06} {map_id} 0x0 0").unwrap();
            map_id += 1;
            mapped = false;
        } else {
            since_map += 1;
            match rng.below(10_000) {
                0 => writeln!(line, "MARK {secs}.{usecs:06} e1000 reset {}", rng.below(100)),
                1 => writeln!(
                    line,
                    "UNKNOWN {secs}.{usecs:06} {map_id} {:#x} f3,a5,48 0xffffffffa00{:05x} {}",
                    BAR0 + 0x100,
                    rng.below(0x10_0000),
                    1 + rng.below(4000)
                ),
                _ => {
                    let (offset, value) = REGS[rng.below(REGS.len() as u64) as usize];
                    // Mostly 4-byte accesses; a few narrow ones inside a
                    // register, as some drivers do.
                    let (width, offset, value) = match rng.below(50) {
                        0 => (2, offset + 2, value >> 16),
                        1 => (1, offset + 1, (value >> 8) & 0xff),
                        _ => (4, offset, value ^ (rng.below(4) << 4)),
                    };
                    let dir = if rng.below(3) == 0 { 'W' } else { 'R' };
                    // pc and pid: 0 as in QEMU's guest traces mostly, a
                    // real-looking kernel address sometimes.
                    if rng.below(4) == 0 {
                        writeln!(
                            line,
                            "{dir} {width} {secs}.{usecs:06} {map_id} {:#x} {value:#x} 0xffffffffa00{:05x} {}",
                            BAR0 + offset,
                            rng.below(0x10_0000),
                            1 + rng.below(4000)
                        )
                    } else {
                        writeln!(
                            line,
                            "{dir} {width} {secs}.{usecs:06} {map_id} {:#x} {value:#x} 0x0 0",
                            BAR0 + offset
                        )
                    }
                }
            }
            .unwrap();
        }
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&tmp, path)?;
    Ok(written)
}

/// Peak resident set size so far, in KiB (VmHWM of /proc/self/status).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn open(path: &Path) -> io::Result<BufReader<File>> {
    Ok(BufReader::with_capacity(READ_BUF, File::open(path)?))
}

/// Counts the records and malformed lines that go to `S`.
#[derive(Default)]
struct Counted<S> {
    inner: S,
    records: u64,
    malformed: u64,
}

impl<S: Sink> Sink for Counted<S> {
    fn record(&mut self, entry: &Entry, context: &Context, tracker: &Tracker) -> Result<(), Error> {
        self.records += 1;
        self.inner.record(entry, context, tracker)
    }
    fn malformed(&mut self, error: &Error) {
        self.malformed += 1;
        self.inner.malformed(error);
    }
    fn finish(&mut self, lines: u64, tracker: &Tracker) -> Result<(), Error> {
        self.inner.finish(lines, tracker)
    }
}

/// Looks at every access and nothing else.
#[derive(Default)]
struct Nothing {
    accesses: u64,
}

impl Sink for Nothing {
    fn record(&mut self, entry: &Entry, context: &Context, _: &Tracker) -> Result<(), Error> {
        if matches!(entry.record, Record::Access(_)) && context.place.is_some() {
            self.accesses += 1;
        }
        Ok(())
    }
}

struct Outcome {
    lines: u64,
    records: u64,
    malformed: u64,
    wall: Duration,
    rss_before: Option<u64>,
    rss_after: Option<u64>,
}

fn measure(run: impl FnOnce() -> (u64, u64, u64)) -> Outcome {
    let rss_before = peak_rss_kib();
    let start = Instant::now();
    let (lines, records, malformed) = run();
    let wall = start.elapsed();
    Outcome {
        lines,
        records,
        malformed,
        wall,
        rss_before,
        rss_after: peak_rss_kib(),
    }
}

fn report(name: &str, o: &Outcome, bytes: u64) -> f64 {
    let secs = o.wall.as_secs_f64();
    let lines_per_sec = o.lines as f64 / secs;
    let kib = |v: Option<u64>| v.map_or_else(|| "?".to_string(), |v| format!("{v} KiB"));
    println!(
        "{name:<12} {:>12} lines {:>8.3} s {:>8.2} M lines/s {:>8.1} MiB/s   VmHWM {} -> {}   ({} records, {} malformed)",
        o.lines,
        secs,
        lines_per_sec / 1e6,
        bytes as f64 / MIB / secs,
        kib(o.rss_before),
        kib(o.rss_after),
        o.records,
        o.malformed,
    );
    lines_per_sec
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        Err(_) => default,
    }
}

fn main() -> io::Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` would run us
    // without it: then do nothing (the bench is not a test).
    if !std::env::args().any(|a| a == "--bench") {
        println!("parse bench: run with `cargo bench` (skipped)");
        return Ok(());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (path, bytes, generated) = match std::env::var_os("MMIOTRACE_BENCH_FILE") {
        Some(file) => {
            let path = PathBuf::from(file);
            let bytes = std::fs::metadata(&path)?.len();
            (path, bytes, false)
        }
        None => {
            let mb = env_u64("MMIOTRACE_BENCH_MB", 1024).max(1);
            let want = mb << 20;
            let dir = option_env!("CARGO_TARGET_TMPDIR")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            std::fs::create_dir_all(&dir)?;
            let path = dir.join(format!("mmiotrace-bench-{mb}MiB.txt"));
            // The generator stops at the first line that reaches the size.
            let fits = |len: u64| len >= want && len < want + 256;
            match std::fs::metadata(&path) {
                Ok(m) if fits(m.len()) => {
                    println!("reusing {}", path.display());
                    (path, m.len(), true)
                }
                _ => {
                    let start = Instant::now();
                    let bytes = generate(&path, want)?;
                    println!(
                        "generated {} ({bytes} bytes) in {:.1} s",
                        path.display(),
                        start.elapsed().as_secs_f64()
                    );
                    (path, bytes, true)
                }
            }
        }
    };
    let regdb_path = root.join("../regdb/e1000.regs");
    let text = mmiotrace::regdb::read(&regdb_path, "bench").map_err(io::Error::other)?;
    let db = RegDb {
        devices: vec![mmiotrace::regdb::parse_native(&text, &regdb_path).map_err(io::Error::other)?],
    };

    println!(
        "trace {} ({:.1} MiB), one thread, {} KiB read buffer",
        path.display(),
        bytes as f64 / MIB,
        READ_BUF >> 10
    );
    // Warm the page cache (and count lines) so the first run does not pay
    // for the disk.
    let mut newlines = 0u64;
    {
        let mut r = open(&path)?;
        loop {
            let buf = r.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            newlines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
            let n = buf.len();
            r.consume(n);
        }
    }

    let parse = measure(|| {
        let mut reader = TraceReader::new(open(&path).unwrap());
        let (mut records, mut malformed) = (0, 0);
        for item in reader.by_ref() {
            match item {
                Ok(entry) => {
                    records += 1;
                    std::hint::black_box(&entry);
                }
                Err(_) => malformed += 1,
            }
        }
        (reader.lines_read(), records, malformed)
    });
    let track = measure(|| {
        let mut count = Counted::<Nothing>::default();
        stream::run(open(&path).unwrap(), &mut count, &mut |_| Ok(())).unwrap();
        std::hint::black_box(count.inner.accesses);
        (newlines, count.records, count.malformed)
    });
    let annotate = measure(|| {
        let mut out = BufWriter::new(io::sink());
        let mut count = Counted {
            inner: Printer::new(&mut out, None).with_regdb(db),
            records: 0,
            malformed: 0,
        };
        stream::run(open(&path).unwrap(), &mut count, &mut |_| Ok(())).unwrap();
        (newlines, count.records, count.malformed)
    });

    let rate = report("parse", &parse, bytes);
    report("parse+track", &track, bytes);
    report("annotate", &annotate, bytes);
    assert_eq!(parse.lines, newlines, "the parser read every line");
    println!(
        "goal >= {:.1} M lines/s (parse, one core): {}",
        GOAL_LINES_PER_SEC / 1e6,
        if rate >= GOAL_LINES_PER_SEC {
            "MET"
        } else {
            "NOT MET"
        }
    );
    if generated && std::env::var("MMIOTRACE_BENCH_DELETE").is_ok_and(|v| v == "1") {
        std::fs::remove_file(&path)?;
        println!("deleted {}", path.display());
    }
    Ok(())
}
