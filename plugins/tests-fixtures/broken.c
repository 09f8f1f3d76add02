/*
 * A purpose-built scanner plugin for the tests, compiled once per failure mode with -D flags.
 * Without any, it is well behaved: it yields `hello.txt` ("hello\n") and `link` -> `hello.txt`,
 * and `spiro_test_outstanding()` counts what the host has not released yet (scans, readers,
 * entries neither opened nor released, error strings) and `spiro_test_configs()` the
 * configurations, so the tests can check that the host releases everything it was given
 * (a configuration lives as long as its scanner). It declares one option, `level` (default 1),
 * and refuses any value but 1 to 3 with its own message.
 *
 *   -DNO_ENTRY_SYMBOL        exports the descriptor under a misspelt symbol
 *   -DABI=N                  declares ABI version N
 *   -DSTRUCT_SIZE=N          declares a descriptor of N bytes
 *   -DNULL_READ              leaves the read function NULL
 *   -DNULL_DESCRIPTOR        the entry symbol returns NULL
 *   -DPLUGIN_NAME='"x"'      calls itself x (default "broken")
 *   -DSCAN_FAILS             scan_start fails
 *   -DNEXT_FAILS             the second scan_next fails
 *   -DREAD_FAILS             hello.txt is 100000 bytes; reads fail past the first half
 *   -DSIZE_LIE               hello.txt is announced as 10 bytes, but has 6
 *   -DBAD_NAME='"..."'       the first entry is called this (may contain \0)
 *   -DDUPLICATE              yields hello.txt twice
 *   -DBAD_STATUS             scan_next returns 7
 *   -DHUGE=N                 hello.txt is N bytes of 'x', served from no memory at all
 *   -DHUGE_MESSAGE           error messages claim SIZE_MAX bytes in a 4096-byte buffer
 *   -DLATE_CALLBACK          keeps the should_skip context of the first scan_next and calls it
 *                            in the second
 *   -DTHREAD_CALLBACK        the first scan_next calls should_skip from another thread
 *                            (compile with -pthread)
 *   -DFORGED_CALLBACK        the first scan_next calls should_skip with a made-up context
 *   -DHUGE_NAME              hello.txt's name claims SIZE_MAX bytes
 *   -DNULL_OPTION_TABLE      declares 2 options at a NULL table
 *   -DOPTION_NAME='"x"'      calls its option x (default "level"; may be invalid UTF-8)
 *   -DNULL_CONFIGURE         leaves the configure function NULL
 *   -DREQUIRE_LEVEL          refuses to be configured without `level`
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef THREAD_CALLBACK
#include <pthread.h>
#endif

#include "spiro_scanner.h"

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "broken"
#endif
#ifndef ABI
#define ABI SPIRO_SCANNER_ABI_VERSION
#endif
#ifndef STRUCT_SIZE
#define STRUCT_SIZE sizeof(SpiroScannerPlugin)
#endif

static long outstanding = 0;

long spiro_test_outstanding(void) {
    return outstanding;
}

static long configs = 0;

long spiro_test_configs(void) {
    return configs;
}

struct SpiroConfig {
    int level;
    unsigned magic;
};
#define CONFIG_MAGIC 0x5c0f1600u

struct SpiroScan {
    int next;
    int hello_pending; /* hello.txt yielded, neither opened nor released */
};

struct SpiroReader {
    unsigned long long pos;
    unsigned long long size;
};

#ifdef REAL_SIZE
#undef REAL_SIZE
#endif
#if defined(HUGE)
#define HELLO_SIZE ((unsigned long long)(HUGE))
#elif defined(READ_FAILS)
#define HELLO_SIZE 100000ull
#else
#define HELLO_SIZE 6ull
#endif
#ifdef SIZE_LIE
#define ANNOUNCED_SIZE 10ull
#else
#define ANNOUNCED_SIZE HELLO_SIZE
#endif

static SpiroStatus fail(SpiroString *error_out, const char *message) {
    size_t len = strlen(message);
#ifdef HUGE_MESSAGE
    /* The host may read up to its cap (4096 bytes), which exist; the claimed length does not. */
    uint8_t *copy = malloc(4096);
    if (copy == NULL) return SPIRO_ERROR;
    memset(copy, 'x', 4096);
    memcpy(copy, message, len);
    error_out->ptr = copy;
    error_out->len = SIZE_MAX;
#else
    uint8_t *copy = malloc(len);
    if (copy == NULL) return SPIRO_ERROR;
    memcpy(copy, message, len);
    error_out->ptr = copy;
    error_out->len = len;
#endif
    outstanding++;
    return SPIRO_ERROR;
}

static void string_free(uint8_t *ptr, size_t len) {
    (void)len;
    free(ptr);
    outstanding--;
}

#ifndef OPTION_NAME
#define OPTION_NAME "level"
#endif
static const char OPTION[] = OPTION_NAME;
static const char OPTION_DESCRIPTION[] = "how broken, 1 to 3";
static const char OPTION_DEFAULT[] = "1";
#ifdef NULL_OPTION_TABLE
__attribute__((unused))
#endif
static const SpiroOptionInfo OPTIONS[] = {
    {(const uint8_t *)OPTION, sizeof OPTION - 1, (const uint8_t *)OPTION_DESCRIPTION,
     sizeof OPTION_DESCRIPTION - 1, (const uint8_t *)OPTION_DEFAULT, sizeof OPTION_DEFAULT - 1},
};

#ifdef NULL_CONFIGURE
__attribute__((unused))
#endif
static SpiroStatus configure(const SpiroOption *options, size_t option_count,
                             SpiroConfig **config_out, SpiroString *error_out) {
    int level = 1;
#ifdef REQUIRE_LEVEL
    if (option_count == 0) return fail(error_out, "give me a `level`: there is no good default");
#endif
    for (size_t i = 0; i < option_count; i++) {
        const SpiroOption *o = &options[i];
        if (o->key_len != sizeof OPTION - 1 || memcmp(o->key, OPTION, o->key_len) != 0)
            return fail(error_out, "no such option");
        if (o->value_len != 1 || o->value[0] < '1' || o->value[0] > '3')
            return fail(error_out, "a level is 1, 2 or 3: this fixture is only so broken");
        level = o->value[0] - '0';
    }
    struct SpiroConfig *config = calloc(1, sizeof *config);
    config->level = level;
    config->magic = CONFIG_MAGIC;
    configs++;
    *config_out = config;
    return SPIRO_OK;
}

static void config_free(SpiroConfig *config) {
    config->magic = 0;
    free(config);
    configs--;
}

static SpiroStatus scan_start(const SpiroConfig *config, const uint8_t *root, size_t root_len,
                              SpiroShouldSkip should_skip, void *skip_ctx, SpiroScan **scan_out,
                              SpiroString *error_out) {
    if (config == NULL || config->magic != CONFIG_MAGIC)
        return fail(error_out, "scan_start_configured was given no configuration of mine");
    (void)root;
    (void)root_len;
    (void)should_skip;
    (void)skip_ctx;
#ifdef SCAN_FAILS
    (void)scan_out;
    return fail(error_out, "cannot reach the artifact server");
#else
    (void)error_out;
    struct SpiroScan *scan = calloc(1, sizeof *scan);
    outstanding++;
    *scan_out = scan;
    return SPIRO_OK;
#endif
}

#ifdef THREAD_CALLBACK
struct callback_call {
    SpiroShouldSkip should_skip;
    void *skip_ctx;
};

static void *call_back_from_thread(void *arg) {
    struct callback_call *call = arg;
    call->should_skip(call->skip_ctx, (const uint8_t *)"hello.txt", 9, false);
    return NULL;
}
#endif

#ifdef LATE_CALLBACK
static SpiroShouldSkip kept_should_skip;
static void *kept_skip_ctx;
#endif

static SpiroStatus scan_next(SpiroScan *scan, SpiroShouldSkip should_skip, void *skip_ctx,
                             SpiroEntry *entry_out, SpiroString *error_out) {
    (void)error_out;
#ifdef BAD_STATUS
    return 7;
#endif
    int n = scan->next++;
#ifdef LATE_CALLBACK
    if (n == 0) {
        kept_should_skip = should_skip;
        kept_skip_ctx = skip_ctx;
    } else if (n == 1) {
        kept_should_skip(kept_skip_ctx, (const uint8_t *)"link", 4, false);
    }
#endif
#ifdef FORGED_CALLBACK
    if (n == 0) should_skip((void *)(uintptr_t)0x5eed, (const uint8_t *)"hello.txt", 9, false);
#endif
#ifdef THREAD_CALLBACK
    if (n == 0) {
        struct callback_call call = {should_skip, skip_ctx};
        pthread_t thread;
        if (pthread_create(&thread, NULL, call_back_from_thread, &call) != 0) {
            return fail(error_out, "cannot start a thread");
        }
        pthread_join(thread, NULL);
    }
#endif
#ifdef NEXT_FAILS
    if (n == 1) return fail(error_out, "the listing broke off");
#endif
    memset(entry_out, 0, sizeof *entry_out);
#ifdef DUPLICATE
    const int duplicate = 1;
#else
    const int duplicate = 0;
#endif
    if (n == 0 || (n == 1 && duplicate)) {
        if (should_skip(skip_ctx, (const uint8_t *)"hello.txt", 9, false)) return SPIRO_END;
#ifdef BAD_NAME
        static const char name[] = BAD_NAME;
#else
        static const char name[] = "hello.txt";
#endif
        entry_out->id = 1;
        entry_out->name = (const uint8_t *)name;
        entry_out->name_len = sizeof name - 1;
#ifdef HUGE_NAME
        entry_out->name_len = SIZE_MAX;
#endif
        entry_out->kind = SPIRO_KIND_FILE;
        entry_out->mode = 0755;
        entry_out->size = ANNOUNCED_SIZE;
        entry_out->mtime = 1700000000;
        if (!scan->hello_pending) {
            scan->hello_pending = 1;
            outstanding++;
        }
        return SPIRO_OK;
    }
    if (n == 1) {
        static const char name[] = "link";
        static const char target[] = "hello.txt";
        entry_out->id = 2;
        entry_out->name = (const uint8_t *)name;
        entry_out->name_len = 4;
        entry_out->kind = SPIRO_KIND_SYMLINK;
        entry_out->mode = 0777;
        entry_out->target = (const uint8_t *)target;
        entry_out->target_len = 9;
        return SPIRO_OK;
    }
    return SPIRO_END;
}

static void entry_release(SpiroScan *scan, uint64_t id) {
    if (id == 1 && scan->hello_pending) {
        scan->hello_pending = 0;
        outstanding--;
    }
}

static SpiroStatus open_entry(SpiroScan *scan, uint64_t id, SpiroReader **reader_out,
                              SpiroString *error_out) {
    if (id != 1) return fail(error_out, "no such entry");
    if (scan->hello_pending) {
        scan->hello_pending = 0;
        outstanding--;
    }
    struct SpiroReader *reader = calloc(1, sizeof *reader);
    reader->size = HELLO_SIZE;
    outstanding++;
    *reader_out = reader;
    return SPIRO_OK;
}

#ifdef NULL_READ
__attribute__((unused))
#endif
static SpiroStatus read_chunk(SpiroReader *reader, uint8_t *buf, size_t cap, size_t *read_out,
                              SpiroString *error_out) {
    (void)error_out;
    unsigned long long left = reader->size - reader->pos;
#ifdef READ_FAILS
    /* Part-way whatever the host's buffer size: the first half is served, then reads fail. */
    if (reader->pos >= HELLO_SIZE / 2) return fail(error_out, "the disk is on fire");
    if (left > HELLO_SIZE / 2 - reader->pos) left = HELLO_SIZE / 2 - reader->pos;
#endif
    size_t n = left < cap ? (size_t)left : cap;
#if defined(HUGE) || defined(READ_FAILS)
    memset(buf, 'x', n);
#else
    memcpy(buf, "hello\n" + reader->pos, n);
#endif
    reader->pos += n;
    *read_out = n;
    return SPIRO_OK;
}

static void reader_free(SpiroReader *reader) {
    free(reader);
    outstanding--;
}

static void scan_free(SpiroScan *scan) {
    if (scan->hello_pending) outstanding--; /* scan_free releases everything */
    free(scan);
    outstanding--;
}

static const char NAME[] = PLUGIN_NAME;
static const char DESCRIPTION[] = "A test fixture";

static const SpiroScannerPlugin DESCRIPTOR = {
    .abi_version = ABI,
    .struct_size = STRUCT_SIZE,
    .name = (const uint8_t *)NAME,
    .name_len = sizeof NAME - 1,
    .description = (const uint8_t *)DESCRIPTION,
    .description_len = sizeof DESCRIPTION - 1,
    .scan_start = NULL,
    .scan_next = scan_next,
    .entry_release = entry_release,
    .open = open_entry,
#ifdef NULL_READ
    .read = NULL,
#else
    .read = read_chunk,
#endif
    .reader_free = reader_free,
    .scan_free = scan_free,
    .string_free = string_free,
#ifdef NULL_OPTION_TABLE
    .options = NULL,
    .option_count = 2,
#else
    .options = OPTIONS,
    .option_count = 1,
#endif
#ifdef NULL_CONFIGURE
    .configure = NULL,
#else
    .configure = configure,
#endif
    .config_free = config_free,
    .scan_start_configured = scan_start,
};

#ifdef NO_ENTRY_SYMBOL
const SpiroScannerPlugin *spiro_scanner_plugn(void) {
#else
const SpiroScannerPlugin *spiro_scanner_plugin(void) {
#endif
#ifdef NULL_DESCRIPTOR
    return DESCRIPTOR.abi_version == 0 ? &DESCRIPTOR : NULL;
#else
    return &DESCRIPTOR;
#endif
}
