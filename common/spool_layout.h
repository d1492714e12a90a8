/*
 * spool_layout - the spool's directories, their owners and modes: one
 * table, read by ternd when it creates them (master_spool.c) and by
 * "ternctl check" when it audits them (tern_check.c).
 */
#ifndef TERN_SPOOL_LAYOUT_H
#define TERN_SPOOL_LAYOUT_H

#include <sys/types.h>

#include "maildrop.h"

#define SPOOL_SMTP_ROOT		"smtp"		/* the smtp transport's chroot */
#define SPOOL_MTASTS_CACHE	"mta-sts"	/* in SPOOL_SMTP_ROOT */

enum spool_owner {
	SPOOL_OWNER_ROOT = 0,	/* ternd's user (root) */
	SPOOL_OWNER_QUEUE = 1,	/* tern_queue_user */
	SPOOL_OWNER_MAILDROP = 2, /* tern_queue_user, group setgid_group */
	SPOOL_OWNER_TERN = 3,	/* tern_user */
};

struct spool_layout_dir {
	const char	*name;		/* under the spool; "" the spool */
	mode_t		 mode;
	enum spool_owner owner;
	int		 hashed;	/* and its 16 subdirectories 0..F */
};

/* In creation order: parents first. */
static const struct spool_layout_dir spool_layout[] = {
	{ "", 0755, SPOOL_OWNER_ROOT, 0 },
	{ "db", 0700, SPOOL_OWNER_QUEUE, 0 },
	{ "msg", 0700, SPOOL_OWNER_QUEUE, 1 },
	/* Queue files that failed validation: kept for a human, never
	 * deleted by tern. */
	{ "corrupt", 0700, SPOOL_OWNER_QUEUE, 0 },
	/* Local submissions: see maildrop.h for why 1730. */
	{ MAILDROP_DIR, MAILDROP_DIR_MODE, SPOOL_OWNER_MAILDROP, 0 },
	{ "empty", 0555, SPOOL_OWNER_ROOT, 0 },
	{ "run", 0755, SPOOL_OWNER_ROOT, 0 },
	/* The smtp transport's chroot, apart from smtpd's (empty): it
	 * holds only the MTA-STS policies the transport caches
	 * (mtasts.c), out of reach of smtpd, which also runs as
	 * tern_user. */
	{ SPOOL_SMTP_ROOT, 0755, SPOOL_OWNER_ROOT, 0 },
	{ SPOOL_SMTP_ROOT "/" SPOOL_MTASTS_CACHE, 0700, SPOOL_OWNER_TERN, 0 },
};

#define SPOOL_HASH_DIGITS	"0123456789ABCDEF"

#endif
