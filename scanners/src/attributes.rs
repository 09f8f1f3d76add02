//! The `.gitattributes` the `git` scanner acts on: `export-ignore` (the rule by which
//! `git archive` leaves paths out) and `filter=lfs` (the files Git LFS stores as pointers).
//!
//! `git archive HEAD` reads attributes from the tree being archived (not the work tree), plus
//! `$GIT_DIR/info/attributes` and the user's global attributes file. Precedence is git's: the
//! `info/attributes` file first, then the `.gitattributes` of the deepest directory up to the
//! root, then the global file. Only a *set* `export-ignore` leaves a path out, as in git;
//! `-export-ignore` and `!export-ignore` keep it. The system-wide attributes file is not read
//! (its location is fixed when git is compiled, and git is not installed on every deploy host).

use std::path::{Path, PathBuf};

use gix::bstr::BStr;
use gix_attributes::search::{MetadataCollection, Outcome};
use gix_attributes::{Search, StateRef};

/// The attributes this module answers for.
const EXPORT_IGNORE: &str = "export-ignore";
const FILTER: &str = "filter";

/// What the attributes say about one path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PathAttributes {
    /// `export-ignore` is set: the path is left out.
    pub(crate) export_ignore: bool,
    /// `filter=lfs`: the file is a Git LFS pointer in the repository (if it parses as one).
    pub(crate) lfs: bool,
}

/// The attribute stack of one tree walk (of one repository: a submodule has its own).
pub(crate) struct TreeAttributes {
    collection: MetadataCollection,
    /// `$GIT_DIR/info/attributes`: highest precedence.
    info: Search,
    /// One pattern list per directory being walked that has a `.gitattributes`, root first.
    tree: Search,
    /// `core.attributesFile` (or its XDG default): lowest precedence.
    global: Search,
    out: Outcome,
    case: gix::glob::pattern::Case,
}

impl TreeAttributes {
    /// The global sources of `repo`; in-tree files are added with [`TreeAttributes::push_dir`].
    pub(crate) fn new(repo: &gix::Repository) -> TreeAttributes {
        let mut collection = MetadataCollection::default();
        let mut buf = Vec::new();
        let mut info = Search::default();
        let mut global = Search::default();
        // Unreadable global files are treated as absent, as git does for files that don't
        // exist; a deploy should not fail over a user's attributes file.
        let _ = info.add_patterns_file(
            repo.common_dir().join("info").join("attributes"),
            true,
            None,
            &mut buf,
            &mut collection,
            true,
        );
        if let Some(path) = global_attributes_file(repo) {
            let _ = global.add_patterns_file(path, true, None, &mut buf, &mut collection, true);
        }
        let config = repo.config_snapshot();
        let case = if config.boolean("core.ignoreCase").unwrap_or(false) {
            gix::glob::pattern::Case::Fold
        } else {
            gix::glob::pattern::Case::Sensitive
        };
        TreeAttributes {
            collection,
            info,
            tree: Search::default(),
            global,
            out: Outcome::default(),
            case,
        }
    }

    /// Adds the `.gitattributes` of directory `dir` (`/`-separated, empty for the root).
    /// Macros (`[attr]name ...`) are honoured only at the root, like git. Returns whether a
    /// list was added, which the caller must [`pop`](TreeAttributes::pop_dir) when leaving `dir`.
    pub(crate) fn push_dir(&mut self, dir: &[u8], content: &[u8]) -> bool {
        let mut path = dir.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(b".gitattributes");
        let Ok(source) = gix::path::from_bstring(path) else {
            return false;
        };
        // `root` is the empty path so that the list's base becomes `dir/`.
        self.tree
            .add_patterns_buffer(
                content,
                source,
                Some(Path::new("")),
                &mut self.collection,
                dir.is_empty(),
            )
            .is_ok()
    }

    /// Removes the list added by the matching [`TreeAttributes::push_dir`].
    pub(crate) fn pop_dir(&mut self) {
        self.tree.pop_pattern_list();
    }

    /// Whether `path` (relative to the repository root) is `export-ignore`d.
    pub(crate) fn is_ignored(&mut self, path: &[u8], is_dir: bool) -> bool {
        self.of(path, is_dir).export_ignore
    }

    /// What the attributes say about `path` (relative to the repository root).
    pub(crate) fn of(&mut self, path: &[u8], is_dir: bool) -> PathAttributes {
        if self.info.num_pattern_lists() == 0
            && self.tree.num_pattern_lists() == 0
            && self.global.num_pattern_lists() == 0
        {
            return PathAttributes::default();
        }
        self.out
            .initialize_with_selection(&self.collection, [EXPORT_IGNORE, FILTER]);
        let path: &BStr = path.into();
        // The first list to assign an attribute wins; each search stops once both are assigned.
        for search in [&self.info, &self.tree, &self.global] {
            search.pattern_matching_relative_path(path, self.case, Some(is_dir), &mut self.out);
            if self.out.is_done() {
                break;
            }
        }
        let mut found = PathAttributes::default();
        for m in self.out.iter_selected() {
            match (m.assignment.name.as_str(), m.assignment.state) {
                (EXPORT_IGNORE, StateRef::Set) => found.export_ignore = true,
                (FILTER, StateRef::Value(value)) => found.lfs = value.as_bstr() == "lfs",
                _ => {}
            }
        }
        found
    }
}

/// `core.attributesFile`, or git's default `$XDG_CONFIG_HOME/git/attributes`
/// (`~/.config/git/attributes`).
fn global_attributes_file(repo: &gix::Repository) -> Option<PathBuf> {
    let config = repo.config_snapshot();
    if let Ok(Some(path)) = config.trusted_path("core.attributesFile") {
        return Some(path);
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(xdg) => PathBuf::from(xdg),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(base.join("git").join("attributes"))
}
