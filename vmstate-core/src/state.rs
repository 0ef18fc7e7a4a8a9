//! [`VmState`]: a struct with a VMState description, and the walk QEMU's
//! `vmstate_save_vmsd`/`vmstate_load_vmsd` perform over it.

use crate::{Description, Error, ErrorKind, PathSegment, Result, VersionContext, Visitor};

/// A struct with a VMState description: what `#[derive(VmState)]` implements.
///
/// A type implementing it can be saved and loaded as a device section body, be
/// nested in another (a `struct` field), or be a subsection of another.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a VmState struct",
    label = "needs #[derive(VmState)]",
    note = "`subsection`, `struct_version` and `tmp` need a struct with #[derive(VmState)]"
)]
pub trait VmState {
    /// The static wire schema: name, versions, fields, subsections.
    const DESCRIPTION: &'static Description;

    /// True when a load at the current version of exactly
    /// [`Description::fixed_size`] bytes cannot fail: no load hooks, no
    /// subsections, every field unconditional and accepting any bytes. The
    /// derive computes it; loads then skip their transactional copy.
    const LOAD_INFALLIBLE: bool = false;

    /// Walks the fields present at `version_id`, in wire order (not the
    /// subsections, not the hooks: [`visit_struct`] runs those).
    fn visit_fields<V: Visitor>(&mut self, v: &mut V, version_id: u32) -> Result<()>;

    /// True if subsection `index` (of [`Description::subsections`]) must be sent.
    fn subsection_needed(&self, index: usize) -> bool {
        let _ = index;
        false
    }

    /// Walks subsection `index` at `version_id` with [`visit_struct_at`].
    fn visit_subsection<V: Visitor>(
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
}

/// Walks `value` at its own current version, as QEMU walks a nested
/// `VMS_STRUCT` and a top-level save.
#[inline]
pub fn visit_struct<T: VmState, V: Visitor>(
    value: &mut T,
    v: &mut V,
    name: &'static str,
) -> Result<()> {
    visit_struct_at(value, v, name, T::DESCRIPTION.version_id)
}

/// Walks `value` at `version_id`: checks the version range (loading), runs the
/// hooks in QEMU's order, the fields, then the subsections.
///
/// Saving: `pre_save`, fields, needed subsections, `post_save`.
/// Loading: version check, `pre_load`, fields, subsections, `post_load`.
pub fn visit_struct_at<T: VmState, V: Visitor>(
    value: &mut T,
    v: &mut V,
    name: &'static str,
    version_id: u32,
) -> Result<()> {
    let d = T::DESCRIPTION;
    let context = |e: Error| {
        e.with_versions(VersionContext {
            name: d.name,
            version: version_id,
            local: d.version_id,
            minimum: d.minimum_version_id,
            loading: V::LOADING,
        })
        .within(PathSegment::Struct(d.name))
    };
    if V::LOADING {
        if version_id > d.version_id {
            return Err(context(v.locate(Error::new(ErrorKind::VersionTooNew {
                name: d.name,
                incoming: version_id,
                local: d.version_id,
            }))));
        }
        if version_id < d.minimum_version_id {
            return Err(context(v.locate(Error::new(ErrorKind::VersionTooOld {
                name: d.name,
                incoming: version_id,
                minimum: d.minimum_version_id,
            }))));
        }
        value
            .pre_load()
            .map_err(|e| context(v.locate(e.in_hook("pre_load"))))?;
        v.enter_struct(name, d, version_id)?;
        value.visit_fields(v, version_id).map_err(context)?;
        load_subsections(value, v).map_err(context)?;
        v.leave_struct()?;
        value
            .post_load(version_id)
            .map_err(|e| context(v.locate(e.in_hook("post_load"))))
    } else {
        value
            .pre_save()
            .map_err(|e| context(v.locate(e.in_hook("pre_save"))))?;
        let walked = v
            .enter_struct(name, d, version_id)
            .and_then(|()| value.visit_fields(v, version_id))
            .and_then(|()| save_subsections(value, v))
            .and_then(|()| v.leave_struct());
        value.post_save();
        walked.map_err(context)
    }
}

fn save_subsections<T: VmState, V: Visitor>(value: &mut T, v: &mut V) -> Result<()> {
    let d = T::DESCRIPTION;
    for (index, sub) in d.subsections.iter().enumerate() {
        if value.subsection_needed(index) {
            v.enter_subsection(sub)?;
            value
                .visit_subsection(v, index, sub.version_id)
                .map_err(|e| e.within(PathSegment::Subsection(sub.name)))?;
            v.leave_subsection()?;
        }
    }
    Ok(())
}

fn load_subsections<T: VmState, V: Visitor>(value: &mut T, v: &mut V) -> Result<()> {
    let d = T::DESCRIPTION;
    if d.subsections.is_empty() && !V::LOADING {
        return Ok(());
    }
    while let Some(incoming) = v.next_subsection(d)? {
        let sub = d.subsections[incoming.index];
        value
            .visit_subsection(v, incoming.index, incoming.version_id)
            .map_err(|e| e.within(PathSegment::Subsection(sub.name)))?;
        v.leave_subsection()?;
    }
    Ok(())
}
