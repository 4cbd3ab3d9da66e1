/* identity_open (state/identity.c), the one way restore-run and `ckpt verify` open a path
 * recorded at checkpoint: no symbolic link followed in any component, nothing opened that is
 * not of the recorded kind (a FIFO never blocks), and what it identified is what it opens;
 * identity_compare's rule for files restore-run writes to: the very inode, on any device. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "identity.h"
#include "sys.h"

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/ckpt-identity.XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void path_of(char *buf, const char *name)
{
    snprintf(buf, 256, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void opens_a_regular_file_and_identifies_it(void **state)
{
    (void)state;
    char p[256];
    path_of(p, "plain");
    write_file(p, "twelve bytes");
    struct identity_found now;
    long fd = identity_open(p, O_RDONLY, CK_S_IFREG, &now);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(now.id.ino, st.st_ino);
    assert_int_equal(now.id.size, 12);
    assert_int_equal(now.uid, getuid());
    assert_true(fcntl((int)fd, F_GETFD) & FD_CLOEXEC);
    char buf[16] = {0};
    assert_int_equal(read((int)fd, buf, sizeof buf), 12);
    close((int)fd);
}

static void refuses_a_symbolic_link_as_last_component(void **state)
{
    (void)state;
    char target[256], link[256];
    path_of(target, "target");
    path_of(link, "link");
    write_file(target, "x");
    assert_int_equal(symlink(target, link), 0);
    struct identity_found now;
    assert_int_equal(identity_open(link, O_RDWR, CK_S_IFREG, &now), -ELOOP);
}

static void refuses_a_symbolic_link_on_the_way(void **state)
{
    (void)state;
    char real[256], via[256], file[300];
    path_of(real, "realdir");
    path_of(via, "via");
    assert_int_equal(mkdir(real, 0700), 0);
    snprintf(file, sizeof file, "%s/f", real);
    write_file(file, "y");
    assert_int_equal(symlink(real, via), 0);
    snprintf(file, sizeof file, "%s/f", via);
    struct identity_found now;
    assert_int_equal(identity_open(file, O_RDONLY, CK_S_IFREG, &now), -ELOOP);
}

/* Opening a FIFO for writing would wait for a reader: it is never opened. */
static void names_a_fifo_without_opening_it(void **state)
{
    (void)state;
    char p[256];
    path_of(p, "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    struct identity_found now;
    assert_int_equal(identity_open(p, O_WRONLY, CK_S_IFREG, &now), IDENTITY_OTHER_KIND);
    assert_string_equal(identity_kind_name(now.id.mode), "a FIFO");
}

static void reports_a_missing_file(void **state)
{
    (void)state;
    char p[256];
    path_of(p, "missing");
    struct identity_found now;
    assert_int_equal(identity_open(p, O_RDONLY, CK_S_IFREG, &now), -ENOENT);
}

static void a_written_file_must_be_the_very_inode_on_any_device(void **state)
{
    (void)state;
    struct ckpt_file_identity rec = {.size = 10, .mode = CK_S_IFREG | 0644, .dev = 1, .ino = 7};
    struct ckpt_file_identity cur = rec;
    struct ck_error err;
    cur.size = 20; /* grown: fine */
    assert_int_equal(identity_compare(&rec, &cur, IDENTITY_GROWN, &err), 0);
    cur.dev = 2; /* the same inode number elsewhere (a symlink to /dev/shm): refused */
    assert_int_equal(identity_compare(&rec, &cur, IDENTITY_GROWN, &err), -1);
    assert_non_null(strstr(err.msg, "another file system"));
    cur.dev = 1;
    cur.ino = 8;
    assert_int_equal(identity_compare(&rec, &cur, IDENTITY_GROWN, &err), -1);
    assert_non_null(strstr(err.msg, "was replaced by another file (inode 8, was 7)"));
}

static void a_read_file_elsewhere_must_be_yours_or_roots(void **state)
{
    (void)state;
    struct ckpt_file_identity rec = {.size = 10, .mode = CK_S_IFREG | 0644, .dev = 1, .ino = 7};
    struct identity_found now = {.id = rec, .uid = 4242};
    struct ck_error err;
    assert_int_equal(identity_check_owner(&rec, &now, &err), 0); /* the same inode */
    now.id.ino = 9;
    assert_int_equal(identity_check_owner(&rec, &now, &err), getuid() == 4242 ? 0 : -1);
    now.uid = 0;
    assert_int_equal(identity_check_owner(&rec, &now, &err), 0);
    now.uid = (uint32_t)getuid();
    assert_int_equal(identity_check_owner(&rec, &now, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(opens_a_regular_file_and_identifies_it),
        cmocka_unit_test(refuses_a_symbolic_link_as_last_component),
        cmocka_unit_test(refuses_a_symbolic_link_on_the_way),
        cmocka_unit_test(names_a_fifo_without_opening_it),
        cmocka_unit_test(reports_a_missing_file),
        cmocka_unit_test(a_written_file_must_be_the_very_inode_on_any_device),
        cmocka_unit_test(a_read_file_elsewhere_must_be_yours_or_roots),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
