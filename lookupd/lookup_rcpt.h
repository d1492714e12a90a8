/*
 * lookup_rcpt - is a recipient local, an alias, remote or unknown, and
 * where does it finally go.  The decision logic of lookupd, kept free of
 * IPC so that unit tests can drive it with a temporary mailbox_base and a
 * compiled alias map.
 */
#ifndef TERN_LOOKUP_RCPT_H
#define TERN_LOOKUP_RCPT_H

#include <stddef.h>

#include "addr.h"
#include "msg.h"
#include "msg_codec.h"
#include "settings.h"

#define LOOKUP_ALIAS_DEPTH	20	/* nested aliases */
/* Targets of one expansion (and aliases expanded for it): as many as one
 * MSG_LOOKUPD_RESOLVED carries. */
#define LOOKUP_MAX_TARGETS	MSG_RESOLVE_TARGETS_MAX

/* The alias maps (alias_maps), opened in order; opaque. */
struct lookup_aliases;
/* The virtual maps (lookup_virtual.h). */
struct lookup_virtual;

/*
 * lookup_aliases_open - follow every map named in alias_maps (an
 * optional "hash:" prefix is accepted).  Never fails: each lookup reads
 * FILE.db while it is at least as new as FILE, and otherwise FILE's
 * text itself (map_source.h: newaliases was not run, or FILE was
 * edited since); a map whose files cannot be read fails temporarily,
 * one with neither file finds nothing.  The caller closes it.
 */
struct lookup_aliases *lookup_aliases_open(const struct strlist *alias_maps);
/*
 * lookup_aliases_reload - as lookup_aliases_open, for a reload: a map
 * old already follows is kept open, not reopened (tern_user may be
 * unable to reach it); old (may be NULL) is closed and freed.
 */
struct lookup_aliases *lookup_aliases_reload(struct lookup_aliases *old,
    const struct strlist *alias_maps);
/* lookup_aliases_close - close every map and free */
void lookup_aliases_close(struct lookup_aliases *a);

/* What the lookups read; neither is owned. */
struct lookup_ctx {
	const struct settings	*settings;	/* domains, mailbox_base */
	struct lookup_aliases	*aliases;	/* may be NULL: no aliases */
	/* virtual_alias_map and virtual_mailbox_map; may be NULL */
	struct lookup_virtual	*virtual;
	/*
	 * mailbox_base opened (O_PATH) before privileges were dropped, or -1
	 * to use the path.  Lookups relative to it need no search permission
	 * on its parents, which tern_user may lack (a checkout under /root).
	 */
	int			 mailbox_fd;
};

struct lookup_target {
	enum resolve_kind	 kind;
	/* RESOLVE_LOCAL: mailbox user, or a virtual mailbox path
	 * (virtual_path.h); RESOLVE_REMOTE: "local@domain" */
	char			 target[ADDR_TEXT_MAX];
};

/* A growing list of targets, owned by the caller (lookup_targets_free). */
struct lookup_targets {
	struct lookup_target	*v;
	size_t			 n;
	size_t			 cap;
};

/*
 * lookup_rcpt_verdict - the verdict for address ("local@domain" in
 * addr_format form, or "postmaster").  An unparseable address is
 * LOOKUP_UNKNOWN.  A bare or local-domain postmaster that is neither an
 * alias nor a user is LOOKUP_ALIAS: it resolves to root.  A recipient
 * that virtual_alias_map rewrites or in a virtual mailbox domain is
 * resolved in full (lookup_rcpt_resolve), so that an unknown virtual
 * user is LOOKUP_UNKNOWN, and a rewrite loop LOOKUP_LOOP, here already.
 */
enum lookup_verdict lookup_rcpt_verdict(const struct lookup_ctx *ctx,
    const char *address);

/*
 * lookup_rcpt_resolve - the verdict, and in out (emptied first) the final
 * delivery targets after virtual_alias_map rewriting (for every domain:
 * LOOKUP_ALIAS) and alias expansion, without duplicates.  A recipient in
 * a virtual mailbox domain is LOOKUP_LOCAL with its Maildir path as the
 * target; one without a virtual_mailbox_map entry is LOOKUP_UNKNOWN.
 * A virtual_alias_map rewrite that leads back to an address it came
 * from (other than the address naming itself) is LOOKUP_LOOP.  Only
 * LOOKUP_LOCAL, LOOKUP_ALIAS and LOOKUP_REMOTE come with targets.  An
 * expansion that exceeds LOOKUP_ALIAS_DEPTH or LOOKUP_MAX_TARGETS, or that
 * meets a malformed alias value, is LOOKUP_UNKNOWN (it cannot be
 * delivered; the reason is logged).
 */
enum lookup_verdict lookup_rcpt_resolve(const struct lookup_ctx *ctx,
    const char *address, struct lookup_targets *out);

/*
 * lookup_domain_is_local - domain is one of s's local_domains (compared
 * case-insensitively, ignoring one trailing dot)
 */
int lookup_domain_is_local(const struct settings *s, const char *domain);

/* lookup_targets_free - release the list (it may be reused afterwards) */
void lookup_targets_free(struct lookup_targets *t);

#endif
