/**
 * @file mproc.h
 * mproc: Python's multiprocessing for every language with a C FFI.
 *
 * Run a function in a child process (mproc_process_*), talk between
 * processes through a bounded shared-memory queue, and farm work out to a
 * pool of worker processes. This umbrella header is the only one programs
 * need to include; it pulls in every mproc/mproc-*.h sub-header.
 *
 * Conventions shared by every function (see mproc/mproc-common.h):
 * - fallible functions return MPROC_OK (0) or a negative MPROC_E_* code;
 * - out-parameters are written only on success;
 * - timeouts are double seconds: < 0 waits forever, 0 never blocks;
 * - *_free(NULL) is a no-op, and memory handed to the caller is released
 *   with mproc_free().
 */
#ifndef MPROC_H
#define MPROC_H

#include <mproc/mproc-version.h>
#include <mproc/mproc-common.h>
#include <mproc/mproc-process.h>
#include <mproc/mproc-queue.h>
#include <mproc/mproc-pool.h>
#include <mproc/mproc-start.h>

#endif
