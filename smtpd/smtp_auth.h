/*
 * smtp_auth - the SASL side of SMTP AUTH (RFC 4954): the PLAIN (RFC 4616)
 * and LOGIN mechanisms, strict base64, and the 334 challenge dialogue.
 *
 * Called by smtp_session for the AUTH command.  It only extracts a login
 * and a password from what the client sent; it never decides whether they
 * are right (lookupd does, with the hashes smtpd never sees) and never
 * logs a password.  Buffers that held a password are cleared before they
 * are released.
 */
#ifndef TERN_SMTP_AUTH_H
#define TERN_SMTP_AUTH_H

#include <stddef.h>

#include "msg_codec.h"
#include "smtp_io.h"

/* RFC 4616 3: each field, octets; lookupd takes as much (msg_codec.h) */
#define SMTP_AUTH_FIELD_MAX	MSG_AUTH_FIELD_MAX
/* RFC 4954 4: a line of the exchange may be 12288 octets */
#define SMTP_AUTH_LINE_MAX	12288

enum smtp_auth_mech {
	SMTP_AUTH_NONE = 0,
	SMTP_AUTH_PLAIN,
	SMTP_AUTH_LOGIN,
};

/* How an exchange ended, when no credentials came out of it. */
enum smtp_auth_status {
	SMTP_AUTH_OK = 0,		/* login and password are set */
	SMTP_AUTH_CANCELLED = 1,	/* the client sent "*": 501 5.7.0 */
	SMTP_AUTH_BAD_BASE64 = 2,	/* 501 5.5.2 */
	SMTP_AUTH_MALFORMED = 3,	/* decoded, but not PLAIN's form: 501 */
	SMTP_AUTH_IO = 4,		/* the client went away */
	SMTP_AUTH_TIMEOUT = 5,		/* a response line missed its deadline */
};

/* smtp_auth_mech_parse - the mechanism named by s[0..len), or NONE */
enum smtp_auth_mech smtp_auth_mech_parse(const char *s, size_t len);

/* smtp_auth_mech_name - "PLAIN" or "LOGIN" */
const char *smtp_auth_mech_name(enum smtp_auth_mech m);

/*
 * smtp_auth_b64_decode - strict RFC 4648 base64 of in[0..len) into out
 * (NUL-terminated for convenience; the data may hold NULs).  Padding is
 * required, no white space, no characters outside the alphabet.  "=" alone
 * is the empty string (RFC 4954 4).  Returns the decoded length, or -1.
 */
int smtp_auth_b64_decode(const char *in, size_t len, unsigned char *out,
    size_t outsize);

/*
 * smtp_auth_plain_parse - split a PLAIN message "authzid NUL authcid NUL
 * passwd" into login (authcid) and password.  The authorization identity
 * must be empty or equal to the login: tern does not let one user act as
 * another.  0, or -1 when malformed.
 */
int smtp_auth_plain_parse(const unsigned char *msg, size_t len, char *login,
    size_t loginsize, char *pass, size_t passsize);

/*
 * smtp_auth_exchange - run mechanism m with the client: initial (may be
 * NULL; not NUL-terminated, initlen octets) is the initial response from
 * the AUTH line; further responses are read after "334" challenges.  On
 * SMTP_AUTH_OK login and pass hold the credentials (the caller clears
 * pass after use).
 */
enum smtp_auth_status smtp_auth_exchange(struct smtp_io *io,
    enum smtp_auth_mech m, const char *initial, size_t initlen,
    char *login, size_t loginsize, char *pass, size_t passsize);

#endif
