// SPDX-License-Identifier: GPL-2.0
//! End-to-end tests of `mmiotrace print`, `stats` and `export` on pieces of
//! real traces (tests/fixtures/*.txt, see tests/fixtures/README.md). Their
//! exact standard output is compared with the files in
//! tests/fixtures/expected/; `MMIOTRACE_BLESS=1 cargo test` rewrites those
//! instead (check the diff before committing it).

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn trace(name: &str) -> PathBuf {
    fixture(&format!("{name}.txt"))
}

fn expected_path(name: &str) -> PathBuf {
    fixture("expected").join(name)
}

fn mmiotrace() -> Command {
    Command::cargo_bin("mmiotrace").unwrap()
}

/// Runs `args` and compares standard output with expected/`golden`;
/// returns standard error.
fn golden(args: &[&str], file: &Path, golden: &str) -> String {
    let output = mmiotrace().args(args).arg(file).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "mmiotrace {args:?} {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let path = expected_path(golden);
    if std::env::var_os("MMIOTRACE_BLESS").is_some() {
        fs::write(&path, &stdout).unwrap();
    }
    let expected = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (MMIOTRACE_BLESS=1 writes it)", path.display()));
    // Compared line by line first, for a readable failure.
    for (i, (got, want)) in stdout.lines().zip(expected.lines()).enumerate() {
        assert_eq!(got, want, "{golden}: line {}", i + 1);
    }
    assert_eq!(stdout, expected, "{golden}");
    String::from_utf8(output.stderr).unwrap()
}

// The fixtures: (a) to (f) of tests/fixtures/README.md, one without the
// header, and two from the loadable tracer kmmiotrace.
const FIXTURES: [&str; 9] = [
    "e1000-first-map",
    "testdev-map",
    "map-id-reused",
    "malformed",
    "lost-events",
    "unknown",
    "no-pcidev",
    "kmmiotrace-e1000",
    "kmmiotrace-testdev",
];

// print

#[test]
fn print_e1000_first_map() {
    let stderr = golden(
        &["print"],
        &trace("e1000-first-map"),
        "e1000-first-map.print.txt",
    );
    assert_eq!(stderr, "");
}

#[test]
fn print_testdev_map() {
    golden(&["print"], &trace("testdev-map"), "testdev-map.print.txt");
}

#[test]
fn print_map_id_reused() {
    golden(
        &["print"],
        &trace("map-id-reused"),
        "map-id-reused.print.txt",
    );
}

#[test]
fn print_device_follows_reused_map_id() {
    // The same map id, first for the e1000 and then for pci-testdev: each
    // device gets its own MAP, accesses and UNMAP.
    golden(
        &["print", "--device", "1b36:0005"],
        &trace("map-id-reused"),
        "map-id-reused.print-1b36-0005.txt",
    );
    golden(
        &["print", "--device", "00:02.0"],
        &trace("map-id-reused"),
        "map-id-reused.print-00-02.0.txt",
    );
}

#[test]
fn print_malformed_lines_are_reported_and_skipped() {
    let stderr = golden(&["print"], &trace("malformed"), "malformed.print.txt");
    assert_eq!(
        stderr,
        "warning: trace `{0}`: line 18: expected a 0x-prefixed hex pc, found end of line \
         (line skipped)\n\
         warning: trace `{0}`: line 29: expected a 0x-prefixed hex value, found end of line \
         (line skipped)\n"
            .replace("{0}", &trace("malformed").display().to_string())
    );
}

#[test]
fn print_strict_stops_at_the_first_malformed_line() {
    let printed = fs::read_to_string(expected_path("malformed.print.txt")).unwrap();
    // Lines 1 to 17 of the trace: 17 records.
    let before: String = printed.lines().take(17).map(|l| format!("{l}\n")).collect();
    mmiotrace()
        .args(["print", "--strict"])
        .arg(trace("malformed"))
        .assert()
        .code(2)
        .stdout(predicate::eq(before))
        .stderr(predicate::str::starts_with("error: trace `"))
        .stderr(predicate::str::contains(
            "malformed.txt`: line 18: expected a 0x-prefixed hex pc, found end of line \
             (--strict stops at the first malformed line)",
        ));
}

#[test]
fn print_lost_events() {
    golden(&["print"], &trace("lost-events"), "lost-events.print.txt");
}

#[test]
fn print_unknown() {
    golden(&["print"], &trace("unknown"), "unknown.print.txt");
}

#[test]
fn print_without_pcidev_lines_shows_physical_addresses() {
    golden(&["print"], &trace("no-pcidev"), "no-pcidev.print.txt");
    mmiotrace()
        .args(["print", "--device", "1b36:0005"])
        .arg(trace("no-pcidev"))
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::starts_with("error: trace `"))
        .stderr(predicate::str::contains(
            "no PCIDEV line in the guest trace matches --device 1b36:0005; the trace has no \
             PCIDEV lines at all: capture it from trace_pipe from the start",
        ));
}

#[test]
fn print_kmmiotrace_e1000() {
    // PCIDEV lines with driver names, the MAP of a mapping made before the
    // module was loaded, and a MARK written to /dev/kmmiotrace.
    let stderr = golden(
        &["print"],
        &trace("kmmiotrace-e1000"),
        "kmmiotrace-e1000.print.txt",
    );
    assert_eq!(stderr, "");
}

#[test]
fn print_kmmiotrace_testdev() {
    let stderr = golden(
        &["print"],
        &trace("kmmiotrace-testdev"),
        "kmmiotrace-testdev.print.txt",
    );
    assert_eq!(stderr, "");
}

#[test]
fn print_reads_standard_input() {
    let expected = fs::read_to_string(expected_path("testdev-map.print.txt")).unwrap();
    mmiotrace()
        .args(["print", "-"])
        .pipe_stdin(trace("testdev-map"))
        .unwrap()
        .assert()
        .code(0)
        .stdout(predicate::eq(expected));
}

#[test]
fn print_unknown_device_lists_the_pcidev_lines() {
    mmiotrace()
        .args(["print", "--device", "8086:10d3"])
        .arg(trace("testdev-map"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "matches --device 8086:10d3; the trace has: 8086:1237 00:00.0 (no driver, line 2)",
        ))
        .stderr(predicate::str::contains(
            "1b36:0005 00:03.0 (no driver, line 7); pass one of these",
        ));
}

#[test]
fn more_than_ten_malformed_lines_are_counted() {
    let dir = TempDir::new().unwrap();
    let mut text = fs::read_to_string(trace("testdev-map")).unwrap();
    for i in 0..12 {
        text.push_str(&format!("W 1 117.{i:06} 2 0xfebe0000\n"));
    }
    let path = dir.path().join("many.txt");
    fs::write(&path, text).unwrap();
    let out = mmiotrace().arg("print").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 11, "{stderr}");
    assert!(lines[0].contains("line 16: expected a 0x-prefixed hex value"));
    assert!(lines[9].contains("line 25: "));
    assert!(lines[10].ends_with("many.txt`: 12 malformed lines skipped in all"));
    let expected = fs::read_to_string(expected_path("testdev-map.print.txt")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

// stats

#[test]
fn stats_tables() {
    for name in FIXTURES {
        golden(&["stats"], &trace(name), &format!("{name}.stats.txt"));
    }
}

#[test]
fn stats_json() {
    for name in FIXTURES {
        golden(
            &["stats", "--json"],
            &trace(name),
            &format!("{name}.stats.json"),
        );
    }
}

#[test]
fn stats_totals() {
    let out = mmiotrace()
        .args(["stats", "--json"])
        .arg(trace("lost-events"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &v["totals"];
    assert_eq!(t["lost_events"], 17);
    assert_eq!(t["records"]["lost"], 1);
    assert_eq!(t["records"]["mark"], 1);
    assert_eq!(t["accesses"], 19);
    assert_eq!(t["first"], 87.463594);
    assert_eq!(t["last"], 87.509135);
    assert_eq!(t["duration"], 0.045541);

    let out = mmiotrace()
        .args(["stats", "--json"])
        .arg(trace("malformed"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["totals"]["malformed"], 2);
    assert_eq!(v["totals"]["lines"], 29);
    assert_eq!(v["groups"][0]["reads"], 10);
    assert_eq!(v["groups"][0]["writes"], 9);
    mmiotrace()
        .args(["stats", "--strict"])
        .arg(trace("malformed"))
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(
            "line 18: expected a 0x-prefixed hex pc",
        ));
}

// export

#[test]
fn export_json_lines() {
    for name in FIXTURES {
        golden(
            &["export", "--json"],
            &trace(name),
            &format!("{name}.export.jsonl"),
        );
    }
}

#[test]
fn export_lines_are_json_objects_in_file_order() {
    let out = mmiotrace()
        .args(["export", "--json"])
        .arg(trace("unknown"))
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 24);
    for (i, v) in lines.iter().enumerate() {
        assert_eq!(v["line"], i + 1);
    }
    let unknown = &lines[14];
    assert_eq!(unknown["kind"], "unknown");
    assert_eq!(unknown["opcode"], "f3,a5,48");
    assert_eq!(unknown["offset"], "0x100");
    assert_eq!(unknown["time"], 87.480372);
    assert_eq!(lines[8]["kind"], "read");
    assert_eq!(lines[8]["value"], "0x80080783");
}

/// The `pid` of each access `export --json` gives for `name`, in file order.
fn exported_pids(name: &str) -> Vec<i64> {
    let out = mmiotrace()
        .args(["export", "--json"])
        .arg(trace(name))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "read" || v["kind"] == "write")
        .map(|v| v["pid"].as_i64().expect("an access has a numeric pid"))
        .collect()
}

#[test]
fn kmmiotrace_pids_are_exported() {
    // Mainline's tracer writes 0; kmmiotrace the PID of the task that made
    // the access: `ip link set up` (112) and later `ip link set down` (122)
    // for the e1000, the shell that bound pci-testdev's driver (init, 1).
    let pids = exported_pids("kmmiotrace-e1000");
    assert_eq!(pids.len(), 76);
    assert!(pids[..62].iter().all(|&p| p == 112), "{pids:?}");
    assert!(pids[62..].iter().all(|&p| p == 122), "{pids:?}");
    assert_eq!(exported_pids("kmmiotrace-testdev"), [1; 6]);
}

#[test]
fn kmmiotrace_traces_parse_without_errors() {
    use mmiotrace::trace::{Record, TraceReader};

    for (name, lines, drivers, marks) in [
        (
            "kmmiotrace-e1000",
            85,
            &[Some("e1000"), Some("rust_driver_pci")][..],
            &["window 0 done"][..],
        ),
        (
            "kmmiotrace-testdev",
            15,
            &[Some("e1000"), None][..],
            &[][..],
        ),
    ] {
        let file = fs::File::open(trace(name)).unwrap();
        let entries: Vec<_> = TraceReader::new(std::io::BufReader::new(file))
            .map(|e| e.unwrap_or_else(|e| panic!("{name}: {e}")))
            .collect();
        assert_eq!(entries.len(), lines, "{name}");
        // Exactly one VERSION header, first.
        let versions: Vec<_> = entries
            .iter()
            .filter(|e| matches!(e.record, Record::Version(_)))
            .map(|e| e.line)
            .collect();
        assert_eq!(versions, [1], "{name}");
        // The e1000 (00:02.0) and pci-testdev (00:03.0) with their drivers.
        let found: Vec<_> = entries
            .iter()
            .filter_map(|e| match &e.record {
                Record::PciDev(d) if d.bus == 0 && (d.slot() == 2 || d.slot() == 3) => {
                    Some(d.driver.as_deref())
                }
                _ => None,
            })
            .collect();
        assert_eq!(found, drivers, "{name}");
        let found: Vec<_> = entries
            .iter()
            .filter_map(|e| match &e.record {
                Record::Mark(m) => Some(m.text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(found, marks, "{name}");
        assert!(!entries
            .iter()
            .any(|e| matches!(e.record, Record::LostEvents(_))));
    }
}

#[test]
fn export_needs_json() {
    mmiotrace()
        .args(["export"])
        .arg(trace("unknown"))
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("--json"));
}

// errors

#[test]
fn missing_file_is_an_input_error() {
    for command in [&["print"][..], &["stats"], &["export", "--json"]] {
        mmiotrace()
            .args(command)
            .arg(fixture("no-such-trace.txt"))
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::starts_with("error: cannot open trace `"))
            .stderr(predicate::str::contains("check the FILE path"));
    }
}

#[test]
fn bad_device_is_a_usage_error() {
    mmiotrace()
        .args(["print", "--device", "e1000"])
        .arg(trace("unknown"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "expected vendor:device in hex (8086:100e) or bus:dev.fn (00:03.0)",
        ));
}
