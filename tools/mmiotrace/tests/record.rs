// SPDX-License-Identifier: GPL-2.0
//! End-to-end tests of `mmiotrace record` and `mmiotrace mark` against
//! stand-ins for the kmmiotrace module: a regular file or a FIFO for
//! /dev/kmmiotrace and a temporary directory with plain files for its
//! debugfs directory (`--device`, `--control`, `--no-root-check`, and the
//! hidden `--module-dir` for /sys/module/kmmiotrace).

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

/// A few lines of a real trace.
const TRACE: &str = "\
VERSION 20070824
PCIDEV 0010 8086100e a febc0000 c101 0 0 0 0 0 20000 40 0 0 0 0 0 e1000
MAP 87.463594 1 0xfebc0000 0xffffc900002a0000 0x20000 0x0 0
R 4 87.474642 1 0xfebc0008 0x80080783 0x0 0
W 4 87.480063 1 0xfebc00d8 0xffffffff 0x0 0
MARK 0.000000 Lost 17 events.
R 4 87.480100 1 0xfebc0008 0x80080783 0x0 0
UNMAP 93.007397 1 0x0 0
";

/// The stand-ins: `dev` (created by the test), `control/` with `filter`,
/// `tracing_on` and `stats`, and no `module/`.
struct Kernel {
    _dir: TempDir,
    device: PathBuf,
    control: PathBuf,
    module: PathBuf,
    output: PathBuf,
}

impl Kernel {
    fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let control = dir.path().join("control");
        fs::create_dir(&control).unwrap();
        fs::write(control.join("filter"), "old filter\n").unwrap();
        fs::write(control.join("tracing_on"), "untouched\n").unwrap();
        fs::write(
            control.join("stats"),
            "traced 5\nemulated 5\nstepped 0\nrefused 0\ndropped 0\nlost 17\nmappings 1\n\
             cpu0.traced 5\ncpu0.lost 17\n",
        )
        .unwrap();
        Kernel {
            device: dir.path().join("dev"),
            module: dir.path().join("module"),
            output: dir.path().join("out.txt"),
            control,
            _dir: dir,
        }
    }

    /// The device as a regular file holding `text`.
    fn with_file_device(self, text: &str) -> Self {
        fs::write(&self.device, text).unwrap();
        self
    }

    /// The device as a FIFO.
    fn with_fifo_device(self) -> Self {
        let path = CString::new(self.device.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        let rc = unsafe { libc::mkfifo(path.as_ptr(), 0o600) };
        assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
        self
    }

    fn control_file(&self, name: &str) -> String {
        fs::read_to_string(self.control.join(name)).unwrap()
    }

    fn output(&self) -> String {
        fs::read_to_string(&self.output).unwrap()
    }

    /// The arguments that point `record` at the stand-ins.
    fn args(&self) -> Vec<String> {
        self.args_with_control(&self.control)
    }

    /// The same with another control directory.
    fn args_with_control(&self, control: &Path) -> Vec<String> {
        vec![
            "record".into(),
            "--no-root-check".into(),
            "--device".into(),
            self.device.display().to_string(),
            "--control".into(),
            control.display().to_string(),
            "--module-dir".into(),
            self.module.display().to_string(),
        ]
    }

    /// `mmiotrace record` with the stand-ins, writing to `out.txt`.
    fn record(&self) -> Command {
        let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
        cmd.args(self.args())
            .arg("-o")
            .arg(&self.output)
            .timeout(Duration::from_secs(30));
        cmd
    }

    /// Checks that the kernel was not touched.
    fn assert_untouched(&self) {
        assert_eq!(self.control_file("filter"), "old filter\n");
        assert_eq!(self.control_file("tracing_on"), "untouched\n");
        assert!(!self.output.exists(), "the output was created");
    }
}

/// Writes `batches` into the FIFO at `path` from another thread, `gap`
/// apart, and keeps it open `linger` after the last one. The receiver
/// hears when the last batch is written (so the reader has the FIFO open).
fn feed_fifo(
    path: &Path,
    batches: Vec<String>,
    gap: Duration,
    linger: Duration,
) -> (thread::JoinHandle<()>, mpsc::Receiver<()>) {
    let path = path.to_path_buf();
    let (written, done) = mpsc::channel();
    let handle = thread::spawn(move || {
        // Without a reader, a non-blocking open fails (ENXIO): retry.
        let start = Instant::now();
        let mut fifo = loop {
            match OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
            {
                Ok(f) => break f,
                Err(_) if start.elapsed() < Duration::from_secs(20) => {
                    thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("no reader opened the FIFO: {e}"),
            }
        };
        for (i, batch) in batches.iter().enumerate() {
            if i > 0 {
                thread::sleep(gap);
            }
            fifo.write_all(batch.as_bytes()).unwrap();
        }
        let _ = written.send(());
        thread::sleep(linger);
    });
    (handle, done)
}

/// TRACE in three pieces, cut inside lines.
fn trace_batches() -> Vec<String> {
    let (a, rest) = TRACE.split_at(100);
    let (b, c) = rest.split_at(150);
    vec![a.into(), b.into(), c.into()]
}

#[test]
fn the_filter_is_written_tracing_started_and_stopped_and_the_trace_copied() {
    let k = Kernel::new().with_file_device(TRACE);
    let out = k
        .record()
        .args(["--dev", "00:02.0", "--dev", "0000:00:03.0", "--bar", "0"])
        .args([
            "--phys",
            "febc0000+20000",
            "--op",
            "rw",
            "--duration",
            "0.3",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        k.control_file("filter"),
        "dev=0000:00:02.0 dev=0000:00:03.0 bar=0 phys=0xfebc0000+0x20000 op=rw\n"
    );
    assert_eq!(k.control_file("tracing_on"), "0\n", "tracing is stopped");
    assert_eq!(k.output(), TRACE);
    // Not a terminal: the note at the start and the summary only.
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("mmiotrace record: tracing `dev=0000:00:02.0 "),
        "{stderr}"
    );
    let summary = format!("mmiotrace record: 5 events, {} bytes, ", TRACE.len());
    assert!(lines[1].starts_with(&summary), "{stderr}");
    assert!(
        lines[1].ends_with(" s, lost 17 (kernel), 17 (in the trace); stopped after --duration"),
        "{stderr}"
    );
}

#[test]
fn no_selection_traces_all_and_keep_on_leaves_tracing_on() {
    let k = Kernel::new().with_file_device(TRACE);
    k.record()
        .args(["--duration", "0.2", "--keep-on", "--quiet"])
        .assert()
        .success()
        .stderr(predicate::str::contains("tracing `").not())
        .stderr(predicate::str::contains("5 events"));
    assert_eq!(k.control_file("filter"), "all\n");
    assert_eq!(k.control_file("tracing_on"), "1\n", "--keep-on");
    assert_eq!(k.output(), TRACE);
}

#[test]
fn a_verbatim_filter_is_written_as_given() {
    let k = Kernel::new().with_file_device(TRACE);
    k.record()
        .args(["--filter", "dev=00:02.0  bar=0 op=w", "--duration", "0.2"])
        .assert()
        .success();
    assert_eq!(k.control_file("filter"), "dev=00:02.0  bar=0 op=w\n");
}

#[test]
fn the_trace_goes_to_standard_output_without_o() {
    let k = Kernel::new().with_file_device(TRACE);
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    cmd.args(k.args())
        .args(["--duration", "0.2", "--op", "w"])
        .timeout(Duration::from_secs(30))
        .assert()
        .success()
        .stdout(TRACE)
        .stderr(predicate::str::contains("to standard output"));
    assert_eq!(k.control_file("filter"), "all op=w\n");
}

#[test]
fn a_fifo_is_streamed_until_the_duration_is_over() {
    let k = Kernel::new().with_fifo_device();
    let (writer, _) = feed_fifo(
        &k.device,
        trace_batches(),
        Duration::from_millis(200),
        Duration::from_millis(300),
    );
    let start = Instant::now();
    let out = k
        .record()
        .args(["--duration", "1.5", "--progress"])
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    writer.join().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(elapsed >= Duration::from_millis(1500), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(k.output(), TRACE);
    // --progress without a terminal: one line per second.
    let progress = format!(
        " events/s, 5 events, {} B, lost 17 (kernel), 17 (in the trace)\n",
        TRACE.len()
    );
    assert!(stderr.contains(&progress), "{stderr}");
    assert!(stderr.contains("stopped after --duration"), "{stderr}");
}

#[test]
fn the_marker_is_written_to_the_device_after_starting() {
    // Through the FIFO the marker comes back in the stream, as the real
    // device's MARK line would.
    let k = Kernel::new().with_fifo_device();
    let (writer, _) = feed_fifo(
        &k.device,
        vec![TRACE.into()],
        Duration::ZERO,
        Duration::from_millis(200),
    );
    k.record()
        .args(["--mark", "e1000 probe", "--duration", "1", "--quiet"])
        .assert()
        .success();
    writer.join().unwrap();
    let output = k.output();
    assert!(output.contains("e1000 probe"), "{output}");
    assert_eq!(output.replace("e1000 probe", ""), TRACE);
}

#[test]
fn a_signal_stops_the_recording_and_nothing_read_is_lost() {
    let k = Kernel::new().with_fifo_device();
    let (writer, written) = feed_fifo(
        &k.device,
        trace_batches(),
        Duration::from_millis(100),
        Duration::from_secs(2),
    );
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("mmiotrace"))
        .args(k.args())
        .arg("-o")
        .arg(&k.output)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The recorder opens the device after it set up its signal handlers;
    // what it has not read yet when the signal comes, it drains.
    written.recv_timeout(Duration::from_secs(20)).unwrap();
    thread::sleep(Duration::from_millis(50));
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("mmiotrace record did not stop on SIGINT");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    writer.join().unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(k.output(), TRACE);
    assert_eq!(k.control_file("tracing_on"), "0\n");
    assert!(stderr.contains("stopped by a signal"), "{stderr}");
}

#[test]
fn a_missing_module_says_modprobe() {
    let k = Kernel::new();
    k.record()
        .args(["--duration", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("error: `"))
        .stderr(predicate::str::contains(
            "the kmmiotrace module is not loaded; run `modprobe kmmiotrace`",
        ));
    k.assert_untouched();
}

#[test]
fn a_loaded_module_without_device_node_is_told_apart() {
    let k = Kernel::new();
    fs::create_dir(&k.module).unwrap();
    k.record()
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the kmmiotrace module is loaded"))
        .stderr(predicate::str::contains("check --device PATH"));
    k.assert_untouched();
}

#[test]
fn missing_debugfs_says_mount() {
    let k = Kernel::new().with_file_device(TRACE);
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    let missing = k.control.with_file_name("debug").join("kmmiotrace");
    cmd.args(k.args_with_control(&missing))
        .arg("-o")
        .arg(&k.output)
        .timeout(Duration::from_secs(30))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "debugfs is not mounted; run `mount -t debugfs none /sys/kernel/debug`",
        ));
    k.assert_untouched();
}

#[test]
fn a_missing_control_file_is_an_error_and_nothing_is_started() {
    let k = Kernel::new().with_file_device(TRACE);
    fs::remove_file(k.control.join("filter")).unwrap();
    k.record()
        .args(["--duration", "0.2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("filter` does not exist"));
    assert_eq!(k.control_file("tracing_on"), "untouched\n");
}

#[test]
fn a_malformed_selection_is_rejected_before_anything_is_written() {
    let k = Kernel::new().with_file_device(TRACE);
    for (args, message) in [
        (&["--dev", "00:02"][..], "invalid --dev `00:02`"),
        (&["--dev", "8086:100e"], "looks like vendor:device"),
        (&["--dev", "00:20.0"], "slot at most 1f"),
        (&["--bar", "6"], "--bar"),
        (&["--phys", "0x2000-0x1000"], "END is below START"),
        (&["--op", "x"], "expected r (reads), w (writes) or rw"),
        (&["--filter", "dev=00:02.0 colour=blue"], "`colour=blue`"),
        (&["--filter", "all", "--op", "w"], "cannot be used with"),
        (&["--mark", "a\nb"], "one line"),
        (&["--duration", "0"], "positive number of seconds"),
    ] {
        k.record()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
        k.assert_untouched();
    }
}

#[test]
fn mark_writes_the_text_to_the_device() {
    let k = Kernel::new().with_file_device("");
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    cmd.args(["mark", "--no-root-check", "--device"])
        .arg(&k.device)
        .args(["e1000", "probe", "-", "phase", "2"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    assert_eq!(
        fs::read_to_string(&k.device).unwrap(),
        "e1000 probe - phase 2"
    );
}

#[test]
fn mark_rejects_long_text_and_a_missing_module() {
    let k = Kernel::new().with_file_device("");
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    cmd.args(["mark", "--no-root-check", "--device"])
        .arg(&k.device)
        .arg("x".repeat(257))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("at most 256 bytes"));
    assert_eq!(fs::read_to_string(&k.device).unwrap(), "");

    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    cmd.args(["mark", "--no-root-check", "--device"])
        .arg(k.device.with_file_name("none"))
        .arg("--module-dir")
        .arg(&k.module)
        .arg("text")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("run `modprobe kmmiotrace`"));
}

#[test]
fn a_user_other_than_root_is_refused() {
    let k = Kernel::new().with_file_device(TRACE);
    let binary = assert_cmd::cargo::cargo_bin("mmiotrace");
    // SAFETY: geteuid has no preconditions.
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        // As root: as nobody, if setpriv (util-linux) can do that.
        let mut cmd = StdCommand::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&binary);
        cmd
    } else {
        StdCommand::new(&binary)
    };
    let out = match cmd
        .args(["record", "--device"])
        .arg(&k.device)
        .arg("--control")
        .arg(&k.control)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipped: cannot run setpriv: {e}");
            return;
        }
    };
    let stderr = String::from_utf8(out.stderr).unwrap();
    if stderr.starts_with("setpriv:") {
        eprintln!("skipped: {stderr}");
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: mmiotrace record must run as root"),
        "{stderr}"
    );
    k.assert_untouched();
}

#[test]
fn an_output_that_cannot_be_created_leaves_the_kernel_alone() {
    let k = Kernel::new().with_file_device(TRACE);
    let mut cmd = Command::cargo_bin("mmiotrace").unwrap();
    let bad = k.output.join("no").join("such");
    cmd.args(k.args())
        .arg("-o")
        .arg(&bad)
        .timeout(Duration::from_secs(30))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot open output `"));
    assert_eq!(k.control_file("filter"), "old filter\n");
    assert_eq!(k.control_file("tracing_on"), "untouched\n");
}
