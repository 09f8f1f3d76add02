//! The C ABI between `spiro-deploy` and scanner plugins, mirrored field for field from
//! `plugins/include/spiro_scanner.h`, which is the normative definition: read its comments for
//! who owns what and for how long. The integration tests compile a C program against the
//! header and check that every size and offset here matches.
//!
//! Plugin authors use `spiro-plugin-sdk`, which implements all of this; the host side is
//! `spiro-plugin-host`.

#![no_std]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
pub mod convert;

use core::ffi::c_void;

/// The ABI version this crate describes (`SPIRO_SCANNER_ABI_VERSION`): version 2, which added
/// options. [`SpiroScannerPluginV1`] is the descriptor of version 1.
pub const ABI_VERSION: u32 = 2;

/// The symbol a plugin exports (`SPIRO_SCANNER_ENTRY_SYMBOL`).
pub const ENTRY_SYMBOL: &str = "spiro_scanner_plugin";

/// Return value of the fallible functions.
pub type SpiroStatus = i32;
/// Success.
pub const SPIRO_OK: SpiroStatus = 0;
/// `scan_next` only: no more entries.
pub const SPIRO_END: SpiroStatus = 1;
/// Failure; the message, if any, is in the `error_out` argument.
pub const SPIRO_ERROR: SpiroStatus = -1;

/// [`SpiroEntry::kind`] of a regular file.
pub const SPIRO_KIND_FILE: u32 = 1;
/// [`SpiroEntry::kind`] of a symbolic link.
pub const SPIRO_KIND_SYMLINK: u32 = 2;

/// An opaque scan owned by the plugin.
#[repr(C)]
pub struct SpiroScan {
    _private: [u8; 0],
}

/// An opaque reader owned by the plugin.
#[repr(C)]
pub struct SpiroReader {
    _private: [u8; 0],
}

/// Version 2: an opaque configuration owned by the plugin, made by `configure`.
#[repr(C)]
pub struct SpiroConfig {
    _private: [u8; 0],
}

/// Version 2: one option the scanner declares (UTF-8, static).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SpiroOptionInfo {
    /// The key users type before `=`.
    pub name: *const u8,
    /// Its length.
    pub name_len: usize,
    /// One line saying what it does.
    pub description: *const u8,
    /// Its length.
    pub description_len: usize,
    /// The value used when the option is not given.
    pub default_value: *const u8,
    /// Its length.
    pub default_value_len: usize,
}

/// Version 2: one option a user gave, lent to `configure` for the call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SpiroOption {
    /// The key's bytes (UTF-8).
    pub key: *const u8,
    /// Its length.
    pub key_len: usize,
    /// The value's bytes (UTF-8).
    pub value: *const u8,
    /// Its length.
    pub value_len: usize,
}

/// A byte string allocated by the plugin and released by the host with `string_free`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SpiroString {
    /// The bytes; NULL when there is no string.
    pub ptr: *mut u8,
    /// Their number.
    pub len: usize,
}

impl SpiroString {
    /// `{NULL, 0}`: what the host stores before every call.
    pub const EMPTY: SpiroString = SpiroString {
        ptr: core::ptr::null_mut(),
        len: 0,
    };
}

/// The host's veto: `true` means leave `path` out (and, for a directory, do not enter it).
pub type SpiroShouldSkip =
    unsafe extern "C" fn(ctx: *mut c_void, path: *const u8, path_len: usize, is_dir: bool) -> bool;

/// One entry, filled in by `scan_next`; `name` and `target` are lent until the plugin's next
/// call on the same scan.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SpiroEntry {
    /// Chosen by the plugin, passed back to `open` / `entry_release`.
    pub id: u64,
    /// The name's bytes.
    pub name: *const u8,
    /// The name's length.
    pub name_len: usize,
    /// [`SPIRO_KIND_FILE`] or [`SPIRO_KIND_SYMLINK`].
    pub kind: u32,
    /// Unix permission bits.
    pub mode: u32,
    /// A file's exact size.
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub mtime: u64,
    /// A symlink's target bytes.
    pub target: *const u8,
    /// The target's length.
    pub target_len: usize,
}

impl SpiroEntry {
    /// An all-zero entry, for the host to pass to `scan_next`.
    pub const ZEROED: SpiroEntry = SpiroEntry {
        id: 0,
        name: core::ptr::null(),
        name_len: 0,
        kind: 0,
        mode: 0,
        size: 0,
        mtime: 0,
        target: core::ptr::null(),
        target_len: 0,
    };
}

/// `scan_start`.
pub type ScanStartFn = unsafe extern "C" fn(
    root: *const u8,
    root_len: usize,
    should_skip: SpiroShouldSkip,
    skip_ctx: *mut c_void,
    scan_out: *mut *mut SpiroScan,
    error_out: *mut SpiroString,
) -> SpiroStatus;
/// `scan_next`.
pub type ScanNextFn = unsafe extern "C" fn(
    scan: *mut SpiroScan,
    should_skip: SpiroShouldSkip,
    skip_ctx: *mut c_void,
    entry_out: *mut SpiroEntry,
    error_out: *mut SpiroString,
) -> SpiroStatus;
/// `entry_release`.
pub type EntryReleaseFn = unsafe extern "C" fn(scan: *mut SpiroScan, id: u64);
/// `open`.
pub type OpenFn = unsafe extern "C" fn(
    scan: *mut SpiroScan,
    id: u64,
    reader_out: *mut *mut SpiroReader,
    error_out: *mut SpiroString,
) -> SpiroStatus;
/// `read`.
pub type ReadFn = unsafe extern "C" fn(
    reader: *mut SpiroReader,
    buf: *mut u8,
    cap: usize,
    read_out: *mut usize,
    error_out: *mut SpiroString,
) -> SpiroStatus;
/// `reader_free`.
pub type ReaderFreeFn = unsafe extern "C" fn(reader: *mut SpiroReader);
/// `scan_free`.
pub type ScanFreeFn = unsafe extern "C" fn(scan: *mut SpiroScan);
/// `string_free`.
pub type StringFreeFn = unsafe extern "C" fn(ptr: *mut u8, len: usize);
/// Version 2: `configure`.
pub type ConfigureFn = unsafe extern "C" fn(
    options: *const SpiroOption,
    option_count: usize,
    config_out: *mut *mut SpiroConfig,
    error_out: *mut SpiroString,
) -> SpiroStatus;
/// Version 2: `config_free`.
pub type ConfigFreeFn = unsafe extern "C" fn(config: *mut SpiroConfig);
/// Version 2: `scan_start_configured`.
pub type ScanStartConfiguredFn = unsafe extern "C" fn(
    config: *const SpiroConfig,
    root: *const u8,
    root_len: usize,
    should_skip: SpiroShouldSkip,
    skip_ctx: *mut c_void,
    scan_out: *mut *mut SpiroScan,
    error_out: *mut SpiroString,
) -> SpiroStatus;

/// The descriptor the entry symbol returns. Function pointers are `Option`s so that a NULL in a
/// broken plugin is a value the host can check, not undefined behaviour.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SpiroScannerPlugin {
    /// Must be first: the host reads it alone before anything else.
    pub abi_version: u32,
    /// `sizeof(SpiroScannerPlugin)` as the plugin was compiled.
    pub struct_size: u32,
    /// The scanner's name (UTF-8, static).
    pub name: *const u8,
    /// Its length.
    pub name_len: usize,
    /// A one-line description (UTF-8, static).
    pub description: *const u8,
    /// Its length.
    pub description_len: usize,
    /// Version 1 only: starts a scan (NULL in a version-2 descriptor).
    pub scan_start: Option<ScanStartFn>,
    /// Yields the next entry.
    pub scan_next: Option<ScanNextFn>,
    /// Forgets a file entry the host will not open.
    pub entry_release: Option<EntryReleaseFn>,
    /// Opens a file entry.
    pub open: Option<OpenFn>,
    /// Reads a chunk.
    pub read: Option<ReadFn>,
    /// Releases a reader.
    pub reader_free: Option<ReaderFreeFn>,
    /// Releases a scan.
    pub scan_free: Option<ScanFreeFn>,
    /// Releases an error message.
    pub string_free: Option<StringFreeFn>,
    /// Version 2: the options the scanner takes (`option_count` of them; NULL when none).
    pub options: *const SpiroOptionInfo,
    /// Their number.
    pub option_count: usize,
    /// Version 2: makes a configuration from the options given.
    pub configure: Option<ConfigureFn>,
    /// Version 2: releases a configuration.
    pub config_free: Option<ConfigFreeFn>,
    /// Version 2: starts a scan with a configuration.
    pub scan_start_configured: Option<ScanStartConfiguredFn>,
}

/// The descriptor of ABI version 1: the first fields of [`SpiroScannerPlugin`], laid out
/// identically (the tests check it), which is all a version-1 plugin provides.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SpiroScannerPluginV1 {
    /// Must be first: the host reads it alone before anything else.
    pub abi_version: u32,
    /// `sizeof(SpiroScannerPlugin)` as the plugin was compiled.
    pub struct_size: u32,
    /// The scanner's name (UTF-8, static).
    pub name: *const u8,
    /// Its length.
    pub name_len: usize,
    /// A one-line description (UTF-8, static).
    pub description: *const u8,
    /// Its length.
    pub description_len: usize,
    /// Starts a scan.
    pub scan_start: Option<ScanStartFn>,
    /// Yields the next entry.
    pub scan_next: Option<ScanNextFn>,
    /// Forgets a file entry the host will not open.
    pub entry_release: Option<EntryReleaseFn>,
    /// Opens a file entry.
    pub open: Option<OpenFn>,
    /// Reads a chunk.
    pub read: Option<ReadFn>,
    /// Releases a reader.
    pub reader_free: Option<ReaderFreeFn>,
    /// Releases a scan.
    pub scan_free: Option<ScanFreeFn>,
    /// Releases an error message.
    pub string_free: Option<StringFreeFn>,
}

/// The type of the entry symbol.
pub type EntryFn = unsafe extern "C" fn() -> *const SpiroScannerPlugin;

/// `sizeof(SpiroScannerPlugin)` of this version, as stored in [`SpiroScannerPlugin::struct_size`].
pub const DESCRIPTOR_SIZE: u32 = core::mem::size_of::<SpiroScannerPlugin>() as u32;

/// `sizeof(SpiroScannerPlugin)` of ABI version 1: the least a version-1 descriptor may declare.
pub const DESCRIPTOR_SIZE_V1: u32 = core::mem::size_of::<SpiroScannerPluginV1>() as u32;

/// The least `struct_size` a descriptor of ABI version `abi_version` may declare, if this crate
/// knows the version.
pub const fn descriptor_size(abi_version: u32) -> Option<u32> {
    match abi_version {
        1 => Some(DESCRIPTOR_SIZE_V1),
        2 => Some(DESCRIPTOR_SIZE),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    /// A version-1 descriptor is the start of a version-2 one, field for field.
    #[test]
    fn version_1_is_a_prefix_of_version_2() {
        macro_rules! same {
            ($($f:ident),*) => {$(
                assert_eq!(
                    offset_of!(SpiroScannerPluginV1, $f),
                    offset_of!(SpiroScannerPlugin, $f),
                    stringify!($f)
                );
            )*};
        }
        same!(
            abi_version,
            struct_size,
            name,
            name_len,
            description,
            description_len,
            scan_start,
            scan_next,
            entry_release,
            open,
            read,
            reader_free,
            scan_free,
            string_free
        );
        assert_eq!(
            DESCRIPTOR_SIZE_V1 as usize,
            offset_of!(SpiroScannerPlugin, options)
        );
    }
}
