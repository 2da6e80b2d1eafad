#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "mfs-fs.h"
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

    va_start(ap, fmt);
    if (use_syslog) {
        vsyslog(priority, fmt, ap);
    } else {
        fputs("mramfs: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}

int
mfs_errno_from_error(const GError *err, const char *op)
{
    int e = EIO;

    if (err->domain == MR_ERROR) {
        switch ((MrErrorCode)err->code) {
        case MR_ERROR_IO:
        case MR_ERROR_TRUNCATED:
        case MR_ERROR_INVALID:
            e = EIO;
            break;
        case MR_ERROR_UNSUPPORTED:
            e = EOPNOTSUPP;
            break;
        case MR_ERROR_RANGE:
            e = EINVAL;
            break;
        case MR_ERROR_READONLY:
            e = EROFS;
            break;
        case MR_ERROR_NOSPACE:
            e = ENOSPC;
            break;
        }
    }
    mfs_log(LOG_ERR, "%s: %s (%s)", op, err->message, g_strerror(e));
    return e;
}
