/*
 * control_request - parsing and checking a control request line (see
 * control_request.h).  The line comes from any local user: every word
 * is bounded and checked here, and nothing else in ternd reads it.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "control_request.h"
#include "qid.h"

#define WORDS_MAX	(QADMIN_QIDS_MAX + 2)

static const struct {
	const char	*name;
	enum control_cmd cmd;
	int		 admin_only;
	int		 op;		/* -1: ternd's own */
} commands[] = {
	{ "status", CTL_STATUS, 0, -1 },
	{ "queue", CTL_QUEUE, 0, QADMIN_LIST },
	{ "show", CTL_SHOW, 0, QADMIN_SHOW },
	{ "flush", CTL_FLUSH, 0, -1 },
	{ "flushdomain", CTL_FLUSH_DOMAIN, 0, QADMIN_FLUSH },
	{ "hold", CTL_HOLD, 1, QADMIN_HOLD },
	{ "release", CTL_RELEASE, 1, QADMIN_RELEASE },
	{ "delete", CTL_DELETE, 1, QADMIN_DELETE },
	{ "requeue", CTL_REQUEUE, 1, QADMIN_REQUEUE },
	{ "stats", CTL_STATS, 1, QADMIN_STATS },
	{ "reload", CTL_RELOAD, 1, -1 },
	{ "stop", CTL_STOP, 1, -1 },
	{ "rebuild", CTL_REBUILD, 1, -1 },
};

/* A domain as flush takes it: a name or an address literal. */
static int
domain_ok(const char *d)
{
	size_t len = strlen(d);

	if (len == 0 || len > 255)
		return 0;
	for (const char *p = d; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-_[]:", *p) == NULL)
			return 0;
	return 1;
}

/* split - the words of line in w (at most max); -1 for too many or an
 * empty word (two spaces, a leading or trailing one) */
static int
split(char *line, char **w, size_t max, size_t *n)
{
	*n = 0;
	for (char *p = line;;) {
		char *sp = strchr(p, ' ');

		if (*n == max || (sp == p) || *p == '\0')
			return -1;
		w[(*n)++] = p;
		if (sp == NULL)
			return 0;
		*sp = '\0';
		p = sp + 1;
	}
}

/* req_qids - the queue IDs (or ALL) of words w[1..n) */
static int
req_qids(struct control_req *r, char **w, size_t n, int all_ok, char *err,
    size_t errsize)
{
	if (all_ok && n == 2 && strcmp(w[1], "ALL") == 0) {
		r->flags |= QADMIN_F_ALL;
		return 0;
	}
	if (n - 1 > QADMIN_QIDS_MAX) {
		snprintf(err, errsize, "more than %d queue IDs", QADMIN_QIDS_MAX);
		return -1;
	}
	for (size_t i = 1; i < n; i++) {
		if (!qid_valid(w[i])) {
			snprintf(err, errsize, "not a queue ID%s",
			    all_ok ? " or ALL" : "");
			return -1;
		}
		strlcpy(r->qids[r->nqids++], w[i], sizeof(r->qids[0]));
	}
	return 0;
}

/* control_request_parse - the request, checked */
int
control_request_parse(const char *line, struct control_req *r, char *err,
    size_t errsize)
{
	char buf[CONTROL_LINE_MAX], *w[WORDS_MAX];
	size_t n, k;

	memset(r, 0, sizeof(*r));
	if (strlcpy(buf, line, sizeof(buf)) >= sizeof(buf) ||
	    split(buf, w, WORDS_MAX, &n) < 0) {
		snprintf(err, errsize, "malformed request");
		return -1;
	}
	for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(w[0], commands[k].name) == 0)
			break;
	if (k == sizeof(commands) / sizeof(commands[0])) {
		snprintf(err, errsize, "unknown request");
		return -1;
	}
	r->name = commands[k].name;
	r->cmd = commands[k].cmd;
	r->admin_only = commands[k].admin_only;
	r->to_queued = commands[k].op >= 0;
	r->op = commands[k].op >= 0 ? (uint32_t)commands[k].op : 0;
	switch (r->cmd) {
	case CTL_QUEUE:
		if (n == 2 && strcmp(w[1], "json") == 0)
			r->flags |= QADMIN_F_JSON;
		else if (n != 1)
			break;
		return 0;
	case CTL_SHOW:
		if (n != 2)
			break;
		return req_qids(r, w, n, 0, err, errsize);
	case CTL_FLUSH:
		if (n == 1)
			return 0;
		/* Some messages: queued does it. */
		r->cmd = CTL_FLUSH_SOME;
		r->to_queued = 1;
		r->op = QADMIN_FLUSH;
		return req_qids(r, w, n, 0, err, errsize);
	case CTL_FLUSH_DOMAIN:
		if (n != 2)
			break;
		if (!domain_ok(w[1])) {
			snprintf(err, errsize, "not a domain");
			return -1;
		}
		strlcpy(r->domain, w[1], sizeof(r->domain));
		return 0;
	case CTL_HOLD:
	case CTL_RELEASE:
	case CTL_DELETE:
	case CTL_REQUEUE:
		if (n < 2)
			break;
		return req_qids(r, w, n, 1, err, errsize);
	default:
		if (n != 1)
			break;
		return 0;
	}
	snprintf(err, errsize, "wrong arguments for %s", r->name);
	return -1;
}
