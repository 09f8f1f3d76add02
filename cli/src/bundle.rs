//! From the command line to a bundle: what goes in, decided before anything is written or sent.

use std::io::Write;
use std::path::{Path, PathBuf};

use spiro_bundle::{Builder, Stats, artifact_name};
use spiro_scanner::{EntryName, Scanner};
use spiro_scanners::GitCommit;
use spiro_scanners::exclusion::{SALT_DIR, resolves_into_vcs_metadata};

use crate::args::Args;
use crate::error::{CliError, Exit};
use crate::heap::Trimming;
use crate::scanners;

/// Refuses a deploy from a directory without `_salt`, unless `--allow-no-salt`: the server
/// would replace the deployment with a bundle holding no states, wiping it (run from the wrong
/// directory, that is never what was meant). `--output` and `--list` only warn.
pub fn require_saltdir(args: &Args, root: &Path) -> Result<(), CliError> {
    let saltdir = root.join("_salt");
    if args.allow_no_salt || saltdir.exists() {
        return Ok(());
    }
    Err(CliError::msg(
        Exit::Usage,
        format!(
            "no `_salt` directory in `{}`: deploying would replace the deployment with a bundle \
             holding no Salt states; nothing was sent",
            root.display()
        ),
    )
    .hint(
        "run spiro-deploy from the project's directory, or pass --allow-no-salt to deploy \
         artifacts only (the deployment's states are then removed from the server)",
    ))
}

/// Everything the bundle will hold, resolved and checked up front so that a missing artifact
/// or an unknown scanner is reported before a byte is written or a connection is opened.
pub struct Plan {
    saltdir: Option<PathBuf>,
    artifacts: Vec<(PathBuf, EntryName)>,
    sources: Vec<Box<dyn Scanner>>,
    gitcommit: Option<GitCommit>,
    source_date_epoch: Option<u64>,
    /// Whether symlinks may point out of the bundle (`--allow-symlinks-out`).
    allow_symlinks_out: bool,
    /// Files no directory walk may bundle: the bundle itself when it is written in the tree.
    excluded: Vec<PathBuf>,
    /// Things worth saying that do not stop the bundle, such as a missing `_salt`.
    pub warnings: Vec<String>,
}

impl Plan {
    /// Resolves `args` against the working directory `root`. `exclude` lists files no walk may
    /// bundle (the bundle being written, when it is written inside the tree, `_salt` or an
    /// artifact directory included).
    pub fn new(args: &Args, root: &Path, exclude: &[PathBuf]) -> Result<Plan, CliError> {
        let mut warnings = Vec::new();
        let saltdir = root.join(SALT_DIR);
        let saltdir = if saltdir.is_dir() {
            Some(saltdir)
        } else if saltdir.exists() {
            return Err(CliError::msg(
                Exit::Bundle,
                format!("`{}` is not a directory", saltdir.display()),
            )
            .hint("_salt must be the directory of the project's Salt states"));
        } else {
            warnings.push(format!(
                "no `_salt` directory in `{}`: the bundle holds no Salt states",
                root.display()
            ));
            None
        };

        let mut artifacts = Vec::new();
        for path in &args.artifact {
            let name = artifact_name(path).ok_or_else(|| {
                CliError::msg(
                    Exit::Bundle,
                    format!("the artifact path `{}` names no file", path.display()),
                )
                .hint("give --artifact a file or directory, such as `build/app.tar`")
            })?;
            if resolves_into_vcs_metadata(&root.join(path)) {
                return Err(CliError::msg(
                    Exit::Bundle,
                    format!("the artifact `{}` is version-control metadata, which is never bundled", path.display()),
                )
                .hint("version-control metadata can hold credentials (.git/config); bundle the source with --include-source"));
            }
            let full = root.join(path);
            if let Err(e) = std::fs::metadata(&full) {
                let error = spiro_bundle::Error::read(path, e);
                return Err(CliError::new(Exit::Bundle, error).hint(format!(
                    "check the path given to --artifact (relative paths start at `{}`)",
                    root.display()
                )));
            }
            artifacts.push((full, name));
        }

        let mut sources = Vec::new();
        for spec in &args.include_source {
            let scanner = scanners::resolve(spec, root, exclude)?;
            // Starting a scan is where a scanner finds out it cannot work (no repository, a
            // broken .spiroignore, a plugin that refuses the root): find out now, before a
            // byte is written or sent. Nothing is read: the iterator is dropped unused.
            scanner.scan(&|_| true).map(drop).map_err(|e| {
                let hint = scan_hint(&e);
                let error = CliError::new(Exit::Bundle, e);
                match hint {
                    Some(hint) => error.hint(hint),
                    None => error,
                }
            })?;
            sources.push(Box::new(Trimming::new(scanner)) as Box<dyn Scanner>);
        }

        let gitcommit = spiro_scanners::head_commit(root).map_err(|e| {
            CliError::new(Exit::Bundle, e)
                .hint("repair the repository, or run outside it to bundle without .gitcommit")
        })?;

        Ok(Plan {
            saltdir,
            artifacts,
            sources,
            gitcommit,
            source_date_epoch: source_date_epoch()?,
            allow_symlinks_out: args.allow_symlinks_out,
            excluded: exclude.to_vec(),
            warnings,
        })
    }

    /// Writes the bundle through `builder` and returns its writer and what was written.
    pub fn write<W: Write>(&self, mut builder: Builder<W>) -> Result<(W, Stats), CliError> {
        let bundle_error = |e: spiro_bundle::Error| {
            let hint = bundle_hint(&e);
            let error = CliError::new(Exit::Bundle, e);
            match hint {
                Some(hint) => error.hint(hint),
                None => error,
            }
        };
        builder.source_date_epoch(self.source_date_epoch);
        builder.allow_symlinks_out(self.allow_symlinks_out);
        for path in &self.excluded {
            builder.exclude(path);
        }
        if let Some(commit) = &self.gitcommit {
            builder.add_gitcommit(commit).map_err(bundle_error)?;
        }
        if let Some(saltdir) = &self.saltdir {
            builder.add_saltdir(saltdir).map_err(bundle_error)?;
        }
        for (path, name) in &self.artifacts {
            builder.add_artifact(path, name).map_err(bundle_error)?;
        }
        for scanner in &self.sources {
            builder.add_source(scanner.as_ref()).map_err(bundle_error)?;
        }
        let stats = builder.stats();
        let out = builder.finish().map_err(bundle_error)?;
        Ok((out, stats))
    }
}

fn bundle_hint(error: &spiro_bundle::Error) -> Option<String> {
    use spiro_bundle::Error;
    use spiro_scanner::Error as ScanError;
    match error {
        Error::Scan(ScanError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            Some("make the file readable, or leave it out with .spiroignore".into())
        }
        Error::Duplicate { .. } => Some("each name may come from one place only".into()),
        Error::SymlinkOutside { .. } => Some(
            "point the link inside the bundle, or leave it out; --allow-symlinks-out bundles it \
             anyway (any minion could then read the file it points to on the master)"
                .into(),
        ),
        Error::Scan(ScanError::UnsafeName { .. }) => {
            Some("the scanner is faulty: report it to its author".into())
        }
        Error::Scan(error) => scan_hint(error),
        _ => None,
    }
}

/// What to do about a scanner that cannot start: the libraries say what is wrong, the CLI
/// which flag to use instead.
fn scan_hint(error: &spiro_scanner::Error) -> Option<String> {
    use spiro_scanners::GitError;
    let git = spiro_scanner::error_chain(error).find_map(|e| e.downcast_ref::<GitError>())?;
    match git {
        GitError::NotARepository { .. } => {
            Some("use --include-source=fs or run from the repository".into())
        }
        GitError::NoCommit { .. } => Some("make a first commit or use --include-source=fs".into()),
        _ => None,
    }
}

/// `SOURCE_DATE_EPOCH`, the reproducible-builds convention for the latest mtime to record.
fn source_date_epoch() -> Result<Option<u64>, CliError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => value.trim().parse().map(Some).map_err(|_| {
            CliError::msg(
                Exit::Usage,
                format!("SOURCE_DATE_EPOCH={value:?} is not a number of seconds"),
            )
            .hint("set it to a Unix timestamp such as `git log -1 --format=%ct`, or unset it")
        }),
        Err(_) => Ok(None),
    }
}
