/*
 * master_listen - bind the SMTP listening sockets.  ternd does this as
 * root (ports below 1024) before any child exists; smtpd only inherits
 * the descriptors.
 */
#include "config.h"

#include <sys/socket.h>
#include <netdb.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master_listen.h"

#define LISTEN_BACKLOG 256

static int
listen_one(const char *entry, const char *kind, struct listener *l)
{
	struct addrinfo hints, *res, *ai;
	char host[256], port[16];
	int fd = -1, on = 1, err;

	if (settings_listen_parse(entry, host, sizeof(host), port,
	    sizeof(port)) < 0) {
		log_error("bad listen address %s", entry);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((err = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) != 0) {
		log_error("listen address %s: %s", entry, gai_strerror(err));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, LISTEN_BACKLOG) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
		errno = err;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		log_error("cannot listen on %s: %s", entry, strerror(errno));
		return -1;
	}
	l->fd = fd;
	l->kind = kind;
	strlcpy(l->where, entry, sizeof(l->where));
	return 0;
}

/* master_listen_open - bind every configured listener */
int
master_listen_open(const struct settings *s, struct listener *ls)
{
	int n = 0;
	const struct {
		const struct strlist *list;
		const char *kind;
	} groups[] = {
		{ &s->smtp_listen, "smtp" },
		{ &s->submission_listen, "submission" },
		{ &s->submissions_listen, "submissions" },
	};

	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		for (size_t i = 0; i < groups[g].list->n; i++) {
			if (n == DAEMON_MAX_LISTEN) {
				log_error("too many listen addresses (max %d)",
				    DAEMON_MAX_LISTEN);
				return -1;
			}
			if (listen_one(groups[g].list->v[i], groups[g].kind,
			    &ls[n]) < 0) {
				for (int j = 0; j < n; j++)
					close(ls[j].fd);
				return -1;
			}
			n++;
		}
	}
	return n;
}
