/*
 * smtp_tls_check - configuration checks for outbound TLS
 * (smtp_tls_check.h).  Read-only, like all of tern_check.
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "map.h"
#include "smtp_tls_check.h"
#include "tls_policy.h"

#define MSG_LEN	(PATH_MAX + 512)

struct policy_walk {
	const struct settings		*s;
	const struct tern_check		*c;
};

/* check_policy_entry - one smtp_tls_policy_map entry parses */
static void
check_policy_entry(const char *key, size_t klen, const char *val,
    size_t vlen, void *arg)
{
	const struct policy_walk *w = arg;
	char v[512], err[256], msg[MSG_LEN];
	struct tls_policy p;

	if (vlen >= sizeof(v)) {
		snprintf(msg, sizeof(msg), "smtp_tls_policy_map: %.*s: value "
		    "too long", (int)(klen < 300 ? klen : 300), key);
		w->c->report(msg, w->c->arg);
		return;
	}
	memcpy(v, val, vlen);
	v[vlen] = '\0';
	if (tls_policy_parse(w->s, v, &p, err, sizeof(err)) != 0) {
		snprintf(msg, sizeof(msg), "smtp_tls_policy_map: %.*s: %s; its "
		    "mail is deferred", (int)(klen < 300 ? klen : 300), key,
		    err);
		w->c->report(msg, w->c->arg);
	}
}

/*
 * check_relay_level - the level smtp_tls_policy_map (m, may be NULL)
 * gives the relayhost, else the global one.
 */
static enum smtp_tls_level
check_relay_level(const struct settings *s, struct map *m)
{
	char keys[TLS_POLICY_KEYS_MAX][TLS_NAME_MAX], val[512], err[256];
	struct tls_policy p;
	int n;

	if (m != NULL && s->relayhost[0] != '\0') {
		n = tls_policy_keys(s->relayhost, keys, TLS_POLICY_KEYS_MAX);
		for (int i = 0; i < n; i++)
			if (map_lookup(m, keys[i], val, sizeof(val)) == 1)
				return tls_policy_parse(s, val, &p, err,
				    sizeof(err)) == 0 ? p.level :
				    SMTP_TLS_VERIFY;	/* reported, deferred */
	}
	return s->smtp_tls_security_level;
}

/* check_ca - the CA file and directory that were named can be read */
static void
check_ca(const struct settings *s, const struct tern_check *c)
{
	char msg[MSG_LEN];
	struct stat st;

	if (s->smtp_tls_CAfile[0] != '\0' && access(s->smtp_tls_CAfile,
	    R_OK) < 0) {
		snprintf(msg, sizeof(msg), "smtp_tls_CAfile %s: %s",
		    s->smtp_tls_CAfile, strerror(errno));
		c->report(msg, c->arg);
	}
	if (s->smtp_tls_CApath[0] != '\0' && (stat(s->smtp_tls_CApath,
	    &st) < 0 || !S_ISDIR(st.st_mode))) {
		snprintf(msg, sizeof(msg), "smtp_tls_CApath %s: not a "
		    "directory", s->smtp_tls_CApath);
		c->report(msg, c->arg);
	}
}

/* smtp_tls_check - CA, policy map, and relay passwords */
void
smtp_tls_check(const struct settings *s, const struct tern_check *c)
{
	struct policy_walk w = { s, c };
	char msg[MSG_LEN], err[512];
	enum smtp_tls_level level;
	struct map *m = NULL;

	check_ca(s, c);
	if (s->smtp_tls_policy_map[0] != '\0') {
		if ((m = map_open(s->smtp_tls_policy_map, err,
		    sizeof(err))) == NULL) {
			snprintf(msg, sizeof(msg), "smtp_tls_policy_map: %s "
			    "(compile it with ternmap %s); until then remote "
			    "mail is deferred", err, s->smtp_tls_policy_map);
			c->report(msg, c->arg);
		} else if (map_walk(m, check_policy_entry, &w) != 0) {
			snprintf(msg, sizeof(msg), "smtp_tls_policy_map %s: "
			    "cannot be read to its end",
			    s->smtp_tls_policy_map);
			c->report(msg, c->arg);
		}
	}
	level = check_relay_level(s, m);
	map_close(m);
	/* dane verifies only where DNSSEC signs TLSA records. */
	if (s->smtp_sasl_password_maps.n == 0 || (tls_level_verifies(level) &&
	    level != SMTP_TLS_DANE))
		return;
	snprintf(msg, sizeof(msg), "smtp_sasl_password_maps: passwords go to "
	    "%s%s over TLS at level %s, which does not verify the server's "
	    "certificate: anyone in the path can take them (set level verify "
	    "or secure, for the relayhost in smtp_tls_policy_map or in "
	    "smtp_tls_security_level)", s->relayhost[0] != '\0' ?
	    "relayhost " : "remote servers", s->relayhost,
	    tls_level_name(level < SMTP_TLS_ENCRYPT ? SMTP_TLS_ENCRYPT : level));
	c->warn(msg, c->arg);
}
