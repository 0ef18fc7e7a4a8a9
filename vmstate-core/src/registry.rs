//! The savevm side: a registry of device states that saves and loads whole
//! migration streams, as QEMU's `migration/savevm.c` does.
//!
//! [`Registry::load_with`] reads a real QEMU stream with the library's
//! [`StreamDecoder`]: device sections go into the registered states (all or
//! nothing), RAM goes to a [`RamSink`] the VMM implements over its guest
//! memory, and so do the items of the other iterative sections
//! ([`RamSink::iterative_item`]: `spapr/htab`, `s390-storage_attributes`,
//! `dirty-bitmap`); [`DiscardRam`] drops both. A section no state is registered
//! for fails with QEMU's message, or, with [`LoadOptions::keep_unknown`], is
//! decoded with the stream's vmdesc and returned as a [`DynamicState`] in the
//! [`LoadReport`]. [`Registry::load`] is the same for streams without RAM.
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
use std::cell::Cell;

use qemufile::ram::{RamBlock, RamConfig, RamItem, RamKind, RamRecord};
use qemufile::stream::{
    Command, ConfigSubsection, Configuration, IdStr, SectionHeader, StreamOptions, StreamWriter,
    Vmdesc,
};
use qemufile::{QemuRead, QemuWrite};

use crate::dynamic::{DynamicState, WalkCost};
use crate::json::JsonWriter;
use crate::stream::{Event, IterativeKind, SectionItem, StreamDecoder, StreamSchema};
use crate::vmdesc::save_with_vmdesc;
use crate::{Description, Error, Result, VmState};

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
    /// Loads the body of the section `decoder` just announced
    /// ([`Event::Section`]) into a copy of the state, for
    /// [`commit`](SectionState::commit) once the whole stream loaded; the
    /// state itself is unchanged. Also returns the bytes of memory the copy
    /// holds (the state and what the load grew in it).
    fn stage_section(
        &self,
        decoder: &mut RegistryDecoder<'_, '_, '_>,
    ) -> Result<(Box<dyn Any>, u64)>;
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

    fn stage_section(
        &self,
        decoder: &mut RegistryDecoder<'_, '_, '_>,
    ) -> Result<(Box<dyn Any>, u64)> {
        let mut copy = self.clone();
        let grown = decoder.load_section(&mut copy)?;
        let memory = grown.saturating_add(std::mem::size_of::<T>() as u64);
        Ok((Box::new(copy), memory))
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

    /// Loads a complete stream of device sections into the registered
    /// devices: [`load_with`](Self::load_with) with the default
    /// [`LoadOptions`] and no RAM.
    ///
    /// A stream that carries RAM (a `ram` section) is refused at that
    /// section: the registry has nowhere to put it. Give a [`RamSink`] to
    /// [`load_with`](Self::load_with) ([`DiscardRam`] to drop it).
    pub fn load<R: QemuRead>(&mut self, input: R, settings: &StreamSettings) -> Result<()> {
        self.load_with(input, settings, &mut RefuseRam, &LoadOptions::default())
            .map(drop)
    }

    /// Loads a complete stream, as QEMU's `qemu_loadvm_state` does: the
    /// header and configuration are checked against `settings`, every FULL
    /// device section is loaded into the registered state with its idstr and
    /// instance id, RAM goes to `ram`, commands are checked, and the stream
    /// ends with EOF (and the vmdesc, if any).
    ///
    /// * **All or nothing** for the registered states: each section is loaded
    ///   into a copy; the states are replaced only when the whole stream,
    ///   footers and EOF included, loaded (a truncated vmdesc after EOF is
    ///   only a [warning](LoadReport::warnings), as in QEMU). RAM cannot be
    ///   staged: `ram` sees
    ///   the pages as they arrive, and after a failed load guest memory holds
    ///   part of the stream (as in QEMU).
    /// * **A section no state is registered for** fails with QEMU's message
    ///   ("Unknown savevm section or instance '…' N. Make sure that your
    ///   current VM setup matches your saved VM setup, including any
    ///   hotplugged devices") at the offset of its header; with
    ///   [`LoadOptions::keep_unknown`] it is decoded with
    ///   [`LoadOptions::schema`] and returned in the report as a
    ///   [`DynamicState`].
    /// * **Errors** carry the offset of the item at fault (a section header,
    ///   a field, a footer, a RAM record) and the section they happened in.
    ///
    /// Postcopy is not supported: the postcopy commands (`POSTCOPY_LISTEN`,
    /// `POSTCOPY_RUN`, `PACKAGED`, ...) fail at the command.
    pub fn load_with<'s, 'd, R: QemuRead>(
        &mut self,
        input: R,
        settings: &StreamSettings,
        ram: &mut dyn RamSink,
        options: &LoadOptions<'s, 'd>,
    ) -> Result<LoadReport<'d>> {
        if options.keep_unknown && options.schema.is_none() {
            return Err(Error::msg(
                "LoadOptions::keep_unknown needs LoadOptions::schema: sections with no \
                 registered state are decoded with the stream's vmdesc",
            ));
        }
        let start = input.position();
        let in_body = Cell::new(false);
        let mut input = StickyEof {
            inner: input,
            armed: &in_body,
        };
        let reader: &mut dyn QemuRead = &mut input;
        let mut dec = StreamDecoder::open_with_limits(reader, options.schema, options.limits)?;
        check_configuration(&mut dec, settings, start + 8)?;
        let mut report = LoadReport {
            configuration: dec.configuration().cloned(),
            loaded: Vec::new(),
            kept: Vec::new(),
            not_in_stream: Vec::new(),
            ram: RamStats::default(),
            iterative_sections: 0,
            commands: Vec::new(),
            vmdesc: Vmdesc::Absent { found: None },
            warnings: Vec::new(),
        };
        let mut staged: Vec<(usize, Box<dyn Any>)> = Vec::new();
        // Memory held until the load commits: staged copies and kept sections.
        let mut held: u64 = 0;
        let mut hold = |bytes: u64, h: &SectionHeader, at: u64| -> Result<()> {
            held = held.saturating_add(bytes);
            options
                .limits
                .check(crate::Limit::StreamMemory, held, || {
                    "the sections loaded so far, held until the whole stream has loaded".to_owned()
                })
                .map_err(|e| {
                    Error::from(e)
                        .at_offset(at)
                        .in_section(&h.idstr.to_string_lossy(), h.instance_id)
                })
        };
        let mut ram_load = RamLoad::default();
        loop {
            // Where the next item starts: after the unread payload, if any.
            let next = dec.position() + dec.payload_remaining();
            let eof_next = ram_load.header.is_none()
                && dec.get_mut().peek_u8(0)? == Some(qemufile::stream::EOF);
            let event = match dec.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => break,
                // After EOF QEMU reads the vmdesc only to drain it, once the
                // load has succeeded: a truncated one does not fail it.
                Err(e) if eof_next && e.offset().is_some_and(|at| at > next) => {
                    report
                        .warnings
                        .push(format!("the vmdesc after EOF is unreadable: {e}"));
                    break;
                }
                Err(e) => return Err(e),
            };
            match event {
                Event::Section(h) => {
                    let at = dec.current_section().map_or(next, |(_, at)| *at);
                    let index = self.entries.iter().position(|e| {
                        e.idstr.as_bytes() == h.idstr.as_bytes() && e.instance_id == h.instance_id
                    });
                    match index {
                        Some(index) => {
                            let local = self.entries[index].state.description().version_id;
                            if h.version_id > local {
                                return Err(Error::msg(format!(
                                    "unsupported version {} for '{}' v{local}",
                                    h.version_id,
                                    h.idstr.to_string_lossy()
                                ))
                                .at_offset(at)
                                .in_section(&h.idstr.to_string_lossy(), h.instance_id));
                            }
                            in_body.set(true);
                            let copy = self.entries[index].state.stage_section(&mut dec);
                            in_body.set(false);
                            let (copy, memory) = copy?;
                            hold(memory, &h, at)?;
                            staged.push((index, copy));
                            report.loaded.push(LoadedSection {
                                header: h.clone(),
                                offset: at,
                            });
                        }
                        None if options.keep_unknown => {
                            in_body.set(true);
                            let state = dec.decode_section();
                            in_body.set(false);
                            let state = state?;
                            hold(WalkCost::of(state.description()).memory, &h, at)?;
                            report.kept.push(KeptSection {
                                header: h.clone(),
                                offset: at,
                                state,
                            });
                        }
                        None => {
                            return Err(Error::msg(format!(
                                "Unknown savevm section or instance '{}' {}. Make sure that \
                                 your current VM setup matches your saved VM setup, including \
                                 any hotplugged devices",
                                h.idstr.to_string_lossy(),
                                h.instance_id
                            ))
                            .at_offset(at));
                        }
                    }
                    check_footers(&mut dec, settings, &h)?;
                }
                Event::IterativeHeader(h) => {
                    let at = dec.current_section().map_or(next, |(_, at)| *at);
                    if IterativeKind::of(h.idstr.as_bytes()) != IterativeKind::Ram {
                        report.iterative_sections += 1;
                        ram_load.header = Some(h);
                        continue;
                    }
                    report.ram.sections += 1;
                    ram.section(&h, dec.ram_config())
                        .map_err(|e| e.at_offset(at).in_section(RAM, 0))?;
                    ram_load.header = Some(h);
                }
                Event::Item(SectionItem::Ram(item)) => {
                    ram_load
                        .item(&mut dec, ram, &item, &mut report.ram)
                        .map_err(|e| e.at_offset(next).in_section(RAM, 0))?;
                }
                Event::Item(item) => {
                    let Some(h) = ram_load.header.as_ref() else {
                        return Err(Error::msg("an iterative item outside an iterative section")
                            .at_offset(next));
                    };
                    let (idstr, instance) = (h.idstr.to_string_lossy(), h.instance_id);
                    ram.iterative_item(h, &item, &mut RamPayload { source: &mut dec })
                        .map_err(|e| e.at_offset(next).in_section(&idstr, instance))?;
                }
                Event::IterativeEnd => {
                    if let Some(h) = ram_load.header.take() {
                        check_footers(&mut dec, settings, &h)?;
                    }
                }
                Event::Command(c) => {
                    check_command(&c).map_err(|e| e.at_offset(next))?;
                    report.commands.push(c);
                }
                Event::Eof(vmdesc) => report.vmdesc = vmdesc,
            }
        }
        for (index, copy) in staged {
            self.entries[index].state.commit(copy);
        }
        report.not_in_stream = self
            .entries
            .iter()
            .filter(|e| {
                !report.loaded.iter().any(|l| {
                    l.header.idstr.as_bytes() == e.idstr.as_bytes()
                        && l.header.instance_id == e.instance_id
                })
            })
            .map(|e| Registered {
                idstr: e.idstr.clone(),
                instance_id: e.instance_id,
                section_id: e.section_id,
            })
            .collect();
        Ok(report)
    }
}

/// The idstr of QEMU's RAM section.
const RAM: &str = "ram";

/// The registry's stream decoder: over a type-erased input, so that device
/// states of any type read their section bodies from the one decoder.
pub type RegistryDecoder<'s, 'd, 'r> = StreamDecoder<'s, 'd, &'r mut dyn QemuRead>;

/// What to do while loading, beyond the stream settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions<'s, 'd> {
    /// Keep sections no registered state matches, decoded with
    /// [`schema`](Self::schema), in [`LoadReport::kept`], instead of failing
    /// with QEMU's "Unknown savevm section or instance" (the default).
    pub keep_unknown: bool,
    /// The run-time description of the stream's sections: its own vmdesc
    /// ([`StreamSchema::from_stream`] on a whole stream in memory) or one
    /// from elsewhere (a `vmstate desc` file of the same VM setup, for a
    /// stream that arrives on a socket). Needed by
    /// [`keep_unknown`](Self::keep_unknown); its `page_size` is the RAM page
    /// size when the configuration has no `target-page-bits`.
    pub schema: Option<&'s StreamSchema<'d>>,
    /// What the load may cost: the stream reader's bounds, the memory each
    /// section's load may create, and the memory of all staged and kept
    /// sections together ([`Limits::stream_memory`](crate::Limits::stream_memory)).
    pub limits: crate::Limits,
}

impl<'s, 'd> LoadOptions<'s, 'd> {
    /// Keep the sections no registered state matches, decoded with `schema`.
    pub fn keeping_unknown(schema: &'s StreamSchema<'d>) -> Self {
        LoadOptions {
            keep_unknown: true,
            schema: Some(schema),
            limits: crate::Limits::DEFAULT,
        }
    }
}

/// A section of the stream loaded into a registered state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedSection {
    /// Its header, as in the stream.
    pub header: SectionHeader,
    /// Offset of its header's type byte.
    pub offset: u64,
}

/// A section no registered state matched, kept with
/// [`LoadOptions::keep_unknown`].
#[derive(Debug, Clone, PartialEq)]
pub struct KeptSection<'d> {
    /// Its header, as in the stream.
    pub header: SectionHeader,
    /// Offset of its header's type byte.
    pub offset: u64,
    /// Its body, decoded with the stream's vmdesc.
    pub state: DynamicState<'d>,
}

/// How much RAM a load saw (whatever the sink did with it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RamStats {
    /// `ram` sections (START, PART, END).
    pub sections: u64,
    /// The total RAM size of the last `MEM_SIZE` record.
    pub total: u64,
    /// Entries of the block list.
    pub blocks: u64,
    /// Blocks with a mapped-ram region.
    pub mapped_regions: u64,
    /// Data pages (`PAGE` records).
    pub pages: u64,
    /// Zero pages (`ZERO` records).
    pub zero_pages: u64,
    /// XBZRLE pages.
    pub xbzrle_pages: u64,
}

/// What a successful [`Registry::load_with`] found in the stream.
#[derive(Debug, Clone)]
pub struct LoadReport<'d> {
    /// The configuration section, if the stream has one.
    pub configuration: Option<Configuration>,
    /// The sections loaded into registered states, in stream order.
    pub loaded: Vec<LoadedSection>,
    /// The sections no registered state matched, in stream order (only with
    /// [`LoadOptions::keep_unknown`]).
    pub kept: Vec<KeptSection<'d>>,
    /// The registered states no section of the stream was for: they are
    /// unchanged (QEMU leaves such devices in their reset state).
    pub not_in_stream: Vec<Registered>,
    /// The RAM the stream carried.
    pub ram: RamStats,
    /// Parts (START, PART, END) of iterative sections other than RAM
    /// (`spapr/htab`, `s390-storage_attributes`, `dirty-bitmap`, unknown
    /// ones): their items went to [`RamSink::iterative_item`].
    pub iterative_sections: u64,
    /// The commands of the stream, in order.
    pub commands: Vec<Command>,
    /// The trailer after EOF (absent also when it could not be read).
    pub vmdesc: Vmdesc,
    /// What QEMU would load but warn about (a truncated vmdesc).
    pub warnings: Vec<String>,
}

impl<'d> LoadReport<'d> {
    /// The kept section `idstr` instance `instance_id`, if any.
    pub fn kept_section(&self, idstr: &str, instance_id: u32) -> Option<&KeptSection<'d>> {
        self.kept.iter().find(|k| {
            k.header.idstr.as_bytes() == idstr.as_bytes() && k.header.instance_id == instance_id
        })
    }
}

/// Where the RAM of a stream goes: implemented by the VMM over its guest
/// memory, called by [`Registry::load_with`] for every RAM item in stream
/// order.
///
/// The registry checks what it can before calling: a page names a block of
/// the stream's block list (else QEMU's `Unknown ramblock "…", cannot accept
/// migration`) and its offset is inside that block's length (else `Illegal
/// RAM offset`); a zero page's fill byte is 0 (else `Found a zero page with
/// value N`). The sink checks the stream's blocks against the VM's own
/// ([`block`](Self::block)). Offsets are page aligned; as in QEMU a page at
/// the end of a block whose length is not a page multiple reaches past it.
///
/// A payload the sink does not read is skipped. An error stops the load; it
/// gets the offset of the RAM record unless it has one.
///
/// ```no_run
/// use qemufile::ram::RamBlock;
/// use qemufile::stream::IdStr;
/// use vmstate_core::registry::{RamPayload, RamSink, Registry, LoadOptions, StreamSettings};
/// use vmstate_core::{Error, Result};
///
/// /// Guest RAM: one buffer per block.
/// struct GuestRam(Vec<(IdStr, Vec<u8>)>);
///
/// impl GuestRam {
///     fn page(&mut self, block: &IdStr, offset: u64, len: u64) -> Result<&mut [u8]> {
///         let (_, mem) = self.0.iter_mut().find(|(name, _)| name == block)
///             .ok_or_else(|| Error::msg(format!("Unknown ramblock \"{block}\"")))?;
///         let (start, end) = (offset as usize, (offset + len) as usize);
///         mem.get_mut(start..end).ok_or_else(|| Error::msg("Illegal RAM offset"))
///     }
/// }
///
/// impl RamSink for GuestRam {
///     fn block(&mut self, block: &RamBlock, _region: &mut RamPayload<'_>) -> Result<()> {
///         match self.0.iter().find(|(name, _)| *name == block.name) {
///             Some((_, mem)) if mem.len() as u64 == block.length => Ok(()),
///             _ => Err(Error::msg(format!("no block {} of {:#x} bytes", block.name, block.length))),
///         }
///     }
///     fn zero_page(&mut self, block: &IdStr, offset: u64) -> Result<()> {
///         self.page(block, offset, 4096)?.fill(0);
///         Ok(())
///     }
///     fn page(&mut self, block: &IdStr, offset: u64, data: &mut RamPayload<'_>) -> Result<()> {
///         let len = data.remaining();
///         data.read(self.page(block, offset, len)?) // straight into guest memory
///     }
/// }
///
/// let bytes = std::fs::read("x86-pc-min.mig")?;
/// let mut ram = GuestRam(vec![(IdStr::try_from("pc.ram")?, vec![0; 32 << 20])]);
/// let mut registry = Registry::new();
/// // ... register the devices ...
/// let settings = StreamSettings::new("pc-i440fx-10.0");
/// registry.load_with(qemufile::SliceReader::new(&bytes), &settings, &mut ram, &LoadOptions::default())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait RamSink {
    /// A `ram` section (START, PART or END) begins; `config` is the RAM
    /// format in effect (page size, mapped-ram).
    fn section(&mut self, header: &SectionHeader, config: &RamConfig) -> Result<()> {
        let _ = (header, config);
        Ok(())
    }

    /// `MEM_SIZE`: the total RAM size; the block list follows.
    fn mem_size(&mut self, total: u64) -> Result<()> {
        let _ = total;
        Ok(())
    }

    /// One entry of the block list. With mapped-ram its header is in
    /// [`RamBlock::mapped_ram`] and `region` is the block's file region (its
    /// dirty bitmap and pages at the header's file offsets: see
    /// [`RamPayload::seek_to`]); otherwise `region` is empty.
    fn block(&mut self, block: &RamBlock, region: &mut RamPayload<'_>) -> Result<()>;

    /// A page of `block` at `offset` whose bytes are all zero.
    fn zero_page(&mut self, block: &IdStr, offset: u64) -> Result<()>;

    /// A page of `block` at `offset`: `data` holds its page-size bytes.
    fn page(&mut self, block: &IdStr, offset: u64, data: &mut RamPayload<'_>) -> Result<()>;

    /// An item of another iterative section (`spapr/htab`,
    /// `s390-storage_attributes`, `dirty-bitmap`, or raw bytes of one this
    /// build does not know), with its payload in `data` where it has one
    /// (HPTE chunks, bitmap bytes, raw bytes). By default an error naming
    /// the section: a VMM that restores such state implements this (and
    /// [`DiscardRam`] drops it).
    fn iterative_item(
        &mut self,
        header: &SectionHeader,
        item: &SectionItem,
        data: &mut RamPayload<'_>,
    ) -> Result<()> {
        let _ = (item, data);
        Err(Error::msg(format!(
            "iterative section '{}' (id {}): this sink takes RAM only; implement \
             RamSink::iterative_item to restore it, or use DiscardRam to drop it",
            header.idstr.to_string_lossy(),
            header.section_id
        )))
    }

    /// An XBZRLE-encoded page of `block` at `offset` (`data` holds the
    /// encoded bytes, a delta against the page's current contents). By
    /// default an error: XBZRLE is not decoded here.
    fn xbzrle_page(&mut self, block: &IdStr, offset: u64, data: &mut RamPayload<'_>) -> Result<()> {
        let _ = data;
        Err(Error::msg(format!(
            "XBZRLE page at {offset:#x} of block \"{block}\": this RAM sink does not decode \
             XBZRLE"
        )))
    }

    /// The other records: `EOS` (the end of a section's RAM), `HOOK`,
    /// `MULTIFD_FLUSH`.
    fn record(&mut self, record: &RamRecord) -> Result<()> {
        let _ = record;
        Ok(())
    }
}

/// A sink that drops the RAM (the payloads are skipped, not copied).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscardRam;

impl RamSink for DiscardRam {
    fn iterative_item(
        &mut self,
        _: &SectionHeader,
        _: &SectionItem,
        _: &mut RamPayload<'_>,
    ) -> Result<()> {
        Ok(())
    }
    fn block(&mut self, _: &RamBlock, _: &mut RamPayload<'_>) -> Result<()> {
        Ok(())
    }
    fn zero_page(&mut self, _: &IdStr, _: u64) -> Result<()> {
        Ok(())
    }
    fn page(&mut self, _: &IdStr, _: u64, _: &mut RamPayload<'_>) -> Result<()> {
        Ok(())
    }
    fn xbzrle_page(&mut self, _: &IdStr, _: u64, _: &mut RamPayload<'_>) -> Result<()> {
        Ok(())
    }
}

/// [`Registry::load`]'s sink: no RAM expected.
struct RefuseRam;

impl RefuseRam {
    fn refuse() -> Error {
        Error::msg(
            "the stream carries RAM (section 'ram'), which Registry::load has nowhere to put: \
             load it with Registry::load_with and a RamSink (DiscardRam to drop it)",
        )
    }
}

impl RamSink for RefuseRam {
    fn section(&mut self, _: &SectionHeader, _: &RamConfig) -> Result<()> {
        Err(Self::refuse())
    }
    fn block(&mut self, _: &RamBlock, _: &mut RamPayload<'_>) -> Result<()> {
        Err(Self::refuse())
    }
    fn zero_page(&mut self, _: &IdStr, _: u64) -> Result<()> {
        Err(Self::refuse())
    }
    fn page(&mut self, _: &IdStr, _: u64, _: &mut RamPayload<'_>) -> Result<()> {
        Err(Self::refuse())
    }
}

/// The payload of one RAM item (a page, XBZRLE data, a mapped-ram region),
/// still in the stream: read it, in as many calls as wanted, straight into
/// guest memory.
pub struct RamPayload<'a> {
    source: &'a mut dyn PayloadSource,
}

impl std::fmt::Debug for RamPayload<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RamPayload")
            .field("offset", &self.offset())
            .field("remaining", &self.remaining())
            .finish()
    }
}

trait PayloadSource {
    fn remaining(&self) -> u64;
    fn offset(&self) -> u64;
    fn read(&mut self, buf: &mut [u8]) -> Result<()>;
}

impl<R: QemuRead> PayloadSource for StreamDecoder<'_, '_, R> {
    fn remaining(&self) -> u64 {
        self.payload_remaining()
    }
    fn offset(&self) -> u64 {
        self.position()
    }
    fn read(&mut self, buf: &mut [u8]) -> Result<()> {
        self.read_payload(buf)
    }
}

impl RamPayload<'_> {
    /// Bytes of the payload not read yet.
    pub fn remaining(&self) -> u64 {
        self.source.remaining()
    }

    /// Stream offset of the next payload byte (for mapped-ram, the file
    /// offset, when the stream was read from its start).
    pub fn offset(&self) -> u64 {
        self.source.offset()
    }

    /// Fills `buf` with the next `buf.len()` payload bytes; an error if the
    /// payload has fewer left.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<()> {
        if buf.len() as u64 > self.remaining() {
            return Err(Error::msg(format!(
                "RAM payload: {} byte(s) asked for, {} left",
                buf.len(),
                self.remaining()
            ))
            .at_offset(self.offset()));
        }
        self.source.read(buf)
    }

    /// Skips the next `n` payload bytes.
    pub fn skip(&mut self, n: u64) -> Result<()> {
        if n > self.remaining() {
            return Err(Error::msg(format!(
                "RAM payload: {n} byte(s) to skip, {} left",
                self.remaining()
            ))
            .at_offset(self.offset()));
        }
        let mut buf = [0u8; 8192];
        let mut left = n;
        while left > 0 {
            let step = left.min(buf.len() as u64) as usize;
            self.source.read(&mut buf[..step])?;
            left -= step as u64;
        }
        Ok(())
    }

    /// Skips to stream offset `offset`, at or after [`offset`](Self::offset)
    /// and inside the payload: for a mapped-ram region, to the block's
    /// bitmap (`bitmap_offset`) or to page `i` (`pages_offset + i *
    /// page_size`).
    pub fn seek_to(&mut self, offset: u64) -> Result<()> {
        let here = self.offset();
        let Some(n) = offset.checked_sub(here) else {
            return Err(Error::msg(format!(
                "RAM payload: cannot seek back to offset {offset} from {here}"
            ))
            .at_offset(here));
        };
        self.skip(n)
    }
}

/// The RAM side of a load: the block a CONTINUE record refers to (the
/// stream engine checks pages against the block list).
#[derive(Default)]
struct RamLoad {
    header: Option<SectionHeader>,
    last: Option<IdStr>,
}

impl RamLoad {
    fn item<R: QemuRead>(
        &mut self,
        dec: &mut StreamDecoder<'_, '_, R>,
        sink: &mut dyn RamSink,
        item: &RamItem,
        stats: &mut RamStats,
    ) -> Result<()> {
        let record = match item {
            RamItem::Block(block) => {
                stats.blocks += 1;
                if block.mapped_ram.is_some() {
                    stats.mapped_regions += 1;
                }
                return sink.block(block, &mut RamPayload { source: dec });
            }
            RamItem::Record(record) => record,
        };
        if let Some(name) = &record.block {
            self.last = Some(name.clone());
        }
        let page = matches!(
            record.kind,
            RamKind::Zero { .. } | RamKind::Page | RamKind::Xbzrle { .. }
        );
        if !page {
            if let RamKind::MemSize = record.kind {
                stats.total = record.addr;
                return sink.mem_size(record.addr);
            }
            return sink.record(record);
        }
        // The stream engine has checked the page against the block list
        // (QEMU's unknown ramblock, illegal offset and zero page checks).
        let Some(block) = self.last.clone() else {
            return Err(Error::msg("RAM page record without a block"));
        };
        match record.kind {
            RamKind::Zero { .. } => {
                stats.zero_pages += 1;
                sink.zero_page(&block, record.addr)
            }
            RamKind::Page => {
                stats.pages += 1;
                sink.page(&block, record.addr, &mut RamPayload { source: dec })
            }
            _ => {
                stats.xbzrle_pages += 1;
                sink.xbzrle_page(&block, record.addr, &mut RamPayload { source: dec })
            }
        }
    }
}

/// QEMU's checks of the configuration section against the local settings.
fn check_configuration<R: QemuRead>(
    dec: &mut StreamDecoder<'_, '_, R>,
    settings: &StreamSettings,
    at: u64,
) -> Result<()> {
    let Some(config) = dec.configuration() else {
        if settings.send_configuration {
            let found = dec.get_mut().peek_u8(0)?.unwrap_or(0);
            return Err(qemufile::Error::new(
                at,
                qemufile::ErrorKind::ConfigurationMissing { found },
            )
            .into());
        }
        return Ok(());
    };
    if !settings.send_configuration {
        // QEMU reads the byte as a section type.
        return Err(qemufile::Error::new(
            at,
            qemufile::ErrorKind::UnknownSectionType(qemufile::stream::CONFIGURATION),
        )
        .into());
    }
    if config.machine() != settings.machine.as_bytes() {
        return Err(Error::msg(format!(
            "Machine type received is '{}' and local is '{}'",
            String::from_utf8_lossy(config.machine()),
            settings.machine
        ))
        .at_offset(at));
    }
    if let Some(bits) = config.target_page_bits() {
        if Some(bits) != settings.target_page_bits {
            return Err(Error::msg(format!(
                "Received TARGET_PAGE_BITS is {bits} but local is {}",
                settings.target_page_bits.unwrap_or(12)
            ))
            .at_offset(at));
        }
    }
    Ok(())
}

/// After a section: the stream's footers must be as the settings say (the
/// decoder tells from the first section).
fn check_footers<R: QemuRead>(
    dec: &mut StreamDecoder<'_, '_, R>,
    settings: &StreamSettings,
    h: &SectionHeader,
) -> Result<()> {
    let has = dec.options().send_section_footer;
    if has == settings.send_section_footer {
        return Ok(());
    }
    let at = dec.position();
    let idstr = h.idstr.to_string_lossy();
    let e = if settings.send_section_footer {
        let found = dec.get_mut().peek_u8(0)?.unwrap_or(0);
        qemufile::Error::new(
            at,
            qemufile::ErrorKind::MissingFooter {
                idstr: idstr.clone(),
                found,
            },
        )
    } else {
        // Without footers QEMU reads the footer's 0x7e as a section type.
        qemufile::Error::new(
            at.saturating_sub(5),
            qemufile::ErrorKind::UnknownSectionType(qemufile::stream::SECTION_FOOTER),
        )
    };
    Err(Error::from(e).in_section(&idstr, h.instance_id))
}

/// The commands a load without postcopy, COLO or a return path can honour.
fn check_command(c: &Command) -> Result<()> {
    use qemufile::stream::{
        MIG_CMD_OPEN_RETURN_PATH, MIG_CMD_PING, MIG_CMD_POSTCOPY_ADVISE, MIG_CMD_SWITCHOVER_START,
    };
    match c.cmd {
        // Nothing to answer without a return path; ADVISE only announces
        // that postcopy may follow.
        MIG_CMD_OPEN_RETURN_PATH
        | MIG_CMD_PING
        | MIG_CMD_POSTCOPY_ADVISE
        | MIG_CMD_SWITCHOVER_START => Ok(()),
        other => Err(Error::msg(format!(
            "command {} ({other}) is not supported by Registry::load_with: postcopy, COLO and \
             recovery need a live destination",
            c.name().unwrap_or("unknown")
        ))),
    }
}

/// The input of a load, with QEMU's sticky end of file inside device
/// section bodies: there a footer or EOF always follows, so a peek that
/// runs out of input means the stream is truncated, and it fails (QEMU's
/// `qemu_peek_byte` sets the error that fails the load) instead of telling
/// the body's reader that nothing follows.
struct StickyEof<'c, R> {
    inner: R,
    armed: &'c Cell<bool>,
}

#[cold]
fn truncated(at: u64, needed: usize, available: usize) -> qemufile::Error {
    qemufile::Error::new(
        at,
        qemufile::ErrorKind::UnexpectedEof {
            needed: needed as u64,
            available: available as u64,
        },
    )
}

impl<R: QemuRead> QemuRead for StickyEof<'_, R> {
    fn position(&self) -> u64 {
        self.inner.position()
    }

    fn read_into(&mut self, buf: &mut [u8]) -> qemufile::Result<()> {
        self.inner.read_into(buf)
    }

    fn skip(&mut self, n: u64) -> qemufile::Result<()> {
        self.inner.skip(n)
    }

    // A run that does not fit is then read piece by piece, and fails at
    // the read that runs out.
    fn ready(&self) -> &[u8] {
        self.inner.ready()
    }
    fn read_if_available(&mut self, buf: &mut [u8]) -> qemufile::Result<bool> {
        self.inner.read_if_available(buf)
    }

    fn peek(&mut self, offset: usize, len: usize) -> qemufile::Result<&[u8]> {
        let (armed, at) = (self.armed.get(), self.inner.position() + offset as u64);
        let bytes = self.inner.peek(offset, len)?;
        if armed && bytes.len() < len {
            return Err(truncated(at, len, bytes.len()));
        }
        Ok(bytes)
    }

    fn peek_u8(&mut self, offset: usize) -> qemufile::Result<Option<u8>> {
        let b = self.inner.peek_u8(offset)?;
        if b.is_none() && self.armed.get() {
            return Err(truncated(self.inner.position() + offset as u64, 1, 0));
        }
        Ok(b)
    }
}
