// Compile-only check: the public header is valid C++11 with -pedantic -Werror
// and its declarations have C linkage.
#include <mproc.h>

extern "C" int (*const kJoin)(mproc_process *, double) = mproc_process_join;

int main() { return mproc_version_number() == MPROC_VERSION_NUMBER ? 0 : 1; }
