/*
 * spiro_scanner.h — the C ABI between spiro-deploy and scanner plugins.
 *
 * A scanner plugin is a shared library (libspiro_scanner_NAME.so on Linux) that exports one
 * symbol, `spiro_scanner_plugin`, returning a pointer to a static SpiroScannerPlugin
 * descriptor. spiro-deploy reads the descriptor's ABI version *first* and refuses a plugin whose
 * version it does not support, before it reads anything else, so that a future layout change is
 * an error message and never undefined behaviour (the way PostgreSQL's PG_MODULE_MAGIC works).
 *
 * The boundary is plain C on purpose: Rust has no stable ABI, and a plugin compiled by another
 * rustc (or in C, C++, Zig, ...) must work with any spiro-deploy that supports its ABI version.
 * Rust plugins need not use this header: the spiro-plugin-sdk crate mirrors it and does all of
 * the below for them.
 *
 * Versions. This header describes ABI version 2. Version 1, the first, had no options:
 * its descriptor is this one without the fields after string_free, and the host starts its
 * scans with scan_start. Version 2 adds options: the descriptor declares the options the
 * scanner takes (options, option_count), the host turns the options a user gave into a
 * configuration with configure (where the plugin refuses what it cannot use), and starts scans
 * with scan_start_configured. A host that speaks version 2 still loads version-1 plugins (and
 * refuses to give them any option); a host that speaks only version 1 refuses version-2
 * plugins, rather than running them without the options the user asked for.
 *
 * Rules that hold across the whole ABI (each function's comment only adds to them):
 *
 * 1. Ownership. Memory is released only by the side that allocated it, through that side's own
 *    function, because the host and the plugin may use different allocators (two Rust standard
 *    libraries, or malloc and a Rust allocator). Concretely:
 *      - the descriptor, its name and its description, and the option table with every string
 *        in it belong to the plugin and stay valid while the library is loaded; the host never
 *        frees them;
 *      - the options the host passes to configure (the array and every key and value in it)
 *        belong to the host and are lent for that call only: a plugin that needs a value later
 *        copies it into its configuration;
 *      - a SpiroConfig belongs to the plugin; the host releases each exactly once with
 *        config_free, after every scan started with it has been released with scan_free (so a
 *        scan may keep pointers into its configuration);
 *      - a SpiroScan and a SpiroReader belong to the plugin; the host releases each exactly once
 *        with scan_free / reader_free;
 *      - an error message (SpiroString) is allocated by the plugin and handed to the host, which
 *        copies it and releases it exactly once with string_free;
 *      - buffers passed *in* (the root path, the read buffer, the path given to should_skip) are
 *        lent by the caller and are valid only during the call that lends them.
 * 2. Strings are (pointer, length) pairs of bytes, never NUL-terminated, because file names on
 *    Unix are arbitrary bytes and a name may contain anything (the host refuses a NUL inside an
 *    entry name, but must be able to see it to refuse it). A pointer may be NULL when its length
 *    is 0.
 * 3. Nothing borrowed outlives the call that lent it: the should_skip callback and its context
 *    are passed again to every call that may use them, and the plugin must not keep them. The
 *    name and target of an entry returned by scan_next are lent by the plugin until its next
 *    call on the same scan (or scan_free); the host copies them at once.
 *    The host checks the callback's use (see SpiroShouldSkip): a call with a context kept from
 *    an earlier call, from another thread, or with a context it never passed is refused and
 *    fails the scan. These checks, like those of names and sizes, turn a plugin's mistakes into
 *    error messages; they do not contain a plugin that means harm: it runs in the host's
 *    process with the user's rights, so it is trusted code.
 * 4. Errors. A fallible function returns SPIRO_ERROR and, if it can, stores a message in
 *    *error_out (which the host set to {NULL, 0} before the call). The host reports it as this
 *    plugin's error, naming the plugin's path. Nothing may unwind across the boundary: a C++
 *    exception or a Rust panic must be caught inside the plugin (the Rust SDK does this).
 * 5. Threads. The host makes no concurrent calls on one scan or on the readers opened from it,
 *    but it may make successive calls from different threads. Different scans are independent.
 *    A configuration is read-only once configure returns it: the host may start several scans
 *    with one configuration, from several threads at once.
 * 6. Order of release. The host frees every reader opened from a scan, and releases or opens
 *    every file entry it was given, before it calls scan_free on that scan. (The SDK does not
 *    rely on this, but a C plugin may.)
 */
#ifndef SPIRO_SCANNER_H
#define SPIRO_SCANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. Bumped on any incompatible change; appending a field
 * at the end of SpiroScannerPlugin is compatible (struct_size tells the host what is there).
 * Version 2 added options: see "Versions" above. */
#define SPIRO_SCANNER_ABI_VERSION 2u

/* The one symbol a plugin exports. */
#define SPIRO_SCANNER_ENTRY_SYMBOL "spiro_scanner_plugin"

/* Return values of the fallible functions. */
typedef int32_t SpiroStatus;
#define SPIRO_OK 0    /* success */
#define SPIRO_END 1   /* scan_next only: no more entries; *entry_out is untouched */
#define SPIRO_ERROR -1 /* failure; see *error_out */

/* SpiroEntry.kind */
#define SPIRO_KIND_FILE 1u    /* a regular file: size and mode matter, open() reads it */
#define SPIRO_KIND_SYMLINK 2u /* a symbolic link: target matters, it is never opened */

/* Opaque plugin objects. The host only passes their pointers back. */
typedef struct SpiroScan SpiroScan;
typedef struct SpiroReader SpiroReader;
/* Version 2: a plugin's configuration, made by configure from the options a user gave. */
typedef struct SpiroConfig SpiroConfig;

/* A byte string allocated by the plugin and released by the host with string_free. The host
 * reads at most 4096 bytes of an error message and says it cut the rest; it refuses an entry
 * whose name or target claims more than 65536 bytes without reading it. */
typedef struct SpiroString {
    uint8_t *ptr;
    size_t len;
} SpiroString;

/*
 * The host's veto, as in the Rust Scanner trait: returns true if `path` (relative to the scanned
 * root, '/'-separated, never empty) must be left out. A plugin asks about every directory before
 * it enters it (is_dir = true; if skipped, nothing below it may be read) and about every entry
 * before it yields it (is_dir = false). `path` is lent for the duration of the callback only.
 * The callback never fails and never unwinds into the plugin.
 *
 * `ctx` is an opaque token, not a pointer: pass it back unchanged, never dereference it. It is
 * valid only during the scan_start or scan_next call that passed it, and only on the thread
 * that made that call (the plugin may not hand it to a thread of its own, even one it joins
 * before returning). A callback with a context that is not valid there and then is refused: it
 * returns true (leave the path out) without looking at `path`, and the host fails the scan with
 * an error naming the plugin ("called should_skip outside scan_next" / "from another thread").
 */
typedef bool (*SpiroShouldSkip)(void *ctx, const uint8_t *path, size_t path_len, bool is_dir);

/* One entry, filled in by scan_next. */
typedef struct SpiroEntry {
    /* Chosen by the plugin; passed back to open() / entry_release(). Unique within a scan. */
    uint64_t id;
    /* Relative to the scanned root, '/'-separated: no leading '/', no '..' component, not
     * empty, no NUL. The host validates this and fails the scan otherwise. Lent until the
     * plugin's next call on this scan. */
    const uint8_t *name;
    size_t name_len;
    /* SPIRO_KIND_FILE or SPIRO_KIND_SYMLINK. */
    uint32_t kind;
    /* Unix permission bits; the bundle stores 0755 if any execute bit is set, else 0644. */
    uint32_t mode;
    /* Files: the exact number of bytes open()/read() will produce. The host fails the bundle
     * if the content turns out shorter or longer. Symlinks: 0. */
    uint64_t size;
    /* Modification time, seconds since the Unix epoch. */
    uint64_t mtime;
    /* Symlinks: the target, stored as is (never followed). Lent like `name`. Files: NULL, 0. */
    const uint8_t *target;
    size_t target_len;
} SpiroEntry;

/*
 * Version 2: one option the scanner takes, as --list-scanners shows it and as errors list what
 * is accepted: `,NAME=DEFAULT  DESCRIPTION`. All three are UTF-8 and static (rule 1). The name
 * is what users type before `=`: 1 to 64 ASCII letters, digits, `-` and `_`, unique within the
 * table. The description is one line (at most 4096 bytes); the default is the value the
 * plugin uses when the option is not given, written as a user would give it (`false`, `0`,
 * `.spiromanifest`; empty if there is none), at most 4096 bytes. The host refuses a
 * descriptor whose table breaks these rules.
 */
typedef struct SpiroOptionInfo {
    const uint8_t *name;
    size_t name_len;
    const uint8_t *description;
    size_t description_len;
    const uint8_t *default_value;
    size_t default_value_len;
} SpiroOptionInfo;

/*
 * Version 2: one option a user gave, `--include-source=NAME,KEY=VALUE` (a bare `KEY` is passed
 * as `KEY=true`). Both are UTF-8 without NUL bytes; the key is one the plugin declared (the
 * host refuses any other before calling the plugin), each key at most once, in the order the
 * user gave them. Lent for the configure call only (rule 1).
 */
typedef struct SpiroOption {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
} SpiroOption;

typedef struct SpiroScannerPlugin {
    /* MUST be first and equal to SPIRO_SCANNER_ABI_VERSION as the plugin was compiled. The host
     * reads this field alone first, and nothing else if it does not support the version. */
    uint32_t abi_version;
    /* sizeof(SpiroScannerPlugin) as the plugin was compiled; the host refuses a descriptor
     * smaller than its version's (a version-1 descriptor ends at string_free), and ignores
     * fields it does not know. */
    uint32_t struct_size;

    /* The scanner's name, as used in messages and in --include-source (by convention the NAME
     * of the library's file name), and a one-line description for --list-scanners. UTF-8,
     * static. */
    const uint8_t *name;
    size_t name_len;
    const uint8_t *description;
    size_t description_len;

    /*
     * Version 1 only: starts a scan of the directory `root` (lent for this call). On SPIRO_OK,
     * *scan_out holds a new scan that the host will release with scan_free. On SPIRO_ERROR,
     * *scan_out is not used and nothing needs releasing but the error message. The plugin may
     * call should_skip (with skip_ctx) during this call only.
     * A version-2 host starts scans with scan_start_configured and never calls this one: a
     * version-2 plugin sets it to NULL.
     */
    SpiroStatus (*scan_start)(const uint8_t *root, size_t root_len, SpiroShouldSkip should_skip,
                              void *skip_ctx, SpiroScan **scan_out, SpiroString *error_out);

    /*
     * Yields the next entry into *entry_out (SPIRO_OK), or says the scan is over (SPIRO_END), or
     * fails (SPIRO_ERROR; the host does not call scan_next again). Entries come in a stable
     * order: the same tree must give the same bundle bytes. The plugin may call should_skip
     * during this call only.
     */
    SpiroStatus (*scan_next)(SpiroScan *scan, SpiroShouldSkip should_skip, void *skip_ctx,
                             SpiroEntry *entry_out, SpiroString *error_out);

    /*
     * The host will not open file entry `id`: the plugin may forget how to. Called at most once
     * per file entry, never after open() on the same id, and never for symlinks. Lets a plugin
     * that keeps per-entry state stay flat in memory when the host only lists names.
     */
    void (*entry_release)(SpiroScan *scan, uint64_t id);

    /*
     * Opens the content of file entry `id`, which scan_next yielded earlier on this scan (not
     * necessarily the latest). Called at most once per id, only when the host writes that
     * entry, so a scan of many files does not hold many open files. On SPIRO_OK, *reader_out
     * holds a reader that the host will release with reader_free.
     */
    SpiroStatus (*open)(SpiroScan *scan, uint64_t id, SpiroReader **reader_out,
                        SpiroString *error_out);

    /*
     * Copies at most `cap` (> 0) bytes of content into `buf` (lent by the host) and stores how
     * many in *read_out: 0 means end of content. The host reads in chunks of its own buffer's
     * size and never asks the plugin for a whole file, so memory stays flat for any file size.
     */
    SpiroStatus (*read)(SpiroReader *reader, uint8_t *buf, size_t cap, size_t *read_out,
                        SpiroString *error_out);

    /* Releases a reader. Called exactly once per reader. */
    void (*reader_free)(SpiroReader *reader);

    /* Releases a scan and everything it still holds. Called exactly once per scan, last. */
    void (*scan_free)(SpiroScan *scan);

    /* Releases an error message the plugin handed over in a SpiroString. */
    void (*string_free)(uint8_t *ptr, size_t len);

    /* ---- Version 2: options. A version-1 descriptor ends above. ---- */

    /* The options the scanner takes, in the order --list-scanners shows them: `option_count`
     * entries at `options` (static, rule 1). NULL and 0 for a scanner that takes none. */
    const SpiroOptionInfo *options;
    size_t option_count;

    /*
     * Makes a configuration from the options a user gave: `option_count` pairs at `options`
     * (NULL when 0), lent for this call only. Options not given take the plugin's defaults, so
     * it is called, with no options if none were given, once for every --include-source of
     * this plugin, when the host resolves it, before any scan and before anything is bundled;
     * it must not touch the project (there is no root yet) and should be cheap.
     * On SPIRO_OK, *config_out holds a configuration (it may be NULL if the plugin needs none)
     * that the host will release with config_free. On SPIRO_ERROR the plugin refuses the
     * options: *error_out says why in one line, naming the option and what it takes
     * ("`max-size` must be a number of bytes, not `big`"); the host shows it as the user's
     * mistake, with the options the plugin declares. A plugin refuses a key it does not know
     * too, although this host never passes one.
     */
    SpiroStatus (*configure)(const SpiroOption *options, size_t option_count,
                             SpiroConfig **config_out, SpiroString *error_out);

    /* Releases a configuration, exactly once, after every scan started with it is released.
     * Called with what configure stored in *config_out, NULL included. */
    void (*config_free)(SpiroConfig *config);

    /*
     * Starts a scan of the directory `root` (lent for this call) with a configuration from
     * configure (read-only; it outlives the scan). Otherwise exactly version 1's scan_start: on
     * SPIRO_OK, *scan_out holds a new scan that the host will release with scan_free; on
     * SPIRO_ERROR, nothing needs releasing but the error message; the plugin may call
     * should_skip (with skip_ctx) during this call only.
     */
    SpiroStatus (*scan_start_configured)(const SpiroConfig *config, const uint8_t *root,
                                         size_t root_len, SpiroShouldSkip should_skip,
                                         void *skip_ctx, SpiroScan **scan_out,
                                         SpiroString *error_out);
} SpiroScannerPlugin;

/* The entry symbol. Returns a pointer to a descriptor that lives as long as the library. It must
 * be cheap and have no side effects: spiro-deploy --list-scanners calls it on every plugin it
 * finds. */
const SpiroScannerPlugin *spiro_scanner_plugin(void);

#ifdef __cplusplus
}
#endif

#endif /* SPIRO_SCANNER_H */
