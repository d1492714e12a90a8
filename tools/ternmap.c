/*
 * ternmap - compile a text map into FILE.db, query a compiled map (-q),
 * or dump one (-s).
 *
 * Run by the administrator (and by newaliases through its own code).
 * It only ever replaces FILE.db as a whole, through map_compile()'s
 * temporary file and rename(), so a running lookupd never sees a
 * half-written map; on any problem the old map stays untouched.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "map.h"

int main(int argc, char **argv);

/* ternmap_usage - print the synopsis to fp */
static void
ternmap_usage(FILE *fp)
{
	fprintf(fp, "usage: ternmap [-a | -p] FILE\n"
	    "       ternmap [-a | -p] -q KEY FILE\n"
	    "       ternmap -s FILE\n"
	    "  -a      FILE uses aliases(5) syntax\n"
	    "  -p      FILE holds login:crypt-hash lines (smtpd_auth_passwd_map)\n"
	    "  -q KEY  print the value of KEY in FILE.db (exit 1 if absent)\n"
	    "  -s      print every entry of FILE.db as KEY<TAB>VALUE lines\n"
	    "  -h      this help\n");
}

/* ternmap_report - print one compile problem as "ternmap: FILE:LINE: msg" */
static void
ternmap_report(const char *file, int line, const char *msg, void *arg)
{
	(void)arg;
	if (line > 0)
		fprintf(stderr, "ternmap: %s:%d: %s\n", file, line, msg);
	else
		fprintf(stderr, "ternmap: %s: %s\n", file, msg);
}

/* ternmap_query - print KEY's value from FILE.db; the exit status */
static int
ternmap_query(const char *file, const char *key)
{
	static char val[64 * 1024 + 1];
	char err[512];
	struct map *m;
	int r;

	if ((m = map_open(file, err, sizeof(err))) == NULL) {
		fprintf(stderr, "ternmap: cannot open map: %s\n", err);
		return 1;
	}
	r = map_lookup(m, key, val, sizeof(val));
	map_close(m);
	if (r == -1) {
		fprintf(stderr, "ternmap: %s: lookup failed\n", file);
		return 1;
	}
	if (r == 0)
		return 1;
	printf("%s\n", val);
	return 0;
}

/* ternmap_line - one entry of the dump */
static void
ternmap_line(const char *key, size_t klen, const char *val, size_t vlen,
    void *arg)
{
	(void)arg;
	fwrite(key, 1, klen, stdout);
	putchar('\t');
	fwrite(val, 1, vlen, stdout);
	putchar('\n');
}

/* ternmap_dump - every entry of FILE.db (-s, like postmap -s) */
static int
ternmap_dump(const char *file)
{
	char err[512];
	struct map *m;
	int r;

	if ((m = map_open(file, err, sizeof(err))) == NULL) {
		fprintf(stderr, "ternmap: cannot open map: %s\n", err);
		return 1;
	}
	r = map_walk(m, ternmap_line, NULL);
	map_close(m);
	if (r < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "ternmap: %s: cannot read the whole map\n",
		    file);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *key = NULL;
	int aliases = 0, ch, dump = 0;

	log_init("ternmap", 1);
	while ((ch = getopt(argc, argv, "ahpq:s")) != -1) {
		switch (ch) {
		case 'a':
			aliases = MAP_SYNTAX_ALIASES;
			break;
		case 'p':
			aliases = MAP_SYNTAX_PASSWD;
			break;
		case 'q':
			key = optarg;
			break;
		case 's':
			dump = 1;
			break;
		case 'h':
			ternmap_usage(stdout);
			return 0;
		default:
			ternmap_usage(stderr);
			return 1;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1) {
		ternmap_usage(stderr);
		return 1;
	}
	if (dump && key != NULL) {
		ternmap_usage(stderr);
		return 1;
	}
	if (dump)
		return ternmap_dump(argv[0]);
	if (key != NULL)
		return ternmap_query(argv[0], key);
	return map_compile(argv[0], aliases, ternmap_report, NULL) == 0 ?
	    0 : 1;
}
