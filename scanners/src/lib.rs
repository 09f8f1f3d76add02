//! The built-in scanners of `spiro-deploy`: `fs` and `git`.
//!
//! A SpiroFS bundle may carry the project's source under `_source/`. Where that source comes
//! from is a [`Scanner`]:
//!
//! - `fs` ([`FsScanner`], re-exported from `spiro-bundle`): every file under the working
//!   directory, for projects that are not in git or that deploy uncommitted work;
//! - `git` ([`GitScanner`]): the files of the `HEAD` commit, exactly as `git archive HEAD`
//!   would give them, so that what is deployed is what was committed and can be traced back.
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
//! let scanner = spiro_scanners::builtin(name, root).expect("a built-in scanner");
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

#![warn(missing_docs)]

mod attributes;
pub mod describe;
mod git;
mod repo;

use std::path::Path;

pub use spiro_bundle::FsScanner;
use spiro_bundle::Scanner;

pub use git::{GitScanner, head_commit};

/// The built-in scanners as `(name, one-line description)`, in the order a `--help` text or a
/// "which scanners exist" listing should show them. `fs` and `filesystem` are two names for the
/// same scanner.
///
/// Kept as data so that the CLI's help, its error for an unknown name and [`builtin`] cannot
/// drift apart.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "fs",
        "every file under the working directory except `_salt`, VCS metadata and paths in .spiroignore",
    ),
    ("filesystem", "the same as `fs`"),
    (
        "git",
        "the files of the HEAD commit, as `git archive HEAD` gives them",
    ),
];

/// The built-in scanner called `name` (see [`BUILTIN`]) for the project at `root`, or `None`
/// for a name that is not built in (which the CLI then looks up among plugins).
///
/// `fs`/`filesystem` walk `root` leaving out `root/_salt`, which the bundle carries at its root
/// already; `git` bundles the `HEAD` commit of the repository containing `root` (only `root`'s
/// tree in it, with names relative to `root`, when `root` is a subdirectory of the work tree,
/// as `git archive HEAD` run there does). Nothing is
/// read until the scanner's [`scan`](Scanner::scan) is called, so choosing `git` outside a
/// repository fails there, with a message that says what to do.
pub fn builtin(name: &str, root: &Path) -> Option<Box<dyn Scanner>> {
    match name {
        "fs" | "filesystem" => Some(Box::new(FsScanner::new(root).exclude("_salt"))),
        "git" => Some(Box::new(GitScanner::new(root))),
        _ => None,
    }
}

/// Whether `dir` is inside a git repository (a work tree or a `.git` directory), found the way
/// git finds one: upwards from `dir`, honouring `GIT_DIR` and `GIT_CEILING_DIRECTORIES`.
///
/// The CLI uses it to choose the default source scanner: `git` inside a repository, `fs`
/// elsewhere. A repository without any commit yet still counts (the `git` scanner then says
/// that a first commit is needed).
pub fn is_in_git_repository(dir: &Path) -> bool {
    matches!(repo::discover(dir), Ok(Some(_)))
}
