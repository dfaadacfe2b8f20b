/* Compile-only check: the public header is valid C89/C99/C11 with
 * -pedantic -Werror (built once per standard by tests/abi/meson.build). */
#include <mproc.h>

int main(void) {
  return mproc_version_number() == MPROC_VERSION_NUMBER ? 0 : 1;
}
