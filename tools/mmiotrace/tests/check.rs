// SPDX-License-Identifier: GPL-2.0
//! End-to-end tests of `mmiotrace check` on a small fake e1000 trace and
//! the matching QEMU log (tests/fixtures/), and on corrupted copies of them.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

const PASS_LINE: &str = "e1000 8086:100e: guest 32, qemu 32 | matched 32, mismatched 0, \
                         missing 0, extra 0, reordered 0, unknown 0, expected-extra 0 | PASS";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn guest() -> PathBuf {
    fixture("e1000-guest.txt")
}

fn qemu() -> PathBuf {
    fixture("e1000-qemu.log")
}

fn read(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Writes `lines` to a file in `dir`.
fn write(dir: &TempDir, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// Index of the first line starting with `prefix` and containing `needle`.
fn find(lines: &[String], prefix: &str, needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.starts_with(prefix) && l.contains(needle))
        .unwrap_or_else(|| panic!("no line {prefix}...{needle}"))
}

/// `mmiotrace check` on the given files with the usual options.
fn check(trace: &Path, log: &Path) -> Command {
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    cmd.arg("check")
        .arg("--trace")
        .arg(trace)
        .arg("--qemu-log")
        .arg(log)
        .args(["--device", "8086:100e", "--region", "e1000-mmio"])
        .args(["--sync", "debugcon"]);
    cmd
}

fn json_of(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output).expect("stdout is one JSON object")
}

#[test]
fn matching_trace_and_log_pass() {
    check(&guest(), &qemu())
        .assert()
        .code(0)
        .stdout(predicate::eq(format!("{PASS_LINE}\n")))
        .stderr(predicate::str::is_empty());
}

#[test]
fn device_by_bus_dev_fn_and_trace_from_stdin() {
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    cmd.args(["check", "--trace", "-", "--qemu-log"])
        .arg(qemu())
        .args(["--device", "00:03.0", "--region", "e1000-mmio"])
        .args(["--sync", "debugcon", "--window", "0", "--name", "nic"])
        .pipe_stdin(guest())
        .unwrap()
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with(
            "nic 8086:100e: guest 32, qemu 32",
        ));
}

#[test]
fn deleted_guest_access_is_missing() {
    let dir = TempDir::new().unwrap();
    let mut lines = read(&guest());
    let at = find(&lines, "W 4", "0xfeb82808");
    lines.remove(at);
    let trace = write(&dir, "guest.txt", &lines);
    check(&trace, &qemu())
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "guest 31, qemu 32 | matched 31, mismatched 0, missing 1, extra 0, reordered 0, \
             unknown 0, expected-extra 0 | FAIL",
        ))
        .stdout(
            predicate::str::is_match(r"missing +guest:- +qemu:28 +bar0\+0x2808 +W4 0x1000")
                .unwrap(),
        );
}

#[test]
fn duplicated_guest_access_is_extra() {
    let dir = TempDir::new().unwrap();
    let mut lines = read(&guest());
    let at = find(&lines, "W 4", "0xfeb80100");
    lines.insert(at, lines[at].clone());
    let trace = write(&dir, "guest.txt", &lines);
    check(&trace, &qemu())
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "guest 33, qemu 32 | matched 32, mismatched 0, missing 0, extra 1, reordered 0, \
             unknown 0, expected-extra 0 | FAIL",
        ))
        .stdout(predicate::str::contains("bar0+0x100"));
}

#[test]
fn changed_value_is_mismatched() {
    let dir = TempDir::new().unwrap();
    let mut lines = read(&guest());
    let at = find(&lines, "R 4", "0xfeb85400 0x34120054");
    lines[at] = lines[at].replace("0x34120054", "0x34120055");
    let trace = write(&dir, "guest.txt", &lines);
    check(&trace, &qemu())
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "guest 32, qemu 32 | matched 31, mismatched 1, missing 0, extra 0, reordered 0, \
             unknown 0, expected-extra 0 | FAIL",
        ))
        .stdout(
            predicate::str::is_match(format!(
                r"mismatched +guest:{} +qemu:23 +bar0\+0x5400 ",
                at + 1
            ))
            .unwrap(),
        )
        .stdout(predicate::str::contains(
            "R4 guest 0x34120055 qemu 0x34120054",
        ));
}

#[test]
fn swapped_guest_accesses_are_reordered() {
    // Two CPUs' accesses recorded in another order than QEMU logged them.
    let dir = TempDir::new().unwrap();
    let mut lines = read(&guest());
    let at = find(&lines, "W 4", "0xfeb83808");
    lines.swap(at, at + 1);
    let trace = write(&dir, "guest.txt", &lines);
    check(&trace, &qemu())
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "guest 32, qemu 32 | matched 31, mismatched 0, missing 0, extra 0, reordered 1, \
             unknown 0, expected-extra 0 | FAIL",
        ))
        .stdout(
            predicate::str::is_match(
                r"reordered +guest:3[67] +qemu:\d+ +bar0\+0x38(08 +W4 0x1000|10 +W4 0x0)\n",
            )
            .unwrap(),
        );

    let out = check(&trace, &qemu()).arg("--json").assert().code(1);
    let json = json_of(&out.get_output().stdout);
    assert_eq!(json["reordered"], 1);
    assert_eq!(json["missing"], 0);
    assert_eq!(json["extra"], 0);
    assert_eq!(json["failures"], 1);
    assert_eq!(json["differences"][0]["kind"], "reordered");
    assert_eq!(json["differences"][0]["guest"]["direction"], "write");

    check(&trace, &qemu())
        .arg("--allow-reorder")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "reordered 1, unknown 0, expected-extra 0 | PASS",
        ));
    check(&trace, &qemu())
        .args(["--reorder-window", "0"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "missing 1, extra 1, reordered 0, unknown 0",
        ));
}

#[test]
fn json_output_has_the_counts() {
    let out = check(&guest(), &qemu())
        .arg("--json")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    assert_eq!(v["verdict"], "PASS");
    assert_eq!(v["name"], "e1000");
    assert_eq!(v["device"], "8086:100e");
    for (key, n) in [
        ("guest", 32),
        ("qemu", 32),
        ("matched", 32),
        ("mismatched", 0),
        ("missing", 0),
        ("extra", 0),
        ("unknown", 0),
        ("expected_extra", 0),
    ] {
        assert_eq!(v[key], n, "{key}");
    }
    assert_eq!(v["window"]["index"], 0);
    assert_eq!(v["window"]["after_line"], 6);
    assert_eq!(v["window"]["before_line"], 43);

    // A failing run: one value changed and one access deleted.
    let dir = TempDir::new().unwrap();
    let mut lines = read(&guest());
    let at = find(&lines, "W 4", "0xfeb800d0");
    lines[at] = lines[at].replace("0x9d", "0x9f");
    lines.remove(find(&lines, "R 4", "0xfeb800c0 0x3"));
    let trace = write(&dir, "guest.txt", &lines);
    let out = check(&trace, &qemu())
        .arg("--json")
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    assert_eq!(v["verdict"], "FAIL");
    assert_eq!(
        (v["guest"].as_u64(), v["qemu"].as_u64()),
        (Some(31), Some(32))
    );
    assert_eq!(v["mismatched"], 1);
    assert_eq!(v["missing"], 1);
    assert_eq!(v["matched"], 30);
    assert_eq!(v["failures"], 2);
    assert_eq!(v["differences"][0]["kind"], "mismatched");
    assert_eq!(v["differences"][0]["location"], "bar0+0xd0");
    assert_eq!(v["differences"][0]["guest"]["value"], "0x9f");
    assert_eq!(v["differences"][0]["qemu"]["value"], "0x9d");
    assert_eq!(v["differences"][1]["kind"], "missing");
}

#[test]
fn missing_file_is_an_input_error() {
    check(&fixture("no-such-trace.txt"), &qemu())
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::starts_with(
            "error: cannot open guest trace",
        ))
        .stderr(predicate::str::contains("--trace"));
    check(&guest(), &fixture("no-such.log"))
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("error: cannot open qemu log"));
}

#[test]
fn unknown_device_lists_the_pcidev_lines() {
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    cmd.args(["check", "--trace"])
        .arg(guest())
        .arg("--qemu-log")
        .arg(qemu())
        .args(["--device", "8086:10d3", "--region", "e1000-mmio"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "error: no PCIDEV line in the guest trace matches --device 8086:10d3",
        ))
        .stderr(predicate::str::contains(
            "8086:100e 00:03.0 (e1000, line 5)",
        ))
        .stderr(predicate::str::contains(
            "1234:1111 00:02.0 (bochs-drm, line 4)",
        ));
}

#[test]
fn usage_errors_exit_2() {
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    cmd.args([
        "check",
        "--trace",
        "a",
        "--qemu-log",
        "b",
        "--device",
        "nonsense",
    ])
    .args(["--region", "x"])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("--device"));
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    cmd.args([
        "check",
        "--trace",
        "-",
        "--qemu-log",
        "-",
        "--device",
        "8086:100e",
    ])
    .args(["--region", "x"])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("cannot both be `-`"));
    check(&guest(), &qemu())
        .args(["--expect-extra", "bar9+0x0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bar<N>+0x<offset>"));
}

#[test]
fn windows_select_the_qemu_accesses() {
    // Without --sync the firmware's accesses before the first sync write and
    // the reset after the second one are compared too.
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    cmd.args(["check", "--trace"])
        .arg(guest())
        .arg("--qemu-log")
        .arg(qemu())
        .args(["--device", "8086:100e", "--region", "e1000-mmio"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "qemu 36 | matched 32, mismatched 0, missing 4,",
        ));
    // Window 1 runs from the second sync write to the end of the log.
    check(&guest(), &qemu())
        .args(["--window", "1", "--json"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\"qemu\": 2,"))
        .stdout(predicate::str::contains("\"before_line\": null"));
    check(&guest(), &qemu())
        .args(["--window", "2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "found 2; choose --window between 0 and 1",
        ));
}

#[test]
fn expected_extra_writes_do_not_fail() {
    // QEMU does not log doorbell writes that an ioeventfd handles.
    let dir = TempDir::new().unwrap();
    let log: Vec<String> = read(&qemu())
        .into_iter()
        .filter(|l| !l.contains("addr 0xfeb83818"))
        .collect();
    let log = write(&dir, "qemu.log", &log);
    check(&guest(), &log)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "qemu 30 | matched 30, mismatched 0, missing 0, extra 2,",
        ));
    check(&guest(), &log)
        .args(["--expect-extra", "bar0+0x3818"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "matched 30, mismatched 0, missing 0, extra 0, reordered 0, unknown 0, expected-extra 2 | PASS",
        ));
}

#[test]
fn unknown_accesses() {
    let dir = TempDir::new().unwrap();
    let mut lines = read(&guest());
    let at = find(&lines, "W 4", "0xfeb80400");
    lines[at] = "UNKNOWN 5.101258 1 0xfeb80400 89,50,00 0xffffffffc0a0129c 0".to_string();
    let trace = write(&dir, "guest.txt", &lines);
    check(&trace, &qemu())
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "matched 31, mismatched 0, missing 0, extra 0, reordered 0, unknown 1, expected-extra 0 | FAIL",
        ))
        .stdout(predicate::str::contains(
            "UNKNOWN opcode 89,50,00, qemu W4 0x103f010a",
        ));
    check(&trace, &qemu())
        .arg("--allow-unknown")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "unknown 1, expected-extra 0 | PASS",
        ));
}

#[test]
fn malformed_lines_are_skipped_unless_strict() {
    let dir = TempDir::new().unwrap();
    let mut lines = read(&guest());
    lines.insert(7, "R 4 5.100100 1 0xfeb8zz08".to_string());
    let trace = write(&dir, "guest.txt", &lines);
    check(&trace, &qemu())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("| PASS"))
        .stderr(predicate::str::contains(
            "guest.txt`: line 8: expected a 0x-prefixed hex physical address, found `0xfeb8zz08`",
        ));
    check(&trace, &qemu())
        .arg("--strict")
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::starts_with("error: guest trace"))
        .stderr(predicate::str::contains("line 8: expected"));
}

#[test]
fn comparing_nothing_fails() {
    // The host bridge has no BARs and the log has no such region.
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    cmd.args(["check", "--trace"])
        .arg(guest())
        .arg("--qemu-log")
        .arg(qemu())
        .args(["--device", "8086:1237", "--region", "i440fx"])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with(
            "i440fx 8086:1237: guest 0, qemu 0",
        ))
        .stdout(predicate::str::contains("| FAIL"))
        .stdout(predicate::str::contains("nothing was compared"))
        .stdout(predicate::str::contains("regions in the log: 'e1000-mmio'"));
}

// pci-testdev: its MMIO region implements 1-byte accesses only, so QEMU logs
// the driver's 4-byte reads and writes as four 1-byte accesses each.

const TESTDEV_PASS: &str = "pci-testdev 1b36:0005: guest 10, qemu 28 | matched 10 (split 6), \
                            mismatched 0, missing 0, extra 0, reordered 0, unknown 0, expected-extra 0 | PASS\n\
                            note: of the matched guest accesses, QEMU logged 6 as several \
                            narrower accesses (split to the device model's maximum access \
                            size); each counts as one match\n";

fn testdev_guest() -> PathBuf {
    fixture("pci-testdev-guest.txt")
}

fn testdev_qemu() -> PathBuf {
    fixture("pci-testdev-qemu.log")
}

fn testdev_check(trace: &Path, log: &Path) -> Command {
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    cmd.arg("check")
        .arg("--trace")
        .arg(trace)
        .arg("--qemu-log")
        .arg(log)
        .args(["--device", "1b36:0005", "--region", "pci-testdev-mmio"])
        .args(["--sync", "isa-debugcon", "--name", "pci-testdev"]);
    cmd
}

#[test]
fn split_accesses_of_pci_testdev_pass() {
    testdev_check(&testdev_guest(), &testdev_qemu())
        .assert()
        .code(0)
        .stdout(predicate::eq(TESTDEV_PASS))
        .stderr(predicate::str::is_empty());
    let out = testdev_check(&testdev_guest(), &testdev_qemu())
        .arg("--json")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    for (key, n) in [
        ("guest", 10),
        ("qemu", 28),
        ("matched", 10),
        ("split", 6),
        ("widened", 0),
        ("mismatched", 0),
        ("missing", 0),
        ("extra", 0),
    ] {
        assert_eq!(v[key], n, "{key}");
    }
    // The window excludes the firmware's read before the first sync write
    // and the reset after the second.
    assert_eq!(v["window"]["after_line"], 3);
    assert_eq!(v["window"]["before_line"], 34);
}

#[test]
fn wrong_piece_of_a_split_read_is_one_mismatch() {
    let dir = TempDir::new().unwrap();
    let mut lines = read(&testdev_qemu());
    let at = find(
        &lines,
        "4242@",
        "ops_read cpu 0 mr 0x55d5c6e40010 addr 0xfe001005 ",
    );
    assert!(lines[at].contains("value 0x8 size 1"), "{}", lines[at]);
    lines[at] = lines[at].replace("value 0x8 ", "value 0x9 ");
    let log = write(&dir, "qemu.log", &lines);
    testdev_check(&testdev_guest(), &log)
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with(
            "pci-testdev 1b36:0005: guest 10, qemu 28 | matched 9 (split 5), mismatched 1, \
             missing 0, extra 0, reordered 0, unknown 0, expected-extra 0 | FAIL\n",
        ))
        .stdout(
            // The guest's line and the line of the first piece.
            predicate::str::is_match(
                r"mismatched +guest:8 +qemu:5 +bar0\+0x4 +R4 guest 0x800 qemu 0x900 \(split into 4 R1\)",
            )
            .unwrap(),
        );
}

#[test]
fn split_write_with_a_missing_piece_is_no_match() {
    let dir = TempDir::new().unwrap();
    let mut lines = read(&testdev_qemu());
    lines.remove(find(
        &lines,
        "4242@",
        "ops_write cpu 0 mr 0x55d5c6e40010 addr 0xfe001006 ",
    ));
    let log = write(&dir, "qemu.log", &lines);
    testdev_check(&testdev_guest(), &log)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "guest 10, qemu 27 | matched 9 (split 5), mismatched 0, missing 3, extra 1, ",
        ))
        .stdout(predicate::str::is_match(r"extra +guest:13 +qemu:- +bar0\+0x4 +W4 0x800").unwrap())
        .stdout(predicate::str::is_match(r"missing +guest:- +qemu:20 +bar0\+0x4 +W1 0x0").unwrap());
}

// kmmiotrace, the loadable tracer: pci-testdev's new mapping in window 2
// of ci/module-test (a trace of the whole window and a cut of QEMU's log
// that keeps the four sync writes, see tests/fixtures/README.md).

fn kmmiotrace_check(device: &str, region: &str, name: &str, window: &str) -> Command {
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    cmd.arg("check")
        .arg("--trace")
        .arg(fixture("kmmiotrace-testdev.txt"))
        .arg("--qemu-log")
        .arg(fixture("kmmiotrace-testdev-qemu.log"))
        .args(["--device", device, "--region", region, "--name", name])
        .args(["--sync", "isa-debugcon", "--window", window]);
    cmd
}

#[test]
fn kmmiotrace_new_mapping_matches_window_2() {
    kmmiotrace_check("1b36:0005", "pci-testdev-mmio", "pci-testdev", "2")
        .assert()
        .code(0)
        .stdout(predicate::eq(
            "pci-testdev 1b36:0005: guest 6, qemu 12 | matched 6 (split 2), mismatched 0, \
             missing 0, extra 0, reordered 0, unknown 0, expected-extra 0 | PASS\n\
             note: of the matched guest accesses, QEMU logged 2 as several narrower accesses \
             (split to the device model's maximum access size); each counts as one match\n",
        ))
        .stderr(predicate::str::is_empty());
    // As ci/module-test runs it.
    let out = kmmiotrace_check("1b36:0005", "pci-testdev-mmio", "pci-testdev", "2")
        .args(["--allow-reorder", "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    assert_eq!(v["verdict"], "PASS");
    assert_eq!(v["matched"], 6);
    assert_eq!(v["split"], 2);
    assert_eq!(v["reordered"], 0);
    assert_eq!(v["window"]["index"], 2);
    assert_eq!(v["window"]["sync_writes"], 4);
    assert_eq!(v["window"]["after_line"], 15);
    assert_eq!(v["window"]["before_line"], 118);
}

#[test]
fn kmmiotrace_device_not_selected_is_not_traced() {
    // The filter selected pci-testdev only: none of the e1000's accesses in
    // the window are in the trace.
    kmmiotrace_check("8086:100e", "e1000-mmio", "e1000", "2")
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with(
            "e1000 8086:100e: guest 0, qemu 14 | matched 0, mismatched 0, missing 14, \
             extra 0, reordered 0, unknown 0, expected-extra 0 | FAIL\n",
        ))
        .stdout(
            predicate::str::is_match(r"missing +guest:- +qemu:95 +bar0\+0x20 +W4 0x8200000\n")
                .unwrap(),
        );
    // Window 0 of the log holds pci-testdev's rebind of window 0 (unbind
    // first, then the probe), which is not this trace.
    kmmiotrace_check("1b36:0005", "pci-testdev-mmio", "pci-testdev", "0")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("reordered 1,"));
    kmmiotrace_check("1b36:0005", "pci-testdev-mmio", "pci-testdev", "4")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "found 4; choose --window between 0 and 3",
        ));
}
