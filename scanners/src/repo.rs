//! Opening the repository that contains a directory.

use std::path::Path;

use spiro_scanner::Error;

/// The scanner name used in errors.
pub(crate) const SCANNER: &str = "git";

/// How much memory the delta-base cache of packed objects may use. Git's own default
/// (`core.deltaBaseCacheLimit`) is 96 MiB, but a bundle must build in well under 32 MiB whatever
/// the repository; measured on a 20,000-file repository, the cache size made no difference to
/// speed (most blobs are not deltas), while without any cache a long delta chain would be
/// re-inflated for every blob that uses it.
const PACK_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Finds the repository containing `dir` like git does (upwards, honouring `GIT_DIR` and
/// `GIT_CEILING_DIRECTORIES`). `Ok(None)` when there is none; an error when there is one that
/// cannot be opened (a corrupt config, say), since silently falling back would hide it.
pub(crate) fn discover(dir: &Path) -> Result<Option<gix::Repository>, Error> {
    match gix::ThreadSafeRepository::discover_with_environment_overrides(dir) {
        Ok(repo) => Ok(Some(with_pack_cache(repo.to_thread_local()))),
        Err(err) if is_not_found(&err) => Ok(None),
        Err(err) => Err(Error::scanner_with(
            SCANNER,
            format!(
                "cannot open the git repository containing `{}`",
                dir.display()
            ),
            err,
        )),
    }
}

/// `repo` opened anew, with an object store of its own: once the last handle on the old store
/// is dropped, its memory-mapped pack files are unmapped, and the pages read from them no
/// longer count against this process. (Handles made with `to_thread_local` or `clone` share
/// one store, and its mappings, for as long as any of them lives.)
pub(crate) fn reopen(repo: &gix::Repository) -> Result<gix::Repository, Error> {
    open_again(repo.git_dir(), repo.open_options().clone())
}

/// The repository at `git_dir` opened as it was the first time (`options`), with a store of
/// its own: see [`reopen`].
pub(crate) fn open_again(
    git_dir: &Path,
    options: gix::open::Options,
) -> Result<gix::Repository, Error> {
    let fresh = gix::open_opts(git_dir, options).map_err(|e| {
        Error::scanner_with(
            SCANNER,
            format!(
                "cannot open the git repository at `{}` again",
                git_dir.display()
            ),
            e,
        )
    })?;
    Ok(with_pack_cache(fresh))
}

/// The repository of a submodule at `git_dir` (its git directory, found by the caller), opened
/// as git would open it there: without the environment overrides (`GIT_DIR` and the like) that
/// apply to the superproject only.
pub(crate) fn open_submodule(git_dir: &Path) -> Result<gix::Repository, Error> {
    let repo = gix::open_opts(git_dir, gix::open::Options::default()).map_err(|e| {
        Error::scanner_with(
            SCANNER,
            format!(
                "cannot open the submodule repository at `{}`",
                git_dir.display()
            ),
            e,
        )
    })?;
    Ok(with_pack_cache(repo))
}

fn with_pack_cache(mut repo: gix::Repository) -> gix::Repository {
    repo.objects.set_pack_cache(|| {
        Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(
            PACK_CACHE_BYTES,
        ))
    });
    repo
}

/// Whether discovery failed only because there is no repository (rather than a broken one).
fn is_not_found(err: &gix::Error) -> bool {
    use gix::discover::upwards::Error as Upwards;
    err.iter_errors().any(|e| {
        matches!(
            e.downcast_ref::<Upwards>(),
            Some(
                Upwards::NoGitRepository { .. }
                    | Upwards::NoGitRepositoryWithinCeiling { .. }
                    | Upwards::NoGitRepositoryWithinFs { .. }
            )
        )
    })
}

/// Wraps a gix error as a scanner error with `message` as context.
pub(crate) fn gix_error(message: impl Into<String>, err: gix::Error) -> Error {
    Error::scanner_with(SCANNER, message, err)
}
