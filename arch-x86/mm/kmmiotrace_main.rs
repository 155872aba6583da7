// SPDX-License-Identifier: GPL-2.0

//! kmmiotrace: a loadable MMIO tracer on the kmmio core.
//!
//! Loading the module attaches it to the kmmio core as its frontend; unloading it detaches it,
//! disarms every traced page and waits for the accesses in flight.
//!
//! - `/dev/kmmiotrace`: reading gives the trace in mmiotrace's `VERSION 20070824` text
//!   format, consuming it (one reader at a time; `poll()`, `select()` and `epoll` say when
//!   there is more, `O_NONBLOCK` is honoured at each read); writing a line adds a `MARK` line.
//! - `/sys/kernel/debug/kmmiotrace/filter`: what to trace, see [`Filter`].
//! - `/sys/kernel/debug/kmmiotrace/tracing_on`: `1` traces, `0` stops.
//! - `/sys/kernel/debug/kmmiotrace/stats`: the core's accounting and the module's.
//! - the trace events `kmmio:kmmio_access`, `kmmio:kmmio_map` and `kmmio:kmmio_unmap`
//!   (`include/trace/events/kmmio.h`), for trace-cmd, perf and bpftrace.
//!
//! Lock order: `Control::state` (process context), then the core's mapping mutex (taken by
//! attaching and detaching; the frontend callbacks run under it), then `Shared::slow` or a
//! registration's probe list, then `Shared::slow`. The fault handler takes no lock at all: it
//! may run in NMI context and under raw spinlocks. It writes its CPU's `Ring`, which is
//! lock-free, and wakes a waiting reader through an irq_work.

use core::{
    cell::UnsafeCell,
    fmt::{self, Write},
    num::NonZeroUsize,
};
use kernel::{
    bindings,
    cpumask::Cpumask,
    debugfs::{Dir, File as DebugFsFile},
    ffi::c_char,
    fs::{file::flags, File, Kiocb},
    iov::{IovIterDest, IovIterSource},
    kmmio::{self, Access, Frontend, Mapping, Op, PciAddr},
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    new_mutex, new_poll_condvar, pci,
    prelude::*,
    str::NullTerminatedFormatter,
    sync::{
        atomic::{Acquire, Atomic, Relaxed, Release},
        barrier::{smp_mb, Full},
        poll::{
            events::{POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM},
            PollCondVar, PollTable,
        },
        Arc, Mutex,
    },
    time::msecs_to_jiffies,
    types::Opaque,
    uaccess::UserSliceReader,
};

module! {
    type: KmmioTrace,
    name: "kmmiotrace",
    authors: ["mmiotrace developers"],
    description: "Loadable MMIO tracer on the kmmio core",
    license: "GPL",
    params: {
        trace_pc: bool {
            default: false,
            description: "Record the address of the accessing instruction",
        },
        buffer_events: u32 {
            default: 32768,
            description: "Accesses buffered per CPU before events are lost",
        },
    },
}

/// At most this many `dev=` or `phys=` tokens in a filter.
const FILTER_MAX: usize = 8;
/// The longest filter text accepted: a filter as `filter` shows it always fits.
const FILTER_TEXT_MAX: usize = 1024;
/// At most this much text is formatted for one `read()`.
const READ_MAX: usize = 256 * 1024;
/// Longest marker, in bytes.
const MARK_MAX: usize = 256;

/// What to trace.
///
/// Written as whitespace-separated tokens:
///
/// - `all`: every mapping made from now on (the default; goes with `op=` only);
/// - `dev=[DDDD:]BB:DD.F`: mappings of this PCI device's BARs (repeatable);
/// - `bar=N`: only these BARs, 0 to 5 (repeatable);
/// - `phys=START-END` (inclusive) or `phys=START+LEN`, hex: only mappings overlapping these
///   physical ranges, and only the accesses inside them (repeatable);
/// - `op=r|w|rw`: which accesses to report.
///
/// With `dev=` or `phys=`, mappings that existed before are traced too: a device whose driver
/// is bound already is traced without unbinding it. Without them (`all`, `op=`, `bar=`), only
/// new mappings are picked up; a change of the filter, or stopping and starting again, keeps
/// tracing those picked up before if they are still mapped and the filter still selects them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Filter {
    devs: [PciAddr; FILTER_MAX],
    ndevs: usize,
    bars: u8,
    ranges: [(u64, u64); FILTER_MAX],
    nranges: usize,
    reads: bool,
    writes: bool,
}

impl Default for Filter {
    fn default() -> Self {
        Self {
            devs: [PciAddr {
                domain: 0,
                bus: 0,
                devfn: 0,
            }; FILTER_MAX],
            ndevs: 0,
            bars: 0,
            ranges: [(0, 0); FILTER_MAX],
            nranges: 0,
            reads: true,
            writes: true,
        }
    }
}

fn parse_hex(s: &str) -> Option<u64> {
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    // `from_str_radix()` would take a sign too.
    if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

fn parse_bdf(s: &str) -> Option<PciAddr> {
    let hex = |t: &str, max: u32, len: usize| -> Option<u32> {
        if t.is_empty() || t.len() > len || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(t, 16).ok().filter(|&v| v <= max)
    };
    let (dom_bus, devfn) = s.rsplit_once(':')?;
    let (domain, bus) = match dom_bus.split_once(':') {
        // Domains above 0xffff exist (VMD's start at 0x10000).
        Some((d, b)) => (hex(d, u32::MAX, 8)?, hex(b, 0xff, 2)?),
        None => (0, hex(dom_bus, 0xff, 2)?),
    };
    let (dev, func) = devfn.split_once('.')?;
    let (dev, func) = (hex(dev, 0x1f, 2)?, hex(func, 7, 1)?);
    Some(PciAddr {
        domain,
        bus: bus as u8,
        devfn: ((dev << 3) | func) as u8,
    })
}

impl Filter {
    /// Parses a whole filter; on error, says what was expected.
    fn parse(s: &str) -> Result<Self, &'static str> {
        let mut f = Self::default();
        let mut all = false;
        let mut ops = false;
        for tok in s.split_ascii_whitespace() {
            if tok == "all" {
                if all {
                    return Err("'all' given twice");
                }
                all = true;
                continue;
            }
            let Some((key, val)) = tok.split_once('=') else {
                return Err("expected 'all' or KEY=VALUE tokens (dev=, bar=, phys=, op=)");
            };
            match key {
                "dev" => {
                    let a = parse_bdf(val).ok_or("dev= takes a PCI address [DOMAIN:]BB:DD.F")?;
                    if f.ndevs == FILTER_MAX {
                        return Err("at most 8 dev= tokens");
                    }
                    f.devs[f.ndevs] = a;
                    f.ndevs += 1;
                }
                "bar" => match val.as_bytes() {
                    [b @ b'0'..=b'5'] => f.bars |= 1 << (b - b'0'),
                    _ => return Err("bar= takes a BAR number, 0 to 5"),
                },
                "phys" => {
                    const E: &str = "phys= takes START-END or START+LEN in hex";
                    let r = if let Some((a, b)) = val.split_once('-') {
                        let (a, b) = (parse_hex(a).ok_or(E)?, parse_hex(b).ok_or(E)?);
                        (b >= a)
                            .then_some((a, b))
                            .ok_or("phys=START-END: END below START")?
                    } else if let Some((a, l)) = val.split_once('+') {
                        let (a, l) = (parse_hex(a).ok_or(E)?, parse_hex(l).ok_or(E)?);
                        let end = l
                            .checked_sub(1)
                            .and_then(|l| a.checked_add(l))
                            .ok_or("phys=START+LEN: LEN must be at least 1 and fit")?;
                        (a, end)
                    } else {
                        return Err(E);
                    };
                    if f.nranges == FILTER_MAX {
                        return Err("at most 8 phys= tokens");
                    }
                    f.ranges[f.nranges] = r;
                    f.nranges += 1;
                }
                "op" => {
                    if ops {
                        return Err("op= given twice");
                    }
                    ops = true;
                    (f.reads, f.writes) = match val {
                        "r" => (true, false),
                        "w" => (false, true),
                        "rw" => (true, true),
                        _ => return Err("op= takes r, w or rw"),
                    };
                }
                _ => return Err("unknown key: expected dev=, bar=, phys= or op="),
            }
        }
        if all && (f.selective() || f.bars != 0) {
            return Err("'all' does not go with dev=, bar= or phys=");
        }
        Ok(f)
    }

    /// Does the filter select mappings by device or range (and so existing mappings too)?
    fn selective(&self) -> bool {
        self.ndevs > 0 || self.nranges > 0
    }

    /// Does the filter select `m`? (Whether an existing mapping is traced is `Fe`'s to say.)
    fn matches(&self, m: &Mapping) -> bool {
        let pci = m.pci();
        if self.ndevs > 0 && !pci.is_some_and(|p| self.devs[..self.ndevs].contains(&p.addr)) {
            return false;
        }
        if self.bars != 0 && pci.is_none_or(|p| self.bars & (1 << p.bar) == 0) {
            return false;
        }
        let (start, size) = (m.phys(), m.size() as u64);
        let end = start.saturating_add(size.saturating_sub(1));
        self.nranges == 0
            || self.ranges[..self.nranges]
                .iter()
                .any(|&(a, b)| a <= end && start <= b)
    }

    fn reports(&self, op: Op, phys: u64) -> bool {
        let op_ok = match op {
            Op::Read => self.reads,
            Op::Write => self.writes,
            Op::Unknown => true,
        };
        op_ok
            && (self.nranges == 0
                || self.ranges[..self.nranges]
                    .iter()
                    .any(|&(a, b)| a <= phys && phys <= b))
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for a in &self.devs[..self.ndevs] {
            write!(
                f,
                "{sep}dev={:04x}:{:02x}:{:02x}.{}",
                a.domain,
                a.bus,
                a.devfn >> 3,
                a.devfn & 7
            )?;
            sep = " ";
        }
        for bar in 0..6 {
            if self.bars & (1 << bar) != 0 {
                write!(f, "{sep}bar={bar}")?;
                sep = " ";
            }
        }
        for (a, b) in &self.ranges[..self.nranges] {
            write!(f, "{sep}phys={a:#x}-{b:#x}")?;
            sep = " ";
        }
        match (self.reads, self.writes) {
            (true, false) => write!(f, "{sep}op=r")?,
            (false, true) => write!(f, "{sep}op=w")?,
            _ if sep.is_empty() => write!(f, "all")?,
            _ => {}
        }
        Ok(())
    }
}

/// An access, as buffered between the fault handler and the reader.
#[derive(Clone, Copy)]
struct Rec {
    time: u64,
    phys: u64,
    value: u64,
    pc: usize,
    pid: i32,
    map_id: u32,
    op: Op,
    width: u8,
}

impl Rec {
    const ZERO: Self = Self {
        time: 0,
        phys: 0,
        value: 0,
        pc: 0,
        pid: 0,
        map_id: 0,
        op: Op::Read,
        width: 0,
    };
}

/// What process context adds to the stream, in time order with the accesses.
enum Slow {
    Map {
        time: u64,
        id: u32,
        phys: u64,
        virt: usize,
        len: usize,
    },
    Unmap {
        time: u64,
        id: u32,
    },
    Mark {
        time: u64,
        text: KVec<u8>,
    },
}

/// One CPU's buffer of accesses: a ring of fixed size, written in the fault handler.
///
/// Lock-free, for the fault handler may run in NMI context and under raw spinlocks, where no
/// `spinlock_t` may be taken (and on PREEMPT_RT none that sleeps). One producer, one consumer:
/// only code running on the ring's CPU writes records and `tail`; only the reader (one at a
/// time: the open reader's `pending` lock) reads records and writes `head`. `tail` is
/// published with release after the record, and `head` after the record was read, as the
/// ftrace ring buffer does. An access made in a context that interrupted a push on the same
/// CPU (an NMI during an interrupt's push) finds `busy` set and is counted as lost, as is one
/// that finds the ring full: every access is either delivered or counted.
///
/// # Invariants
///
/// - `slots` points to `cap` records owned by `_buf`.
/// - `head` and `tail` run freely (indices modulo `cap`); `tail - head <= cap`. The records
///   `head..tail` are initialised and owned by the reader until it moves `head` past them,
///   the others by the producer.
/// - While `busy` is set, one producer on the ring's CPU owns `tail` and the free slots.
struct Ring {
    _buf: KVVec<UnsafeCell<Rec>>,
    slots: *mut Rec,
    /// Not zero: the slot of an index is found without a division check.
    cap: NonZeroUsize,
    head: Atomic<usize>,
    tail: Atomic<usize>,
    busy: Atomic<bool>,
    /// Accesses dropped because the ring was full or busy, ever.
    lost: Atomic<u64>,
    /// Accesses put into the ring, ever.
    recorded: Atomic<u64>,
}

// SAFETY: `slots` points into `_buf`, which the ring owns; the records are handed between the
// one producer and the one consumer through `tail` and `head` (see the type's invariants).
unsafe impl Send for Ring {}
// SAFETY: As above: shared access is synchronised by `busy`, `head` and `tail`.
unsafe impl Sync for Ring {}

impl Ring {
    fn new(cap: usize) -> Result<Self> {
        let cap = NonZeroUsize::new(cap).unwrap_or(NonZeroUsize::MIN);
        let mut buf = KVVec::with_capacity(cap.get(), GFP_KERNEL)?;
        for _ in 0..cap.get() {
            buf.push_within_capacity(UnsafeCell::new(Rec::ZERO))
                .map_err(|_| ENOMEM)?;
        }
        let slots = UnsafeCell::raw_get(buf.as_ptr());
        // INVARIANT: `slots` points to the `cap` records of `buf` (moving the vector does not
        // move them), none of them in use.
        Ok(Self {
            cap,
            slots,
            _buf: buf,
            head: Atomic::new(0),
            tail: Atomic::new(0),
            busy: Atomic::new(false),
            lost: Atomic::new(0),
            recorded: Atomic::new(0),
        })
    }

    /// Adds `r`, or counts it as lost. Call on the ring's CPU, IRQs off (the fault handler).
    fn push(&self, r: Rec) {
        // A push interrupted on this CPU holds the ring: do not wait for it.
        if self.busy.xchg(true, Acquire) {
            self.lost.fetch_add(1, Relaxed);
            return;
        }
        let tail = self.tail.load(Relaxed);
        // Pairs with the reader's release of `head`: the slots before it are free.
        let head = self.head.load(Acquire);
        if tail.wrapping_sub(head) >= self.cap.get() {
            self.lost.fetch_add(1, Relaxed);
        } else {
            // SAFETY: `tail % cap` is in bounds, and that slot is free (`tail - head < cap`):
            // owned by this producer, which holds `busy` (the type's invariants).
            unsafe { self.slots.add(tail % self.cap).write(r) };
            // Publishes the record: pairs with the acquire in `take()`.
            self.tail.store(tail.wrapping_add(1), Release);
            self.recorded.fetch_add(1, Relaxed);
        }
        self.busy.store(false, Release);
    }

    /// Where the producer is: the records before it are written. Call from the one reader.
    fn tail(&self) -> usize {
        // Pairs with the release in `push()`.
        self.tail.load(Acquire)
    }

    /// The oldest record, if it lies before `limit` (a value `tail()` returned). Call from the
    /// one reader only.
    fn peek(&self, limit: usize) -> Option<Rec> {
        let head = self.head.load(Relaxed);
        if head == limit {
            return None;
        }
        // SAFETY: The slot is in bounds and, being in `head..tail` (`limit` was a `tail`),
        // initialised and owned by the reader (the type's invariants).
        Some(unsafe { self.slots.add(head % self.cap).read() })
    }

    /// Hands the oldest record back to the producer. Call from the one reader, after `peek()`
    /// returned it.
    fn consume(&self) {
        let head = self.head.load(Relaxed);
        self.head.store(head.wrapping_add(1), Release);
    }
}

/// What the tracers, the control files and the reader share.
///
/// # Invariants
///
/// `wake` is an initialised `struct irq_work` whose function is [`Shared::wake_reader`].
#[pin_data(PinnedDrop)]
struct Shared {
    rings: KVec<Ring>,
    #[pin]
    slow: Mutex<KVec<Slow>>,
    next_id: Atomic<u32>,
    /// Records of process context dropped for want of memory, ever.
    lost: Atomic<u64>,
    reader: Atomic<bool>,
    trace_pc: bool,
    /// Signalled when there is something to read.
    #[pin]
    readable: PollCondVar,
    /// A reader waits, or polls, for `readable`: the next record wakes it.
    waiting: Atomic<bool>,
    /// Wakes the reader from the fault handler, which may be in NMI context.
    #[pin]
    wake: Opaque<bindings::irq_work>,
}

// SAFETY: The `irq_work` is used through the kernel's irq_work API only, which may be called
// from any thread and context.
unsafe impl Send for Shared {}
// SAFETY: As above.
unsafe impl Sync for Shared {}

impl Shared {
    fn new(trace_pc: bool, cap: usize) -> Result<Arc<Self>> {
        let mut rings = KVec::new();
        for _ in 0..kernel::cpu::nr_cpu_ids() {
            rings.push(Ring::new(cap)?, GFP_KERNEL)?;
        }
        Arc::pin_init(
            try_pin_init!(Self {
                rings,
                slow <- new_mutex!(KVec::new(), "kmmiotrace_slow"),
                next_id: Atomic::new(0),
                lost: Atomic::new(0),
                reader: Atomic::new(false),
                trace_pc,
                readable <- new_poll_condvar!("kmmiotrace_readable"),
                waiting: Atomic::new(false),
                // INVARIANT: `init_irq_work()`: all zero but the function.
                wake <- Opaque::ffi_init(|slot: *mut bindings::irq_work| {
                    let mut w: bindings::irq_work = pin_init::zeroed();
                    w.func = Some(Self::wake_reader);
                    // SAFETY: `slot` is valid for writes.
                    unsafe { slot.write(w) };
                }),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// The irq_work: wakes the reader, in IRQ context.
    ///
    /// # Safety
    ///
    /// `w` is the `wake` field of a live `Shared`.
    unsafe extern "C" fn wake_reader(w: *mut bindings::irq_work) {
        // SAFETY: By the safety requirements `w` is the `wake` field of a live `Shared`: the
        // irq_work is synced before a `Shared` goes.
        let this = unsafe { &*kernel::container_of!(Opaque::cast_from(w).cast_mut(), Self, wake) };
        this.waiting.store(false, Relaxed);
        this.readable.notify_all();
    }

    /// Wakes a waiting reader after a record was added; from any context, NMI included.
    fn kick(&self) {
        // Pairs with the barrier in `TraceFile::wait_for()`: the reader sees the record, or
        // this sees that it waits.
        smp_mb(Full);
        if self.waiting.load(Relaxed) {
            // SAFETY: `wake` is initialised (the type invariants); `irq_work_queue()` may be
            // called from any context, and the work is synced before `self` goes.
            unsafe { bindings::irq_work_queue(self.wake.get()) };
        }
    }

    fn add_slow(&self, s: Slow) {
        if self.slow.lock().push(s, GFP_KERNEL).is_err() {
            self.lost.fetch_add(1, Relaxed);
        }
        self.readable.notify_all();
    }

    /// Every access or record lost, ever.
    fn lost_total(&self) -> u64 {
        self.rings
            .iter()
            .fold(self.lost.load(Relaxed), |n, r| n + r.lost.load(Relaxed))
    }
}

#[pinned_drop]
impl PinnedDrop for Shared {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `wake` is initialised (the type invariants). No tracer is left to queue it:
        // they hold a reference to `self`.
        unsafe { bindings::irq_work_sync(self.wake.get()) };
    }
}

kernel::declare_trace! {
    /// The `kmmio:kmmio_access` trace event: as many arguments as the event has fields.
    #[allow(clippy::too_many_arguments)]
    unsafe fn kmmio_access(map_id: u32, phys: u64, bar_off: u64, dev: *const c_char, bar: i8,
                           op: u8, width: u8, value: u64, cpu: u32, pid: i32, ip: usize);
    /// The `kmmio:kmmio_map` trace event.
    unsafe fn kmmio_map(map_id: u32, phys: u64, len: u64, dev: *const c_char, bar: i8);
    /// The `kmmio:kmmio_unmap` trace event.
    unsafe fn kmmio_unmap(map_id: u32, phys: u64, len: u64, dev: *const c_char, bar: i8);
}

/// A PCI location as text, NUL-terminated for the trace events: `DDDD:BB:DD.F`, or `none`.
#[derive(Clone, Copy)]
struct DevName([u8; 20]);

impl DevName {
    fn of(addr: Option<PciAddr>) -> Self {
        let mut t = Self([0; 20]);
        // A `u32` domain fits: at most 16 characters and the NUL.
        if let Some(mut w) = NullTerminatedFormatter::new(&mut t.0) {
            let _ = match addr {
                Some(a) => write!(
                    w,
                    "{:04x}:{:02x}:{:02x}.{}",
                    a.domain,
                    a.bus,
                    a.devfn >> 3,
                    a.devfn & 7
                ),
                None => w.write_str("none"),
            };
        }
        t
    }

    fn as_ptr(&self) -> *const c_char {
        self.0.as_ptr().cast()
    }
}

/// A mapping as a filter change or a restart recognises it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct MapKey {
    virt: usize,
    phys: u64,
    len: u64,
}

impl MapKey {
    fn of(m: &Mapping) -> Self {
        Self {
            virt: m.virt(),
            phys: m.phys(),
            len: m.size() as u64,
        }
    }
}

/// Where a traced mapping is, as the trace events say it.
#[derive(Clone, Copy)]
struct Place {
    id: u32,
    key: MapKey,
    dev: DevName,
    bar: i8,
    bar_start: u64,
}

impl Place {
    fn of(m: &Mapping, id: u32) -> Self {
        let pci = m.pci();
        Self {
            id,
            key: MapKey::of(m),
            dev: DevName::of(pci.map(|p| p.addr)),
            bar: pci.map_or(-1, |p| p.bar as i8),
            bar_start: pci.map_or(m.phys(), |p| p.start),
        }
    }
}

/// Traces one mapping: puts its accesses in the ring of the CPU that made them.
struct MapTracer {
    shared: Arc<Shared>,
    filter: Filter,
    place: Place,
}

impl kmmio::Tracer for MapTracer {
    fn access(&self, a: &Access) {
        if !self.filter.reports(a.op, a.phys) {
            return;
        }
        let p = &self.place;
        let pc = if self.shared.trace_pc { a.ip } else { 0 };
        // SAFETY: The event takes plain values and a NUL-terminated string that lives as
        // long as `self`; tracepoints may be hit with IRQs off and in NMI context.
        unsafe {
            kmmio_access(
                p.id,
                a.phys,
                a.phys.wrapping_sub(p.bar_start),
                p.dev.as_ptr(),
                p.bar,
                a.op.code(),
                a.width,
                a.value,
                a.cpu,
                a.pid,
                pc,
            )
        };
        let Some(ring) = self.shared.rings.get(a.cpu as usize) else {
            return;
        };
        let rec = Rec {
            time: a.time,
            phys: a.phys,
            value: a.value,
            pc,
            pid: a.pid,
            map_id: p.id,
            op: a.op,
            width: a.width,
        };
        ring.push(rec);
        self.shared.kick();
    }
}

/// The frontend of one attachment: a fixed filter.
struct Fe {
    shared: Arc<Shared>,
    filter: Filter,
    /// Mappings traced when tracing last stopped: still traced if they are live, whatever the
    /// filter says of existing mappings.
    picked: KVec<MapKey>,
}

impl Frontend for Fe {
    type Tracer = MapTracer;

    fn map(&self, m: &Mapping, existing: bool) -> Option<MapTracer> {
        if existing && !self.filter.selective() && !self.picked.contains(&MapKey::of(m)) {
            return None;
        }
        if !self.filter.matches(m) {
            return None;
        }
        let id = self.shared.next_id.fetch_add(1, Relaxed) + 1;
        let place = Place::of(m, id);
        let len = place.key.len;
        // SAFETY: The event takes plain values and a NUL-terminated string.
        unsafe { kmmio_map(id, m.phys(), len, place.dev.as_ptr(), place.bar) };
        // The MAP line comes before the first access: its time stamp is taken before the
        // probe is armed.
        self.shared.add_slow(Slow::Map {
            time: kmmio::clock(),
            id,
            phys: m.phys(),
            virt: m.virt(),
            len: m.size(),
        });
        Some(MapTracer {
            shared: self.shared.clone(),
            filter: self.filter,
            place,
        })
    }

    fn unmap(&self, t: &MapTracer) {
        let p = &t.place;
        // SAFETY: The event takes plain values and a NUL-terminated string.
        unsafe { kmmio_unmap(p.id, p.key.phys, p.key.len, p.dev.as_ptr(), p.bar) };
        // After the last access: the core has waited for the handlers in flight.
        self.shared.add_slow(Slow::Unmap {
            time: kmmio::clock(),
            id: p.id,
        });
    }
}

struct CtlState {
    filter: Filter,
    reg: Option<Pin<KBox<kmmio::Registration<Fe>>>>,
    /// See [`Fe::picked`]; empty while tracing.
    picked: KVec<MapKey>,
}

/// The control files' state.
#[pin_data]
struct Control {
    shared: Arc<Shared>,
    #[pin]
    state: Mutex<CtlState>,
}

impl Control {
    fn start(&self, st: &mut CtlState) -> Result {
        if st.reg.is_none() {
            let mut picked = KVec::with_capacity(st.picked.len(), GFP_KERNEL)?;
            picked.extend_from_slice(&st.picked, GFP_KERNEL)?;
            let fe = Fe {
                shared: self.shared.clone(),
                filter: st.filter,
                picked,
            };
            st.reg = Some(KBox::pin_init(kmmio::Registration::new(fe), GFP_KERNEL)?);
            st.picked.clear();
        }
        Ok(())
    }

    /// Stops tracing; every traced mapping gets its UNMAP line.
    fn stop(&self, st: &mut CtlState) {
        let Some(reg) = st.reg.take() else {
            return;
        };
        st.picked.clear();
        let mut short = false;
        reg.for_each_tracer(|t| {
            short |= st.picked.push(t.place.key, GFP_KERNEL).is_err();
        });
        if short {
            pr_warn!("out of memory: a restart traces only the mappings the filter selects\n");
        }
        drop(reg);
    }

    /// Changes the filter, restarting if tracing; on error, the old filter stays in force.
    fn set_filter(&self, f: Filter) -> Result {
        let mut st = self.state.lock();
        if st.reg.is_none() {
            st.filter = f;
            return Ok(());
        }
        // Stop, swap, start: the new filter applies to every mapping, live ones included.
        let old = st.filter;
        self.stop(&mut st);
        st.filter = f;
        let Err(e) = self.start(&mut st) else {
            return Ok(());
        };
        st.filter = old;
        if let Err(again) = self.start(&mut st) {
            pr_err!("filter change failed ({e:?}), restart too ({again:?}): tracing is off\n");
        }
        Err(e)
    }

    /// Applies a filter written as text, whole; or changes nothing and says why not.
    fn write_filter(&self, text: &str) -> Result<Result<(), &'static str>> {
        match Filter::parse(text) {
            Ok(f) => self.set_filter(f).map(Ok),
            Err(why) => Ok(Err(why)),
        }
    }

    fn set_on(&self, on: bool) -> Result {
        let mut st = self.state.lock();
        if on {
            self.start(&mut st)
        } else {
            self.stop(&mut st);
            Ok(())
        }
    }
}

/// Reads a short control write: the whole of it, as text.
fn read_text<'a>(r: &mut UserSliceReader, buf: &'a mut [u8]) -> Result<&'a str> {
    let n = r.len();
    if n > buf.len() {
        pr_warn!(
            "control write of {n} bytes: at most {} allowed\n",
            buf.len()
        );
        return Err(EINVAL);
    }
    r.read_slice(&mut buf[..n])?;
    core::str::from_utf8(&buf[..n]).map_err(|_| {
        pr_warn!("control write is not text\n");
        EINVAL
    })
}

fn filter_show(c: &Arc<Control>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "{}", c.state.lock().filter)
}

fn filter_store(c: &Arc<Control>, r: &mut UserSliceReader) -> Result {
    kmmio::may_trace()?;
    let mut buf = KVec::from_elem(0u8, FILTER_TEXT_MAX, GFP_KERNEL)?;
    let text = read_text(r, &mut buf)?;
    c.write_filter(text)?.map_err(|why| {
        pr_warn!("filter {:?} rejected: {why}\n", text.trim());
        EINVAL
    })
}

fn on_show(c: &Arc<Control>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "{}", u8::from(c.state.lock().reg.is_some()))
}

fn on_store(c: &Arc<Control>, r: &mut UserSliceReader) -> Result {
    kmmio::may_trace()?;
    let mut buf = [0u8; 8];
    match read_text(r, &mut buf)?.trim() {
        "1" => c.set_on(true),
        "0" => c.set_on(false),
        t => {
            pr_warn!("tracing_on {t:?} rejected: write 0 or 1\n");
            Err(EINVAL)
        }
    }
}

fn stats_show(c: &Arc<Control>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let t = kmmio::Stats::total();
    let sh = &c.shared;
    let (mut lost, mut recorded) = (sh.lost.load(Relaxed), 0);
    for ring in sh.rings.iter() {
        lost += ring.lost.load(Relaxed);
        recorded += ring.recorded.load(Relaxed);
    }
    let mappings = c.state.lock().reg.as_ref().map_or(0, |r| r.traced());
    writeln!(f, "traced {}", t.traced)?;
    writeln!(f, "emulated {}", t.emulated)?;
    writeln!(f, "stepped {}", t.stepped)?;
    writeln!(f, "refused {}", t.refused)?;
    writeln!(f, "dropped {}", t.dropped)?;
    writeln!(f, "unarmed {}", t.unarmed)?;
    writeln!(f, "recorded {recorded}")?;
    writeln!(f, "lost {lost}")?;
    writeln!(f, "mappings {mappings}")?;
    for cpu in Cpumask::possible().iter() {
        let s = kmmio::Stats::cpu(cpu);
        let n = cpu.as_u32();
        writeln!(f, "cpu{n}.traced {}", s.traced)?;
        writeln!(f, "cpu{n}.emulated {}", s.emulated)?;
        writeln!(f, "cpu{n}.stepped {}", s.stepped)?;
        writeln!(f, "cpu{n}.refused {}", s.refused)?;
        writeln!(f, "cpu{n}.dropped {}", s.dropped)?;
        writeln!(f, "cpu{n}.unarmed {}", s.unarmed)?;
        let (ops, len) = kmmio::fallback_ops(cpu);
        for o in &ops[..len] {
            writeln!(f, "cpu{n}.fallback 0x{:06x} {}", o.opcode, o.count)?;
        }
    }
    Ok(())
}

/// Text appended to a buffer.
struct Text<'a>(&'a mut KVVec<u8>);

impl Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| fmt::Error)
    }
}

/// Mainline's time stamp: seconds and microseconds, rounded.
struct Stamp(u64);

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0.saturating_add(500) / 1000;
        write!(f, "{}.{:06}", us / 1_000_000, us % 1_000_000)
    }
}

fn format_rec(t: &mut Text<'_>, r: &Rec) -> fmt::Result {
    let s = Stamp(r.time);
    match r.op {
        Op::Read | Op::Write => writeln!(
            t,
            "{} {} {s} {} {:#x} {:#x} {:#x} {}",
            if r.op == Op::Read { 'R' } else { 'W' },
            r.width,
            r.map_id,
            r.phys,
            r.value,
            r.pc,
            r.pid
        ),
        Op::Unknown => writeln!(
            t,
            "UNKNOWN {s} {} {:#x} {:02x},{:02x},{:02x} {:#x} {}",
            r.map_id,
            r.phys,
            (r.value >> 16) & 0xff,
            (r.value >> 8) & 0xff,
            r.value & 0xff,
            r.pc,
            r.pid
        ),
    }
}

fn format_slow(t: &mut Text<'_>, s: &Slow) -> fmt::Result {
    match s {
        Slow::Map {
            time,
            id,
            phys,
            virt,
            len,
        } => writeln!(
            t,
            "MAP {} {id} {phys:#x} {virt:#x} {len:#x} 0x0 0",
            Stamp(*time)
        ),
        Slow::Unmap { time, id } => writeln!(t, "UNMAP {} {id} 0x0 0", Stamp(*time)),
        Slow::Mark { time, text } => {
            write!(t, "MARK {} ", Stamp(*time))?;
            t.0.extend_from_slice(text, GFP_KERNEL)
                .map_err(|_| fmt::Error)?;
            t.write_char('\n')
        }
    }
}

fn format_header(t: &mut Text<'_>) -> fmt::Result {
    writeln!(t, "VERSION 20070824")?;
    for pdev in pci::devices() {
        let d = kmmio::PciDevInfo::new(&pdev);
        write!(
            t,
            "PCIDEV {:02x}{:02x} {:04x}{:04x} {:x}",
            d.addr.bus, d.addr.devfn, d.vendor, d.device, d.irq
        )?;
        for s in d.start {
            write!(t, " {s:x}")?;
        }
        for l in d.len {
            write!(t, " {l:x}")?;
        }
        t.write_char(' ')?;
        t.0.extend_from_slice(d.driver(), GFP_KERNEL)
            .map_err(|_| fmt::Error)?;
        t.write_char('\n')?;
    }
    Ok(())
}

impl Slow {
    fn time(&self) -> u64 {
        match self {
            Slow::Map { time, .. } | Slow::Unmap { time, .. } | Slow::Mark { time, .. } => *time,
        }
    }
}

impl Shared {
    /// Moves what is buffered into `r.text` as text, in time order, until it holds at least
    /// `budget` bytes or nothing is left; reports lost events first. On error nothing is
    /// consumed that is not in `r.text`.
    ///
    /// Each CPU's accesses are in order already: they are merged by time stamp with each
    /// other and with the records of process context (first on a tie). A pass merges what was
    /// there when it began, process context's records taken first: an access that comes
    /// before such a record (the accesses before an UNMAP) is in the rings by then.
    fn drain(&self, r: &mut ReadState, budget: usize) -> Result {
        // The longest line is a MARK: its text and some 40 bytes.
        r.text.reserve(budget + MARK_MAX + 64, GFP_KERNEL)?;
        if r.slow_next == r.slow.len() && r.active.is_empty() {
            r.slow.clear();
            r.slow_next = 0;
            core::mem::swap(&mut r.slow, &mut *self.slow.lock());
            for (i, ring) in self.rings.iter().enumerate() {
                r.limits[i] = ring.tail();
                if ring.peek(r.limits[i]).is_some() {
                    r.active.push(i, GFP_KERNEL)?;
                }
            }
            let lost = self.lost_total();
            if lost != r.lost_reported {
                writeln!(
                    Text(&mut r.text),
                    "MARK 0.000000 Lost {} events.",
                    lost.wrapping_sub(r.lost_reported)
                )
                .map_err(|_| ENOMEM)?;
                r.lost_reported = lost;
            }
        }
        while r.text.len() < budget {
            let mut best: Option<(Rec, usize)> = None;
            for (a, &i) in r.active.iter().enumerate() {
                if let Some(rec) = self.rings[i].peek(r.limits[i]) {
                    if best.is_none_or(|(b, _)| rec.time < b.time) {
                        best = Some((rec, a));
                    }
                }
            }
            let len = r.text.len();
            let res = match (r.slow.get(r.slow_next), best) {
                (Some(s), b) if b.is_none_or(|(rec, _)| s.time() <= rec.time) => {
                    format_slow(&mut Text(&mut r.text), s).map(|()| r.slow_next += 1)
                }
                (_, Some((rec, a))) => format_rec(&mut Text(&mut r.text), &rec).map(|()| {
                    let i = r.active[a];
                    self.rings[i].consume();
                    if self.rings[i].peek(r.limits[i]).is_none() {
                        let _ = r.active.remove(a);
                    }
                }),
                (_, None) => break,
            };
            if res.is_err() {
                // Not consumed: read again.
                r.text.truncate(len);
                return Err(ENOMEM);
            }
        }
        Ok(())
    }

    /// Is anything buffered that `r` has not taken?
    fn readable(&self, r: &ReadState) -> bool {
        r.pos < r.text.len()
            || r.slow_next < r.slow.len()
            || !r.active.is_empty()
            || !self.slow.lock().is_empty()
            || self.lost_total() != r.lost_reported
            || self
                .rings
                .iter()
                .any(|ring| ring.peek(ring.tail()).is_some())
    }
}

/// The reader's side of the stream: text not yet read, and the merge in progress.
struct ReadState {
    text: KVVec<u8>,
    /// How much of `text` was read.
    pos: usize,
    /// The records of process context this pass merges; those before `slow_next` are done.
    slow: KVec<Slow>,
    slow_next: usize,
    /// Each ring's records before its limit belong to this pass.
    limits: KVec<usize>,
    /// The rings with records left in this pass.
    active: KVec<usize>,
    /// How many lost events the stream has reported.
    lost_reported: u64,
}

impl ReadState {
    /// The state of a new reader of `shared`; its text starts with the header if `header`.
    fn new(shared: &Shared, header: bool) -> Result<Self> {
        let mut text = KVVec::new();
        if header {
            format_header(&mut Text(&mut text)).map_err(|_| ENOMEM)?;
        }
        Ok(ReadState {
            text,
            pos: 0,
            slow: KVec::new(),
            slow_next: 0,
            limits: KVec::from_elem(0, shared.rings.len(), GFP_KERNEL)?,
            active: KVec::with_capacity(shared.rings.len(), GFP_KERNEL)?,
            lost_reported: 0,
        })
    }
}

/// An open `/dev/kmmiotrace`.
#[pin_data(PinnedDrop)]
struct TraceFile {
    shared: Arc<Shared>,
    reader: bool,
    #[pin]
    state: Mutex<ReadState>,
}

#[pinned_drop]
impl PinnedDrop for TraceFile {
    fn drop(self: Pin<&mut Self>) {
        if self.reader {
            self.shared.waiting.store(false, Relaxed);
            self.shared.reader.store(false, Relaxed);
        }
    }
}

impl TraceFile {
    /// Tells the fault handler that the reader waits, then whether there is something to read
    /// after all.
    fn wait_for(&self, r: &ReadState) -> bool {
        self.shared.waiting.store(true, Relaxed);
        // Pairs with the barrier in `Shared::kick()`.
        smp_mb(Full);
        self.shared.readable(r)
    }
}

#[vtable]
impl MiscDevice for TraceFile {
    type Ptr = Pin<KBox<Self>>;

    fn open(file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        kmmio::may_trace()?;
        // SAFETY: The only registration of `TraceFile` is the `misc` field of the module's
        // `KmmioTrace`, which outlives every open file (the file holds a module reference).
        // `misc` is registered last, when `shared` is initialised, and deregistered first.
        // Only that field is read: no reference to the whole, maybe unfinished, `KmmioTrace`
        // is made.
        let shared = unsafe {
            let module =
                kernel::container_of!(core::ptr::from_ref(misc).cast_mut(), KmmioTrace, misc);
            (*module).shared.clone()
        };
        let reader = file.flags() & flags::O_ACCMODE != flags::O_WRONLY;
        if reader && shared.reader.xchg(true, Relaxed) {
            return Err(EBUSY);
        }
        let flag = shared.clone();
        ReadState::new(&shared, reader)
            .and_then(|state| {
                KBox::pin_init(
                    try_pin_init!(Self {
                        shared,
                        reader,
                        state <- new_mutex!(state, "kmmiotrace_read"),
                    }? Error),
                    GFP_KERNEL,
                )
            })
            .inspect_err(|_| {
                if reader {
                    flag.reader.store(false, Relaxed);
                }
            })
    }

    fn read_iter(kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterDest<'_>) -> Result<usize> {
        let nowait = kiocb.is_nowait();
        let me = kiocb.file();
        if !me.reader {
            return Err(EBADF);
        }
        // A read of nothing returns nothing, at once.
        if iov.is_empty() {
            return Ok(0);
        }
        let budget = iov.len().min(READ_MAX);
        let mut r = me.state.lock();
        loop {
            if r.pos < r.text.len() {
                let n = iov.copy_to_iter(&r.text[r.pos..]);
                r.pos += n;
                if r.pos == r.text.len() {
                    r.text.clear();
                    r.pos = 0;
                }
                return if n == 0 { Err(EFAULT) } else { Ok(n) };
            }
            me.shared.drain(&mut r, budget)?;
            if !r.text.is_empty() {
                continue;
            }
            if nowait {
                return Err(EAGAIN);
            }
            if me.wait_for(&r) {
                continue;
            }
            // `CondVar` cannot check a condition after it queues this task: a wake-up that
            // comes between `wait_for()` and the wait would be missed until the next record
            // comes. The timeout bounds that (rare) wait.
            if let kernel::sync::CondVarTimeoutResult::Signal { .. } = me
                .shared
                .readable
                .wait_interruptible_timeout(&mut r, msecs_to_jiffies(1000))
            {
                return Err(ERESTARTSYS);
            }
        }
    }

    fn poll(me: Pin<&TraceFile>, file: &File, table: PollTable<'_>) -> u32 {
        if !me.reader {
            return POLLOUT | POLLWRNORM;
        }
        table.register_wait(file, &me.shared.readable);
        let ready = me.wait_for(&me.state.lock());
        let rd = if ready { POLLIN | POLLRDNORM } else { 0 };
        rd | POLLOUT | POLLWRNORM
    }

    fn write_iter(kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterSource<'_>) -> Result<usize> {
        let me = kiocb.file();
        let len = iov.len();
        let mut buf = [0u8; MARK_MAX];
        let n = iov.copy_from_iter(&mut buf);
        if len > MARK_MAX {
            pr_warn!("marker of {len} bytes: at most {MARK_MAX} allowed\n");
            return Err(EINVAL);
        }
        let text = buf[..n].strip_suffix(b"\n").unwrap_or(&buf[..n]);
        if text.contains(&b'\n') {
            pr_warn!("a marker is one line\n");
            return Err(EINVAL);
        }
        let mut v = KVec::with_capacity(text.len(), GFP_KERNEL)?;
        v.extend_from_slice(text, GFP_KERNEL)?;
        me.shared.add_slow(Slow::Mark {
            time: kmmio::clock(),
            text: v,
        });
        Ok(n)
    }
}

/// The module.
///
/// `misc` is declared first, to be deregistered first, but initialised last: `open()` finds
/// the rest initialised.
#[pin_data(PinnedDrop)]
struct KmmioTrace {
    #[pin]
    misc: MiscDeviceRegistration<TraceFile>,
    #[pin]
    filter_file: DebugFsFile<Arc<Control>>,
    #[pin]
    on_file: DebugFsFile<Arc<Control>>,
    #[pin]
    stats_file: DebugFsFile<Arc<Control>>,
    _dir: Dir,
    _started: (),
    ctl: Arc<Control>,
    shared: Arc<Shared>,
}

#[pinned_drop]
impl PinnedDrop for KmmioTrace {
    fn drop(self: Pin<&mut Self>) {
        // Detach and disarm before the buffers go (they go with the last `Arc`).
        let _ = self.ctl.set_on(false);
        pr_info!("unloaded: every traced page disarmed\n");
    }
}

impl Control {
    fn new(shared: Arc<Shared>) -> Result<Arc<Self>> {
        let state = CtlState {
            filter: Filter::default(),
            reg: None,
            picked: KVec::new(),
        };
        Arc::pin_init(
            try_pin_init!(Control {
                shared,
                state <- new_mutex!(state, "kmmiotrace_ctl"),
            }? Error),
            GFP_KERNEL,
        )
    }
}

impl kernel::InPlaceModule for KmmioTrace {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let cap = module_parameters::buffer_events.value().clamp(256, 1 << 22) as usize;
        let parts = Shared::new(module_parameters::trace_pc.value(), cap)
            .and_then(|s| Ok((s.clone(), Control::new(s)?)));
        let dir = Dir::new(c"kmmiotrace");
        try_pin_init!(Self {
            shared: parts.as_ref().map_err(|e| *e)?.0.clone(),
            ctl: parts.as_ref().map_err(|e| *e)?.1.clone(),
            filter_file <- dir.read_write_callback_file(
                c"filter",
                parts.as_ref().map_err(|e| *e)?.1.clone(),
                &filter_show,
                &filter_store,
            ),
            on_file <- dir.read_write_callback_file(
                c"tracing_on",
                parts.as_ref().map_err(|e| *e)?.1.clone(),
                &on_show,
                &on_store,
            ),
            stats_file <- dir.read_callback_file(
                c"stats",
                parts.as_ref().map_err(|e| *e)?.1.clone(),
                &stats_show,
            ),
            _dir: dir.clone(),
            // Attached before the device appears; detached by `ctl`'s drop if what follows
            // fails.
            _started: parts.as_ref().map_err(|e| *e)?.1.set_on(true).inspect_err(|e| {
                pr_err!("cannot attach to the kmmio core: {e:?} (is the mmiotrace tracer on?)\n")
            })?,
            misc <- MiscDeviceRegistration::register(MiscDeviceOptions {
                name: c"kmmiotrace",
            }),
        }? Error)
        .pin_chain(|_| {
            pr_info!("tracing new mappings; control files in /sys/kernel/debug/kmmiotrace/\n");
            Ok(())
        })
    }
}

#[kunit_tests(kmmiotrace_filter)]
mod tests {
    use super::*;

    /// Text in a buffer of its own.
    struct Buf(KVVec<u8>);

    impl Write for Buf {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            Text(&mut self.0).write_str(s)
        }
    }

    fn canon(s: &str) -> Result<KVVec<u8>, &'static str> {
        let f = Filter::parse(s)?;
        let mut t = Buf(KVVec::new());
        write!(t, "{f}").map_err(|_| "no memory")?;
        Ok(t.0)
    }

    #[test]
    fn valid_filters() {
        assert_eq!(canon("").as_deref(), Ok(&b"all"[..]));
        assert_eq!(canon(" all\n").as_deref(), Ok(&b"all"[..]));
        assert_eq!(
            canon("dev=00:03.0").as_deref(),
            Ok(&b"dev=0000:00:03.0"[..])
        );
        assert_eq!(
            canon("dev=0001:ff:1f.7 bar=1 bar=0").as_deref(),
            Ok(&b"dev=0001:ff:1f.7 bar=0 bar=1"[..])
        );
        assert_eq!(
            canon("phys=0xfebc0000+0x20000 op=w").as_deref(),
            Ok(&b"phys=0xfebc0000-0xfebdffff op=w"[..])
        );
        assert_eq!(
            canon("phys=10-10\top=rw").as_deref(),
            Ok(&b"phys=0x10-0x10"[..])
        );
        assert_eq!(canon("op=r").as_deref(), Ok(&b"op=r"[..]));
        assert_eq!(canon("all op=w").as_deref(), Ok(&b"op=w"[..]));
        let f = Filter::parse("dev=00:04.0 phys=1000-1fff op=w").unwrap_or_default();
        assert_eq!(f.ndevs, 1);
        assert_eq!(f.devs[0].devfn, 4 << 3);
        assert!(f.reports(Op::Write, 0x1000));
        assert!(f.reports(Op::Write, 0x1fff));
        assert!(!f.reports(Op::Write, 0x2000));
        assert!(!f.reports(Op::Read, 0x1800));
        assert!(f.selective());
        assert!(!Filter::default().selective());
    }

    /// Parses `s`, prints it and parses that again: the same filter, or the first error.
    fn round_trip(s: &str) -> Result<(), &'static str> {
        let f = Filter::parse(s)?;
        let text = canon(s)?;
        if text.len() > FILTER_TEXT_MAX {
            return Err("the printed filter is too long to be written back");
        }
        let again = core::str::from_utf8(&text).map_err(|_| "not text")?;
        if Filter::parse(again)? != f {
            return Err("printed and parsed again, the filter differs");
        }
        Ok(())
    }

    #[test]
    fn canonical_form_round_trips() {
        for s in [
            "all",
            "dev=0000:00:03.0 dev=00:04.1 bar=5",
            "dev=10000:00:00.0",
            "dev=ffffffff:ff:1f.7",
            "phys=0x0-0xffffffffffffffff",
            "phys=1+1 phys=fe000000-feffffff op=r bar=2",
        ] {
            assert_eq!(round_trip(s), Ok(()));
        }
        // The test itself fails when parsing does.
        assert!(round_trip("dev=00:03.8").is_err());
    }

    #[test]
    fn the_largest_filter_can_be_written_back() {
        let mut t = Buf(KVVec::new());
        for i in 0..FILTER_MAX {
            assert!(write!(t, "dev=ffffffff:ff:1f.{} ", i % 8).is_ok());
            let start = 0xffff_ffff_ffff_0000u64 + i as u64;
            assert!(write!(t, "phys=0x{start:x}-0xffffffffffffffff ").is_ok());
        }
        assert!(write!(t, "bar=0 bar=1 bar=2 bar=3 bar=4 bar=5 op=w").is_ok());
        let s = core::str::from_utf8(&t.0).unwrap_or("?");
        // More than the 512 bytes a write could once take.
        assert!(s.len() > 512);
        assert_eq!(round_trip(s), Ok(()));
    }

    #[test]
    fn large_pci_domains() {
        let f = Filter::parse("dev=10000:00:00.0").unwrap_or_default();
        assert_eq!(f.ndevs, 1);
        assert_eq!(f.devs[0].domain, 0x10000);
        let name = DevName::of(Some(f.devs[0]));
        assert_eq!(&name.0[..14], b"10000:00:00.0\0");
        let name = DevName::of(Some(PciAddr {
            domain: u32::MAX,
            bus: 0xff,
            devfn: 0xff,
        }));
        assert_eq!(&name.0[..17], b"ffffffff:ff:1f.7\0");
        assert_eq!(&DevName::of(None).0[..5], b"none\0");
    }

    const BAD: &[&str] = &[
        "al",
        "all all",
        "all dev=00:03.0",
        "bar=1 all",
        "all phys=0-1",
        "dev",
        "dev=",
        "dev=3",
        "dev=00:03",
        "dev=00:20.0",
        "dev=00:03.8",
        "dev=100:03.0",
        "dev=100000000:00:03.0",
        "dev=g0:03.0",
        "dev=00:03.0.1",
        "dev=:03.0",
        "dev=00:.0",
        "dev=00:03.",
        "dev=+0:03.0",
        "bar=6",
        "bar=-1",
        "bar=01",
        "bar=",
        "bar=a",
        "phys=",
        "phys=10",
        "phys=20-10",
        "phys=10+0",
        "phys=ffffffffffffffff+2",
        "phys=0x-0x10",
        "phys=10000000000000000-1",
        "phys=1-2-3",
        "phys=1+",
        "phys=x+1",
        "phys=+10-+20",
        "phys=+10+20",
        "phys=10-+20",
        "phys=-1-2",
        "op=",
        "op=x",
        "op=wr",
        "op=r op=w",
        "opr",
        "=dev",
        "foo=1",
        "DEV=00:03.0",
        "dev=00:01.0 dev=00:02.0 dev=00:03.0 dev=00:04.0 dev=00:05.0 dev=00:06.0 dev=00:07.0 dev=00:08.0 dev=00:09.0",
    ];

    #[test]
    fn malformed_filters_are_refused() {
        for s in BAD {
            assert!(Filter::parse(s).is_err());
        }
    }

    /// A small xorshift generator: the corpus is the same on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[(self.next() % from.len() as u64) as usize]
        }
    }

    /// Writes one token that is malformed, whatever the random numbers.
    fn malformed(rng: &mut Rng, t: &mut Buf) -> fmt::Result {
        let r = rng.next();
        let (a, b) = (rng.next(), rng.next());
        match r % 9 {
            0 => write!(t, "{}", rng.pick(BAD)),
            1 => write!(
                t,
                "dev={:03x}:{:02x}.{}",
                0x100 + a % 0xf00,
                b % 0x20,
                a % 8
            ),
            2 => write!(t, "dev={:02x}:{:02x}.{}", a % 0x100, 0x20 + b % 0xe0, a % 8),
            3 => write!(t, "dev={:02x}:{:02x}.{:x}", a % 0x100, b % 0x20, 8 + a % 8),
            4 => write!(t, "bar={}", 6 + a % 94),
            5 => {
                let lo = a >> 1;
                write!(t, "phys={:#x}-{:#x}", lo + 1 + b % 0x1000, lo)
            }
            6 => write!(t, "phys={:x}+0", a),
            7 => write!(t, "x{:x}={:x}", a % 0x1000, b),
            _ => write!(t, "op={}", rng.pick(&["x", "wr", "rr", "R", "W", "read"])),
        }
    }

    const GOOD: &[&str] = &[
        "dev=00:03.0",
        "bar=0",
        "phys=1000-1fff",
        "phys=0+1",
        "dev=0000:00:04.0",
    ];

    /// 10 000 malformed filters, each a malformed token between valid ones, written to a
    /// control with a filter in force: every one is refused and leaves that filter alone.
    #[test]
    fn malformed_corpus_leaves_the_filter_in_force() -> Result {
        let shared = Shared::new(false, 256)?;
        let ctl = Control::new(shared)?;
        assert_eq!(ctl.write_filter("dev=00:04.0 op=w")?, Ok(()));
        let before = ctl.state.lock().filter;
        let mut rng = Rng(0x6b6d6d696f747263);
        let mut refused = 0;
        let seps = [" ", "\t", "  ", "\n"];
        for _ in 0..10_000 {
            let mut t = Buf(KVVec::new());
            for _ in 0..rng.next() % 3 {
                write!(t, "{}{}", rng.pick(GOOD), rng.pick(&seps)).map_err(|_| ENOMEM)?;
            }
            malformed(&mut rng, &mut t).map_err(|_| ENOMEM)?;
            for _ in 0..rng.next() % 3 {
                write!(t, "{}{}", rng.pick(&seps), rng.pick(GOOD)).map_err(|_| ENOMEM)?;
            }
            let text = core::str::from_utf8(&t.0).map_err(|_| EINVAL)?;
            if ctl.write_filter(text)?.is_err() {
                refused += 1;
            }
            assert_eq!(ctl.state.lock().filter, before);
        }
        assert_eq!(refused, 10_000);
        Ok(())
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let alphabet = b"devbarphysopall=:.+-x0123456789abcdefABCDEF \t";
        let mut buf = [0u8; 40];
        for _ in 0..20_000 {
            let n = (rng.next() % buf.len() as u64) as usize;
            for b in buf[..n].iter_mut() {
                *b = alphabet[(rng.next() % alphabet.len() as u64) as usize];
            }
            let s = core::str::from_utf8(&buf[..n]).unwrap_or("");
            if let Ok(f) = Filter::parse(s) {
                // Whatever is accepted prints as a filter that parses to the same.
                let mut t = Buf(KVVec::new());
                assert!(write!(t, "{f}").is_ok());
                let again = core::str::from_utf8(&t.0).unwrap_or("?");
                assert_eq!(Filter::parse(again), Ok(f));
            }
        }
    }

    fn text_of(f: impl FnOnce(&mut Text<'_>) -> fmt::Result) -> KVVec<u8> {
        let mut v = KVVec::new();
        assert!(f(&mut Text(&mut v)).is_ok());
        v
    }

    #[test]
    fn text_format_is_mainlines() {
        let mut r = Rec {
            time: 12_345_678_901,
            phys: 0xfebc0008,
            value: 0x80080783,
            pc: 0,
            pid: 42,
            map_id: 3,
            op: Op::Read,
            width: 4,
        };
        assert_eq!(
            &text_of(|t| format_rec(t, &r))[..],
            b"R 4 12.345679 3 0xfebc0008 0x80080783 0x0 42\n"
        );
        r.op = Op::Write;
        r.width = 1;
        r.value = 0;
        r.time = 999;
        assert_eq!(
            &text_of(|t| format_rec(t, &r))[..],
            b"W 1 0.000001 3 0xfebc0008 0x0 0x0 42\n"
        );
        r.op = Op::Unknown;
        r.value = 0xf3a5ff;
        assert_eq!(
            &text_of(|t| format_rec(t, &r))[..],
            b"UNKNOWN 0.000001 3 0xfebc0008 f3,a5,ff 0x0 42\n"
        );
        let map = Slow::Map {
            time: 1_000_000_000,
            id: 1,
            phys: 0xfebc0000,
            virt: 0xffffc90000080000,
            len: 0x20000,
        };
        assert_eq!(
            &text_of(|t| format_slow(t, &map))[..],
            b"MAP 1.000000 1 0xfebc0000 0xffffc90000080000 0x20000 0x0 0\n"
        );
        let unmap = Slow::Unmap {
            time: 2_500_000_000,
            id: 1,
        };
        assert_eq!(
            &text_of(|t| format_slow(t, &unmap))[..],
            b"UNMAP 2.500000 1 0x0 0\n"
        );
    }

    fn rec(time: u64) -> Rec {
        Rec {
            time,
            phys: 0x1000,
            value: 1,
            pc: 0,
            pid: 0,
            map_id: 1,
            op: Op::Write,
            width: 4,
        }
    }

    /// Drains with `budget` until nothing is left; returns the text.
    fn read_all(shared: &Shared, r: &mut ReadState, budget: usize) -> Result<KVVec<u8>> {
        let mut all = KVVec::new();
        loop {
            shared.drain(r, budget)?;
            if r.text.is_empty() {
                return Ok(all);
            }
            // A piece is at most the budget and one line.
            assert!(r.text.len() <= budget + 128);
            all.extend_from_slice(&r.text, GFP_KERNEL)?;
            r.text.clear();
        }
    }

    #[test]
    fn lost_events_are_reported_in_the_stream() -> Result {
        let shared = Shared::new(false, 256)?;
        let mut r = ReadState::new(&shared, false)?;
        for i in 0..300 {
            shared.rings[0].push(rec(i));
        }
        let text = read_all(&shared, &mut r, READ_MAX)?;
        let text = core::str::from_utf8(&text).map_err(|_| EINVAL)?;
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("MARK 0.000000 Lost 44 events."));
        assert_eq!(lines.count(), 256);
        assert!(read_all(&shared, &mut r, READ_MAX)?.is_empty());
        // The counter keeps its total; the stream reports only what is new.
        assert_eq!(shared.lost_total(), 44);
        for i in 0..260 {
            shared.rings[0].push(rec(1000 + i));
        }
        let text = read_all(&shared, &mut r, READ_MAX)?;
        let text = core::str::from_utf8(&text).map_err(|_| EINVAL)?;
        assert_eq!(text.lines().next(), Some("MARK 0.000000 Lost 4 events."));
        assert_eq!(shared.lost_total(), 48);
        Ok(())
    }

    #[test]
    fn a_large_backlog_is_read_in_bounded_pieces() -> Result {
        // Some 7 MiB of text: more than one allocation of kmalloc() can hold.
        const N: u64 = 1 << 17;
        let shared = Shared::new(false, N as usize)?;
        let mut r = ReadState::new(&shared, false)?;
        for i in 0..N {
            shared.rings[0].push(rec(i * 1000));
        }
        let (mut lines, mut last) = (0u64, 0u64);
        loop {
            shared.drain(&mut r, 64 * 1024)?;
            if r.text.is_empty() {
                break;
            }
            assert!(r.text.len() <= 64 * 1024 + 128);
            let text = core::str::from_utf8(&r.text).map_err(|_| EINVAL)?;
            for l in text.lines() {
                let t = l.split(' ').nth(2).unwrap_or("");
                let (sec, us) = t.split_once('.').unwrap_or(("", ""));
                let us =
                    sec.parse::<u64>().unwrap_or(0) * 1_000_000 + us.parse::<u64>().unwrap_or(0);
                assert!(us >= last);
                last = us;
                lines += 1;
            }
            r.text.clear();
        }
        assert_eq!(lines, N);
        assert_eq!(shared.lost_total(), 0);
        Ok(())
    }

    #[test]
    fn an_unmap_comes_after_the_last_access() -> Result {
        let shared = Shared::new(false, 4096)?;
        let mut r = ReadState::new(&shared, false)?;
        for i in 0..1000 {
            shared.rings[0].push(rec(i * 1000));
        }
        // A read in progress...
        shared.drain(&mut r, 1024)?;
        assert!(!r.text.is_empty());
        r.text.clear();
        // ...then one more access, and the mapping goes.
        shared.rings[0].push(rec(5_000_000_000));
        shared.add_slow(Slow::Unmap {
            time: 6_000_000_000,
            id: 1,
        });
        let text = read_all(&shared, &mut r, 1024)?;
        let text = core::str::from_utf8(&text).map_err(|_| EINVAL)?;
        let mut tail = text.lines().rev();
        assert_eq!(tail.next(), Some("UNMAP 6.000000 1 0x0 0"));
        assert_eq!(tail.next(), Some("W 4 5.000000 1 0x1000 0x1 0x0 0"));
        Ok(())
    }
}
