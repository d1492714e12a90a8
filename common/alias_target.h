/*
 * alias_target - the items of an alias value that are not addresses
 * ("|command", /file, :include:/file, \name), and how a command or
 * file target travels from lookupd through queued to the local
 * transport.
 *
 * Such a target travels with its own kind (RESOLVE_COMMAND or
 * RESOLVE_FILE, msg.h; RCPT_KIND_COMMAND or RCPT_KIND_FILE in the
 * queue), never as a mailbox name, so that no recipient address can be
 * taken for one.  Its text is "UID:command" or "UID:/path": UID is the
 * owner of the file that named it (the alias file or :include: file),
 * as whom the local transport runs it (root's as default_privs).  The
 * whole text is at most ALIAS_TARGET_MAX octets, the size of a target
 * in every message that carries one (msg_codec.h).
 *
 * "\name" (Sendmail's and Postfix's notation) is the local user name's
 * own mailbox, looked up in no alias and not sent on by name's .forward:
 * from an alias value it travels as RESOLVE_MAILBOX (msg.h); in a
 * .forward it is the user's own mailbox (local_forward.h).
 */
#ifndef TERN_ALIAS_TARGET_H
#define TERN_ALIAS_TARGET_H

#include <stddef.h>
#include <sys/types.h>

#include "msg_codec.h"

#define ALIAS_TARGET_MAX	MSG_ADDR_MAX	/* octets of "UID:text" */

enum alias_item_kind {
	ALIAS_ITEM_ADDRESS = 0,	/* a local name or an address */
	ALIAS_ITEM_COMMAND,	/* "|command": rest is the command */
	ALIAS_ITEM_FILE,	/* /path: rest is the path */
	ALIAS_ITEM_INCLUDE,	/* :include:/path: rest is the path */
	ALIAS_ITEM_MAILBOX,	/* \name: rest is name (a .forward may
				   write \user@domain) */
	ALIAS_ITEM_BAD,		/* one of those, malformed: rest is why */
};

/*
 * alias_item_kind - what one trimmed item of an alias value is.  A
 * command may be written "|cmd" or |cmd (a comma ends the unquoted
 * form); a file and an include must be absolute paths without control
 * characters; "\name" must name something, without white space or
 * control characters.  *rest points into item, or (ALIAS_ITEM_BAD) to a
 * static reason; the text ends before a closing quote at *restlen.
 */
enum alias_item_kind alias_item_kind(const char *item, const char **rest,
    size_t *restlen);

/*
 * alias_target_format - "UID:text" (text of len octets) into buf.
 * 0, or -1 when it does not fit size or ALIAS_TARGET_MAX.
 */
int alias_target_format(char *buf, size_t size, uid_t uid, const char *text,
    size_t len);

/*
 * alias_target_parse - split a target made by alias_target_format:
 * *uid and *text (pointing into target).  0, or -1 when malformed or
 * empty.
 */
int alias_target_parse(const char *target, uid_t *uid, const char **text);

/*
 * alias_item_user_ok - name (len octets, the rest of an
 * ALIAS_ITEM_MAILBOX) is what an alias file may write after '\': a
 * bare local user name: no leading '.', none of @ / | " , : in it.
 */
int alias_item_user_ok(const char *name, size_t len);

#endif
