/*
 * msgfile - writing queue files with their trailer, and checking them.
 * See msgfile.h for the layout and why the trailer exists.
 *
 * The checker reads files that anybody with access to the spool, a
 * crashed writer or a failing disk may have left: it trusts no length
 * before comparing it with the file's real size, and decodes the
 * envelope with envelope.c's bounds-checked decoder before validating
 * every field as smtpd would have.
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "msgfile.h"
#include "xmalloc.h"

#define MSGFILE_MAGIC_LEN	8
#define MSGFILE_PREFIX_LEN	16	/* envelope magic, version, length */
#define MSGFILE_HEAD_READ	4096	/* msgfile_check's first read */

static void
be32_put(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t
be32_get(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* msgfile_writer_init - a writer at the start of fd */
void
msgfile_writer_init(struct msgfile_writer *w, int fd)
{
	w->fd = fd;
	w->failed = 0;
	w->crc = 0;
	w->len = 0;
	w->buflen = 0;
}

/* msgfile_flush - write out the buffer; remembers the first error */
static void
msgfile_flush(struct msgfile_writer *w)
{
	size_t off = 0;

	while (off < w->buflen && !w->failed) {
		ssize_t n = write(w->fd, w->buf + off, w->buflen - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			w->failed = n < 0 ? errno : EIO;
		else
			off += (size_t)n;
	}
	w->buflen = 0;
}

/* msgfile_write - append p[0..len), buffered and checksummed */
void
msgfile_write(struct msgfile_writer *w, const void *p, size_t len)
{
	const unsigned char *s = p;

	if (w->failed)
		return;
	w->crc = crc32c_update(w->crc, s, len);
	w->len += len;
	while (len > 0 && !w->failed) {
		size_t room = sizeof(w->buf) - w->buflen;
		size_t take = len < room ? len : room;

		memcpy(w->buf + w->buflen, s, take);
		w->buflen += take;
		s += take;
		len -= take;
		if (w->buflen == sizeof(w->buf))
			msgfile_flush(w);
	}
}

/* msgfile_writer_patch - rewrite octets already taken, checksum kept true */
void
msgfile_writer_patch(struct msgfile_writer *w, uint64_t off,
    const void *old, const void *new, size_t len)
{
	const unsigned char *n = new;
	uint64_t ondisk = w->len - w->buflen;	/* written out already */
	uint32_t d;

	if (w->failed || len == 0)
		return;
	if (off > w->len || len > w->len - off) {
		w->failed = EINVAL;	/* a caller's bug: the file fails */
		return;
	}
	d = crc32c_update(0, old, len) ^ crc32c_update(0, new, len);
	w->crc ^= crc32c_shift(d, w->len - off - len);
	for (size_t i = 0; i < len && !w->failed; i++) {
		const unsigned char *o = old;
		ssize_t r;

		if (o[i] == n[i])
			continue;	/* a flag changes a few octets */
		if (off + i >= ondisk) {
			w->buf[off + i - ondisk] = n[i];
			continue;
		}
		while ((r = pwrite(w->fd, n + i, 1, (off_t)(off + i))) < 0 &&
		    errno == EINTR)
			;
		if (r != 1)
			w->failed = r < 0 ? errno : EIO;
	}
}

/* msgfile_trailer - the trailer for content of len octets with crc */
static void
msgfile_trailer(unsigned char *t, uint64_t len, uint32_t crc)
{
	memcpy(t, MSGFILE_TRAILER_MAGIC, MSGFILE_MAGIC_LEN);
	be32_put(t + 8, (uint32_t)(len >> 32));
	be32_put(t + 12, (uint32_t)len);
	be32_put(t + 16, crc);
	be32_put(t + 20, crc32c_update(0, t, 20));
}

/* msgfile_writer_finish - flush, append the trailer, report the size */
int
msgfile_writer_finish(struct msgfile_writer *w, uint64_t *size)
{
	unsigned char t[MSGFILE_TRAILER_LEN];
	uint64_t len = w->len;

	msgfile_trailer(t, len, w->crc);
	/* The trailer is not part of what it checksums: append it raw. */
	if (!w->failed) {
		if (w->buflen + sizeof(t) > sizeof(w->buf))
			msgfile_flush(w);
		memcpy(w->buf + w->buflen, t, sizeof(t));
		w->buflen += sizeof(t);
		msgfile_flush(w);
	}
	if (w->failed)
		return w->failed;
	*size = len + sizeof(t);
	return 0;
}

/* msgfile_pread - exactly len octets at off, or -1 (errno; 0 = short) */
static int
msgfile_pread(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
		    off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = 0;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

/* msgfile_crc_range - CRC-32C of len octets from offset 0; -1 on error */
static int
msgfile_crc_range(int fd, uint64_t len, uint32_t *crc)
{
	unsigned char *buf = xmalloc(MSGFILE_BUFSIZE);
	uint64_t off = 0;
	int rv = 0;

	*crc = 0;
	while (off < len) {
		size_t want = len - off < MSGFILE_BUFSIZE ?
		    (size_t)(len - off) : MSGFILE_BUFSIZE;

		if (msgfile_pread(fd, buf, want, (off_t)off) < 0) {
			rv = -1;
			break;
		}
		*crc = crc32c_update(*crc, buf, want);
		off += want;
	}
	free(buf);
	return rv;
}

/*
 * msgfile_check_trailer - is there a valid trailer at the end of a file
 * of size octets?  MSGFILE_COMPLETE with the content CRC in *crc,
 * MSGFILE_INCOMPLETE when there is none, MSGFILE_CORRUPT when there is
 * one that does not describe this file.  head holds the file's first
 * hlen octets: a trailer among them is not read again.
 */
static enum msgfile_state
msgfile_check_trailer(int fd, const unsigned char *head, size_t hlen,
    uint64_t size, uint32_t *crc, const char **why)
{
	unsigned char tbuf[MSGFILE_TRAILER_LEN];
	const unsigned char *t = tbuf;
	uint64_t len;

	if (size < MSGFILE_PREFIX_LEN + MSGFILE_TRAILER_LEN) {
		*why = "no trailer (file too short)";
		return MSGFILE_INCOMPLETE;
	}
	if (size <= hlen)
		t = head + (size - MSGFILE_TRAILER_LEN);
	else if (msgfile_pread(fd, tbuf, sizeof(tbuf),
	    (off_t)(size - sizeof(tbuf))) < 0) {
		*why = "cannot read the trailer";
		return MSGFILE_UNREADABLE;
	}
	if (memcmp(t, MSGFILE_TRAILER_MAGIC, MSGFILE_MAGIC_LEN) != 0) {
		*why = "no trailer";
		return MSGFILE_INCOMPLETE;
	}
	if (be32_get(t + 20) != crc32c_update(0, t, 20)) {
		*why = "damaged trailer";
		return MSGFILE_CORRUPT;
	}
	len = (uint64_t)be32_get(t + 8) << 32 | be32_get(t + 12);
	if (len != size - MSGFILE_TRAILER_LEN) {
		*why = "trailer and file size disagree";
		return MSGFILE_CORRUPT;
	}
	*crc = be32_get(t + 16);
	return MSGFILE_COMPLETE;
}

/* msgfile_version - the envelope version in the file's first hlen octets
 * (head), 0 if none */
static uint32_t
msgfile_version(const unsigned char *head, size_t hlen)
{
	if (hlen < MSGFILE_PREFIX_LEN ||
	    memcmp(head, ENVELOPE_MAGIC, MSGFILE_MAGIC_LEN) != 0)
		return 0;
	return be32_get(head + 8);
}

/*
 * msgfile_envelope - decode the envelope: from head (the file's first
 * hlen octets) when it is all there, else read from fd.  Same contract as
 * envelope_read().
 */
static int
msgfile_envelope(int fd, const unsigned char *head, size_t hlen,
    struct envelope *e, off_t *body, char *err, size_t errsize)
{
	size_t off;

	if (hlen < MSGFILE_PREFIX_LEN || (uint64_t)be32_get(head + 12) >
	    hlen - MSGFILE_PREFIX_LEN)
		return envelope_read(fd, e, body, err, errsize);
	if (envelope_decode(head, hlen, e, &off, err, errsize) < 0)
		return -1;
	*body = (off_t)off;
	return 0;
}

/* msgfile_check - classify the queue file on fd; see msgfile.h */
enum msgfile_state
msgfile_check(int fd, int verify_crc, struct msgfile_info *info, char *err,
    size_t errsize)
{
	enum msgfile_state st;
	struct stat sb;
	const char *why = NULL;
	unsigned char head[MSGFILE_HEAD_READ];
	size_t hlen;
	uint32_t crc = 0, sum, version;
	uint64_t size, tlen;

	memset(info, 0, sizeof(*info));
	if (fstat(fd, &sb) < 0) {
		snprintf(err, errsize, "fstat: %s", strerror(errno));
		return MSGFILE_UNREADABLE;
	}
	size = (uint64_t)sb.st_size;
	/* One read for the prefix, the envelope and, in a small file, the
	 * trailer: queued checks every file it accepts and every file it
	 * hands to deliverd, and each pread is a system call. */
	hlen = size < sizeof(head) ? (size_t)size : sizeof(head);
	if (msgfile_pread(fd, head, hlen, 0) < 0) {
		snprintf(err, errsize, "read: %s", errno ? strerror(errno) :
		    "file shrank");
		return MSGFILE_UNREADABLE;
	}
	version = msgfile_version(head, hlen);
	tlen = version == 1 ? 0 : MSGFILE_TRAILER_LEN;
	if (version != 1 &&
	    (st = msgfile_check_trailer(fd, head, hlen, size, &crc, &why)) !=
	    MSGFILE_COMPLETE) {
		snprintf(err, errsize, "%s%s%s", why, st == MSGFILE_UNREADABLE ?
		    ": " : "", st == MSGFILE_UNREADABLE ? strerror(errno) : "");
		return st;
	}
	if (msgfile_envelope(fd, head, hlen, &info->env, &info->body, err,
	    errsize) < 0) {
		/* A version 1 file cannot prove itself finished. */
		return version == 1 ? MSGFILE_INCOMPLETE : MSGFILE_CORRUPT;
	}
	if ((uint64_t)info->body > size - tlen) {
		snprintf(err, errsize, "envelope runs into the trailer");
		envelope_free(&info->env);
		return MSGFILE_CORRUPT;
	}
	if (envelope_validate(&info->env, err, errsize) < 0) {
		envelope_free(&info->env);
		return MSGFILE_CORRUPT;
	}
	if (verify_crc && tlen > 0) {
		if (msgfile_crc_range(fd, size - tlen, &sum) < 0) {
			snprintf(err, errsize, "read: %s", errno ?
			    strerror(errno) : "file shrank");
			envelope_free(&info->env);
			return MSGFILE_UNREADABLE;
		}
		if (sum != crc) {
			snprintf(err, errsize, "checksum mismatch");
			envelope_free(&info->env);
			return MSGFILE_CORRUPT;
		}
	}
	info->size = size;
	info->body_len = size - tlen - (uint64_t)info->body;
	return MSGFILE_COMPLETE;
}
