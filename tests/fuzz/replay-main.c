/* A main for a fuzz target without libFuzzer: feeds it every file named on
 * the command line, and every file of every directory named there (its
 * corpus), in name order.  Built with any compiler; meson runs it over the
 * checked-in corpus as the test fuzz-replay-NAME, so an input that once
 * crashed a target keeps failing until the bug is fixed.
 *
 * Like libFuzzer (scripts/fuzz runs it with -timeout=5 and memory limits),
 * it also fails, while it runs, on an input that takes too long or makes
 * the process grow too big: a hostile snapshot must not exhaust time or
 * memory either.
 * FUZZ_REPLAY_TIMEOUT (seconds, default 10) and FUZZ_REPLAY_RSS_MB
 * (default 512) change the limits, for slow sanitizer builds. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"

static guint replayed;
static long timeout_s, rss_mb;

/* The input being replayed, for the watchdog. */
static GMutex lock;
static char *current;
static gint64 started;

static long
limit_from_env(const char *name, long dflt)
{
    const char *v = g_getenv(name);

    return v && *v ? strtol(v, NULL, 10) : dflt;
}

static long
rss_now_mb(void)
{
    g_autofree gchar *statm = NULL;
    unsigned long size = 0, resident = 0;

    if (!g_file_get_contents("/proc/self/statm", &statm, NULL, NULL) ||
        sscanf(statm, "%lu %lu", &size, &resident) != 2)
        return 0;
    return (long)(resident * (unsigned long)sysconf(_SC_PAGESIZE) >> 20);
}

/* Polls while an input runs, so that one that hangs or grows without
 * bound fails the test at once, naming itself, instead of running into
 * meson's timeout or the machine's memory. */
static gpointer
watchdog(gpointer unused)
{
    for (;;) {
        long rss;
        double seconds = 0;

        g_usleep(G_USEC_PER_SEC / 20);
        rss = rss_now_mb();
        g_mutex_lock(&lock);
        if (current)
            seconds = (double)(g_get_monotonic_time() - started) / G_USEC_PER_SEC;
        if (current && rss > rss_mb) {
            fprintf(stderr, "%s: the process grew to %ld MiB (limit %ld, "
                    "FUZZ_REPLAY_RSS_MB)\n", current, rss, rss_mb);
            _exit(1);
        }
        if (current && seconds > (double)timeout_s) {
            fprintf(stderr, "%s: still running after %.0f s (limit %ld, "
                    "FUZZ_REPLAY_TIMEOUT)\n", current, seconds, timeout_s);
            _exit(1);
        }
        g_mutex_unlock(&lock);
    }
    return NULL;
}

static void
replay_file(const char *path)
{
    g_autofree gchar *data = NULL;
    gsize len;
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(path, &data, &len, &err)) {
        fprintf(stderr, "%s\n", err->message);
        exit(2);
    }
    /* Printed first, so that a crash names its input. */
    fprintf(stderr, "replay %s (%" G_GSIZE_FORMAT " bytes)\n", path, len);
    g_mutex_lock(&lock);
    current = g_strdup(path);
    started = g_get_monotonic_time();
    g_mutex_unlock(&lock);
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    g_mutex_lock(&lock);
    g_clear_pointer(&current, g_free);
    g_mutex_unlock(&lock);
    replayed++;
}

static gint
by_name(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

static void
replay_dir(const char *path)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GDir) dir = g_dir_open(path, 0, &err);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    if (dir == NULL) {
        fprintf(stderr, "%s\n", err->message);
        exit(2);
    }
    while ((name = g_dir_read_name(dir)) != NULL)
        g_ptr_array_add(names, g_build_filename(path, name, NULL));
    g_ptr_array_sort(names, by_name);
    for (guint i = 0; i < names->len; i++) {
        const char *p = g_ptr_array_index(names, i);
        if (g_file_test(p, G_FILE_TEST_IS_REGULAR))
            replay_file(p);
    }
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    timeout_s = limit_from_env("FUZZ_REPLAY_TIMEOUT", 10);
    rss_mb = limit_from_env("FUZZ_REPLAY_RSS_MB", 512);
    g_thread_unref(g_thread_new("watchdog", watchdog, NULL));
    for (int i = 1; i < argc; i++) {
        if (g_file_test(argv[i], G_FILE_TEST_IS_DIR))
            replay_dir(argv[i]);
        else
            replay_file(argv[i]);
    }
    printf("%u inputs replayed without a finding\n", replayed);
    /* An empty corpus is a mistake in the build, not a pass. */
    return replayed > 0 ? 0 : 1;
}
