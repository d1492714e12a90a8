/*
 * settings - the tern.conf table, its parser and its printer.
 *
 * Every process loads its configuration through settings_load(); ternd
 * checks the file before starting anyone and "ternctl config" prints it.
 * The table below is the only place a setting is declared: tern.conf(5),
 * etc/tern.conf and the unit tests are checked against it.
 *
 * The parser never stops at the first problem: it reports every one (file
 * and line) so that an administrator fixes a file in one pass, and a bad
 * value leaves the previous (default) value in place.  It must never
 * crash or overrun on any input: the file is read with a size bound and
 * each logical line is bounded.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dns.h"
#include "lmtp_target.h"
#include "log.h"
#include "msg_codec.h"
#include "settings.h"
#include "tls_policy.h"
#include "xmalloc.h"

_Static_assert(sizeof(enum bare_newline_mode) == sizeof(int),
    "enum settings are stored through int pointers");
_Static_assert(sizeof(enum smtp_tls_level) == sizeof(int),
    "enum settings are stored through int pointers");
_Static_assert(sizeof(enum mailbox_format) == sizeof(int),
    "enum settings are stored through int pointers");

#define MINUTE	60L
#define HOUR	(60 * MINUTE)
#define DAY	(24 * HOUR)
#define WEEK	(7 * DAY)

static int check_hostname(const char *, char *, size_t);
static int check_abspath(const char *, char *, size_t);
static int check_abspath_or_empty(const char *, char *, size_t);
static int check_hostname_or_empty(const char *, char *, size_t);
static int check_listen(const char *, char *, size_t);
static int check_network(const char *, char *, size_t);
static int check_network_or_mynetworks(const char *, char *, size_t);
static int check_username(const char *, char *, size_t);
static int check_delimiter(const char *, char *, size_t);
static int check_notify_class(const char *, char *, size_t);
static int check_dns_server(const char *, char *, size_t);
static int check_relayhost(const char *, char *, size_t);
static int check_mailbox_transport(const char *, char *, size_t);
static int parse_port(const char *, char *, size_t);
static int check_tls_match(const char *, char *, size_t);

static const char *const bare_newline_words[] = { "normalize", "reject", NULL };
static const char *const tls_level_words[] = { "none", "may", "encrypt",
    "verify", "secure", "dane", NULL };
static const char *const mailbox_format_words[] = { "maildir", "mbox", NULL };

#define OFF(f)	offsetof(struct settings, f)

static const struct setting_def settings_defs[] = {
	{ "myhostname", SETTING_STRING, OFF(myhostname), "",
	  "Host name used in the SMTP greeting, in HELO and in bounces; "
	  "empty means the system's fully qualified name",
	  0, 253, NULL, check_hostname },
	{ "myorigin", SETTING_STRING, OFF(myorigin), "",
	  "Domain that sendmail appends to addresses without one; empty "
	  "means the first line of /etc/mailname, else $myhostname",
	  0, 253, NULL, check_hostname_or_empty },
	{ "local_domains", SETTING_LIST, OFF(local_domains),
	  "localhost, $myhostname",
	  "Domains whose mail is delivered on this host",
	  0, 0, NULL, check_hostname },
	{ "spool_dir", SETTING_STRING, OFF(spool_dir), TERN_SPOOLDIR,
	  "Queue directory, owned by tern_queue_user",
	  1, 1024, NULL, check_abspath },
	{ "daemon_directory", SETTING_STRING, OFF(daemon_directory),
	  TERN_DAEMONDIR,
	  "Directory holding the programs that ternd starts",
	  1, 1024, NULL, check_abspath },
	{ "smtp_listen", SETTING_LIST, OFF(smtp_listen),
	  "127.0.0.1:25, [::1]:25",
	  "Addresses and ports where mail is accepted over SMTP",
	  0, 0, NULL, check_listen },
	{ "submission_listen", SETTING_LIST, OFF(submission_listen), "",
	  "Addresses and ports for message submission (port 587); "
	  "empty means none",
	  0, 0, NULL, check_listen },
	{ "submissions_listen", SETTING_LIST, OFF(submissions_listen), "",
	  "Addresses and ports for message submission over implicit TLS "
	  "(port 465); empty means none",
	  0, 0, NULL, check_listen },
	{ "mynetworks", SETTING_LIST, OFF(mynetworks),
	  "127.0.0.0/8, [::1]/128",
	  "Client networks allowed to relay mail to any destination",
	  0, 0, NULL, check_network },
	{ "relay_domains", SETTING_LIST, OFF(relay_domains), "",
	  "Other domains whose mail is accepted from any client and "
	  "relayed onward",
	  0, 0, NULL, check_hostname },
	{ "mailbox_base", SETTING_STRING, OFF(mailbox_base), "",
	  "Directory holding one Maildir per user; empty means ~user/Maildir",
	  0, 1024, NULL, check_abspath_or_empty },
	{ "mailbox_format", SETTING_ENUM, OFF(mailbox_format), "maildir",
	  "Mailbox of a passwd user: maildir (~user/Maildir) or mbox "
	  "(mail_spool_directory/user)",
	  0, 0, mailbox_format_words, NULL },
	{ "mail_spool_directory", SETTING_STRING, OFF(mail_spool_directory),
	  "/var/mail",
	  "Directory of the mbox files of passwd users (mailbox_format = "
	  "mbox)",
	  1, 1024, NULL, check_abspath },
	{ "recipient_delimiter", SETTING_STRING, OFF(recipient_delimiter),
	  "",
	  "Separator of a local part's extension (user+tag delivers to "
	  "user); empty means none",
	  0, 1, NULL, check_delimiter },
	{ "default_privs", SETTING_STRING, OFF(default_privs), "nobody",
	  "User that runs the commands and writes the files of aliases "
	  "in root-owned alias files",
	  1, 64, NULL, check_username },
	{ "command_time_limit", SETTING_DURATION, OFF(command_time_limit),
	  "1000s",
	  "Deadline for a whole command delivery (an alias or .forward "
	  "\"|command\"); then its process group is killed",
	  1, DAY, NULL, NULL },
	{ "mailbox_transport", SETTING_STRING, OFF(mailbox_transport), "",
	  "Where local mailboxes are delivered: empty means by tern itself; "
	  "lmtp:unix:/path or lmtp:[host]:port hands the mail to an LMTP "
	  "server such as Dovecot's",
	  0, LMTP_TARGET_MAX, NULL, check_mailbox_transport },
	{ "message_size_limit", SETTING_SIZE, OFF(message_size_limit), "50m",
	  "Largest message accepted, in octets",
	  1024, LONG_MAX, NULL, NULL },
	{ "smtpd_recipient_limit", SETTING_INT, OFF(smtpd_recipient_limit),
	  "1000",
	  "Most recipients accepted for one message",
	  /* Bounded by what a message file's envelope can hold
	   * (ENVELOPE_MAX_LEN) with the longest addresses and ORCPTs. */
	  1, 4000, NULL, NULL },
	{ "smtpd_max_procs", SETTING_INT, OFF(smtpd_max_procs), "100",
	  "Most smtpd processes, and so most simultaneous SMTP sessions",
	  1, 10000, NULL, NULL },
	{ "smtpd_min_spare", SETTING_INT, OFF(smtpd_min_spare), "5",
	  "Idle smtpd processes kept ready for new connections",
	  0, 10000, NULL, NULL },
	{ "tern_user", SETTING_STRING, OFF(tern_user), "_tern",
	  "Unprivileged account for smtpd, lookupd and the smtp transport",
	  1, 32, NULL, check_username },
	{ "tern_queue_user", SETTING_STRING, OFF(tern_queue_user), "_ternq",
	  "Account that owns the spool and runs queued",
	  1, 32, NULL, check_username },
	{ "setgid_group", SETTING_STRING, OFF(setgid_group), "_terndrop",
	  "Group of the set-group-ID program tern-postdrop, the only one "
	  "that may write into the spool's maildrop directory",
	  1, 32, NULL, check_username },
	{ "tern_admin_group", SETTING_STRING, OFF(tern_admin_group), "ternadm",
	  "Group whose members may change the queue and control tern with "
	  "ternctl",
	  1, 32, NULL, check_username },
	{ "smtpd_bare_newline", SETTING_ENUM, OFF(smtpd_bare_newline),
	  "normalize",
	  "What to do with a bare LF in message data: normalize or reject",
	  0, 0, bare_newline_words, NULL },
	{ "alias_maps", SETTING_LIST, OFF(alias_maps), "/etc/aliases",
	  "Alias files for local recipients, compiled by newaliases",
	  0, 0, NULL, check_abspath },
	{ "virtual_alias_map", SETTING_STRING, OFF(virtual_alias_map), "",
	  "Map of address rewrites applied to every recipient before "
	  "delivery, compiled by ternmap; empty means none",
	  0, 1024, NULL, check_abspath_or_empty },
	{ "virtual_mailbox_domains", SETTING_LIST,
	  OFF(virtual_mailbox_domains), "",
	  "Domains whose users are the entries of virtual_mailbox_map, with "
	  "no system account",
	  0, 0, NULL, check_hostname },
	{ "virtual_mailbox_map", SETTING_STRING, OFF(virtual_mailbox_map), "",
	  "Map of each virtual user's Maildir, relative to "
	  "virtual_mailbox_base, compiled by ternmap",
	  0, 1024, NULL, check_abspath_or_empty },
	{ "virtual_mailbox_base", SETTING_STRING, OFF(virtual_mailbox_base),
	  "",
	  "Directory under which every virtual mailbox lies, writable by "
	  "virtual_uid",
	  0, 1024, NULL, check_abspath_or_empty },
	{ "virtual_uid", SETTING_INT, OFF(virtual_uid), "0",
	  "Numeric user ID that writes virtual mailboxes; required (and not "
	  "0) with virtual_mailbox_domains",
	  0, INT_MAX, NULL, NULL },
	{ "virtual_gid", SETTING_INT, OFF(virtual_gid), "0",
	  "Numeric group ID that writes virtual mailboxes; required (and not "
	  "0) with virtual_mailbox_domains",
	  0, INT_MAX, NULL, NULL },
	{ "smtpd_banner", SETTING_STRING, OFF(smtpd_banner),
	  "$myhostname ESMTP tern",
	  "Text after 220 in the SMTP greeting; it should begin with "
	  "$myhostname",
	  1, 500, NULL, NULL },
	{ "smtpd_timeout", SETTING_DURATION, OFF(smtpd_timeout), "300s",
	  "Deadline for each whole command line from a client, and for a "
	  "TLS handshake",
	  1, DAY, NULL, NULL },
	{ "smtpd_data_timeout", SETTING_DURATION, OFF(smtpd_data_timeout),
	  "10m",
	  "Deadline for the whole DATA phase, from 354 to the final dot",
	  1, DAY, NULL, NULL },
	{ "smtpd_hard_error_limit", SETTING_INT, OFF(smtpd_hard_error_limit),
	  "20",
	  "Errors in one session after which the client is disconnected",
	  1, 1000, NULL, NULL },
	/* Limits against abuse (smtpd/smtp_limits.c, master/master_clients.c) */
	{ "smtpd_soft_error_limit", SETTING_INT, OFF(smtpd_soft_error_limit),
	  "10",
	  "Errors in one session after which each reply is delayed by "
	  "smtpd_error_sleep_time",
	  1, 1000, NULL, NULL },
	{ "smtpd_error_sleep_time", SETTING_DURATION,
	  OFF(smtpd_error_sleep_time), "1s",
	  "Delay before each reply once a client has made "
	  "smtpd_soft_error_limit errors",
	  0, MINUTE, NULL, NULL },
	{ "smtpd_junk_command_limit", SETTING_INT,
	  OFF(smtpd_junk_command_limit), "100",
	  "NOOP, RSET, VRFY, EXPN and HELP commands allowed between two "
	  "delivered messages before the client is disconnected",
	  1, 100000, NULL, NULL },
	{ "smtpd_session_time_limit", SETTING_DURATION,
	  OFF(smtpd_session_time_limit), "30m",
	  "Longest time one SMTP session may last, whatever the client does",
	  1, DAY, NULL, NULL },
	{ "smtpd_peername_lookup", SETTING_BOOL, OFF(smtpd_peername_lookup),
	  "yes",
	  "Look up each client's name in DNS (PTR, confirmed by A/AAAA); "
	  "no means every client is unknown",
	  0, 0, NULL, NULL },
	{ "smtpd_client_lookup_timeout", SETTING_DURATION,
	  OFF(smtpd_client_lookup_timeout), "5s",
	  "Most time spent looking up a client's name before the greeting",
	  1, MINUTE, NULL, NULL },
	{ "smtpd_client_connection_limit", SETTING_INT,
	  OFF(smtpd_client_connection_limit), "50",
	  "Most simultaneous sessions from one client address; 0 means no "
	  "limit",
	  0, 100000, NULL, NULL },
	{ "smtpd_client_connection_rate_limit", SETTING_INT,
	  OFF(smtpd_client_connection_rate_limit), "0",
	  "Most connections from one client address per "
	  "smtpd_client_rate_time_unit; 0 means no limit",
	  0, 1000000, NULL, NULL },
	{ "smtpd_client_rate_time_unit", SETTING_DURATION,
	  OFF(smtpd_client_rate_time_unit), "60s",
	  "Time window for smtpd_client_connection_rate_limit",
	  1, HOUR, NULL, NULL },
	{ "smtpd_client_event_limit_exceptions", SETTING_LIST,
	  OFF(smtpd_client_event_limit_exceptions), "$mynetworks",
	  "Client networks exempt from the per-client connection limits; "
	  "$mynetworks stands for the mynetworks list",
	  0, 0, NULL, check_network_or_mynetworks },
	{ "smtpd_tls_cert_file", SETTING_STRING, OFF(smtpd_tls_cert_file), "",
	  "PEM file with the server certificate, then any intermediate "
	  "certificates; empty means no TLS",
	  0, 1024, NULL, check_abspath_or_empty },
	{ "smtpd_tls_key_file", SETTING_STRING, OFF(smtpd_tls_key_file), "",
	  "PEM file with the private key of smtpd_tls_cert_file; empty "
	  "means the certificate file holds it",
	  0, 1024, NULL, check_abspath_or_empty },
	{ "smtpd_tls_ciphers", SETTING_STRING, OFF(smtpd_tls_ciphers),
	  "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!MD5:!DSS",
	  "OpenSSL cipher list for TLS 1.2 (TLS 1.3 uses the OpenSSL "
	  "default suites)",
	  1, 1000, NULL, NULL },
	{ "smtpd_auth_passwd_map", SETTING_STRING, OFF(smtpd_auth_passwd_map),
	  "",
	  "Map of login:crypt-hash lines compiled by ternmap -p; empty "
	  "means no AUTH",
	  0, 1024, NULL, check_abspath_or_empty },
	{ "smtpd_auth_on_smtp", SETTING_BOOL, OFF(smtpd_auth_on_smtp), "no",
	  "Offer AUTH on the smtp_listen ports too, not only on submission",
	  0, 0, NULL, NULL },
	{ "smtpd_auth_over_plaintext", SETTING_BOOL,
	  OFF(smtpd_auth_over_plaintext), "no",
	  "Offer AUTH on connections without TLS",
	  0, 0, NULL, NULL },
	{ "smtpd_auth_failure_limit", SETTING_INT,
	  OFF(smtpd_auth_failure_limit), "5",
	  "Failed AUTH attempts of one client after which it gets 421",
	  1, 1000, NULL, NULL },
	{ "smtpd_auth_failure_window", SETTING_DURATION,
	  OFF(smtpd_auth_failure_window), "1h",
	  "How long a client's failed AUTH attempts count against it",
	  1, 7L * 86400, NULL, NULL },
	{ "smtpd_auth_failure_delay", SETTING_DURATION,
	  OFF(smtpd_auth_failure_delay), "1s",
	  "Pause before answering a failed AUTH; it doubles with each "
	  "further failure",
	  0, MINUTE, NULL, NULL },
	{ "smtpd_sender_login_map", SETTING_STRING,
	  OFF(smtpd_sender_login_map), "",
	  "Map from sender address to the logins that may use it, compiled "
	  "by ternmap",
	  0, 1024, NULL, check_abspath_or_empty },
	{ "minimal_backoff_time", SETTING_DURATION, OFF(minimal_backoff_time),
	  "300s",
	  "Delay before the first retry of a deferred delivery",
	  1, WEEK, NULL, NULL },
	{ "maximal_backoff_time", SETTING_DURATION, OFF(maximal_backoff_time),
	  "4000s",
	  "Longest delay between two delivery attempts",
	  1, WEEK, NULL, NULL },
	{ "maximal_queue_lifetime", SETTING_DURATION,
	  OFF(maximal_queue_lifetime), "5d",
	  "Time after which undeliverable mail is returned to the sender",
	  0, 100 * DAY, NULL, NULL },
	{ "bounce_queue_lifetime", SETTING_DURATION,
	  OFF(bounce_queue_lifetime), "1d",
	  "Time after which an undeliverable bounce is given up",
	  0, 100 * DAY, NULL, NULL },
	{ "delay_warning_time", SETTING_DURATION, OFF(delay_warning_time),
	  "4h",
	  "Delay after which the sender is told mail is not yet delivered; "
	  "0 disables",
	  0, 100 * DAY, NULL, NULL },
	{ "queue_minfree", SETTING_SIZE, OFF(queue_minfree), "100m",
	  "Free space the spool's file system must keep: with less, new "
	  "mail is refused with 452 4.3.1; 0 turns the check off",
	  0, LONG_MAX, NULL, NULL },
	{ "queue_active_limit", SETTING_INT, OFF(queue_active_limit), "20000",
	  "Most messages the queue manager holds in memory for delivery at "
	  "once; the others wait in the queue until some are done",
	  10, 1000000, NULL, NULL },
	{ "queue_file_pool_size", SETTING_INT, OFF(queue_file_pool_size),
	  "32",
	  "Empty queue files the queue manager keeps made ahead for new "
	  "mail; 0 makes each file when a message needs it",
	  0, 1024, NULL, NULL },
	{ "local_delivery_limit", SETTING_INT, OFF(local_delivery_limit), "10",
	  "Most local delivery processes at once; each writes the mail of "
	  "one mailbox owner",
	  1, 1000, NULL, NULL },
	{ "local_owner_concurrency_limit", SETTING_INT,
	  OFF(local_owner_concurrency_limit), "4",
	  "Most local delivery processes at once for one mailbox owner "
	  "(within local_delivery_limit)",
	  1, 1000, NULL, NULL },
	{ "smtp_destination_concurrency_limit", SETTING_INT,
	  OFF(smtp_destination_concurrency_limit), "20",
	  "Most deliveries to one remote destination at once; the number "
	  "starts low and grows while deliveries succeed",
	  1, 1000, NULL, NULL },
	{ "notify_classes", SETTING_LIST, OFF(notify_classes),
	  "resource, software",
	  "Problems reported to the postmaster: bounce (a copy of every "
	  "bounce), 2bounce (undeliverable bounces), delay, resource, "
	  "software",
	  0, 0, NULL, check_notify_class },
	{ "shutdown_timeout", SETTING_DURATION, OFF(shutdown_timeout), "30s",
	  "Time ternd waits for its children to exit before killing them",
	  1, HOUR, NULL, NULL },
	{ "daemon_restart_backoff_max", SETTING_DURATION,
	  OFF(daemon_restart_backoff_max), "60s",
	  "Longest wait before ternd restarts a child that keeps dying",
	  1, HOUR, NULL, NULL },
	{ "smtp_destination_recipient_limit", SETTING_INT,
	  OFF(smtp_destination_recipient_limit), "50",
	  "Most recipients sent to a remote destination in one transaction",
	  /* A job is one IPC frame (msg_codec.h). */
	  1, MSG_SMTP_RCPTS_MAX, NULL, NULL },
	{ "smtp_mx_address_limit", SETTING_INT, OFF(smtp_mx_address_limit),
	  "5",
	  "Most server addresses tried for one delivery to a remote domain",
	  1, 100, NULL, NULL },
	{ "dns_servers", SETTING_LIST, OFF(dns_servers), "",
	  "Name servers (ip or ip:port) used instead of /etc/resolv.conf",
	  0, 0, NULL, check_dns_server },
	{ "dns_query_local_zones", SETTING_BOOL, OFF(dns_query_local_zones),
	  "no",
	  "Send reverse lookups of private, loopback and link-local "
	  "addresses (the locally served zones of RFC 6303) to the name "
	  "servers; no means they have no name, without a query",
	  0, 0, NULL, NULL },
	{ "dns_dnssec", SETTING_BOOL, OFF(dns_dnssec), "no",
	  "Ask the name servers for DNSSEC validation (the DO bit) and "
	  "trust their AD bit, as the dane level needs; only for a "
	  "validating resolver on a loopback address",
	  0, 0, NULL, NULL },
	{ "smtp_port", SETTING_INT, OFF(smtp_port), "25",
	  "TCP port of the mail servers that remote mail is delivered to",
	  1, 65535, NULL, NULL },
	{ "relayhost", SETTING_STRING, OFF(relayhost), "",
	  "Smarthost for all non-local mail ([host]:port or a domain); "
	  "empty means deliver directly",
	  0, 300, NULL, check_relayhost },
	{ "smtp_tls_security_level", SETTING_ENUM,
	  OFF(smtp_tls_security_level), "may",
	  "TLS for remote delivery: none, may (opportunistic), encrypt, "
	  "verify (trusted certificate for the MX host name), secure "
	  "(for the next-hop domain) or dane (TLSA records where DNSSEC "
	  "signs them, else may)",
	  0, 0, tls_level_words, NULL },
	{ "smtp_tls_CAfile", SETTING_STRING, OFF(smtp_tls_CAfile), "",
	  "PEM file of the CA certificates that the verify and secure "
	  "levels trust; empty means the system's bundle",
	  0, 1024, NULL, check_abspath_or_empty },
	{ "smtp_tls_CApath", SETTING_STRING, OFF(smtp_tls_CApath), "",
	  "Directory of PEM CA certificates also trusted by the verify and "
	  "secure levels, read at start",
	  0, 1024, NULL, check_abspath_or_empty },
	{ "smtp_tls_policy_map", SETTING_STRING, OFF(smtp_tls_policy_map), "",
	  "Map of destination to TLS level and match= names, compiled by "
	  "ternmap; overrides smtp_tls_security_level",
	  0, 1024, NULL, check_abspath_or_empty },
	{ "smtp_tls_verify_cert_match", SETTING_LIST,
	  OFF(smtp_tls_verify_cert_match), "hostname",
	  "Names a certificate must carry at the verify level: hostname, "
	  "nexthop, dot-nexthop or a name (.name for its subdomains)",
	  0, 0, NULL, check_tls_match },
	{ "smtp_tls_secure_cert_match", SETTING_LIST,
	  OFF(smtp_tls_secure_cert_match), "nexthop, dot-nexthop",
	  "Names a certificate must carry at the secure level: nexthop, "
	  "dot-nexthop, hostname or a name (.name for its subdomains)",
	  0, 0, NULL, check_tls_match },
	{ "smtp_mta_sts", SETTING_BOOL, OFF(smtp_mta_sts), "yes",
	  "Apply the MTA-STS policies (RFC 8461) that destination domains "
	  "publish, unless a policy-map entry or relayhost applies",
	  0, 0, NULL, NULL },
	{ "smtp_mta_sts_timeout", SETTING_DURATION, OFF(smtp_mta_sts_timeout),
	  "30s",
	  "Time limit for finding and fetching one MTA-STS policy (the TXT "
	  "lookup and the whole HTTPS exchange)",
	  1, 300, NULL, NULL },
	{ "smtp_connection_reuse_time", SETTING_DURATION,
	  OFF(smtp_connection_reuse_time), "300s",
	  "How long an idle connection to a remote server is kept for reuse",
	  0, HOUR, NULL, NULL },
	{ "smtp_connection_limit", SETTING_INT, OFF(smtp_connection_limit),
	  "100",
	  "Most connections to remote servers open at once, over all "
	  "destinations",
	  1, 10000, NULL, NULL },
	{ "smtp_connect_timeout", SETTING_DURATION, OFF(smtp_connect_timeout),
	  "30s",
	  "Deadline for connecting to a remote server",
	  1, HOUR, NULL, NULL },
	{ "smtp_helo_timeout", SETTING_DURATION, OFF(smtp_helo_timeout),
	  "300s",
	  "Deadline for the whole greeting, each whole EHLO or HELO reply, "
	  "and the TLS handshake",
	  1, HOUR, NULL, NULL },
	{ "smtp_mail_timeout", SETTING_DURATION, OFF(smtp_mail_timeout),
	  "300s",
	  "Deadline for the whole reply to MAIL FROM",
	  1, HOUR, NULL, NULL },
	{ "smtp_rcpt_timeout", SETTING_DURATION, OFF(smtp_rcpt_timeout),
	  "300s",
	  "Deadline for the whole reply to each RCPT TO",
	  1, HOUR, NULL, NULL },
	{ "smtp_data_init_timeout", SETTING_DURATION,
	  OFF(smtp_data_init_timeout), "120s",
	  "Deadline for the whole reply to DATA",
	  1, HOUR, NULL, NULL },
	{ "smtp_data_xfer_timeout", SETTING_DURATION,
	  OFF(smtp_data_xfer_timeout), "180s",
	  "Longest stall while sending message data, which must also "
	  "average 500 octets a second",
	  1, HOUR, NULL, NULL },
	{ "smtp_data_done_timeout", SETTING_DURATION,
	  OFF(smtp_data_done_timeout), "600s",
	  "Deadline for the whole reply to the final dot",
	  1, HOUR, NULL, NULL },
	{ "smtp_quit_timeout", SETTING_DURATION, OFF(smtp_quit_timeout),
	  "300s",
	  "Deadline for the whole reply to QUIT and RSET",
	  1, HOUR, NULL, NULL },
	{ "smtp_sasl_password_maps", SETTING_LIST,
	  OFF(smtp_sasl_password_maps), "",
	  "Maps of relay host to user:password for client AUTH, "
	  "compiled by ternmap",
	  0, 0, NULL, check_abspath },
	{ "smtp_helo_name", SETTING_STRING, OFF(smtp_helo_name),
	  "$myhostname",
	  "Host name sent in EHLO and HELO to remote servers",
	  1, 253, NULL, check_hostname },
};

#define NSETTINGS	(sizeof(settings_defs) / sizeof(settings_defs[0]))
#define IDX_MYHOSTNAME	0

/* One parse: what the text set, where, and how many problems so far. */
struct parse {
	const char		*name;
	settings_report_fn	 report;
	void			*arg;
	int			 problems;
	int			 line[NSETTINGS];	/* where set; 0 = not */
	char			*text[NSETTINGS];	/* STRING/LIST raw text */
};

/* settings_table - the one table; *n gets its length */
const struct setting_def *
settings_table(size_t *n)
{
	*n = NSETTINGS;
	return settings_defs;
}

/* settings_find - the table entry called name, or NULL */
const struct setting_def *
settings_find(const char *name)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings_defs[i].name, name) == 0)
			return &settings_defs[i];
	return NULL;
}

static void
problem(struct parse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* problem - count one problem and hand it to the caller's reporter */
static void
problem(struct parse *p, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->problems++;
	if (p->report != NULL)
		p->report(p->name, line, msg, p->arg);
}

/* Field access through the table's offsets. */
#define FIELD(s, d, type)	((type *)(void *)((char *)(s) + (d)->offset))
#define CFIELD(s, d, type) \
	((const type *)(const void *)((const char *)(s) + (d)->offset))

/* strlist_free - release the items and the vector */
static void
strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* is_sep - a list item separator */
static int
is_sep(int c)
{
	return c == ',' || c == ' ' || c == '\t';
}

/* strlist_split - items of text separated by commas and blanks */
static void
strlist_split(struct strlist *l, const char *text)
{
	const char *p = text;

	l->v = NULL;
	l->n = 0;
	for (;;) {
		while (*p != '\0' && is_sep((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		const char *start = p;
		while (*p != '\0' && !is_sep((unsigned char)*p))
			p++;
		l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
		l->v[l->n++] = xstrndup(start, (size_t)(p - start));
	}
}

/* settings_parse_duration - digits and an optional s, m, h, d, w */
int
settings_parse_duration(const char *text, long *out)
{
	unsigned long long v = 0;
	long mult = 1;
	const char *p = text;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long long)(*p - '0');
		if (v > LONG_MAX)
			return -1;
	}
	switch (*p) {
	case '\0':
		break;
	case 's':
		break;
	case 'm':
		mult = MINUTE;
		break;
	case 'h':
		mult = HOUR;
		break;
	case 'd':
		mult = DAY;
		break;
	case 'w':
		mult = WEEK;
		break;
	default:
		return -1;
	}
	if (*p != '\0' && p[1] != '\0')
		return -1;
	if (v > (unsigned long long)(LONG_MAX / mult))
		return -1;
	*out = (long)v * mult;
	return 0;
}

/* settings_parse_size - digits and an optional k, m, g (powers of 1024) */
int
settings_parse_size(const char *text, uint64_t *out)
{
	uint64_t v = 0, mult = 1;
	const char *p = text;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned digit = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - digit) / 10)
			return -1;
		v = v * 10 + digit;
	}
	switch (*p) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = 1024;
		break;
	case 'm':
	case 'M':
		mult = 1024 * 1024;
		break;
	case 'g':
	case 'G':
		mult = 1024 * 1024 * 1024;
		break;
	default:
		return -1;
	}
	if (*p != '\0' && p[1] != '\0')
		return -1;
	if (v > UINT64_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

/* settings_parse_bool - yes/no, true/false, on/off, 1/0 */
int
settings_parse_bool(const char *text, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(text, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(text, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* parse_int - non-negative decimal without sign or suffix */
static int
parse_int(const char *text, long *out)
{
	long v = 0;

	if (*text == '\0')
		return -1;
	for (const char *p = text; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (v > (LONG_MAX - (*p - '0')) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	*out = v;
	return 0;
}

/* check_hostname - letters, digits, hyphens in dot-separated labels */
static int
check_hostname(const char *v, char *err, size_t errsize)
{
	size_t len = strlen(v), label = 0;
	int alldigits = 1;

	if (len == 0 || len > 253) {
		snprintf(err, errsize, "a host name has 1 to 253 characters");
		return -1;
	}
	for (const char *p = v; ; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63 || p[-1] == '-') {
				snprintf(err, errsize, "bad host name");
				return -1;
			}
			if (*p == '\0')
				break;
			label = 0;
			alldigits = 1;
			continue;
		}
		if (label == 0 && *p == '-') {
			snprintf(err, errsize, "bad host name");
			return -1;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-')) {
			snprintf(err, errsize, "bad character in host name");
			return -1;
		}
		if (*p < '0' || *p > '9')
			alldigits = 0;
		label++;
	}
	/* A numeric last label is a mistyped address, never a name. */
	if (alldigits) {
		snprintf(err, errsize, "bad host name or address");
		return -1;
	}
	return 0;
}

/* check_delimiter - empty, or one of the usual delimiter characters */
static int
check_delimiter(const char *v, char *err, size_t errsize)
{
	if (v[0] == '\0' || (v[1] == '\0' && strchr("+-=_", v[0]) != NULL))
		return 0;
	snprintf(err, errsize, "must be one of + - = _ (or empty)");
	return -1;
}

/* check_abspath - an absolute path */
static int
check_abspath(const char *v, char *err, size_t errsize)
{
	if (v[0] != '/') {
		snprintf(err, errsize, "an absolute path is needed");
		return -1;
	}
	return 0;
}

/* check_abspath_or_empty - empty, or an absolute path */
static int
check_abspath_or_empty(const char *v, char *err, size_t errsize)
{
	return v[0] == '\0' ? 0 : check_abspath(v, err, errsize);
}

/* check_tls_match - one smtp_tls_*_cert_match word (tls_policy.h) */
static int
check_tls_match(const char *v, char *err, size_t errsize)
{
	if (!tls_match_valid(v)) {
		snprintf(err, errsize, "not hostname, nexthop, dot-nexthop or "
		    "a domain name");
		return -1;
	}
	return 0;
}

/* check_hostname_or_empty - "" (meaning a computed default) or a host name */
static int
check_hostname_or_empty(const char *v, char *err, size_t errsize)
{
	return v[0] == '\0' ? 0 : check_hostname(v, err, errsize);
}

/* check_username - a portable account name (also used for groups) */
static int
check_username(const char *v, char *err, size_t errsize)
{
	if (v[0] == '-' || v[0] == '\0')
		goto bad;
	for (const char *p = v; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '.'))
			goto bad;
	return 0;
bad:
	snprintf(err, errsize, "bad account name");
	return -1;
}

/* check_notify_class - one of the notify_classes words */
static int
check_notify_class(const char *v, char *err, size_t errsize)
{
	static const char *const words[] = { "bounce", "2bounce", "delay",
	    "resource", "software", "policy", "protocol", NULL };

	for (size_t i = 0; words[i] != NULL; i++)
		if (strcmp(v, words[i]) == 0)
			return 0;
	snprintf(err, errsize, "expected bounce, 2bounce, delay, resource, "
	    "software, policy or protocol");
	return -1;
}

/* check_listen - an entry settings_listen_parse() accepts */
static int
check_listen(const char *v, char *err, size_t errsize)
{
	char host[256], port[8];

	if (settings_listen_parse(v, host, sizeof(host), port,
	    sizeof(port)) < 0) {
		snprintf(err, errsize, "expected host:port, [ipv6]:port or "
		    "port, with port 1-65535");
		return -1;
	}
	return 0;
}

/* check_dns_server - an entry dns_server_parse() accepts */
static int
check_dns_server(const char *v, char *err, size_t errsize)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (dns_server_parse(v, &ss, &len) < 0) {
		snprintf(err, errsize, "expected an IP address, ip:port or "
		    "[ipv6]:port");
		return -1;
	}
	return 0;
}

/* check_mailbox_transport - "" or an LMTP target (lmtp_target.h) */
static int
check_mailbox_transport(const char *v, char *err, size_t errsize)
{
	struct lmtp_target t;

	return lmtp_target_parse(v, &t, err, errsize);
}

/* check_relayhost - "", "[host]", "[host]:port", "domain", "domain:port" */
static int
check_relayhost(const char *v, char *err, size_t errsize)
{
	char host[300], port[8], *colon;
	struct in6_addr a6;
	size_t len = strlen(v);

	if (len == 0)
		return 0;
	if (len >= sizeof(host))
		goto bad;
	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (close == NULL || close == v + 1)
			goto bad;
		memcpy(host, v + 1, (size_t)(close - v - 1));
		host[close - v - 1] = '\0';
		if (close[1] != '\0' && (close[1] != ':' ||
		    parse_port(close + 2, port, sizeof(port)) < 0))
			goto bad;
		if (inet_pton(AF_INET6, host, &a6) == 1 ||
		    inet_pton(AF_INET, host, &a6) == 1)
			return 0;
		return check_hostname(host, err, errsize);
	}
	strlcpy(host, v, sizeof(host));
	if ((colon = strchr(host, ':')) != NULL) {
		*colon = '\0';
		if (parse_port(colon + 1, port, sizeof(port)) < 0)
			goto bad;
	}
	return check_hostname(host, err, errsize);
bad:
	snprintf(err, errsize, "expected [host]:port, [host], domain or "
	    "domain:port");
	return -1;
}

/* parse_port - 1-65535 in decimal; canonical text into port */
static int
parse_port(const char *text, char *port, size_t portsize)
{
	long v;

	if (strlen(text) > 5 || parse_int(text, &v) < 0 || v < 1 ||
	    v > 65535)
		return -1;
	if ((size_t)snprintf(port, portsize, "%ld", v) >= portsize)
		return -1;
	return 0;
}

/* settings_listen_parse - split a listen entry into host and port */
int
settings_listen_parse(const char *entry, char *host, size_t hostsize,
    char *port, size_t portsize)
{
	char buf[256], err[64];
	const char *colon, *portp;
	size_t hlen;

	if (hostsize == 0 || portsize == 0)
		return -1;
	host[0] = port[0] = '\0';
	if (strchr(entry, ':') == NULL)
		return parse_port(entry, port, portsize);
	if (entry[0] == '[') {
		const char *close = strchr(entry, ']');
		struct in6_addr a6;

		if (close == NULL || close[1] != ':')
			return -1;
		hlen = (size_t)(close - entry - 1);
		if (hlen >= sizeof(buf))
			return -1;
		memcpy(buf, entry + 1, hlen);
		buf[hlen] = '\0';
		if (inet_pton(AF_INET6, buf, &a6) != 1)
			return -1;
		portp = close + 2;
	} else {
		struct in_addr a4;

		colon = strchr(entry, ':');
		/* A second colon means an IPv6 address without brackets. */
		if (strchr(colon + 1, ':') != NULL)
			return -1;
		hlen = (size_t)(colon - entry);
		if (hlen >= sizeof(buf))
			return -1;
		memcpy(buf, entry, hlen);
		buf[hlen] = '\0';
		if (strcmp(buf, "*") == 0)
			buf[0] = '\0';
		else if (inet_pton(AF_INET, buf, &a4) != 1 &&
		    check_hostname(buf, err, sizeof(err)) < 0)
			return -1;
		portp = colon + 1;
	}
	if (parse_port(portp, port, portsize) < 0)
		return -1;
	if (strlcpy(host, buf, hostsize) >= hostsize)
		return -1;
	return 0;
}

/*
 * net_parse - a mynetworks entry as family, network bytes and prefix
 * length.  Host bits must be zero: "10.1.2.3/8" is almost certainly a
 * typo, and quietly widening or narrowing it would change who may relay.
 */
static int
net_parse(const char *entry, int *family, unsigned char addr[16],
    int *prefix, char *err, size_t errsize)
{
	char buf[INET6_ADDRSTRLEN + 2];
	const char *slash = strchr(entry, '/');
	size_t alen = slash ? (size_t)(slash - entry) : strlen(entry);
	int bracketed = 0, bits;
	long v;

	if (alen >= sizeof(buf))
		goto bad;
	memcpy(buf, entry, alen);
	buf[alen] = '\0';
	if (buf[0] == '[') {
		if (alen < 2 || buf[alen - 1] != ']')
			goto bad;
		buf[alen - 1] = '\0';
		memmove(buf, buf + 1, alen - 1);
		bracketed = 1;
	}
	memset(addr, 0, 16);
	if (!bracketed && inet_pton(AF_INET, buf, addr) == 1) {
		*family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		*family = AF_INET6;
		bits = 128;
	} else
		goto bad;
	*prefix = bits;
	if (slash != NULL) {
		if (strlen(slash + 1) > 3 || parse_int(slash + 1, &v) < 0 ||
		    v > bits)
			goto bad;
		*prefix = (int)v;
	}
	for (int i = *prefix; i < bits; i++) {
		if (addr[i / 8] & (0x80 >> (i % 8))) {
			snprintf(err, errsize, "address has bits set beyond "
			    "the /%d prefix", *prefix);
			return -1;
		}
	}
	return 0;
bad:
	snprintf(err, errsize, "expected a.b.c.d/n or [ipv6]/n");
	return -1;
}

/* check_network - an entry net_parse() accepts */
static int
check_network(const char *v, char *err, size_t errsize)
{
	unsigned char addr[16];
	int family, prefix;

	return net_parse(v, &family, addr, &prefix, err, errsize);
}

/* check_network_or_mynetworks - a network, or the word "$mynetworks" */
static int
check_network_or_mynetworks(const char *v, char *err, size_t errsize)
{
	if (strcmp(v, "$mynetworks") == 0)
		return 0;
	return check_network(v, err, errsize);
}

/* prefix_match - the first bits of a and b agree */
static int
prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)bytes) != 0)
		return 0;
	if (rest == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

/* settings_domain_in - domain is one of list's, as settings.h says */
int
settings_domain_in(const struct strlist *list, const char *domain)
{
	size_t ld = strlen(domain), la;

	if (ld > 0 && domain[ld - 1] == '.')
		ld--;
	for (size_t i = 0; i < list->n; i++) {
		la = strlen(list->v[i]);
		if (la > 0 && list->v[i][la - 1] == '.')
			la--;
		if (la == ld && strncasecmp(list->v[i], domain, ld) == 0)
			return 1;
	}
	return 0;
}

/* settings_network_match - 1 when sa lies in one of the networks */
int
settings_network_match(const struct strlist *nets, const struct sockaddr *sa)
{
	unsigned char a4[4], a6[16];
	int have4 = 0, have6 = 0;

	if (sa == NULL || nets == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		memcpy(a4, &sin->sin_addr, 4);
		have4 = 1;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		memcpy(a6, &sin6->sin6_addr, 16);
		have6 = 1;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(a4, a6 + 12, 4);
			have4 = 1;
		}
	} else
		return 0;
	for (size_t i = 0; i < nets->n; i++) {
		unsigned char net[16];
		int family, prefix;
		char err[64];

		if (net_parse(nets->v[i], &family, net, &prefix, err,
		    sizeof(err)) < 0)
			continue;
		if (family == AF_INET && have4 && prefix_match(a4, net, prefix))
			return 1;
		if (family == AF_INET6 && have6 &&
		    prefix_match(a6, net, prefix))
			return 1;
	}
	return 0;
}

/*
 * system_hostname - this host's canonical name, else gethostname(), else
 * "localhost".  Looked up once per process: a daemon rereads its settings
 * after chroot, where the resolver may no longer work, and must not then
 * quietly change its name.
 */
static const char *
system_hostname(void)
{
	static char name[256];
	char host[256], err[64];
	struct addrinfo hints, *res;

	if (name[0] != '\0')
		return name;
	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_CANONNAME;
	if (host[0] != '\0' && getaddrinfo(host, NULL, &hints, &res) == 0) {
		if (res->ai_canonname != NULL &&
		    check_hostname(res->ai_canonname, err, sizeof(err)) == 0)
			strlcpy(name, res->ai_canonname, sizeof(name));
		freeaddrinfo(res);
	}
	if (name[0] == '\0' && check_hostname(host, err, sizeof(err)) == 0)
		strlcpy(name, host, sizeof(name));
	if (name[0] == '\0')
		strlcpy(name, "localhost", sizeof(name));
	return name;
}

/* expand - text with each "$myhostname" replaced by host (caller frees) */
static char *
expand(const char *text, const char *host)
{
	static const char var[] = "$myhostname";
	size_t vlen = sizeof(var) - 1, hlen = strlen(host), n = 0;
	const char *p;
	char *out, *o;

	/* Two passes: count, then copy; no guessing at buffer sizes. */
	for (int pass = 0; pass < 2; pass++) {
		o = out = pass ? xmalloc(n + 1) : NULL;
		n = 0;
		for (p = text; *p != '\0'; ) {
			if (strncmp(p, var, vlen) == 0 && !((p[vlen] >= 'a' &&
			    p[vlen] <= 'z') || (p[vlen] >= '0' &&
			    p[vlen] <= '9') || p[vlen] == '_')) {
				if (pass)
					memcpy(o + n, host, hlen);
				n += hlen;
				p += vlen;
			} else {
				if (pass)
					o[n] = *p;
				n++;
				p++;
			}
		}
	}
	out[n] = '\0';
	return out;
}

/* vis_quote - printable form of untrusted text for a report */
static const char *
vis_quote(char *buf, size_t bufsize, const char *s)
{
	return log_vis(buf, bufsize, s, strlen(s));
}

/* apply_scalar - parse text into a non-string setting; -1 reported */
static int
apply_scalar(struct parse *p, struct settings *s, size_t i, const char *text,
    int line)
{
	const struct setting_def *d = &settings_defs[i];
	char vbuf[128];
	uint64_t size;
	long v;
	int b;

	switch (d->type) {
	case SETTING_BOOL:
		if (settings_parse_bool(text, &b) < 0)
			goto bad;
		*FIELD(s, d, int) = b;
		return 0;
	case SETTING_ENUM:
		for (int w = 0; d->words[w] != NULL; w++) {
			if (strcmp(text, d->words[w]) == 0) {
				*FIELD(s, d, int) = w;
				return 0;
			}
		}
		goto bad;
	case SETTING_INT:
		if (parse_int(text, &v) < 0)
			goto bad;
		break;
	case SETTING_DURATION:
		if (settings_parse_duration(text, &v) < 0)
			goto bad;
		break;
	case SETTING_SIZE:
		if (settings_parse_size(text, &size) < 0)
			goto bad;
		if (size < (uint64_t)d->min || size > (uint64_t)d->max)
			goto range;
		*FIELD(s, d, uint64_t) = size;
		return 0;
	default:
		fatalx("settings: %s is not a scalar", d->name);
	}
	if (v < d->min || v > d->max)
		goto range;
	*FIELD(s, d, long) = v;
	return 0;
bad:
	switch (d->type) {
	case SETTING_BOOL:
		problem(p, line, "%s: bad value \"%s\" (expected yes or no)",
		    d->name, vis_quote(vbuf, sizeof(vbuf), text));
		break;
	case SETTING_ENUM:
		problem(p, line, "%s: bad value \"%s\" (expected %s%s%s)",
		    d->name, vis_quote(vbuf, sizeof(vbuf), text), d->words[0],
		    d->words[1] ? " or " : "", d->words[1] ? d->words[1] : "");
		break;
	case SETTING_SIZE:
		problem(p, line, "%s: bad size \"%s\" (expected a number with "
		    "an optional k, m or g)", d->name,
		    vis_quote(vbuf, sizeof(vbuf), text));
		break;
	case SETTING_DURATION:
		problem(p, line, "%s: bad duration \"%s\" (expected a number "
		    "with an optional s, m, h, d or w)", d->name,
		    vis_quote(vbuf, sizeof(vbuf), text));
		break;
	default:
		problem(p, line, "%s: bad number \"%s\"", d->name,
		    vis_quote(vbuf, sizeof(vbuf), text));
		break;
	}
	return -1;
range:
	problem(p, line, "%s: %s is out of range (%ld%s to %ld%s)", d->name,
	    vis_quote(vbuf, sizeof(vbuf), text), d->min,
	    d->type == SETTING_DURATION ? "s" : "", d->max,
	    d->type == SETTING_DURATION ? "s" : "");
	return -1;
}

/* apply_text - expand a STRING or LIST setting's text, check, store */
static int
apply_text(struct parse *p, struct settings *s, size_t i, const char *text,
    int line)
{
	const struct setting_def *d = &settings_defs[i];
	char *value = expand(text, s->myhostname ? s->myhostname : "");
	char vbuf[256], err[128];
	size_t len = strlen(value);
	struct strlist list;
	int bad = 0;

	if (d->type == SETTING_STRING) {
		if (len < (size_t)d->min || (d->max > 0 &&
		    len > (size_t)d->max)) {
			if (d->max > 0)
				problem(p, line, "%s: value must have %ld to "
				    "%ld characters", d->name, d->min, d->max);
			else
				problem(p, line, "%s: value must have at least "
				    "%ld characters", d->name, d->min);
			free(value);
			return -1;
		}
		if (d->check != NULL && d->check(value, err, sizeof(err)) < 0) {
			problem(p, line, "%s: \"%s\": %s", d->name,
			    vis_quote(vbuf, sizeof(vbuf), value), err);
			free(value);
			return -1;
		}
		free(*FIELD(s, d, char *));
		*FIELD(s, d, char *) = value;
		return 0;
	}
	strlist_split(&list, value);
	free(value);
	for (size_t k = 0; k < list.n; k++) {
		if (d->check != NULL &&
		    d->check(list.v[k], err, sizeof(err)) < 0) {
			problem(p, line, "%s: bad entry \"%s\": %s", d->name,
			    vis_quote(vbuf, sizeof(vbuf), list.v[k]), err);
			bad = 1;
		}
	}
	if (bad) {
		strlist_free(&list);
		return -1;
	}
	strlist_free(FIELD(s, d, struct strlist));
	*FIELD(s, d, struct strlist) = list;
	return 0;
}

/*
 * finish - apply the STRING and LIST texts once the whole file is read,
 * so "$myhostname" means the final myhostname wherever it was set.  A
 * setting the file left alone whose default names $myhostname follows a
 * new myhostname.
 */
static void
finish(struct parse *p, struct settings *s)
{
	int renamed = 0;

	if (p->text[IDX_MYHOSTNAME] != NULL) {
		const char *t = p->text[IDX_MYHOSTNAME];
		char *old = s->myhostname ? xstrdup(s->myhostname) : NULL;

		if (strchr(t, '$') != NULL)
			problem(p, p->line[IDX_MYHOSTNAME],
			    "myhostname: cannot refer to a variable");
		else
			apply_text(p, s, IDX_MYHOSTNAME,
			    t[0] == '\0' ? system_hostname() : t,
			    p->line[IDX_MYHOSTNAME]);
		renamed = old == NULL || strcmp(old, s->myhostname) != 0;
		free(old);
	}
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting_def *d = &settings_defs[i];

		if (i == IDX_MYHOSTNAME || (d->type != SETTING_STRING &&
		    d->type != SETTING_LIST))
			continue;
		if (p->text[i] != NULL)
			apply_text(p, s, i, p->text[i], p->line[i]);
		else if (renamed && strstr(d->defval, "$myhostname") != NULL)
			apply_text(p, s, i, d->defval, 0);
	}
}

/*
 * cross_check_virtual - virtual mailboxes need their map, their base and
 * an owner that is not root: deliverd writes them as virtual_uid and
 * virtual_gid, and root must never write where a map entry points.
 */
static void
cross_check_virtual(struct parse *p, const struct settings *s)
{
	if (s->virtual_mailbox_domains.n == 0)
		return;
	if (s->virtual_uid == 0 || s->virtual_gid == 0)
		problem(p, 0, "virtual_mailbox_domains needs virtual_uid and "
		    "virtual_gid (numeric, not 0)");
	if (s->virtual_mailbox_base[0] == '\0')
		problem(p, 0, "virtual_mailbox_domains needs "
		    "virtual_mailbox_base");
	if (s->virtual_mailbox_map[0] == '\0')
		problem(p, 0, "virtual_mailbox_domains needs "
		    "virtual_mailbox_map");
	for (size_t i = 0; i < s->virtual_mailbox_domains.n; i++)
		for (size_t k = 0; k < s->local_domains.n; k++)
			if (strcasecmp(s->virtual_mailbox_domains.v[i],
			    s->local_domains.v[k]) == 0)
				problem(p, 0, "%s is in both local_domains "
				    "and virtual_mailbox_domains",
				    s->local_domains.v[k]);
}

/* cross_check - relations between settings that no single bound covers */
static void
cross_check(struct parse *p, const struct settings *s)
{
	if (s->smtpd_min_spare > s->smtpd_max_procs)
		problem(p, 0, "smtpd_min_spare (%ld) exceeds smtpd_max_procs "
		    "(%ld)", s->smtpd_min_spare, s->smtpd_max_procs);
	if (s->minimal_backoff_time > s->maximal_backoff_time)
		problem(p, 0, "minimal_backoff_time (%lds) exceeds "
		    "maximal_backoff_time (%lds)", s->minimal_backoff_time,
		    s->maximal_backoff_time);
	cross_check_virtual(p, s);
}

/* parse_release - free the texts one parse collected */
static void
parse_release(struct parse *p)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		free(p->text[i]);
}

/* settings_defaults - fill s with every default (owned allocations) */
void
settings_defaults(struct settings *s)
{
	struct parse p;

	memset(s, 0, sizeof(*s));
	memset(&p, 0, sizeof(p));
	p.name = "defaults";
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting_def *d = &settings_defs[i];

		if (d->type == SETTING_STRING || d->type == SETTING_LIST)
			p.text[i] = xstrdup(d->defval);
		else
			apply_scalar(&p, s, i, d->defval, 0);
	}
	finish(&p, s);
	parse_release(&p);
	if (p.problems != 0)
		fatalx("settings: the built-in defaults do not parse");
}

/* settings_free - release everything s owns */
void
settings_free(struct settings *s)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting_def *d = &settings_defs[i];

		if (d->type == SETTING_STRING) {
			free(*FIELD(s, d, char *));
			*FIELD(s, d, char *) = NULL;
		} else if (d->type == SETTING_LIST)
			strlist_free(FIELD(s, d, struct strlist));
	}
}

/* is_blank - white space within a line */
static int
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* logical_line - one "key = value" line with its continuations joined */
static void
logical_line(struct parse *p, struct settings *s, char *line, int lineno)
{
	char kbuf[128], vbuf[128];
	char *eq = strchr(line, '='), *key, *val, *end;
	const struct setting_def *d;
	size_t i;

	if (eq == NULL) {
		problem(p, lineno, "missing '=' in \"%s\"",
		    vis_quote(kbuf, sizeof(kbuf), line));
		return;
	}
	*eq = '\0';
	key = line;
	for (end = eq; end > key && is_blank((unsigned char)end[-1]); end--)
		;
	*end = '\0';
	for (val = eq + 1; is_blank((unsigned char)*val); val++)
		;
	for (end = val + strlen(val); end > val &&
	    is_blank((unsigned char)end[-1]); end--)
		;
	*end = '\0';
	if (key[0] == '\0') {
		problem(p, lineno, "missing setting name before '='");
		return;
	}
	if ((d = settings_find(key)) == NULL) {
		problem(p, lineno, "unknown setting \"%s\"",
		    vis_quote(kbuf, sizeof(kbuf), key));
		return;
	}
	i = (size_t)(d - settings_defs);
	if (p->line[i] != 0) {
		problem(p, lineno, "duplicate setting %s (first set at line "
		    "%d)", d->name, p->line[i]);
		return;
	}
	p->line[i] = lineno;
	for (const char *c = val; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 && *c != '\t') {
			problem(p, lineno, "%s: control character in \"%s\"",
			    d->name, vis_quote(vbuf, sizeof(vbuf), val));
			return;
		}
	}
	if (d->type == SETTING_STRING || d->type == SETTING_LIST)
		p->text[i] = xstrdup(val);
	else
		apply_scalar(p, s, i, val, lineno);
}

/* Accumulates physical lines into one logical line. */
struct linebuf {
	char	 buf[SETTINGS_LINE_MAX + 1];
	size_t	 len;
	int	 lineno;	/* first physical line; 0 = none open */
	int	 toolong;
	int	 nul;
};

/* linebuf_add - append to the logical line, noting overflow and NULs */
static void
linebuf_add(struct linebuf *lb, const char *text, size_t len)
{
	if (memchr(text, '\0', len) != NULL)
		lb->nul = 1;
	if (lb->toolong || len > SETTINGS_LINE_MAX - lb->len) {
		lb->toolong = 1;
		return;
	}
	memcpy(lb->buf + lb->len, text, len);
	lb->len += len;
	lb->buf[lb->len] = '\0';
}

/* linebuf_flush - hand the finished logical line to logical_line() */
static void
linebuf_flush(struct parse *p, struct settings *s, struct linebuf *lb)
{
	if (lb->lineno == 0)
		return;
	if (lb->toolong)
		problem(p, lb->lineno, "line longer than %d octets",
		    SETTINGS_LINE_MAX);
	else if (lb->nul)
		problem(p, lb->lineno, "NUL octet in line");
	else
		logical_line(p, s, lb->buf, lb->lineno);
	lb->len = 0;
	lb->buf[0] = '\0';
	lb->lineno = 0;
	lb->toolong = lb->nul = 0;
}

/* settings_parse_buffer - apply len bytes of tern.conf text to s */
int
settings_parse_buffer(struct settings *s, const char *name, const char *text,
    size_t len, settings_report_fn report, void *arg)
{
	struct parse p;
	struct linebuf *lb = xcalloc(1, sizeof(*lb));
	const char *cur = text, *end = text + len;
	int lineno = 0;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.report = report;
	p.arg = arg;
	while (cur < end) {
		const char *nl = memchr(cur, '\n', (size_t)(end - cur));
		const char *eol = nl ? nl : end, *t;
		size_t n;

		lineno++;
		if (eol > cur && eol[-1] == '\r')
			eol--;
		for (t = cur; t < eol && is_blank((unsigned char)*t); t++)
			;
		n = (size_t)(eol - t);
		/* Blank and comment lines neither start nor end a line. */
		if (t == eol || *t == '#') {
			/* nothing */
		} else if (t > cur) {
			if (lb->lineno == 0)
				problem(&p, lineno, "continuation line "
				    "without a setting before it");
			else {
				linebuf_add(lb, " ", 1);
				linebuf_add(lb, t, n);
			}
		} else {
			linebuf_flush(&p, s, lb);
			lb->lineno = lineno;
			linebuf_add(lb, t, n);
		}
		cur = nl ? nl + 1 : end;
	}
	linebuf_flush(&p, s, lb);
	free(lb);
	finish(&p, s);
	cross_check(&p, s);
	parse_release(&p);
	return p.problems;
}

/* settings_load - defaults, then the file at path applied on top */
int
settings_load(struct settings *s, const char *path, int missing_ok,
    settings_report_fn report, void *arg)
{
	FILE *fp;
	char *text, msg[256];
	size_t len = 0, n;
	int problems;

	settings_defaults(s);
	if ((fp = fopen(path, "r")) == NULL) {
		if (errno == ENOENT && missing_ok)
			return 0;
		snprintf(msg, sizeof(msg), "cannot open: %s", strerror(errno));
		if (report != NULL)
			report(path, 0, msg, arg);
		return 1;
	}
	text = xmalloc(SETTINGS_FILE_MAX + 1);
	while ((n = fread(text + len, 1, SETTINGS_FILE_MAX + 1 - len,
	    fp)) > 0)
		len += n;
	if (ferror(fp) || len > SETTINGS_FILE_MAX) {
		if (ferror(fp))
			snprintf(msg, sizeof(msg), "read error: %s",
			    strerror(errno));
		else
			snprintf(msg, sizeof(msg), "larger than %d octets",
			    SETTINGS_FILE_MAX);
		if (report != NULL)
			report(path, 0, msg, arg);
		fclose(fp);
		free(text);
		return 1;
	}
	fclose(fp);
	problems = settings_parse_buffer(s, path, text, len, report, arg);
	free(text);
	return problems;
}

/* format_scaled - v with the largest unit that divides it exactly */
static void
format_scaled(char *buf, size_t bufsize, uint64_t v, const uint64_t *units,
    const char *suffixes, const char *bare)
{
	for (int u = (int)strlen(suffixes) - 1; u >= 0; u--) {
		if (v != 0 && units[u] > 1 && v % units[u] == 0) {
			snprintf(buf, bufsize, "%llu%c",
			    (unsigned long long)(v / units[u]), suffixes[u]);
			return;
		}
	}
	snprintf(buf, bufsize, "%llu%s", (unsigned long long)v, bare);
}

/* format_value - a setting's value as tern.conf text (caller frees) */
static char *
format_value(const struct settings *s, const struct setting_def *d)
{
	static const uint64_t dunits[] = { 1, MINUTE, HOUR, DAY, WEEK };
	static const uint64_t sunits[] = { 1024, 1024 * 1024,
	    1024 * 1024 * 1024 };
	char buf[64];

	switch (d->type) {
	case SETTING_STRING: {
		const char *v = *CFIELD(s, d, char *);
		return xstrdup(v ? v : "");
	}
	case SETTING_LIST: {
		const struct strlist *l = CFIELD(s, d, struct strlist);
		size_t total = 1;
		char *out;

		for (size_t i = 0; i < l->n; i++)
			total += strlen(l->v[i]) + 2;
		out = xmalloc(total);
		out[0] = '\0';
		for (size_t i = 0; i < l->n; i++) {
			if (i > 0)
				strlcat(out, ", ", total);
			strlcat(out, l->v[i], total);
		}
		return out;
	}
	case SETTING_BOOL:
		return xstrdup(*CFIELD(s, d, int) ? "yes" : "no");
	case SETTING_ENUM: {
		int w = *CFIELD(s, d, int);

		for (int k = 0; d->words[k] != NULL; k++)
			if (k == w)
				return xstrdup(d->words[k]);
		return xasprintf("%d", w);
	}
	case SETTING_INT:
		return xasprintf("%ld", *CFIELD(s, d, long));
	case SETTING_SIZE:
		format_scaled(buf, sizeof(buf), *CFIELD(s, d, uint64_t),
		    sunits, "kmg", "");
		return xstrdup(buf);
	case SETTING_DURATION: {
		long v = *CFIELD(s, d, long);

		if (v < 0)
			return xasprintf("%ld", v);
		format_scaled(buf, sizeof(buf), (uint64_t)v, dunits,
		    "smhdw", "s");
		return xstrdup(buf);
	}
	}
	fatalx("settings: %s has an unknown type", d->name);
}

/* settings_print - "name = value" lines; only_changed skips defaults */
void
settings_print(FILE *fp, const struct settings *s, int only_changed)
{
	struct settings def;
	struct parse p;

	memset(&def, 0, sizeof(def));
	if (only_changed) {
		/*
		 * Compare with the defaults under the same myhostname, so
		 * that "local_domains" does not show up as changed merely
		 * because myhostname was.
		 */
		settings_defaults(&def);
		memset(&p, 0, sizeof(p));
		p.name = "defaults";
		if (s->myhostname != NULL) {
			p.text[IDX_MYHOSTNAME] = xstrdup(s->myhostname);
			finish(&p, &def);
			parse_release(&p);
		}
	}
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting_def *d = &settings_defs[i];
		char *v = format_value(s, d);

		if (only_changed) {
			/* myhostname's default is the system's name. */
			char *dv = i == IDX_MYHOSTNAME ?
			    xstrdup(system_hostname()) : format_value(&def, d);
			int same = strcmp(v, dv) == 0;

			free(dv);
			if (same) {
				free(v);
				continue;
			}
		}
		fprintf(fp, "%s =%s%s\n", d->name, v[0] ? " " : "", v);
		free(v);
	}
	if (only_changed)
		settings_free(&def);
}
