/* Self-checking test messages for the queue tests (C and C++): a 24-byte
 * header {producer, seq, length, FNV-1a of the payload} followed by bytes
 * derived from (producer, seq), so a torn, mixed-up or truncated message
 * never passes qmsg_check(). */
#ifndef MPROC_TEST_QUEUE_MSG_H
#define MPROC_TEST_QUEUE_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define QMSG_HEADER 24

static inline uint64_t qmsg_hash(const unsigned char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  size_t i;
  for (i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

/* Writes a message of exactly len bytes (len >= QMSG_HEADER) into buf. */
static inline void qmsg_fill(unsigned char *buf, size_t len, uint32_t producer, uint32_t seq) {
  uint32_t l32 = (uint32_t)len;
  uint64_t h;
  size_t i;
  for (i = QMSG_HEADER; i < len; i++) buf[i] = (unsigned char)(producer * 131u + seq * 7u + i);
  h = qmsg_hash(buf + QMSG_HEADER, len - QMSG_HEADER);
  memcpy(buf, &producer, 4);
  memcpy(buf + 4, &seq, 4);
  memcpy(buf + 8, &l32, 4);
  memset(buf + 12, 0, 4);
  memcpy(buf + 16, &h, 8);
}

/* 1 if buf holds an intact message of len bytes; fills producer and seq. */
static inline int qmsg_check(const unsigned char *buf, size_t len, uint32_t *producer, uint32_t *seq) {
  uint32_t l32;
  uint64_t h;
  size_t i;
  if (len < QMSG_HEADER) return 0;
  memcpy(producer, buf, 4);
  memcpy(seq, buf + 4, 4);
  memcpy(&l32, buf + 8, 4);
  memcpy(&h, buf + 16, 8);
  if (l32 != len || h != qmsg_hash(buf + QMSG_HEADER, len - QMSG_HEADER)) return 0;
  for (i = QMSG_HEADER; i < len; i++)
    if (buf[i] != (unsigned char)(*producer * 131u + *seq * 7u + i)) return 0;
  return 1;
}

/* A length in [QMSG_HEADER, QMSG_HEADER + spread) that varies with seq. */
static inline size_t qmsg_len(uint32_t producer, uint32_t seq, size_t spread) {
  uint64_t x = ((uint64_t)producer << 32 | seq) * 0x9e3779b97f4a7c15ull;
  return QMSG_HEADER + (size_t)((x >> 33) % spread);
}

#endif
