// SPDX-License-Identifier: GPL-2.0

//! The kmmio core: tracing of memory-mapped I/O by page faults.
//!
//! C header: [`include/linux/mmiotrace.h`](srctree/include/linux/mmiotrace.h).
//!
//! The kmmio core keeps the pages of a traced mapping not present. Each access that faults on
//! them is decoded, performed through an alias mapping and reported to the probe that covers
//! it; the page never becomes present, so every access of every CPU is seen.
//!
//! The core tells one *frontend* at a time about every `ioremap()` mapping. A frontend
//! implements [`Frontend`]: for each mapping it decides whether to trace it and returns a
//! [`Tracer`], which then receives each [`Access`] to the mapping until the mapping goes away
//! or the [`Registration`] is dropped. A frontend may live in a module: dropping the
//! [`Registration`] detaches it, disarms every page it traced and waits for the accesses in
//! flight.
//!
//! # Examples
//!
//! ```
//! use kernel::kmmio::{self, Access, Frontend, Mapping, Tracer};
//! use kernel::sync::atomic::{Atomic, Relaxed};
//!
//! struct Count {
//!     phys: u64,
//!     n: Atomic<u64>,
//! }
//!
//! impl Tracer for Count {
//!     fn access(&self, _a: &Access) {
//!         self.n.fetch_add(1, Relaxed);
//!     }
//! }
//!
//! struct NewMappings;
//!
//! impl Frontend for NewMappings {
//!     type Tracer = Count;
//!
//!     fn map(&self, m: &Mapping, existing: bool) -> Option<Count> {
//!         // Trace what is mapped from now on.
//!         (!existing).then(|| Count {
//!             phys: m.phys(),
//!             n: Atomic::new(0),
//!         })
//!     }
//!
//!     fn unmap(&self, t: &Count) {
//!         pr_info!("{:#x}: {} accesses\n", t.phys, t.n.load(Relaxed));
//!     }
//! }
//!
//! let reg = KBox::pin_init(kmmio::Registration::new(NewMappings), GFP_KERNEL)?;
//! assert_eq!(reg.traced(), 0);
//! // One frontend at a time.
//! let second = KBox::pin_init(kmmio::Registration::new(NewMappings), GFP_KERNEL);
//! assert!(second.is_err_and(|e| e == EBUSY));
//! // Dropping the registration detaches it: the core takes another one.
//! drop(reg);
//! let again = KBox::pin_init(kmmio::Registration::new(NewMappings), GFP_KERNEL)?;
//! drop(again);
//! # Ok::<(), Error>(())
//! ```

use crate::{
    bindings,
    capability::{capable, Capability},
    container_of,
    cpu::CpuId,
    cpumask::Cpumask,
    error::to_result,
    new_mutex,
    pci,
    prelude::*,
    sync::Mutex,
    time::local_clock,
    types::Opaque, //
};

/// What an access did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A read: [`Access::value`] is the value read.
    Read,
    /// A write: [`Access::value`] is the value written.
    Write,
    /// An instruction the core could not decode: [`Access::value`] holds its first three
    /// bytes (`0xAABBCC`), [`Access::width`] is 0.
    Unknown,
}

impl Op {
    /// The code of mainline's `enum mm_io_opcode`: 1 read, 2 write, 5 unknown.
    pub fn code(self) -> u8 {
        (match self {
            Op::Read => bindings::mm_io_opcode_MMIO_READ,
            Op::Write => bindings::mm_io_opcode_MMIO_WRITE,
            Op::Unknown => bindings::mm_io_opcode_MMIO_UNKNOWN_OP,
        }) as u8
    }
}

/// One access to a traced mapping, as the core reports it.
#[derive(Clone, Copy, Debug)]
pub struct Access {
    /// Virtual address of the access.
    pub addr: usize,
    /// Physical address of the access.
    pub phys: u64,
    /// Value read or written, or the opcode bytes of an unknown instruction.
    pub value: u64,
    /// Address of the accessing instruction.
    pub ip: usize,
    /// `local_clock()` in nanoseconds, taken right after the access.
    pub time: u64,
    /// The current task's PID; 0 in interrupt context.
    pub pid: i32,
    /// The CPU that made the access.
    pub cpu: u32,
    /// Read, write or unknown.
    pub op: Op,
    /// Width of the access in bytes: 1, 2, 4 or 8; 0 for [`Op::Unknown`].
    pub width: u8,
}

impl Access {
    fn from_raw(a: &bindings::kmmio_access) -> Self {
        let op = match u32::from(a.opcode) {
            bindings::mm_io_opcode_MMIO_READ => Op::Read,
            bindings::mm_io_opcode_MMIO_WRITE => Op::Write,
            _ => Op::Unknown,
        };
        Self {
            addr: a.addr,
            phys: a.phys,
            value: a.value as u64,
            ip: a.ip,
            time: a.time,
            pid: a.pid,
            cpu: a.cpu,
            op,
            width: a.width,
        }
    }
}

/// The location of a PCI device: domain, bus, device and function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciAddr {
    /// PCI domain (segment).
    pub domain: u32,
    /// Bus number.
    pub bus: u8,
    /// Device and function, as `PCI_DEVFN()` packs them.
    pub devfn: u8,
}

/// The PCI BAR a mapping lies in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciBar {
    /// The device.
    pub addr: PciAddr,
    /// The BAR number, 0 to 5.
    pub bar: u32,
    /// The first physical byte of the BAR.
    pub start: u64,
}

/// # Safety
///
/// `dev` must point to a valid `struct pci_dev`.
unsafe fn pci_addr(dev: *mut bindings::pci_dev) -> PciAddr {
    // SAFETY: By the safety requirements, `dev` and so its bus are valid.
    let (bus, devfn, domain) = unsafe {
        (
            (*(*dev).bus).number,
            (*dev).devfn as u8,
            bindings::pci_domain_nr((*dev).bus),
        )
    };
    PciAddr {
        domain: domain as u32,
        bus,
        devfn,
    }
}

/// What a trace header says of a PCI device (mainline's `PCIDEV` line).
#[derive(Clone, Debug)]
pub struct PciDevInfo {
    /// Where the device is.
    pub addr: PciAddr,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Legacy IRQ number.
    pub irq: u32,
    /// Start of each of the first seven resources, or'ed with their region flags.
    pub start: [u64; 7],
    /// Length of each of the first seven resources, 0 if unused.
    pub len: [u64; 7],
    driver: [u8; 32],
}

impl PciDevInfo {
    /// What the header says of `pdev`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{kmmio::PciDevInfo, pci};
    ///
    /// for pdev in pci::devices() {
    ///     let info = PciDevInfo::new(&pdev);
    ///     assert_eq!(info.addr.domain, pdev.domain());
    ///     assert_eq!(info.device, pdev.device_id());
    /// }
    /// ```
    pub fn new(pdev: &pci::Device) -> Self {
        let dev = pdev.as_raw();
        // SAFETY: By the type invariant of `pci::Device`, `dev` is a valid `struct pci_dev`,
        // which the reference `pdev` keeps alive.
        let d = unsafe { &*dev };
        let mut info = Self {
            addr: PciAddr {
                domain: pdev.domain(),
                bus: pdev.bus_number(),
                devfn: pdev.devfn(),
            },
            vendor: d.vendor,
            device: pdev.device_id(),
            irq: d.irq,
            start: [0; 7],
            len: [0; 7],
            driver: [0; 32],
        };
        let mask = u64::from(bindings::PCI_REGION_FLAG_MASK);
        for (i, r) in d.resource.iter().take(7).enumerate() {
            info.start[i] = r.start | (r.flags as u64 & mask);
            info.len[i] = if r.start < r.end {
                r.end - r.start + 1
            } else {
                0
            };
        }
        // SAFETY: `dev` is valid.
        let drv = unsafe { bindings::pci_dev_driver(dev) };
        if !drv.is_null() {
            // SAFETY: A PCI driver has a valid, NUL-terminated name, which lives as long as
            // the driver; it is copied out at once.
            let name = unsafe { CStr::from_char_ptr((*drv).name) }.to_bytes();
            let n = name.len().min(info.driver.len() - 1);
            info.driver[..n].copy_from_slice(&name[..n]);
        }
        info
    }

    /// The name of the bound driver, empty if none (at most 31 bytes).
    pub fn driver(&self) -> &[u8] {
        let n = self.driver.iter().position(|&b| b == 0).unwrap_or(0);
        &self.driver[..n]
    }
}

/// A live `ioremap()` mapping, as the core tells its frontend.
///
/// # Invariants
///
/// `self.0` is a valid `struct kmmio_mapping` of the core: its mapping is live, and its
/// `pdev`, if not NULL, holds a reference, for as long as the reference to `Mapping` lives.
#[repr(transparent)]
pub struct Mapping(Opaque<bindings::kmmio_mapping>);

impl Mapping {
    /// # Safety
    ///
    /// `ptr` must point to a mapping of the core that stays live for `'a`.
    unsafe fn from_raw<'a>(ptr: *const bindings::kmmio_mapping) -> &'a Self {
        // SAFETY: `Mapping` is transparent over the C struct; validity is the caller's.
        unsafe { &*ptr.cast() }
    }

    fn raw(&self) -> &bindings::kmmio_mapping {
        // SAFETY: By the type invariants, `self.0` is valid; the core does not change a
        // mapping while it lives.
        unsafe { &*self.0.get() }
    }

    /// The first physical byte mapped (not page aligned).
    pub fn phys(&self) -> u64 {
        self.raw().phys
    }

    /// The number of bytes mapped (not page aligned).
    pub fn size(&self) -> usize {
        self.raw().size
    }

    /// The virtual address `ioremap()` returned.
    pub fn virt(&self) -> usize {
        self.raw().virt as usize
    }

    /// The PCI device and the BAR whose memory this maps, if any.
    pub fn pci(&self) -> Option<PciBar> {
        let m = self.raw();
        if m.pdev.is_null() || m.bar < 0 {
            return None;
        }
        // SAFETY: By the type invariants, a non-NULL `pdev` is valid, and `bar` is one of
        // its BARs.
        let (addr, start) = unsafe {
            (
                pci_addr(m.pdev),
                bindings::pci_resource_start(m.pdev, m.bar),
            )
        };
        Some(PciBar {
            addr,
            bar: m.bar as u32,
            start,
        })
    }
}

/// Receives the accesses to one traced mapping.
pub trait Tracer: Send + Sync + 'static {
    /// Called for each access to the mapping, in the page fault handler.
    ///
    /// Context: IRQs off, in whatever context the access was made: process, soft or hard IRQ,
    /// or NMI, with any lock of the accessing code held, raw spinlocks included. Must not
    /// sleep, allocate or take a lock, not even a [`SpinLockIrq`]: a `spinlock_t` may not
    /// nest in a raw spinlock, sleeps on PREEMPT_RT, and deadlocks against an NMI on its own
    /// CPU. Record the access locklessly, per CPU.
    ///
    /// [`SpinLockIrq`]: crate::sync::SpinLockIrq
    fn access(&self, a: &Access);
}

/// Decides which mappings to trace.
///
/// The core calls the frontend in process context, one call at a time; the calls may sleep.
/// They run with the core's mapping mutex held: they must not create or drop a
/// [`Registration`], nor take a lock that is held around doing so. Dropping the registration
/// calls [`Frontend::unmap`] too, for the mappings still traced, from the dropping thread with
/// the registration's probe list locked: that call may run concurrently with a call of
/// [`Frontend::map`] (whose tracer is then dropped at once).
pub trait Frontend: Send + Sync + 'static {
    /// What traces one mapping.
    type Tracer: Tracer;

    /// A mapping was created or, with `existing`, was live when the frontend attached.
    ///
    /// Returns a tracer to trace the whole mapping, or `None` to leave it alone.
    fn map(&self, m: &Mapping, existing: bool) -> Option<Self::Tracer>;

    /// Tracing of a mapping has stopped: the mapping is going away, or the [`Registration`]
    /// is being dropped. Called once for each tracer that [`Frontend::map`] returned, after
    /// the last access has reached it; the tracer is dropped when this returns.
    fn unmap(&self, tracer: &Self::Tracer);
}

/// A traced mapping: a `struct kmmio_probe` and its tracer.
///
/// # Invariants
///
/// While `armed`, `probe` is registered with the core, and its handler finds `tracer` from
/// it. It is armed from initialisation until [`Probe::disarm`] or drop.
#[pin_data(PinnedDrop)]
struct Probe<T: Tracer> {
    tracer: T,
    virt: usize,
    armed: bool,
    #[pin]
    probe: Opaque<bindings::kmmio_probe>,
}

impl<T: Tracer> Probe<T> {
    /// # Safety
    ///
    /// `m` must be a live mapping that stays mapped until the probe is disarmed.
    unsafe fn new(m: &Mapping, tracer: T) -> impl PinInit<Self, Error> + '_ {
        try_pin_init!(Self {
            tracer,
            virt: m.virt(),
            armed: true,
            probe <- Opaque::try_ffi_init(move |slot: *mut bindings::kmmio_probe| {
                // SAFETY: `slot` is valid for writes; all-zero is a valid `kmmio_probe`.
                unsafe {
                    slot.write(pin_init::zeroed());
                    (*slot).addr = m.virt();
                    (*slot).len = m.size();
                    (*slot).handler = Some(Self::handler);
                }
                // SAFETY: `slot` is pinned and stays valid until `disarm` unregisters it;
                // `tracer` is initialised before this runs; the range is a live
                // `ioremap()` mapping by the safety requirements.
                // INVARIANT: on success the probe is registered and `armed` is set.
                to_result(unsafe { bindings::register_kmmio_probe(slot) })
            }),
        }? Error)
    }

    /// # Safety
    ///
    /// Called by the core only: `p` is a probe registered by [`Probe::new`], `a` a valid
    /// access.
    unsafe extern "C" fn handler(p: *mut bindings::kmmio_probe, a: *const bindings::kmmio_access) {
        // SAFETY: The core calls the handler only with the probe it was registered with,
        // which is the `probe` field of a `Probe<T>` (type invariants), until unregistering
        // has returned.
        let this = unsafe { &*container_of!(Opaque::cast_from(p).cast_mut(), Self, probe) };
        // SAFETY: The core passes a valid access for the duration of the call.
        let a = Access::from_raw(unsafe { &*a });
        this.tracer.access(&a);
    }

    /// Stops tracing: when this returns, the handler does not run any more.
    fn disarm(self: Pin<&mut Self>) {
        if !self.armed {
            return;
        }
        // SAFETY: By the type invariants `probe` is registered while `armed`; this waits
        // for the handlers in flight, after which the core does not refer to `self`.
        unsafe { bindings::unregister_kmmio_probe(self.probe.get()) };
        // SAFETY: `armed` is not structurally pinned: writing it moves nothing.
        // INVARIANT: `probe` has just been unregistered.
        unsafe { self.get_unchecked_mut().armed = false };
    }
}

#[pinned_drop]
impl<T: Tracer> PinnedDrop for Probe<T> {
    fn drop(self: Pin<&mut Self>) {
        self.disarm();
    }
}

/// The probes of a registration, one per traced mapping.
struct Probes<T: Tracer> {
    /// Set when the registration is being dropped: no probe is added any more.
    closing: bool,
    list: KVec<Pin<KBox<Probe<T>>>>,
}

/// Checks that the current task may control tracing: it must have `CAP_SYS_ADMIN`.
///
/// The core itself refuses to attach a frontend when the kernel is locked down.
pub fn may_trace() -> Result {
    if capable(Capability::SYS_ADMIN) {
        Ok(())
    } else {
        Err(EPERM)
    }
}

/// The attachment of a [`Frontend`] to the core.
///
/// # Invariants
///
/// If `attached`, `fe` is attached to the core with the callbacks of `Self`, which find `self`
/// from it. `traced` holds an armed `Probe` for each live mapping that the frontend traces;
/// none once `closing` is set.
#[pin_data(PinnedDrop)]
pub struct Registration<F: Frontend> {
    frontend: F,
    #[pin]
    traced: Mutex<Probes<F::Tracer>>,
    attached: bool,
    #[pin]
    fe: Opaque<bindings::kmmio_frontend>,
}

// SAFETY: The C part of a `Registration` is used by the core only under its mutex, from any
// thread; the Rust part is `Send` by the bounds of `Frontend` and `Tracer`.
unsafe impl<F: Frontend> Send for Registration<F> {}
// SAFETY: Shared references reach only `frontend` (`Sync`) and `traced` (behind a mutex).
unsafe impl<F: Frontend> Sync for Registration<F> {}

impl<F: Frontend> Registration<F> {
    /// Attaches `frontend` to the core.
    ///
    /// First calls [`Frontend::map`] for each live mapping, with `existing` set.
    ///
    /// Context: process context, may sleep.
    /// Errors: `EBUSY` if another frontend is attached, `EPERM` if the kernel is locked down
    /// against MMIO tracing.
    pub fn new(frontend: F) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            frontend,
            traced <- new_mutex!(Probes {
                closing: false,
                list: KVec::new(),
            }),
            attached: false,
            fe <- Opaque::ffi_init(|slot: *mut bindings::kmmio_frontend| {
                // SAFETY: `slot` is valid for writes.
                unsafe {
                    slot.write(bindings::kmmio_frontend {
                        map: Some(Self::map_callback),
                        unmap: Some(Self::unmap_callback),
                    })
                };
            }),
        }? Error)
        .pin_chain(|this| {
            // SAFETY: `this` is pinned and fully initialised, and `drop` detaches it before
            // its memory goes; the callbacks find `this` through `fe`.
            to_result(unsafe { bindings::kmmio_attach_frontend(this.fe.get()) })?;
            // SAFETY: `attached` is not structurally pinned: writing it moves nothing.
            // INVARIANT: `fe` has just been attached.
            unsafe { this.get_unchecked_mut().attached = true };
            Ok(())
        })
    }

    /// The frontend.
    pub fn frontend(&self) -> &F {
        &self.frontend
    }

    /// The number of mappings traced now.
    pub fn traced(&self) -> usize {
        self.traced.lock().list.len()
    }

    /// Calls `f` with each tracer of a mapping traced now, in the order they were created.
    ///
    /// `f` runs with the registration's probe list locked: it must not sleep for long, nor
    /// drop the registration.
    pub fn for_each_tracer(&self, mut f: impl FnMut(&F::Tracer)) {
        for probe in self.traced.lock().list.iter() {
            f(&probe.tracer);
        }
    }

    /// # Safety
    ///
    /// `fe` must be the `fe` field of a live `Registration<F>`.
    unsafe fn from_fe<'a>(fe: *const bindings::kmmio_frontend) -> &'a Self {
        // SAFETY: By the safety requirements `fe` is the `fe` field of a `Self`.
        unsafe { &*container_of!(Opaque::cast_from(fe).cast_mut(), Self, fe) }
    }

    /// # Safety
    ///
    /// Called by the core only: `fe` is the attached `fe` of a `Registration<F>`, `m` a live
    /// mapping.
    unsafe extern "C" fn map_callback(
        fe: *const bindings::kmmio_frontend,
        m: *const bindings::kmmio_mapping,
        existing: bool,
    ) {
        // SAFETY: The core calls back only the frontend attached in `new`, and only while
        // it is attached: `fe` belongs to a live `Registration<F>`.
        let this = unsafe { Self::from_fe(fe) };
        // SAFETY: The core passes a live mapping, valid for the call.
        let m = unsafe { Mapping::from_raw(m) };
        let Some(tracer) = this.frontend.map(m, existing) else {
            return;
        };
        // SAFETY: `m` stays mapped until `unmap_callback` disarms the probe, or until `drop`
        // disarms every probe: the core calls `unmap_callback` before the mapping goes.
        let probe = KBox::pin_init(unsafe { Probe::new(m, tracer) }, GFP_KERNEL);
        let res = probe.and_then(|p| {
            let mut traced = this.traced.lock();
            // While closing, the probe is dropped (disarmed) at once, still under the lock.
            if !traced.closing {
                traced.list.push(p, GFP_KERNEL)?;
            }
            Ok(())
        });
        if let Err(e) = res {
            pr_warn!(
                "kmmio: cannot trace {:#x} (size {:#x}): {:?}\n",
                m.phys(),
                m.size(),
                e
            );
        }
    }

    /// # Safety
    ///
    /// As for [`Self::map_callback`].
    unsafe extern "C" fn unmap_callback(
        fe: *const bindings::kmmio_frontend,
        m: *const bindings::kmmio_mapping,
    ) {
        // SAFETY: As in `map_callback`.
        let this = unsafe { Self::from_fe(fe) };
        // SAFETY: As in `map_callback`.
        let m = unsafe { Mapping::from_raw(m) };
        let probe = {
            let mut traced = this.traced.lock();
            match traced.list.iter().position(|p| p.virt == m.virt()) {
                Some(i) => traced.list.remove(i).ok(),
                None => None,
            }
        };
        if let Some(mut probe) = probe {
            probe.as_mut().disarm();
            this.frontend.unmap(&probe.tracer);
        }
    }
}

#[pinned_drop]
impl<F: Frontend> PinnedDrop for Registration<F> {
    fn drop(self: Pin<&mut Self>) {
        // Disarm every probe before detaching, holding the lock: a mapping going away
        // meanwhile waits in `unmap_callback` until its probe is gone. After detaching, the
        // core would unmap it without telling, and disarming would then write a PTE of
        // memory that is no longer mapped. The frontend hears of each, as of an unmapping.
        {
            let mut traced = self.traced.lock();
            traced.closing = true;
            for mut probe in traced.list.drain_all() {
                probe.as_mut().disarm();
                self.frontend.unmap(&probe.tracer);
            }
        }
        if self.attached {
            // SAFETY: By the type invariants `fe` is attached. When this returns, no
            // callback runs any more.
            unsafe { bindings::kmmio_detach_frontend(self.fe.get()) };
        }
    }
}

/// The accounting of the core on one CPU, or summed over all of them.
///
/// Every access to an armed page is counted once in `emulated`, `stepped` or `refused`, and
/// once more in `traced` if a probe covers it; `dropped` counts those no probe covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Accesses reported to a probe.
    pub traced: u64,
    /// Accesses performed by the emulator.
    pub emulated: u64,
    /// Accesses single-stepped (not emulated, allowed by the policy).
    pub stepped: u64,
    /// Accesses refused by the policy.
    pub refused: u64,
    /// Accesses to armed pages that no probe covers.
    pub dropped: u64,
    /// Of `stepped`, those single-stepped on the page made present rather than on the alias:
    /// the other CPUs' accesses to the page meanwhile may have been missed.
    pub unarmed: u64,
}

impl Stats {
    /// The counters of `cpu`.
    pub fn cpu(cpu: CpuId) -> Self {
        let mut s = bindings::kmmio_stats::default();
        // SAFETY: `cpu` is a valid CPU id and `s` is valid for writes.
        unsafe { bindings::kmmio_read_stats(cpu.as_u32() as i32, &mut s) };
        Self {
            traced: s.traced,
            emulated: s.emulated,
            stepped: s.stepped,
            refused: s.refused,
            dropped: s.dropped,
            unarmed: s.unarmed,
        }
    }

    /// The counters summed over the possible CPUs.
    pub fn total() -> Self {
        let mut t = Self::default();
        for cpu in Cpumask::possible().iter() {
            let s = Self::cpu(cpu);
            t.traced += s.traced;
            t.emulated += s.emulated;
            t.stepped += s.stepped;
            t.refused += s.refused;
            t.dropped += s.dropped;
            t.unarmed += s.unarmed;
        }
        t
    }
}

/// An instruction form that was not emulated, and how often.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FallbackOp {
    /// The instruction's first three bytes, `0xAABBCC`.
    pub opcode: u32,
    /// How many accesses by it were single-stepped or refused.
    pub count: u32,
}

/// How many instruction forms [`fallback_ops`] tells apart per CPU.
pub const FALLBACK_OPS: usize = bindings::KMMIO_FALLBACK_OPS as usize;

/// The forms `cpu` did not emulate, and how many of them there are.
pub fn fallback_ops(cpu: CpuId) -> ([FallbackOp; FALLBACK_OPS], usize) {
    let mut raw = [bindings::kmmio_fallback_op::default(); FALLBACK_OPS];
    // SAFETY: `raw` has room for `FALLBACK_OPS` entries.
    let n = unsafe {
        bindings::kmmio_read_fallback_ops(
            cpu.as_u32() as i32,
            raw.as_mut_ptr(),
            FALLBACK_OPS as i32,
        )
    };
    let mut ops = [FallbackOp::default(); FALLBACK_OPS];
    for (o, r) in ops.iter_mut().zip(raw.iter()) {
        *o = FallbackOp {
            opcode: r.opcode,
            count: r.count,
        };
    }
    (ops, n.clamp(0, FALLBACK_OPS as i32) as usize)
}

/// The clock of [`Access::time`]: `local_clock()`, in nanoseconds.
pub fn clock() -> u64 {
    local_clock()
}
