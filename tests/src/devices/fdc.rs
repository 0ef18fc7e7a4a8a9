//! The floppy disk controller (`hw/block/fdc.c`: `vmstate_fdc` with its
//! drives `vmstate_fdrive` and their subsections; `hw/block/fdc-isa.c`:
//! `vmstate_isa_fdc` around it).
//!
//! Two forms of issue 8 meet here:
//!
//! * the command FIFO is `VMSTATE_VARRAY_INT32(fifo, FDCtrl, fifo_size, ..)`
//!   with a `fifo_size` that is not migrated (the controller sets it to
//!   512 when it is realized): `len = fifo_size` on a `skip` field;
//! * a drive's `fdrive/media_rate` subsection is sent when the
//!   *controller's* `check_media_rate` property is set
//!   (`drive->fdctrl->check_media_rate`): the drives take the controller's
//!   configuration as their context, `#[vmstate(context = DriveContext)]`.

use vmstate_core::{Timer, VmState};

/// Number of drives (`MAX_FD`).
pub const MAX_FD: usize = 2;
/// Size of the command FIFO (`FD_SECTOR_LEN`).
pub const FD_SECTOR_LEN: i32 = 512;

const FD_MSR_RQM: u8 = 0x80;
const FD_MSR_DIO: u8 = 0x40;
const FD_MSR_NONDMA: u8 = 0x20;
const FD_DOR_SELMASK: u8 = 0x03;

/// `FD_PHASE_*`.
pub mod phase {
    /// Not known yet: derive it from the registers (`FD_PHASE_RECONSTRUCT`).
    pub const RECONSTRUCT: u8 = 0;
    /// Waiting for a command.
    pub const COMMAND: u8 = 1;
    /// Executing one.
    pub const EXECUTION: u8 = 2;
    /// Returning its result.
    pub const RESULT: u8 = 3;
}

/// What a drive's predicates and hooks know of its controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriveContext {
    /// The controller's `check_media_rate` property.
    pub check_media_rate: bool,
}

/// One drive: nested struct `fdrive`, version 1, with three subsections.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "fdrive", version = 1, minimum_version = 1, context = DriveContext,
          post_load = FDrive::post_load)]
pub struct FDrive {
    /// Current head.
    pub head: u8,
    /// Current track.
    pub track: u8,
    /// Current sector.
    pub sect: u8,
    /// Subsection `fdrive/media_changed`.
    #[vmstate(subsection, needed = FDrive::media_changed_needed)]
    pub media_changed: FDriveMediaChanged,
    /// Subsection `fdrive/media_rate`, sent when the controller checks it.
    #[vmstate(subsection, needed = FDrive::media_rate_needed)]
    pub media_rate: FDriveMediaRate,
    /// Subsection `fdrive/perpendicular`.
    #[vmstate(subsection)]
    pub perpendicular: FDrivePerpendicular,
    /// A block backend is attached (configuration).
    #[vmstate(skip)]
    pub has_blk: bool,
    /// Loads seen, with the controller's setting at the time (for tests).
    #[vmstate(skip)]
    pub loads: Vec<bool>,
}

impl FDrive {
    fn media_changed_needed(&self, _: &DriveContext) -> bool {
        self.has_blk && self.media_changed.media_changed != 1
    }
    fn media_rate_needed(&self, controller: &DriveContext) -> bool {
        controller.check_media_rate
    }
    /// `fdrive_post_load()` revalidates the medium; the model records it.
    fn post_load(&mut self, _version_id: u32, controller: &DriveContext) -> Result<(), String> {
        self.loads.push(controller.check_media_rate);
        Ok(())
    }
}

/// Subsection `fdrive/media_changed`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "fdrive/media_changed", version = 1, minimum_version = 1)]
pub struct FDriveMediaChanged {
    /// The medium changed since the last read of DIR.
    pub media_changed: u8,
}

/// Subsection `fdrive/media_rate`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "fdrive/media_rate", version = 1, minimum_version = 1)]
pub struct FDriveMediaRate {
    /// The medium's data rate.
    pub media_rate: u8,
}

/// Subsection `fdrive/perpendicular`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "fdrive/perpendicular", version = 1, minimum_version = 1,
          needed = FDrivePerpendicular::is_needed)]
pub struct FDrivePerpendicular {
    /// Perpendicular recording mode.
    pub perpendicular: u8,
}

impl FDrivePerpendicular {
    fn is_needed(&self) -> bool {
        self.perpendicular != 0
    }
}

/// The controller: nested struct `fdc`, version 2, with three inline
/// subsections over its own state.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "fdc", version = 2, minimum_version = 2, default,
          pre_save = FdCtrl::pre_save, pre_load = FdCtrl::pre_load,
          post_load = FdCtrl::post_load)]
pub struct FdCtrl {
    /// Status register A.
    pub sra: u8,
    /// Status register B.
    pub srb: u8,
    /// DOR with the selected drive (`pre_save`: `dor | cur_drv`).
    pub dor_vmstate: u8,
    /// Tape drive register.
    pub tdr: u8,
    /// Data rate select register.
    pub dsr: u8,
    /// Main status register.
    pub msr: u8,
    /// Status register 0.
    pub status0: u8,
    /// Status register 1.
    pub status1: u8,
    /// Status register 2.
    pub status2: u8,
    /// The command FIFO: `fifo_size` bytes, a count that is not migrated.
    #[vmstate(len = fifo_size)]
    pub fifo: Box<[u8; FD_SECTOR_LEN as usize]>,
    /// FIFO position.
    pub data_pos: u32,
    /// FIFO length.
    pub data_len: u32,
    /// Transfer state.
    pub data_state: u8,
    /// Transfer direction.
    pub data_dir: u8,
    /// End of track.
    pub eot: u8,
    /// Timer setting kept for reading back.
    pub timer0: u8,
    /// Timer setting kept for reading back.
    pub timer1: u8,
    /// Precompensation track.
    pub precomp_trk: u8,
    /// Configuration byte.
    pub config: u8,
    /// Lock.
    pub lock: u8,
    /// Power down.
    pub pwrd: u8,
    /// Drives the controller has (must equal on both sides).
    #[vmstate(equal, default = MAX_FD as u8)]
    pub num_floppies: u8,
    /// The drives, with the controller's configuration as their context
    /// (`VMSTATE_STRUCT_ARRAY(drives, FDCtrl, MAX_FD, 1, ..)`).
    #[vmstate(since = 1, context = DriveContext { check_media_rate: self.check_media_rate })]
    pub drives: [FDrive; MAX_FD],

    #[vmstate(subsection = "fdc/reset_sensei", version = 1, minimum_version = 1,
              needed = FdCtrl::reset_sensei_needed)]
    _reset_sensei: (),
    /// Sense interrupt status commands still expected after a reset.
    pub reset_sensei: i32,

    #[vmstate(subsection = "fdc/result_timer", version = 1, minimum_version = 1,
              needed = FdCtrl::result_timer_needed)]
    _result_timer: (),
    /// The result phase timer.
    pub result_timer: Timer,

    #[vmstate(subsection = "fdc/phase", version = 1, minimum_version = 1,
              needed = FdCtrl::phase_needed)]
    _phase: (),
    /// The command phase (`FD_PHASE_*`).
    #[vmstate(default = phase::COMMAND)]
    pub phase: u8,

    /// Size of the command FIFO (set at realize, not migrated).
    #[vmstate(skip, default = FD_SECTOR_LEN)]
    pub fifo_size: i32,
    /// The `check_media_rate` property (default on).
    #[vmstate(skip, default = true)]
    pub check_media_rate: bool,
    /// Digital output register without the drive select bits.
    #[vmstate(skip)]
    pub dor: u8,
    /// The selected drive.
    #[vmstate(skip)]
    pub cur_drv: u8,
}

impl FdCtrl {
    /// `reconstruct_phase()`: the phase as QEMU 2.3 derived it from the
    /// registers (part of the migration ABI).
    pub fn reconstruct_phase(&self) -> u8 {
        if self.msr & FD_MSR_NONDMA != 0 || self.msr & FD_MSR_RQM == 0 {
            phase::EXECUTION
        } else if self.msr & FD_MSR_DIO != 0 {
            phase::RESULT
        } else {
            phase::COMMAND
        }
    }
    fn reset_sensei_needed(&self) -> bool {
        self.reset_sensei != 0
    }
    fn result_timer_needed(&self) -> bool {
        self.result_timer.is_armed()
    }
    fn phase_needed(&self) -> bool {
        self.reconstruct_phase() != self.phase
    }
    /// `fdc_pre_save()`.
    fn pre_save(&mut self) -> Result<(), String> {
        self.dor_vmstate = self.dor | self.cur_drv;
        Ok(())
    }
    /// `fdc_pre_load()`.
    fn pre_load(&mut self) -> Result<(), String> {
        self.phase = phase::RECONSTRUCT;
        Ok(())
    }
    /// `fdc_post_load()`.
    fn post_load(&mut self, _version_id: u32) -> Result<(), String> {
        self.cur_drv = self.dor_vmstate & FD_DOR_SELMASK;
        self.dor = self.dor_vmstate & !FD_DOR_SELMASK;
        if self.phase == phase::RECONSTRUCT {
            self.phase = self.reconstruct_phase();
        }
        Ok(())
    }
}

/// The ISA floppy controller: section `fdc`, version 2.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "fdc", version = 2, minimum_version = 2)]
pub struct IsaFdc {
    /// The controller.
    pub state: FdCtrl,
}
