/*
 * sendmail - what sendmail.c (the command line, the modes) and
 * sendmail_smtp.c (-bs) share: the invocation's settings and the one
 * path by which a message leaves for the maildrop.
 */
#ifndef TERN_SENDMAIL_H
#define TERN_SENDMAIL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "envelope.h"
#include "settings.h"
#include "sendmail_submit.h"

struct sendmail_ctx {
	struct settings		 set;
	const char		*config;	/* -C, or NULL: the default */
	char			 origin[256];	/* myorigin, resolved */
	char			 login[ADDR_TEXT_MAX];	/* the user, qualified */
	const char		*full_name;	/* -F or $NAME, or NULL */
	uint32_t		 notify;	/* -N, or 0 */
	int			 body8;		/* -B 8BITMIME */
	int			 verbose;	/* -v */
	char			 postdrop[PATH_MAX];
	struct sendmail_postdrop pd;
};

/*
 * sendmail_message - the input in[0..len) made into the message
 * (sendmail_msg_build), its recipients (extract: -t) added to env's,
 * every recipient without NOTIFY given c->notify, the body type set,
 * and the queue file handed to tern-postdrop.  env holds the sender and
 * any recipients already (its rcpts array may be reallocated; the
 * caller frees it with envelope_free).  0 with the maildrop name in id,
 * or a sysexits(3) status with a reason in err ("" when tern-postdrop
 * said it on standard error).
 */
int sendmail_message(struct sendmail_ctx *c, struct envelope *env,
    const char *in, size_t len, int extract, int dot_ends, char *id,
    size_t idsize, char *err, size_t errsize);

/* sendmail_env_add_rcpt - append a (canonical) unless env has it; -1 when
 * that would exceed smtpd_recipient_limit */
int sendmail_env_add_rcpt(struct sendmail_ctx *c, struct envelope *env,
    const char *a, uint32_t notify, const char *orcpt);

/* sendmail_smtp - -bs: an SMTP session on standard input and output;
 * the exit status */
int sendmail_smtp(struct sendmail_ctx *c);

#endif
