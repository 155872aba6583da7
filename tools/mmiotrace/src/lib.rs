// SPDX-License-Identifier: GPL-2.0
//! Linux mmiotrace traces: a model of the text format, streaming parsers for
//! it and for QEMU's MMIO trace log, the "oracle" comparison of the two
//! (what `mmiotrace check` runs), and the readable, statistical and JSON
//! views of a trace (`mmiotrace print`, `stats` and `export`).
//!
//! - [`trace`]: the mmiotrace text format ("VERSION 20070824");
//! - [`qemu`]: QEMU's `memory_region_ops_read/write` trace log;
//! - [`check`]: selecting a device, aligning guest and QEMU accesses;
//! - [`report`]: the text and JSON report of a check;
//! - [`diff`]: the sequence alignment (Myers' O(ND) LCS) it uses;
//! - [`stream`]: walking a trace record by record with its devices and
//!   live mappings;
//! - [`print`](mod@print), [`stats`], [`export`]: the one-line-per-record text, the
//!   per-device and per-register counts, and the JSON Lines of a trace;
//! - [`regdb`]: register databases (a native text format and envytools'
//!   rnndb XML), [`annotate`]: `print` with register names and bit fields;
//! - [`tracediff`]: two traces compared register by register between MARKs
//!   (`mmiotrace diff`);
//! - [`plot`]: an SVG timeline (heat map) of the register accesses
//!   (`mmiotrace plot`);
//! - [`record`](mod@record): recording a trace from the kmmiotrace kernel
//!   module (`mmiotrace record` and `mark`).

pub mod annotate;
pub mod check;
pub mod diff;
mod error;
pub mod export;
mod lex;
pub mod plot;
pub mod print;
pub mod qemu;
pub mod record;
pub mod regdb;
pub mod report;
pub mod stats;
pub mod stream;
pub mod trace;
pub mod tracediff;

pub use error::Error;
