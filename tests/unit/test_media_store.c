/* tests/unit/test_media_store.c: media/store.c — SHA-256 keys and the local-disk store.
 *
 * Each test gets a fresh root under a mkdtemp directory in /tmp, removed afterwards. Ages are
 * set with utimensat() to stand for "an hour ago" instead of waiting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "media/store.h"
#include "server/core/rctx.h"

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct fixture {
    char dir[64];   /* the mkdtemp directory */
    char root[128]; /* the store's root inside it (created by the store) */
    struct media_store *st;
    struct rctx cx;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/cityd-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->root, sizeof f->root, "%s/media", f->dir);
    if (media_store_disk_new(f->root, &f->st))
        return -1;
    rctx_init(&f->cx);
    *state = f;
    return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    rctx_dispose(&f->cx);
    media_store_free(f->st);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static bool exists(const struct fixture *f, const char *rel)
{
    char path[512];
    struct stat sb;

    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    return stat(path, &sb) == 0;
}

static void make_file(const struct fixture *f, const char *rel, const char *content)
{
    char path[512];
    FILE *fp;

    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

/* Pretend the file was last written `ago` seconds ago. */
static void age(const struct fixture *f, const char *rel, time_t ago)
{
    char path[512];
    struct timespec ts[2];

    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= ago;
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void obj_rel(const char *sha, char *rel, size_t cap)
{
    snprintf(rel, cap, "%.2s/%.2s/%s", sha, sha + 2, sha);
}

/* Entries in a directory below the root, without "." and "..". */
static int count_dir(const struct fixture *f, const char *rel)
{
    char path[512];
    DIR *d;
    struct dirent *de;
    int n = 0;

    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    d = opendir(path);
    assert_non_null(d);
    for (de = readdir(d); de; de = readdir(d))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void test_sha256_known_values(void **state)
{
    char hex[MEDIA_SHA_HEX];
    (void)state;

    assert_int_equal(media_sha256_hex("abc", 3, hex), ERR_OK);
    assert_string_equal(hex, SHA_ABC);
    assert_int_equal(media_sha256_hex("", 0, hex), ERR_OK);
    assert_string_equal(hex, SHA_EMPTY);
    assert_true(media_sha_valid(SHA_ABC));
    assert_false(
        media_sha_valid("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
    assert_false(media_sha_valid("ba7816bf"));
    assert_false(media_sha_valid(SHA_ABC "0"));
    assert_false(media_sha_valid(NULL));
}

static void test_put_open_path_idempotent(void **state)
{
    struct fixture *f = *state;
    char sha[MEDIA_SHA_HEX], sha2[MEDIA_SHA_HEX], path[4096], want[4096], back[8];
    uint64_t size = 0;
    int fd = -1;

    assert_true(exists(f, "tmp"));
    assert_int_equal(media_store_put(f->st, &f->cx, "abc", 3, sha), ERR_OK);
    assert_string_equal(sha, SHA_ABC);
    assert_true(exists(f, "ba/78/" SHA_ABC));

    /* Same bytes again: same key, no error, still one object and no temp file left. */
    assert_int_equal(media_store_put(f->st, &f->cx, "abc", 3, sha2), ERR_OK);
    assert_string_equal(sha2, SHA_ABC);
    assert_int_equal(count_dir(f, "ba/78"), 1);
    assert_int_equal(count_dir(f, "tmp"), 0);

    assert_int_equal(media_store_open(f->st, &f->cx, sha, &fd, &size), ERR_OK);
    assert_int_equal(size, 3);
    assert_int_equal(read(fd, back, sizeof back), 3);
    assert_memory_equal(back, "abc", 3);
    close(fd);

    assert_int_equal(media_store_path(f->st, &f->cx, sha, path, sizeof path), ERR_OK);
    snprintf(want, sizeof want, "%s/ba/78/%s", f->root, SHA_ABC);
    assert_string_equal(path, want);
    assert_int_equal(media_store_path(f->st, &f->cx, sha, path, 20), ERR_INTERNAL);

    /* Zero bytes are content too. */
    assert_int_equal(media_store_put(f->st, &f->cx, "", 0, sha), ERR_OK);
    assert_string_equal(sha, SHA_EMPTY);
    assert_int_equal(media_store_open(f->st, &f->cx, sha, &fd, &size), ERR_OK);
    assert_int_equal(size, 0);
    close(fd);
}

static void test_put_repairs_a_damaged_object(void **state)
{
    struct fixture *f = *state;
    char sha[MEDIA_SHA_HEX];
    uint64_t size = 0;
    int fd = -1;

    assert_int_equal(media_store_put(f->st, &f->cx, "abc", 3, sha), ERR_OK);
    make_file(f, "ba/78/" SHA_ABC, "a"); /* cut short outside cityd */
    assert_int_equal(media_store_put(f->st, &f->cx, "abc", 3, sha), ERR_OK);
    assert_int_equal(media_store_open(f->st, &f->cx, sha, &fd, &size), ERR_OK);
    assert_int_equal(size, 3);
    close(fd);
}

static void test_bad_keys_and_missing_objects(void **state)
{
    struct fixture *f = *state;
    const char *bad[] = {"../../../etc/passwd", "ba/78/" SHA_ABC, "", SHA_ABC "/",
                         "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"};
    char path[4096];
    uint64_t size;
    int fd;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(media_store_open(f->st, &f->cx, bad[i], &fd, &size), ERR_INVALID);
        assert_int_equal(media_store_path(f->st, &f->cx, bad[i], path, sizeof path), ERR_INVALID);
        assert_int_equal(media_store_remove(f->st, &f->cx, bad[i]), ERR_INVALID);
    }
    assert_int_equal(media_store_open(f->st, &f->cx, SHA_ABC, &fd, &size), ERR_NOTFOUND);
    assert_int_equal(media_store_path(f->st, &f->cx, SHA_ABC, path, sizeof path), ERR_NOTFOUND);
}

static void test_remove(void **state)
{
    struct fixture *f = *state;
    char sha[MEDIA_SHA_HEX];
    uint64_t size;
    int fd;

    assert_int_equal(media_store_put(f->st, &f->cx, "abc", 3, sha), ERR_OK);
    assert_int_equal(media_store_remove(f->st, &f->cx, sha), ERR_OK);
    assert_false(exists(f, "ba/78/" SHA_ABC));
    assert_int_equal(media_store_open(f->st, &f->cx, sha, &fd, &size), ERR_NOTFOUND);
    assert_int_equal(media_store_remove(f->st, &f->cx, sha), ERR_OK); /* already gone: fine */
}

/* keep(): the "database" is a list of keys that have rows. */
struct rows {
    const char *keys[4];
    int asked;
    enum err fail; /* returned instead, to stand for a database outage */
};

static enum err keep_if_row(void *arg, struct rctx *cx, const char *sha, bool *keep)
{
    struct rows *r = arg;
    (void)cx;

    r->asked++;
    if (r->fail)
        return r->fail;
    *keep = false;
    for (int i = 0; i < 4 && r->keys[i]; i++)
        if (strcmp(r->keys[i], sha) == 0)
            *keep = true;
    return ERR_OK;
}

static void test_sweep(void **state)
{
    struct fixture *f = *state;
    char a[MEDIA_SHA_HEX], b[MEDIA_SHA_HEX], c[MEDIA_SHA_HEX], rel[80];
    struct rows rows = {{a, NULL}, 0, ERR_OK};
    struct media_sweep_stats st;

    assert_int_equal(media_store_put(f->st, &f->cx, "photo A", 7, a), ERR_OK);
    assert_int_equal(media_store_put(f->st, &f->cx, "photo B", 7, b), ERR_OK);
    assert_int_equal(media_store_put(f->st, &f->cx, "photo C", 7, c), ERR_OK);
    obj_rel(a, rel, sizeof rel);
    age(f, rel, 2 * MEDIA_STORE_GRACE_S);
    obj_rel(b, rel, sizeof rel);
    age(f, rel, 2 * MEDIA_STORE_GRACE_S);
    /* C was just written: its row may not be committed yet. */

    make_file(f, "tmp/crashed.part", "half a photo"); /* left by a crash */
    age(f, "tmp/crashed.part", 2 * MEDIA_STORE_GRACE_S);
    make_file(f, "tmp/writing.part", "a put in progress");
    make_file(f, "README", "not ours"); /* names the store did not write stay */
    obj_rel(a, rel, sizeof rel);
    rel[6] = '\0';
    snprintf(rel + 6, sizeof rel - 6, "notes.txt");
    make_file(f, rel, "not ours either");
    age(f, rel, 2 * MEDIA_STORE_GRACE_S);

    assert_int_equal(media_store_sweep(f->st, &f->cx, keep_if_row, &rows, &st), ERR_OK);
    assert_int_equal(rows.asked, 2); /* A and B; C is too young to ask about */
    assert_int_equal(st.kept, 1);
    assert_int_equal(st.removed, 1);
    assert_int_equal(st.young, 1);
    assert_int_equal(st.tmp_removed, 1);
    assert_int_equal(st.skipped, 2);
    obj_rel(a, rel, sizeof rel);
    assert_true(exists(f, rel));
    obj_rel(b, rel, sizeof rel);
    assert_false(exists(f, rel));
    obj_rel(c, rel, sizeof rel);
    assert_true(exists(f, rel));
    assert_false(exists(f, "tmp/crashed.part"));
    assert_true(exists(f, "tmp/writing.part"));
    assert_true(exists(f, "README"));
}

static void test_sweep_stops_when_keep_fails(void **state)
{
    struct fixture *f = *state;
    char a[MEDIA_SHA_HEX], b[MEDIA_SHA_HEX], rel[80];
    struct rows rows = {{NULL}, 0, ERR_BUSY};
    struct media_sweep_stats st;

    assert_int_equal(media_store_put(f->st, &f->cx, "photo A", 7, a), ERR_OK);
    assert_int_equal(media_store_put(f->st, &f->cx, "photo B", 7, b), ERR_OK);
    obj_rel(a, rel, sizeof rel);
    age(f, rel, 2 * MEDIA_STORE_GRACE_S);
    obj_rel(b, rel, sizeof rel);
    age(f, rel, 2 * MEDIA_STORE_GRACE_S);
    /* The database is away: nothing may be deleted as "unreferenced". */
    assert_int_equal(media_store_sweep(f->st, &f->cx, keep_if_row, &rows, &st), ERR_BUSY);
    assert_int_equal(rows.asked, 1);
    assert_int_equal(st.removed, 0);
    obj_rel(a, rel, sizeof rel);
    assert_true(exists(f, rel));
    obj_rel(b, rel, sizeof rel);
    assert_true(exists(f, rel));
}

/* An old object uploaded again just before its row is inserted must survive a sweep: the
 * second put refreshes its age. */
static void test_put_again_protects_from_sweep(void **state)
{
    struct fixture *f = *state;
    char a[MEDIA_SHA_HEX], rel[80];
    struct rows rows = {{NULL}, 0, ERR_OK};
    struct media_sweep_stats st;

    assert_int_equal(media_store_put(f->st, &f->cx, "photo A", 7, a), ERR_OK);
    obj_rel(a, rel, sizeof rel);
    age(f, rel, 2 * MEDIA_STORE_GRACE_S); /* an orphan from long ago */
    assert_int_equal(media_store_put(f->st, &f->cx, "photo A", 7, a), ERR_OK);
    assert_int_equal(media_store_sweep(f->st, &f->cx, keep_if_row, &rows, &st), ERR_OK);
    assert_int_equal(rows.asked, 0);
    assert_int_equal(st.young, 1);
    assert_true(exists(f, rel));
    assert_int_equal(media_store_sweep(f->st, &f->cx, keep_if_row, &rows, NULL), ERR_OK);
}

static void test_disk_new_fails_cleanly(void **state)
{
    struct media_store *st = NULL;
    (void)state;

    assert_int_equal(media_store_disk_new("/proc/cityd-cannot-be-here", &st), ERR_INTERNAL);
    assert_null(st);
    media_store_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_known_values),
        cmocka_unit_test_setup_teardown(test_put_open_path_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_repairs_a_damaged_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_keys_and_missing_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_stops_when_keep_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_again_protects_from_sweep, setup, teardown),
        cmocka_unit_test(test_disk_new_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
