/* Errors to errno, in one place, and the daemon's log. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include <gio/gio.h>

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

void
mfs_log(int priority, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* Also in .mramfs/log, for whoever cannot read syslog. */
    mfs_log_keep(priority, msg);
    if (use_syslog)
        syslog(priority, "%s", msg);
    else
        fprintf(stderr, "mramfs: %s\n", msg);
}

/* Errors of other domains come from the libraries the lower layers use
 * (the JSON parser of a written document: G_IO_ERROR_INVALID_DATA). */
static int
errno_of_gio(int code)
{
    switch (code) {
    case G_IO_ERROR_INVALID_DATA:
    case G_IO_ERROR_INVALID_ARGUMENT:
        return EINVAL;
    case G_IO_ERROR_NO_SPACE:
        return ENOSPC;
    case G_IO_ERROR_READ_ONLY:
        return EROFS;
    case G_IO_ERROR_PERMISSION_DENIED:
        return EACCES;
    case G_IO_ERROR_NOT_SUPPORTED:
        return EOPNOTSUPP;
    default:
        return EIO;
    }
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
        return EINVAL;
    case MR_ERROR_READONLY:
        return EROFS;
    case MR_ERROR_NOSPACE:
        return ENOSPC;
    }
    return EIO;
}

int
mfs_errno_from_error(const GError *err, const char *op)
{
    int e = EIO;

    if (err->domain == MR_ERROR)
        e = errno_of_mr((MrErrorCode)err->code);
    else if (err->domain == G_IO_ERROR)
        e = errno_of_gio(err->code);
    mfs_log(LOG_ERR, "%s: %s (%s)", op, err->message, g_strerror(e));
    return -e;
}
