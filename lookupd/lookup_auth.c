/*
 * lookup_auth - AUTH credential checks and the sender login policy.  See
 * lookup_auth.h.
 *
 * Why a dummy hash: if an unknown login were answered without running
 * crypt(3), the answer time would tell an attacker which logins exist.
 * The dummy is made with the system's default method (yescrypt on
 * Debian), the one ternmap users are most likely to use too.
 */
#include "config.h"

#include <sys/stat.h>

#include <crypt.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "log.h"
#include "lookup_auth.h"
#include "lookup_rcpt.h"
#include "map.h"
#include "xmalloc.h"

#define AUTH_HASH_MAX	512
#define SENDER_LOGINS_MAX	4096

struct auth_map {
	const char	*file;		/* "" when not configured */
	struct map	*map;		/* NULL until it opens */
	int		 warned;
};

struct lookup_auth {
	const struct settings	*settings;
	struct auth_map		 passwd;
	struct auth_map		 senders;
	struct crypt_data	*cd;		/* crypt_r's big scratch area */
	char			 dummy[CRYPT_OUTPUT_SIZE];
};

/* auth_map_ready - open m if possible; 1 open, 0 not configured, -1 not */
static int
auth_map_ready(struct auth_map *m)
{
	char err[512];

	if (m->file[0] == '\0')
		return 0;
	if (m->map != NULL)
		return 1;
	if ((m->map = map_open(m->file, err, sizeof(err))) != NULL) {
		m->warned = 0;
		return 1;
	}
	if (!m->warned)
		log_warn("map %s: %s", m->file, err);
	m->warned = 1;
	return -1;
}

/* lookup_auth_open - open both maps, make the dummy hash */
struct lookup_auth *
lookup_auth_open(const struct settings *s)
{
	struct lookup_auth *a = xcalloc(1, sizeof(*a));
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *h;

	a->settings = s;
	a->passwd.file = s->smtpd_auth_passwd_map;
	a->senders.file = s->smtpd_sender_login_map;
	a->cd = xcalloc(1, sizeof(*a->cd));
	(void)auth_map_ready(&a->passwd);
	(void)auth_map_ready(&a->senders);
	if (crypt_gensalt_rn(NULL, 0, NULL, 0, salt, sizeof(salt)) == NULL ||
	    (h = crypt_r("tern dummy password", salt, a->cd)) == NULL ||
	    h[0] == '*')
		strlcpy(a->dummy, "$6$ternDummySalt$", sizeof(a->dummy));
	else
		strlcpy(a->dummy, h, sizeof(a->dummy));
	return a;
}

/* lookup_auth_close - close the maps and free */
void
lookup_auth_close(struct lookup_auth *a)
{
	if (a == NULL)
		return;
	map_close(a->passwd.map);
	map_close(a->senders.map);
	explicit_bzero(a->cd, sizeof(*a->cd));
	free(a->cd);
	free(a);
}

/* lookup_auth_ct_equal - compare without an early exit */
int
lookup_auth_ct_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;

	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)(i < lb ? b[i] : 0);
	return diff == 0;
}

/* lookup_auth_verify - crypt(3) the password and compare */
enum auth_verdict
lookup_auth_verify(struct lookup_auth *a, const char *login, const char *pass)
{
	char hash[AUTH_HASH_MAX];
	const char *out;
	int found = 0, r;

	if ((r = auth_map_ready(&a->passwd)) <= 0)
		return r == 0 ? AUTH_DENIED : AUTH_TEMPFAIL;
	r = map_lookup(a->passwd.map, login, hash, sizeof(hash));
	if (r == -1)
		return AUTH_TEMPFAIL;
	/* Locked ("!..."), disabled ("*") and empty hashes never match,
	 * but still cost a crypt(3) run. */
	found = r == 1 && hash[0] != '\0' && hash[0] != '!' && hash[0] != '*';
	out = crypt_r(pass, found ? hash : a->dummy, a->cd);
	r = out != NULL && out[0] != '*' && found &&
	    lookup_auth_ct_equal(out, hash);
	explicit_bzero(a->cd, sizeof(*a->cd));
	explicit_bzero(hash, sizeof(hash));
	return r ? AUTH_GRANTED : AUTH_DENIED;
}

/* login_listed - login is one item of the comma/blank list in list */
static int
login_listed(const char *list, const char *login)
{
	size_t llen = strlen(login);
	const char *p = list;

	while (*p != '\0') {
		size_t n;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n > 0 && n == llen && strncasecmp(p, login, n) == 0)
			return 1;
		p += n;
	}
	return 0;
}

/* sender_is_own - sender is login@D for a local domain D */
static int
sender_is_own(const struct settings *s, const struct mailaddr *m,
    const char *login)
{
	const char *at = strchr(login, '@');

	if (!lookup_domain_is_local(s, m->domain))
		return 0;
	if (at == NULL)
		return strcasecmp(m->local, login) == 0;
	/* A login that is itself an address may use exactly that address. */
	return (size_t)(at - login) == strlen(m->local) &&
	    strncasecmp(login, m->local, (size_t)(at - login)) == 0 &&
	    strcasecmp(at + 1, m->domain) == 0;
}

/* lookup_auth_sender - may login use sender */
enum auth_verdict
lookup_auth_sender(struct lookup_auth *a, const char *sender,
    const char *login)
{
	char *logins;
	struct mailaddr m;
	int r;

	if (sender[0] == '\0')
		return AUTH_GRANTED;
	if (addr_parse_mailbox(sender, strlen(sender), ADDR_P_UTF8, &m) !=
	    ADDR_OK || (m.flags & ADDR_F_LITERAL))
		return AUTH_DENIED;
	if ((r = auth_map_ready(&a->senders)) == -1)
		return AUTH_TEMPFAIL;
	if (r == 1) {
		logins = xmalloc(SENDER_LOGINS_MAX);
		r = map_lookup(a->senders.map, sender, logins,
		    SENDER_LOGINS_MAX);
		if (r == 1)
			r = login_listed(logins, login) ? 2 : 3;
		free(logins);
		if (r == -1)
			return AUTH_TEMPFAIL;
		if (r >= 2)
			return r == 2 ? AUTH_GRANTED : AUTH_DENIED;
	}
	return sender_is_own(a->settings, &m, login) ? AUTH_GRANTED :
	    AUTH_DENIED;
}
