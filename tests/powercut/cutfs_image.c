/*
 * cutfs_image - the cut (save only the durable state) and the restart
 * (load it).  See cutfs_image.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cutfs_image.h"
#include "xmalloc.h"

#define IMAGE_MAGIC	"CUTFS01\n"

/* coin_next - the harsh mode's coin (splitmix64), reproducible by seed */
static uint64_t
coin_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * Count what a cut of n throws away; in harsh mode first let each
 * unsynced page (and the unsynced size) survive with probability 1/2.
 */
static void
cut_file(struct cutfs_fs *fs, struct cutfs_node *n, uint64_t *coin,
    struct cutfs_cut_stats *st)
{
	struct cutfs_data *v = &n->vol.data, *d = &n->dur.data;
	size_t np = v->npages > d->npages ? v->npages : d->npages;
	int unsynced = v->size != d->size;

	for (size_t i = 0; i < np; i++) {
		struct cutfs_page *p = cutfs_data_page(v, i);

		if (p == cutfs_data_page(d, i))
			continue;
		unsynced = 1;
		if (coin != NULL && (coin_next(coin) & 1)) {
			cutfs_data_page_set(fs, d, i, p);
			st->kept_pages++;
		} else
			st->lost_pages++;
	}
	if (coin != NULL && v->size != d->size && (coin_next(coin) & 1))
		d->size = v->size;
	cutfs_data_trim(fs, d);
	st->unsynced_files += unsynced;
}

/*
 * The durable tree in breadth-first order from the root: order[] (count
 * *norder), and for each directory the (parent, entry index) that
 * reached it first in firstp/firsti.  The caller frees the arrays.
 */
static void
cut_walk(struct cutfs_fs *fs, uint64_t **order, size_t *norder,
    uint64_t **firstp, size_t **firsti, struct cutfs_cut_stats *st)
{
	uint8_t *seen = xcalloc(fs->cap, 1);
	uint64_t *q = xcalloc(fs->nnodes + 1, sizeof(*q));
	size_t head = 0, tail = 0;

	*firstp = xcalloc(fs->cap, sizeof(**firstp));
	*firsti = xcalloc(fs->cap, sizeof(**firsti));
	q[tail++] = CUTFS_ROOT_INO;
	seen[CUTFS_ROOT_INO] = 1;
	while (head < tail) {
		struct cutfs_node *d = cutfs_node_get(fs, q[head++]);

		if (!S_ISDIR(d->dur.attr.mode))
			continue;
		for (size_t i = 0; i < d->dur.dir.n; i++) {
			uint64_t ino = d->dur.dir.ents[i].ino;
			struct cutfs_node *c = cutfs_node_get(fs, ino);

			if (c == NULL)
				continue;
			if (!seen[ino]) {
				seen[ino] = 1;
				q[tail++] = ino;
				(*firstp)[ino] = d->ino;
				(*firsti)[ino] = i;
			} else if (S_ISDIR(c->dur.attr.mode))
				st->dropped_dir_links++;
		}
	}
	free(seen);
	*order = q;
	*norder = tail;
}

/* put - write n bytes; 0 or -1 */
static int
put(FILE *f, const void *p, size_t n)
{
	return fwrite(p, 1, n, f) == n ? 0 : -1;
}

/* put_u64 - write v; 0 or -1 */
static int
put_u64(FILE *f, uint64_t v)
{
	return put(f, &v, sizeof(v));
}

/* put_u32 - write v; 0 or -1 */
static int
put_u32(FILE *f, uint32_t v)
{
	return put(f, &v, sizeof(v));
}

/* put_time - write ts as two i64; 0 or -1 */
static int
put_time(FILE *f, const struct timespec *ts)
{
	int64_t v[2] = { ts->tv_sec, ts->tv_nsec };

	return put(f, v, sizeof(v));
}

/* put_node - one node's durable state; directories list only the
 * entries kept */
static int
put_node(FILE *f, struct cutfs_fs *fs, const struct cutfs_node *n,
    const uint64_t *firstp, const size_t *firsti)
{
	const struct cutfs_attr *a = &n->dur.attr;
	static const unsigned char zeros[CUTFS_PAGE_SIZE];

	if (put_u64(f, n->ino) < 0 || put_u32(f, a->mode) < 0 ||
	    put_u32(f, a->uid) < 0 || put_u32(f, a->gid) < 0 ||
	    put_u64(f, a->rdev) < 0 || put_time(f, &a->atime) < 0 ||
	    put_time(f, &a->mtime) < 0 || put_time(f, &a->ctime) < 0)
		return -1;
	if (S_ISREG(a->mode)) {
		const struct cutfs_data *d = &n->dur.data;

		if (put_u64(f, d->size) < 0)
			return -1;
		for (uint64_t off = 0; off < d->size; off += CUTFS_PAGE_SIZE) {
			const struct cutfs_page *p = cutfs_data_page(d,
			    (size_t)(off / CUTFS_PAGE_SIZE));
			size_t k = d->size - off < CUTFS_PAGE_SIZE ?
			    (size_t)(d->size - off) : CUTFS_PAGE_SIZE;

			if (put(f, p != NULL ? p->bytes : zeros, k) < 0)
				return -1;
		}
	} else if (S_ISDIR(a->mode)) {
		uint64_t k = 0;

		for (int pass = 0; pass < 2; pass++) {
			if (pass == 1 && put_u64(f, k) < 0)
				return -1;
			for (size_t i = 0; i < n->dur.dir.n; i++) {
				const struct cutfs_dirent *e = &n->dur.dir.ents[i];
				const struct cutfs_node *c =
				    cutfs_node_get(fs, e->ino);

				if (c == NULL || (S_ISDIR(c->dur.attr.mode) &&
				    (firstp[e->ino] != n->ino ||
				    firsti[e->ino] != i)))
					continue;
				if (pass == 0)
					k++;
				else if (put_u32(f, (uint32_t)strlen(e->name)) < 0 ||
				    put(f, e->name, strlen(e->name)) < 0 ||
				    put_u64(f, e->ino) < 0)
					return -1;
			}
		}
	}
	return 0;
}

/* cutfs_image_save - cut: write the durable state of fs to path */
int
cutfs_image_save(struct cutfs_fs *fs, const char *path, int harsh,
    uint64_t seed, struct cutfs_cut_stats *st, char *err, size_t errsize)
{
	uint64_t *order, *firstp, coin = seed;
	size_t norder, *firsti;
	char tmp[4096];
	FILE *f;
	int bad = 0;

	memset(st, 0, sizeof(*st));
	cut_walk(fs, &order, &norder, &firstp, &firsti, st);
	st->lost_nodes = fs->nnodes - norder;
	for (size_t i = 0; i < norder; i++) {
		struct cutfs_node *n = cutfs_node_get(fs, order[i]);

		if (S_ISREG(n->dur.attr.mode)) {
			cut_file(fs, n, harsh ? &coin : NULL, st);
			st->files++;
		} else if (S_ISDIR(n->dur.attr.mode)) {
			st->unsynced_dirs += !cutfs_dir_same(&n->vol.dir,
			    &n->dur.dir);
			st->dirs++;
		} else
			st->others++;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL) {
		snprintf(err, errsize, "%s: %s", tmp, strerror(errno));
		bad = 1;
	} else {
		bad = put(f, IMAGE_MAGIC, 8) < 0 || put_u64(f, norder) < 0;
		for (size_t i = 0; i < norder && !bad; i++)
			bad = put_node(f, fs, cutfs_node_get(fs, order[i]),
			    firstp, firsti) < 0;
		bad |= fclose(f) != 0;
		if (bad)
			snprintf(err, errsize, "write %s: %s", tmp,
			    strerror(errno));
		else if (rename(tmp, path) < 0) {
			snprintf(err, errsize, "rename %s: %s", tmp,
			    strerror(errno));
			bad = 1;
		}
	}
	free(order);
	free(firstp);
	free(firsti);
	return bad ? -1 : 0;
}

/* --- loading --------------------------------------------------------- */

/* get - read n bytes; 0 or -1 (short) */
static int
get(FILE *f, void *p, size_t n)
{
	return fread(p, 1, n, f) == n ? 0 : -1;
}

/* get_u64 - read *v; 0 or -1 */
static int
get_u64(FILE *f, uint64_t *v)
{
	return get(f, v, sizeof(*v));
}

/* get_u32 - read *v; 0 or -1 */
static int
get_u32(FILE *f, uint32_t *v)
{
	return get(f, v, sizeof(*v));
}

/* get_time - read *ts; 0 or -1 (short or bad nsec) */
static int
get_time(FILE *f, struct timespec *ts)
{
	int64_t v[2];

	if (get(f, v, sizeof(v)) < 0 || v[1] < 0 || v[1] >= 1000000000)
		return -1;
	ts->tv_sec = (time_t)v[0];
	ts->tv_nsec = (long)v[1];
	return 0;
}

/* get_data - a regular file's content (all-zero pages stay holes); NULL
 * or what is wrong */
static const char *
get_data(FILE *f, struct cutfs_fs *fs, struct cutfs_node *n)
{
	unsigned char buf[CUTFS_PAGE_SIZE];
	uint64_t size;

	if (get_u64(f, &size) < 0 || size > CUTFS_FILE_MAX)
		return "bad file size";
	for (uint64_t off = 0; off < size; off += CUTFS_PAGE_SIZE) {
		size_t k = size - off < CUTFS_PAGE_SIZE ?
		    (size_t)(size - off) : CUTFS_PAGE_SIZE, z;

		if (get(f, buf, k) < 0)
			return "short file data";
		for (z = 0; z < k && buf[z] == 0; z++)
			continue;
		if (z < k)
			(void)cutfs_data_write(fs, &n->vol.data, off, buf, k);
	}
	n->vol.data.size = size;
	cutfs_data_share(fs, &n->dur.data, &n->vol.data);
	return NULL;
}

/* get_dir - a directory's entries (links are counted once all nodes are
 * in); NULL or what is wrong */
static const char *
get_dir(FILE *f, struct cutfs_node *n)
{
	char name[CUTFS_NAME_MAX + 1];
	uint64_t count, ino;
	uint32_t len;

	if (get_u64(f, &count) < 0 || count > CUTFS_NODES_MAX)
		return "bad entry count";
	for (uint64_t i = 0; i < count; i++) {
		if (get_u32(f, &len) < 0 || len == 0 || len > CUTFS_NAME_MAX ||
		    get(f, name, len) < 0 || get_u64(f, &ino) < 0)
			return "bad directory entry";
		name[len] = '\0';
		if (memchr(name, '/', len) != NULL || strlen(name) != len ||
		    strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    cutfs_dir_find(&n->vol.dir, name) >= 0)
			return "bad or repeated entry name";
		cutfs_dir_add(&n->vol.dir, name, ino);
		cutfs_dir_add(&n->dur.dir, name, ino);
	}
	return NULL;
}

/* get_node - one node into fs; NULL or what is wrong */
static const char *
get_node(FILE *f, struct cutfs_fs *fs)
{
	struct cutfs_attr a;
	struct cutfs_node *n;
	uint64_t ino;

	if (get_u64(f, &ino) < 0 || get_u32(f, &a.mode) < 0 ||
	    get_u32(f, &a.uid) < 0 || get_u32(f, &a.gid) < 0 ||
	    get_u64(f, &a.rdev) < 0 || get_time(f, &a.atime) < 0 ||
	    get_time(f, &a.mtime) < 0 || get_time(f, &a.ctime) < 0)
		return "short node";
	if (ino == 0 || ino >= CUTFS_NODES_MAX || cutfs_node_get(fs, ino))
		return "bad or repeated inode number";
	if (!S_ISREG(a.mode) && !S_ISDIR(a.mode) && !S_ISFIFO(a.mode) &&
	    !S_ISSOCK(a.mode) && !S_ISCHR(a.mode) && !S_ISBLK(a.mode))
		return "bad file type";
	n = cutfs_node_new(fs, ino, a.mode, a.uid, a.gid, a.rdev);
	n->vol.attr = n->dur.attr = a;
	if (S_ISREG(a.mode))
		return get_data(f, fs, n);
	if (S_ISDIR(a.mode))
		return get_dir(f, n);
	return NULL;
}

/* link_all - count the links: every entry must name a node, a directory
 * only once; NULL or what is wrong */
static const char *
link_all(struct cutfs_fs *fs)
{
	struct cutfs_node *root = cutfs_node_get(fs, CUTFS_ROOT_INO);

	if (root == NULL || !S_ISDIR(root->vol.attr.mode))
		return "no root directory";
	root->parent = CUTFS_ROOT_INO;
	for (size_t i = 0; i < fs->cap; i++) {
		struct cutfs_node *d = fs->nodes[i];

		if (d == NULL || !S_ISDIR(d->vol.attr.mode))
			continue;
		for (size_t j = 0; j < d->vol.dir.n; j++) {
			struct cutfs_node *c =
			    cutfs_node_get(fs, d->vol.dir.ents[j].ino);

			if (c == NULL || c == root)
				return "entry names no node";
			if (S_ISDIR(c->vol.attr.mode) && c->vlinks > 0)
				return "directory with two parents";
			c->vlinks++;
			c->dlinks++;
			c->parent = d->ino;
		}
	}
	return NULL;
}

/* cutfs_image_load - fill the empty fs from path */
int
cutfs_image_load(struct cutfs_fs *fs, const char *path, char *err,
    size_t errsize)
{
	const char *why = NULL;
	char magic[8];
	uint64_t count = 0;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (get(f, magic, 8) < 0 || memcmp(magic, IMAGE_MAGIC, 8) != 0)
		why = "not a cutfs image";
	else if (get_u64(f, &count) < 0 || count == 0 ||
	    count > CUTFS_NODES_MAX)
		why = "bad node count";
	for (uint64_t i = 0; why == NULL && i < count; i++)
		why = get_node(f, fs);
	if (why == NULL && fgetc(f) != EOF)
		why = "trailing bytes";
	fclose(f);
	if (why == NULL)
		why = link_all(fs);
	if (why != NULL) {
		snprintf(err, errsize, "%s: %s", path, why);
		return -1;
	}
	/* Nodes no entry names (only a hand-made image has them) go. */
	for (size_t i = 0; i < fs->cap; i++)
		if (fs->nodes[i] != NULL)
			cutfs_node_release(fs, fs->nodes[i]);
	return 0;
}
