// SPDX-License-Identifier: GPL-2.0
//! The one error type of the crate.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while reading traces or comparing them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input file could not be opened.
    #[error("cannot open {what} `{}`: {source}; check the {flag} path", path.display())]
    Open {
        /// What the file is ("guest trace", "qemu log").
        what: &'static str,
        /// The command-line option that named it.
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Reading an input failed part-way (after `line` complete lines).
    #[error("read error after line {line}: {source}")]
    Read {
        line: u64,
        #[source]
        source: io::Error,
    },

    /// A line that does not have the expected form. Parsing goes on with the
    /// next line; the caller decides whether this is fatal.
    #[error("line {line}: expected {expected}, found {found}")]
    Parse {
        line: u64,
        /// What the parser was looking for.
        expected: &'static str,
        /// What it found instead: a quoted token or "end of line".
        found: String,
    },

    /// Writing the output failed.
    #[error("cannot write the output: {source}")]
    Write {
        #[source]
        source: io::Error,
    },

    /// A command-line value that does not parse.
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidArgument {
        what: &'static str,
        value: String,
        reason: String,
    },

    /// No PCIDEV line in the guest trace matches the requested device.
    #[error("no PCIDEV line in the guest trace matches --device {selector}; {}", describe_pcidevs(.available))]
    NoDevice {
        selector: String,
        /// One description per PCIDEV line of the trace.
        available: Vec<String>,
    },

    /// A register database that does not parse.
    #[error("register database `{}`: line {line}: {message}", path.display())]
    RegDb {
        path: PathBuf,
        line: u64,
        message: String,
    },

    /// `--sync` was given but the QEMU log does not have the window asked for.
    #[error(
        "--window {window} needs at least {} write(s) to sync region '{sync}' in the qemu log, \
         found {found}; {}",
        window + 1,
        describe_windows(*.found, .sync)
    )]
    SyncWindow {
        sync: String,
        window: usize,
        found: usize,
    },

    /// `record` or `mark` without root.
    #[error(
        "mmiotrace {command} must run as root (the kmmiotrace device and its debugfs files \
         are root's); run it with sudo"
    )]
    NotRoot { command: &'static str },

    /// Neither the device nor `/sys/module/kmmiotrace` exists.
    #[error(
        "`{}` does not exist: the kmmiotrace module is not loaded; run `modprobe kmmiotrace` \
         first (or give the device with --device PATH)",
        device.display()
    )]
    ModuleNotLoaded { device: PathBuf },

    /// The module is loaded but the device node is missing.
    #[error(
        "the kmmiotrace module is loaded (`{}` exists) but `{}` does not exist: check \
         --device PATH, or create the node (udev should have)",
        module.display(),
        device.display()
    )]
    NoDeviceNode { device: PathBuf, module: PathBuf },

    /// The device is there but its debugfs directory is not.
    #[error(
        "the kmmiotrace control directory `{}` does not exist: debugfs is not mounted; run \
         `mount -t debugfs none /sys/kernel/debug` (or give the directory with --control DIR)",
        control.display()
    )]
    DebugfsNotMounted { control: PathBuf },

    /// A control file of the debugfs directory is missing.
    #[error(
        "`{}` does not exist: the loaded kmmiotrace module does not have this control file \
         (another version of the module?)",
        path.display()
    )]
    NoControlFile { path: PathBuf },

    /// Opening the device failed with EBUSY.
    #[error(
        "`{}` is busy: another reader has it open (only one reader at a time), e.g. another \
         `mmiotrace record` or a `cat`; stop that one first (`fuser -v {}` shows it)",
        device.display(),
        device.display()
    )]
    DeviceBusy { device: PathBuf },

    /// Writing the filter failed with EINVAL.
    #[error(
        "the kernel rejected the filter `{filter}` (EINVAL writing `{}`); the previous filter \
         stays in force and tracing was not started; check that the devices, BARs and ranges \
         it names exist",
        path.display()
    )]
    FilterRejected { filter: String, path: PathBuf },

    /// Another error on the device or a control file.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Kmmiotrace {
        /// "open", "read", "write", ...
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn describe_pcidevs(available: &[String]) -> String {
    if available.is_empty() {
        "the trace has no PCIDEV lines at all: capture it from trace_pipe from the start, \
         so that the header with the PCIDEV lines is included"
            .to_string()
    } else {
        format!(
            "the trace has: {}; pass one of these vendor:device ids or bus:dev.fn \
             addresses to --device",
            available.join(", ")
        )
    }
}

fn describe_windows(found: usize, sync: &str) -> String {
    match found {
        0 => format!(
            "check that the guest writes to '{sync}' and that the name matches the \
             region name in the log (or drop --sync)"
        ),
        n => format!("choose --window between 0 and {}", n - 1),
    }
}

impl Error {
    /// A parse error, quoting the offending token (shortened if long).
    pub(crate) fn parse(line: u64, expected: &'static str, found: Option<&[u8]>) -> Self {
        let found = match found {
            None => "end of line".to_string(),
            Some(tok) => {
                let text = String::from_utf8_lossy(tok);
                if text.chars().count() > 40 {
                    let short: String = text.chars().take(40).collect();
                    format!("`{short}...`")
                } else {
                    format!("`{text}`")
                }
            }
        };
        Error::Parse {
            line,
            expected,
            found,
        }
    }

    /// The line number, for errors tied to a line.
    pub fn line(&self) -> Option<u64> {
        match self {
            Error::Parse { line, .. } | Error::Read { line, .. } => Some(*line),
            _ => None,
        }
    }
}
