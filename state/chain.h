/* Incremental images: an image that leaves the pages the program did not write since the
 * previous checkpoint in the earlier images that hold them (PARENT and RUN_REF records,
 * include/ckpt/image.h; docs/incremental.md).
 *
 * save    (writer) chain_open_base: the previous image, validated, whose records say where
 *         every page it kept is; chain_save_parents: the PARENT records; memory.c writes the
 *         RUN_REFs.
 * check   (restore-run, ckpt verify, ckpt inspect, ckpt merge) chain_find_parent: a parent
 *         found by its content id beside the image; restorer/chain.c checks the chain.
 * restore (restore core) chain_place_ref: a RUN_REF's pages read or mapped from its parent.
 * Raw syscalls only. */
#ifndef CKPT_CHAIN_H
#define CKPT_CHAIN_H

#include "image_io.h"

struct chain_base {
    void *map;
    uint64_t size;
    struct image_view view;
};

/* Opens, maps and validates the image at path as the base of the next incremental image:
 * a regular file of ours, written by process pid as generation, with room for one more
 * PARENT. 0, or -1 with err saying why not (the caller then writes a full image). */
int chain_open_base(const char *path, uint32_t pid, uint32_t generation, struct chain_base *b,
                    struct ck_error *err);
void chain_close_base(struct chain_base *b);

/* The PARENT records of an image extending base: base itself (id 1, named base_name), then
 * base's own parents (ids 2..). 0 or -1 with err set. */
int chain_save_parents(struct image_writer *w, const struct image_view *base, const char *base_name,
                       struct ck_error *err);

/* The addresses a RUN or RUN_REF record holds: 1, or 0 for another record. */
int chain_pages_of(const struct ckpt_record_head *r, uint64_t *addr, uint64_t *len);

/* The i-th PARENT record of a validated view (i from 0), or NULL. */
const struct ckpt_parent_record *chain_parent(const struct image_view *v, uint32_t i);

/* Finds the image a PARENT record names, in the directory of image_path: its recorded name
 * first, then every file there, by content id and size. Opens nothing that is not a regular
 * file of the calling user writable by nobody else (no symbolic link, no FIFO). Returns a
 * read-only descriptor with found set to its path, or -1 with err saying what is missing. */
long chain_find_parent(const char *image_path, const struct ckpt_parent_record *pr, char *found,
                       size_t found_cap, struct ck_error *err);

/* The PARENT records of the image at path, read from its metadata without checking it (for
 * the rotation: which images a kept one needs); 0 for a full image or an unreadable file. */
uint32_t chain_depth_of_file(const char *path);

/* Where a RUN_REF's pages are in its parent's file. The one place that knows how a parent's
 * RUN extent holds its pages (stored as they are): a codec that stores them otherwise
 * changes this, chain_read_ref and whether chain_place_ref may map them. */
uint64_t chain_ref_file_offset(const struct ckpt_run_ref_record *u);
/* Reads a RUN_REF's pages from its parent's descriptor fd to dst. 0 or -errno (-EIO: short). */
long chain_read_ref(int fd, const struct ckpt_run_ref_record *u, void *dst);

struct restore_plan;
/* The restore core: puts a RUN_REF's pages at their address from the parent's descriptor
 * (mapped copy-on-write under --lazy where the region allows it, else read). */
void chain_place_ref(const struct restore_plan *p, const struct ckpt_run_ref_record *u, int prot,
                     int map);

#endif
