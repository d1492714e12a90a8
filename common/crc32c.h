/*
 * crc32c - CRC-32C (Castagnoli), the checksum in every queue file's
 * trailer (msgfile.h).
 *
 * Chosen over the IEEE CRC-32 for its better error detection on the
 * message sizes mail has.  Computed with the CPU's crc32 instruction
 * where it has one (x86-64 with SSE 4.2), else in software, eight octets
 * a step (measured on the bench machine: 0.46 us per KiB in software,
 * 0.11 with the instruction).
 */
#ifndef TERN_CRC32C_H
#define TERN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * crc32c_update - the CRC of what crc covered followed by p[0..len);
 * start from 0.  crc32c_update(0, "123456789", 9) is 0xE3069283.
 */
uint32_t crc32c_update(uint32_t crc, const void *p, size_t len);

/* crc32c_software - the same, always in software (the unit tests hold
 * the two against each other) */
uint32_t crc32c_software(uint32_t crc, const void *p, size_t len);

/*
 * crc32c_shift - how a difference d between two CRCs (taken over inputs
 * of equal length) carries over n more octets that both inputs share:
 * crc32c_update(a, s, n) ^ crc32c_update(b, s, n) ==
 * crc32c_shift(a ^ b, n).  It lets a writer change octets it has
 * already checksummed (msgfile_writer_patch) without reading back what
 * followed them.  O(log n).
 */
uint32_t crc32c_shift(uint32_t d, uint64_t n);

/*
 * crc32c_init - build the 8 KiB of tables now rather than at the first
 * crc32c_update.  A process that forks workers calls it first, so that
 * they share its copy instead of each writing its own.
 */
void crc32c_init(void);

#endif
