/*
 * local_forward - ~/.forward, read and parsed as its user (see
 * local_forward.h).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "alias_target.h"
#include "local_forward.h"
#include "settings.h"

/* forward_add - one item, unless there is no room */
static void
forward_add(struct forward *f, enum forward_kind kind, const char *text,
    size_t len)
{
	if (f->n >= LOCAL_FORWARD_ITEMS_MAX || len >= sizeof(f->v[0].text)) {
		snprintf(f->note, sizeof(f->note), ".forward: items left out "
		    "(too many or too long)");
		return;
	}
	f->v[f->n].kind = kind;
	memcpy(f->v[f->n].text, text, len);
	f->v[f->n].text[len] = '\0';
	f->n++;
}

/*
 * forward_self_local - local (a local part) names the user: the user's
 * name, or that name, the recipient_delimiter and an extension (as
 * lookupd reads "user+ext"); case-insensitively, as lookupd folds names
 */
static int
forward_self_local(const char *local, const struct forward_self *self)
{
	size_t ulen = strlen(self->user);
	const char *d = self->delimiter;

	if (ulen == 0 || strncasecmp(local, self->user, ulen) != 0)
		return 0;
	return local[ulen] == '\0' || (d != NULL && d[0] != '\0' &&
	    local[ulen] == d[0]);
}

/*
 * forward_is_self - item names the user itself: a bare name, or an
 * address in myhostname or in any of local_domains (see forward_self)
 */
static int
forward_is_self(const char *item, const struct forward_self *self)
{
	struct mailaddr ma;

	if (strchr(item, '@') == NULL)
		return forward_self_local(item, self);
	if (addr_parse_mailbox(item, strlen(item), ADDR_P_UTF8, &ma) !=
	    ADDR_OK || (ma.flags & ADDR_F_NULL) || ma.domain[0] == '\0')
		return 0;
	if (strcasecmp(ma.domain, self->hostname) != 0 &&
	    (self->domains == NULL || !settings_domain_in(self->domains,
	    ma.domain)))
		return 0;
	return forward_self_local(ma.local, self);
}

/* forward_item - classify one trimmed item */
static void
forward_item(struct forward *f, const char *item,
    const struct forward_self *self)
{
	enum alias_item_kind kind;
	const char *rest;
	size_t len;

	kind = alias_item_kind(item, &rest, &len);
	switch (kind) {
	case ALIAS_ITEM_MAILBOX:
		/* "\user": the mailbox, never forwarded again; "\other" is
		 * other, looked up again like any address. */
		if (forward_is_self(rest, self))
			forward_add(f, FORWARD_SELF, "", 0);
		else
			forward_add(f, FORWARD_ADDRESS, rest, len);
		break;
	case ALIAS_ITEM_COMMAND:
		forward_add(f, FORWARD_COMMAND, rest, len);
		break;
	case ALIAS_ITEM_FILE:
		forward_add(f, FORWARD_FILE, rest, len);
		break;
	case ALIAS_ITEM_ADDRESS:
		if (forward_is_self(item, self))
			forward_add(f, FORWARD_SELF, "", 0);
		else
			forward_add(f, FORWARD_ADDRESS, item, strlen(item));
		break;
	default:
		snprintf(f->note, sizeof(f->note), ".forward: malformed item "
		    "or :include: left out");
		break;
	}
}

/* local_forward_parse - split text into items (quotes keep commas) */
void
local_forward_parse(char *text, const struct forward_self *self,
    struct forward *f)
{
	char *p = text, *item = text, *q;
	int quoted = 0, comment = 0, last;

	f->n = 0;
	for (;; p++) {
		if (comment) {
			if (*p == '\0')
				break;
			if (*p == '\n') {
				comment = 0;
				item = p + 1;
			}
			continue;
		}
		if (*p == '#' && !quoted && item == p)
			comment = 1;
		if (*p == '"')
			quoted = !quoted;
		if (*p == '\n')
			quoted = 0;
		if (*p != '\0' && *p != '\n' && (*p != ',' || quoted))
			continue;
		last = *p == '\0';
		*p = '\0';
		item += strspn(item, " \t\r");
		for (q = p; q > item && (q[-1] == ' ' || q[-1] == '\t' ||
		    q[-1] == '\r');)
			*--q = '\0';
		if (*item == '#')
			comment = 0;	/* a comment after an item's comma */
		else if (*item != '\0')
			forward_item(f, item, self);
		if (last)
			break;
		item = p + 1;
	}
}

/* local_forward_read - home/.forward, as the user, checked */
int
local_forward_read(const char *home, const char *extension,
    const struct forward_self *self, struct forward *f)
{
	char path[4096], text[LOCAL_FORWARD_SIZE_MAX + 1];
	struct stat st;
	ssize_t r;
	size_t n = 0;
	int fd;

	f->n = 0;
	f->note[0] = '\0';
	fd = -1;
	/* extension was checked by deliverd: no '/', no leading '.'. */
	if (extension[0] != '\0' && snprintf(path, sizeof(path),
	    "%s/.forward+%s", strcmp(home, "/") == 0 ? "" : home, extension) <
	    (int)sizeof(path))
		fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1 && snprintf(path, sizeof(path), "%s/.forward",
	    strcmp(home, "/") == 0 ? "" : home) >= (int)sizeof(path))
		return 0;
	if (fd == -1 && (fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		snprintf(f->note, sizeof(f->note), ".forward unreadable: %s",
		    strerror(errno));
		return errno == EACCES ? 0 : -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		close(fd);
		snprintf(f->note, sizeof(f->note), ".forward ignored: not a "
		    "regular file owned by the user, or group- or "
		    "world-writable");
		return 0;
	}
	while (n < sizeof(text) - 1) {
		r = read(fd, text + n, sizeof(text) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			snprintf(f->note, sizeof(f->note), ".forward "
			    "unreadable: %s", strerror(errno));
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	text[n] = '\0';
	local_forward_parse(text, self, f);
	return f->n > 0 ? 1 : 0;
}
