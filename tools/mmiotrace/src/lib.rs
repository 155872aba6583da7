// SPDX-License-Identifier: GPL-2.0
//! Linux mmiotrace traces: a model of the text format, streaming parsers for
//! it and for QEMU's MMIO trace log, and the "oracle" comparison of the two
//! (what `mmiotrace check` runs).
//!
//! - [`trace`]: the mmiotrace text format ("VERSION 20070824");
//! - [`qemu`]: QEMU's `memory_region_ops_read/write` trace log;
//! - [`check`]: selecting a device, aligning guest and QEMU accesses;
//! - [`report`]: the text and JSON report of a check;
//! - [`diff`]: the sequence alignment (Myers' O(ND) LCS) it uses.

pub mod check;
pub mod diff;
mod error;
mod lex;
pub mod qemu;
pub mod report;
pub mod trace;

pub use error::Error;
