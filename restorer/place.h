/* restore-run, phase 1: maps the regions that are free to map at their addresses and reads
 * their stored pages in, and verifies the checksum of every page run (see place.c). */
#ifndef CKPT_PLACE_H
#define CKPT_PLACE_H

#include "plan.h"
#include "validate.h"

/* After all other checks, before the point of no return. Regions it maps get placed = 1;
 * none where restore-run's stack (own) may grow. Returns 0, or -1 with err filled: the
 * caller exits, which undoes everything. */
int place_memory(struct restore_plan *p, int image_fd, const struct own_mappings *own,
                 struct ck_error *err);

#endif
