/* Errors to errno, in one place, and the daemon's log. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "mfs-fs.h"
#include "mfs-log.h"
#include "mr-error.h"

static gboolean use_syslog;

void
mfs_log_to_syslog(void)
{
    openlog("mramfs", LOG_PID, LOG_DAEMON);
    use_syslog = TRUE;
}

/* The one place log lines are made: what they carry of the snapshot (a
 * section's name in a message) is escaped like every message
 * (mr_escape_text()), whatever the caller formatted. */
void
mfs_log(int priority, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *raw = NULL, *line = NULL;

    va_start(ap, fmt);
    raw = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    line = mr_escape_text(raw, -1);
    /* Also in .mramfs/log, for whoever cannot read syslog. */
    mfs_log_keep(priority, line);
    if (use_syslog)
        syslog(priority, "%s", line);
    else
        fprintf(stderr, "mramfs: %s\n", line);
}

static int
errno_of_mr(MrErrorCode code)
{
    switch (code) {
    case MR_ERROR_IO:
    case MR_ERROR_TRUNCATED:
    case MR_ERROR_INVALID:
        return EIO;
    case MR_ERROR_UNSUPPORTED:
        return EOPNOTSUPP;
    case MR_ERROR_RANGE:
    case MR_ERROR_REFUSED:
        return EINVAL;
    case MR_ERROR_READONLY:
        return EROFS;
    case MR_ERROR_NOSPACE:
        return ENOSPC;
    case MR_ERROR_BUSY:
        return EBUSY;
    }
    return EIO;
}

/* A snapshot truncated under the mount fails every read past its end with
 * the same error: said once until something else is said. */
static GMutex last_lock;
static char *last_logged;

int
mfs_errno_from_error(const GError *err, const char *op)
{
    /* Every error of the lower layers is MR_ERROR (mr-error.h). */
    int e = err->domain == MR_ERROR ? errno_of_mr((MrErrorCode)err->code) : EIO;
    g_autofree char *line = g_strdup_printf("%s: %s (%s)", op, err->message,
                                            g_strerror(e));
    gboolean repeated;

    g_mutex_lock(&last_lock);
    repeated = g_strcmp0(last_logged, line) == 0;
    if (!repeated) {
        g_free(last_logged);
        last_logged = g_strdup(line);
    }
    g_mutex_unlock(&last_lock);
    if (!repeated)
        mfs_log(LOG_ERR, "%s", line);
    return -e;
}
