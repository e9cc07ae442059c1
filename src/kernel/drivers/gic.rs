//! The interrupt controller: GICv2 (QEMU `virt`, the Pi 4's GIC-400) or GICv3 (QEMU
//! `virt,gic-version=3`), through the `arm-gic` crate, chosen from the device tree.
//!
//! Interrupts stay masked at the CPU (PSTATE.I); `wfi` still wakes when one is pending, and the
//! main loop drains them with [`Gic::acknowledge`] / [`Gic::end`] (see `arch::exceptions`).

use core::ptr::NonNull;

use arm_gic::gicv2::GicV2;
use arm_gic::gicv3::{GicCpuInterface, GicV3};
use arm_gic::{IntId, InterruptGroup, Trigger, UniqueMmioPointer};
use bareserve::boot::dtb::GicDescription;

/// Priority given to every interrupt we use (lower is more urgent; all are equal here).
const INTERRUPT_PRIORITY: u8 = 0x80;
/// GICv2 GICD_ITARGETSRn (Arm IHI 0048B §4.3.12): one byte per INTID naming its target CPUs.
const GICD_ITARGETSR_OFFSET: usize = 0x800;

/// The interrupt controller, either version.
pub enum Gic {
    /// GICv2 with the distributor's base kept for the target registers the crate does not cover.
    Version2 {
        gic: GicV2<'static>,
        distributor_base: usize,
    },
    /// GICv3.
    Version3 { gic: GicV3<'static> },
}

/// What went wrong bringing up the GIC.
#[derive(Debug)]
pub enum GicSetupError {
    /// The GICv3 redistributor region could not be used.
    Redistributor(arm_gic::gicv3::GicError),
    /// A base address of zero.
    NullAddress,
}

impl core::fmt::Display for GicSetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            GicSetupError::Redistributor(error) => write!(f, "GICv3 redistributor: {error}"),
            GicSetupError::NullAddress => write!(f, "a GIC register window at address 0"),
        }
    }
}

impl Gic {
    /// Brings up the GIC the device tree describes, with every interrupt disabled.
    ///
    /// # Safety
    /// The addresses in `description` must be this machine's GIC, mapped as device memory, and
    /// used by nothing else.
    pub unsafe fn new(description: &GicDescription) -> Result<Gic, GicSetupError> {
        match description {
            GicDescription::V2 {
                distributor,
                cpu_interface,
            } => {
                let distributor_base = distributor.base as usize;
                let cpu_interface_base = cpu_interface.base as usize;
                if distributor_base == 0 || cpu_interface_base == 0 {
                    return Err(GicSetupError::NullAddress);
                }
                // SAFETY: the caller guarantees both bases are the GIC's, mapped as device memory
                // and owned by this driver alone.
                let mut gic =
                    unsafe { GicV2::new(distributor_base as *mut _, cpu_interface_base as *mut _) };
                gic.setup();
                gic.enable_all_interrupts(false);
                Ok(Gic::Version2 {
                    gic,
                    distributor_base,
                })
            }
            GicDescription::V3 {
                distributor,
                redistributor_regions,
            } => {
                let distributor = NonNull::new(distributor.base as usize as *mut _)
                    .ok_or(GicSetupError::NullAddress)?;
                let redistributor_base = redistributor_regions
                    .first()
                    .map_or(0, |region| region.base as usize);
                let redistributor =
                    NonNull::new(redistributor_base as *mut _).ok_or(GicSetupError::NullAddress)?;
                // SAFETY: the caller guarantees the distributor base is the GIC's, mapped as device
                // memory and owned by this driver alone.
                let distributor = unsafe { UniqueMmioPointer::new(distributor) };
                // SAFETY: as above, for the redistributor region; one CPU is used.
                let mut gic = unsafe { GicV3::new(distributor, redistributor, 1) }
                    .map_err(GicSetupError::Redistributor)?;
                gic.setup(0);
                gic.enable_all_interrupts(false);
                GicCpuInterface::set_priority_mask(0xFF);
                Ok(Gic::Version3 { gic })
            }
        }
    }

    /// Enables one interrupt (INTID as the device tree gives it) with its trigger, routed to
    /// this CPU.
    pub fn enable(&mut self, intid: u32, edge_triggered: bool) {
        let Some(id) = interrupt_id(intid) else {
            log::warn!("GIC: INTID {intid} is not an SGI, PPI or SPI; not enabled");
            return;
        };
        let trigger = if edge_triggered {
            Trigger::Edge
        } else {
            Trigger::Level
        };
        match self {
            Gic::Version2 {
                gic,
                distributor_base,
            } => {
                gic.set_interrupt_priority(id, INTERRUPT_PRIORITY);
                if id.is_spi() {
                    gic.set_trigger(id, trigger);
                    let target =
                        (*distributor_base + GICD_ITARGETSR_OFFSET + intid as usize) as *mut u8;
                    // SAFETY: GICD_ITARGETSR is byte-accessible (IHI 0048B §4.3.12) and lies within
                    // the distributor this driver owns; INTID < 1020 was checked above.
                    unsafe { target.write_volatile(0x01) };
                }
                if let Err(error) = gic.enable_interrupt(id, true) {
                    log::warn!("GIC: enabling INTID {intid} failed: {error:?}");
                }
            }
            Gic::Version3 { gic } => {
                let cpu = if id.is_private() { Some(0) } else { None };
                let configured = gic
                    .set_interrupt_priority(id, cpu, INTERRUPT_PRIORITY)
                    .and_then(|()| {
                        if id.is_private() {
                            Ok(())
                        } else {
                            gic.set_trigger(id, cpu, trigger)
                        }
                    })
                    .and_then(|()| gic.enable_interrupt(id, cpu, true));
                if let Err(error) = configured {
                    log::warn!("GIC: enabling INTID {intid} failed: {error:?}");
                }
            }
        }
    }

    /// The highest-priority pending interrupt, acknowledged (now active), if any.
    pub fn acknowledge(&mut self) -> Option<u32> {
        let id = match self {
            // Non-secure accesses (the Pi 4) and GICs without security extensions (QEMU) both
            // read their interrupts from GICC_IAR (IHI 0048B §4.4.4).
            Gic::Version2 { gic, .. } => gic.get_and_acknowledge_interrupt(InterruptGroup::Group0),
            Gic::Version3 { .. } => {
                GicCpuInterface::get_and_acknowledge_interrupt(InterruptGroup::Group1)
            }
        }?;
        Some(id.raw_value())
    }

    /// Ends (deactivates) an interrupt returned by [`Gic::acknowledge`].
    pub fn end(&mut self, intid: u32) {
        let Some(id) = interrupt_id(intid) else {
            return;
        };
        match self {
            Gic::Version2 { gic, .. } => gic.end_interrupt(id, InterruptGroup::Group0),
            Gic::Version3 { .. } => GicCpuInterface::end_interrupt(id, InterruptGroup::Group1),
        }
    }

    /// "GICv2" or "GICv3", for the banner.
    pub fn name(&self) -> &'static str {
        match self {
            Gic::Version2 { .. } => "GICv2",
            Gic::Version3 { .. } => "GICv3",
        }
    }
}

/// Converts a raw INTID to the crate's type: 0–15 SGI, 16–31 PPI, 32–1019 SPI.
fn interrupt_id(intid: u32) -> Option<IntId> {
    match intid {
        0..=15 => Some(IntId::sgi(intid)),
        16..=31 => Some(IntId::ppi(intid - 16)),
        32..=1019 => Some(IntId::spi(intid - 32)),
        _ => None,
    }
}
