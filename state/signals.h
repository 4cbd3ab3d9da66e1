/* Signal state: dispositions and process-wide pending signals. (The blocked mask needs no
 * code: it is in the signal frame on the saved stack and returns with the handler's
 * rt_sigreturn; what is pending for one thread is that thread's: state/thread.c.)
 *
 * save    (checkpoint handler) signals_save
 * restore (restore core) signals_restore installs dispositions; signals_shared_to_raise
 *         is what the last thread out of the restore core raises again (with kill, while
 *         everything is still blocked in the shim's handler). */
#ifndef CKPT_SIGNALS_H
#define CKPT_SIGNALS_H

#include <stdint.h>

#include "../include/ckpt/image.h"

struct restore_plan;
void signals_save(struct ckpt_process_record *rec);
void signals_restore(const struct restore_plan *p);
/* The process-directed signals to raise again, bit sig - 1: pending at the checkpoint
 * (not the checkpoint signal) and those the restore adds (p->raise_signals). */
uint64_t signals_shared_to_raise(const struct restore_plan *p);

#endif
