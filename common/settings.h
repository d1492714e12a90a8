/*
 * settings - every tern.conf setting, declared once in one table.
 *
 * The parser, "ternctl config", "ternd -n" and the checks behind
 * tern.conf(5) all read the table in settings.c, so they cannot disagree.
 * The file format: one "key = value" per line, '#' starts a comment line,
 * blank lines ignored, lists separated by commas and/or white space, a
 * line that starts with white space continues the previous one.
 * Durations take s, m, h, d, w suffixes (bare number = seconds); sizes take
 * k, m, g (powers of 1024; bare number = octets).  "$myhostname" inside a
 * string or list value is replaced by the effective myhostname once the
 * whole file is read, so the order of lines does not matter.  A logical
 * line (with its continuations) holds at most SETTINGS_LINE_MAX octets.
 */
#ifndef TERN_SETTINGS_H
#define TERN_SETTINGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SETTINGS_LINE_MAX	4096		/* octets per logical line */
#define SETTINGS_FILE_MAX	(1024 * 1024)	/* octets per file */

struct sockaddr;

struct strlist {
	char	**v;		/* owned strings */
	size_t	  n;
};

enum bare_newline_mode {
	BARE_NEWLINE_NORMALIZE = 0,
	BARE_NEWLINE_REJECT = 1,
};

enum smtp_tls_level {
	SMTP_TLS_NONE = 0,	/* never STARTTLS */
	SMTP_TLS_MAY = 1,	/* STARTTLS when offered; plaintext otherwise */
	SMTP_TLS_ENCRYPT = 2,	/* TLS or no delivery (defer) */
	SMTP_TLS_VERIFY = 3,	/* TLS, trusted chain, MX host name matches */
	SMTP_TLS_SECURE = 4,	/* TLS, trusted chain, next-hop name matches */
	SMTP_TLS_DANE = 5,	/* RFC 7672: TLSA where DNSSEC-signed, else may
				   (smtp_dane.h) */
	/* tls_policy.h says how more levels are added. */
};

enum mailbox_format {
	MAILBOX_MAILDIR = 0,	/* ~user/Maildir */
	MAILBOX_MBOX = 1,	/* mail_spool_directory/user */
};

/* The effective configuration.  Strings and lists are owned. */
struct settings {
	char			*myhostname;
	char			*myorigin;	/* "": resolved by sendmail */
	struct strlist		 local_domains;
	char			*spool_dir;
	char			*daemon_directory;
	struct strlist		 smtp_listen;
	struct strlist		 submission_listen;
	struct strlist		 submissions_listen;
	struct strlist		 relay_domains;
	char			*smtpd_tls_cert_file;
	char			*smtpd_tls_key_file;
	char			*smtpd_tls_ciphers;
	char			*smtpd_auth_passwd_map;
	int			 smtpd_auth_on_smtp;
	int			 smtpd_auth_over_plaintext;
	long			 smtpd_auth_failure_limit;
	long			 smtpd_auth_failure_window;	/* seconds */
	long			 smtpd_auth_failure_delay;	/* seconds */
	char			*smtpd_sender_login_map;
	struct strlist		 mynetworks;
	char			*mailbox_base;
	enum mailbox_format	 mailbox_format;
	char			*mail_spool_directory;
	char			*default_privs;	/* user of root's alias commands */
	long			 command_time_limit;	/* seconds */
	char			*recipient_delimiter;	/* "" or one char */
	char			*mailbox_transport;	/* "" or lmtp:... */
	uint64_t		 message_size_limit;
	long			 smtpd_recipient_limit;
	long			 smtpd_max_procs;
	long			 smtpd_min_spare;
	char			*tern_user;
	char			*tern_queue_user;
	char			*setgid_group;
	char			*tern_admin_group;
	enum bare_newline_mode	 smtpd_bare_newline;
	struct strlist		 alias_maps;
	char			*virtual_alias_map;
	struct strlist		 virtual_mailbox_domains;
	char			*virtual_mailbox_map;
	char			*virtual_mailbox_base;
	long			 virtual_uid;	/* 0 = unset */
	long			 virtual_gid;	/* 0 = unset */
	char			*smtpd_banner;
	long			 smtpd_timeout;		/* seconds */
	long			 smtpd_data_timeout;	/* seconds */
	long			 smtpd_hard_error_limit;
	long			 smtpd_soft_error_limit;
	long			 smtpd_error_sleep_time;	/* seconds */
	long			 smtpd_junk_command_limit;
	long			 smtpd_session_time_limit;	/* seconds */
	int			 smtpd_peername_lookup;
	long			 smtpd_client_lookup_timeout;	/* seconds */
	long			 smtpd_client_connection_limit;	/* 0 = none */
	long			 smtpd_client_connection_rate_limit; /* 0 = none */
	long			 smtpd_client_rate_time_unit;	/* seconds */
	struct strlist		 smtpd_client_event_limit_exceptions;
	long			 minimal_backoff_time;	/* seconds */
	long			 maximal_backoff_time;	/* seconds */
	long			 maximal_queue_lifetime;	/* seconds */
	long			 bounce_queue_lifetime;	/* seconds */
	long			 delay_warning_time;	/* seconds, 0 = off */
	uint64_t		 queue_minfree;	/* octets, 0 = no check */
	long			 queue_active_limit;
	long			 queue_file_pool_size;	/* 0: no pool */
	long			 local_delivery_limit;
	long			 local_owner_concurrency_limit;
	long			 smtp_destination_concurrency_limit;
	struct strlist		 notify_classes;
	long			 shutdown_timeout;	/* seconds */
	long			 daemon_restart_backoff_max; /* seconds */
	/* smtp transport (deliverd -t smtp) */
	long			 smtp_destination_recipient_limit;
	long			 smtp_mx_address_limit;
	struct strlist		 dns_servers;	/* "ip[:port]" */
	int			 dns_query_local_zones;
	int			 dns_dnssec;	/* DO bit, AD trusted */
	long			 smtp_port;
	char			*relayhost;
	enum smtp_tls_level	 smtp_tls_security_level;
	char			*smtp_tls_CAfile;
	char			*smtp_tls_CApath;
	char			*smtp_tls_policy_map;
	struct strlist		 smtp_tls_verify_cert_match;
	struct strlist		 smtp_tls_secure_cert_match;
	int			 smtp_mta_sts;
	long			 smtp_mta_sts_timeout;		/* seconds */
	long			 smtp_connection_reuse_time;	/* seconds */
	long			 smtp_connection_limit;
	long			 smtp_connect_timeout;		/* seconds */
	long			 smtp_helo_timeout;
	long			 smtp_mail_timeout;
	long			 smtp_rcpt_timeout;
	long			 smtp_data_init_timeout;
	long			 smtp_data_xfer_timeout;
	long			 smtp_data_done_timeout;
	long			 smtp_quit_timeout;
	struct strlist		 smtp_sasl_password_maps;
	char			*smtp_helo_name;
};

enum setting_type {
	SETTING_STRING,
	SETTING_BOOL,		/* yes/no, true/false, on/off, 1/0 */
	SETTING_INT,		/* non-negative decimal, bounded */
	SETTING_SIZE,		/* octets */
	SETTING_DURATION,	/* seconds */
	SETTING_LIST,
	SETTING_ENUM,		/* one of a fixed set of words */
};

struct setting_def {
	const char	*name;
	enum setting_type type;
	size_t		 offset;	/* into struct settings */
	const char	*defval;	/* as it would be written in tern.conf */
	const char	*help;		/* one line for tern.conf(5) */
	long		 min, max;	/* INT/SIZE/DURATION: value bounds;
					   STRING: length bounds (max 0 = none) */
	const char	*const *words;	/* SETTING_ENUM: NULL-terminated */
	/* STRING or each LIST item, after expansion: 0, or -1 and a reason */
	int		(*check)(const char *value, char *err, size_t errsize);
};

/* settings_table - the one table; *n gets its length */
const struct setting_def *settings_table(size_t *n);
/* settings_find - the table entry called name, or NULL */
const struct setting_def *settings_find(const char *name);

/* settings_defaults - fill s with every default (owned allocations) */
void settings_defaults(struct settings *s);
/* settings_free - release everything s owns */
void settings_free(struct settings *s);

/*
 * settings_report_fn - receives one problem: file, line (0 when not tied
 * to a line) and message.
 */
typedef void (*settings_report_fn)(const char *file, int line,
    const char *msg, void *arg);

/*
 * settings_load - defaults, then the file at path applied on top.
 * Every problem (unknown key, bad value, duplicate key, unreadable file)
 * goes to report; returns the number of problems (0 = usable).  A missing
 * file is a problem unless missing_ok.
 */
int settings_load(struct settings *s, const char *path, int missing_ok,
    settings_report_fn report, void *arg);
/*
 * settings_parse_buffer - as settings_load, from len bytes of text
 * (name is used in reports).  s must already hold defaults.
 */
int settings_parse_buffer(struct settings *s, const char *name,
    const char *text, size_t len, settings_report_fn report, void *arg);

/* settings_print - "name = value" lines; only_changed skips defaults */
void settings_print(FILE *fp, const struct settings *s, int only_changed);

/* settings_parse_duration - "300s", "5m", "4h", "5d", "2w", "30"; -1 bad */
int settings_parse_duration(const char *text, long *out);
/* settings_parse_size - "50m", "10k", "1g", "1024"; -1 bad or overflow */
int settings_parse_size(const char *text, uint64_t *out);
/* settings_parse_bool - yes/no, true/false, on/off, 1/0; -1 bad */
int settings_parse_bool(const char *text, int *out);

/*
 * settings_listen_parse - split a smtp_listen/submission_listen entry:
 * "host:port", "[v6addr]:port", "*:port" or a bare "port" (the last two
 * mean every address: host becomes "").  host is an IPv4 or IPv6 literal
 * (without brackets) or a host name; port is 1-65535, written back in
 * canonical decimal.  0, or -1 when malformed or a buffer is too small.
 */
int settings_listen_parse(const char *entry, char *host, size_t hostsize,
    char *port, size_t portsize);
/*
 * settings_network_match - 1 when the address sa is inside any mynetworks
 * entry of nets ("a.b.c.d/n", "[v6]/n", "v6/n", or a bare address), else 0.
 * An IPv4-mapped IPv6 address also matches IPv4 entries.  Entries that do
 * not parse never match (settings_load has already reported them).
 */
int settings_network_match(const struct strlist *nets,
    const struct sockaddr *sa);
/*
 * settings_domain_in - 1 when domain is one of list's domains
 * (local_domains, relay_domains...), case-insensitively and ignoring one
 * trailing dot on either side, else 0.
 */
int settings_domain_in(const struct strlist *list, const char *domain);

#endif
