/*
 * lookup_rcpt - recipient verdicts, virtual_alias_map rewriting, virtual
 * mailboxes and alias expansion for lookupd.
 *
 * lookupd.c calls lookup_rcpt_verdict() for smtpd's RCPT question and
 * lookup_rcpt_resolve() for queued's "where does this go".  Both parse the
 * address with addr.h, so relay control and delivery agree on the domain.
 * Alias values come from maps, which are untrusted: every item is parsed
 * again, expansion is bounded in depth and size, and a mailbox name is
 * never handed on unless it is a safe file name (a virtual mailbox path
 * unless virtual_path_check accepts it).  Rewriting by virtual_alias_map
 * comes first, for every domain, and is bounded and loop-checked like
 * alias expansion, by whole address.  This module must never turn a map
 * read error into "unknown user": that would bounce mail that a retry
 * would deliver.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "alias_target.h"
#include "log.h"
#include "lookup_rcpt.h"
#include "lookup_virtual.h"
#include "map.h"
#include "map_source.h"
#include "virtual_path.h"
#include "xmalloc.h"

#define ALIAS_VALUE_MAX		(64 * 1024)
#define POSTMASTER		"postmaster"
/* Where postmaster goes when neither an alias nor a user says otherwise. */
#define POSTMASTER_DEFAULT	"root"

struct alias_map {
	char			*file;	/* source name; compiled: file.db */
	struct map_source	*map;	/* file.db, or file while it is
					   newer (map_source.h) */
};

struct lookup_aliases {
	struct alias_map	*v;
	size_t			 n;
};

/* lookup_aliases_open - open every alias map; the caller closes */
struct lookup_aliases *
lookup_aliases_open(const struct strlist *alias_maps)
{
	return lookup_aliases_reload(NULL, alias_maps);
}

/* alias_map_take - old's map following f, taken from it, or a new one */
static struct map_source *
alias_map_take(struct lookup_aliases *old, const char *f)
{
	size_t i;

	for (i = 0; old != NULL && i < old->n; i++)
		if (old->v[i].map != NULL && strcmp(old->v[i].file, f) == 0)
			return map_source_reuse(&old->v[i].map, f,
			    MAP_SYNTAX_ALIASES);
	return map_source_open(f, MAP_SYNTAX_ALIASES);
}

/* lookup_aliases_reload - the maps of alias_maps, old's kept; old freed */
struct lookup_aliases *
lookup_aliases_reload(struct lookup_aliases *old,
    const struct strlist *alias_maps)
{
	struct lookup_aliases *a = xcalloc(1, sizeof(*a));
	size_t i;

	if (alias_maps == NULL || alias_maps->n == 0) {
		lookup_aliases_close(old);
		return a;
	}
	a->v = xcalloc(alias_maps->n, sizeof(*a->v));
	for (i = 0; i < alias_maps->n; i++) {
		const char *f = alias_maps->v[i];

		if (strncmp(f, "hash:", 5) == 0)
			f += 5;
		if (*f == '\0')
			continue;
		a->v[a->n].file = xstrdup(f);
		a->v[a->n].map = alias_map_take(old, f);
		a->n++;
	}
	lookup_aliases_close(old);
	return a;
}

/* lookup_aliases_close - close every map and free */
void
lookup_aliases_close(struct lookup_aliases *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n; i++) {
		map_source_close(a->v[i].map);
		free(a->v[i].file);
	}
	free(a->v);
	free(a);
}

/*
 * alias_map_get - look name up in one map: its .db while that is up to
 * date, else the source text itself (map_source.h), so that a missing
 * or stale .db neither defers every local recipient nor hides an edit.
 * A map whose source exists but cannot be read is an error (deferring
 * is safer than bouncing); one with neither file is empty.
 */
static enum found
alias_map_get(struct alias_map *a, const char *name, char *val, size_t size)
{
	int r = map_source_lookup(a->map, name, val, size);

	return r == 1 ? FOUND_YES : r == 0 ? FOUND_NO : FOUND_ERROR;
}

/*
 * alias_map_owner - who owns a's source (else its .db): the commands
 * and files it names run as that user (root's as default_privs, in the
 * local transport).  Unknown counts as root: the least trusted choice.
 */
static uid_t
alias_map_owner(const struct alias_map *a)
{
	char db[PATH_MAX];
	struct stat st;

	if (stat(a->file, &st) == 0)
		return st.st_uid;
	if (snprintf(db, sizeof(db), "%s.db", a->file) < (int)sizeof(db) &&
	    stat(db, &st) == 0)
		return st.st_uid;
	return 0;
}

/* alias_get - the first alias map that knows name decides */
static enum found
alias_get(const struct lookup_ctx *ctx, const char *name, char *val,
    size_t size, uid_t *owner)
{
	struct lookup_aliases *a = ctx->aliases;
	enum found f;
	size_t i;

	for (i = 0; a != NULL && i < a->n; i++)
		if ((f = alias_map_get(&a->v[i], name, val, size)) !=
		    FOUND_NO) {
			if (owner != NULL)
				*owner = alias_map_owner(&a->v[i]);
			return f;
		}
	return FOUND_NO;
}

/* lookup_domain_is_local - domain is one of local_domains */
int
lookup_domain_is_local(const struct settings *s, const char *domain)
{
	return settings_domain_in(&s->local_domains, domain);
}

/* domain_is_virtual - domain is one of virtual_mailbox_domains */
static int
domain_is_virtual(const struct lookup_ctx *ctx, const char *domain)
{
	return settings_domain_in(&ctx->settings->virtual_mailbox_domains,
	    domain);
}

/* virtual_active - virtual aliases or virtual mailboxes are configured */
static int
virtual_active(const struct lookup_ctx *ctx)
{
	return lookup_virtual_has_alias(ctx->virtual) ||
	    ctx->settings->virtual_mailbox_domains.n > 0;
}

/*
 * name_is_safe - name can be a mailbox directory name: not empty, no
 * '/', no leading '.', no control characters.
 */
static int
name_is_safe(const char *name)
{
	const unsigned char *u = (const unsigned char *)name;

	if (*u == '\0' || *u == '.')
		return 0;
	for (; *u != '\0'; u++)
		if (*u == '/' || *u < 0x20 || *u == 0x7f)
			return 0;
	return 1;
}

/* user_by_passwd - name is in the password database */
static enum found
user_by_passwd(const char *name)
{
	struct passwd pw, *res = NULL;
	size_t size = 16384;
	char *buf;
	int r;

	for (;;) {
		buf = xmalloc(size);
		r = getpwnam_r(name, &pw, buf, size, &res);
		free(buf);
		if (r != ERANGE || size >= 1024 * 1024)
			break;
		size *= 4;
	}
	if (r == 0)
		return res != NULL ? FOUND_YES : FOUND_NO;
	/* getpwnam_r(3): these mean "not found" on some systems. */
	if (r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
		return FOUND_NO;
	return FOUND_ERROR;
}

/*
 * user_by_mailbox - base/name is a directory.  lstat, so a symlink
 * planted in mailbox_base cannot point delivery somewhere else.
 */
static enum found
user_by_mailbox(const char *base, int basefd, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	int r;

	if (basefd >= 0)
		r = fstatat(basefd, name, &st, AT_SYMLINK_NOFOLLOW);
	else {
		if (snprintf(path, sizeof(path), "%s/%s", base, name) >=
		    (int)sizeof(path))
			return FOUND_NO;
		r = lstat(path, &st);
	}
	if (r == -1)
		return errno == ENOENT || errno == ENOTDIR ? FOUND_NO :
		    FOUND_ERROR;
	return S_ISDIR(st.st_mode) ? FOUND_YES : FOUND_NO;
}

/* user_exists - name (lowercased local part) has a mailbox here */
static enum found
user_exists(const struct lookup_ctx *ctx, const char *name)
{
	const char *base = ctx->settings->mailbox_base;

	if (!name_is_safe(name))
		return FOUND_NO;
	if (base != NULL && *base != '\0')
		return user_by_mailbox(base, ctx->mailbox_fd, name);
	return user_by_passwd(name);
}

/* The recipient, as far as the verdict is concerned. */
struct rcpt {
	struct mailaddr	 addr;
	int		 local;			/* in a local domain */
	char		 name[ADDR_LOCAL_MAX + 1];	/* lowercase */
};

/* name_fold - lowercase local into name */
static void
name_fold(const char *local, char *name, size_t size)
{
	size_t i;

	for (i = 0; local[i] != '\0' && i + 1 < size; i++)
		name[i] = (char)tolower((unsigned char)local[i]);
	name[i] = '\0';
}

/* rcpt_parse - parse a request's address; -1 when it is not one */
static int
rcpt_parse(const struct lookup_ctx *ctx, const char *address, struct rcpt *r)
{
	if (addr_parse_mailbox(address, strlen(address),
	    ADDR_P_FORWARD | ADDR_P_UTF8, &r->addr) != ADDR_OK ||
	    (r->addr.flags & ADDR_F_NULL))
		return -1;
	r->local = (r->addr.flags & ADDR_F_POSTMASTER) ||
	    lookup_domain_is_local(ctx->settings, r->addr.domain);
	name_fold(r->addr.local, r->name, sizeof(r->name));
	return 0;
}

/*
 * name_base - name without its extension ("user+tag" is user when
 * recipient_delimiter is "+") into base; 0 when name has none.
 */
static int
name_base(const struct lookup_ctx *ctx, const char *name, char *base,
    size_t size)
{
	const char *d = ctx->settings->recipient_delimiter;
	const char *p;

	if (d == NULL || d[0] == '\0' || (p = strchr(name, d[0])) == NULL ||
	    p == name || (size_t)(p - name) >= size)
		return 0;
	memcpy(base, name, (size_t)(p - name));
	base[p - name] = '\0';
	return 1;
}

static enum lookup_verdict rcpt_classify_name(const struct lookup_ctx *ctx,
    const char *name);

/*
 * rcpt_classify - verdict for the local name (a local-domain recipient):
 * the name itself, else (recipient_delimiter) the name without its
 * extension.
 */
static enum lookup_verdict
rcpt_classify(const struct lookup_ctx *ctx, const char *name)
{
	char base[ADDR_LOCAL_MAX + 1];
	enum lookup_verdict v = rcpt_classify_name(ctx, name);

	if (v == LOOKUP_UNKNOWN && name_base(ctx, name, base, sizeof(base)))
		v = rcpt_classify_name(ctx, base);
	return v;
}

/* rcpt_classify_name - verdict for exactly this local name */
static enum lookup_verdict
rcpt_classify_name(const struct lookup_ctx *ctx, const char *name)
{
	char *val = xmalloc(ALIAS_VALUE_MAX + 1);
	enum found f;

	f = alias_get(ctx, name, val, ALIAS_VALUE_MAX + 1, NULL);
	free(val);
	if (f == FOUND_YES)
		return LOOKUP_ALIAS;
	if (f == FOUND_NO)
		f = user_exists(ctx, name);
	if (f == FOUND_YES)
		return LOOKUP_LOCAL;
	if (f == FOUND_ERROR)
		return LOOKUP_TEMPFAIL;
	/*
	 * RFC 5321 4.5.1: postmaster must always be accepted.  Without an
	 * alias or a mailbox of that name it is delivered to root, as if
	 * the aliases file said "postmaster: root".
	 */
	return strcmp(name, POSTMASTER) == 0 ? LOOKUP_ALIAS : LOOKUP_UNKNOWN;
}

/* ---- alias expansion ---------------------------------------------- */

enum expand_status {
	EXPAND_OK = 0,
	EXPAND_TEMPFAIL,	/* a map could not be read: retry later */
	EXPAND_FAIL,		/* limits exceeded or a bad value: bounce */
	EXPAND_LOOP,		/* virtual_alias_map leads back: bounce */
};

/* One expansion in progress. */
struct expand {
	const struct lookup_ctx	*ctx;
	struct lookup_targets	*out;
	const char		*top;	/* the address asked about, for logs */
	/* the aliases being expanded, outermost first (loop detection) */
	char			 chain[LOOKUP_ALIAS_DEPTH][ADDR_LOCAL_MAX + 1];
	size_t			 depth;
	/* aliases already expanded: their targets are in out already */
	char			**done;
	size_t			 ndone;
	/* the same two for virtual_alias_map, by whole address */
	char			 vchain[LOOKUP_ALIAS_DEPTH][ADDR_TEXT_MAX];
	size_t			 vdepth;
	char			**vdone;
	size_t			 nvdone;
	/* the owner of the file whose value is being expanded */
	uid_t			 owner;
	enum expand_status	 status;
};

/* expand_fail - stop the expansion for a reason worth a log line */
static void
expand_fail(struct expand *e, enum expand_status st, const char *why,
    const char *name)
{
	char vtop[ADDR_TEXT_MAX * 2], vname[ADDR_TEXT_MAX * 4 + 1];

	if (e->status != EXPAND_OK)
		return;
	e->status = st;
	log_warn("alias expansion of <%s>: %s: %s",
	    log_vis(vtop, sizeof(vtop), e->top, strlen(e->top)), why,
	    log_vis(vname, sizeof(vname), name, strlen(name)));
}

/* expand_add - append a target unless it is already there */
static void
expand_add(struct expand *e, enum resolve_kind kind, const char *target)
{
	struct lookup_targets *t = e->out;
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].kind == kind && strcmp(t->v[i].target, target) == 0)
			return;
	if (t->n >= LOOKUP_MAX_TARGETS) {
		expand_fail(e, EXPAND_FAIL, "too many targets at", target);
		return;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
	}
	t->v[t->n].kind = kind;
	if (strlcpy(t->v[t->n].target, target, sizeof(t->v[t->n].target)) >=
	    sizeof(t->v[t->n].target)) {
		expand_fail(e, EXPAND_FAIL, "target too long", target);
		return;
	}
	t->n++;
}

/* expand_seen - name is in list[0..n) */
static int
expand_seen(char (*list)[ADDR_LOCAL_MAX + 1], size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return 1;
	return 0;
}

/* expand_done - name was expanded earlier in this resolve */
static int
expand_done(const struct expand *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->ndone; i++)
		if (strcmp(e->done[i], name) == 0)
			return 1;
	return 0;
}

static void expand_local(struct expand *e, const char *name);
static void expand_address(struct expand *e, const struct mailaddr *ma);
static void expand_value(struct expand *e, char *value, const char *local,
    int special);

/* expand_special - a command or file target, run as e->owner */
static void
expand_special(struct expand *e, enum resolve_kind kind, const char *text,
    size_t len)
{
	char t[ALIAS_TARGET_MAX + 1];

	if (alias_target_format(t, sizeof(t), e->owner, text, len) != 0) {
		expand_fail(e, EXPAND_FAIL, "command or file name too long",
		    text);
		return;
	}
	expand_add(e, kind, t);
}

/*
 * include_read - the text of an :include: file, its lines joined by
 * commas and # comments left out, into buf; *owner its owner.  Read as
 * lookupd's user; a file that others may write is refused, since its
 * commands would run as its owner.  FOUND_YES, FOUND_BAD (refused) or
 * FOUND_ERROR (cannot be read now).
 */
static enum found
include_read(const char *path, char *buf, size_t size, uid_t *owner)
{
	struct stat st;
	size_t n = 0, k;
	ssize_t r;
	int fd, comment = 0;
	char c;

	if ((fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) ==
	    -1)
		return FOUND_ERROR;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) || st.st_size >= (off_t)size) {
		close(fd);
		return FOUND_BAD;
	}
	*owner = st.st_uid;
	for (;;) {
		r = read(fd, buf + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return FOUND_ERROR;
		}
		if (r == 0 || (n += (size_t)r) >= size - 1)
			break;
	}
	close(fd);
	/* Lines become items; comments and control characters go. */
	for (k = 0; k < n; k++) {
		c = buf[k];
		if (c == '\n') {
			comment = 0;
			buf[k] = ',';
		} else if (comment || (c == '#' && (k == 0 ||
		    buf[k - 1] == ',')))
			comment = 1, buf[k] = ' ';
		else if ((unsigned char)c < 0x20 || c == 0x7f)
			buf[k] = ' ';
	}
	buf[n] = '\0';
	return FOUND_YES;
}

/* expand_include - the items of an :include: file, as its owner's */
static void
expand_include(struct expand *e, const char *path, size_t len)
{
	char name[PATH_MAX + 16], *val;
	uid_t saved = e->owner;
	enum found f;
	size_t i;

	if (snprintf(name, sizeof(name), ":include:%.*s", (int)len, path) >=
	    (int)sizeof(name)) {
		expand_fail(e, EXPAND_FAIL, "include file name too long", path);
		return;
	}
	/* Included once per resolve: a file that includes itself is done. */
	for (i = 0; i < e->ndone; i++)
		if (strcmp(e->done[i], name) == 0)
			return;
	if (e->depth >= LOOKUP_ALIAS_DEPTH || e->ndone >= LOOKUP_MAX_TARGETS) {
		expand_fail(e, EXPAND_FAIL, "includes nested too deeply at",
		    name);
		return;
	}
	e->done = xreallocarray(e->done, e->ndone + 1, sizeof(*e->done));
	e->done[e->ndone++] = xstrdup(name);
	val = xmalloc(ALIAS_VALUE_MAX + 1);
	f = include_read(name + 9, val, ALIAS_VALUE_MAX + 1, &e->owner);
	if (f == FOUND_ERROR)
		expand_fail(e, EXPAND_TEMPFAIL, "cannot read", name);
	else if (f != FOUND_YES)
		expand_fail(e, EXPAND_FAIL, "refused (not a regular file, "
		    "writable by others, or too long)", name);
	else {
		/* Its own level: "a: a" inside it still means a's mailbox. */
		e->depth++;
		strlcpy(e->chain[e->depth - 1], ":include:",
		    sizeof(e->chain[0]));
		expand_value(e, val, NULL, 1);
		e->depth--;
	}
	e->owner = saved;
	free(val);
}

/*
 * expand_mailbox_user - "\name" (len octets): name's own mailbox, not
 * looked up as an alias and delivered without name's .forward
 * (RESOLVE_MAILBOX).  Whether name is a user is left to delivery, which
 * returns the mail for an unknown one (5.1.1), like a bare name's.
 */
static void
expand_mailbox_user(struct expand *e, const char *user, size_t len)
{
	char buf[ADDR_LOCAL_MAX + 1], name[ADDR_LOCAL_MAX + 1];

	if (!alias_item_user_ok(user, len) || len >= sizeof(buf)) {
		expand_fail(e, EXPAND_FAIL, "\\ needs a local user name",
		    user);
		return;
	}
	memcpy(buf, user, len);
	buf[len] = '\0';
	name_fold(buf, name, sizeof(name));
	if (!name_is_safe(name)) {
		expand_fail(e, EXPAND_FAIL, "unsafe mailbox name", name);
		return;
	}
	expand_add(e, RESOLVE_MAILBOX, name);
}

/*
 * expand_item - one item of an alias value: a bare local name, an
 * address, or (in a virtual_alias_map value, where local is the local
 * part being rewritten, as addr_format wrote it) "@domain", meaning
 * local@domain.  Bare names are local mailboxes; addresses go through
 * expand_address.
 */
static void
expand_item(struct expand *e, const char *item, const char *local,
    int special)
{
	char buf[ADDR_TEXT_MAX + 16], name[ADDR_LOCAL_MAX + 1];
	struct mailaddr ma;
	int bare = strchr(item, '@') == NULL;
	enum alias_item_kind kind;
	const char *rest;
	size_t len;

	/*
	 * Commands, files, includes and \name: only in alias files and
	 * :include: files (special), never in virtual_alias_map.
	 */
	kind = alias_item_kind(item, &rest, &len);
	if (kind != ALIAS_ITEM_ADDRESS && !special) {
		expand_fail(e, EXPAND_FAIL, "command or file not allowed here",
		    item);
		return;
	}
	switch (kind) {
	case ALIAS_ITEM_BAD:
		expand_fail(e, EXPAND_FAIL, rest, item);
		return;
	case ALIAS_ITEM_COMMAND:
		expand_special(e, RESOLVE_COMMAND, rest, len);
		return;
	case ALIAS_ITEM_FILE:
		expand_special(e, RESOLVE_FILE, rest, len);
		return;
	case ALIAS_ITEM_INCLUDE:
		expand_include(e, rest, len);
		return;
	case ALIAS_ITEM_MAILBOX:
		expand_mailbox_user(e, rest, len);
		return;
	default:
		break;
	}
	if (*item == '@' && local != NULL) {
		/* "@other": the same local part in another domain. */
		if (snprintf(buf, sizeof(buf), "%s%s", local, item) >=
		    (int)sizeof(buf)) {
			expand_fail(e, EXPAND_FAIL, "address too long", item);
			return;
		}
	} else if (snprintf(buf, sizeof(buf), "%s%s", item, bare ?
	    "@localhost" : "") >= (int)sizeof(buf)) {
		expand_fail(e, EXPAND_FAIL, "malformed alias value", item);
		return;
	}
	/* Same reading as ternmap's: a bare name is a local mailbox. */
	if (addr_parse_mailbox(buf, strlen(buf), ADDR_P_UTF8, &ma) !=
	    ADDR_OK) {
		expand_fail(e, EXPAND_FAIL, "malformed alias value", item);
		return;
	}
	if (bare) {
		name_fold(ma.local, name, sizeof(name));
		expand_local(e, name);
		return;
	}
	expand_address(e, &ma);
}

/*
 * expand_value - expand each comma-separated item of value (commas
 * inside double quotes belong to a quoted local part).
 */
static void
expand_value(struct expand *e, char *value, const char *local, int special)
{
	char *p = value, *item;
	int quoted = 0;

	for (item = p; e->status == EXPAND_OK; p++) {
		if (quoted && *p == '\\' && p[1] != '\0') {
			p++;
			continue;
		}
		if (*p == '"')
			quoted = !quoted;
		if ((*p != ',' || quoted) && *p != '\0')
			continue;
		int last = *p == '\0';

		*p = '\0';
		item += strspn(item, " \t");
		for (char *q = p; q > item && (q[-1] == ' ' || q[-1] == '\t');)
			*--q = '\0';
		if (*item != '\0')
			expand_item(e, item, local, special);
		if (last)
			break;
		item = p + 1;
	}
}

/* expand_leaf - name is not an alias: deliver to its mailbox */
static void
expand_leaf(struct expand *e, const char *name)
{
	enum found f;

	if (!name_is_safe(name)) {
		expand_fail(e, EXPAND_FAIL, "unsafe mailbox name", name);
		return;
	}
	if (strcmp(name, POSTMASTER) != 0) {
		expand_add(e, RESOLVE_LOCAL, name);
		return;
	}
	f = user_exists(e->ctx, name);
	if (f == FOUND_ERROR)
		e->status = EXPAND_TEMPFAIL;
	else if (f == FOUND_YES)
		expand_add(e, RESOLVE_LOCAL, name);
	else if (expand_seen(e->chain, e->depth, POSTMASTER_DEFAULT))
		expand_add(e, RESOLVE_LOCAL, POSTMASTER_DEFAULT);
	else
		expand_local(e, POSTMASTER_DEFAULT);
}

/*
 * expand_local - expand the local name.  A name already on the chain of
 * aliases being expanded is a loop: like Postfix, it then means that
 * user's own mailbox ("bob: bob, bob@elsewhere" keeps a copy).
 */
static void
expand_local(struct expand *e, const char *name)
{
	uid_t owner = 0, saved;
	enum found f;
	char *val;

	if (e->status != EXPAND_OK)
		return;
	if (expand_seen(e->chain, e->depth, name)) {
		expand_leaf(e, name);
		return;
	}
	if (expand_done(e, name))
		return;
	val = xmalloc(ALIAS_VALUE_MAX + 1);
	f = alias_get(e->ctx, name, val, ALIAS_VALUE_MAX + 1, &owner);
	if (f == FOUND_ERROR)
		e->status = EXPAND_TEMPFAIL;
	else if (f == FOUND_NO)
		expand_leaf(e, name);
	else if (e->depth >= LOOKUP_ALIAS_DEPTH)
		expand_fail(e, EXPAND_FAIL, "aliases nested too deeply at",
		    name);
	else if (e->ndone >= LOOKUP_MAX_TARGETS)
		expand_fail(e, EXPAND_FAIL, "too many aliases at", name);
	else {
		e->done = xreallocarray(e->done, e->ndone + 1,
		    sizeof(*e->done));
		e->done[e->ndone++] = xstrdup(name);
		strlcpy(e->chain[e->depth++], name, sizeof(e->chain[0]));
		saved = e->owner;
		e->owner = owner;
		expand_value(e, val, NULL, 1);
		e->owner = saved;
		e->depth--;
	}
	free(val);
}

/* ---- virtual_alias_map and virtual mailboxes ---------------------- */

/* vchain_seen - addr is on the chain of virtual aliases being expanded */
static int
vchain_seen(const struct expand *e, const char *addr)
{
	size_t i;

	for (i = 0; i < e->vdepth; i++)
		if (strcasecmp(e->vchain[i], addr) == 0)
			return 1;
	return 0;
}

/* vdone_seen - addr was rewritten earlier in this resolve */
static int
vdone_seen(const struct expand *e, const char *addr)
{
	size_t i;

	for (i = 0; i < e->nvdone; i++)
		if (strcasecmp(e->vdone[i], addr) == 0)
			return 1;
	return 0;
}

/*
 * virtual_rewrite_get - the virtual_alias_map value that rewrites addr
 * (ma parsed) into val.  The exact address's entry wins; the "@domain"
 * entry (a catch-all or a domain rewrite) applies only to an address
 * that has no mailbox of its own in virtual_mailbox_map, so that a
 * catch-all catches the unknown users and not the known ones.
 */
static enum found
virtual_rewrite_get(const struct lookup_ctx *ctx, const struct mailaddr *ma,
    const char *addr, char *val, size_t size)
{
	char key[ADDR_DOMAIN_MAX + 2], path[VIRTUAL_PATH_MAX + 1];
	enum found f;

	if (!lookup_virtual_has_alias(ctx->virtual))
		return FOUND_NO;
	if ((f = lookup_virtual_alias(ctx->virtual, addr, val, size)) !=
	    FOUND_NO || ma->domain[0] == '\0')
		return f;
	if (snprintf(key, sizeof(key), "@%s", ma->domain) >= (int)sizeof(key))
		return FOUND_NO;
	if ((f = lookup_virtual_alias(ctx->virtual, key, val, size)) !=
	    FOUND_YES || !domain_is_virtual(ctx, ma->domain))
		return f;
	f = lookup_virtual_mailbox(ctx->virtual, addr, path, sizeof(path));
	switch (f) {
	case FOUND_NO:
		return FOUND_YES;
	case FOUND_ERROR:
		return FOUND_ERROR;
	default:
		return FOUND_NO;	/* its own (or a refused) entry */
	}
}

/* expand_mailbox - addr is in a virtual mailbox domain: its Maildir */
static void
expand_mailbox(struct expand *e, const char *addr)
{
	char path[VIRTUAL_PATH_MAX + 1];

	switch (lookup_virtual_mailbox(e->ctx->virtual, addr, path,
	    sizeof(path))) {
	case FOUND_YES:
		expand_add(e, RESOLVE_LOCAL, path);
		break;
	case FOUND_NO:
		/*
		 * RFC 5321 4.5.1: postmaster must be accepted for every
		 * domain we take mail for.  Without an entry of its own it
		 * is the local postmaster (an alias, or root).
		 */
		if (strncasecmp(addr, POSTMASTER "@", sizeof(POSTMASTER)) ==
		    0) {
			expand_local(e, POSTMASTER);
			break;
		}
		/* Not worth a warning: smtpd logs the refusal, and a
		 * dictionary attack would flood the log. */
		e->status = EXPAND_FAIL;
		break;
	case FOUND_BAD:
		expand_fail(e, EXPAND_FAIL, "refused virtual mailbox entry",
		    addr);
		break;
	default:
		e->status = EXPAND_TEMPFAIL;
		break;
	}
}

/*
 * expand_final - ma (formatted: addr) is rewritten no further: a local
 * name (which may still be an alias), a virtual mailbox, or remote.
 */
static void
expand_final(struct expand *e, const struct mailaddr *ma, const char *addr)
{
	char name[ADDR_LOCAL_MAX + 1];

	if ((ma->flags & ADDR_F_POSTMASTER) ||
	    lookup_domain_is_local(e->ctx->settings, ma->domain)) {
		name_fold(ma->local, name, sizeof(name));
		expand_local(e, name);
	} else if (domain_is_virtual(e->ctx, ma->domain))
		expand_mailbox(e, addr);
	else
		expand_add(e, RESOLVE_REMOTE, addr);
}

/*
 * expand_address - a whole address: rewritten by virtual_alias_map (its
 * results rewritten again), or else delivered by its domain.  Like an
 * alias naming itself, an address whose value names the address itself
 * keeps it ("bob@x bob@x, carol@y" keeps a copy); any longer cycle is a
 * loop, and the recipient cannot be delivered.
 */
static void
expand_address(struct expand *e, const struct mailaddr *ma)
{
	char addr[ADDR_TEXT_MAX], *val, *at;
	enum found f;

	if (e->status != EXPAND_OK)
		return;
	if (addr_format(ma, addr, sizeof(addr)) == -1) {
		expand_fail(e, EXPAND_FAIL, "address too long", ma->local);
		return;
	}
	if (vchain_seen(e, addr)) {
		if (strcasecmp(e->vchain[e->vdepth - 1], addr) == 0)
			expand_final(e, ma, addr);
		else
			expand_fail(e, EXPAND_LOOP, "virtual alias loop at",
			    addr);
		return;
	}
	if (vdone_seen(e, addr))
		return;
	val = xmalloc(MAP_VALUE_MAX + 1);
	f = virtual_rewrite_get(e->ctx, ma, addr, val, MAP_VALUE_MAX + 1);
	if (f == FOUND_ERROR)
		e->status = EXPAND_TEMPFAIL;
	else if (f != FOUND_YES)
		expand_final(e, ma, addr);
	else if (e->vdepth >= LOOKUP_ALIAS_DEPTH)
		expand_fail(e, EXPAND_FAIL, "virtual aliases nested too "
		    "deeply at", addr);
	else if (e->nvdone >= LOOKUP_MAX_TARGETS)
		expand_fail(e, EXPAND_FAIL, "too many virtual aliases at",
		    addr);
	else {
		e->vdone = xreallocarray(e->vdone, e->nvdone + 1,
		    sizeof(*e->vdone));
		e->vdone[e->nvdone++] = xstrdup(addr);
		strlcpy(e->vchain[e->vdepth++], addr, sizeof(e->vchain[0]));
		/* "@other" items keep the local part, as written. */
		if ((at = strrchr(addr, '@')) != NULL)
			*at = '\0';
		expand_value(e, val, addr, 0);
		e->vdepth--;
	}
	free(val);
}

/* lookup_targets_free - release the list */
void
lookup_targets_free(struct lookup_targets *t)
{
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}

/*
 * resolve_owner - when the alias name has an "owner-name" alias, the
 * bounces of its targets go there (a mailing list's owner, as with
 * Sendmail and Postfix): an extra RESOLVE_OWNER target says so.  Only
 * for the alias the envelope names.
 */
static void
resolve_owner(struct expand *e, const char *name)
{
	char owner[ADDR_LOCAL_MAX + 8], addr[ADDR_TEXT_MAX], *val;
	enum found f;

	if (e->status != EXPAND_OK || e->out->n == 0 ||
	    strncmp(name, "owner-", 6) == 0 ||
	    snprintf(owner, sizeof(owner), "owner-%s", name) >=
	    (int)sizeof(owner) || strlen(owner) > ADDR_LOCAL_MAX ||
	    snprintf(addr, sizeof(addr), "%s@%s", owner,
	    e->ctx->settings->myhostname) >= (int)sizeof(addr))
		return;
	val = xmalloc(ALIAS_VALUE_MAX + 1);
	f = alias_get(e->ctx, owner, val, ALIAS_VALUE_MAX + 1, NULL);
	free(val);
	if (f == FOUND_YES)
		expand_add(e, RESOLVE_OWNER, addr);
}

/*
 * resolve_local - the old way for a local-domain recipient not rewritten
 * by virtual_alias_map: a mailbox, or an alias expanded.
 */
static enum lookup_verdict
resolve_local(struct expand *e, const struct rcpt *r)
{
	char base[ADDR_LOCAL_MAX + 1];
	const char *name = r->name;
	enum lookup_verdict v = rcpt_classify_name(e->ctx, name);

	/* "user+tag": user's, unless user+tag is a name of its own. */
	if (v == LOOKUP_UNKNOWN && name_base(e->ctx, name, base,
	    sizeof(base))) {
		name = base;
		v = rcpt_classify_name(e->ctx, name);
	}
	if (v == LOOKUP_LOCAL)
		expand_add(e, RESOLVE_LOCAL, name);
	else if (v == LOOKUP_ALIAS) {
		expand_local(e, name);
		resolve_owner(e, name);
	}
	return v;
}

/*
 * resolve_top - the verdict for r, its targets going to e: rewritten by
 * virtual_alias_map (an alias), a virtual mailbox (local), a local
 * recipient, or remote.
 */
static enum lookup_verdict
resolve_top(struct expand *e, const struct rcpt *r)
{
	char addr[ADDR_TEXT_MAX], *val;
	enum found f = FOUND_NO;

	if (addr_format(&r->addr, addr, sizeof(addr)) == -1)
		return LOOKUP_UNKNOWN;
	if (virtual_active(e->ctx) && !(r->addr.flags & ADDR_F_POSTMASTER)) {
		val = xmalloc(MAP_VALUE_MAX + 1);
		f = virtual_rewrite_get(e->ctx, &r->addr, addr, val,
		    MAP_VALUE_MAX + 1);
		free(val);
	}
	if (f == FOUND_ERROR)
		return LOOKUP_TEMPFAIL;
	if (f == FOUND_YES) {
		expand_address(e, &r->addr);
		return LOOKUP_ALIAS;
	}
	if (r->local)
		return resolve_local(e, r);
	if (domain_is_virtual(e->ctx, r->addr.domain)) {
		expand_mailbox(e, addr);
		return LOOKUP_LOCAL;
	}
	expand_add(e, RESOLVE_REMOTE, addr);
	return LOOKUP_REMOTE;
}

/* expand_free - release what an expansion kept */
static void
expand_free(struct expand *e)
{
	size_t i;

	for (i = 0; i < e->ndone; i++)
		free(e->done[i]);
	free(e->done);
	for (i = 0; i < e->nvdone; i++)
		free(e->vdone[i]);
	free(e->vdone);
}

/* lookup_rcpt_resolve - verdict plus the final delivery targets in out */
enum lookup_verdict
lookup_rcpt_resolve(const struct lookup_ctx *ctx, const char *address,
    struct lookup_targets *out)
{
	struct expand e;
	enum lookup_verdict v;
	struct rcpt r;

	out->n = 0;
	if (rcpt_parse(ctx, address, &r) == -1)
		return LOOKUP_UNKNOWN;
	memset(&e, 0, sizeof(e));
	e.ctx = ctx;
	e.out = out;
	e.top = address;
	v = resolve_top(&e, &r);
	/* Accepted mail must go somewhere; an empty alias bounces. */
	if (v == LOOKUP_ALIAS && e.status == EXPAND_OK && out->n == 0)
		expand_fail(&e, EXPAND_FAIL, "no targets for", address);
	expand_free(&e);
	if (e.status != EXPAND_OK) {
		out->n = 0;
		return e.status == EXPAND_TEMPFAIL ? LOOKUP_TEMPFAIL :
		    e.status == EXPAND_LOOP ? LOOKUP_LOOP : LOOKUP_UNKNOWN;
	}
	return v;
}

/* verdict_rewritten - r (a local-domain recipient) has a virtual alias */
static enum found
verdict_rewritten(const struct lookup_ctx *ctx, const struct rcpt *r)
{
	char addr[ADDR_TEXT_MAX], *val;
	enum found f;

	if (addr_format(&r->addr, addr, sizeof(addr)) == -1)
		return FOUND_NO;
	val = xmalloc(MAP_VALUE_MAX + 1);
	f = virtual_rewrite_get(ctx, &r->addr, addr, val, MAP_VALUE_MAX + 1);
	free(val);
	return f;
}

/*
 * lookup_rcpt_verdict - the verdict for address.  Without virtual
 * domains or aliases, a local name is classified without expanding it.
 * A recipient that virtual_alias_map rewrites, or in a virtual mailbox
 * domain, is resolved in full: an unknown virtual user (also one behind
 * a rewrite) or a loop is refused at RCPT, not bounced later.  A domain
 * that is not ours counts as ours only when virtual_alias_map has an
 * "@domain" entry for it; an exact entry alone leaves the relay policy
 * to decide.
 */
enum lookup_verdict
lookup_rcpt_verdict(const struct lookup_ctx *ctx, const char *address)
{
	struct lookup_targets t = { NULL, 0, 0 };
	enum lookup_verdict v;
	struct rcpt r;
	enum found f;

	if (rcpt_parse(ctx, address, &r) == -1)
		return LOOKUP_UNKNOWN;
	if (!virtual_active(ctx))
		return r.local ? rcpt_classify(ctx, r.name) : LOOKUP_REMOTE;
	if (r.local) {
		if ((r.addr.flags & ADDR_F_POSTMASTER) ||
		    (f = verdict_rewritten(ctx, &r)) == FOUND_NO)
			return rcpt_classify(ctx, r.name);
		if (f == FOUND_ERROR)
			return LOOKUP_TEMPFAIL;
	} else if (!domain_is_virtual(ctx, r.addr.domain)) {
		f = lookup_virtual_domain_alias(ctx->virtual, r.addr.domain);
		if (f == FOUND_ERROR)
			return LOOKUP_TEMPFAIL;
		if (f != FOUND_YES)
			return LOOKUP_REMOTE;
	}
	v = lookup_rcpt_resolve(ctx, address, &t);
	lookup_targets_free(&t);
	return v;
}
