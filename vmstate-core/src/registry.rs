//! The savevm side: a registry of device states that saves and loads whole
//! migration streams, as QEMU's `migration/savevm.c` does.
//!
//! ```
//! use vmstate_core::registry::{Registry, StreamSettings, Registration};
//! use vmstate_core::VmState;
//!
//! #[derive(VmState, Clone, Default, Debug, PartialEq)]
//! #[vmstate(name = "i8259", version = 1, minimum_version = 1)]
//! struct Pic { irr: u8, imr: u8 }
//!
//! let (mut master, mut slave) = (Pic { irr: 1, imr: 0xfb }, Pic::default());
//! let mut registry = Registry::new();
//! registry.register(&mut master, Registration::default())?; // instance 0
//! registry.register(&mut slave, Registration::default())?;  // instance 1
//! let mut stream = Vec::new();
//! registry.save(&mut stream, &StreamSettings::new("pc-i440fx-10.0"))?;
//! drop(registry);
//!
//! let (mut master2, mut slave2) = (Pic::default(), Pic::default());
//! let mut registry = Registry::new();
//! registry.register(&mut master2, Registration::default())?;
//! registry.register(&mut slave2, Registration::default())?;
//! registry.load(qemufile::SliceReader::new(&stream), &StreamSettings::new("pc-i440fx-10.0"))?;
//! drop(registry);
//! assert_eq!(master2, master);
//! # Ok::<(), vmstate_core::Error>(())
//! ```

use std::any::Any;

use qemufile::stream::{
    ConfigSubsection, Configuration, Item, SectionHeader, SectionKind, StreamOptions, StreamReader,
    StreamWriter,
};
use qemufile::{QemuRead, QemuWrite};

use crate::json::JsonWriter;
use crate::vmdesc::save_with_vmdesc;
use crate::{Description, Error, InputVisitor, Result, VmState, visit_struct_at};

/// Save order (QEMU's `MigrationPriority`): sections of higher priority are
/// saved, and so loaded, earlier; equal priorities keep registration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    /// `MIG_PRI_LOW`.
    Low,
    /// `MIG_PRI_DEFAULT`.
    #[default]
    Default,
    /// `MIG_PRI_IOMMU`: IOMMUs before the devices behind them.
    Iommu,
    /// `MIG_PRI_PCI_BUS`.
    PciBus,
    /// `MIG_PRI_VIRTIO_MEM`.
    VirtioMem,
    /// `MIG_PRI_APIC`.
    Apic,
    /// `MIG_PRI_GICV3_ITS`.
    GicV3Its,
    /// `MIG_PRI_GICV3`.
    GicV3,
}

/// How a device is registered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registration {
    /// The qdev path (`"0000:00:01.0"`): the idstr becomes `path/name`, and
    /// the instance id 0.
    pub qdev_path: Option<String>,
    /// An explicit instance id; `None` assigns one past the highest in use
    /// for the same idstr, from 0 (QEMU's `VMSTATE_INSTANCE_ID_ANY`).
    pub instance_id: Option<u32>,
    /// Save order.
    pub priority: Priority,
}

/// A device state the registry can save and load, whatever its type: what a
/// `#[derive(VmState)]` type with `Clone` becomes behind a trait object.
pub trait SectionState {
    /// The device's description.
    fn description(&self) -> &'static Description<'static>;
    /// Whether the section is sent at all (a top-level `needed`).
    fn needed(&self) -> bool;
    /// Saves the body into `out` and returns its vmdesc keys.
    fn save_body(&mut self, out: &mut Vec<u8>) -> Result<String>;
    /// Loads a body saved at `version_id` into a copy of the state, for
    /// [`commit`](SectionState::commit) once the whole stream loaded.
    fn stage(&self, input: &mut dyn QemuRead, version_id: u32) -> Result<Box<dyn Any>>;
    /// Replaces the state with a staged copy.
    fn commit(&mut self, staged: Box<dyn Any>);
}

impl<T: VmState + Clone + 'static> SectionState for T {
    fn description(&self) -> &'static Description<'static> {
        T::DESCRIPTION
    }

    fn needed(&self) -> bool {
        VmState::needed(self)
    }

    fn save_body(&mut self, out: &mut Vec<u8>) -> Result<String> {
        save_with_vmdesc(self, out)
    }

    fn stage(&self, input: &mut dyn QemuRead, version_id: u32) -> Result<Box<dyn Any>> {
        let mut scratch = self.clone();
        let mut v = InputVisitor::new(input);
        visit_struct_at(&mut scratch, &mut v, T::DESCRIPTION.name, version_id)
            .map_err(|e| e.within(crate::PathSegment::Root(T::DESCRIPTION.name.into())))?;
        Ok(Box::new(scratch))
    }

    fn commit(&mut self, staged: Box<dyn Any>) {
        if let Ok(staged) = staged.downcast::<T>() {
            *self = *staged;
        }
    }
}

/// What a stream says about the machine, and how it is framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    /// The machine type (`"pc-i440fx-10.0"`): written in the configuration
    /// section; on load, the stream's must be the same.
    pub machine: String,
    /// `configuration/target-page-bits`, for variable-page-size targets (ARM: 12).
    pub target_page_bits: Option<u32>,
    /// The target page size written in the vmdesc (`page_size`).
    pub page_size: u64,
    /// Write and expect the configuration section (QEMU's `send-configuration`).
    pub send_configuration: bool,
    /// Write and expect section footers (QEMU's `send-section-footer`).
    pub send_section_footer: bool,
    /// Write the vmdesc JSON after EOF.
    pub send_vmdesc: bool,
    /// Write the `SWITCHOVER_START` command before the device sections, as
    /// QEMU 10.0 machine types do.
    pub switchover_start: bool,
}

impl StreamSettings {
    /// Settings for machine type `machine`, with QEMU's defaults: configuration,
    /// footers and vmdesc on, 4 KiB pages, no switchover command.
    pub fn new(machine: &str) -> Self {
        StreamSettings {
            machine: machine.to_owned(),
            target_page_bits: None,
            page_size: 4096,
            send_configuration: true,
            send_section_footer: true,
            send_vmdesc: true,
            switchover_start: false,
        }
    }

    fn options(&self) -> StreamOptions {
        StreamOptions {
            send_configuration: self.send_configuration,
            send_section_footer: self.send_section_footer,
            ..StreamOptions::default()
        }
    }
}

struct Entry<'a> {
    idstr: String,
    instance_id: u32,
    section_id: u32,
    priority: Priority,
    state: &'a mut dyn SectionState,
}

/// Devices registered for one save or load, borrowed from the VMM.
///
/// Section ids are assigned in registration order, as QEMU assigns them at
/// registration; register devices in the same order on both sides.
#[derive(Default)]
pub struct Registry<'a> {
    entries: Vec<Entry<'a>>,
    next_section_id: u32,
}

impl std::fmt::Debug for Registry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.entries
                    .iter()
                    .map(|e| (&e.idstr, e.instance_id, e.section_id)),
            )
            .finish()
    }
}

/// Where a registered device ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The section's idstr.
    pub idstr: String,
    /// The instance id.
    pub instance_id: u32,
    /// The section id.
    pub section_id: u32,
}

impl<'a> Registry<'a> {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers a device state, like QEMU's `vmstate_register_with_alias_id`.
    pub fn register(
        &mut self,
        state: &'a mut dyn SectionState,
        how: Registration,
    ) -> Result<Registered> {
        let name = state.description().name;
        let idstr = match &how.qdev_path {
            Some(path) => format!("{path}/{name}"),
            None => name.to_owned(),
        };
        if idstr.len() > 255 {
            return Err(Error::msg(format!(
                "Path too long for VMState ({idstr}): idstrs are at most 255 bytes"
            )));
        }
        let instance_id = match (how.instance_id, &how.qdev_path) {
            (Some(id), _) => id,
            (None, Some(_)) => 0,
            (None, None) => self
                .entries
                .iter()
                .filter(|e| e.idstr == idstr)
                .map(|e| e.instance_id.saturating_add(1))
                .max()
                .unwrap_or(0),
        };
        if self
            .entries
            .iter()
            .any(|e| e.idstr == idstr && e.instance_id == instance_id)
        {
            return Err(Error::msg(format!(
                "Detected duplicate SaveStateEntry: id={idstr}, instance_id={instance_id:#x}"
            )));
        }
        let section_id = self.next_section_id;
        self.next_section_id += 1;
        // Higher priority first; equal priorities in registration order.
        let at = self
            .entries
            .iter()
            .position(|e| e.priority < how.priority)
            .unwrap_or(self.entries.len());
        self.entries.insert(
            at,
            Entry {
                idstr: idstr.clone(),
                instance_id,
                section_id,
                priority: how.priority,
                state,
            },
        );
        Ok(Registered {
            idstr,
            instance_id,
            section_id,
        })
    }

    /// Saves a complete stream: header, configuration, one FULL section per
    /// needed device in priority order, EOF and the vmdesc, exactly as QEMU
    /// frames them.
    pub fn save<W: QemuWrite>(&mut self, out: W, settings: &StreamSettings) -> Result<()> {
        let mut w = StreamWriter::new(out, settings.options());
        w.write_header()?;
        let mut desc = JsonWriter::new();
        desc.start_object(None);
        if settings.send_configuration {
            let mut config = Configuration::new(settings.machine.as_bytes().to_vec());
            if let Some(bits) = settings.target_page_bits {
                config
                    .subsections
                    .push(ConfigSubsection::TargetPageBits { version: 1, bits });
            }
            w.write_configuration(&config)?;
            desc.start_object(Some("configuration"));
            desc.str(Some("vmsd_name"), "configuration");
            desc.int(Some("version"), 1);
            desc.start_array(Some("fields"));
            for (name, ty, size) in [
                ("len", "uint32", 4),
                ("name", "buffer", settings.machine.len() as i64),
            ] {
                desc.start_object(None);
                desc.str(Some("name"), name);
                desc.str(Some("type"), ty);
                desc.int(Some("size"), size);
                desc.end_object();
            }
            desc.end_array();
            if settings.target_page_bits.is_some() {
                desc.start_array(Some("subsections"));
                desc.start_object(None);
                desc.str(Some("vmsd_name"), "configuration/target-page-bits");
                desc.int(Some("version"), 1);
                desc.start_array(Some("fields"));
                desc.start_object(None);
                desc.str(Some("name"), "target_page_bits");
                desc.str(Some("type"), "uint32");
                desc.int(Some("size"), 4);
                desc.end_object();
                desc.end_array();
                desc.end_object();
                desc.end_array();
            }
            desc.end_object();
        }
        if settings.switchover_start {
            w.write_command(&qemufile::stream::Command::switchover_start())?;
        }
        desc.int(Some("page_size"), settings.page_size as i64);
        desc.start_array(Some("devices"));
        let mut body = Vec::new();
        for e in &mut self.entries {
            if !e.state.needed() {
                continue;
            }
            let d = e.state.description();
            body.clear();
            let keys = e
                .state
                .save_body(&mut body)
                .map_err(|err| err.in_section(&e.idstr, e.instance_id))?;
            let header = SectionHeader::full(e.section_id, &e.idstr, e.instance_id, d.version_id)?;
            w.write_section_header(&header)?;
            w.body().put_bytes(&body)?;
            w.write_section_footer()?;
            desc.start_object(None);
            desc.str(Some("name"), &e.idstr);
            desc.int(Some("instance_id"), i64::from(e.instance_id));
            desc.raw_members(&keys);
            desc.end_object();
        }
        desc.end_array();
        desc.end_object();
        w.write_eof()?;
        if settings.send_vmdesc {
            w.write_vmdesc(desc.as_str().as_bytes())?;
        }
        Ok(())
    }

    /// Loads a complete stream into the registered devices.
    ///
    /// Transactional: every section is loaded into a copy; the devices are
    /// replaced only when the whole stream, footers and EOF included, loaded.
    /// Errors name QEMU's problem (unknown section, unsupported version,
    /// machine type mismatch, footer mismatch) with the byte offset.
    pub fn load<R: QemuRead>(&mut self, input: R, settings: &StreamSettings) -> Result<()> {
        let mut r = StreamReader::open(input, settings.options())?;
        if let Some(config) = r.configuration() {
            if config.machine() != settings.machine.as_bytes() {
                return Err(Error::msg(format!(
                    "Machine type received is '{}' and local is '{}'",
                    String::from_utf8_lossy(config.machine()),
                    settings.machine
                )));
            }
            if config.target_page_bits() != settings.target_page_bits
                && config.target_page_bits().is_some()
            {
                return Err(Error::msg(format!(
                    "Received TARGET_PAGE_BITS is {} but local is {}",
                    config.target_page_bits().unwrap_or(0),
                    settings.target_page_bits.unwrap_or(12)
                )));
            }
        }
        let mut staged: Vec<(usize, Box<dyn Any>)> = Vec::new();
        loop {
            let at = r.item_offset();
            match r.next_item()? {
                Item::Eof => break,
                Item::Command(_) => {}
                Item::Section(h) => {
                    let idstr = h.idstr.to_string_lossy();
                    if !matches!(h.kind, SectionKind::Full) {
                        return Err(Error::msg(format!(
                            "section '{idstr}' is iterative (START/PART/END), which this \
                             registry does not handle"
                        ))
                        .at_offset(at));
                    }
                    let Some(index) = self
                        .entries
                        .iter()
                        .position(|e| e.idstr == idstr && e.instance_id == h.instance_id)
                    else {
                        return Err(Error::msg(format!(
                            "Unknown savevm section or instance '{idstr}' {}. Make sure that \
                             your current VM setup matches your saved VM setup, including any \
                             hotplugged devices",
                            h.instance_id
                        ))
                        .at_offset(at));
                    };
                    let local = self.entries[index].state.description().version_id;
                    if h.version_id > local {
                        return Err(Error::msg(format!(
                            "unsupported version {} for '{idstr}' v{local}",
                            h.version_id
                        ))
                        .at_offset(at));
                    }
                    let mut body: &mut dyn QemuRead = r.body();
                    let copy = self.entries[index]
                        .state
                        .stage(&mut body, h.version_id)
                        .map_err(|e| e.in_section(&idstr, h.instance_id))?;
                    r.finish_section()?;
                    staged.push((index, copy));
                }
            }
        }
        let _ = r.read_vmdesc()?;
        for (index, copy) in staged {
            self.entries[index].state.commit(copy);
        }
        Ok(())
    }
}
