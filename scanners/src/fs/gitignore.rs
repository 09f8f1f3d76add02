//! What git would ignore below a scan's root, for `FsScanner::gitignore(true)`.
//!
//! Git's sources of ignore patterns, highest precedence first:
//! 1. the `.gitignore` of the deepest directory on a path, then of each directory above it up
//!    to the work tree's root (above the scan's root when that is a subdirectory);
//! 2. `$GIT_DIR/info/exclude` of the repository;
//! 3. the global excludes file (`core.excludesFile`, by default `$XDG_CONFIG_HOME/git/ignore`
//!    or `~/.config/git/ignore`).
//!
//! Within one source the last matching pattern wins; across sources the first source with a
//! match decides. A pattern is matched against the path relative to its `.gitignore`'s
//! directory (the work tree's root for the other two). An ignored directory is not walked, so
//! nothing below it can be re-included, as in git.
//!
//! Memory: one matcher per directory on the walk's current path that has a `.gitignore`,
//! dropped when the walk leaves that directory.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use spiro_scanner::Error;

use crate::disk::Tree;

/// The name of git's per-directory ignore file.
const GITIGNORE: &str = ".gitignore";

/// The patterns of one `.gitignore` file.
struct Level {
    /// The directory holding the `.gitignore`: relative to the scan's root for a directory
    /// below it, to the work tree's root for one above the scan's root.
    dir: PathBuf,
    /// Its depth below the scan's root (0: the root itself), for the levels below the root.
    depth: usize,
    matcher: Gitignore,
}

/// The ignore rules in force at the walk's current directory; see the module docs.
pub(crate) struct GitIgnores {
    /// The `.gitignore` files of the directories on the current path from the scan's root
    /// down, shallowest first.
    below: Vec<Level>,
    /// The `.gitignore` files of the work tree's directories above the scan's root,
    /// shallowest first (empty when the root is the work tree's root, or in no work tree).
    above: Vec<Level>,
    /// `info/exclude` and then the global excludes file, those that exist; matched with paths
    /// relative to the work tree's root.
    outer: Vec<Gitignore>,
    /// The scan's root relative to the work tree's root (empty when it is that root).
    root_in_work_tree: PathBuf,
    /// Whether the scan's root is inside a directory git ignores: then everything is.
    root_ignored: bool,
}

impl GitIgnores {
    /// The rules for a walk of `tree`: found upwards from its root (the work tree, its
    /// `.gitignore` files above the root, `info/exclude`), git's global excludes file, and the
    /// root's own `.gitignore`. Outside a work tree, the `.gitignore` files of the walked tree
    /// and the global excludes file still apply. Errors name the file that cannot be used.
    pub(crate) fn load(tree: &Tree) -> spiro_scanner::Result<GitIgnores> {
        let root = tree.root();
        let canonical = root.canonicalize().map_err(|e| Error::read(root, e))?;
        let mut ignores = GitIgnores {
            below: Vec::new(),
            above: Vec::new(),
            outer: Vec::new(),
            root_in_work_tree: PathBuf::new(),
            root_ignored: false,
        };
        let work_tree = WorkTree::find(&canonical)?;
        if let Some(work_tree) = &work_tree {
            ignores.root_in_work_tree = canonical
                .strip_prefix(&work_tree.root)
                .unwrap_or(Path::new(""))
                .to_path_buf();
            // The work tree's root and each directory below it down to the scan's root,
            // which `enter` reads like every directory of the walk.
            let mut dir = PathBuf::new();
            for part in ignores.root_in_work_tree.iter() {
                let file = work_tree.root.join(&dir).join(GITIGNORE);
                if let Some(matcher) = read_outside(&file)? {
                    ignores.above.push(Level {
                        dir: dir.clone(),
                        depth: 0,
                        matcher,
                    });
                }
                dir.push(part);
            }
            let exclude = work_tree.git_common_dir.join("info").join("exclude");
            if let Some(matcher) = read_outside(&exclude)? {
                ignores.outer.push(matcher);
            }
        }
        if let Some(global) = ignore::gitignore::gitconfig_excludes_path()
            && let Some(matcher) = read_outside(&global)?
        {
            ignores.outer.push(matcher);
        }
        ignores.root_ignored = ignores.root_is_ignored();
        ignores.enter(tree, Path::new(""), 0)?;
        Ok(ignores)
    }

    /// Whether a directory between the work tree's root and the scan's root (or the scan's
    /// root itself) is ignored by the rules above it.
    fn root_is_ignored(&self) -> bool {
        let mut dir = PathBuf::new();
        for part in self.root_in_work_tree.iter() {
            dir.push(part);
            let above = self
                .above
                .iter()
                .rev()
                .filter(|level| level.dir != dir)
                .filter_map(|level| Some((dir.strip_prefix(&level.dir).ok()?, &level.matcher)));
            let outer = self.outer.iter().map(|matcher| (dir.as_path(), matcher));
            if let Some(ignored) = decide(above.chain(outer), true) {
                return ignored;
            }
        }
        false
    }

    /// Takes in the `.gitignore` of the directory at `rel` (relative to the root, `depth`
    /// below it) that the walk is about to enter, if it has one. A `.gitignore` that is a
    /// symlink is not followed, as git (2.32 on) does not follow one inside a work tree.
    pub(crate) fn enter(
        &mut self,
        tree: &Tree,
        rel: &Path,
        depth: usize,
    ) -> spiro_scanner::Result<()> {
        self.leave_to(depth);
        let file = rel.join(GITIGNORE);
        let path = tree.root().join(&file);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::read(path, e)),
        }
        let (opened, _) = tree.open_file(&file, None)?;
        let matcher = patterns(opened, &path)?;
        if !matcher.is_empty() {
            self.below.push(Level {
                dir: rel.to_path_buf(),
                depth,
                matcher,
            });
        }
        Ok(())
    }

    /// Drops the matchers of directories the walk has left: those `depth` or more below the
    /// root, where the walk's next entry is `depth` below it.
    fn leave_to(&mut self, depth: usize) {
        while self.below.last().is_some_and(|level| level.depth >= depth) {
            self.below.pop();
        }
    }

    /// Whether git ignores the entry at `rel` (relative to the root, `depth` below it, the
    /// walk's next entry).
    pub(crate) fn is_ignored(&mut self, rel: &Path, depth: usize, is_dir: bool) -> bool {
        if self.root_ignored {
            return true;
        }
        self.leave_to(depth);
        let below = self
            .below
            .iter()
            .rev()
            .filter_map(|level| Some((rel.strip_prefix(&level.dir).ok()?, &level.matcher)));
        if let Some(ignored) = decide(below, is_dir) {
            return ignored;
        }
        if self.above.is_empty() && self.outer.is_empty() {
            return false;
        }
        let in_work_tree = self.root_in_work_tree.join(rel);
        let above = self.above.iter().rev().filter_map(|level| {
            Some((in_work_tree.strip_prefix(&level.dir).ok()?, &level.matcher))
        });
        let outer = self
            .outer
            .iter()
            .map(|matcher| (in_work_tree.as_path(), matcher));
        decide(above.chain(outer), is_dir).unwrap_or(false)
    }
}

/// The first decision among matchers in precedence order, each given the path relative to
/// its own directory: `Some(true)` ignored, `Some(false)` re-included, `None` no match.
fn decide<'p>(
    matchers: impl Iterator<Item = (&'p Path, &'p Gitignore)>,
    is_dir: bool,
) -> Option<bool> {
    for (path, matcher) in matchers {
        match matcher.matched(path, is_dir) {
            Match::Ignore(_) => return Some(true),
            Match::Whitelist(_) => return Some(false),
            Match::None => {}
        }
    }
    None
}

/// The patterns of the ignore file at `path` outside the walked tree (above it, in the git
/// directory, in the user's configuration), or `None` if there is no such file.
fn read_outside(path: &Path) -> spiro_scanner::Result<Option<Gitignore>> {
    match File::open(path) {
        Ok(file) => patterns(file, path).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        // A component that is a file (`~/.config` a file): there is no such ignore file.
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Ok(None),
        Err(e) => Err(Error::read(path, e)),
    }
}

/// The patterns of an ignore file, read from `file` (opened from `path`). The matcher is
/// rooted at `.` so that it takes paths already made relative to the file's directory.
fn patterns(file: impl Read, path: &Path) -> spiro_scanner::Result<Gitignore> {
    let cannot_use = |line: Option<usize>, err: ignore::Error| {
        let at = line
            .map(|line| format!(" (line {line})"))
            .unwrap_or_default();
        Error::scanner_with("fs", format!("cannot use `{}`{at}", path.display()), err)
    };
    let mut builder = GitignoreBuilder::new(".");
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::read(path, e))?;
        // Git skips a UTF-8 byte order mark at the start of the file.
        let line = if index == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            &line
        };
        builder
            .add_line(Some(path.to_path_buf()), line)
            .map_err(|e| cannot_use(Some(index + 1), e))?;
    }
    builder.build().map_err(|e| cannot_use(None, e))
}

/// The git work tree a directory is in, found upwards from it the way git finds one (the
/// nearest directory holding a `.git` directory or a `.git` file pointing to one).
struct WorkTree {
    root: PathBuf,
    /// Where `info/exclude` lives: the repository's git directory, or for a linked work tree
    /// the main one's (`commondir`).
    git_common_dir: PathBuf,
}

impl WorkTree {
    fn find(canonical: &Path) -> spiro_scanner::Result<Option<WorkTree>> {
        for dir in canonical.ancestors() {
            let dot_git = dir.join(".git");
            let meta = match fs::metadata(&dot_git) {
                Ok(meta) => meta,
                Err(_) => continue,
            };
            let git_dir = if meta.is_dir() {
                dot_git
            } else {
                match gitdir_of(&dot_git)? {
                    Some(git_dir) => dir.join(git_dir),
                    None => continue,
                }
            };
            let git_common_dir = match fs::read_to_string(git_dir.join("commondir")) {
                Ok(common) => git_dir.join(common.trim_end_matches(['\n', '\r'])),
                Err(_) => git_dir,
            };
            return Ok(Some(WorkTree {
                root: dir.to_path_buf(),
                git_common_dir,
            }));
        }
        Ok(None)
    }
}

/// The git directory a `.git` file names (`gitdir: PATH`), or `None` if it names none.
fn gitdir_of(dot_git: &Path) -> spiro_scanner::Result<Option<PathBuf>> {
    let text = fs::read_to_string(dot_git).map_err(|e| Error::read(dot_git, e))?;
    Ok(text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("gitdir:"))
        .map(|dir| PathBuf::from(dir.trim())))
}
