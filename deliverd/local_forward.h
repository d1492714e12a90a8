/*
 * local_forward - a passwd user's ~/.forward, read by that user's
 * delivery process (local_child.c), which runs as the user: root never
 * opens a path the user controls.
 *
 * Same syntax as an alias value (aliases(5)), one or more items a line
 * separated by commas, '#' lines ignored: addresses (forwarded with the
 * original envelope sender, by queued), "\user" or the user's own
 * address (its own mailbox, not forwarded again: see forward_self),
 * "|command" and /file (run and written here, as the user).  :include:
 * is not allowed here.
 */
#ifndef TERN_LOCAL_FORWARD_H
#define TERN_LOCAL_FORWARD_H

#include <stddef.h>

#include "msg_codec.h"

struct strlist;

#define LOCAL_FORWARD_SIZE_MAX	8192	/* octets of .forward read */
#define LOCAL_FORWARD_ITEMS_MAX	(MSG_FORWARD_MAX + 16)

enum forward_kind {
	FORWARD_SELF,		/* the user's own mailbox */
	FORWARD_ADDRESS,
	FORWARD_COMMAND,
	FORWARD_FILE,
};

struct forward_item {
	enum forward_kind	 kind;
	char			 text[MSG_ADDR_MAX + 1];
};

/*
 * Who the user is: an item that names the user itself is its mailbox
 * (FORWARD_SELF), never forwarded: its bare name or an address in
 * hostname or in one of domains, each with or without an extension after
 * delimiter ("user+ext@localhost"), as lookupd would read them.
 */
struct forward_self {
	const char		*user;
	const char		*hostname;	/* myhostname */
	const struct strlist	*domains;	/* local_domains, or NULL */
	const char		*delimiter;	/* recipient_delimiter; NULL or
						   "" none */
};

/* What a .forward says. */
struct forward {
	struct forward_item	 v[LOCAL_FORWARD_ITEMS_MAX];
	size_t			 n;
	char			 note[128];	/* why (part of) it was ignored */
};

/*
 * local_forward_parse - the items of text (NUL-terminated), for the user
 * self (whose own address is FORWARD_SELF).  Items beyond
 * LOCAL_FORWARD_ITEMS_MAX, malformed ones and :include: are left out,
 * with a note.
 */
void local_forward_parse(char *text, const struct forward_self *self,
    struct forward *f);

/*
 * local_forward_read - read home/.forward+EXTENSION when there is one
 * (extension not ""), else home/.forward (as the current user) into f.
 * 1 when there is one to follow; 0 when there is none, or it is
 * ignored (not a regular file of ours, or group- or world-writable: the
 * reason in f->note); -1 when it cannot be read now (f->note).
 */
int local_forward_read(const char *home, const char *extension,
    const struct forward_self *self, struct forward *f);

#endif
