/* mfs-log.h: a ring of the daemon's messages.  Logging is never on the read
 * path (only errors and changes are logged), so one lock will do. */
#include "mfs-log.h"

#include <syslog.h>

static GMutex lock;
static GQueue kept = G_QUEUE_INIT;
static guint64 total;

static const char *
priority_name(int priority)
{
    switch (priority) {
    case LOG_EMERG:
    case LOG_ALERT:
    case LOG_CRIT:
    case LOG_ERR:
        return "error";
    case LOG_WARNING:
        return "warning";
    case LOG_NOTICE:
        return "notice";
    case LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

void
mfs_log_keep(int priority, const char *message)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *when = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S");
    char *line = g_strdup_printf("%s.%03dZ %s: %s\n", when,
                                 g_date_time_get_microsecond(now) / 1000,
                                 priority_name(priority), message);

    g_mutex_lock(&lock);
    g_queue_push_tail(&kept, line);
    while (kept.length > MFS_LOG_KEEP)
        g_free(g_queue_pop_head(&kept));
    total++;
    g_mutex_unlock(&lock);
}

GBytes *
mfs_log_text(void)
{
    GString *text = g_string_new(NULL);

    g_mutex_lock(&lock);
    for (GList *l = kept.head; l; l = l->next)
        g_string_append(text, l->data);
    g_mutex_unlock(&lock);
    return g_string_free_to_bytes(text);
}

guint64
mfs_log_count(void)
{
    guint64 n;

    g_mutex_lock(&lock);
    n = total;
    g_mutex_unlock(&lock);
    return n;
}
