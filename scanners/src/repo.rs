//! Opening the repository that contains a directory.

use std::path::Path;

use spiro_bundle::Error;

/// The scanner name used in errors.
pub(crate) const SCANNER: &str = "git";

/// How much memory the delta-base cache of packed objects may use: git's own default for
/// `core.deltaBaseCacheLimit`. Without such a cache every blob stored as a delta re-inflates
/// its whole chain of bases, which makes reading a packed repository several times slower.
const PACK_CACHE_BYTES: usize = 96 * 1024 * 1024;

/// Finds the repository containing `dir` like git does (upwards, honouring `GIT_DIR` and
/// `GIT_CEILING_DIRECTORIES`). `Ok(None)` when there is none; an error when there is one that
/// cannot be opened (a corrupt config, say), since silently falling back would hide it.
pub(crate) fn discover(dir: &Path) -> Result<Option<gix::Repository>, Error> {
    match gix::ThreadSafeRepository::discover_with_environment_overrides(dir) {
        Ok(repo) => {
            let mut repo = repo.to_thread_local();
            repo.objects.set_pack_cache(|| {
                Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(
                    PACK_CACHE_BYTES,
                ))
            });
            Ok(Some(repo))
        }
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
