/* Libc-free helpers; see util.h. Built into libckpt.so, restore-run and the restore core. */
#include "util.h"
#include "sys.h"

#include <asm/errno.h>
#include <linux/fcntl.h>

#define CK_DIE_LINE 4700

size_t ck_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int ck_streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

int ck_starts_with(const char *s, const char *prefix)
{
    while (*prefix)
        if (*s++ != *prefix++)
            return 0;
    return 1;
}

int ck_ends_with(const char *s, const char *suffix)
{
    size_t n = ck_strlen(s), m = ck_strlen(suffix);
    return n >= m && ck_streq(s + n - m, suffix);
}

int ck_strlcpy(char *dst, const char *s, size_t cap)
{
    size_t i = 0;
    if (cap == 0)
        return -1;
    for (; s[i] && i + 1 < cap; i++)
        dst[i] = s[i];
    dst[i] = 0;
    return s[i] ? -1 : 0;
}

void ck_memcpy(void *dst, const void *src, size_t n)
{
    __builtin_memcpy(dst, src, n);
}

void ck_memset(void *dst, int c, size_t n)
{
    __builtin_memset(dst, c, n);
}

int ck_memcmp(const void *a, const void *b, size_t n)
{
    return __builtin_memcmp(a, b, n);
}

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 99;
}

uint64_t ck_parse_uint(const char **p, unsigned base)
{
    uint64_t v = 0;
    int d;
    while ((d = digit_value(**p)) < (int)base) {
        v = v * base + (uint64_t)d;
        (*p)++;
    }
    return v;
}

struct out {
    char *buf;
    size_t cap, len;
};

static void put_char(struct out *o, char c)
{
    if (o->len + 1 < o->cap)
        o->buf[o->len] = c;
    o->len++;
}

static void put_str(struct out *o, const char *s)
{
    while (*s)
        put_char(o, *s++);
}

/* Reads the argument of an integer conversion with `longs` l's (z counts as one). */
static uint64_t take_unsigned(va_list *ap, int longs)
{
    return longs ? va_arg(*ap, unsigned long) : va_arg(*ap, unsigned int);
}

static int64_t take_signed(va_list *ap, int longs)
{
    return longs ? va_arg(*ap, long) : va_arg(*ap, int);
}

/* Formats one integer conversion into tmp, returning its length. */
static int format_uint(char *tmp, uint64_t v, unsigned base)
{
    char rev[24];
    int n = 0, len = 0;
    do {
        rev[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n)
        tmp[len++] = rev[--n];
    return len;
}

/* Writes a converted number with printf's width and its '0' or '-' flag (pad '-' means
 * left-justified). */
static void put_padded(struct out *o, int negative, const char *digits, int len, int width,
                       char pad)
{
    int total = len + negative;
    if (negative && pad == '0')
        put_char(o, '-');
    for (; pad != '-' && total < width; total++)
        put_char(o, pad);
    if (negative && pad != '0')
        put_char(o, '-');
    for (int i = 0; i < len; i++)
        put_char(o, digits[i]);
    for (; pad == '-' && total < width; total++)
        put_char(o, ' ');
}

size_t ck_vformat(char *buf, size_t cap, const char *fmt, va_list ap0)
{
    struct out o = {buf, cap, 0};
    va_list ap;
    va_copy(ap, ap0);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put_char(&o, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        while (*fmt == '0' || *fmt == '-')
            pad = pad == '-' ? '-' : *fmt, fmt++;
        int width = (int)ck_parse_uint(&fmt, 10);
        int longs = 0;
        while (*fmt == 'l' || *fmt == 'z')
            longs++, fmt++;
        char digits[24];
        int len;
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            s = s ? s : "(null)";
            int n = (int)ck_strlen(s);
            for (; pad != '-' && n < width; n++)
                put_char(&o, ' ');
            put_str(&o, s);
            for (; pad == '-' && n < width; n++)
                put_char(&o, ' ');
            break;
        }
        case 'c':
            put_char(&o, (char)va_arg(ap, int));
            break;
        case 'd': {
            int64_t v = take_signed(&ap, longs);
            uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            len = format_uint(digits, mag, 10);
            put_padded(&o, v < 0, digits, len, width, pad);
            break;
        }
        case 'u':
        case 'x':
            len = format_uint(digits, take_unsigned(&ap, longs), *fmt == 'u' ? 10 : 16);
            put_padded(&o, 0, digits, len, width, pad);
            break;
        case 'p':
            put_str(&o, "0x");
            len = format_uint(digits, (uint64_t)(uintptr_t)va_arg(ap, void *), 16);
            put_padded(&o, 0, digits, len, width, pad);
            break;
        case '%':
            put_char(&o, '%');
            break;
        default: /* unsupported conversions are compile errors via the format attribute */
            put_char(&o, '?');
            break;
        }
    }
    va_end(ap);
    if (cap)
        buf[o.len < cap ? o.len : cap - 1] = 0;
    return o.len;
}

size_t ck_format(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = ck_vformat(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

/* The texts of errno 1 to 133 (Linux on x86_64), as the C library gives them, one after
 * another in one string: the restore core is copied to an arbitrary address and must hold
 * no table of pointers. An empty text is a number Linux does not use. */
static const char errno_texts[] = "Operation not permitted\0"                           /* 1 */
                                  "No such file or directory\0"                         /* 2 */
                                  "No such process\0"                                   /* 3 */
                                  "Interrupted system call\0"                           /* 4 */
                                  "Input/output error\0"                                /* 5 */
                                  "No such device or address\0"                         /* 6 */
                                  "Argument list too long\0"                            /* 7 */
                                  "Exec format error\0"                                 /* 8 */
                                  "Bad file descriptor\0"                               /* 9 */
                                  "No child processes\0"                                /* 10 */
                                  "Resource temporarily unavailable\0"                  /* 11 */
                                  "Cannot allocate memory\0"                            /* 12 */
                                  "Permission denied\0"                                 /* 13 */
                                  "Bad address\0"                                       /* 14 */
                                  "Block device required\0"                             /* 15 */
                                  "Device or resource busy\0"                           /* 16 */
                                  "File exists\0"                                       /* 17 */
                                  "Invalid cross-device link\0"                         /* 18 */
                                  "No such device\0"                                    /* 19 */
                                  "Not a directory\0"                                   /* 20 */
                                  "Is a directory\0"                                    /* 21 */
                                  "Invalid argument\0"                                  /* 22 */
                                  "Too many open files in system\0"                     /* 23 */
                                  "Too many open files\0"                               /* 24 */
                                  "Inappropriate ioctl for device\0"                    /* 25 */
                                  "Text file busy\0"                                    /* 26 */
                                  "File too large\0"                                    /* 27 */
                                  "No space left on device\0"                           /* 28 */
                                  "Illegal seek\0"                                      /* 29 */
                                  "Read-only file system\0"                             /* 30 */
                                  "Too many links\0"                                    /* 31 */
                                  "Broken pipe\0"                                       /* 32 */
                                  "Numerical argument out of domain\0"                  /* 33 */
                                  "Numerical result out of range\0"                     /* 34 */
                                  "Resource deadlock avoided\0"                         /* 35 */
                                  "File name too long\0"                                /* 36 */
                                  "No locks available\0"                                /* 37 */
                                  "Function not implemented\0"                          /* 38 */
                                  "Directory not empty\0"                               /* 39 */
                                  "Too many levels of symbolic links\0"                 /* 40 */
                                  "\0"                                                  /* 41 */
                                  "No message of desired type\0"                        /* 42 */
                                  "Identifier removed\0"                                /* 43 */
                                  "Channel number out of range\0"                       /* 44 */
                                  "Level 2 not synchronized\0"                          /* 45 */
                                  "Level 3 halted\0"                                    /* 46 */
                                  "Level 3 reset\0"                                     /* 47 */
                                  "Link number out of range\0"                          /* 48 */
                                  "Protocol driver not attached\0"                      /* 49 */
                                  "No CSI structure available\0"                        /* 50 */
                                  "Level 2 halted\0"                                    /* 51 */
                                  "Invalid exchange\0"                                  /* 52 */
                                  "Invalid request descriptor\0"                        /* 53 */
                                  "Exchange full\0"                                     /* 54 */
                                  "No anode\0"                                          /* 55 */
                                  "Invalid request code\0"                              /* 56 */
                                  "Invalid slot\0"                                      /* 57 */
                                  "\0"                                                  /* 58 */
                                  "Bad font file format\0"                              /* 59 */
                                  "Device not a stream\0"                               /* 60 */
                                  "No data available\0"                                 /* 61 */
                                  "Timer expired\0"                                     /* 62 */
                                  "Out of streams resources\0"                          /* 63 */
                                  "Machine is not on the network\0"                     /* 64 */
                                  "Package not installed\0"                             /* 65 */
                                  "Object is remote\0"                                  /* 66 */
                                  "Link has been severed\0"                             /* 67 */
                                  "Advertise error\0"                                   /* 68 */
                                  "Srmount error\0"                                     /* 69 */
                                  "Communication error on send\0"                       /* 70 */
                                  "Protocol error\0"                                    /* 71 */
                                  "Multihop attempted\0"                                /* 72 */
                                  "RFS specific error\0"                                /* 73 */
                                  "Bad message\0"                                       /* 74 */
                                  "Value too large for defined data type\0"             /* 75 */
                                  "Name not unique on network\0"                        /* 76 */
                                  "File descriptor in bad state\0"                      /* 77 */
                                  "Remote address changed\0"                            /* 78 */
                                  "Can not access a needed shared library\0"            /* 79 */
                                  "Accessing a corrupted shared library\0"              /* 80 */
                                  ".lib section in a.out corrupted\0"                   /* 81 */
                                  "Attempting to link in too many shared libraries\0"   /* 82 */
                                  "Cannot exec a shared library directly\0"             /* 83 */
                                  "Invalid or incomplete multibyte or wide character\0" /* 84 */
                                  "Interrupted system call should be restarted\0"       /* 85 */
                                  "Streams pipe error\0"                                /* 86 */
                                  "Too many users\0"                                    /* 87 */
                                  "Socket operation on non-socket\0"                    /* 88 */
                                  "Destination address required\0"                      /* 89 */
                                  "Message too long\0"                                  /* 90 */
                                  "Protocol wrong type for socket\0"                    /* 91 */
                                  "Protocol not available\0"                            /* 92 */
                                  "Protocol not supported\0"                            /* 93 */
                                  "Socket type not supported\0"                         /* 94 */
                                  "Operation not supported\0"                           /* 95 */
                                  "Protocol family not supported\0"                     /* 96 */
                                  "Address family not supported by protocol\0"          /* 97 */
                                  "Address already in use\0"                            /* 98 */
                                  "Cannot assign requested address\0"                   /* 99 */
                                  "Network is down\0"                                   /* 100 */
                                  "Network is unreachable\0"                            /* 101 */
                                  "Network dropped connection on reset\0"               /* 102 */
                                  "Software caused connection abort\0"                  /* 103 */
                                  "Connection reset by peer\0"                          /* 104 */
                                  "No buffer space available\0"                         /* 105 */
                                  "Transport endpoint is already connected\0"           /* 106 */
                                  "Transport endpoint is not connected\0"               /* 107 */
                                  "Cannot send after transport endpoint shutdown\0"     /* 108 */
                                  "Too many references: cannot splice\0"                /* 109 */
                                  "Connection timed out\0"                              /* 110 */
                                  "Connection refused\0"                                /* 111 */
                                  "Host is down\0"                                      /* 112 */
                                  "No route to host\0"                                  /* 113 */
                                  "Operation already in progress\0"                     /* 114 */
                                  "Operation now in progress\0"                         /* 115 */
                                  "Stale file handle\0"                                 /* 116 */
                                  "Structure needs cleaning\0"                          /* 117 */
                                  "Not a XENIX named type file\0"                       /* 118 */
                                  "No XENIX semaphores available\0"                     /* 119 */
                                  "Is a named type file\0"                              /* 120 */
                                  "Remote I/O error\0"                                  /* 121 */
                                  "Disk quota exceeded\0"                               /* 122 */
                                  "No medium found\0"                                   /* 123 */
                                  "Wrong medium type\0"                                 /* 124 */
                                  "Operation canceled\0"                                /* 125 */
                                  "Required key not available\0"                        /* 126 */
                                  "Key has expired\0"                                   /* 127 */
                                  "Key has been revoked\0"                              /* 128 */
                                  "Key was rejected by service\0"                       /* 129 */
                                  "Owner died\0"                                        /* 130 */
                                  "State not recoverable\0"                             /* 131 */
                                  "Operation not possible due to RF-kill\0"             /* 132 */
                                  "Memory page has hardware error\0" /* 133 */;
#define ERRNO_MAX 133

struct ck_errtext ck_errtext(int err)
{
    struct ck_errtext t;
    const char *s = errno_texts;
    for (int n = 1; err >= 1 && err <= ERRNO_MAX && n < err; n++)
        s += ck_strlen(s) + 1;
    if (err >= 1 && err <= ERRNO_MAX && *s)
        ck_strlcpy(t.s, s, sizeof t.s);
    else
        ck_format(t.s, sizeof t.s, "Unknown error %d", err);
    return t;
}

long ck_read_file(const char *path, char *buf, size_t cap)
{
    long fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    size_t len = 0;
    long n;
    while (len + 1 < cap && (n = sys_read((int)fd, buf + len, cap - 1 - len)) != 0) {
        if (n == -EINTR)
            continue;
        if (n < 0) {
            sys_close((int)fd);
            return n;
        }
        len += (size_t)n;
    }
    /* A full buffer is only too small if the file goes on. */
    char probe;
    int more = len + 1 >= cap && sys_read((int)fd, &probe, 1) > 0;
    sys_close((int)fd);
    buf[len] = 0;
    return more ? -EFBIG : (long)len;
}

int ck_dir_open(struct ck_dir *d, const char *path)
{
    long fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    d->fd = (int)fd;
    d->len = d->pos = 0;
    return fd < 0 ? (int)fd : 0;
}

const char *ck_dir_next(struct ck_dir *d)
{
    for (;;) {
        if (d->pos >= d->len) {
            d->len = sys_getdents64(d->fd, d->buf, sizeof d->buf);
            d->pos = 0;
            if (d->len <= 0)
                return 0;
        }
        /* struct linux_dirent64: ino 8, off 8, reclen 2, type 1, then the name */
        const char *name = d->buf + d->pos + 19;
        d->pos += *(const unsigned short *)(d->buf + d->pos + 16);
        if (!ck_streq(name, ".") && !ck_streq(name, ".."))
            return name;
    }
}

void ck_dir_close(struct ck_dir *d)
{
    if (d->fd >= 0)
        sys_close(d->fd);
    d->fd = -1;
}

long ck_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        long w = sys_write(fd, p, n);
        if (w == -EINTR)
            continue;
        if (w < 0)
            return w;
        if (w == 0)
            return -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int ck_fail(struct ck_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ck_vformat(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

void ck_print_error(const char *prefix, const struct ck_error *err)
{
    char line[1200];
    size_t n = ck_format(line, sizeof line, "%s: %s\n", prefix, err->msg);
    ck_write_all(2, line, n < sizeof line ? n : sizeof line - 1);
}

void ck_die(int fd, const char *tool, const char *subject, const char *fmt, ...)
{
    char msg[512], line[CK_DIE_LINE];
    va_list ap;
    va_start(ap, fmt);
    ck_vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t n = ck_format(line, sizeof line, "%s: %s: %s\n", tool, subject, msg);
    ck_write_all(fd, line, n < sizeof line ? n : sizeof line - 1);
    sys_exit_group(1);
}

int ck_process_gone(long pid)
{
    if (sys_kill((int)pid, 0) == -ESRCH)
        return 1;
    char path[40], stat[1024];
    ck_format(path, sizeof path, "/proc/%ld/stat", pid);
    long n = ck_read_file(path, stat, sizeof stat);
    if (n < 0)
        return n == -ENOENT || n == -ESRCH;
    const char *state = 0;
    for (long i = 0; i + 2 < n; i++) /* after the last ')': the command may hold one */
        if (stat[i] == ')')
            state = stat + i + 2;
    return state && (*state == 'Z' || *state == 'X');
}

int ck_check_image_directory(const char *dir, uint32_t uid, struct ck_error *err)
{
    struct kstat st;
    long r = sys_newfstatat(AT_FDCWD, dir, &st, 0);
    if (r < 0)
        return ck_fail(err, (int)r, "the image directory %s: %s", dir, ck_strerror((int)-r));
    if (!CK_S_IS(st.st_mode, CK_S_IFDIR))
        return ck_fail(err, -1, "the image directory %s is not a directory", dir);
    if (st.st_uid != uid && st.st_uid != 0)
        return ck_fail(err, -1,
                       "the image directory %s belongs to uid %u, who could remove or swap "
                       "the images: use a directory of your own (--image)",
                       dir, st.st_uid);
    if ((st.st_mode & 0002) && !(st.st_mode & 01000))
        return ck_fail(err, -1,
                       "the image directory %s is writable by everyone without the sticky bit: "
                       "anyone could remove or swap the images",
                       dir);
    return 0;
}

void ck_directory_of(const char *path, char *dir, size_t cap)
{
    ck_strlcpy(dir, path, cap);
    char *slash = 0;
    for (char *p = dir; *p; p++)
        if (*p == '/')
            slash = p;
    if (slash == dir)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    else
        ck_strlcpy(dir, ".", cap);
}

const char *ck_file_name(const char *path)
{
    const char *name = path;
    for (const char *c = path; *c; c++)
        if (*c == '/')
            name = c + 1;
    return name;
}

long ck_unlink_holding(struct ck_held *h, int dirfd, const char *path)
{
    long fd = h->n < CK_HELD_MAX
                  ? sys_openat(dirfd, path, 010000000 /* O_PATH */ | O_NOFOLLOW | O_CLOEXEC, 0)
                  : -EMFILE;
    long rc = sys_unlinkat(dirfd, path, 0);
    if (fd >= 0 && rc == 0)
        h->fd[h->n++] = (int)fd;
    else if (fd >= 0)
        sys_close((int)fd);
    return rc;
}

void ck_close_held(struct ck_held *h)
{
    for (int i = 0; i < h->n; i++)
        sys_close(h->fd[i]);
    h->n = 0;
}

#define CK_THREAD_CLONE_FLAGS                                                                      \
    (0x100 /* VM */ | 0x200 /* FS */ | 0x400 /* FILES */ | 0x800 /* SIGHAND */ |                   \
     0x10000 /* THREAD */ | 0x40000 /* SYSVSEM */ | 0x100000 /* PARENT_SETTID */ |                 \
     0x200000 /* CHILD_CLEARTID */)

long ck_thread_start(char *stack_top, uint32_t *tid, void (*fn)(void *), void *arg)
{
    void **sp = (void **)stack_top;
    *--sp = arg;
    *--sp = (void *)fn; /* popped by the new thread: rsp is 16-aligned at the call */
    register long ctid __asm__("r10") = (long)tid;
    register long tls __asm__("r8") = 0;
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "pop %%rax\n\t"
                     "pop %%rdi\n\t"
                     "call *%%rax\n\t"
                     "mov $60, %%eax\n\t" /* exit: this thread only */
                     "xor %%edi, %%edi\n\t"
                     "syscall\n\t"
                     "hlt\n"
                     "1:"
                     : "=a"(ret)
                     : "0"(56L /* clone */), "D"((long)CK_THREAD_CLONE_FLAGS), "S"(sp), "d"(tid),
                       "r"(ctid), "r"(tls)
                     : "rcx", "r11", "memory");
    return ret;
}

/* CLONE_CHILD_CLEARTID wakes a shared futex: the wait is not the private kind. */
void ck_thread_join(uint32_t *tid)
{
    uint32_t t;
    while ((t = __atomic_load_n(tid, __ATOMIC_ACQUIRE)) != 0)
        sys_futex(tid, 0 /* FUTEX_WAIT */, t);
}
