/*
 * crc32c - CRC-32C, with the CPU's instruction where there is one, else
 * in software, slicing by eight.  See crc32c.h.
 *
 * The tables are built once, on first use, from the reflected polynomial
 * 0x82F63B78; table[k][b] is the CRC of octet b followed by k zero octets,
 * which lets one step fold eight input octets at once.  SSE 4.2's crc32
 * instruction computes the same register (reflected, same polynomial, no
 * inversion of its own), eight octets in one instruction.
 */
#include "config.h"

#include <string.h>

#include "crc32c.h"

#define CRC32C_POLY	0x82F63B78u

static uint32_t crc_table[8][256];
static int crc_ready;
static int crc_hardware;	/* crc32c_hw can run here */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC32C_HAVE_HW	1
#include <nmmintrin.h>

/* crc32c_hw - the register (not inverted) extended over s[0..len) with
 * the crc32 instruction; only where crc_hardware says it exists */
__attribute__((target("sse4.2")))
static uint32_t
crc32c_hw(uint32_t crc, const unsigned char *s, size_t len)
{
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, s, 8);	/* any alignment; x86 is little-endian */
		c = _mm_crc32_u64(c, v);
		s += 8;
		len -= 8;
	}
	crc = (uint32_t)c;
	while (len-- > 0)
		crc = _mm_crc32_u8(crc, *s++);
	return crc;
}
#endif

/* crc32c_init - fill the tables now (idempotent; processes are
 * single-threaded) */
void
crc32c_init(void)
{
	if (crc_ready)
		return;
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++)
			crc_table[k][b] = (crc_table[k - 1][b] >> 8) ^
			    crc_table[0][crc_table[k - 1][b] & 0xff];
#ifdef CRC32C_HAVE_HW
	__builtin_cpu_init();
	crc_hardware = __builtin_cpu_supports("sse4.2");
#endif
	crc_ready = 1;
}

/* crc32c_update - extend crc over p[0..len) */
uint32_t
crc32c_update(uint32_t crc, const void *p, size_t len)
{
	if (!crc_ready)
		crc32c_init();
#ifdef CRC32C_HAVE_HW
	if (crc_hardware)
		return ~crc32c_hw(~crc, p, len);
#endif
	return crc32c_software(crc, p, len);
}

/* crc32c_software - crc32c_update without the CPU's instruction */
uint32_t
crc32c_software(uint32_t crc, const void *p, size_t len)
{
	const unsigned char *s = p;

	if (!crc_ready)
		crc32c_init();
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo, hi;

		/* Assembled octet by octet: no alignment or endianness
		 * assumption about the input. */
		lo = crc ^ ((uint32_t)s[0] | (uint32_t)s[1] << 8 |
		    (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24);
		hi = (uint32_t)s[4] | (uint32_t)s[5] << 8 |
		    (uint32_t)s[6] << 16 | (uint32_t)s[7] << 24;
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		s += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *s++) & 0xff];
	return ~crc;
}

/*
 * crc32c_mulmod - a * b modulo the polynomial, both in the reflected
 * representation of the register (the top bit is x^0).
 */
static uint32_t
crc32c_mulmod(uint32_t a, uint32_t b)
{
	uint32_t p = 0;

	for (uint32_t m = 0x80000000u; m != 0; m >>= 1) {
		if (a & m)
			p ^= b;
		b = (b & 1) ? (b >> 1) ^ CRC32C_POLY : b >> 1;	/* b * x */
	}
	return p;
}

/*
 * crc32c_shift - the register is linear in its start: n zero octets
 * multiply a difference by x^(8n) modulo the polynomial, and the input
 * both sides share cancels out.  x^(8n) by squaring and multiplying.
 */
uint32_t
crc32c_shift(uint32_t d, uint64_t n)
{
	uint32_t xp = 0x40000000u >> 7;		/* x^8: one octet */
	uint32_t acc = 0x80000000u;		/* 1 */

	while (n > 0) {
		if (n & 1)
			acc = crc32c_mulmod(acc, xp);
		xp = crc32c_mulmod(xp, xp);
		n >>= 1;
	}
	return crc32c_mulmod(d, acc);
}
