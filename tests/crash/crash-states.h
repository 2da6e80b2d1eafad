/* The crash states of one epoch (crash-model.h): its base plus subsets of
 * its candidates, whole or with one write torn at 512-byte sectors.
 *
 *   subsets  every subset while there are at most `exhaustive` candidates;
 *            beyond that the empty and the full set, up to `random` of the
 *            prefixes in start order (a loss at one instant), and `random`
 *            random subsets;
 *   torn     for each candidate write over two sectors or more, up to
 *            `torn` sector masks (prefixes, suffixes, random), applied
 *            alone and after the candidates that began before it.
 *
 * Random choices come from a generator seeded with (seed, epoch): the same
 * trace and options give the same states in the same order.
 */
#ifndef CRASH_STATES_H
#define CRASH_STATES_H

#include "crash-model.h"

typedef struct {
    guint exhaustive;  /* 10 */
    guint random;
    guint torn;
    guint64 seed;
} CrashGenOptions;

typedef struct {
    guint epoch;        /* index into CrashModel.epochs */
    GArray *ops;        /* guint op indices applied whole, in start order */
    gint torn_op;       /* op applied torn, after ops; -1: none */
    GByteArray *torn;   /* one byte per sector of torn_op: 1 applied */
    const char *kind;   /* "base", "subset", "prefix", "random", "torn" */
} CrashState;

/* The states of epoch e, the base state (no candidate) first. */
GPtrArray *crash_states_of_epoch(const CrashModel *m, guint e,
                                 const CrashGenOptions *o);
void crash_state_free(CrashState *s);

/* Sectors an op spans: [offset / 512, (offset + length - 1) / 512]. */
guint64 crash_op_sectors(const CrashOp *op);

/* "epoch 3, ops 12 14 15, op 16 torn (sectors 0-3 of 8)" */
char *crash_state_describe(const CrashModel *m, const CrashState *s);

#endif
