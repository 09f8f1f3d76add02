//! `--output FILE`: where the bundle goes when it is written to a file, and how it gets there.
//!
//! As tar does, an existing FILE that is not a regular file (a device, a FIFO, or a link to
//! one) is written to in place: replacing it would turn `/dev/null` into a regular file for
//! every program on the machine, and leave a FIFO's reader waiting forever. A regular file (or
//! the regular file a link points to) is replaced only once the bundle is complete, so a
//! failed build leaves the old file as it was.
//!
//! The bundle is first written to an unnamed file (`O_TMPFILE`) in FILE's directory, linked
//! into place at the end: a signal that ends the process then leaves nothing behind. Where the
//! file system cannot make unnamed files, a named `.spiro-bundle-*.tmp` is used instead, and
//! SIGINT, SIGTERM and SIGHUP remove it before ending the process. Either way the new file gets
//! the mode the umask gives (0666 & !umask), as a file made by a shell redirection would.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{CliError, Exit};

/// The bundle's file while it is written; [`OutputFile::finish`] puts it in place.
pub struct OutputFile {
    file: File,
    /// FILE as the user named it (joined to the working directory), for messages.
    shown: PathBuf,
    place: Placing,
}

/// How the written file reaches its place.
enum Placing {
    /// FILE itself is being written (a device or a FIFO): nothing to do at the end.
    InPlace,
    /// An unnamed file in `target`'s directory, linked as `target` at the end.
    #[cfg(target_os = "linux")]
    Unnamed { target: PathBuf },
    /// A named temp file beside `target`, renamed over it at the end; removed if the process
    /// fails or is ended by a signal first.
    Named {
        temp: tempfile::TempPath,
        target: PathBuf,
        _on_signal: signal_cleanup::RemoveOnSignal,
    },
}

/// Standard output under the names a user may give it: written as `--output -` is (a shell
/// redirection such as `>> log` must keep its meaning, which reopening the file would lose).
pub fn is_stdout(output: &Path) -> bool {
    ["-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]
        .iter()
        .any(|name| output == Path::new(name))
}

impl OutputFile {
    /// Opens `output` (already joined to the working directory) for the bundle, as the module
    /// documentation says.
    pub fn create(output: &Path) -> Result<OutputFile, CliError> {
        let cannot = |e: io::Error| {
            CliError::msg(
                Exit::Bundle,
                format!("cannot write `{}`: {e}", output.display()),
            )
        };
        let target = match std::fs::metadata(output) {
            Ok(meta) if meta.is_dir() => {
                return Err(CliError::msg(
                    Exit::Bundle,
                    format!("cannot write `{}`: it is a directory", output.display()),
                )
                .hint("give --output the name of a file"));
            }
            // A device or a FIFO: write to it, as `tar -f` does. No truncation, no creation.
            Ok(meta) if !meta.is_file() => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(output)
                    .map_err(cannot)?;
                return Ok(OutputFile {
                    file,
                    shown: output.to_owned(),
                    place: Placing::InPlace,
                });
            }
            // A regular file, or a link to one: replace the file, keep the link.
            Ok(_) => std::fs::canonicalize(output).map_err(cannot)?,
            // A new file (or a dangling link, replaced as it is).
            Err(e) if e.kind() == io::ErrorKind::NotFound => output.to_owned(),
            Err(e) => return Err(cannot(e)),
        };
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let writable_dir = |e: io::Error| {
            let hint = match e.kind() {
                io::ErrorKind::NotFound => format!(
                    "the directory `{}` does not exist: create it first, or give --output a \
                     file in an existing directory",
                    dir.display()
                ),
                _ => "--output must name a file in a writable directory".to_owned(),
            };
            CliError::msg(
                Exit::Bundle,
                format!("cannot write in `{}`: {e}", dir.display()),
            )
            .hint(hint)
        };
        #[cfg(target_os = "linux")]
        if let Some(file) = unnamed::create_in(&dir).map_err(writable_dir)? {
            return Ok(OutputFile {
                file,
                shown: output.to_owned(),
                place: Placing::Unnamed { target },
            });
        }
        let mut temp_file = tempfile::Builder::new();
        temp_file.prefix(".spiro-bundle-").suffix(".tmp");
        #[cfg(unix)]
        temp_file.permissions(new_file_permissions());
        let (file, temp) = temp_file
            .tempfile_in(&dir)
            .map_err(writable_dir)?
            .into_parts();
        let on_signal = signal_cleanup::RemoveOnSignal::new(&temp);
        Ok(OutputFile {
            file,
            shown: output.to_owned(),
            place: Placing::Named {
                temp,
                target,
                _on_signal: on_signal,
            },
        })
    }

    /// The paths no directory walk may bundle: FILE, what it resolves to, and the temp file.
    pub fn excluded(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.shown.clone()];
        match &self.place {
            Placing::InPlace => {}
            #[cfg(target_os = "linux")]
            Placing::Unnamed { target } => paths.push(target.clone()),
            Placing::Named { temp, target, .. } => {
                paths.push(target.clone());
                paths.push(temp.to_path_buf());
            }
        }
        paths
    }

    /// FILE as the user named it.
    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// Makes the written bundle durable and puts it in place of FILE.
    pub fn finish(self) -> Result<(), CliError> {
        let cannot = |e: io::Error| {
            CliError::msg(
                Exit::Bundle,
                format!("cannot write `{}`: {e}", self.shown.display()),
            )
        };
        match self.place {
            // fsync means nothing to a FIFO or a terminal (and fails on some devices).
            Placing::InPlace => Ok(()),
            #[cfg(target_os = "linux")]
            Placing::Unnamed { ref target } => {
                self.file.sync_all().map_err(cannot)?;
                unnamed::link(&self.file, target).map_err(cannot)
            }
            Placing::Named {
                temp, ref target, ..
            } => {
                self.file.sync_all().map_err(cannot)?;
                temp.persist(target).map_err(|e| cannot(e.error))
            }
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.file.write(data)
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The mode a new file gets from a shell: 0666, less the umask (the kernel applies it).
#[cfg(unix)]
fn new_file_permissions() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o666)
}

/// Unnamed temp files (`O_TMPFILE`), linked into place through `/proc/self/fd`.
#[cfg(target_os = "linux")]
mod unnamed {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;
    use std::path::Path;

    use rustix::fs::{AtFlags, CWD, Mode, OFlags};
    use rustix::io::Errno;

    /// An unnamed file in `dir` with mode 0666 less the umask, or `None` where the file system
    /// (or `/proc`, needed to link it) does not allow it.
    pub fn create_in(dir: &Path) -> io::Result<Option<File>> {
        if !Path::new("/proc/self/fd").is_dir() {
            return Ok(None);
        }
        let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
        match rustix::fs::openat(CWD, dir, flags, Mode::from_raw_mode(0o666)) {
            Ok(fd) => Ok(Some(File::from(fd))),
            // No O_TMPFILE in this kernel or file system: EOPNOTSUPP, or EISDIR from kernels
            // that predate the flag and see only O_DIRECTORY in it.
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives `file` the name `target`, replacing what is there.
    pub fn link(file: &File, target: &Path) -> io::Result<()> {
        let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let link_as = |path: &Path| {
            rustix::fs::linkat(CWD, proc_path.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW)
                .map_err(io::Error::from)
        };
        match link_as(target) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        // linkat cannot replace a file: link under a temp name, then rename that over the
        // target. The temp name exists only between the two calls, removed on a signal.
        let dir = target
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let temp = tempfile::Builder::new()
            .prefix(".spiro-bundle-")
            .suffix(".tmp")
            .make_in(dir, |path| link_as(path))?
            .into_temp_path();
        let _on_signal = super::signal_cleanup::RemoveOnSignal::new(&temp);
        temp.persist(target).map_err(|e| e.error)
    }
}

/// Elsewhere, no signal handler: the temp file is removed on errors only.
#[cfg(not(unix))]
mod signal_cleanup {
    /// Does nothing where there are no Unix signals.
    pub struct RemoveOnSignal(());

    impl RemoveOnSignal {
        /// Does nothing.
        pub fn new(_path: &std::path::Path) -> RemoveOnSignal {
            RemoveOnSignal(())
        }
    }
}

/// Whether SIGINT was ignored when the process started (a background job, `nohup`): a
/// handler installed for it must then leave it ignored.
#[cfg(unix)]
pub fn sigint_ignored() -> bool {
    signal_cleanup::is_ignored(libc::SIGINT)
}

/// Removes a named temp file when SIGINT, SIGTERM or SIGHUP ends the process.
#[cfg(unix)]
mod signal_cleanup {
    use std::ffi::{CStr, CString, c_char};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::Once;
    use std::sync::atomic::{AtomicPtr, Ordering};

    /// The file to remove on a signal (a leaked C string), or null.
    static PATH: AtomicPtr<c_char> = AtomicPtr::new(std::ptr::null_mut());

    /// While alive, a terminating signal removes the file before the process ends.
    pub struct RemoveOnSignal(());

    impl RemoveOnSignal {
        /// Arms the removal of `path`; dropping the guard disarms it.
        pub fn new(path: &Path) -> RemoveOnSignal {
            install_handlers();
            if let Ok(path) = CString::new(path.as_os_str().as_bytes()) {
                // Leaked on purpose: a handler on another thread may still be reading it.
                PATH.store(path.into_raw(), Ordering::SeqCst);
            }
            RemoveOnSignal(())
        }
    }

    impl Drop for RemoveOnSignal {
        fn drop(&mut self) {
            PATH.store(std::ptr::null_mut(), Ordering::SeqCst);
        }
    }

    fn install_handlers() {
        static INSTALLED: Once = Once::new();
        INSTALLED.call_once(|| {
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                // A signal ignored when the process started (nohup, a background job) stays
                // ignored: the file is then never abandoned by it.
                if is_ignored(signal) {
                    continue;
                }
                // SAFETY: the handler only loads an atomic, calls unlink(2) on a C string
                // built before it was armed, and re-raises the signal: all async-signal-safe.
                let registered = unsafe {
                    signal_hook::low_level::register(signal, move || remove_and_end(signal))
                };
                // Without the handler the signal ends the process as before; nothing to add.
                drop(registered);
            }
        });
    }

    fn remove_and_end(signal: libc::c_int) {
        let path = PATH.swap(std::ptr::null_mut(), Ordering::SeqCst);
        if !path.is_null() {
            // SAFETY: a pointer stored in PATH comes from CString::into_raw and is never freed.
            let _ = rustix::fs::unlink(unsafe { CStr::from_ptr(path) });
        }
        let _ = signal_hook::low_level::emulate_default_handler(signal);
    }

    pub(super) fn is_ignored(signal: libc::c_int) -> bool {
        // SAFETY: sigaction with a null new action only reads the current one into `old`.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_output_by_its_names() {
        for name in ["-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"] {
            assert!(is_stdout(Path::new(name)), "{name}");
        }
        for name in ["/dev/stderr", "/dev/fd/2", "stdout", "./-"] {
            assert!(!is_stdout(Path::new(name)), "{name}");
        }
    }
}
