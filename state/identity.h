/* What makes a file "the same file" at restore: size, modification time and, for ELF files,
 * the GNU build-id. Recorded at checkpoint for every mapped or open file, compared by
 * restore-run before it changes anything. Raw syscalls only (runs in the signal handler). */
#ifndef CKPT_IDENTITY_H
#define CKPT_IDENTITY_H

#include "../include/ckpt/image.h"
#include "util.h"

/* Fills *id from an open descriptor (fstat, and the build-id of a regular ELF file). */
int identity_read(int fd, struct ckpt_file_identity *id);

/* Reads the GNU build-id note of an ELF file into out; returns its length, 0 if the file is
 * not a 64-bit ELF file or has no build-id, or -errno. */
int identity_build_id(int fd, uint8_t *out, uint32_t cap);

/* How a file may differ from what was recorded. */
enum identity_rule {
    IDENTITY_SAME,  /* mapped or read-only: size, mtime and build-id must match */
    IDENTITY_GROWN, /* written by the program: it may have grown, never shrunk */
};

/* Compares the file now (cur) with the record; on a difference fills err with a sentence
 * naming what differs (the caller prefixes the path) and returns -1. */
int identity_compare(const struct ckpt_file_identity *rec, const struct ckpt_file_identity *cur,
                     enum identity_rule rule, struct ck_error *err);

#endif
