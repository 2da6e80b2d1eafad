/* What the libFuzzer targets share: the entry point libFuzzer (or
 * replay-main.c) calls, the file the format layer reads the input from, and
 * the checks whose failure is a finding.
 *
 * mr_file_open() takes a path, so the input goes into a memfd that is
 * reopened as /proc/self/fd/N: no disk I/O, and one file per process.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <glib.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "/proc/self/fd/N" of this process's memfd (created on first use). */
const char *fuzz_path(void);
/* Makes the memfd hold exactly these bytes. */
void fuzz_set_file(const uint8_t *data, size_t size);

/* A broken promise of the code under test: print and abort, so that
 * libFuzzer saves the input and the replay test fails. */
G_NORETURN void fuzz_fail(const char *file, int line, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
G_NORETURN void fuzz_fail_check(const char *file, int line, const char *cond,
                                const char *fmt, ...) G_GNUC_PRINTF(4, 5);
/* FUZZ_CHECK(cond, fmt, args...): fmt says what was found. */
#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond))                                                           \
            fuzz_fail_check(__FILE__, __LINE__, #cond, __VA_ARGS__);           \
    } while (0)

/* FUZZ_VERBOSE=1 in the environment: say what each input did (to check
 * that seeds get where they are meant to). */
gboolean fuzz_verbose(void);

/* Serializes o (which may be NULL) and checks that the text parses back:
 * what the mount serves is JSON, and json-c prints NaN as a bare word.
 * Frees o. */
void fuzz_check_json(json_object *o, const char *what);

#endif
