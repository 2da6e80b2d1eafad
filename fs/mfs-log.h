/* The daemon's recent messages, with their times, for .mramfs/log.
 *
 * A daemon in the background logs to syslog, which a user may not have or
 * read: the reason a write was refused (close() only says EINVAL), an I/O
 * error, a snapshot cut or rewritten under the mount.  mfs_log() keeps
 * every message it sends here too, the newest MFS_LOG_KEEP of them.
 */
#ifndef MFS_LOG_H
#define MFS_LOG_H

#include <glib.h>

#define MFS_LOG_KEEP 1000

/* Keeps one message (without a trailing newline) with the time now. */
void mfs_log_keep(int priority, const char *message);
/* The kept messages, oldest first, one a line:
 * "2026-12-06T07:40:08.123Z error: MESSAGE". */
GBytes *mfs_log_text(void);
/* Messages kept since the mount, including those dropped for room. */
guint64 mfs_log_count(void);

#endif
