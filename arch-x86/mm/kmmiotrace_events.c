// SPDX-License-Identifier: GPL-2.0
/*
 * The trace events of kmmiotrace, and their helpers for Rust.
 */

#define CREATE_TRACE_POINTS
#define CREATE_RUST_TRACE_POINTS
#include <trace/events/kmmio.h>
