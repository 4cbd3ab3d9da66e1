/* Files that live only in memory (memfds, state/fd_memfd.c) and deleted files held open
 * (state/fd_deleted.c): one MEMFILE object per file, the FILE records of its open file
 * descriptions (MEMFILE_OPEN) and the regions that map it shared (MEMFILE_MAP) naming it by
 * id (include/ckpt/image.h). What the checkpoint, memory.c and restore-run's phase 1 call. */
#ifndef CKPT_FD_MEMFILE_H
#define CKPT_FD_MEMFILE_H

#include "image_io.h"

struct restore_plan;
struct region_plan;
struct fd_plan;
struct fd_save_ctx;

/* Objects one image holds at most (the restore plan has a descriptor for each). */
#define MEMFILES_MAX 256

/* An object written, for matching the program's mappings to it (memory.c). */
struct memfile_key {
    uint64_t dev, ino;
    uint32_t id;
};

/* ---- save side: the checkpoint signal handler, raw syscalls only ----------------------- */

/* The kind of a regular file open at fd whose name is path: CKPT_FD_MEMFD for a memfd,
 * CKPT_FD_DELETED for a file whose name was deleted, else CKPT_FD_FILE. */
uint32_t memfile_kind_of(const char *path);

/* The staged descriptors (stage) name MEMFILE objects: the image is then written by the
 * program stopped, not by a copy-on-write child (a child's snapshot does not hold their
 * contents, which the program changes as it runs on). */
int memfiles_staged(const struct image_writer *stage);

/* Writes a MEMFILE record with the contents of each object the staged MEMFILE_OPEN records
 * name, in id order, read through the descriptor each names (the program is stopped); then
 * one for each object of shared memory that /proc/self/maps (read into maps_buf) shows
 * mapped more than once and that is open nowhere, read through its mappings. Fills keys
 * (room for MEMFILES_MAX) and *nkeys. Returns 0 or -1 with err set. */
int memfiles_save(struct image_writer *w, const struct image_writer *stage, char *maps_buf,
                  size_t maps_cap, struct memfile_key *keys, uint32_t *nkeys, struct ck_error *err);

/* The id of the object with device dev and inode ino among keys, or 0. */
uint32_t memfile_id_of(const struct memfile_key *keys, uint32_t nkeys, uint64_t dev, uint64_t ino);

/* ---- check side: restore-run phase 1 ------------------------------------------------- */

/* Makes every MEMFILE object again, holding its contents, into p->memfile_fd (before
 * files_check: the descriptors are opened from it). Nothing visible is made: memfds and
 * O_TMPFILE files vanish when restore-run gives up. */
int memfiles_create(struct restore_plan *p, struct ck_error *err);

/* memory_check: the descriptor a REGION of kind MEMFILE maps, set into rp->map_fd; refuses
 * a mapping the object's seals do not allow. */
int memfile_plan_region(struct restore_plan *p, struct region_plan *rp, struct ck_error *err);

/* fd_deleted.c: a new unnamed file for the deleted file m, made with O_TMPFILE in its
 * directory when the directory is still there, a directory, and the restoring user's or
 * root's; else -1 (the caller makes a memfd instead). */
long deleted_make_unnamed(const struct ckpt_memfile_record *m);

/* ---- the steps fd_memfd.c's and fd_deleted.c's kind ops share ------------------------ */

/* Phase 2 save: the MEMFILE_OPEN after the FILE of descriptor fd. */
int memfile_save_open(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                      struct ck_error *err);
/* Phase 1 plan: the descriptor opened again from its object, at its offset. */
int memfile_plan_fd(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err);
/* Phase 1 check_all: the object's mode and the seals that go before the mappings. */
int memfile_finish(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err);
/* Core, once every region is mapped: the seals that had to wait. */
void memfile_restore_fd(const struct restore_plan *p, const struct fd_plan *fp);

#endif
