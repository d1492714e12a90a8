/*
 * file_out - the buffered writer a local delivery appends one message to
 * its mailbox file with (maildir.c, mbox.c): octets are collected and
 * written 64 KiB at a time, every write error reported with errno.
 */
#ifndef TERN_FILE_OUT_H
#define TERN_FILE_OUT_H

#include <sys/types.h>
#include <stddef.h>

#define FILE_OUT_BUFSIZE	(64 * 1024)

struct file_out {
	int		fd;
	size_t		len;		/* octets in buf */
	off_t		written;	/* octets written to fd so far */
	unsigned char	last;		/* the last octet put; '\n' at first */
	unsigned char	buf[FILE_OUT_BUFSIZE];
};

/* file_out_init - o writes to fd (the caller's) from its position */
void file_out_init(struct file_out *o, int fd);
/* file_out_put - buffer len octets; 0, or -1 with errno set */
int file_out_put(struct file_out *o, const void *p, size_t len);
/* file_out_flush - write everything buffered; 0, or -1 with errno set */
int file_out_flush(struct file_out *o);

#endif
