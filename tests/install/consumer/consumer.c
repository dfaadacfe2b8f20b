/* A program built the way users build against an installed mproc: only
 * <mproc.h> and the flags from `pkg-config --cflags --libs mproc`.
 *
 *   consumer [PREFIX]
 *
 * Checks that the headers and the loaded library are the same version, that
 * the library came from under PREFIX (so a copy elsewhere on the system
 * cannot make an install test pass), and that a child process, a queue and
 * a pool work end to end. Prints one line and exits 0 on success. */
#define _GNU_SOURCE
#include <mproc.h>

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static int child(const void *arg, size_t len, void *ctx) {
    mproc_queue *q = ctx;
    return mproc_queue_put(q, arg, len, 5.0) == MPROC_OK ? 7 : 1;
}

static int square(const void *arg, size_t len, mproc_reply *reply, void *ctx) {
    long v;
    (void)ctx;
    if (len != sizeof v) return 1;
    memcpy(&v, arg, sizeof v);
    v *= v;
    return mproc_reply_set(reply, &v, sizeof v);
}

#define FAIL(...) (fprintf(stderr, "consumer: " __VA_ARGS__), 1)

int main(int argc, char **argv) {
    Dl_info info;
    mproc_queue *q;
    mproc_process *p;
    mproc_pool *pool;
    char buf[16];
    size_t len;
    int code;
    long x = 12, sq = 0;
    void *out;
    size_t out_len;

    if (mproc_version_number() != MPROC_VERSION_NUMBER)
        return FAIL("library %s, headers %s\n", mproc_version_string(), MPROC_VERSION_STRING);
    if (!dladdr((void *)mproc_version_number, &info) || !info.dli_fname)
        return FAIL("cannot tell where libmproc was loaded from\n");
    if (argc > 1 && strncmp(info.dli_fname, argv[1], strlen(argv[1])) != 0)
        return FAIL("libmproc loaded from %s, not from under %s\n", info.dli_fname, argv[1]);

    if (mproc_queue_new(&q, 4, 0) != MPROC_OK) return FAIL("mproc_queue_new\n");
    if (mproc_process_new(&p, child, "ping", 5, q) != MPROC_OK ||
        mproc_process_start(p) != MPROC_OK || mproc_process_join(p, 10.0) != MPROC_OK ||
        mproc_process_exitcode(p, &code) != MPROC_OK || code != 7)
        return FAIL("child process did not run and exit with 7\n");
    if (mproc_queue_get(q, buf, sizeof buf, &len, 5.0) != MPROC_OK || len != 5 ||
        strcmp(buf, "ping") != 0)
        return FAIL("queue did not carry the child's message\n");
    mproc_process_free(p);
    mproc_queue_free(q);

    if (mproc_pool_new(&pool, 2) != MPROC_OK ||
        mproc_pool_apply(pool, square, &x, sizeof x, NULL, &out, &out_len) != MPROC_OK ||
        out_len != sizeof sq)
        return FAIL("pool apply failed\n");
    memcpy(&sq, out, sizeof sq);
    mproc_free(out);
    mproc_pool_close(pool);
    if (mproc_pool_join(pool, 10.0) != MPROC_OK) return FAIL("pool join\n");
    mproc_pool_free(pool);
    if (sq != 144) return FAIL("square(12) gave %ld\n", sq);

    printf("consumer: mproc %s from %s: process, queue and pool OK\n", mproc_version_string(),
           info.dli_fname);
    return 0;
}
