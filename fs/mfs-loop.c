#include "mfs-loop.h"

/* The loop docs/BENCHMARKS.md measured the mount with. */
#define MAX_THREADS 8

int
mfs_serve_loop(struct fuse_session *se, int single_thread)
{
    struct fuse_loop_config *cfg;
    int r;

    if (single_thread)
        return fuse_session_loop(se);
    cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    fuse_loop_cfg_set_max_threads(cfg, MAX_THREADS);
    r = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    return r;
}
