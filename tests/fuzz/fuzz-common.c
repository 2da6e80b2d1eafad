#include "fuzz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int memfd = -1;
static char memfd_path[64];

const char *
fuzz_path(void)
{
    if (memfd < 0) {
        memfd = memfd_create("mramfs-fuzz", MFD_CLOEXEC);
        if (memfd < 0)
            fuzz_fail(__FILE__, __LINE__, "memfd_create: %s", g_strerror(errno));
        g_snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
    }
    return memfd_path;
}

gboolean
fuzz_verbose(void)
{
    static int verbose = -1;

    if (verbose < 0)
        verbose = g_strcmp0(g_getenv("FUZZ_VERBOSE"), "1") == 0;
    return verbose;
}

void
fuzz_set_file(const uint8_t *data, size_t size)
{
    size_t done = 0;

    fuzz_path();
    if (ftruncate(memfd, 0) < 0)
        fuzz_fail(__FILE__, __LINE__, "ftruncate: %s", g_strerror(errno));
    while (done < size) {
        ssize_t n = pwrite(memfd, data + done, size - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fuzz_fail(__FILE__, __LINE__, "pwrite: %s", g_strerror(errno));
        done += (size_t)n;
    }
}

void
fuzz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void
fuzz_fail_check(const char *file, int line, const char *cond, const char *fmt,
                ...)
{
    va_list ap;

    fprintf(stderr, "%s:%d: check failed: %s: ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void
fuzz_check_json(json_object *o, const char *what)
{
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    json_tokener *tok = json_tokener_new_ex(256);
    /* With the NUL: json-c needs a terminator after a bare literal. */
    json_object *back = json_tokener_parse_ex(tok, text, (int)strlen(text) + 1);
    enum json_tokener_error e = json_tokener_get_error(tok);

    FUZZ_CHECK(e == json_tokener_success, "%s is not valid JSON (%s): %.200s",
               what, json_tokener_error_desc(e), text);
    json_tokener_free(tok);
    json_object_put(back);
    json_object_put(o);
}
