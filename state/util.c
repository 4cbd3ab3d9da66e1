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

/* Written as if-chains rather than a table of pointers: the restore core is copied to an
 * arbitrary address and must contain no absolute addresses. */
const char *ck_strerror(int err)
{
    if (err == EPERM)
        return "Operation not permitted";
    if (err == ENOENT)
        return "No such file or directory";
    if (err == EIO)
        return "Input/output error";
    if (err == EBADF)
        return "Bad file descriptor";
    if (err == ENOMEM)
        return "Cannot allocate memory";
    if (err == EACCES)
        return "Permission denied";
    if (err == EFAULT)
        return "Bad address";
    if (err == EBUSY)
        return "Device or resource busy";
    if (err == EEXIST)
        return "File exists";
    if (err == ENOTDIR)
        return "Not a directory";
    if (err == EISDIR)
        return "Is a directory";
    if (err == EINVAL)
        return "Invalid argument";
    if (err == EMFILE)
        return "Too many open files";
    if (err == EFBIG)
        return "File too large";
    if (err == ENOSPC)
        return "No space left on device";
    if (err == EROFS)
        return "Read-only file system";
    if (err == ENAMETOOLONG)
        return "File name too long";
    if (err == ENOSYS)
        return "Function not implemented";
    if (err == ELOOP)
        return "Too many levels of symbolic links";
    if (err == EDQUOT)
        return "Disk quota exceeded";
    if (err == EOVERFLOW)
        return "Value too large for defined data type";
    if (err == ESRCH)
        return "No such process";
    if (err == EAGAIN)
        return "Resource temporarily unavailable";
    return "Unknown error";
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
