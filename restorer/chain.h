/* restore-run and ckpt verify: the parents of an incremental image (state/chain.h), found,
 * validated and their pages checked before anything changes. */
#ifndef CKPT_RESTORER_CHAIN_H
#define CKPT_RESTORER_CHAIN_H

#include "plan.h"

/* For each PARENT record of p's image (at image_path): finds the parent by content id,
 * validates it whole (structure, every checksum of its data), and checks every RUN_REF that
 * names it against it: its pages lie in one RUN extent of the parent, the one holding those
 * addresses. Fills p->parent_fds. 0, or -1 with err set (every descriptor closed). */
int chain_open_parents(struct restore_plan *p, const char *image_path, struct ck_error *err);

#endif
