/* The version three places must agree on: meson.build (passed as argv[1]),
 * the generated header macros, and the loaded library at run time. A
 * hand-edited or stale mproc-version.h, or a library built from another
 * version, fails here. */
#include <mproc.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    unsigned major, minor, patch;
    char expected[32];
    int failed = 0;

    if (argc != 2 || sscanf(argv[1], "%u.%u.%u", &major, &minor, &patch) != 3) {
        fprintf(stderr, "usage: version-check MAJOR.MINOR.PATCH\n");
        return 2;
    }
    snprintf(expected, sizeof expected, "%u.%u.%u", major, minor, patch);
#define CHECK(cond, ...)                          \
    do {                                          \
        if (!(cond)) {                            \
            fprintf(stderr, "FAIL: " __VA_ARGS__); \
            failed = 1;                           \
        }                                         \
    } while (0)
    CHECK(MPROC_VERSION_MAJOR == major && MPROC_VERSION_MINOR == minor &&
              MPROC_VERSION_PATCH == patch,
          "header macros say %d.%d.%d, meson.build says %s\n", MPROC_VERSION_MAJOR,
          MPROC_VERSION_MINOR, MPROC_VERSION_PATCH, argv[1]);
    CHECK(MPROC_VERSION_NUMBER == major * 10000 + minor * 100 + patch,
          "MPROC_VERSION_NUMBER is %d for %s\n", MPROC_VERSION_NUMBER, argv[1]);
    CHECK(strcmp(MPROC_VERSION_STRING, expected) == 0,
          "MPROC_VERSION_STRING is \"%s\", meson.build says %s\n", MPROC_VERSION_STRING, argv[1]);
    CHECK(mproc_version_number() == MPROC_VERSION_NUMBER,
          "mproc_version_number() is %u, the header says %d\n",
          (unsigned)mproc_version_number(), MPROC_VERSION_NUMBER);
    CHECK(strcmp(mproc_version_string(), expected) == 0,
          "mproc_version_string() is \"%s\", meson.build says %s\n", mproc_version_string(),
          argv[1]);
    if (!failed) printf("version %s agrees: meson.build, header macros, library\n", expected);
    return failed;
}
