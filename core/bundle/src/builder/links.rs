//! Which symlinks stay inside the bundle.
//!
//! SpiroFS extracts links as they are and its fileserver follows them when it serves a file:
//! `_salt/key -> /etc/salt/pki/master/master.pem` would hand the master's private key to any
//! minion that asks. So a link whose target is absolute or climbs out of the bundle is refused
//! unless the builder is told to allow it.
//!
//! Lexical normalisation is not enough: with `d -> .`, the target `d/../..` of a link at the
//! root normalises to `..`-free nonsense yet escapes once `d` is followed. The rule used here
//! is sound against chains of links. Split the target on `/` and drop empty and `.` parts;
//! what remains must be some leading `..` parts followed only by normal parts, with no more
//! `..` than the link's directory is deep in the bundle. The `..` parts then walk up through
//! real directories only (the builder refuses any entry below a file or link, so every
//! ancestor of an entry is a directory), ending inside the bundle; each normal part after them
//! is a directory, a file, or a link that obeys the same rule, so by induction nothing
//! resolves outside. A `..` after a normal part is refused, because the normal part may be a
//! link that moves the walk anywhere.

use spiro_scanner::EntryName;

/// Why a symlink's target may lead out of the bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkEscape {
    /// The target is an absolute path.
    #[error("the target is absolute")]
    Absolute,
    /// The target climbs above the bundle's root from the link's directory.
    #[error("the target climbs {ups} directories up from a link {depth} deep in the bundle")]
    ClimbsOut {
        /// The `..` parts of the target.
        ups: usize,
        /// How deep the link's directory is in the bundle (0 at the root).
        depth: usize,
    },
    /// A `..` follows a name: the name may be a link, so where the `..` lands is unknown.
    #[error("`..` follows a name in the target, which a link could send anywhere")]
    ParentAfterName,
    /// The target is empty or holds a NUL byte: no file system has such a link.
    #[error("the target is empty or holds a NUL byte")]
    Invalid,
}

/// Checks that the link `name -> target` resolves inside the bundle; see the module docs.
pub(super) fn check_link(name: &EntryName, target: &[u8]) -> Result<(), LinkEscape> {
    if target.is_empty() || target.contains(&0) {
        return Err(LinkEscape::Invalid);
    }
    if target.starts_with(b"/") {
        return Err(LinkEscape::Absolute);
    }
    let depth = name.as_bytes().iter().filter(|&&b| b == b'/').count();
    let mut ups = 0;
    let mut seen_name = false;
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." if seen_name => return Err(LinkEscape::ParentAfterName),
            b".." => ups += 1,
            _ => seen_name = true,
        }
    }
    if ups > depth {
        return Err(LinkEscape::ClimbsOut { ups, depth });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, target: &str) -> Result<(), LinkEscape> {
        check_link(&EntryName::new(name).unwrap(), target.as_bytes())
    }

    #[test]
    fn links_inside_the_bundle_pass() {
        for (name, target) in [
            ("l", "top.sls"),
            ("l", "./a//b/"),
            ("l", "."),
            ("a/l", ".."),
            ("a/l", "../top.sls"),
            ("_source/b/c/l", "../../_artifacts/x"),
            ("a/b/l", "./.././../c"),
        ] {
            assert_eq!(check(name, target), Ok(()), "{name} -> {target}");
        }
    }

    #[test]
    fn links_that_may_lead_out_are_refused() {
        use LinkEscape::*;
        for (name, target, why) in [
            ("key", "/etc/salt/pki/master/master.pem", Absolute),
            ("a/key", "//etc/passwd", Absolute),
            ("l", "..", ClimbsOut { ups: 1, depth: 0 }),
            ("a/l", "../../x", ClimbsOut { ups: 2, depth: 1 }),
            ("l", "d/../..", ParentAfterName),
            ("a/b/l", "c/../x", ParentAfterName),
            ("l", "", Invalid),
            ("l", "a\0b", Invalid),
        ] {
            assert_eq!(check(name, target), Err(why), "{name} -> {target:?}");
        }
    }
}
