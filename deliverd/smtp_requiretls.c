/*
 * smtp_requiretls - RFC 8689 on the sending side: the level a host is
 * tried at, whether it qualifies for a REQUIRETLS message, and the
 * verdict when no host did.  See smtp_requiretls.h.
 *
 * Why a REQUIRETLS failure of every host is permanent at once, and not
 * deferred like a failed TLS policy: RFC 8689 4.2.1 has the client try
 * each MX host and, when none qualifies, not transmit the message and
 * send a non-delivery notification.  A host that could not be reached
 * at all (or refused for another, temporary reason) was never judged,
 * so while one such host remains the message waits like any other: the
 * next attempt may reach it.
 *
 * Never: let a TLS-Required: No message lower the level of a
 * connection that carries credentials, or of the relayhost.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "log.h"
#include "smtp_requiretls.h"

/* smtp_tls_mode_of - the job's tag and sender to a mode */
enum smtp_tls_mode
smtp_tls_mode_of(uint32_t tls_request, const char *sender)
{
	if ((tls_request & ENVELOPE_F_REQUIRETLS) && sender[0] != '\0')
		return SMTP_TLS_MODE_REQUIRED;
	/* RFC 8689 4.1: REQUIRETLS wins over the header (smtpd never sets
	 * both; a notice from <> of a REQUIRETLS message follows policy). */
	if ((tls_request & ENVELOPE_F_TLS_OPTIONAL) &&
	    !(tls_request & ENVELOPE_F_REQUIRETLS))
		return SMTP_TLS_MODE_OPTIONAL;
	return SMTP_TLS_MODE_POLICY;
}

/* smtp_tls_mode_ignores_policy - TLS-Required: No */
int
smtp_tls_mode_ignores_policy(enum smtp_tls_mode mode)
{
	return mode == SMTP_TLS_MODE_OPTIONAL;
}

/* smtp_requiretls_level - the level one host is tried at */
enum smtp_tls_level
smtp_requiretls_level(enum smtp_tls_mode mode, enum smtp_tls_level level,
    int own_route, int creds, const char *qid, const char *nexthop,
    const char *host)
{
	if (mode == SMTP_TLS_MODE_REQUIRED) {
		log_info("%s: requiretls: %s: TLS level %s, the certificate "
		    "must be authenticated and REQUIRETLS offered", qid, host,
		    tls_level_name(tls_level_encrypts(level) ? level :
		    SMTP_TLS_ENCRYPT));
		return tls_level_encrypts(level) ? level : SMTP_TLS_ENCRYPT;
	}
	if (mode != SMTP_TLS_MODE_OPTIONAL || level == SMTP_TLS_NONE ||
	    level == SMTP_TLS_MAY)
		return level;
	if (own_route || creds) {
		log_info("%s: tls-required-no: %s: TLS level %s kept (%s)",
		    qid, host, tls_level_name(level), creds ?
		    "credentials are sent there" : "not a recipient domain");
		return level;
	}
	log_info("%s: tls-required-no: %s: TLS policy %s of %s ignored at "
	    "the sender's request (RFC 8689); opportunistic TLS", qid, host,
	    tls_level_name(level), nexthop);
	return SMTP_TLS_MAY;
}

/* smtp_requiretls_check - the host qualifies for a REQUIRETLS message */
int
smtp_requiretls_check(const struct smtp_conn *c, enum smtp_tls_mode mode,
    const char *qid, struct smtp_reply *r)
{
	const char *by;

	if (mode != SMTP_TLS_MODE_REQUIRED || c->lmtp)
		return 0;
	by = smtp_conn_tls_authenticated(c);
	r->code = 0;
	if (by == NULL) {
		strlcpy(r->dsn, "5.7.10", sizeof(r->dsn));
		snprintf(r->text, sizeof(r->text), "REQUIRETLS: the TLS "
		    "connection to host %s is not authenticated (level %s): "
		    "Encryption needed", c->relay,
		    tls_level_name(c->tls_level));
	} else if (!(c->ext & EXT_REQUIRETLS)) {
		strlcpy(r->dsn, "5.7.30", sizeof(r->dsn));
		snprintf(r->text, sizeof(r->text), "host %s does not offer "
		    "REQUIRETLS: REQUIRETLS support required", c->relay);
	} else {
		log_info("%s: requiretls: %s: TLS authenticated by %s, "
		    "REQUIRETLS offered", qid, c->relay, by);
		return 0;
	}
	log_info("%s: requiretls: %s", qid, r->text);
	return -1;
}

/* smtp_requiretls_host_failed - tally one host that did not qualify */
void
smtp_requiretls_host_failed(struct smtp_requiretls_tally *t,
    const struct smtp_conn *c, int check_failed, const struct smtp_reply *r)
{
	t->tried++;
	if (!check_failed && !c->tls_failed)
		return;
	t->failed++;
	t->last = *r;
	if (!check_failed) {
		/* The level's own reason (4.7.4, 4.7.5) says what failed. */
		strlcpy(t->last.dsn, "5.7.10", sizeof(t->last.dsn));
		strlcpy(t->last.text, "REQUIRETLS: Encryption needed: ",
		    sizeof(t->last.text));
		strlcat(t->last.text, r->text, sizeof(t->last.text));
	}
}

/* smtp_requiretls_verdict - permanent when every host failed on TLS */
int
smtp_requiretls_verdict(const struct smtp_requiretls_tally *t,
    enum smtp_tls_mode mode, struct smtp_reply *r)
{
	if (mode != SMTP_TLS_MODE_REQUIRED || t->tried == 0 ||
	    t->failed < t->tried)
		return 0;
	*r = t->last;
	r->code = 550;
	return 1;
}
