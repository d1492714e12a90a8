/*
 * map - compile text maps into Berkeley DB hash files, and read them.
 *
 * Called by ternmap/newaliases (map_compile) and by lookupd (map_open,
 * map_lookup).  A reader never writes the file and never holds a BDB
 * environment, so ternmap can replace a map under a running lookupd: the
 * new map is written under a temporary name in the same directory and
 * rename()d over FILE.db, and readers reopen when the file's identity
 * changes.  Map contents are untrusted: lengths are bounded and values
 * containing NUL octets are refused.  This module must never leave a
 * half-written FILE.db behind: a failed compile keeps the old map.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "alias_target.h"
#include "log.h"
#include "map.h"
#include "xmalloc.h"

#define MAP_LINE_MAX	(MAP_KEY_MAX + MAP_VALUE_MAX + 64) /* logical line */
#define MAP_SUFFIX	".db"

struct map {
	char		*path;		/* FILE.db, or the source of a text map */
	DB		*db;
	int		 memory;	/* map_load_text: never reopened */
	dev_t		 dev;		/* identity of the file db reads */
	ino_t		 ino;
	struct timespec	 mtime;
	off_t		 size;
};

/* map_silent - BDB error callback: errors are reported by return code */
static void
map_silent(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	(void)msg;
}

/* map_same_file - true when st describes the file m last opened */
static int
map_same_file(const struct map *m, const struct stat *st)
{
	return st->st_dev == m->dev && st->st_ino == m->ino &&
	    st->st_size == m->size &&
	    st->st_mtim.tv_sec == m->mtime.tv_sec &&
	    st->st_mtim.tv_nsec == m->mtime.tv_nsec;
}

/* map_remember - note the identity of st as the file m reads */
static void
map_remember(struct map *m, const struct stat *st)
{
	m->dev = st->st_dev;
	m->ino = st->st_ino;
	m->size = st->st_size;
	m->mtime = st->st_mtim;
}

/*
 * map_db_open - open path read-only; the new handle (caller closes) or
 * NULL with a reason in err.  st gets the identity of the file opened.
 */
static DB *
map_db_open(const char *path, struct stat *st, char *err, size_t errsize)
{
	DB *db;
	int fd, r;

	if ((r = db_create(&db, NULL, 0)) != 0) {
		snprintf(err, errsize, "%s: %s", path, db_strerror(r));
		return NULL;
	}
	db->set_errcall(db, map_silent);
	r = db->open(db, NULL, path, NULL, DB_HASH, DB_RDONLY, 0);
	if (r != 0) {
		snprintf(err, errsize, "%s: %s", path, db_strerror(r));
		db->close(db, 0);
		return NULL;
	}
	/*
	 * Take the identity from the descriptor BDB actually reads, not
	 * from the name: a rename between a stat() and the open would
	 * otherwise make us believe we read the newer file.
	 */
	if ((r = db->fd(db, &fd)) != 0 || fstat(fd, st) == -1) {
		snprintf(err, errsize, "%s: cannot stat the open map", path);
		db->close(db, 0);
		return NULL;
	}
	return db;
}

/* map_open - open FILE.db read-only; caller owns the map */
struct map *
map_open(const char *file, char *err, size_t errsize)
{
	struct map *m;
	struct stat st;
	char *path;
	DB *db;

	path = xasprintf("%s%s", file, MAP_SUFFIX);
	if ((db = map_db_open(path, &st, err, errsize)) == NULL) {
		free(path);
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	m->path = path;
	m->db = db;
	map_remember(m, &st);
	return m;
}

/* map_walk - every entry, through fn */
int
map_walk(struct map *m, map_walk_fn fn, void *arg)
{
	DBC *cur;
	DBT k, v;
	int r;

	if (m->db->cursor(m->db, NULL, &cur, 0) != 0)
		return -1;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	while ((r = cur->get(cur, &k, &v, DB_NEXT)) == 0) {
		size_t kl = k.size, vl = v.size;

		if (kl > 0 && ((const char *)k.data)[kl - 1] == '\0')
			kl--;
		if (vl > 0 && ((const char *)v.data)[vl - 1] == '\0')
			vl--;
		fn(k.data, kl, v.data, vl, arg);
	}
	cur->close(cur);
	return r == DB_NOTFOUND ? 0 : -1;
}

/* map_close - close and free */
void
map_close(struct map *m)
{
	if (m == NULL)
		return;
	if (m->db != NULL)
		m->db->close(m->db, 0);
	free(m->path);
	free(m);
}

/*
 * map_refresh - reopen m when FILE.db was replaced.  When the new file
 * cannot be opened the old handle stays in use (its inode survives the
 * rename) and the failure is logged once per new file.
 */
static void
map_refresh(struct map *m)
{
	char err[512];
	struct stat st;
	DB *db;

	if (m->memory || stat(m->path, &st) == -1 || map_same_file(m, &st))
		return;
	if ((db = map_db_open(m->path, &st, err, sizeof(err))) == NULL) {
		log_warn("cannot reopen map: %s; still using the old one", err);
		map_remember(m, &st);
		return;
	}
	m->db->close(m->db, 0);
	m->db = db;
	map_remember(m, &st);
	log_debug("map %s reopened", m->path);
}

/* map_key_fold - lowercase key into buf; its length, or -1 if too long */
static int
map_key_fold(const char *key, char *buf, size_t bufsize)
{
	size_t i;

	for (i = 0; key[i] != '\0'; i++) {
		if (i + 1 >= bufsize)
			return -1;
		buf[i] = (char)tolower((unsigned char)key[i]);
	}
	buf[i] = '\0';
	return (int)i;
}

/* map_lookup - 1 found (value in val), 0 not found, -1 error */
int
map_lookup(struct map *m, const char *key, char *val, size_t valsize)
{
	char kbuf[MAP_KEY_MAX + 1];
	DBT k, v;
	int klen, r;

	if (valsize == 0)
		return -1;
	val[0] = '\0';
	klen = map_key_fold(key, kbuf, sizeof(kbuf));
	if (klen <= 0)
		return 0;	/* no such key can have been stored */
	map_refresh(m);
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = kbuf;
	k.size = (u_int32_t)klen;
	v.data = val;
	v.ulen = (u_int32_t)(valsize - 1 < MAP_VALUE_MAX ? valsize - 1 :
	    MAP_VALUE_MAX);
	v.flags = DB_DBT_USERMEM;
	r = m->db->get(m->db, NULL, &k, &v, 0);
	/* Sendmail's and Postfix's newaliases store keys and values with
	 * their terminating NUL: read such a database too. */
	if (r == DB_NOTFOUND && (size_t)klen < sizeof(kbuf) - 1) {
		kbuf[klen] = '\0';
		k.size = (u_int32_t)klen + 1;
		r = m->db->get(m->db, NULL, &k, &v, 0);
		if (r == 0 && v.size > 0 && v.size <= v.ulen &&
		    val[v.size - 1] == '\0')
			v.size--;
	}
	if (r == DB_NOTFOUND)
		return 0;
	if (r != 0) {
		log_warn("map %s: lookup failed: %s", m->path,
		    r == DB_BUFFER_SMALL ? "value too long" : db_strerror(r));
		return -1;
	}
	if (v.size > v.ulen || memchr(val, '\0', v.size) != NULL) {
		log_warn("map %s: malformed value", m->path);
		val[0] = '\0';
		return -1;
	}
	val[v.size] = '\0';
	return 1;
}

/* ---- compiling ---------------------------------------------------- */

struct compile {
	const char	*src;
	map_report_fn	 report;
	void		*arg;
	DB		*db;
	int		 aliases;
	int		 problems;
};

/* compile_problem - report a problem that stops the map being written */
static void __attribute__((format(printf, 3, 4)))
compile_problem(struct compile *c, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->problems++;
	if (c->report != NULL)
		c->report(c->src, line, msg, c->arg);
}

/* compile_warning - report something that does not stop the compile */
static void
compile_warning(struct compile *c, int line, const char *msg)
{
	if (c->report != NULL)
		c->report(c->src, line, msg, c->arg);
}

/*
 * compile_read_line - read one physical line (without its newline) into
 * buf.  Returns its length, -1 at end of file.  *bad is set to a reason
 * when the line is too long or holds a NUL octet (the rest of the line
 * is then consumed and dropped).
 */
static ssize_t
compile_read_line(FILE *fp, char *buf, size_t bufsize, const char **bad)
{
	size_t len = 0;
	int ch;

	*bad = NULL;
	while ((ch = getc_unlocked(fp)) != EOF && ch != '\n') {
		if (ch == '\0')
			*bad = "line contains a NUL octet";
		if (len + 1 < bufsize)
			buf[len++] = (char)ch;
		else
			*bad = "line too long";
	}
	if (ch == EOF && len == 0 && *bad == NULL)
		return -1;
	buf[len] = '\0';
	return (ssize_t)len;
}

/* compile_trim - strip trailing white space (including a CR) in place */
static void
compile_trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/* compile_put - store key -> value; a duplicate key keeps the first */
static void
compile_put(struct compile *c, int line, char *key, const char *value)
{
	char msg[256], vis[128];
	DBT k, v;
	int r;

	if (strlen(key) > MAP_KEY_MAX) {
		compile_problem(c, line, "key longer than %d octets",
		    MAP_KEY_MAX);
		return;
	}
	if (strlen(value) > MAP_VALUE_MAX) {
		compile_problem(c, line, "value longer than %d octets",
		    MAP_VALUE_MAX);
		return;
	}
	for (char *p = key; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = key;
	k.size = (u_int32_t)strlen(key);
	v.data = (void *)(uintptr_t)value;
	v.size = (u_int32_t)strlen(value);
	r = c->db->put(c->db, NULL, &k, &v, DB_NOOVERWRITE);
	if (r == DB_KEYEXIST) {
		/* Postfix's choice: the first entry wins, the rest warn. */
		snprintf(msg, sizeof(msg),
		    "warning: duplicate entry \"%s\": keeping the first one",
		    log_vis(vis, sizeof(vis), key, strlen(key)));
		compile_warning(c, line, msg);
	} else if (r != 0)
		compile_problem(c, line, "cannot store: %s", db_strerror(r));
}

/* compile_plain - one "key value" entry */
static void
compile_plain(struct compile *c, int line, char *entry)
{
	char *key = entry, *value;

	value = key + strcspn(key, " \t");
	if (*value == '\0') {
		compile_problem(c, line,
		    "expected format: key whitespace value");
		return;
	}
	*value++ = '\0';
	value += strspn(value, " \t");
	compile_put(c, line, key, value);
}

/*
 * alias_split - the next comma-separated item of *sp (commas inside
 * double quotes do not count); NUL-terminates it in place, trims it and
 * advances *sp.  NULL when nothing is left.
 */
static char *
alias_split(char **sp)
{
	char *s = *sp, *item, *end;
	int quoted = 0;

	if (s == NULL)
		return NULL;
	s += strspn(s, " \t");
	item = s;
	for (; *s != '\0'; s++) {
		if (quoted && *s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			quoted = !quoted;
		else if (*s == ',' && !quoted)
			break;
	}
	*sp = *s == ',' ? s + 1 : NULL;
	end = s;
	*end = '\0';
	compile_trim(item);
	if (*item == '\0' && *sp == NULL)
		return NULL;
	return item;
}

/* alias_reason - addr_error_text() without its "501 5.1.3 " prefix */
static const char *
alias_reason(enum addr_error e)
{
	const char *t = addr_error_text(e, 0);
	size_t i;

	for (i = 0; i < 2 && isdigit((unsigned char)*t); i++) {
		t += strcspn(t, " ");
		t += strspn(t, " ");
	}
	return t;
}

/*
 * alias_item_normalize - parse one alias value item (an address, or a bare
 * local name) and write its canonical text to out.  0, or -1 with a
 * reason in why.
 */
static int
alias_item_normalize(const char *item, char *out, size_t outsize,
    const char **why)
{
	struct mailaddr ma;
	char tmp[ADDR_TEXT_MAX + 16];
	enum addr_error e;
	char *at;
	int bare;

	bare = strchr(item, '@') == NULL;
	/* A bare local name is parsed as a mailbox in a placeholder domain. */
	if (snprintf(tmp, sizeof(tmp), "%s%s", item, bare ? "@localhost" :
	    "") >= (int)sizeof(tmp)) {
		*why = "address too long";
		return -1;
	}
	e = addr_parse_mailbox(tmp, strlen(tmp), ADDR_P_UTF8, &ma);
	if (e != ADDR_OK) {
		*why = alias_reason(e);
		return -1;
	}
	if (addr_format(&ma, out, outsize) == -1) {
		*why = "address too long";
		return -1;
	}
	if (bare && (at = strrchr(out, '@')) != NULL)
		*at = '\0';
	return 0;
}

/* compile_alias_value - normalize "addr, addr" into value; -1 on error */
static int
compile_alias_value(struct compile *c, int line, char *text, char *value,
    size_t valsize)
{
	char norm[ADDR_TEXT_MAX + 1], vis[256];
	const char *why, *bad;
	enum alias_item_kind kind;
	char *item;
	size_t len;
	int n = 0;

	value[0] = '\0';
	while ((item = alias_split(&text)) != NULL) {
		if (*item == '\0')
			continue;	/* "a, , b" or a trailing comma */
		log_vis(vis, sizeof(vis), item, strlen(item));
		bad = NULL;
		kind = alias_item_kind(item, &why, &len);
		if (kind == ALIAS_ITEM_BAD) {
			compile_problem(c, line, "\"%s\": %s", vis, why);
			return -1;
		}
		if (kind == ALIAS_ITEM_MAILBOX && !alias_item_user_ok(why,
		    len)) {
			compile_problem(c, line, "\"%s\": \\ needs a local "
			    "user name", vis);
			return -1;
		}
		/* A command, file, include or \name is kept as written
		 * (lookupd reads it with alias_item_kind again). */
		if (kind != ALIAS_ITEM_ADDRESS) {
			if (strlcpy(norm, item, sizeof(norm)) >= sizeof(norm)) {
				compile_problem(c, line, "\"%s\": longer than "
				    "%d octets", vis, ADDR_TEXT_MAX);
				return -1;
			}
		} else if (alias_item_normalize(item, norm, sizeof(norm),
		    &bad) == 0 && alias_item_kind(norm, &why, &len) !=
		    ALIAS_ITEM_ADDRESS) {
			/* "\\|cmd" is the address |cmd, and so on: not a
			 * command, and no mailbox name either. */
			compile_problem(c, line, "\"%s\": quoted command or "
			    "file name", vis);
			return -1;
		}
		if (bad != NULL) {
			compile_problem(c, line, "bad address \"%s\": %s",
			    vis, bad);
			return -1;
		}
		if ((n > 0 && strlcat(value, ", ", valsize) >= valsize) ||
		    strlcat(value, norm, valsize) >= valsize) {
			compile_problem(c, line, "value longer than %d octets",
			    MAP_VALUE_MAX);
			return -1;
		}
		n++;
	}
	if (n == 0) {
		compile_problem(c, line, "no addresses after the ':'");
		return -1;
	}
	return 0;
}

/*
 * alias_name - split "name: value" (name possibly "quoted"); the name
 * dequoted in place, *rest after the ':'.  NULL with a reason in why.
 */
static char *
alias_name(char *entry, char **rest, const char **why)
{
	char *p = entry, *name, *w;

	if (*p == '"') {
		name = w = ++p;
		while (*p != '"') {
			if (*p == '\0') {
				*why = "unterminated quoted name";
				return NULL;
			}
			if (*p == '\\' && p[1] != '\0')
				p++;
			*w++ = *p++;
		}
		p++;
		*w = '\0';
	} else {
		name = p;
		p += strcspn(p, ": \t");
	}
	w = p;
	p += strspn(p, " \t");
	if (*p != ':') {
		*why = "expected format: name: address, address, ...";
		return NULL;
	}
	*w = '\0';
	*rest = p + 1;
	if (*name == '\0') {
		*why = "empty alias name";
		return NULL;
	}
	if (strlen(name) > ADDR_LOCAL_MAX) {
		*why = "alias name longer than 64 octets";
		return NULL;
	}
	for (w = name; *w != '\0'; w++)
		if (iscntrl((unsigned char)*w) || *w == '@') {
			*why = "alias name contains '@' or a control character";
			return NULL;
		}
	return name;
}

/* compile_alias - one "name: addr, addr" entry */
static void
compile_alias(struct compile *c, int line, char *entry)
{
	const char *why;
	char *name, *rest, *value;

	if ((name = alias_name(entry, &rest, &why)) == NULL) {
		compile_problem(c, line, "%s", why);
		return;
	}
	value = xmalloc(MAP_VALUE_MAX + 1);
	if (compile_alias_value(c, line, rest, value, MAP_VALUE_MAX + 1) == 0)
		compile_put(c, line, name, value);
	free(value);
}

/* passwd_field_ok - s is not empty and has no white space or control */
static int
passwd_field_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
			return 0;
	return 1;
}

/*
 * compile_passwd - one "login:hash" entry (as in /etc/shadow, so fields
 * after a second ':' are ignored).  Neither part may be empty or hold
 * white space or a control character (a CR included): a hash with a
 * blank in it is surely a pasting mistake, and could never match.
 */
static void
compile_passwd(struct compile *c, int line, char *entry)
{
	char *colon = strchr(entry, ':'), *hash, *end;

	if (colon == NULL || colon == entry) {
		compile_problem(c, line, "expected format: login:hash");
		return;
	}
	*colon = '\0';
	hash = colon + 1;
	if ((end = strchr(hash, ':')) != NULL)
		*end = '\0';
	if (!passwd_field_ok(entry) || !passwd_field_ok(hash)) {
		compile_problem(c, line, "expected format: login:hash");
		return;
	}
	compile_put(c, line, entry, hash);
}

/* compile_entry - one logical line */
static void
compile_entry(struct compile *c, int line, char *entry)
{
	compile_trim(entry);
	if (c->aliases == MAP_SYNTAX_PASSWD)
		compile_passwd(c, line, entry);
	else if (c->aliases == MAP_SYNTAX_ALIASES)
		compile_alias(c, line, entry);
	else
		compile_plain(c, line, entry);
}

/*
 * compile_text - read src: lines starting with white space continue the
 * logical line; blank lines and '#' comment lines are skipped.
 */
static void
compile_text(struct compile *c, FILE *fp)
{
	char *phys, *entry;
	const char *bad;
	size_t elen = 0;
	int lineno = 0, eline = 0, ebad = 0;
	ssize_t n;

	phys = xmalloc(MAP_LINE_MAX + 1);
	entry = xmalloc(MAP_LINE_MAX + 1);
	while ((n = compile_read_line(fp, phys, MAP_LINE_MAX + 1, &bad))
	    != -1) {
		char *p = phys + strspn(phys, " \t\r");

		lineno++;
		if (bad == NULL && (*p == '\0' || *p == '#'))
			continue;
		if (p == phys) {
			if (eline > 0 && !ebad)
				compile_entry(c, eline, entry);
			eline = lineno;
			ebad = 0;
			elen = strlcpy(entry, phys, MAP_LINE_MAX + 1);
		}
		if (bad != NULL) {
			compile_problem(c, lineno, "%s", bad);
			ebad = 1;
			continue;
		}
		if (p == phys)
			continue;
		if (eline == 0) {
			compile_problem(c, lineno,
			    "continuation line without a preceding entry");
			continue;
		}
		compile_trim(p);
		if (elen + 1 + strlen(p) > MAP_LINE_MAX) {
			if (!ebad)
				compile_problem(c, lineno, "entry too long");
			ebad = 1;
			continue;
		}
		entry[elen++] = ' ';
		elen += strlcpy(entry + elen, p, MAP_LINE_MAX + 1 - elen);
	}
	if (eline > 0 && !ebad)
		compile_entry(c, eline, entry);
	if (ferror(fp))
		compile_problem(c, lineno, "read error: %s", strerror(errno));
	free(phys);
	free(entry);
}

/* compile_sync_dir - fsync the directory holding path */
static int
compile_sync_dir(const char *path)
{
	char *copy = xstrdup(path);
	int fd, r;

	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

/*
 * compile_finish - make the temporary file durable and rename it over
 * dst.  The order matters: the data must be on disk before the rename,
 * or a crash could leave FILE.db naming an empty inode; the directory is
 * synced after it so the rename itself survives a crash.
 */
static int
compile_finish(struct compile *c, int fd, const char *tmp, const char *dst)
{
	if (fsync(fd) == -1) {
		compile_problem(c, 0, "fsync %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (rename(tmp, dst) == -1) {
		compile_problem(c, 0, "rename %s to %s: %s", tmp, dst,
		    strerror(errno));
		return -1;
	}
	if (compile_sync_dir(dst) == -1) {
		compile_problem(c, 0, "fsync directory of %s: %s", dst,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * compile_create - create the temporary file for dst (template in tmp)
 * with the permissions of the source; the descriptor or -1.
 */
static int
compile_create(struct compile *c, const struct stat *st, char *tmp)
{
	int fd;

	if ((fd = mkstemp(tmp)) == -1) {
		compile_problem(c, 0, "create %s: %s", tmp, strerror(errno));
		return -1;
	}
	/*
	 * The map is exactly as readable as its source: a passwd map stays
	 * private while aliases stay world-readable.  As root, the group
	 * follows the source too, so "root:_tern 0640" keeps working.
	 */
	if (geteuid() == 0 && fchown(fd, st->st_uid, st->st_gid) == -1) {
		compile_problem(c, 0, "chown %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (fchmod(fd, st->st_mode & 0666) == -1) {
		compile_problem(c, 0, "chmod %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	return fd;
}

/* compile_db_open - the BDB handle writing tmp, or NULL */
static DB *
compile_db_open(struct compile *c, const char *tmp)
{
	DB *db;
	int r;

	if ((r = db_create(&db, NULL, 0)) != 0) {
		compile_problem(c, 0, "db_create: %s", db_strerror(r));
		return NULL;
	}
	db->set_errcall(db, map_silent);
	/* DB_TRUNCATE: mkstemp's empty file is not yet a database. */
	r = db->open(db, NULL, tmp, NULL, DB_HASH, DB_CREATE | DB_TRUNCATE,
	    0600);
	if (r != 0) {
		compile_problem(c, 0, "open %s: %s", tmp, db_strerror(r));
		db->close(db, 0);
		return NULL;
	}
	return db;
}

/* map_compile_stream - parse fp into db; the number of problems */
int
map_compile_stream(FILE *fp, const char *src, int syntax, DB *db,
    map_report_fn report, void *arg)
{
	struct compile c = { src, report, arg, db, syntax, 0 };

	compile_text(&c, fp);
	return c.problems;
}

/* map_compile - compile src into src.db atomically; number of problems */
int
map_compile(const char *src, int aliases, map_report_fn report, void *arg)
{
	struct compile c = { src, report, arg, NULL, aliases, 0 };
	struct stat st;
	char *dst, *tmp;
	FILE *fp;
	int fd, r;

	if ((fp = fopen(src, "r")) == NULL || fstat(fileno(fp), &st) == -1) {
		compile_problem(&c, 0, "cannot open: %s", strerror(errno));
		if (fp != NULL)
			fclose(fp);
		return c.problems;
	}
	dst = xasprintf("%s%s", src, MAP_SUFFIX);
	tmp = xasprintf("%s.tmpXXXXXX", dst);
	if ((fd = compile_create(&c, &st, tmp)) == -1)
		goto out;
	if ((c.db = compile_db_open(&c, tmp)) == NULL) {
		close(fd);
		unlink(tmp);
		goto out;
	}
	c.problems += map_compile_stream(fp, src, aliases, c.db, report, arg);
	/* close() writes every dirty page to the file; fsync follows. */
	if ((r = c.db->close(c.db, 0)) != 0)
		compile_problem(&c, 0, "close %s: %s", tmp, db_strerror(r));
	if (c.problems > 0 || compile_finish(&c, fd, tmp, dst) == -1)
		unlink(tmp);
	close(fd);
out:
	fclose(fp);
	free(dst);
	free(tmp);
	return c.problems;
}

/*
 * map_load_text - src parsed into a hash database in memory.  Berkeley
 * DB keeps an in-memory database in its cache, so the cache is sized
 * from the file; the file itself is bounded.
 */
struct map *
map_load_text(const char *src, int syntax, map_report_fn report, void *arg,
    int *problems, char *err, size_t errsize)
{
	struct map *m;
	struct stat st;
	FILE *fp;
	DB *db = NULL;
	int r;

	if ((fp = fopen(src, "r")) == NULL || fstat(fileno(fp), &st) == -1) {
		snprintf(err, errsize, "%s: %s", src, strerror(errno));
		if (fp != NULL)
			fclose(fp);
		return NULL;
	}
	if (st.st_size > MAP_TEXT_MAX) {
		snprintf(err, errsize, "%s: larger than %d octets", src,
		    MAP_TEXT_MAX);
		fclose(fp);
		return NULL;
	}
	if ((r = db_create(&db, NULL, 0)) == 0) {
		db->set_errcall(db, map_silent);
		if ((r = db->set_cachesize(db, 0, 4 * (u_int32_t)st.st_size +
		    1024 * 1024, 1)) == 0)
			r = db->open(db, NULL, NULL, NULL, DB_HASH, DB_CREATE,
			    0);
	}
	if (r != 0) {
		snprintf(err, errsize, "%s: in-memory map: %s", src,
		    db_strerror(r));
		if (db != NULL)
			db->close(db, 0);
		fclose(fp);
		return NULL;
	}
	*problems = map_compile_stream(fp, src, syntax, db, report, arg);
	fclose(fp);
	m = xcalloc(1, sizeof(*m));
	m->path = xstrdup(src);
	m->db = db;
	m->memory = 1;
	map_remember(m, &st);
	return m;
}
