/* Writing and reading image files (format: include/ckpt/image.h).
 *
 * The writer runs in the checkpoint signal handler: raw syscalls, a caller-provided
 * metadata buffer, and a sticky error so the caller checks once at the end (like Redis's
 * rio). The reader works on an image already in memory (mmap'd), so restore-run, the ckpt
 * tool and the fuzzer share one validator. */
#ifndef CKPT_IMAGE_IO_H
#define CKPT_IMAGE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "../include/ckpt/image.h"
#include "util.h"

#define IW_IOV_BATCH 512
/* Queued data is written once this much is pending: the last runs hashed are then still in
 * the CPU's cache when write(2) copies them. */
#define IW_FLUSH_BYTES (8UL << 20)
/* Writeback of what is written is started every so many bytes (sync_file_range), so the disk
 * works while the rest is copied and the final fsync has little left to do; and data
 * further back than IW_CACHE_BYTES, once on disk, leaves the page cache. An image is read
 * back after a crash or a reboot, not soon: writing a large one must not push the
 * program's own files out of the cache, nor need as much free memory again as the program
 * has. (Redis writes its snapshots so: incremental fsync, then reclaimFilePageCache.) */
#define IW_WRITEBACK_BYTES (32UL << 20)
#define IW_CACHE_BYTES (256UL << 20)

struct iw_iovec {
    const void *base;
    size_t len;
};

/* checkpoint-run --compress: how the writer compresses page runs (preload/compress.c sets it
 * up; the codec knows no compressor). compress returns the length of the frame it wrote to
 * dst (which has room for the run's length plus slack), or 0 if it could not make one of at
 * most cap bytes (the run is then stored as it is).
 * Frames wait in out until they are written. */
struct iw_compressor {
    size_t (*compress)(void *ctx, void *dst, size_t cap, const void *src, size_t len);
    void *ctx;
    char *out;
    size_t out_cap, out_used; /* out_cap >= 2 * CKPT_RUN_SPLIT (two halves with an I/O thread) */
    size_t slack; /* compress needs room for len + slack bytes at dst (len: the run's) */
    /* With an I/O thread, a run is stored as it is when the disk has little left to write
     * (storage_of_run), unless every_run: the disk is not kept waiting for the compressor. */
    int every_run;
    uint64_t runs_in, runs_stored; /* bytes of pages compressed, and of their stored frames */
    uint64_t runs_plain;           /* bytes of runs stored as they are so that the disk goes on */
};

/* The writer child's I/O thread (iw_start_io): it writes the data the writer hands over,
 * starts its writeback and waits for the disk, while the writer compresses the next runs.
 * Without one, the writer does it all in turn and the disk idles while it compresses. */
#define IW_IO_STACK (64UL << 10)
struct iw_io {
    uint32_t state; /* futex word: IW_IO_IDLE, IW_IO_BUSY (a batch handed over), IW_IO_EXIT */
    uint32_t tid;   /* the thread's, until it has ended */
    int error;      /* the thread's first -errno; the writer takes it over when it waits */
    int niov;
    uint64_t end; /* the batch's data ends at this file offset */
    const struct iw_iovec *iov;
    uint64_t waited_end;                 /* the thread's: up to here the data is on disk */
    struct iw_iovec spare[IW_IOV_BATCH]; /* the writer's second queue */
};

struct image_writer {
    int fd;
    int error;         /* first -errno, 0 while all is well */
    uint64_t data_end; /* file offset of the next data byte (page aligned) */
    uint64_t data_bytes;
    uint64_t written_end;   /* file offset up to which queued data was written */
    uint64_t writeback_end; /* file offset up to which writeback was started */
    uint64_t dropped_end;   /* file offset up to which data is on disk and out of the cache */
    char *meta;
    size_t meta_len, meta_cap;
    uint32_t nrecords;
    /* A staging writer (iw_init_staging) copies data here instead of writing it. */
    char *stage;
    size_t stage_cap;
    struct iw_compressor *z; /* NULL: page runs are stored as they are */
    struct iw_io *io;        /* NULL: the writer writes its data itself */
    int cur;                 /* with io: the queue being filled (0: iov, 1: io->spare) */
    uint64_t handed_end;     /* data_end when the queue was last written or handed over */
    int niov;
    struct iw_iovec iov[IW_IOV_BATCH];
};

void iw_init(struct image_writer *w, int fd, char *meta_buf, size_t meta_cap);
/* A writer without a file: records go to meta_buf, data is copied to stage_buf at once. What
 * must be taken at the moment of the checkpoint (process state, descriptors and the contents
 * of files) is staged so, and written into the image later with iw_append_staged — maybe by
 * another process that holds a copy-on-write snapshot of this one's memory. */
void iw_init_staging(struct image_writer *w, char *meta_buf, size_t meta_cap, char *stage_buf,
                     size_t stage_cap);
/* Fills a DATA record's extent: queues len bytes (page multiple) at addr as data (see
 * iw_data) with their checksum. */
void iw_extent(struct image_writer *w, struct ckpt_extent *e, const void *addr, size_t len);
/* Appends a RUN record for the len bytes (page multiple) of memory at addr, and queues its
 * data: compressed with w->z where that saves at least a page (CKPT_RECF_ZSTD), else as they
 * are. Returns the record, or NULL (error set). The memory must not change until iw_flush. */
struct ckpt_run_record *iw_run(struct image_writer *w, uint64_t addr, size_t len);
/* Appends a copy of one record (as from a staging writer, without data). */
int iw_copy_record(struct image_writer *w, const struct ckpt_record_head *r);
/* Appends stage's records from metadata offset pos to its end, then its data after the data
 * written so far, the extents of its DATA records moved to match. 0 or -errno. */
int iw_append_staged(struct image_writer *w, const struct image_writer *stage, size_t pos);
/* Appends a record of fixed_len bytes (head included) plus an optional NUL-terminated
 * string tail; returns it zeroed with head (kind, the registry's flags, length) and tail
 * filled, or NULL (error set). The pointer
 * stays valid until iw_finish. */
void *iw_record(struct image_writer *w, uint32_t kind, size_t fixed_len, const char *tail);
/* Queues len bytes (page multiple) of memory at addr as page data; returns their file offset.
 * The memory must not change until iw_flush or iw_finish. */
uint64_t iw_data(struct image_writer *w, const void *addr, size_t len);
/* Writes queued data now, and waits for the I/O thread (call before memory that was queued
 * changes). */
void iw_flush(struct image_writer *w);
/* From now on data is written by a raw thread on the stack below stack_top (IW_IO_STACK bytes,
 * 16-aligned), with io as its state: only in a process of the writer's own (the writer child).
 * 0 or -errno (then the writer goes on writing itself). */
int iw_start_io(struct image_writer *w, struct iw_io *io, char *stack_top);
/* Waits for what was handed over and ends the I/O thread, if there is one; the writer writes
 * itself again. Returns w->error. */
int iw_stop_io(struct image_writer *w);
/* After fsync: the whole file leaves the page cache (see IW_CACHE_BYTES). */
void iw_drop_cache(int fd);
/* Writes END, the metadata and the header (hdr's checksum and layout fields are filled).
 * Returns 0 or -errno. */
int iw_finish(struct image_writer *w, struct ckpt_file_header *hdr);

/* A validated view of an image in memory. */
struct image_view {
    const unsigned char *base;
    uint64_t size;
    const struct ckpt_file_header *hdr;
    const struct ckpt_process_record *proc;
    const struct ckpt_thread_record *threads; /* nthreads consecutive THREAD records */
    const unsigned char *meta;
    uint64_t meta_len;
    uint32_t nregions, nruns, nfiles, nfds, nthreads;
    uint32_t nparents, nrun_refs; /* PARENT and RUN_REF records (chain.c) */
    uint32_t ncompressed;         /* RUN records with CKPT_RECF_ZSTD */
};

/* Checks everything about the structure: header, checksums of header and metadata, record
 * framing, region and run bounds, descriptor numbers. Page data is not hashed (see
 * image_verify_data). Returns 0 or a negative code with err filled. */
/* Refuses a file of size bytes, starting with head (at least min(size, 8) bytes), that is
 * shorter than a header: "not a ckpt image" unless it starts like one, "truncated image"
 * if it does. Returns 0 for a file long enough to hold a header. */
int image_check_size(const void *head, uint64_t size, struct ck_error *err);
int image_open_view(struct image_view *v, const void *base, uint64_t size, struct ck_error *err);
/* The same validated view of the image after its mapping moved to new_base (restore-run
 * moves it into the restore core's area): every pointer into the image moves with it, and
 * nothing is read or checked again. Every pointer a view holds is moved here. */
void image_view_rebase(struct image_view *v, const void *new_base);
/* Hashes the extent of every DATA record (page runs, stored file contents, and those of
 * kinds this reader does not know) and compares it with its checksum. */
int image_verify_data(const struct image_view *v, struct ck_error *err);
/* The same for every extent but the page runs' (restore-run checks those as it copies them,
 * --lazy not at all). */
int image_verify_file_data(const struct image_view *v, struct ck_error *err);
/* The bytes a DATA record's extent occupies in the data section: its length, or for a
 * compressed run its frame's, padded to pages. */
uint64_t image_stored_length(const struct ckpt_record_head *r);
/* A region's name in messages: its path, or "anonymous memory" for none. */
const char *image_region_name(const char *path);
/* A compressed run c of region g: its stored frame matches its stored checksum (the pages'
 * own checksum is checked once they are decompressed). 0, or -1 with err filled. */
int image_check_compressed_run(const struct image_view *v,
                               const struct ckpt_compressed_run_record *c,
                               const struct ckpt_region_record *g, struct ck_error *err);
/* Fills err for run u of region g, whose data does not match its checksum; returns -1. */
int image_fail_run(const struct ckpt_region_record *g, const struct ckpt_run_record *u,
                   struct ck_error *err);

/* Every value of the process record that the restore core
 * uses after its point of no return, as far as it does not depend on the machine: the
 * addresses it jumps to, writes to or registers (each thread's saved context and frame,
 * FS and GS base, tid, clear-child-tid, rseq, robust list; the restore record) lie in the
 * image's regions with the right protection;
 * PR_SET_MM_MAP's rules; signal handlers, flags and masks; limits, timers, umask, cwd. The
 * machine's side (mmap_min_addr, RLIMIT_DATA, ...) is process_check's. */
int image_check_restore_values(const struct image_view *v, struct ck_error *err);

/* Record iteration over a validated view: first is NULL-safe, next returns NULL at END.
 * image_first/image_next pass over records of kinds this reader does not know (the
 * validator found them skippable), so that a reader never meets one, also between a
 * REGION and its RUNs; the _any pair returns every record (ckpt inspect, the codec). */
const struct ckpt_record_head *image_first(const struct image_view *v);
const struct ckpt_record_head *image_next(const struct image_view *v,
                                          const struct ckpt_record_head *r);
const struct ckpt_record_head *image_first_any(const struct image_view *v);
const struct ckpt_record_head *image_next_any(const struct image_view *v,
                                              const struct ckpt_record_head *r);

#endif
