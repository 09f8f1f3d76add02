/*
 * toplevel: an example spiro-deploy scanner plugin in plain C, against spiro_scanner.h only.
 *
 * It bundles the regular files and symlinks directly inside the project directory (it never
 * descends into subdirectories), in byte order of their names, plus a generated file,
 * `.toplevel-index`, listing each of them with its size. File content is read straight from
 * disk in the chunks the host asks for; the index is served from memory.
 *
 * Options (ABI version 2):
 *     hidden=false      leave out names that start with `.` (default: true, bundle them)
 *     max-size=BYTES    leave out files larger than BYTES (default: none, no limit)
 * The index lists what is bundled, and is itself always bundled. The options are read once,
 * by configure, into a SpiroConfig that every scan reads.
 * for instance `--include-source=toplevel,hidden=false,max-size=1048576`.
 *
 * Build (Linux):
 *     cc -std=c11 -Wall -Wextra -shared -fPIC -I ../../include -o libspiro_scanner_toplevel.so toplevel.c
 * Then put the library in a directory of SPIRO_PLUGIN_PATH and run
 *     spiro-deploy --include-source=toplevel ...
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spiro_scanner.h"

#define INDEX_NAME ".toplevel-index"

struct item {
    char *name; /* NUL-terminated: it came from readdir, which cannot return a NUL inside */
    uint32_t kind;
    uint32_t mode;
    uint64_t size;
    uint64_t mtime;
    char *target; /* symlinks */
    size_t target_len;
};

/* The options, as configure read them. Read-only once made: scans only look at it. */
struct SpiroConfig {
    bool hidden;       /* bundle names starting with `.` */
    bool limited;      /* max_size applies */
    uint64_t max_size;
};

struct SpiroScan {
    int dir_fd;             /* the root, kept open so that entries are opened relative to it */
    struct item *items;
    size_t count;
    size_t next;            /* the next item scan_next yields; count = the index, count+1 = end */
    int index_skipped;
    char *index;            /* the generated .toplevel-index */
    size_t index_len;
};

struct SpiroReader {
    int fd;                 /* -1 for the in-memory index */
    const char *mem;
    size_t mem_len;
    size_t pos;
};

/* Hands an error message to the host, which gives it back through string_free. */
static SpiroStatus fail(SpiroString *error_out, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (error_out != NULL && n > 0) {
        size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
        uint8_t *copy = malloc(len);
        if (copy != NULL) {
            memcpy(copy, buf, len);
            error_out->ptr = copy;
            error_out->len = len;
        }
    }
    return SPIRO_ERROR;
}

static void string_free(uint8_t *ptr, size_t len) {
    (void)len;
    free(ptr);
}

/* The options, as --list-scanners shows them. Static: the descriptor points to them. */
#define TEXT(s) (const uint8_t *)(s), sizeof(s) - 1
static const SpiroOptionInfo OPTIONS[] = {
    {TEXT("hidden"), TEXT("also bundle names that start with `.`"), TEXT("true")},
    {TEXT("max-size"), TEXT("leave out files larger than this many bytes"), TEXT("none")},
};

/* Whether the lent (ptr, len) string equals the C string `text`. */
static bool equals(const uint8_t *ptr, size_t len, const char *text) {
    return len == strlen(text) && (len == 0 || memcmp(ptr, text, len) == 0);
}

/* Reads the options the host lends for this call; anything kept is copied into the config. */
static SpiroStatus configure(const SpiroOption *options, size_t option_count,
                             SpiroConfig **config_out, SpiroString *error_out) {
    struct SpiroConfig config = {.hidden = true, .limited = false, .max_size = 0};
    for (size_t i = 0; i < option_count; i++) {
        const SpiroOption *o = &options[i];
        int vlen = o->value_len > 64 ? 64 : (int)o->value_len; /* shown in messages */
        if (equals(o->key, o->key_len, "hidden")) {
            if (equals(o->value, o->value_len, "true") || equals(o->value, o->value_len, "yes") ||
                equals(o->value, o->value_len, "on") || equals(o->value, o->value_len, "1")) {
                config.hidden = true;
            } else if (equals(o->value, o->value_len, "false") ||
                       equals(o->value, o->value_len, "no") ||
                       equals(o->value, o->value_len, "off") || equals(o->value, o->value_len, "0")) {
                config.hidden = false;
            } else {
                return fail(error_out, "option `hidden` must be `true` or `false`, not `%.*s`",
                            vlen, (const char *)o->value);
            }
        } else if (equals(o->key, o->key_len, "max-size")) {
            if (equals(o->value, o->value_len, "none")) {
                config.limited = false;
                continue;
            }
            uint64_t n = 0;
            bool ok = o->value_len > 0;
            for (size_t j = 0; ok && j < o->value_len; j++) {
                uint8_t c = o->value[j];
                ok = c >= '0' && c <= '9' && n <= (UINT64_MAX - (c - '0')) / 10;
                n = n * 10 + (uint64_t)(c - '0');
            }
            if (!ok) {
                return fail(error_out,
                            "option `max-size` must be a number of bytes or `none`, not `%.*s`",
                            vlen, (const char *)o->value);
            }
            config.limited = true;
            config.max_size = n;
        } else {
            /* The host never passes an undeclared key, but a plugin does not rely on that. */
            int klen = o->key_len > 64 ? 64 : (int)o->key_len;
            return fail(error_out, "there is no option `%.*s`", klen, (const char *)o->key);
        }
    }
    struct SpiroConfig *copy = malloc(sizeof *copy);
    if (copy == NULL) return fail(error_out, "out of memory");
    *copy = config;
    *config_out = copy;
    return SPIRO_OK;
}

/* Called once per config, after every scan started with it is released. */
static void config_free(SpiroConfig *config) {
    free(config);
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const struct item *)a)->name, ((const struct item *)b)->name);
}

static void free_items(struct SpiroScan *scan) {
    for (size_t i = 0; i < scan->count; i++) {
        free(scan->items[i].name);
        free(scan->items[i].target);
    }
    free(scan->items);
}

static void scan_free(SpiroScan *scan) {
    if (scan == NULL) return;
    free_items(scan);
    free(scan->index);
    if (scan->dir_fd >= 0) close(scan->dir_fd);
    free(scan);
}

/* Appends formatted text to the index, growing it as needed. */
static int index_append(struct SpiroScan *scan, size_t *cap, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(scan->index + scan->index_len, *cap - scan->index_len, fmt, ap);
        va_end(ap);
        if (n < 0) return -1;
        if (scan->index_len + (size_t)n < *cap) {
            scan->index_len += (size_t)n;
            return 0;
        }
        size_t bigger = (*cap + (size_t)n) * 2;
        char *grown = realloc(scan->index, bigger);
        if (grown == NULL) return -1;
        scan->index = grown;
        *cap = bigger;
    }
}

static SpiroStatus scan_start(const SpiroConfig *config, const uint8_t *root, size_t root_len,
                              SpiroShouldSkip should_skip, void *skip_ctx, SpiroScan **scan_out,
                              SpiroString *error_out) {
    /* The root is lent as (ptr, len), not NUL-terminated: copy it to open it. */
    char *path = malloc(root_len + 1);
    if (path == NULL) return fail(error_out, "out of memory");
    memcpy(path, root, root_len);
    path[root_len] = '\0';

    struct SpiroScan *scan = calloc(1, sizeof *scan);
    if (scan == NULL) {
        free(path);
        return fail(error_out, "out of memory");
    }
    scan->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (scan->dir_fd < 0) {
        SpiroStatus s = fail(error_out, "cannot open the directory `%s`: %s", path, strerror(errno));
        free(path);
        scan_free(scan);
        return s;
    }
    int dup_fd = dup(scan->dir_fd);
    DIR *dir = dup_fd < 0 ? NULL : fdopendir(dup_fd);
    if (dir == NULL) {
        SpiroStatus s = fail(error_out, "cannot list `%s`: %s", path, strerror(errno));
        if (dup_fd >= 0) close(dup_fd);
        free(path);
        scan_free(scan);
        return s;
    }
    size_t cap = 0;
    struct dirent *d;
    SpiroStatus status = SPIRO_OK;
    while ((d = readdir(dir)) != NULL) {
        const char *name = d->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, INDEX_NAME) == 0)
            continue;
        if (!config->hidden && name[0] == '.') continue;
        struct stat st;
        if (fstatat(scan->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            status = fail(error_out, "cannot stat `%s/%s`: %s", path, name, strerror(errno));
            break;
        }
        if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) continue; /* directories, FIFOs, ... */
        if (config->limited && S_ISREG(st.st_mode) && (uint64_t)st.st_size > config->max_size)
            continue;
        /* Ask the host before yielding anything (rule: should_skip is lent for this call). */
        if (should_skip(skip_ctx, (const uint8_t *)name, strlen(name), false)) continue;
        if (scan->count == cap) {
            cap = cap ? cap * 2 : 16;
            struct item *grown = realloc(scan->items, cap * sizeof *grown);
            if (grown == NULL) {
                status = fail(error_out, "out of memory");
                break;
            }
            scan->items = grown;
        }
        struct item *it = &scan->items[scan->count];
        memset(it, 0, sizeof *it);
        it->name = strdup(name);
        if (it->name == NULL) {
            status = fail(error_out, "out of memory");
            break;
        }
        scan->count++;
        it->mode = (uint32_t)(st.st_mode & 07777);
        it->mtime = st.st_mtime > 0 ? (uint64_t)st.st_mtime : 0;
        if (S_ISLNK(st.st_mode)) {
            it->kind = SPIRO_KIND_SYMLINK;
            size_t tcap = st.st_size > 0 ? (size_t)st.st_size + 1 : 256;
            it->target = malloc(tcap);
            ssize_t n = it->target ? readlinkat(scan->dir_fd, name, it->target, tcap) : -1;
            if (n < 0) {
                status = fail(error_out, "cannot read the link `%s/%s`: %s", path, name, strerror(errno));
                break;
            }
            it->target_len = (size_t)n;
        } else {
            it->kind = SPIRO_KIND_FILE;
            it->size = (uint64_t)st.st_size;
        }
    }
    closedir(dir);
    if (status != SPIRO_OK) {
        free(path);
        scan_free(scan);
        return status;
    }
    qsort(scan->items, scan->count, sizeof *scan->items, by_name);

    scan->index_skipped =
        should_skip(skip_ctx, (const uint8_t *)INDEX_NAME, strlen(INDEX_NAME), false);
    size_t icap = 256;
    scan->index = malloc(icap);
    if (scan->index == NULL) {
        free(path);
        scan_free(scan);
        return fail(error_out, "out of memory");
    }
    scan->index[0] = '\0';
    for (size_t i = 0; i < scan->count; i++) {
        struct item *it = &scan->items[i];
        int r = it->kind == SPIRO_KIND_FILE
                    ? index_append(scan, &icap, "%llu\t%s\n", (unsigned long long)it->size, it->name)
                    : index_append(scan, &icap, "link\t%s -> %.*s\n", it->name, (int)it->target_len,
                                   it->target);
        if (r != 0) {
            free(path);
            scan_free(scan);
            return fail(error_out, "out of memory");
        }
    }
    free(path);
    *scan_out = scan;
    return SPIRO_OK;
}

static SpiroStatus scan_next(SpiroScan *scan, SpiroShouldSkip should_skip, void *skip_ctx,
                             SpiroEntry *entry_out, SpiroString *error_out) {
    (void)should_skip; /* everything was asked about in scan_start */
    (void)skip_ctx;
    (void)error_out;
    if (scan->next < scan->count) {
        size_t id = scan->next++;
        struct item *it = &scan->items[id];
        entry_out->id = id;
        entry_out->name = (const uint8_t *)it->name; /* lent until the next call: it lives in scan */
        entry_out->name_len = strlen(it->name);
        entry_out->kind = it->kind;
        entry_out->mode = it->mode;
        entry_out->size = it->size;
        entry_out->mtime = it->mtime;
        entry_out->target = (const uint8_t *)it->target;
        entry_out->target_len = it->target_len;
        return SPIRO_OK;
    }
    if (scan->next == scan->count) {
        scan->next++;
        if (!scan->index_skipped) {
            entry_out->id = scan->count;
            entry_out->name = (const uint8_t *)INDEX_NAME;
            entry_out->name_len = strlen(INDEX_NAME);
            entry_out->kind = SPIRO_KIND_FILE;
            entry_out->mode = 0644;
            entry_out->size = scan->index_len;
            entry_out->mtime = 0;
            entry_out->target = NULL;
            entry_out->target_len = 0;
            return SPIRO_OK;
        }
    }
    return SPIRO_END;
}

/* Entries are opened by name from the scan's items: there is no per-entry state to forget. */
static void entry_release(SpiroScan *scan, uint64_t id) {
    (void)scan;
    (void)id;
}

static SpiroStatus open_entry(SpiroScan *scan, uint64_t id, SpiroReader **reader_out,
                              SpiroString *error_out) {
    struct SpiroReader *reader = calloc(1, sizeof *reader);
    if (reader == NULL) return fail(error_out, "out of memory");
    reader->fd = -1;
    if (id == scan->count) {
        reader->mem = scan->index;
        reader->mem_len = scan->index_len;
    } else if (id < scan->count && scan->items[id].kind == SPIRO_KIND_FILE) {
        /* O_NOFOLLOW: if the file was replaced by a symlink since the scan, refuse it. */
        reader->fd = openat(scan->dir_fd, scan->items[id].name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (reader->fd < 0) {
            int e = errno;
            free(reader);
            return fail(error_out, "cannot open `%s`: %s", scan->items[id].name, strerror(e));
        }
    } else {
        free(reader);
        return fail(error_out, "no file entry %llu", (unsigned long long)id);
    }
    *reader_out = reader;
    return SPIRO_OK;
}

static SpiroStatus read_chunk(SpiroReader *reader, uint8_t *buf, size_t cap, size_t *read_out,
                              SpiroString *error_out) {
    if (reader->fd < 0) {
        size_t left = reader->mem_len - reader->pos;
        size_t n = left < cap ? left : cap;
        memcpy(buf, reader->mem + reader->pos, n);
        reader->pos += n;
        *read_out = n;
        return SPIRO_OK;
    }
    for (;;) {
        ssize_t n = read(reader->fd, buf, cap);
        if (n >= 0) {
            *read_out = (size_t)n;
            return SPIRO_OK;
        }
        if (errno != EINTR) return fail(error_out, "read failed: %s", strerror(errno));
    }
}

static void reader_free(SpiroReader *reader) {
    if (reader == NULL) return;
    if (reader->fd >= 0) close(reader->fd);
    free(reader);
}

static const char NAME[] = "toplevel";
static const char DESCRIPTION[] =
    "Bundles the files and symlinks at the top of the project directory, plus a generated "
    INDEX_NAME " (written in C)";

static const SpiroScannerPlugin DESCRIPTOR = {
    .abi_version = SPIRO_SCANNER_ABI_VERSION,
    .struct_size = sizeof(SpiroScannerPlugin),
    .name = (const uint8_t *)NAME,
    .name_len = sizeof NAME - 1,
    .description = (const uint8_t *)DESCRIPTION,
    .description_len = sizeof DESCRIPTION - 1,
    .scan_start = NULL, /* version 1's: a version-2 host calls scan_start_configured */
    .scan_next = scan_next,
    .entry_release = entry_release,
    .open = open_entry,
    .read = read_chunk,
    .reader_free = reader_free,
    .scan_free = scan_free,
    .string_free = string_free,
    .options = OPTIONS,
    .option_count = sizeof OPTIONS / sizeof OPTIONS[0],
    .configure = configure,
    .config_free = config_free,
    .scan_start_configured = scan_start,
};

const SpiroScannerPlugin *spiro_scanner_plugin(void) {
    return &DESCRIPTOR;
}
