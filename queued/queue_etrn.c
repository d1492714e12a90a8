/*
 * queue_etrn - the queue's half of ETRN (RFC 1985).  See queue_etrn.h.
 *
 * smtpd has checked that the client may ask (mynetworks) and that the
 * name is a domain; queued trusts neither the name nor the flags beyond
 * what the codec checked, and only ever makes mail due sooner: nothing
 * is released from hold, deleted or reordered.  It is "ternctl flush
 * DOMAIN" for remote recipients, asked over SMTP.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "destination.h"
#include "log.h"
#include "msg.h"
#include "msg_codec.h"
#include "queue_etrn.h"
#include "scheduler.h"

/* etrn_domain_match - domain is want, or (subdomains) ends in ".want" */
static int
etrn_domain_match(const char *domain, const char *want, int subdomains)
{
	size_t dl = strlen(domain), wl = strlen(want);

	if (strcasecmp(domain, want) == 0)
		return 1;
	return subdomains && dl > wl + 1 && domain[dl - wl - 1] == '.' &&
	    strcasecmp(domain + dl - wl, want) == 0;
}

/* etrn_msg_match - has sm a waiting remote recipient in the domain? */
static int
etrn_msg_match(const struct sched_msg *sm, const struct msg_etrn *e)
{
	if (sm->rec.flags & QMSG_F_HELD)
		return 0;
	for (uint32_t i = 0; i < sm->n; i++) {
		const struct sched_rcpt_rec *r = &sm->r[i].rec;
		const char *at = strrchr(r->addr, '@');

		/* Addresses only: command and file targets may hold an @
		 * too (as in queue_admin.c). */
		if (r->state == RCPT_PENDING && (r->kind ==
		    RCPT_KIND_ENVELOPE || r->kind == RCPT_KIND_REMOTE) &&
		    at != NULL && etrn_domain_match(at + 1, e->domain,
		    (e->flags & ETRN_F_SUBDOMAINS) != 0))
			return 1;
	}
	return 0;
}

/* queue_etrn_request - make the domain's mail due now, say how much */
void
queue_etrn_request(struct queued_peer *p, struct ipc_msg *m)
{
	struct msg_etrn e;
	struct msg_etrn_done done = { 0 };
	struct msg_failed failed = { 458, "4.3.0 Unable to queue messages" };
	struct ipc_msg ans;
	const char *why;
	char vis[MSG_ETRN_DOMAIN_MAX * 4 + 1];

	if (msg_decode(m, MSG_SMTPD_ETRN, &e, &why) != 0) {
		msg_log_reject("smtpd", m, why);
		if (msg_encode(&ans, MSG_QUEUED_MESSAGE_FAILED, m->id,
		    &failed) == 0)
			queued_peer_send(p, &ans);
		return;
	}
	for (struct sched_msg *sm = sched_first(), *next; sm != NULL;
	    sm = next) {
		next = sched_next(sm);	/* as admin_change: taken first */
		if (etrn_msg_match(sm, &e)) {
			sched_msg_due_now(sm);
			done.messages++;
		}
	}
	/* As with "ternctl flush": a destination found dead is tried
	 * again now, which is what the client asked for. */
	if (done.messages > 0)
		dest_revive_all();
	log_info("ETRN %s%s: %u message%s due now", (e.flags &
	    ETRN_F_SUBDOMAINS) ? "@" : "", log_vis(vis, sizeof(vis),
	    e.domain, strlen(e.domain)), done.messages,
	    done.messages == 1 ? "" : "s");
	if (msg_encode(&ans, MSG_QUEUED_ETRN_DONE, m->id, &done) == 0)
		queued_peer_send(p, &ans);
}
