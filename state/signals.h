/* Signal state: dispositions and pending signals. (The blocked mask needs no code: it is in
 * the signal frame on the saved stack and returns with the handler's rt_sigreturn.)
 *
 * save    (checkpoint handler) signals_save
 * restore (restore core) signals_restore installs dispositions; signals_raise_pending sends
 *         the pending ones again, last, while everything is still blocked. */
#ifndef CKPT_SIGNALS_H
#define CKPT_SIGNALS_H

#include "../include/ckpt/image.h"

struct restore_plan;
void signals_save(struct ckpt_process_record *rec, uint64_t interrupted_mask);
void signals_restore(const struct restore_plan *p);
void signals_raise_pending(const struct restore_plan *p);

#endif
