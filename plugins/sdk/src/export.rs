//! The C side of an exported [`PluginScanner`]: the descriptor and the functions it points to.
//!
//! # The self-referential scan, and why it is sound
//!
//! [`Scanner::scan`](spiro_scanner::Scanner::scan) borrows the scanner and the `should_skip` closure for `'s` and returns an
//! iterator (and, through it, openers and readers) that live for `'s`. Across the C boundary
//! there is no stack frame to hold those borrows: the host calls `scan_start`, returns, and
//! later calls `scan_next`, `open` and `read` on handles. So the scanner and the closure are
//! put in an [`Anchor`] behind an [`Rc`], and `scan` is called on a `&'static Anchor` made from
//! the `Rc`'s pointer. That reference is sound because:
//!
//! 1. the anchor lives on the heap and never moves, and nothing ever takes `&mut` to it (no
//!    `Rc::get_mut`, no interior mutability in it but the callback [`Cell`]);
//! 2. every value that may hold a borrow of it — the iterator and the unopened openers in
//!    [`ScanState`], the content reader in [`ReaderState`] — is stored in a struct that also
//!    holds a clone of the `Rc`, *declared after* the borrowing fields, and Rust drops fields
//!    in declaration order: the borrowers are gone before that clone is released, so the anchor
//!    outlives all of them whichever order the host frees scans and readers in;
//! 3. `Scanner::scan` is generic over `'s`, so the scanner's code cannot tell that `'s` is
//!    `'static` here and cannot stash the borrow anywhere else (that would need `'s: 'static`).
//!
//! The host's `should_skip` callback is lent only for the call that passes it (rule 3 of the
//! header). The closure the scanner sees reads the callback from a [`Cell`] that is set at the
//! start of `scan_start` / `scan_next` and cleared when they return (even by panic); called at
//! any other time (an opener that asks, say), it answers "do not skip".
//!
//! `Rc` rather than `Arc`: the host never calls into one scan, or its readers, concurrently
//! (rule 5), and a non-atomic count is enough for calls that are merely sequential, even from
//! different threads, since the host's own hand-over between threads orders them.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::io::{self, Read};
use std::rc::Rc;

use spiro_plugin_abi::{
    ABI_VERSION, DESCRIPTOR_SIZE, SPIRO_END, SPIRO_ERROR, SPIRO_KIND_FILE, SPIRO_KIND_SYMLINK,
    SPIRO_OK, SpiroConfig, SpiroEntry, SpiroOption, SpiroOptionInfo, SpiroReader, SpiroScan,
    SpiroScannerPlugin, SpiroShouldSkip, SpiroStatus, SpiroString,
};
use spiro_scanner::{
    Candidate, Entries, EntryKind, Error, Opener, OptionError, ScannerOptions, ShouldSkip,
};

use spiro_plugin_abi::convert::{bytes_path, lent, path_bytes};

use crate::panic::guard;
use crate::{PluginOptions, PluginScanner};

/// The descriptor of `S`, for [`export_scanner!`](crate::export_scanner)'s `static`, pointing
/// to the option table `options` of `option_count` entries (see [`option_table`]).
pub const fn descriptor<S: PluginScanner>(
    options: *const SpiroOptionInfo,
    option_count: usize,
) -> SpiroScannerPlugin {
    SpiroScannerPlugin {
        abi_version: ABI_VERSION,
        struct_size: DESCRIPTOR_SIZE,
        name: S::NAME.as_ptr(),
        name_len: S::NAME.len(),
        description: S::DESCRIPTION.as_ptr(),
        description_len: S::DESCRIPTION.len(),
        scan_start: None,
        scan_next: Some(scan_next::<S>),
        entry_release: Some(entry_release::<S>),
        open: Some(open::<S>),
        read: Some(read::<S>),
        reader_free: Some(reader_free::<S>),
        scan_free: Some(scan_free::<S>),
        string_free: Some(string_free),
        options: if option_count == 0 {
            std::ptr::null()
        } else {
            options
        },
        option_count,
        configure: Some(configure::<S>),
        config_free: Some(config_free::<S>),
        scan_start_configured: Some(scan_start::<S>),
    }
}

/// `O`'s option declarations as the ABI's table, for [`export_scanner!`](crate::export_scanner)'s
/// `static`. `N` must be `O::OPTIONS.len()`.
///
/// # Panics
/// At compile time (the table is a `static`), if `N` is wrong or a declaration is not static
/// text ([`OptionInfo::new`](spiro_scanner::OptionInfo::new)).
pub const fn option_table<O: PluginOptions, const N: usize>() -> [SpiroOptionInfo; N] {
    assert!(
        O::OPTIONS.len() == N,
        "the option table's length is not OPTIONS.len()"
    );
    const EMPTY: SpiroOptionInfo = SpiroOptionInfo {
        name: std::ptr::null(),
        name_len: 0,
        description: std::ptr::null(),
        description_len: 0,
        default_value: std::ptr::null(),
        default_value_len: 0,
    };
    let mut table = [EMPTY; N];
    let mut i = 0;
    while i < N {
        let option = &O::OPTIONS[i];
        let name = static_text(&option.name);
        let description = static_text(&option.description);
        let default = static_text(&option.default);
        table[i] = SpiroOptionInfo {
            name: name.as_ptr(),
            name_len: name.len(),
            description: description.as_ptr(),
            description_len: description.len(),
            default_value: default.as_ptr(),
            default_value_len: default.len(),
        };
        i += 1;
    }
    table
}

/// The `'static` text of a declaration: a `Cow` must be matched, not dereferenced, in a
/// `const fn`.
#[allow(clippy::ptr_arg)]
const fn static_text(text: &'static Cow<'static, str>) -> &'static str {
    match text {
        Cow::Borrowed(text) => text,
        Cow::Owned(_) => panic!("a plugin's option declarations must be static text"),
    }
}

/// The host's callback, valid only while the call that lent it runs.
type Callback = Option<(SpiroShouldSkip, *mut c_void)>;

/// What `scan` borrows; see the module documentation.
struct Anchor<S> {
    scanner: S,
    skip: Box<ShouldSkip<'static>>,
}

/// Behind a `SpiroScan *`.
struct ScanState<S> {
    // Borrowers of `anchor` first: fields drop in declaration order.
    iter: Entries<'static>,
    openers: HashMap<u64, Opener<'static>>,
    /// The bytes `SpiroEntry::name` / `target` point to, until the next call.
    name: Vec<u8>,
    target: Vec<u8>,
    next_id: u64,
    /// Set once the iterator failed or panicked: it is not polled again.
    failed: bool,
    callback: Rc<Cell<Callback>>,
    anchor: Rc<Anchor<S>>,
}

/// Behind a `SpiroReader *`.
struct ReaderState<S> {
    // The reader may borrow the anchor: it must drop first.
    reader: Box<dyn Read + 'static>,
    _anchor: Rc<Anchor<S>>,
}

/// Lends `callback` to the closure for as long as this lives.
struct Lend<'a>(&'a Cell<Callback>);

impl<'a> Lend<'a> {
    fn new(cell: &'a Cell<Callback>, should_skip: SpiroShouldSkip, ctx: *mut c_void) -> Self {
        cell.set(Some((should_skip, ctx)));
        Lend(cell)
    }
}

impl Drop for Lend<'_> {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

fn skip_closure(cell: Rc<Cell<Callback>>) -> Box<ShouldSkip<'static>> {
    Box::new(move |candidate: &Candidate<'_>| {
        let Some((should_skip, ctx)) = cell.get() else {
            return false;
        };
        let path = path_bytes(candidate.path);
        // SAFETY: the callback and its context are the ones the host lent for the call that is
        // running now (`Lend` clears them when it returns); `path` outlives the callback.
        unsafe { should_skip(ctx, path.as_ptr(), path.len(), candidate.is_dir) }
    })
}

/// Reads the options into `S::Options` (boxed as the configuration), or refuses them.
unsafe extern "C" fn configure<S: PluginScanner>(
    options: *const SpiroOption,
    option_count: usize,
    config_out: *mut *mut SpiroConfig,
    error_out: *mut SpiroString,
) -> SpiroStatus {
    if config_out.is_null() || (options.is_null() && option_count > 0) {
        return fail(error_out, "configure: NULL options or config_out".into());
    }
    let pairs: &[SpiroOption] = match option_count {
        0 => &[],
        // SAFETY: the host lends `option_count` options at `options` (checked non-NULL) for
        // this call (header rule 1).
        _ => unsafe { std::slice::from_raw_parts(options, option_count) },
    };
    let mut given = ScannerOptions::new();
    for pair in pairs {
        // SAFETY: each key and value is lent with the array, for this call.
        let (key, value) = unsafe {
            (
                lent(pair.key, pair.key_len),
                lent(pair.value, pair.value_len),
            )
        };
        let (Ok(key), Ok(value)) = (std::str::from_utf8(key), std::str::from_utf8(value)) else {
            return fail(error_out, "an option is not UTF-8".into());
        };
        if let Err(error) = given.insert(S::NAME, key, value) {
            return fail(error_out, refusal(&error));
        }
    }
    match guard(|| S::Options::read(S::NAME, &given)) {
        Ok(Ok(options)) => {
            // SAFETY: checked non-NULL; the host owns the out-parameter.
            unsafe { *config_out = Box::into_raw(Box::new(options)).cast() };
            SPIRO_OK
        }
        Ok(Err(error)) => fail(error_out, refusal(&error)),
        Err(panic) => fail(error_out, panic),
    }
}

unsafe extern "C" fn config_free<S: PluginScanner>(config: *mut SpiroConfig) {
    if config.is_null() {
        return;
    }
    // SAFETY: `config` came from `Box::into_raw` in `configure::<S>` and is freed once, after
    // every scan started with it (header rule 1).
    let options = unsafe { Box::from_raw(config.cast::<S::Options>()) };
    let _ = guard(move || drop(options));
}

/// What the host shows after "scanner `NAME` refused its options: ": the problem, without the
/// scanner's name (the host says it) or the list of options (the host adds it).
fn refusal(error: &OptionError) -> String {
    match error {
        OptionError::Invalid {
            option,
            value,
            expected,
            ..
        } => format!("option `{option}` must be {expected}, not `{value}`"),
        OptionError::Unknown { option, .. } => format!("there is no option `{option}`"),
        OptionError::Duplicate { option, .. } => format!("option `{option}` is given twice"),
        OptionError::Refused { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

unsafe extern "C" fn scan_start<S: PluginScanner>(
    config: *const SpiroConfig,
    root: *const u8,
    root_len: usize,
    should_skip: SpiroShouldSkip,
    skip_ctx: *mut c_void,
    scan_out: *mut *mut SpiroScan,
    error_out: *mut SpiroString,
) -> SpiroStatus {
    if scan_out.is_null() || config.is_null() {
        return fail(
            error_out,
            "scan_start_configured: NULL config or scan_out".into(),
        );
    }
    // SAFETY: `config` came from `configure::<S>` (a boxed `S::Options`) and outlives this
    // call; it is only read, from any thread (header rule 5; `S::Options: Sync`).
    let options = unsafe { &*config.cast::<S::Options>() };
    // SAFETY: the host lends `root` for this call (header rule 1).
    let root = bytes_path(unsafe { lent(root, root_len) });
    let started = guard(|| {
        let callback = Rc::new(Cell::new(None));
        let anchor = Rc::new(Anchor {
            scanner: S::new(&root, options)?,
            skip: skip_closure(callback.clone()),
        });
        let _lend = Lend::new(&callback, should_skip, skip_ctx);
        // SAFETY: see the module documentation: the anchor is pinned in the `Rc` and outlives
        // every borrower, all of which live in `ScanState` / `ReaderState` next to a clone.
        let pinned: &'static Anchor<S> = unsafe { &*Rc::as_ptr(&anchor) };
        let iter = pinned.scanner.scan(&*pinned.skip)?;
        Ok::<_, Error>(ScanState {
            iter,
            openers: HashMap::new(),
            name: Vec::new(),
            target: Vec::new(),
            next_id: 1,
            failed: false,
            callback: callback.clone(),
            anchor,
        })
    });
    match started {
        Ok(Ok(state)) => {
            // SAFETY: checked non-NULL above; the host owns the out-parameter.
            unsafe { *scan_out = Box::into_raw(Box::new(state)).cast() };
            SPIRO_OK
        }
        Ok(Err(error)) => fail(error_out, error_text(&error)),
        Err(panic) => fail(error_out, panic),
    }
}

unsafe extern "C" fn scan_next<S: PluginScanner>(
    scan: *mut SpiroScan,
    should_skip: SpiroShouldSkip,
    skip_ctx: *mut c_void,
    entry_out: *mut SpiroEntry,
    error_out: *mut SpiroString,
) -> SpiroStatus {
    if scan.is_null() || entry_out.is_null() {
        return fail(error_out, "scan_next: NULL scan or entry_out".into());
    }
    // SAFETY: `scan` came from `scan_start::<S>` and is not used concurrently (header rule 5).
    let state = unsafe { &mut *scan.cast::<ScanState<S>>() };
    if state.failed {
        return fail(error_out, "the scan already failed".into());
    }
    let polled = guard(|| {
        let _lend = Lend::new(&state.callback, should_skip, skip_ctx);
        state.iter.next()
    });
    let entry = match polled {
        Ok(None) => return SPIRO_END,
        Ok(Some(Ok(entry))) => entry,
        Ok(Some(Err(error))) => {
            state.failed = true;
            return fail(error_out, error_text(&error));
        }
        Err(panic) => {
            state.failed = true;
            return fail(error_out, panic);
        }
    };
    let id = state.next_id;
    state.next_id += 1;
    let (name, kind, mtime) = entry.into_parts();
    state.name.clear();
    state.name.extend_from_slice(name.as_bytes());
    state.target.clear();
    let (kind, mode, size) = match kind {
        EntryKind::File {
            size,
            executable,
            open,
        } => {
            state.openers.insert(id, open);
            (
                SPIRO_KIND_FILE,
                if executable { 0o755 } else { 0o644 },
                size,
            )
        }
        EntryKind::Symlink { target } => {
            state.target = target;
            (SPIRO_KIND_SYMLINK, 0o777, 0)
        }
    };
    let out = SpiroEntry {
        id,
        name: state.name.as_ptr(),
        name_len: state.name.len(),
        kind,
        mode,
        size,
        mtime,
        target: state.target.as_ptr(),
        target_len: state.target.len(),
    };
    // SAFETY: checked non-NULL; the host owns the out-parameter.
    unsafe { *entry_out = out };
    SPIRO_OK
}

unsafe extern "C" fn entry_release<S: PluginScanner>(scan: *mut SpiroScan, id: u64) {
    if scan.is_null() {
        return;
    }
    // SAFETY: as in `scan_next`.
    let state = unsafe { &mut *scan.cast::<ScanState<S>>() };
    let opener = state.openers.remove(&id);
    // Dropping user code can panic; there is nobody to tell, and unwinding would abort.
    let _ = guard(move || drop(opener));
}

unsafe extern "C" fn open<S: PluginScanner>(
    scan: *mut SpiroScan,
    id: u64,
    reader_out: *mut *mut SpiroReader,
    error_out: *mut SpiroString,
) -> SpiroStatus {
    if scan.is_null() || reader_out.is_null() {
        return fail(error_out, "open: NULL scan or reader_out".into());
    }
    // SAFETY: as in `scan_next`.
    let state = unsafe { &mut *scan.cast::<ScanState<S>>() };
    let Some(opener) = state.openers.remove(&id) else {
        return fail(
            error_out,
            format!("no file entry {id} to open (never yielded, already opened or released)"),
        );
    };
    match guard(opener) {
        Ok(Ok(reader)) => {
            let reader = ReaderState {
                reader,
                _anchor: state.anchor.clone(),
            };
            // SAFETY: checked non-NULL; the host owns the out-parameter.
            unsafe { *reader_out = Box::into_raw(Box::new(reader)).cast() };
            SPIRO_OK
        }
        Ok(Err(error)) => fail(error_out, error_text(&error)),
        Err(panic) => fail(error_out, panic),
    }
}

unsafe extern "C" fn read<S: PluginScanner>(
    reader: *mut SpiroReader,
    buf: *mut u8,
    cap: usize,
    read_out: *mut usize,
    error_out: *mut SpiroString,
) -> SpiroStatus {
    if reader.is_null() || read_out.is_null() || (buf.is_null() && cap > 0) {
        return fail(error_out, "read: NULL reader, buffer or read_out".into());
    }
    // SAFETY: `reader` came from `open::<S>`; not used concurrently (header rule 5).
    let state = unsafe { &mut *reader.cast::<ReaderState<S>>() };
    let buf: &mut [u8] = match cap {
        0 => &mut [],
        // SAFETY: the host lends `cap` writable bytes at `buf` (checked non-NULL) for this
        // call, and reads none of them until the call returns.
        _ => unsafe { std::slice::from_raw_parts_mut(buf, cap) },
    };
    let result = guard(|| {
        loop {
            match state.reader.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    });
    match result {
        Ok(Ok(n)) => {
            // SAFETY: checked non-NULL.
            unsafe { *read_out = n.min(cap) };
            SPIRO_OK
        }
        Ok(Err(error)) => fail(error_out, error_text(&error)),
        Err(panic) => fail(error_out, panic),
    }
}

unsafe extern "C" fn reader_free<S: PluginScanner>(reader: *mut SpiroReader) {
    if reader.is_null() {
        return;
    }
    // SAFETY: `reader` came from `Box::into_raw` in `open::<S>` and is freed once (rule 1).
    let state = unsafe { Box::from_raw(reader.cast::<ReaderState<S>>()) };
    let _ = guard(move || drop(state));
}

unsafe extern "C" fn scan_free<S: PluginScanner>(scan: *mut SpiroScan) {
    if scan.is_null() {
        return;
    }
    // SAFETY: `scan` came from `Box::into_raw` in `scan_start::<S>` and is freed once.
    let state = unsafe { Box::from_raw(scan.cast::<ScanState<S>>()) };
    let _ = guard(move || drop(state));
}

unsafe extern "C" fn string_free(ptr: *mut u8, len: usize) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: every SpiroString this SDK hands out is a leaked `Box<[u8]>` of exactly this
    // pointer and length (see `fail`), and the host frees each once.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
}

/// Stores `message` in `*error_out` (if the host gave one) and returns `SPIRO_ERROR`.
fn fail(error_out: *mut SpiroString, message: String) -> SpiroStatus {
    if !error_out.is_null() {
        let bytes: Box<[u8]> = message.into_bytes().into_boxed_slice();
        let len = bytes.len();
        let ptr = Box::into_raw(bytes).cast::<u8>();
        // SAFETY: non-NULL; the host owns the out-parameter and frees it with `string_free`.
        unsafe { *error_out = SpiroString { ptr, len } };
    }
    SPIRO_ERROR
}

/// An error and its causes on one line: the host adds the plugin's name and path. A cause
/// that repeats the text before it (an `io::Error` showing the error it wraps) is said once.
fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut previous = String::new();
    for cause in spiro_scanner::error_chain(error) {
        let cause = cause.to_string();
        if cause == previous {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
        previous = cause;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use spiro_scanner::{OptionInfo, OptionReader, Scanner};
    use std::path::Path;

    struct Level(u8);

    impl PluginOptions for Level {
        const OPTIONS: &'static [OptionInfo] = &[OptionInfo::new("level", "how much, 1 to 3", "1")];

        fn from_options(options: &OptionReader<'_>) -> Result<Self, OptionError> {
            match options.parse("level", "a number from 1 to 3")? {
                level @ 1..=3 => Ok(Level(level)),
                _ => Err(options.invalid("level", "a number from 1 to 3")),
            }
        }
    }

    struct Leveled;

    impl Scanner for Leveled {
        fn name(&self) -> &str {
            "leveled"
        }
        fn scan<'s>(&'s self, _: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
            Ok(Box::new(std::iter::empty()))
        }
    }

    impl PluginScanner for Leveled {
        const NAME: &'static str = "leveled";
        const DESCRIPTION: &'static str = "a test";
        type Options = Level;
        fn new(_: &Path, _: &Level) -> Result<Self, Error> {
            Ok(Leveled)
        }
    }

    /// Configures `Leveled` with `pairs` as the host would: the level it read, or the message.
    fn configure_with(pairs: &[(&[u8], &[u8])]) -> Result<u8, String> {
        let options: Vec<SpiroOption> = pairs
            .iter()
            .map(|(k, v)| SpiroOption {
                key: k.as_ptr(),
                key_len: k.len(),
                value: v.as_ptr(),
                value_len: v.len(),
            })
            .collect();
        let mut config: *mut SpiroConfig = std::ptr::null_mut();
        let mut error = SpiroString::EMPTY;
        // SAFETY: the options and out-parameters live across the call, as the header asks.
        let status = unsafe {
            configure::<Leveled>(options.as_ptr(), options.len(), &mut config, &mut error)
        };
        if status == SPIRO_OK {
            // SAFETY: a configuration `configure::<Leveled>` made, released once.
            let level = unsafe { (*config.cast::<Level>()).0 };
            // SAFETY: as above.
            unsafe { config_free::<Leveled>(config) };
            return Ok(level);
        }
        // SAFETY: the SDK hands over `len` bytes at `ptr`, released once with `string_free`.
        let message = unsafe { String::from_utf8_lossy(lent(error.ptr, error.len)).into_owned() };
        // SAFETY: as above.
        unsafe { string_free(error.ptr, error.len) };
        Err(message)
    }

    #[test]
    fn configure_reads_defaults_and_given_options_and_refuses_bad_ones() {
        assert_eq!(configure_with(&[]), Ok(1));
        assert_eq!(configure_with(&[(b"level", b"3")]), Ok(3));
        assert_eq!(
            configure_with(&[(b"level", b"9")]),
            Err("option `level` must be a number from 1 to 3, not `9`".to_owned())
        );
        assert_eq!(
            configure_with(&[(b"levle", b"2")]),
            Err("there is no option `levle`".to_owned())
        );
        assert_eq!(
            configure_with(&[(b"level", b"2"), (b"level", b"3")]),
            Err("option `level` is given twice".to_owned())
        );
        assert_eq!(
            configure_with(&[(b"level", b"\xff")]),
            Err("an option is not UTF-8".to_owned())
        );
    }

    #[test]
    fn the_option_table_points_to_the_declarations() {
        const TABLE: [SpiroOptionInfo; 1] = option_table::<Level, 1>();
        // SAFETY: the table points to the declarations' static strings.
        let (name, description, default) = unsafe {
            (
                lent(TABLE[0].name, TABLE[0].name_len),
                lent(TABLE[0].description, TABLE[0].description_len),
                lent(TABLE[0].default_value, TABLE[0].default_value_len),
            )
        };
        assert_eq!(
            (name, description, default),
            (&b"level"[..], &b"how much, 1 to 3"[..], &b"1"[..])
        );
        let d = descriptor::<Leveled>(TABLE.as_ptr(), 1);
        assert_eq!((d.abi_version, d.option_count), (2, 1));
        assert!(d.scan_start.is_none() && d.configure.is_some());
        assert!(descriptor::<Leveled>(TABLE.as_ptr(), 0).options.is_null());
    }
}
