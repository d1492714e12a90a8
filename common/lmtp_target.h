/*
 * lmtp_target - the value of mailbox_transport: empty (tern writes the
 * mailbox itself), "lmtp:unix:/path" (an LMTP server on a Unix socket),
 * or "lmtp:[host]:port", "lmtp:[host]", "lmtp:host:port", "lmtp:host"
 * (over TCP, port 24 by default; a host in brackets is an address, one
 * without may be a name, looked up with getaddrinfo).
 *
 * One parser for the settings check (common/settings.c), queued (which
 * routes local recipients by it) and deliverd's lmtp transport (which
 * connects by it), so the three cannot disagree.
 */
#ifndef TERN_LMTP_TARGET_H
#define TERN_LMTP_TARGET_H

#include <stddef.h>

#define LMTP_TARGET_MAX		299	/* the whole setting; fits a next hop
					   (MSG_NEXTHOP_MAX) */
#define LMTP_PATH_MAX		108	/* sun_path, with its NUL */
#define LMTP_HOST_MAX		256
#define LMTP_DEFAULT_PORT	24

enum lmtp_target_kind {
	LMTP_TARGET_NONE = 0,	/* "": local delivery by tern */
	LMTP_TARGET_UNIX,	/* path */
	LMTP_TARGET_INET,	/* host, port */
};

struct lmtp_target {
	enum lmtp_target_kind	 kind;
	char			 path[LMTP_PATH_MAX];
	char			 host[LMTP_HOST_MAX];	/* no brackets */
	int			 port;
	int			 numeric;	/* host is an address literal */
};

/*
 * lmtp_target_parse - value into t; 0, or -1 with the reason in err.
 * Nothing is looked up and nothing is opened.
 */
int lmtp_target_parse(const char *value, struct lmtp_target *t, char *err,
    size_t errsize);

#endif
