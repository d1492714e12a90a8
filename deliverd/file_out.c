/*
 * file_out - the buffered writer of a local delivery (file_out.h).
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "file_out.h"

/* file_out_init - an empty buffer for fd */
void
file_out_init(struct file_out *o, int fd)
{
	o->fd = fd;
	o->len = 0;
	o->written = 0;
	o->last = '\n';
}

/* file_out_flush - write the buffer out, retrying short writes */
int
file_out_flush(struct file_out *o)
{
	size_t off = 0;
	ssize_t n;

	while (off < o->len) {
		n = write(o->fd, o->buf + off, o->len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		off += (size_t)n;
		o->written += n;
	}
	o->len = 0;
	return 0;
}

/* file_out_put - copy into the buffer, writing it out whenever full */
int
file_out_put(struct file_out *o, const void *p, size_t len)
{
	const unsigned char *s = p;

	if (len > 0)
		o->last = s[len - 1];
	while (len > 0) {
		size_t room = sizeof(o->buf) - o->len;
		size_t take = len < room ? len : room;

		memcpy(o->buf + o->len, s, take);
		o->len += take;
		s += take;
		len -= take;
		if (o->len == sizeof(o->buf) && file_out_flush(o) != 0)
			return -1;
	}
	return 0;
}
