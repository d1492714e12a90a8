/*
 * queue_etrn - ETRN (RFC 1985) for smtpd: the deferred mail for one
 * domain is made due now.
 */
#ifndef TERN_QUEUE_ETRN_H
#define TERN_QUEUE_ETRN_H

#include "ipc.h"
#include "queued.h"

/*
 * queue_etrn_request - do the MSG_SMTPD_ETRN m from smtpd p: every
 * message that is not on hold and has a waiting remote recipient in the
 * domain (or, with ETRN_F_SUBDOMAINS, in it or below it) is due now.
 * Answers MSG_QUEUED_ETRN_DONE with the count, or MESSAGE_FAILED (458)
 * when m does not decode.
 */
void queue_etrn_request(struct queued_peer *p, struct ipc_msg *m);

#endif
