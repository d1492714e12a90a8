/*
 * virtual_path - the check of a virtual mailbox path (virtual_path.h).
 *
 * Called by lookupd before it hands a path on, by deliverd before it
 * opens one, and by the configuration check.  It must refuse every path
 * that could lead out of virtual_mailbox_base by its text alone; links
 * on the way are refused where the path is opened.
 */
#include "config.h"

#include <string.h>

#include "addr.h"
#include "virtual_path.h"

/* A path travels as a RESOLVE_LOCAL target, in an address's buffer. */
_Static_assert(VIRTUAL_PATH_MAX < ADDR_TEXT_MAX,
    "a virtual mailbox path must fit a delivery target");

/* virtual_path_is - a virtual mailbox path has a '/', a user name none */
int
virtual_path_is(const char *target)
{
	return strchr(target, '/') != NULL;
}

/* virtual_path_component - one component of len octets at p is safe */
static int
virtual_path_component(const char *p, size_t len, const char **why)
{
	size_t i;

	if (len == 0) {
		*why = "empty path component (\"//\")";
		return -1;
	}
	if (p[0] == '.') {
		*why = len <= 2 && (len == 1 || p[1] == '.') ?
		    "\".\" or \"..\" in the path" :
		    "a path component starts with '.'";
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c == 0x7f || c == '\\') {
			*why = "control character or backslash in the path";
			return -1;
		}
	}
	return 0;
}

/* virtual_path_check - path is a safe relative Maildir path */
int
virtual_path_check(const char *path, const char **why)
{
	size_t len = strlen(path);
	const char *p, *slash;

	if (len == 0) {
		*why = "empty path";
		return -1;
	}
	if (len > VIRTUAL_PATH_MAX) {
		*why = "path too long";
		return -1;
	}
	if (path[0] == '/') {
		*why = "absolute path (it must be relative to "
		    "virtual_mailbox_base)";
		return -1;
	}
	for (p = path; *p != '\0'; p = slash + 1) {
		if ((slash = strchr(p, '/')) == NULL)
			slash = path + len;
		if (virtual_path_component(p, (size_t)(slash - p), why) != 0)
			return -1;
		if (*slash == '\0')
			break;
	}
	if (path[len - 1] != '/') {
		*why = "no trailing '/': mbox files are not supported yet "
		    "(they come with mbox support); a Maildir path ends "
		    "in '/'";
		return -1;
	}
	return 0;
}
