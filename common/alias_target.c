/*
 * alias_target - alias value items that are commands, files or include
 * lists, and the "UID:text" form of a command or file target (see
 * alias_target.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alias_target.h"

/* item_path_ok - an absolute path of n octets, no control characters */
static int
item_path_ok(const char *p, size_t n)
{
	size_t i;

	if (n < 2 || p[0] != '/')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	return 1;
}

/* alias_item_kind - classify one item of an alias value */
enum alias_item_kind
alias_item_kind(const char *item, const char **rest, size_t *restlen)
{
	size_t n = strlen(item);
	const char *p = item;
	size_t i;

	/* "|cmd", "/file", ":include:/file": the quotes are not part of it */
	if (n >= 2 && p[0] == '"' && p[n - 1] == '"' && (p[1] == '|' ||
	    p[1] == '/' || strncasecmp(p + 1, ":include:", 9) == 0)) {
		p++;
		n -= 2;
	}
	*rest = p;
	*restlen = n;
	if (n > 0 && p[0] == '|') {
		*rest = p + 1;
		*restlen = n - 1;
		for (i = 1; i < n; i++)
			if ((unsigned char)p[i] < 0x20 && p[i] != '\t')
				break;
		if (i < n || strspn(p + 1, " \t") >= n - 1) {
			*rest = "empty command, or a control character in it";
			return ALIAS_ITEM_BAD;
		}
		return ALIAS_ITEM_COMMAND;
	}
	if (n > 0 && p[0] == '/') {
		if (!item_path_ok(p, n)) {
			*rest = "bad file name";
			return ALIAS_ITEM_BAD;
		}
		return ALIAS_ITEM_FILE;
	}
	if (n > 0 && p[0] == '\\') {
		*rest = p + 1;
		*restlen = n - 1;
		for (i = 1; i < n; i++)
			if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
				break;
		if (n < 2 || i < n) {
			*rest = "\\ needs a user name";
			return ALIAS_ITEM_BAD;
		}
		return ALIAS_ITEM_MAILBOX;
	}
	if (n >= 9 && strncasecmp(p, ":include:", 9) == 0) {
		*rest = p + 9;
		*restlen = n - 9;
		if (!item_path_ok(*rest, *restlen)) {
			*rest = ":include: needs an absolute file name";
			return ALIAS_ITEM_BAD;
		}
		return ALIAS_ITEM_INCLUDE;
	}
	return ALIAS_ITEM_ADDRESS;
}

/* alias_item_user_ok - a bare local user name after '\' */
int
alias_item_user_ok(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || name[0] == '.')
		return 0;
	for (i = 0; i < len; i++)
		if (strchr("@/|\",:", name[i]) != NULL || name[i] == '\0')
			return 0;
	return 1;
}

/* alias_target_format - "UID:text" */
int
alias_target_format(char *buf, size_t size, uid_t uid, const char *text,
    size_t len)
{
	int n = snprintf(buf, size, "%lu:%.*s", (unsigned long)uid, (int)len,
	    text);

	if (n < 0 || (size_t)n >= size || (size_t)n > ALIAS_TARGET_MAX ||
	    strlen(buf) != (size_t)n)
		return -1;
	return 0;
}

/* alias_target_parse - split "UID:text" */
int
alias_target_parse(const char *target, uid_t *uid, const char **text)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)target[0]))
		return -1;
	errno = 0;
	v = strtoul(target, &end, 10);
	if (errno != 0 || *end != ':' || end[1] == '\0' ||
	    v != (unsigned long)(uid_t)v || (uid_t)v == (uid_t)-1)
		return -1;
	*uid = (uid_t)v;
	*text = end + 1;
	return 0;
}
