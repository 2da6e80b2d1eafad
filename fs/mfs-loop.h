/* The session loop the mount serves requests with.  Shared on purpose with
 * bench/fuse-ceiling, the baseline bench/run measures the mount's read path
 * against: the ratio is meant to show what mramfs's handlers cost, so the
 * baseline must run the very loop the mount runs; a copy would drift and
 * the ratio would measure the two loops as well.  Needs only libfuse. */
#ifndef MFS_LOOP_H
#define MFS_LOOP_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

/* Serves se until unmount or a signal: libfuse's multi-threaded loop with
 * up to 8 worker threads and no clone_fd, or its single-threaded loop.
 * Returns what libfuse's loop returns (0, a signal number, or -errno/-1
 * when the loop itself failed). */
int mfs_serve_loop(struct fuse_session *se, int single_thread);

#endif
