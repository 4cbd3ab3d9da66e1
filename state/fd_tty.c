/* Terminals (CKPT_FD_TTY), with the TERMINAL record that follows the FILE record of each
 * open file description: a restored program gets restore-run's terminal, with the
 * program's settings put on it. */
#include "fd_kind.h"
#include "image_check.h"

#include <asm/errno.h>

#define CK_TCGETS 0x5401
#define CK_TCSETS 0x5402
#define CK_TIOCGPGRP 0x540f
#define CK_TIOCGWINSZ 0x5413
#define CK_TIOCGPTN 0x80045430
#define CK_SIGWINCH 28

/* The kernel's struct termios (TCGETS, TCSETS) and struct winsize. */
struct ck_termios {
    uint32_t iflag, oflag, cflag, lflag;
    uint8_t line;
    uint8_t cc[19];
};
struct ck_winsize {
    uint16_t rows, cols, xpixel, ypixel;
};

/* ======================================================================================
 * save side: runs in the checkpoint signal handler, raw syscalls only
 * ====================================================================================== */

/* A TERMINAL record: the terminal's settings and window size. */
static int save_terminal(struct image_writer *w, int fd, const struct ckpt_file_record *f,
                         struct ck_error *err)
{
    struct ck_termios t;
    long r = sys_ioctl(fd, CK_TCGETS, &t);
    if (r < 0)
        return ck_fail(err, (int)r, "descriptor %d (%s): reading terminal settings: %s", fd,
                       f->path, ck_strerror((int)-r));
    struct ckpt_terminal_record *rec = iw_record(w, CKPT_REC_TERMINAL, sizeof *rec, 0);
    if (!rec)
        return ck_fail(err, w->error, "image metadata: %s", ck_strerror(-w->error));
    rec->file = f->head.id;
    rec->iflag = t.iflag;
    rec->oflag = t.oflag;
    rec->cflag = t.cflag;
    rec->lflag = t.lflag;
    rec->line = t.line;
    ck_memcpy(rec->cc, t.cc, sizeof rec->cc);
    struct ck_winsize ws;
    if (sys_ioctl(fd, CK_TIOCGWINSZ, &ws) == 0) {
        rec->has_winsize = 1;
        rec->rows = ws.rows;
        rec->cols = ws.cols;
        rec->xpixel = ws.xpixel;
        rec->ypixel = ws.ypixel;
    }
    return 0;
}

/* A pseudo-terminal's master (TIOCGPTN answers only there) is the program's own terminal,
 * not one restore-run can give: refused, unless it came from the environment. */
static int tty_accept(int fd, uint32_t origin, const char *path, struct ck_error *err)
{
    uint32_t number;
    if (fds_from_environment(fd, CKPT_FD_TTY, origin) || sys_ioctl(fd, CK_TIOCGPTN, &number) < 0)
        return 0;
    return ck_fail(err, -1,
                   "descriptor %d (%s) is a pseudo-terminal master (of /dev/pts/%u): ckpt cannot "
                   "restore it",
                   fd, path, number);
}

static int tty_save(struct fd_save_ctx *c, int fd, const struct ckpt_file_record *f,
                    struct ck_error *err)
{
    return save_terminal(c->w, fd, f, err);
}

/* ======================================================================================
 * check side: restore-run phase 1
 * ====================================================================================== */

static int restore_run_tty(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (fds_is_tty(fd))
            return fd;
    return -1;
}

/* Phase 1: /dev/tty the program opened is /dev/tty again, with its flags: the controlling
 * terminal of restore-run, which the restored program is (it never blocks: O_NONBLOCK until
 * the flags are set). */
static int open_controlling_terminal(struct fd_plan *fp, struct ck_error *err)
{
    long fd =
        sys_openat(AT_FDCWD, "/dev/tty",
                   (int)(fp->file->flags & REOPEN_FLAGS) | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
    if (fd < 0)
        return ck_fail(err, -1,
                       "descriptor %d was /dev/tty, the program's controlling terminal, and "
                       "restore-run has no controlling terminal (%s): restore it from a terminal",
                       fp->rec->fd, ck_strerror((int)-fd));
    fp->temp_fd = (int)fd;
    if (!(fp->file->flags & O_NONBLOCK))
        sys_fcntl((int)fd, F_SETFL, (long)(fp->file->flags & REOPEN_FLAGS));
    return 0;
}

/* Phase 1: every other terminal of the program becomes restore-run's terminal. */
static int open_terminal(struct restore_plan *p, struct fd_plan *fp, struct ck_error *err)
{
    (void)p;
    if (ck_streq(fp->file->path, "/dev/tty"))
        return open_controlling_terminal(fp, err);
    int tty = restore_run_tty();
    long fd = tty >= 0 ? sys_fcntl(tty, F_DUPFD_CLOEXEC, 3)
                       : sys_openat(AT_FDCWD, "/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
    if (fd < 0)
        return ck_fail(err, -1, "descriptor %d was a terminal, and restore-run has none",
                       fp->rec->fd);
    fp->temp_fd = (int)fd;
    return 0;
}

/* A program reading its terminal from the background would stop (SIGTTIN): say so. */
void fd_tty_warn_if_background(const struct restore_plan *p)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        if (!p->fds[i].terminal)
            continue;
        int tty = restore_run_tty();
        int fg = 0;
        if (tty < 0 || sys_ioctl(tty, CK_TIOCGPGRP, &fg) < 0 || fg == (int)sys_getpgid(0))
            return;
        char line[CKPT_PATH_MAX + 200];
        size_t n = ck_format(line, sizeof line,
                             "restore-run: %s: warning: restore-run is not in the foreground of "
                             "its terminal; the program stops when it reads from it (use fg)\n",
                             p->image_path);
        ck_write_all(2, line, n < sizeof line ? n : sizeof line - 1);
        return;
    }
}

/* The program's terminal settings go onto restore-run's terminal (the first TERMINAL
 * record: all of the program's terminal descriptors now lead there); a different window
 * size is announced to the program with SIGWINCH once it runs. */
int fd_tty_commit(struct restore_plan *p, struct ck_error *err)
{
    for (uint32_t i = 0; i < p->nfds; i++) {
        const struct fd_plan *fp = &p->fds[i];
        const struct ckpt_terminal_record *t = fp->terminal;
        if (!t)
            continue;
        int fd = fp->inherit ? fp->rec->fd : fp->temp_fd;
        if (fd < 0)
            continue;
        struct ck_termios tio = {t->iflag, t->oflag, t->cflag, t->lflag, t->line, {0}};
        ck_memcpy(tio.cc, t->cc, sizeof tio.cc);
        long r = sys_ioctl(fd, CK_TCSETS, &tio);
        if (r < 0)
            return ck_fail(err, -1, "putting the program's settings on the terminal: %s",
                           ck_strerror((int)-r));
        struct ck_winsize now;
        if (t->has_winsize && sys_ioctl(fd, CK_TIOCGWINSZ, &now) == 0 &&
            (now.rows != t->rows || now.cols != t->cols))
            p->raise_signals |= 1ULL << (CK_SIGWINCH - 1);
        return 0;
    }
    return 0;
}

/* The restore core has nothing more to do: the descriptor is on its number. */
FD_NOTHING_TO_RESTORE(TTY)

const struct fd_kind_ops fd_ops_TTY = {
    .kind = CKPT_FD_TTY,
    .name = "terminal",
    .environment = 1,
    .accept = tty_accept,
    .save = tty_save,
    .plan = open_terminal,
};

/* ---- the validator's checks of TERMINAL records (image_check.h) -------------------------- */

int check_terminal(struct image_view *v, struct image_walk *w, const struct ckpt_record_head *r,
                   struct ck_error *err)
{
    (void)v;
    const struct ckpt_terminal_record *t = (const void *)r;
    const struct ckpt_file_record *f = image_file_before(w, t->file);
    if (!f || w->prev_kind != CKPT_REC_FILE || f->kind != CKPT_FD_TTY ||
        (w->since_file & IMAGE_KIND_BIT(TERMINAL)))
        return ck_fail(err, -1, "terminal record without its file record (file %u)", t->file);
    return 0;
}

IMAGE_NOTHING_TO_COMPLETE(terminal)
