/*
 * test_myaddr - this host's own addresses (common/myaddr.c) and the
 * smtp transport's refusal to deliver to them (deliverd/smtp_route.c):
 * loopback and unspecified addresses, interface addresses, listen
 * entries (exact, wildcard, by name), IPv4-mapped IPv6, address
 * literals, and routes that would loop.  No DNS: only literal next hops.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ifaddrs.h>
#include <string.h>

#include <check.h>

#include "check_suites.h"
#include "dns.h"
#include "msg.h"
#include "myaddr.h"
#include "settings.h"
#include "smtp_route.h"

/* ignore - a settings report function for text known to be good */
static void
ignore(const char *file, int line, const char *msg, void *arg)
{
	(void)file;
	(void)line;
	(void)msg;
	(void)arg;
}

/* load - settings from text, and myaddr from them */
static void
load(struct settings *s, const char *text)
{
	settings_defaults(s);
	ck_assert_int_eq(settings_parse_buffer(s, "test.conf", text,
	    strlen(text), ignore, NULL), 0);
	ck_assert_int_gt(myaddr_load(s), 0);
}

/* listener - myaddr_listener_ours for a text address and a port */
static int
listener(const char *addr, int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
	}
	return myaddr_listener_ours((struct sockaddr *)&ss);
}

/* ours - myaddr_address_ours for a text address */
static int
ours(const char *addr)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, addr, a) == 1)
		return myaddr_address_ours(AF_INET, a);
	ck_assert_int_eq(inet_pton(AF_INET6, addr, a), 1);
	return myaddr_address_ours(AF_INET6, a);
}

START_TEST(test_addresses_ours)
{
	struct settings s;
	struct ifaddrs *ifa, *i;
	int checked = 0;

	load(&s, "smtp_listen = 127.0.0.1:25, 198.51.100.7:25\n");
	ck_assert(ours("127.0.0.1"));
	ck_assert(ours("127.1.2.3"));		/* all of 127/8 */
	ck_assert(ours("0.0.0.0"));
	ck_assert(ours("::1"));
	ck_assert(ours("::"));
	ck_assert(ours("::ffff:127.0.0.1"));
	ck_assert(ours("198.51.100.7"));	/* a listen address */
	ck_assert(!ours("192.0.2.1"));
	ck_assert(!ours("128.0.0.1"));
	ck_assert(!ours("2001:db8::1"));
	ck_assert(!ours("::2"));
	/* Every address of every interface. */
	ck_assert_int_eq(getifaddrs(&ifa), 0);
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			ck_assert(myaddr_address_ours(AF_INET,
			    &((struct sockaddr_in *)(void *)i->ifa_addr)->
			    sin_addr));
		else if (i->ifa_addr->sa_family == AF_INET6)
			ck_assert(myaddr_address_ours(AF_INET6,
			    &((struct sockaddr_in6 *)(void *)i->ifa_addr)->
			    sin6_addr));
		else
			continue;
		checked++;
	}
	freeifaddrs(ifa);
	ck_assert_int_gt(checked, 0);
	settings_free(&s);
}
END_TEST

START_TEST(test_listeners_ours)
{
	struct settings s;

	load(&s, "smtp_listen = 127.0.0.1:25, 2525, [::1]:587\n"
	    "submission_listen = 0.0.0.0:26\n"
	    "submissions_listen = localhost:465\n");
	ck_assert(listener("127.0.0.1", 25));
	ck_assert(!listener("127.0.0.2", 25));	/* another address */
	ck_assert(!listener("127.0.0.1", 24));	/* another port */
	ck_assert(listener("::ffff:127.0.0.1", 25));
	/* A wildcard listener takes every address of ours, no other. */
	ck_assert(listener("127.0.0.9", 2525));
	ck_assert(listener("::1", 2525));
	ck_assert(!listener("192.0.2.1", 2525));
	ck_assert(listener("127.0.0.5", 26));
	ck_assert(!listener("192.0.2.1", 26));
	ck_assert(listener("::1", 587));
	ck_assert(!listener("::1", 25));
	/* A listen host name is resolved (here by /etc/hosts). */
	ck_assert(listener("127.0.0.1", 465));
	settings_free(&s);
}
END_TEST

START_TEST(test_literals_ours)
{
	struct settings s;

	load(&s, "smtp_listen = 127.0.0.1:25\n");
	ck_assert(myaddr_literal_ours("[127.0.0.1]"));
	ck_assert(myaddr_literal_ours("[127.0.0.2]"));
	ck_assert(myaddr_literal_ours("[0.0.0.0]"));
	ck_assert(myaddr_literal_ours("[IPv6:::1]"));
	ck_assert(myaddr_literal_ours("[ipv6:::ffff:127.0.0.1]"));
	ck_assert(!myaddr_literal_ours("[192.0.2.1]"));
	ck_assert(!myaddr_literal_ours("[IPv6:2001:db8::1]"));
	ck_assert(!myaddr_literal_ours("[::1]"));	/* no IPv6: tag */
	ck_assert(!myaddr_literal_ours("localhost"));
	ck_assert(!myaddr_literal_ours("[x-tag:127.0.0.1]"));
	ck_assert(!myaddr_literal_ours("[127.0.0.1"));
	ck_assert(!myaddr_literal_ours("[]"));
	ck_assert(!myaddr_literal_ours(""));
	settings_free(&s);
}
END_TEST

/*
 * The smtp transport's routes: a literal next hop or a relayhost that is
 * one of our listeners is never a target.  A recipient's literal bounces
 * (5.4.6); the relayhost, the administrator's mistake, defers (4.4.6).
 */
START_TEST(test_route_never_to_ourselves)
{
	static struct smtp_route rt;
	struct settings s;
	struct dns_config dc;

	memset(&dc, 0, sizeof(dc));		/* no DNS: literals only */
	load(&s, "smtp_listen = 127.0.0.1:2525\nsmtp_port = 2525\n"
	    "relayhost = [127.0.0.1]:2525\n");
	smtp_route_resolve(&s, &dc, "[127.0.0.1]", &rt);
	ck_assert_int_eq(rt.n, 0);
	ck_assert_int_eq(rt.status, DELIVER_PERMFAIL);
	ck_assert_str_eq(rt.dsn, "5.4.6");
	ck_assert_str_eq(rt.text, "mail for [127.0.0.1] loops back to myself");
	smtp_route_resolve(&s, &dc, "[IPv6:::ffff:127.0.0.1]", &rt);
	ck_assert_int_eq(rt.n, 0);
	ck_assert_str_eq(rt.dsn, "5.4.6");
	smtp_route_resolve(&s, &dc, "[127.0.0.1]:2525", &rt);
	ck_assert_int_eq(rt.n, 0);
	ck_assert_int_eq(rt.status, DELIVER_TEMPFAIL);
	ck_assert_str_eq(rt.dsn, "4.4.6");
	ck_assert_str_eq(rt.text,
	    "mail for [127.0.0.1]:2525 loops back to myself");
	/* Another port, another address: someone else's server. */
	smtp_route_resolve(&s, &dc, "[127.0.0.1]:2526", &rt);
	ck_assert_int_eq(rt.n, 1);
	smtp_route_resolve(&s, &dc, "[127.0.0.2]", &rt);
	ck_assert_int_eq(rt.n, 1);
	settings_free(&s);
}
END_TEST

Suite *
myaddr_suite(void)
{
	Suite *s = suite_create("myaddr");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_addresses_ours);
	tcase_add_test(tc, test_listeners_ours);
	tcase_add_test(tc, test_literals_ours);
	tcase_add_test(tc, test_route_never_to_ourselves);
	suite_add_tcase(s, tc);
	return s;
}
