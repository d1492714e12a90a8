/*
 * cutfs_model - nodes, pages and directories in a volatile and a durable
 * state.  See cutfs_model.h for the rules; cutfs_ops.c is the only
 * caller besides the image loader and saver.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cutfs_model.h"
#include "xmalloc.h"

/* cutfs_fs_init - an empty table */
void
cutfs_fs_init(struct cutfs_fs *fs)
{
	memset(fs, 0, sizeof(*fs));
	fs->next_ino = CUTFS_ROOT_INO + 1;
}

/* cutfs_fs_format - an empty durable root directory */
void
cutfs_fs_format(struct cutfs_fs *fs, uint32_t mode, uint32_t uid,
    uint32_t gid)
{
	struct cutfs_node *root;

	root = cutfs_node_new(fs, CUTFS_ROOT_INO, S_IFDIR | (mode & 07777),
	    uid, gid, 0);
	root->parent = CUTFS_ROOT_INO;
}

/* cutfs_fs_free - free every node and page */
void
cutfs_fs_free(struct cutfs_fs *fs)
{
	for (size_t i = 0; i < fs->cap; i++) {
		struct cutfs_node *n = fs->nodes[i];

		if (n == NULL)
			continue;
		cutfs_data_free(fs, &n->vol.data);
		cutfs_data_free(fs, &n->dur.data);
		cutfs_dir_free(&n->vol.dir);
		cutfs_dir_free(&n->dur.dir);
		free(n);
	}
	free(fs->nodes);
	cutfs_fs_init(fs);
}

/* cutfs_node_get - the node of ino, or NULL */
struct cutfs_node *
cutfs_node_get(struct cutfs_fs *fs, uint64_t ino)
{
	if (ino >= fs->cap)
		return NULL;
	return fs->nodes[ino];
}

static struct timespec
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

/* cutfs_node_new - a new unlinked node; the table owns it */
struct cutfs_node *
cutfs_node_new(struct cutfs_fs *fs, uint64_t ino, uint32_t mode, uint32_t uid,
    uint32_t gid, uint64_t rdev)
{
	struct cutfs_node *n;

	if (ino == 0)
		ino = fs->next_ino++;
	else if (ino >= fs->next_ino)
		fs->next_ino = ino + 1;
	if (ino >= fs->cap) {
		size_t cap = fs->cap ? fs->cap : 1024;

		while (cap <= ino)
			cap *= 2;
		fs->nodes = xreallocarray(fs->nodes, cap, sizeof(*fs->nodes));
		memset(fs->nodes + fs->cap, 0,
		    (cap - fs->cap) * sizeof(*fs->nodes));
		fs->cap = cap;
	}
	n = xcalloc(1, sizeof(*n));
	n->ino = ino;
	n->vol.attr.mode = mode;
	n->vol.attr.uid = uid;
	n->vol.attr.gid = gid;
	n->vol.attr.rdev = rdev;
	n->vol.attr.atime = n->vol.attr.mtime = n->vol.attr.ctime = now();
	n->dur.attr = n->vol.attr;
	fs->nodes[ino] = n;
	fs->nnodes++;
	return n;
}

/* cutfs_node_release - free node if nothing refers to it any more */
void
cutfs_node_release(struct cutfs_fs *fs, struct cutfs_node *n)
{
	if (n->ino == CUTFS_ROOT_INO || n->vlinks > 0 || n->dlinks > 0 ||
	    n->lookups > 0 || n->opens > 0)
		return;
	fs->nodes[n->ino] = NULL;
	fs->nnodes--;
	/* Its durable entries die with it: what they name may go too. */
	for (size_t i = 0; i < n->dur.dir.n; i++) {
		struct cutfs_node *c = cutfs_node_get(fs, n->dur.dir.ents[i].ino);

		if (c != NULL) {
			c->dlinks--;
			cutfs_node_release(fs, c);
		}
	}
	for (size_t i = 0; i < n->vol.dir.n; i++) {
		struct cutfs_node *c = cutfs_node_get(fs, n->vol.dir.ents[i].ino);

		if (c != NULL) {
			c->vlinks--;
			cutfs_node_release(fs, c);
		}
	}
	cutfs_dir_free(&n->vol.dir);
	cutfs_dir_free(&n->dur.dir);
	cutfs_data_free(fs, &n->vol.data);
	cutfs_data_free(fs, &n->dur.data);
	free(n);
}

/* cutfs_node_stat - the volatile attributes as a struct stat */
void
cutfs_node_stat(struct cutfs_fs *fs, const struct cutfs_node *n,
    struct stat *st)
{
	const struct cutfs_attr *a = &n->vol.attr;

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = a->mode;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_nlink = n->vlinks;
	if (S_ISREG(a->mode)) {
		st->st_size = (off_t)n->vol.data.size;
		st->st_blocks = (blkcnt_t)((n->vol.data.size + 511) / 512);
	} else if (S_ISDIR(a->mode)) {
		st->st_size = (off_t)(n->vol.dir.n + 2) * 32;
		st->st_nlink = 2 + cutfs_subdirs(fs, n);
	}
	st->st_blksize = CUTFS_PAGE_SIZE;
	st->st_atim = a->atime;
	st->st_mtim = a->mtime;
	st->st_ctim = a->ctime;
}

/* cutfs_node_sync - fsync (datasync 0) or fdatasync (datasync 1) */
void
cutfs_node_sync(struct cutfs_fs *fs, struct cutfs_node *n, int datasync)
{
	if (S_ISREG(n->vol.attr.mode))
		cutfs_data_share(fs, &n->dur.data, &n->vol.data);
	if (!datasync)
		n->dur.attr = n->vol.attr;
}

/* cutfs_node_touch - set the volatile ctime (and mtime if modify) now */
void
cutfs_node_touch(struct cutfs_node *n, int modify)
{
	n->vol.attr.ctime = now();
	if (modify)
		n->vol.attr.mtime = n->vol.attr.ctime;
}

/* --- directories ----------------------------------------------------- */

/* cutfs_dir_find - index of name in dir, or -1 */
long
cutfs_dir_find(const struct cutfs_dir *dir, const char *name)
{
	for (size_t i = 0; i < dir->n; i++)
		if (strcmp(dir->ents[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* cutfs_dir_add - append the entry (name copied) */
void
cutfs_dir_add(struct cutfs_dir *dir, const char *name, uint64_t ino)
{
	if (dir->n == dir->cap) {
		dir->cap = dir->cap ? dir->cap * 2 : 8;
		dir->ents = xreallocarray(dir->ents, dir->cap,
		    sizeof(*dir->ents));
	}
	dir->ents[dir->n].name = xstrdup(name);
	dir->ents[dir->n].ino = ino;
	dir->n++;
}

/* cutfs_dir_free - free the entries */
void
cutfs_dir_free(struct cutfs_dir *dir)
{
	for (size_t i = 0; i < dir->n; i++)
		free(dir->ents[i].name);
	free(dir->ents);
	memset(dir, 0, sizeof(*dir));
}

/* cutfs_dir_same - 1 when a and b hold the same (name, ino) pairs */
int
cutfs_dir_same(const struct cutfs_dir *a, const struct cutfs_dir *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		long j = cutfs_dir_find(b, a->ents[i].name);

		if (j < 0 || b->ents[j].ino != a->ents[i].ino)
			return 0;
	}
	return 1;
}

/* cutfs_dir_sync - fsync of a directory: its entries become durable */
void
cutfs_dir_sync(struct cutfs_fs *fs, struct cutfs_node *d)
{
	struct cutfs_dir old = d->dur.dir;

	memset(&d->dur.dir, 0, sizeof(d->dur.dir));
	/* Count the new links before dropping the old ones, so that a
	 * node named in both is never released in between. */
	for (size_t i = 0; i < d->vol.dir.n; i++) {
		struct cutfs_node *c = cutfs_node_get(fs, d->vol.dir.ents[i].ino);

		if (c == NULL)
			continue;
		cutfs_dir_add(&d->dur.dir, d->vol.dir.ents[i].name, c->ino);
		c->dlinks++;
	}
	for (size_t i = 0; i < old.n; i++) {
		struct cutfs_node *c = cutfs_node_get(fs, old.ents[i].ino);

		if (c != NULL) {
			c->dlinks--;
			cutfs_node_release(fs, c);
		}
	}
	cutfs_dir_free(&old);
	d->dur.attr = d->vol.attr;
}

/* cutfs_link_add - a volatile entry name -> child in parent */
void
cutfs_link_add(struct cutfs_node *parent, const char *name,
    struct cutfs_node *child)
{
	cutfs_dir_add(&parent->vol.dir, name, child->ino);
	child->vlinks++;
	if (S_ISDIR(child->vol.attr.mode))
		child->parent = parent->ino;
	cutfs_node_touch(child, 0);
	cutfs_node_touch(parent, 1);
}

/* cutfs_link_remove - drop parent's volatile entry at idx */
void
cutfs_link_remove(struct cutfs_fs *fs, struct cutfs_node *parent, long idx,
    int keep)
{
	struct cutfs_dir *dir = &parent->vol.dir;
	struct cutfs_node *c = cutfs_node_get(fs, dir->ents[idx].ino);

	free(dir->ents[idx].name);
	/* Order does not matter: readdir works on a snapshot. */
	dir->ents[idx] = dir->ents[dir->n - 1];
	dir->n--;
	cutfs_node_touch(parent, 1);
	if (c == NULL)
		return;
	c->vlinks--;
	cutfs_node_touch(c, 0);
	if (!keep)
		cutfs_node_release(fs, c);
}

/* cutfs_subdirs - how many volatile entries of dir are directories */
uint64_t
cutfs_subdirs(struct cutfs_fs *fs, const struct cutfs_node *d)
{
	uint64_t k = 0;

	for (size_t i = 0; i < d->vol.dir.n; i++) {
		const struct cutfs_node *c =
		    cutfs_node_get(fs, d->vol.dir.ents[i].ino);

		if (c != NULL && S_ISDIR(c->vol.attr.mode))
			k++;
	}
	return k;
}

/* --- file content ---------------------------------------------------- */

static void
page_unref(struct cutfs_fs *fs, struct cutfs_page *p)
{
	if (p != NULL && --p->refs == 0) {
		free(p);
		fs->npages--;
	}
}

static void
data_reserve(struct cutfs_data *d, size_t npages)
{
	size_t cap;

	if (npages <= d->npages)
		return;
	cap = d->npages ? d->npages : 4;
	while (cap < npages)
		cap *= 2;
	d->pages = xreallocarray(d->pages, cap, sizeof(*d->pages));
	memset(d->pages + d->npages, 0, (cap - d->npages) * sizeof(*d->pages));
	d->npages = cap;
}

/* cutfs_data_page - page i or NULL (also past the slots) */
struct cutfs_page *
cutfs_data_page(const struct cutfs_data *d, size_t i)
{
	return i < d->npages ? d->pages[i] : NULL;
}

/* cutfs_data_page_writable - page i, unshared (allocated if NULL) */
struct cutfs_page *
cutfs_data_page_writable(struct cutfs_fs *fs, struct cutfs_data *d, size_t i)
{
	struct cutfs_page *p, *np;

	data_reserve(d, i + 1);
	p = d->pages[i];
	if (p != NULL && p->refs == 1)
		return p;
	np = xmalloc(sizeof(*np));
	fs->npages++;
	np->refs = 1;
	if (p != NULL) {
		memcpy(np->bytes, p->bytes, sizeof(np->bytes));
		page_unref(fs, p);
	} else
		memset(np->bytes, 0, sizeof(np->bytes));
	d->pages[i] = np;
	return np;
}

/* cutfs_data_page_set - page i := p (shared, may be NULL) */
void
cutfs_data_page_set(struct cutfs_fs *fs, struct cutfs_data *d, size_t i,
    struct cutfs_page *p)
{
	if (p == NULL && i >= d->npages)
		return;
	data_reserve(d, i + 1);
	if (p != NULL)
		p->refs++;
	page_unref(fs, d->pages[i]);
	d->pages[i] = p;
}

/* cutfs_data_read - up to len bytes at off into buf; the count read */
size_t
cutfs_data_read(const struct cutfs_data *d, uint64_t off, void *buf,
    size_t len)
{
	unsigned char *out = buf;
	size_t done = 0;

	if (off >= d->size)
		return 0;
	if (len > d->size - off)
		len = (size_t)(d->size - off);
	while (done < len) {
		uint64_t pos = off + done;
		size_t in = (size_t)(pos % CUTFS_PAGE_SIZE);
		size_t k = CUTFS_PAGE_SIZE - in;
		const struct cutfs_page *p =
		    cutfs_data_page(d, (size_t)(pos / CUTFS_PAGE_SIZE));

		if (k > len - done)
			k = len - done;
		if (p != NULL)
			memcpy(out + done, p->bytes + in, k);
		else
			memset(out + done, 0, k);
		done += k;
	}
	return len;
}

/* cutfs_data_write - len bytes at off; 0, or -EFBIG */
int
cutfs_data_write(struct cutfs_fs *fs, struct cutfs_data *d, uint64_t off,
    const void *buf, size_t len)
{
	const unsigned char *in = buf;
	size_t done = 0;

	if (off > CUTFS_FILE_MAX || len > CUTFS_FILE_MAX - off)
		return -EFBIG;
	while (done < len) {
		uint64_t pos = off + done;
		size_t at = (size_t)(pos % CUTFS_PAGE_SIZE);
		size_t k = CUTFS_PAGE_SIZE - at;
		struct cutfs_page *p = cutfs_data_page_writable(fs, d,
		    (size_t)(pos / CUTFS_PAGE_SIZE));

		if (k > len - done)
			k = len - done;
		memcpy(p->bytes + at, in + done, k);
		done += k;
	}
	if (off + len > d->size)
		d->size = off + len;
	return 0;
}

/* cutfs_data_trim - drop the pages past the size, zero the last's tail */
void
cutfs_data_trim(struct cutfs_fs *fs, struct cutfs_data *d)
{
	size_t keep = (size_t)((d->size + CUTFS_PAGE_SIZE - 1) /
	    CUTFS_PAGE_SIZE);
	size_t tail = (size_t)(d->size % CUTFS_PAGE_SIZE);

	for (size_t i = keep; i < d->npages; i++)
		cutfs_data_page_set(fs, d, i, NULL);
	/* Keep the promise that bytes past the size are zero, so that a
	 * later extension reads zeros there. */
	if (tail != 0 && cutfs_data_page(d, keep - 1) != NULL) {
		struct cutfs_page *p = cutfs_data_page(d, keep - 1);
		size_t k;

		for (k = tail; k < CUTFS_PAGE_SIZE && p->bytes[k] == 0; k++)
			continue;
		if (k < CUTFS_PAGE_SIZE) {
			p = cutfs_data_page_writable(fs, d, keep - 1);
			memset(p->bytes + tail, 0, CUTFS_PAGE_SIZE - tail);
		}
	}
}

/* cutfs_data_truncate - set the size; 0, or -EFBIG */
int
cutfs_data_truncate(struct cutfs_fs *fs, struct cutfs_data *d, uint64_t size)
{
	uint64_t old = d->size;

	if (size > CUTFS_FILE_MAX)
		return -EFBIG;
	d->size = size;
	if (size < old)
		cutfs_data_trim(fs, d);
	return 0;
}

/* cutfs_data_share - dst becomes a copy of src sharing its pages */
void
cutfs_data_share(struct cutfs_fs *fs, struct cutfs_data *dst,
    const struct cutfs_data *src)
{
	size_t n = src->npages > dst->npages ? src->npages : dst->npages;

	for (size_t i = 0; i < n; i++) {
		struct cutfs_page *p = cutfs_data_page(src, i);

		if (p != cutfs_data_page(dst, i))
			cutfs_data_page_set(fs, dst, i, p);
	}
	dst->size = src->size;
}

/* cutfs_data_free - drop every page */
void
cutfs_data_free(struct cutfs_fs *fs, struct cutfs_data *d)
{
	for (size_t i = 0; i < d->npages; i++)
		page_unref(fs, d->pages[i]);
	free(d->pages);
	memset(d, 0, sizeof(*d));
}
