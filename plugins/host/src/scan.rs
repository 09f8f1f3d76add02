//! A plugin as a [`Scanner`]: scans, entries and readers over the C ABI.
//!
//! Ownership on this side: a plugin's scan is held by an [`Rc<ScanHandle>`] shared by the entry
//! iterator, every file entry not yet opened, and every open reader; the last one dropped calls
//! `scan_free`, so the plugin's scan outlives everything opened from it (rule 6 of the header)
//! whatever order the caller drops them in. Every string the plugin lends is copied before the
//! next call; every string it hands over is copied and given back to `string_free` at once.

use std::any::Any;
use std::collections::HashSet;
use std::ffi::c_void;
use std::fmt;
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use spiro_plugin_abi::{
    SPIRO_END, SPIRO_ERROR, SPIRO_KIND_FILE, SPIRO_KIND_SYMLINK, SPIRO_OK, SpiroConfig, SpiroEntry,
    SpiroOption, SpiroReader, SpiroScan, SpiroString,
};
use spiro_scanner::{
    Candidate, Entries, Entry, EntryName, Error, OptionError, Scanner, ScannerOptions, ShouldSkip,
};

use spiro_plugin_abi::convert::{bytes_path, lent, path_bytes};

use crate::Plugin;
use crate::callback::{self, ScanCallbacks};
use crate::load::Start;

/// The longest error message kept from a plugin; the rest is cut, so a runaway plugin cannot
/// flood the terminal.
const MAX_MESSAGE: usize = 4096;

/// The longest entry name or symlink target accepted from a plugin: a longer one is garbage,
/// and reading all of what a broken plugin claims could fault.
const MAX_NAME: usize = 64 * 1024;

/// A [`Scanner`] backed by a plugin, scanning one root directory. See [`Plugin::scanner`].
#[derive(Clone, Debug)]
pub struct PluginScanner {
    plugin: Plugin,
    root: PathBuf,
    setup: Setup,
}

/// How a [`PluginScanner`]'s scans start.
#[derive(Clone, Debug)]
pub(crate) enum Setup {
    /// An ABI version 1 plugin: with `scan_start`, and no options.
    V1,
    /// An ABI version 2 plugin, configured.
    V2(Arc<Config>),
    /// An ABI version 2 plugin that refused its default options: every scan fails saying so.
    Refused(OptionError),
}

/// A version-2 plugin's configuration; `config_free` when the last holder goes (the scanner
/// and every scan started with it hold it, so it outlives them as the header promises).
pub(crate) struct Config {
    plugin: Plugin,
    raw: *mut SpiroConfig,
}

// SAFETY: a configuration is read-only once `configure` returns it, and the host may use it
// from any thread and start scans with it from several at once (header rule 5); `Config`
// itself only ever passes the pointer back.
unsafe impl Send for Config {}
// SAFETY: as above.
unsafe impl Sync for Config {}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("plugin", &self.plugin.info().name)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Has the version-2 `plugin` make a configuration from `options` (already checked
    /// against its declarations).
    pub(crate) fn new(plugin: &Plugin, options: &ScannerOptions) -> Result<Config, OptionError> {
        let Start::V2 { configure, .. } = plugin.vtable().start else {
            unreachable!("only version-2 plugins are configured");
        };
        let info = plugin.info();
        let refused = |message: String| OptionError::Refused {
            scanner: info.name.clone(),
            message,
            accepted: info.options.clone(),
        };
        if let Some((key, value)) = options.iter().find(|(_, value)| value.contains('\0')) {
            // The header promises values without NUL bytes, which C code could not see past.
            return Err(OptionError::Invalid {
                scanner: info.name.clone(),
                option: key.to_owned(),
                value: value.replace('\0', "\\0"),
                expected: "text without NUL bytes".to_owned(),
            });
        }
        let pairs: Vec<SpiroOption> = options
            .iter()
            .map(|(key, value)| SpiroOption {
                key: key.as_ptr(),
                key_len: key.len(),
                value: value.as_ptr(),
                value_len: value.len(),
            })
            .collect();
        let mut raw: *mut SpiroConfig = std::ptr::null_mut();
        let mut error = SpiroString::EMPTY;
        // SAFETY: `configure` of a validated version-2 descriptor; the pairs and the strings
        // they point to (owned by `options`) and the out-parameters live across the call.
        let status = unsafe {
            configure(
                if pairs.is_empty() {
                    std::ptr::null()
                } else {
                    pairs.as_ptr()
                },
                pairs.len(),
                &mut raw,
                &mut error,
            )
        };
        let message = take_message(plugin, error);
        match status {
            SPIRO_OK => Ok(Config {
                plugin: plugin.clone(),
                raw,
            }),
            // On failure nothing is handed over but the message: `raw` is not the host's.
            SPIRO_ERROR => Err(refused(
                message.unwrap_or_else(|| "(no message)".to_owned()),
            )),
            other => Err(refused(format!(
                "broke the scanner ABI: configure returned the unknown status {other}"
            ))),
        }
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        if let Start::V2 { config_free, .. } = self.plugin.vtable().start {
            // SAFETY: `raw` came from a successful `configure`, and this is its only release;
            // every scan started with it holds this `Config`, so all are released (rule 1).
            unsafe { config_free(self.raw) };
        }
    }
}

impl PluginScanner {
    pub(crate) fn new(plugin: Plugin, root: PathBuf, setup: Setup) -> PluginScanner {
        PluginScanner {
            plugin,
            root,
            setup,
        }
    }

    /// The plugin behind this scanner.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// The directory the plugin is asked to scan.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Scanner for PluginScanner {
    fn name(&self) -> &str {
        &self.plugin.info().name
    }

    fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
        let vt = *self.plugin.vtable();
        let root = path_bytes(&self.root);
        let mut skip = SkipCtx::new(should_skip);
        let callbacks = ScanCallbacks::new();
        let mut raw: *mut SpiroScan = std::ptr::null_mut();
        let mut error = SpiroString::EMPTY;
        let config = match &self.setup {
            Setup::V1 => None,
            Setup::V2(config) => Some(config.clone()),
            Setup::Refused(refused) => return Err(self.error(refused.to_string())),
        };
        let call = callbacks.call(skip.as_ctx());
        let status = match (vt.start, &config) {
            // SAFETY: a version-1 `scan_start` of a validated descriptor; `root` and the
            // out-parameters live across the call; the callback context is a token the
            // trampoline checks (see `callback`), so whatever the plugin does with it is defined.
            (Start::V1(scan_start), _) => unsafe {
                scan_start(
                    root.as_ptr(),
                    root.len(),
                    skip_trampoline,
                    call.token(),
                    &mut raw,
                    &mut error,
                )
            },
            // SAFETY: as above, for version 2's `scan_start_configured`, with a configuration
            // this plugin made, which lives while the scan's handle does.
            (Start::V2 { scan_start, .. }, Some(config)) => unsafe {
                scan_start(
                    config.raw,
                    root.as_ptr(),
                    root.len(),
                    skip_trampoline,
                    call.token(),
                    &mut raw,
                    &mut error,
                )
            },
            (Start::V2 { .. }, None) => unreachable!("a version-2 scanner is configured"),
        };
        drop(call);
        let message = take_message(&self.plugin, error);
        let handle = (status == SPIRO_OK && !raw.is_null()).then(|| {
            Rc::new(ScanHandle {
                plugin: self.plugin.clone(),
                raw,
                _config: config,
            })
        });
        skip.rethrow();
        if let Some(misuse) = callbacks.take_misuse() {
            return Err(abi_error(&self.plugin, &misuse.to_string()));
        }
        let handle = match (status, handle) {
            (SPIRO_OK, Some(handle)) => handle,
            (SPIRO_OK, None) => return Err(abi_error(&self.plugin, "scan_start gave no scan")),
            (SPIRO_ERROR, _) => {
                return Err(self.error(format!(
                    "cannot scan `{}`: {}",
                    self.root.display(),
                    message.as_deref().unwrap_or("(no message)")
                )));
            }
            (other, _) => {
                return Err(abi_error(
                    &self.plugin,
                    &format!("scan_start returned the unknown status {other}"),
                ));
            }
        };
        Ok(Box::new(PluginEntries {
            handle,
            callbacks,
            should_skip,
            done: false,
            seen: HashSet::new(),
        }))
    }
}

impl PluginScanner {
    fn error(&self, message: String) -> Error {
        Error::scanner(self.plugin.label(), message)
    }
}

/// The plugin's scan; `scan_free` when the last holder goes.
struct ScanHandle {
    plugin: Plugin,
    raw: *mut SpiroScan,
    /// The configuration it was started with: released only after `scan_free` (fields drop
    /// after `drop` runs).
    _config: Option<Arc<Config>>,
}

impl Drop for ScanHandle {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `scan_start`, and this is its only release (rule 1); every
        // reader and pending entry holds this handle, so they are gone (rule 6).
        unsafe { (self.plugin.vtable().scan_free)(self.raw) };
    }
}

struct PluginEntries<'s> {
    handle: Rc<ScanHandle>,
    /// Checks the `should_skip` contexts this scan's calls pass.
    callbacks: ScanCallbacks,
    should_skip: &'s ShouldSkip<'s>,
    done: bool,
    /// Names yielded so far, so a plugin that yields one twice is caught here and named with
    /// its path (the builder would catch it too, but could only name the scanner).
    seen: HashSet<EntryName>,
}

impl<'s> Iterator for PluginEntries<'s> {
    type Item = spiro_scanner::Result<Entry<'s>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.next_entry();
        if !matches!(result, Some(Ok(_))) {
            // After the end or an error the plugin is not called again.
            self.done = true;
        }
        result
    }
}

impl<'s> PluginEntries<'s> {
    fn next_entry(&mut self) -> Option<spiro_scanner::Result<Entry<'s>>> {
        let plugin = &self.handle.plugin;
        let vt = *plugin.vtable();
        let mut skip = SkipCtx::new(self.should_skip);
        let mut raw = SpiroEntry::ZEROED;
        let mut error = SpiroString::EMPTY;
        let call = self.callbacks.call(skip.as_ctx());
        // SAFETY: a live scan of this plugin; the entry and error live across the call; the
        // callback context is a token the trampoline checks (see `callback`).
        let status = unsafe {
            (vt.scan_next)(
                self.handle.raw,
                skip_trampoline,
                call.token(),
                &mut raw,
                &mut error,
            )
        };
        drop(call);
        let message = take_message(plugin, error);
        // Copy what the plugin lent before anything else can call it again; a length past the
        // cap is refused below without reading anything.
        let too_long = raw.name_len.max(raw.target_len) > MAX_NAME;
        // SAFETY: on SPIRO_OK the entry's strings are lent until the next call on this scan,
        // and neither is longer than the cap.
        let copied = (status == SPIRO_OK && !too_long).then(|| unsafe {
            (
                lent(raw.name, raw.name_len).to_vec(),
                lent(raw.target, raw.target_len).to_vec(),
            )
        });
        skip.rethrow();
        let label = plugin.label();
        let refuse = |what: &str| {
            if status == SPIRO_OK && raw.kind == SPIRO_KIND_FILE {
                // SAFETY: a file entry of this live scan, neither opened nor released.
                unsafe { (vt.entry_release)(self.handle.raw, raw.id) };
            }
            Some(Err(abi_error(plugin, what)))
        };
        if let Some(misuse) = self.callbacks.take_misuse() {
            return refuse(&misuse.to_string());
        }
        let (name, target) = match (status, copied) {
            (SPIRO_OK, Some(copied)) => copied,
            (SPIRO_OK, None) => {
                return refuse(&format!(
                    "yielded an entry whose name or target claims {} bytes (at most {MAX_NAME} \
                     allowed)",
                    raw.name_len.max(raw.target_len)
                ));
            }
            (SPIRO_END, _) => return None,
            (SPIRO_ERROR, _) => {
                let message = message.as_deref().unwrap_or("(no message)");
                return Some(Err(Error::scanner(
                    label,
                    format!("the scan failed: {message}"),
                )));
            }
            (other, _) => {
                return Some(Err(abi_error(
                    plugin,
                    &format!("scan_next returned the unknown status {other}"),
                )));
            }
        };
        // From here on, a file entry we refuse must still be released.
        let release = |id| {
            if raw.kind == SPIRO_KIND_FILE {
                // SAFETY: a file entry of this live scan, neither opened nor released.
                unsafe { (vt.entry_release)(self.handle.raw, id) };
            }
        };
        let entry_name = match EntryName::new(&name) {
            Ok(entry_name) => entry_name,
            Err(reason) => {
                release(raw.id);
                return Some(Err(Error::UnsafeName {
                    scanner: label.to_owned(),
                    name: String::from_utf8_lossy(&name).into_owned(),
                    reason,
                }));
            }
        };
        if !self.seen.insert(entry_name.clone()) {
            release(raw.id);
            return Some(Err(Error::scanner(
                label,
                format!("yielded `{entry_name}` twice"),
            )));
        }
        match raw.kind {
            SPIRO_KIND_FILE => {
                let pending = PendingEntry {
                    handle: self.handle.clone(),
                    id: raw.id,
                    armed: true,
                };
                let name_for_reader = entry_name.clone();
                let executable = raw.mode & 0o111 != 0;
                Some(Ok(Entry::file(
                    entry_name,
                    raw.size,
                    executable,
                    raw.mtime,
                    move || pending.open(name_for_reader),
                )))
            }
            SPIRO_KIND_SYMLINK => {
                let problem = if target.is_empty() {
                    Some("an empty target")
                } else if target.contains(&0) {
                    Some("a target containing a NUL byte")
                } else {
                    None
                };
                if let Some(problem) = problem {
                    return Some(Err(Error::scanner(
                        label,
                        format!("yielded the symlink `{entry_name}` with {problem}"),
                    )));
                }
                Some(Ok(Entry::symlink(entry_name, target, raw.mtime)))
            }
            other => {
                release(raw.id);
                Some(Err(abi_error(
                    plugin,
                    &format!("yielded `{entry_name}` with the unknown kind {other}"),
                )))
            }
        }
    }
}

/// A file entry not opened yet: released to the plugin if it never is.
struct PendingEntry {
    handle: Rc<ScanHandle>,
    id: u64,
    armed: bool,
}

impl PendingEntry {
    fn open(mut self, name: EntryName) -> spiro_scanner::Result<Box<dyn Read>> {
        self.armed = false;
        let plugin = &self.handle.plugin;
        let mut raw: *mut SpiroReader = std::ptr::null_mut();
        let mut error = SpiroString::EMPTY;
        // SAFETY: a file entry of this live scan, opened once (the opener is `FnOnce` and
        // disarmed the release above).
        let status =
            unsafe { (plugin.vtable().open)(self.handle.raw, self.id, &mut raw, &mut error) };
        let message = take_message(plugin, error);
        match status {
            SPIRO_OK if !raw.is_null() => Ok(Box::new(PluginReader {
                handle: self.handle.clone(),
                raw,
                name,
                failed: None,
            })),
            SPIRO_OK => Err(abi_error(
                plugin,
                &format!("open of `{name}` gave no reader"),
            )),
            SPIRO_ERROR => Err(Error::scanner(
                plugin.label(),
                format!(
                    "cannot open `{name}`: {}",
                    message.as_deref().unwrap_or("(no message)")
                ),
            )),
            other => Err(abi_error(
                plugin,
                &format!("open returned the unknown status {other}"),
            )),
        }
    }
}

impl Drop for PendingEntry {
    fn drop(&mut self) {
        if self.armed {
            // SAFETY: a file entry of this live scan, neither opened nor released.
            unsafe { (self.handle.plugin.vtable().entry_release)(self.handle.raw, self.id) };
        }
    }
}

/// A file's content, read through the plugin one caller-sized chunk at a time.
struct PluginReader {
    handle: Rc<ScanHandle>,
    raw: *mut SpiroReader,
    name: EntryName,
    /// Once a read failed, the plugin is not asked again.
    failed: Option<String>,
}

impl PluginReader {
    fn fail(&mut self, message: String) -> io::Error {
        self.failed = Some(message.clone());
        io::Error::other(Error::scanner(self.handle.plugin.label(), message))
    }
}

impl Read for PluginReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(message) = &self.failed {
            let message = message.clone();
            return Err(self.fail(message));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let plugin = self.handle.plugin.clone();
        let mut n = 0usize;
        let mut error = SpiroString::EMPTY;
        // SAFETY: a live reader of this plugin; `buf` is lent for the call.
        let status = unsafe {
            (plugin.vtable().read)(self.raw, buf.as_mut_ptr(), buf.len(), &mut n, &mut error)
        };
        let message = take_message(&plugin, error);
        match status {
            SPIRO_OK if n <= buf.len() => Ok(n),
            SPIRO_OK => Err(self.fail(format!(
                "broke the scanner ABI: read of `{}` claims {n} bytes into a {}-byte buffer",
                self.name,
                buf.len()
            ))),
            SPIRO_ERROR => Err(self.fail(format!(
                "cannot read `{}`: {}",
                self.name,
                message.as_deref().unwrap_or("(no message)")
            ))),
            other => Err(self.fail(format!(
                "broke the scanner ABI: read returned the unknown status {other}"
            ))),
        }
    }
}

impl Drop for PluginReader {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `open` and this is its only release.
        unsafe { (self.handle.plugin.vtable().reader_free)(self.raw) };
    }
}

/// What the host lends the plugin as `should_skip`'s context for one call.
struct SkipCtx<'a> {
    should_skip: &'a ShouldSkip<'a>,
    /// A panic of `should_skip`, carried over the plugin's frames (which it must not unwind
    /// through) and resumed once the plugin has returned.
    panic: Option<Box<dyn Any + Send>>,
}

impl<'a> SkipCtx<'a> {
    fn new(should_skip: &'a ShouldSkip<'a>) -> SkipCtx<'a> {
        SkipCtx {
            should_skip,
            panic: None,
        }
    }

    fn as_ctx(&mut self) -> *mut c_void {
        (self as *mut SkipCtx<'a>).cast()
    }

    fn rethrow(&mut self) {
        if let Some(payload) = self.panic.take() {
            panic::resume_unwind(payload);
        }
    }
}

unsafe extern "C" fn skip_trampoline(
    ctx: *mut c_void,
    path: *const u8,
    path_len: usize,
    is_dir: bool,
) -> bool {
    // A late, cross-thread or made-up context is refused (and fails the scan); `ctx` itself is
    // a token and never dereferenced.
    let Some(ctx) = callback::resolve(ctx) else {
        return true;
    };
    // SAFETY: `resolve` gives only the address of the `SkipCtx` of a call to the plugin running
    // on this thread now; that call's frame, which holds it, is below this one on the stack,
    // and the host does not touch it during the call.
    let ctx = unsafe { &mut *ctx.cast::<SkipCtx<'_>>() };
    if ctx.panic.is_some() {
        return true;
    }
    // SAFETY: the plugin lends `path` for the callback.
    let bytes = unsafe { lent(path, path_len) };
    let path = bytes_path(bytes);
    let should_skip = ctx.should_skip;
    match panic::catch_unwind(AssertUnwindSafe(|| {
        should_skip(&Candidate {
            path: &path,
            is_dir,
        })
    })) {
        Ok(skip) => skip,
        Err(payload) => {
            ctx.panic = Some(payload);
            true
        }
    }
}

/// Copies a message the plugin handed over and gives the memory back to it.
pub(crate) fn take_message(plugin: &Plugin, error: SpiroString) -> Option<String> {
    if error.ptr.is_null() {
        return None;
    }
    // Only the first `MAX_MESSAGE` bytes are read: the claimed length may be a lie.
    let kept = error.len.min(MAX_MESSAGE);
    // SAFETY: the plugin handed over `len` bytes at `ptr`, valid until `string_free`; `kept`
    // is no more than that.
    let cut = unsafe { lent(error.ptr, kept) };
    let mut message = String::from_utf8_lossy(cut).into_owned();
    if kept < error.len {
        message.push_str(&format!(
            "... (cut at {MAX_MESSAGE} of the {} bytes the plugin claims)",
            error.len
        ));
    }
    // SAFETY: handed over by this plugin, released once.
    unsafe { (plugin.vtable().string_free)(error.ptr, error.len) };
    Some(message)
}

fn abi_error(plugin: &Plugin, what: &str) -> Error {
    Error::scanner(plugin.label(), format!("broke the scanner ABI: {what}"))
}
