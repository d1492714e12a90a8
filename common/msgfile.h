/*
 * msgfile - whole queue files: written with a trailer that proves them
 * complete, and checked by everyone who has to trust one.
 *
 * A queue file (envelope.h) is
 *     envelope prefix | message body | trailer
 * and the trailer (MSGFILE_TRAILER_LEN octets, integers big-endian) is
 *     "TERNEND\n"     8-octet magic
 *     u64             octets before the trailer (prefix and body)
 *     u32             CRC-32C of those octets
 *     u32             CRC-32C of the 20 trailer octets before this one
 * Whoever writes the file (smtpd, queued's notices) appends the trailer
 * after the last body octet and before the data sync, so a file that
 * ends in a valid trailer was written to its end.  This is what lets
 * queued rebuild a lost index from the files: a file with a trailer is a
 * message, one without is one whose writer died, and a file whose trailer
 * does not match its contents is damaged.
 */
#ifndef TERN_MSGFILE_H
#define TERN_MSGFILE_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

#define MSGFILE_TRAILER_LEN	24
#define MSGFILE_TRAILER_MAGIC	"TERNEND\n"
#define MSGFILE_BUFSIZE		65536

/* A buffered writer that checksums what it writes. */
struct msgfile_writer {
	int		fd;
	int		failed;		/* errno of the first failed write */
	uint32_t	crc;
	uint64_t	len;		/* octets accepted so far */
	size_t		buflen;
	unsigned char	buf[MSGFILE_BUFSIZE];
};

/* msgfile_writer_init - write to fd (not owned) from its current offset,
 * which must be 0 */
void msgfile_writer_init(struct msgfile_writer *w, int fd);

/*
 * msgfile_write - append p[0..len).  Errors are remembered, not
 * returned: once a write fails the rest is dropped, and
 * msgfile_writer_finish reports it.
 */
void msgfile_write(struct msgfile_writer *w, const void *p, size_t len);

/*
 * msgfile_writer_patch - replace the len octets at off, already written
 * through w (off + len <= what w took), old as they were, by new: those
 * still in the buffer there, those already written with pwrite, and the
 * checksum made what it would have been had new been written first.
 * Used by smtpd to set an envelope flag that only the message's header
 * section decides (the envelope precedes it in the file).  A failed
 * write is remembered as msgfile_write's are.
 */
void msgfile_writer_patch(struct msgfile_writer *w, uint64_t off,
    const void *old, const void *new, size_t len);

/*
 * msgfile_writer_finish - flush and append the trailer; the file is then
 * complete but not yet synced (the caller fdatasync()s it).  Returns 0
 * with the whole file's size in *size, or the errno of the first failure.
 */
int msgfile_writer_finish(struct msgfile_writer *w, uint64_t *size);

enum msgfile_state {
	MSGFILE_COMPLETE = 0,	/* a whole, valid message */
	MSGFILE_INCOMPLETE,	/* its writer never finished it */
	MSGFILE_CORRUPT,	/* finished, but damaged or invalid */
	MSGFILE_UNREADABLE,	/* an I/O error: nothing can be said */
};

/* What msgfile_check found in a complete file. */
struct msgfile_info {
	struct envelope	env;		/* decoded and validated; caller
					   frees with envelope_free() */
	off_t		body;		/* where the body starts */
	uint64_t	body_len;	/* octets of body (trailer excluded) */
	uint64_t	size;		/* of the whole file */
};

/*
 * msgfile_check - classify the queue file open on fd.  With verify_crc
 * the whole file is read and its checksum compared (start-up recovery,
 * ternctl rebuild); without it only the trailer, the sizes and the
 * envelope are checked (every load before a delivery).  On
 * MSGFILE_COMPLETE *info is filled (caller frees info->env); otherwise
 * err says why.  Files of envelope version 1 (written before trailers
 * existed) are complete when their envelope is valid.
 */
enum msgfile_state msgfile_check(int fd, int verify_crc,
    struct msgfile_info *info, char *err, size_t errsize);

#endif
