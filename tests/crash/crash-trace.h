/* The trace the crash recorder (crash-shim.c) writes and the crash checker
 * (crash-check.c) reads: one record per system call that can change what
 * the snapshot holds on disk, or make it durable, in the order the calls
 * completed.  Only calls on descriptors of the snapshot are recorded.
 *
 * A record is this header, then data_len bytes: the bytes a write put in
 * the file (for pwritev, the iovecs' bytes concatenated, only as many as
 * the call wrote).  Times are CLOCK_MONOTONIC nanoseconds, the clock the
 * workload also stamps its acknowledgements with: t_start is read just
 * before the call enters the kernel, t_end just after it returned, so
 * "a.t_end < b.t_start" means call a was over before call b began.  Host
 * byte order; the trace never leaves the machine that wrote it.
 */
#ifndef CRASH_TRACE_H
#define CRASH_TRACE_H

#include <stdint.h>

#define CRASH_TRACE_MAGIC 0x5243524du /* "MRCR" read as little-endian */

typedef enum {
    CRASH_OP_WRITE = 1,      /* pwrite, pwritev, write, writev: offset, data */
    CRASH_OP_FALLOCATE = 2,  /* mode, offset, length */
    CRASH_OP_FTRUNCATE = 3,  /* length */
    CRASH_OP_FDATASYNC = 4,
    CRASH_OP_FSYNC = 5,
    CRASH_OP_SYNC_FILE_RANGE = 6, /* mode (flags), offset, length */
    CRASH_OP_SYNCFS = 7,
} CrashOpType;

typedef struct {
    uint32_t magic;
    uint16_t type;      /* CrashOpType */
    uint16_t reserved;
    int32_t mode;       /* fallocate mode, sync_file_range flags */
    int32_t err;        /* errno when result < 0 */
    uint32_t pid;
    uint32_t tid;
    int64_t result;     /* the call's return value */
    uint64_t offset;
    uint64_t length;    /* bytes asked for; ftruncate: the new size */
    uint64_t t_start;
    uint64_t t_end;
    uint64_t seq;       /* order of the records in this process */
    uint64_t data_len;
} CrashRecord;

/* Is this call one that makes earlier writes durable? */
static inline int
crash_op_is_sync(uint16_t type)
{
    return type == CRASH_OP_FDATASYNC || type == CRASH_OP_FSYNC ||
           type == CRASH_OP_SYNCFS;
}

#endif
