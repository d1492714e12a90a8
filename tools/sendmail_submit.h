/*
 * sendmail_submit - hand a message to tern-postdrop, the set-group-ID
 * program that puts it into the maildrop (maildrop.h).  sendmail itself
 * has no privilege: this is the only way its mail enters the spool.
 */
#ifndef TERN_SENDMAIL_SUBMIT_H
#define TERN_SENDMAIL_SUBMIT_H

#include <stddef.h>

#include "envelope.h"
#include "sendmail_msg.h"

/* Where tern-postdrop is and what it is told. */
struct sendmail_postdrop {
	const char	*path;		/* daemon_directory/tern-postdrop */
	const char	*config;	/* -C, or NULL for the default */
	int		 verbose;
};

/*
 * sendmail_submit - write the queue file of env (its qid, arrival and
 * client fields are filled in here) and text, trailer included, into
 * tern-postdrop's standard input.  0 with the maildrop file's name in
 * id, or a sysexits(3) status: tern-postdrop's own (it said why on
 * standard error), or EX_TEMPFAIL when it could not be run or died.
 */
int sendmail_submit(const struct sendmail_postdrop *pd, struct envelope *env,
    const struct sendmail_buf *text, char *id, size_t idsize);

#endif
