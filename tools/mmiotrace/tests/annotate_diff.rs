// SPDX-License-Identifier: GPL-2.0
//! End-to-end tests of `mmiotrace annotate` (with the databases shipped in
//! tools/regdb/) and `mmiotrace diff`, on the real fixtures of
//! tests/fixtures/README.md and edited copies of them. Standard output is
//! compared with tests/fixtures/expected/; `MMIOTRACE_BLESS=1 cargo test`
//! rewrites those instead.

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

fn regdb(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../regdb")
        .join(name)
}

/// The command, with the shipped databases whatever $MMIOTRACE_REGDB says.
fn mmiotrace(command: &str) -> Command {
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    cmd.env_remove("MMIOTRACE_REGDB")
        .arg(command)
        .arg("--regdb-dir")
        .arg(regdb(""));
    cmd
}

/// Runs `cmd`, expects exit status `code` and compares standard output
/// with expected/`golden`; returns standard error.
fn golden(cmd: &mut Command, code: i32, golden: &str) -> String {
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(code), "{golden}: {stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let path = fixture("expected").join(golden);
    if std::env::var_os("MMIOTRACE_BLESS").is_some() {
        fs::write(&path, &stdout).unwrap();
    }
    let expected = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (MMIOTRACE_BLESS=1 writes it)", path.display()));
    for (i, (got, want)) in stdout.lines().zip(expected.lines()).enumerate() {
        assert_eq!(got, want, "{golden}: line {}", i + 1);
    }
    assert_eq!(stdout, expected, "{golden}");
    stderr
}

// annotate

#[test]
fn annotate_e1000_first_map() {
    let stderr = golden(
        mmiotrace("annotate").arg(trace("e1000-first-map")),
        0,
        "e1000-first-map.annotate.txt",
    );
    assert_eq!(stderr, "");
}

#[test]
fn annotate_testdev_map_and_unknown() {
    golden(
        mmiotrace("annotate").arg(trace("testdev-map")),
        0,
        "testdev-map.annotate.txt",
    );
    golden(
        mmiotrace("annotate")
            .args(["--device", "8086:100e"])
            .arg(trace("unknown")),
        0,
        "unknown.annotate-8086-100e.txt",
    );
}

#[test]
fn annotate_with_rnndb() {
    // The XML says the same as pci-testdev.regs: the same names as in
    // testdev-map.annotate.txt (--device also keeps only its records).
    let stderr = golden(
        mmiotrace("annotate")
            .arg("--db")
            .arg(regdb("pci-testdev.xml"))
            .args([
                "--domain",
                "PCI_TESTDEV",
                "--device",
                "1b36:0005",
                "--bar",
                "0",
            ])
            .arg(trace("testdev-map")),
        0,
        "testdev-map.annotate-1b36-0005.txt",
    );
    assert_eq!(stderr, "");
}

#[test]
fn annotate_rnndb_needs_device() {
    mmiotrace("annotate")
        .arg("--db")
        .arg(regdb("pci-testdev.xml"))
        .arg(trace("testdev-map"))
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("error: `"))
        .stderr(predicate::str::contains("is rnndb XML: give --device"));
}

#[test]
fn annotate_reports_database_errors_with_lines() {
    let dir = TempDir::new().unwrap();
    let bad = dir.path().join("bad.regs");
    fs::write(&bad, "device 8086:100e\nbar0 0x0 4 CTRL\n  bits 30..33 X\n").unwrap();
    mmiotrace("annotate")
        .arg("--db")
        .arg(&bad)
        .arg(trace("testdev-map"))
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(
            "bad.regs`: line 3: field X: bit 33 is outside a 4-byte register",
        ));
    let xml = dir.path().join("bad.xml");
    fs::write(
        &xml,
        "<database>\n<domain name=\"D\">\n<reg32 name=\"R\" offset=\"0\"/>\n<unknown/>\n</domain>\n</database>\n",
    )
    .unwrap();
    mmiotrace("annotate")
        .arg("--db")
        .arg(&xml)
        .args(["--device", "1b36:0005"])
        .arg(trace("testdev-map"))
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "bad.xml`: line 4: <unknown> is not supported, ignored",
        ))
        .stdout(predicate::str::contains("bar0+0x0000  R "));
    mmiotrace("annotate")
        .arg("--db")
        .arg(dir.path().join("missing.regs"))
        .arg(trace("testdev-map"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("check the --db path"));
}

// diff

/// Writes `lost-events.txt` edited by `edit` to a temporary file.
fn edited(dir: &TempDir, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let text = fs::read_to_string(trace("lost-events")).unwrap();
    let path = dir.path().join(name);
    fs::write(&path, edit(&text)).unwrap();
    path
}

#[test]
fn diff_same_trace() {
    golden(
        mmiotrace("diff")
            .arg(trace("lost-events"))
            .arg(trace("lost-events")),
        0,
        "lost-events.diff-same.txt",
    );
}

#[test]
fn diff_changed_value() {
    let dir = TempDir::new().unwrap();
    // Line 18: the STATUS read after the MARK, link down.
    let b = edited(&dir, "b.txt", |t| {
        t.replace(
            "R 4 87.480954 1 0xfebc0008 0x80080783",
            "R 4 87.480954 1 0xfebc0008 0x80080781",
        )
    });
    let mut cmd = mmiotrace("diff");
    cmd.arg(trace("lost-events")).arg(&b);
    golden(&mut cmd, 1, "lost-events.diff-value.txt");
    let out = mmiotrace("diff")
        .arg("--json")
        .arg(trace("lost-events"))
        .arg(&b)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["same"], false);
    assert_eq!(v["segments"][0]["status"], "same");
    let reg = &v["segments"][1]["registers"][0];
    assert_eq!(reg["name"], "STATUS");
    assert_eq!(reg["offset"], "0x8");
    assert_eq!(reg["first_difference"]["index"], 0);
    assert_eq!(reg["first_difference"]["b"]["value"], "0x80080781");
}

#[test]
fn diff_removed_access() {
    let dir = TempDir::new().unwrap();
    let b = edited(&dir, "b.txt", |t| {
        t.replace("W 4 87.477410 1 0xfebc00d8 0xffffffff 0x0 0\n", "")
    });
    let mut cmd = mmiotrace("diff");
    cmd.arg(trace("lost-events")).arg(&b);
    golden(&mut cmd, 1, "lost-events.diff-removed.txt");
}

#[test]
fn diff_segments_split_by_mark() {
    let dir = TempDir::new().unwrap();
    // Without the MARK, B has one segment: A's segment 1 is missing and
    // its accesses count in B's segment 0.
    let b = edited(&dir, "b.txt", |t| {
        t.replace("MARK 87.478000 e1000 probe\n", "")
    });
    let mut cmd = mmiotrace("diff");
    cmd.arg(trace("lost-events")).arg(&b);
    golden(&mut cmd, 1, "lost-events.diff-mark.txt");
}

#[test]
fn diff_input_errors() {
    mmiotrace("diff")
        .args(["-", "-"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot both be `-`"));
    mmiotrace("diff")
        .arg(trace("lost-events"))
        .arg(fixture("no-such-trace.txt"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot open trace `"));
}
