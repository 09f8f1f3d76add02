//! The built-in scanners of `spiro-deploy`: `fs` and `git`.
//!
//! A SpiroFS bundle may carry the project's source under `_source/`. Where that source comes
//! from is a [`Scanner`]:
//!
//! - `fs` ([`FsScanner`]): every file under the working directory, for projects that are not
//!   in git or that deploy uncommitted work;
//! - `git` ([`GitScanner`]): the files of the `HEAD` commit, exactly as `git archive HEAD`
//!   would give them, so that what is deployed is what was committed and can be traced back.
//!   Behind the cargo feature `git` (on by default).
//!
//! Both read ahead of the builder on worker threads (small files, small blobs) with bounded
//! memory; [`exclusion`] is the one place that says what is never bundled.
//!
//! [`head_commit`] reads what the bundle's `.gitcommit` records: the hash of `HEAD` and the
//! line `git describe --all` prints for it.
//!
//! Everything git-related is read with [gix](https://docs.rs/gix): the `git` binary is never
//! run, so a deploy host needs no git installation, no `PATH` lookup can be hijacked, and no
//! repository hook or config-defined command can run during a deploy.
//!
//! The front end picks a scanner by name through [`builtin`], and uses
//! [`is_in_git_repository`] to choose the default for a bare `--include-source`:
//!
//! ```no_run
//! use std::path::Path;
//! use spiro_bundle::Builder;
//!
//! let root = Path::new(".");
//! let name = if spiro_scanners::is_in_git_repository(root) { "git" } else { "fs" };
//! let options = spiro_scanner::ScannerOptions::new();
//! let scanner = spiro_scanners::builtin(name, root, &options)
//!     .expect("a built-in scanner")
//!     .expect("no options, so none refused");
//!
//! let mut builder = Builder::new(std::io::sink());
//! builder.add_saltdir(&root.join("_salt"))?;
//! builder.add_source(&*scanner)?;
//! if let Some(commit) = spiro_scanners::head_commit(root)? {
//!     builder.add_gitcommit(&commit)?;
//! }
//! builder.finish()?;
//! # Ok::<(), spiro_bundle::Error>(())
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod ahead;
#[cfg(feature = "git")]
mod attributes;
mod commit;
#[cfg(feature = "git")]
mod describe;
mod disk;
pub mod exclusion;
mod fs;
#[cfg(feature = "git")]
mod git;
#[cfg(feature = "git")]
mod repo;
mod walk_ahead;

use std::path::Path;

use spiro_scanner::{OptionError, OptionInfo, Scanner, ScannerOptions};

pub use commit::GitCommit;
pub use disk::entry_from_disk;
pub use fs::{FsScanner, IGNORE_FILE};
#[cfg(feature = "git")]
pub use git::{GitError, GitScanner, head_commit};

/// A built-in scanner, as `--list-scanners` and `--help` show it.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    /// The name given to `--include-source`.
    pub name: &'static str,
    /// One line saying what it bundles.
    pub description: &'static str,
    /// The options it takes (`--include-source=NAME,KEY=VALUE`).
    pub options: &'static [OptionInfo],
}

/// The built-in scanners, in the order a `--help` text or a "which scanners exist" listing
/// should show them. `fs` and `filesystem` are two names for the same scanner.
///
/// Kept as data so that the CLI's help, its error for an unknown name and [`builtin`] cannot
/// drift apart.
pub const BUILTIN: &[Builtin] = &[
    Builtin {
        name: "fs",
        description: "every file under the working directory except `_salt`, VCS metadata and paths in .spiroignore",
        options: FsScanner::OPTIONS,
    },
    Builtin {
        name: "filesystem",
        description: "the same as `fs`",
        options: FsScanner::OPTIONS,
    },
    #[cfg(feature = "git")]
    Builtin {
        name: "git",
        description: "the files of the HEAD commit, as `git archive HEAD` gives them",
        options: GitScanner::OPTIONS,
    },
];

/// The built-in scanner called `name` (see [`BUILTIN`]) for the project at `root`, configured
/// with `options` (checked against what it takes), or `None` for a name that is not built in
/// (which the CLI then looks up among plugins).
///
/// `fs`/`filesystem` walk `root` leaving out `root/_salt`, which the bundle carries at its root
/// already; `git` bundles the `HEAD` commit of the repository containing `root` (only `root`'s
/// tree in it, with names relative to `root`, when `root` is a subdirectory of the work tree,
/// as `git archive HEAD` run there does). Nothing is read until the scanner's
/// [`scan`](Scanner::scan) is called, so choosing `git` outside a repository fails there, with
/// a message that says what to do. Code that knows which scanner it wants can build it
/// directly, typed: `GitScanner::new(root).submodules(true)`.
pub fn builtin(
    name: &str,
    root: &Path,
    options: &ScannerOptions,
) -> Option<Result<Box<dyn Scanner>, OptionError>> {
    match name {
        "fs" | "filesystem" => Some(
            fs_source(root)
                .options(options)
                .map(|fs| Box::new(fs) as Box<dyn Scanner>),
        ),
        #[cfg(feature = "git")]
        "git" => Some(
            GitScanner::new(root)
                .options(options)
                .map(|git| Box::new(git) as Box<dyn Scanner>),
        ),
        _ => None,
    }
}

/// The `fs` scanner of a project's source at `root`: everything below it but the `_salt`
/// directory ([`exclusion::SALT_DIR`]), which the bundle carries at its root already. (The
/// builder's source policy, [`exclusion::source_policy`], leaves out `_salt` at any depth, and
/// VCS metadata, for every file-system scanner; this exclusion keeps the scanner right alone.)
pub fn fs_source(root: &Path) -> FsScanner {
    FsScanner::new(root).exclude(exclusion::SALT_DIR)
}

/// Whether `dir` is inside a git repository (a work tree or a `.git` directory), found the way
/// git finds one: upwards from `dir`, honouring `GIT_DIR` and `GIT_CEILING_DIRECTORIES`.
///
/// The CLI uses it to choose the default source scanner: `git` inside a repository, `fs`
/// elsewhere. A repository without any commit yet still counts (the `git` scanner then says
/// that a first commit is needed).
#[cfg(feature = "git")]
pub fn is_in_git_repository(dir: &Path) -> bool {
    matches!(repo::discover(dir), Ok(Some(_)))
}
