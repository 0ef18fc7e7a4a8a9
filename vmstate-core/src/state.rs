//! [`VmState`]: a struct with a VMState description, and the walk QEMU's
//! `vmstate_save_vmsd`/`vmstate_load_vmsd` perform over it.

use std::borrow::Cow;

use crate::{Description, Error, ErrorKind, Name, PathSegment, Result, VersionContext, Visitor};

/// A struct with a VMState description: what `#[derive(VmState)]` implements.
///
/// A type implementing it can be saved and loaded as a device section body, be
/// nested in another (a `struct` field), or be a subsection of another.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a VmState struct",
    label = "needs #[derive(VmState)]",
    note = "`subsection`, `struct_version` and `tmp` need a struct with #[derive(VmState)]; a struct with #[vmstate(context = C)] is walked by its parent, which passes the context (or alone with `visit_struct(&mut InContext::new(&mut value, &context), ..)`)"
)]
pub trait VmState {
    /// The static wire schema: name, versions, fields, subsections.
    const DESCRIPTION: &'static Description<'static>;

    /// True when a load at the current version of exactly
    /// [`Description::fixed_size`] bytes cannot fail: no load hooks, no
    /// subsections, every field unconditional and accepting any bytes. The
    /// derive computes it; loads then skip their transactional copy.
    const LOAD_INFALLIBLE: bool = false;

    /// True only for the placeholder impl a failed `#[derive(VmState)]`
    /// leaves next to its errors: the checks other derives make of this
    /// description (a subsection's name, a `struct_version`) stay quiet
    /// instead of repeating the mistake as a false one. Not for hand-written
    /// impls.
    #[doc(hidden)]
    const __DERIVE_FAILED: bool = false;

    /// Walks the fields present at `version_id`, in wire order (not the
    /// subsections, not the hooks: [`visit_struct`] runs those).
    fn visit_fields<'d, V: Visitor<'d>>(&mut self, v: &mut V, version_id: u32) -> Result<()>;

    /// True if subsection `index` (of [`Description::subsections`]) must be sent.
    fn subsection_needed(&self, index: usize) -> bool {
        let _ = index;
        false
    }

    /// Walks subsection `index` at `version_id` with [`visit_struct_at`].
    fn visit_subsection<'d, V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        index: usize,
        version_id: u32,
    ) -> Result<()> {
        let _ = (v, version_id);
        Err(Error::msg(format!(
            "{} has no subsection number {index}",
            Self::DESCRIPTION.name
        )))
    }

    /// Whether this state is sent at all: as a subsection, whether it is
    /// written; as a device section, whether the section is written.
    fn needed(&self) -> bool {
        true
    }

    /// Runs before the fields are saved. An error stops the save; nothing is
    /// written and `post_save` does not run.
    fn pre_save(&mut self) -> Result<()> {
        Ok(())
    }

    /// Runs after a save, also after a failed one (but not when `pre_save` failed).
    fn post_save(&mut self) {}

    /// Runs before the fields are loaded.
    fn pre_load(&mut self) -> Result<()> {
        Ok(())
    }

    /// Runs after the fields and the subsections are loaded, with the version
    /// that was loaded.
    fn post_load(&mut self, version_id: u32) -> Result<()> {
        let _ = version_id;
        Ok(())
    }

    /// Walks the fields of inline subsection `index` (a `subsection =
    /// "..."` marker of the derive): what [`forms::Inline`](crate::forms::Inline)
    /// calls. Not for hand-written impls.
    #[doc(hidden)]
    fn __inline_fields<'d, V: Visitor<'d>>(
        &mut self,
        index: usize,
        v: &mut V,
        version_id: u32,
    ) -> Result<()> {
        let _ = (v, version_id);
        Err(Error::msg(format!(
            "{} has no inline subsection number {index}",
            Self::DESCRIPTION.name
        )))
    }

    /// Runs a hook of inline subsection `index`. Not for hand-written impls.
    #[doc(hidden)]
    fn __inline_hook(&mut self, index: usize, hook: crate::forms::Hook) -> Result<()> {
        let _ = (index, hook);
        Ok(())
    }
}

/// Anything the one walk can run over: a `#[derive(VmState)]` value (through
/// its `const` [`VmState::DESCRIPTION`]) or a
/// [`DynamicState`](crate::dynamic::DynamicState) whose description was built
/// at run time from a stream's vmdesc.
///
/// `'d` is the lifetime of the description and of every name the walk hands
/// to the [`Visitor`]: `'static` for derived types, the lifetime of the
/// [`DescriptionArena`](crate::dynamic::DescriptionArena) for run-time ones.
/// Every `VmState` type implements `Walk<'d>` for every `'d`.
pub trait Walk<'d> {
    /// The description the value is walked with.
    fn description(&self) -> &'d Description<'d>;
    /// Walks the fields present at `version_id`, in wire order.
    fn walk_fields<V: Visitor<'d>>(&mut self, v: &mut V, version_id: u32) -> Result<()>;
    /// True if subsection `index` of the description must be sent.
    fn walk_subsection_needed(&self, index: usize) -> bool;
    /// Walks subsection `index` at `version_id` (with [`visit_struct_at`]).
    fn walk_subsection<V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        index: usize,
        version_id: u32,
    ) -> Result<()>;
    /// [`VmState::pre_save`].
    fn walk_pre_save(&mut self) -> Result<()> {
        Ok(())
    }
    /// [`VmState::post_save`].
    fn walk_post_save(&mut self) {}
    /// [`VmState::pre_load`].
    fn walk_pre_load(&mut self) -> Result<()> {
        Ok(())
    }
    /// [`VmState::post_load`].
    fn walk_post_load(&mut self, version_id: u32) -> Result<()> {
        let _ = version_id;
        Ok(())
    }
}

impl<'d, T: VmState> Walk<'d> for T {
    #[inline]
    fn description(&self) -> &'d Description<'d> {
        T::DESCRIPTION
    }
    #[inline]
    fn walk_fields<V: Visitor<'d>>(&mut self, v: &mut V, version_id: u32) -> Result<()> {
        self.visit_fields(v, version_id)
    }
    #[inline]
    fn walk_subsection_needed(&self, index: usize) -> bool {
        self.subsection_needed(index)
    }
    #[inline(always)]
    fn walk_subsection<V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        index: usize,
        version_id: u32,
    ) -> Result<()> {
        self.visit_subsection(v, index, version_id)
    }
    #[inline]
    fn walk_pre_save(&mut self) -> Result<()> {
        self.pre_save()
    }
    #[inline]
    fn walk_post_save(&mut self) {
        self.post_save()
    }
    #[inline]
    fn walk_pre_load(&mut self) -> Result<()> {
        self.pre_load()
    }
    #[inline]
    fn walk_post_load(&mut self, version_id: u32) -> Result<()> {
        self.post_load(version_id)
    }
}

/// An owned copy of a name for an error (errors are rare; walks never allocate).
#[cold]
pub(crate) fn owned(name: &str) -> Name {
    Cow::Owned(name.to_owned())
}

/// Walks `value` at its own current version, as QEMU walks a nested
/// `VMS_STRUCT` and a top-level save.
#[inline]
pub fn visit_struct<'d, T: Walk<'d>, V: Visitor<'d>>(
    value: &mut T,
    v: &mut V,
    name: &'d str,
) -> Result<()> {
    let version_id = value.description().version_id;
    visit_struct_at(value, v, name, version_id)
}

/// Walks `value` at `version_id`: checks the version range (loading), runs the
/// hooks in QEMU's order, the fields, then the subsections.
///
/// Saving: `pre_save`, fields, needed subsections, `post_save`.
/// Loading: version check, `pre_load`, fields, subsections, `post_load`.
///
/// The save hooks run only for visitors that write a stream
/// ([`Visitor::RUNS_SAVE_HOOKS`]: [`OutputVisitor`](crate::OutputVisitor),
/// [`VmdescVisitor`](crate::vmdesc::VmdescVisitor)). A walk that only
/// looks at the value (a [`PrettyPrinter`](crate::PrettyPrinter), a
/// [`TokenRecorder`](crate::tokens::TokenRecorder), an
/// [`AnalyzerJson`](crate::analyzer::AnalyzerJson)) runs no hook and leaves
/// the value exactly as it was: it shows the state as the struct holds it.
#[inline]
pub fn visit_struct_at<'d, T: Walk<'d>, V: Visitor<'d>>(
    value: &mut T,
    v: &mut V,
    name: &'d str,
    version_id: u32,
) -> Result<()> {
    if V::LOADING {
        load_struct_at(value, v, name, version_id)
    } else {
        save_struct_at(value, v, name, version_id)
    }
}

/// The load of [`visit_struct_at`]. Always inlined, so that a small
/// device's whole load (its subsections' included) is one function: the
/// calls would cost as much as the work, and a plain hint is dropped as
/// soon as a type is loaded from a few places (`load`, `load_from_slice`).
#[inline(always)]
fn load_struct_at<'d, T: Walk<'d>, V: Visitor<'d>>(
    value: &mut T,
    v: &mut V,
    name: &'d str,
    version_id: u32,
) -> Result<()> {
    let d = value.description();
    // Errors take the struct's name and versions on their way out; that
    // work stays out of line, off the path of every successful walk.
    let context = |e: Error| in_struct(e, d, version_id, true);
    if version_id > d.version_id || version_id < d.minimum_version_id {
        return Err(context(v.locate(version_error(d, version_id))));
    }
    if let Err(e) = value.walk_pre_load() {
        return Err(context(v.locate(e.in_hook("pre_load"))));
    }
    v.enter_struct(name, d, version_id)?;
    let walked = value
        .walk_fields(v, version_id)
        .and_then(|()| load_subsections(value, d, v));
    if let Err(e) = walked {
        return Err(context(e));
    }
    v.leave_struct()?;
    match value.walk_post_load(version_id) {
        Ok(()) => Ok(()),
        Err(e) => Err(context(v.locate(e.in_hook("post_load")))),
    }
}

/// The save (or any other walk that does not load) of [`visit_struct_at`].
/// Not inlined: inlined into a device's save, it costs more than the call.
fn save_struct_at<'d, T: Walk<'d>, V: Visitor<'d>>(
    value: &mut T,
    v: &mut V,
    name: &'d str,
    version_id: u32,
) -> Result<()> {
    let d = value.description();
    let context = |e: Error| in_struct(e, d, version_id, false);
    if V::RUNS_SAVE_HOOKS {
        if let Err(e) = value.walk_pre_save() {
            return Err(context(v.locate(e.in_hook("pre_save"))));
        }
        let walked = v
            .enter_struct(name, d, version_id)
            .and_then(|()| value.walk_fields(v, version_id))
            .and_then(|()| save_subsections(value, d, v))
            .and_then(|()| v.leave_struct());
        value.walk_post_save();
        walked.map_err(context)
    } else {
        v.enter_struct(name, d, version_id)
            .and_then(|()| value.walk_fields(v, version_id))
            .and_then(|()| save_subsections(value, d, v))
            .and_then(|()| v.leave_struct())
            .map_err(context)
    }
}

/// `e`, raised inside struct `d` walked at `version_id`, with the struct's
/// path segment and versions.
#[cold]
#[inline(never)]
fn in_struct(e: Error, d: &Description<'_>, version_id: u32, loading: bool) -> Error {
    e.with_versions(VersionContext {
        name: owned(d.name),
        version: version_id,
        local: d.version_id,
        minimum: d.minimum_version_id,
        loading,
    })
    .within(PathSegment::Struct(owned(d.name)))
}

/// Loading `d` at `version_id`, outside its accepted range.
#[cold]
#[inline(never)]
fn version_error(d: &Description<'_>, version_id: u32) -> Error {
    if version_id > d.version_id {
        Error::new(ErrorKind::VersionTooNew {
            name: owned(d.name),
            incoming: version_id,
            local: d.version_id,
        })
    } else {
        Error::new(ErrorKind::VersionTooOld {
            name: owned(d.name),
            incoming: version_id,
            minimum: d.minimum_version_id,
        })
    }
}

fn save_subsections<'d, T: Walk<'d>, V: Visitor<'d>>(
    value: &mut T,
    d: &'d Description<'d>,
    v: &mut V,
) -> Result<()> {
    for (index, sub) in d.subsections.iter().enumerate() {
        if value.walk_subsection_needed(index) {
            v.enter_subsection(sub)?;
            value
                .walk_subsection(v, index, sub.version_id)
                .map_err(|e| e.within(PathSegment::Subsection(owned(sub.name))))?;
            v.leave_subsection()?;
        }
    }
    Ok(())
}

#[inline(always)]
fn load_subsections<'d, T: Walk<'d>, V: Visitor<'d>>(
    value: &mut T,
    d: &'d Description<'d>,
    v: &mut V,
) -> Result<()> {
    while let Some(incoming) = v.next_subsection(d)? {
        let sub = d.subsections[incoming.index];
        value
            .walk_subsection(v, incoming.index, incoming.version_id)
            .map_err(|e| e.within(PathSegment::Subsection(owned(sub.name))))?;
        v.leave_subsection()?;
    }
    Ok(())
}
