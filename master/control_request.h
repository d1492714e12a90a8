/*
 * control_request - one request line of the control socket, parsed and
 * checked, and who may make it.
 *
 * The line is "COMMAND" or "COMMAND ARG ARG ...", words separated by
 * single spaces, at most CONTROL_LINE_MAX octets (msg.h).  The commands:
 *   status                       anyone
 *   queue [json]                 anyone (queued lists only the asker's
 *                                messages unless an administrator asks)
 *   show QID                     anyone (likewise)
 *   flush [QID...]               anyone (QIDs: likewise)
 *   flushdomain DOMAIN           anyone (likewise)
 *   hold|release|delete|requeue QID...|ALL    administrators
 *   stats, reload, stop, rebuild              administrators
 * Queue IDs are checked with qid_valid() and a domain for its characters
 * before anything else looks at them.  Pure: no I/O, unit-tested.
 */
#ifndef TERN_CONTROL_REQUEST_H
#define TERN_CONTROL_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "msg.h"

enum control_cmd {
	CTL_STATUS, CTL_QUEUE, CTL_SHOW, CTL_FLUSH, CTL_FLUSH_SOME,
	CTL_FLUSH_DOMAIN, CTL_HOLD, CTL_RELEASE, CTL_DELETE, CTL_REQUEUE,
	CTL_STATS, CTL_RELOAD, CTL_STOP, CTL_REBUILD,
};

struct control_req {
	enum control_cmd cmd;
	const char	*name;		/* the command word, for logs */
	int		 admin_only;	/* only administrators may */
	int		 to_queued;	/* a MSG_MASTER_QUEUE_ADMIN */
	uint32_t	 op;		/* enum queue_admin_op, when to_queued */
	uint32_t	 flags;		/* QADMIN_F_JSON, QADMIN_F_ALL */
	char		 domain[256];
	uint32_t	 nqids;
	char		 qids[QADMIN_QIDS_MAX][QID_MAX];
};

/*
 * control_request_parse - line (NUL-terminated, without its newline)
 * into *r.  0, or -1 with the reason in err (for the "error: " answer).
 */
int control_request_parse(const char *line, struct control_req *r,
    char *err, size_t errsize);

#endif
