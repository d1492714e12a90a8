/*
 * local_loop - the Delivered-To: loop check (see local_loop.h).  The
 * header is read with pread, so the descriptor's offset is not moved;
 * only unfolded first lines of fields are compared, which is where
 * tern, Postfix and the others write the address.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "header.h"
#include "local_loop.h"
#include "xmalloc.h"

#define LOOP_FIELD	"Delivered-To"

/* loop_line_matches - line [p, p+len) is "Delivered-To: address" */
static int
loop_line_matches(const char *p, size_t len, const char *address)
{
	const char *colon, *end = p + len;
	size_t alen = strlen(address);

	if (!header_field_is(p, len, LOOP_FIELD) ||
	    (colon = memchr(p, ':', len)) == NULL)
		return 0;
	p = colon + 1;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		end--;
	return (size_t)(end - p) == alen && strncasecmp(p, address, alen) == 0;
}

/* local_loop_check - a Delivered-To: field for address in the header */
int
local_loop_check(int fd, off_t offset, off_t size, const char *address)
{
	size_t want = size < LOCAL_LOOP_HEADER_MAX ? (size_t)size :
	    LOCAL_LOOP_HEADER_MAX;
	char *buf = xmalloc(want + 1);
	size_t have = 0, start = 0, i;
	ssize_t r;
	int found = 0;

	while (have < want) {
		r = pread(fd, buf + have, want - have, offset + (off_t)have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		have += (size_t)r;
		/* Enough once the header section has ended. */
		if (memmem(buf, have, "\r\n\r\n", 4) != NULL ||
		    memmem(buf, have, "\n\n", 2) != NULL)
			break;
	}
	for (i = 0; i < have && !found; i++) {
		if (buf[i] != '\n')
			continue;
		/* An empty line ends the header section. */
		if (i - start == 0 || (i - start == 1 && buf[start] == '\r'))
			break;
		found = loop_line_matches(buf + start, i - start, address);
		start = i + 1;
	}
	free(buf);
	return found;
}
