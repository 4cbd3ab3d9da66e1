/* restore-run, ckpt verify and ckpt merge: the parents of an incremental image
 * (state/chain.h), found, validated and their pages checked before anything changes. */
#ifndef CKPT_RESTORER_CHAIN_H
#define CKPT_RESTORER_CHAIN_H

#include "plan.h"

/* The parents of one image, open and mapped. */
struct chain_parents;

/* For each PARENT record of the image v (at image_path): finds the parent by content id,
 * validates it whole (structure, every checksum of its data), and checks every RUN_REF that
 * names it against it: its pages lie in one RUN extent of the parent, the one holding those
 * addresses. Returns the parents (also for an image without any), or NULL with err set. */
struct chain_parents *chain_parents_open(const struct image_view *v, const char *image_path,
                                         struct ck_error *err);
/* The bytes a RUN_REF names, in its parent's mapping. */
const void *chain_ref_data(const struct chain_parents *c, const struct ckpt_run_ref_record *u);
void chain_parents_close(struct chain_parents *c);

/* chain_parents_open for p's image, keeping a descriptor of each parent in p->parent_fds
 * (the mappings go). 0, or -1 with err set. */
int chain_open_parents(struct restore_plan *p, const char *image_path, struct ck_error *err);

#endif
