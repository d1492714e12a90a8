/*
 * local_child - the delivery process of one mailbox owner, and what its
 * parent (transport_local.c) needs to start it and to judge its reports.
 *
 * The root deliverd forks such a process for a mailbox owner (uid, gid
 * and, for a passwd user, the name that gives its groups), or up to
 * local_owner_concurrency_limit of them for a busy owner.  It switches
 * to that owner for good before it opens anything, then takes the
 * owner's deliveries (MSG_LOCAL_DELIVERY, with the message file) over a
 * socketpair for as long as its parent keeps it, and answers each with
 * MSG_LOCAL_DELIVERED once the message is durable in its Maildir (or
 * mbox).  The
 * parent ends it by closing the socketpair.
 */
#ifndef TERN_LOCAL_CHILD_H
#define TERN_LOCAL_CHILD_H

#include <stddef.h>
#include <sys/types.h>

#include "local_target.h"
#include "msg_codec.h"
#include "settings.h"

/* Seconds a delivery may be outstanding before its process is killed. */
#define LOCAL_CHILD_TIMEOUT	600
/* Seconds a delivery process with nothing to do is kept for its owner. */
#define LOCAL_CHILD_IDLE	10
/*
 * Deliveries a process holds at most (sent, not yet reported); also the
 * most it writes before it syncs: the parent never sends more, and the
 * child commits a full batch before it reads on.  Well under
 * IPC_MAX_QUEUED_FDS, since each comes with a descriptor.
 */
#define LOCAL_CHILD_WINDOW	32

/*
 * local_child_spawn - fork the delivery process for owner, with the
 * settings set (myhostname names its files; local_domains and
 * recipient_delimiter say which .forward items are the user's own
 * address; the child keeps the copy the fork gives it).  Returns its
 * pid with *sock the parent's end of the socketpair (close-on-exec,
 * blocking: the caller sets what it needs), or -1 (errno) when the fork
 * failed.  The child never returns.
 */
pid_t local_child_spawn(const struct local_target *owner,
    const struct settings *set, int *sock);

/*
 * local_child_report_check - whether a delivery process's report can be
 * believed: its status must agree with the class of its dsn ("2.x.y" for
 * DELIVER_OK, "4.x.y" for DELIVER_TEMPFAIL, "5.x.y" for
 * DELIVER_PERMFAIL).  Copies the dsn and the text (printable ASCII, any
 * other octet as '?').  Returns the status, or -1 when not believable.
 */
int local_child_report_check(const struct msg_local_delivered *r, char *dsn,
    size_t dsnsize, char *text, size_t textsize);

/* local_child_exit_text - how a delivery process ended, for a deferral */
void local_child_exit_text(int wstatus, char *text, size_t textsize);

#endif
