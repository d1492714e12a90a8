/*
 * cutfs_ops - FUSE low-level requests on the cutfs model.  See
 * cutfs_ops.h; the rules of what becomes durable are in cutfs_model.h.
 */
#include "config.h"

#include <sys/statvfs.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cutfs_model.h"
#include "cutfs_ops.h"
#include "xmalloc.h"

/* cutfs is the only writer, so the kernel may cache what it was told. */
#define CUTFS_CACHE_SECONDS	1.0
#define CUTFS_BLOCKS		((uint64_t)1 << 24)	/* 64 GiB */
#define CUTFS_FILES		((uint64_t)1 << 22)

/* An open directory: its entries as of opendir (or a rewind), so that a
 * reader who unlinks while it reads sees every other entry once. */
struct dir_handle {
	struct cutfs_dirent	*ents;
	size_t			 n;
};

/* fs_of - the filesystem a request is for */
static struct cutfs_fs *
fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* dir_get - the directory node ino, or NULL with *err set */
static struct cutfs_node *
dir_get(struct cutfs_fs *fs, fuse_ino_t ino, int *err)
{
	struct cutfs_node *d = cutfs_node_get(fs, ino);

	*err = d == NULL ? ENOENT : !S_ISDIR(d->vol.attr.mode) ? ENOTDIR : 0;
	return *err ? NULL : d;
}

/* reply_entry - reply with n's entry: the kernel holds one more reference */
static void
reply_entry(fuse_req_t req, struct cutfs_fs *fs, struct cutfs_node *n)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = n->ino;
	e.attr_timeout = e.entry_timeout = CUTFS_CACHE_SECONDS;
	cutfs_node_stat(fs, n, &e.attr);
	n->lookups++;
	if (fuse_reply_entry(req, &e) != 0) {
		n->lookups--;
		cutfs_node_release(fs, n);
	}
}

/* reply_attr - reply with n's attributes */
static void
reply_attr(fuse_req_t req, struct cutfs_fs *fs, struct cutfs_node *n)
{
	struct stat st;

	cutfs_node_stat(fs, n, &st);
	fuse_reply_attr(req, &st, CUTFS_CACHE_SECONDS);
}

/*
 * A new node name in parent (mode includes the type), owned by the
 * caller; NULL with *err set.  Like ext4, a set-group-ID directory gives
 * its group (and, to a directory, the bit).
 */
static struct cutfs_node *
node_make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    dev_t rdev, int *err)
{
	struct cutfs_fs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cutfs_node *d, *n;
	gid_t gid = ctx->gid;

	if ((d = dir_get(fs, parent, err)) == NULL)
		return NULL;
	if (strlen(name) > CUTFS_NAME_MAX) {
		*err = ENAMETOOLONG;
		return NULL;
	}
	if (cutfs_dir_find(&d->vol.dir, name) >= 0) {
		*err = EEXIST;
		return NULL;
	}
	if (fs->nnodes >= CUTFS_FILES) {
		*err = ENOSPC;
		return NULL;
	}
	if (d->vol.attr.mode & S_ISGID) {
		gid = d->vol.attr.gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	n = cutfs_node_new(fs, 0, mode, ctx->uid, gid, rdev);
	cutfs_link_add(d, name, n);
	return n;
}

/* op_init - connection set-up: no writeback cache */
static void
op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Writes must reach cutfs at write(), not at some later flush. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}

/* op_lookup - the FUSE request lookup */
static void
op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cutfs_fs *fs = fs_of(req);
	struct cutfs_node *d;
	long i;
	int err;

	if ((d = dir_get(fs, parent, &err)) == NULL) {
		fuse_reply_err(req, err);
		return;
	}
	if ((i = cutfs_dir_find(&d->vol.dir, name)) < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	reply_entry(req, fs, cutfs_node_get(fs, d->vol.dir.ents[i].ino));
}

/* forget_one - the kernel dropped nlookup references to ino */
static void
forget_one(struct cutfs_fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	struct cutfs_node *n = cutfs_node_get(fs, ino);

	if (n == NULL)
		return;
	n->lookups -= nlookup < n->lookups ? nlookup : n->lookups;
	cutfs_node_release(fs, n);
}

/* op_forget - the FUSE request forget */
static void
op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(fs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

/* op_forget_multi - the FUSE request forget_multi */
static void
op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	for (size_t i = 0; i < count; i++)
		forget_one(fs_of(req), f[i].ino, f[i].nlookup);
	fuse_reply_none(req);
}

/* op_getattr - the FUSE request getattr */
static void
op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cutfs_node *n = cutfs_node_get(fs_of(req), ino);

	(void)fi;
	if (n == NULL)
		fuse_reply_err(req, ENOENT);
	else
		reply_attr(req, fs_of(req), n);
}

/* op_setattr - the FUSE request setattr */
static void
op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
    struct fuse_file_info *fi)
{
	struct cutfs_fs *fs = fs_of(req);
	struct cutfs_node *n = cutfs_node_get(fs, ino);
	struct cutfs_attr *a;
	int r;

	(void)fi;
	if (n == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	a = &n->vol.attr;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (!S_ISREG(a->mode)) {
			fuse_reply_err(req, S_ISDIR(a->mode) ? EISDIR : EINVAL);
			return;
		}
		if ((r = cutfs_data_truncate(fs, &n->vol.data,
		    (uint64_t)attr->st_size)) < 0) {
			fuse_reply_err(req, -r);
			return;
		}
		cutfs_node_touch(n, 1);
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		a->mode = (a->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		a->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		a->gid = attr->st_gid;
	cutfs_node_touch(n, 0);
	if (to_set & FUSE_SET_ATTR_ATIME)
		a->atime = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		a->atime = a->ctime;
	if (to_set & FUSE_SET_ATTR_MTIME)
		a->mtime = attr->st_mtim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		a->mtime = a->ctime;
	if (to_set & FUSE_SET_ATTR_CTIME)
		a->ctime = attr->st_ctim;
	reply_attr(req, fs, n);
}

/* op_mknod - the FUSE request mknod */
static void
op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    dev_t rdev)
{
	struct cutfs_node *n;
	int err;

	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode) &&
	    !S_ISCHR(mode) && !S_ISBLK(mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((n = node_make(req, parent, name, mode, rdev, &err)) == NULL)
		fuse_reply_err(req, err);
	else
		reply_entry(req, fs_of(req), n);
}

/* op_mkdir - the FUSE request mkdir */
static void
op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct cutfs_node *n;
	int err;

	n = node_make(req, parent, name, S_IFDIR | (mode & 07777), 0, &err);
	if (n == NULL)
		fuse_reply_err(req, err);
	else
		reply_entry(req, fs_of(req), n);
}

/* remove_entry - unlink (dir 0) or rmdir (dir 1) */
static void
remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, int dir)
{
	struct cutfs_fs *fs = fs_of(req);
	struct cutfs_node *d, *c;
	long i;
	int err;

	if ((d = dir_get(fs, parent, &err)) == NULL) {
		fuse_reply_err(req, err);
		return;
	}
	if ((i = cutfs_dir_find(&d->vol.dir, name)) < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	c = cutfs_node_get(fs, d->vol.dir.ents[i].ino);
	if (!dir && S_ISDIR(c->vol.attr.mode))
		err = EISDIR;
	else if (dir && !S_ISDIR(c->vol.attr.mode))
		err = ENOTDIR;
	else if (dir && c->vol.dir.n > 0)
		err = ENOTEMPTY;
	else
		cutfs_link_remove(fs, d, i, 0);
	fuse_reply_err(req, err);
}

/* op_unlink - the FUSE request unlink */
static void
op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, 0);
}

/* op_rmdir - the FUSE request rmdir */
static void
op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, 1);
}

/* rename_check - may s replace the entry of t? 0 or an errno */
static int
rename_check(const struct cutfs_node *s, const struct cutfs_node *t)
{
	if (S_ISDIR(t->vol.attr.mode)) {
		if (!S_ISDIR(s->vol.attr.mode))
			return EISDIR;
		if (t->vol.dir.n > 0)
			return ENOTEMPTY;
	} else if (S_ISDIR(s->vol.attr.mode))
		return ENOTDIR;
	return 0;
}

/* op_rename - rename, replacing the target (RENAME_NOREPLACE only) */
static void
op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct cutfs_fs *fs = fs_of(req);
	struct cutfs_node *sd, *dd, *s, *t = NULL;
	long si, ti;
	int err;

	if (flags & ~(unsigned int)RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((sd = dir_get(fs, parent, &err)) == NULL ||
	    (dd = dir_get(fs, newparent, &err)) == NULL) {
		fuse_reply_err(req, err);
		return;
	}
	if (strlen(newname) > CUTFS_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if ((si = cutfs_dir_find(&sd->vol.dir, name)) < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	s = cutfs_node_get(fs, sd->vol.dir.ents[si].ino);
	if ((ti = cutfs_dir_find(&dd->vol.dir, newname)) >= 0) {
		t = cutfs_node_get(fs, dd->vol.dir.ents[ti].ino);
		err = (flags & RENAME_NOREPLACE) ? EEXIST : rename_check(s, t);
		/* Two names of one file: rename does nothing (POSIX). */
		if (t == s || err != 0) {
			fuse_reply_err(req, t == s ? 0 : err);
			return;
		}
		cutfs_link_remove(fs, dd, ti, 1);
	}
	cutfs_link_add(dd, newname, s);
	/* Removing the target may have moved the source's entry. */
	cutfs_link_remove(fs, sd, cutfs_dir_find(&sd->vol.dir, name), 0);
	if (t != NULL)
		cutfs_node_release(fs, t);
	fuse_reply_err(req, 0);
}

/* op_link - the FUSE request link */
static void
op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
    const char *newname)
{
	struct cutfs_fs *fs = fs_of(req);
	struct cutfs_node *n = cutfs_node_get(fs, ino), *d;
	int err;

	if (n == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (S_ISDIR(n->vol.attr.mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if ((d = dir_get(fs, newparent, &err)) == NULL) {
		fuse_reply_err(req, err);
		return;
	}
	if (strlen(newname) > CUTFS_NAME_MAX ||
	    cutfs_dir_find(&d->vol.dir, newname) >= 0) {
		fuse_reply_err(req, strlen(newname) > CUTFS_NAME_MAX ?
		    ENAMETOOLONG : EEXIST);
		return;
	}
	cutfs_link_add(d, newname, n);
	reply_entry(req, fs, n);
}

/* file_open - open n for the request: the handle keeps the open flags */
static void
file_open(struct cutfs_node *n, struct fuse_file_info *fi)
{
	fi->fh = (uint64_t)(unsigned int)fi->flags;
	fi->keep_cache = 1;
	n->opens++;
}

/* op_create - the FUSE request create */
static void
op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	struct cutfs_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct cutfs_node *n;
	int err;

	n = node_make(req, parent, name, S_IFREG | (mode & 07777), 0, &err);
	if (n == NULL) {
		fuse_reply_err(req, err);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = n->ino;
	e.attr_timeout = e.entry_timeout = CUTFS_CACHE_SECONDS;
	cutfs_node_stat(fs, n, &e.attr);
	file_open(n, fi);
	n->lookups++;
	if (fuse_reply_create(req, &e, fi) != 0) {
		n->lookups--;
		n->opens--;
		cutfs_node_release(fs, n);
	}
}

/* op_open - the FUSE request open */
static void
op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cutfs_fs *fs = fs_of(req);
	struct cutfs_node *n = cutfs_node_get(fs, ino);

	if (n == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((fi->flags & O_TRUNC) && S_ISREG(n->vol.attr.mode) &&
	    (fi->flags & O_ACCMODE) != O_RDONLY && n->vol.data.size > 0) {
		(void)cutfs_data_truncate(fs, &n->vol.data, 0);
		cutfs_node_touch(n, 1);
	}
	file_open(n, fi);
	if (fuse_reply_open(req, fi) != 0) {
		n->opens--;
		cutfs_node_release(fs, n);
	}
}

/* op_read - the FUSE request read */
static void
op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct cutfs_node *n = cutfs_node_get(fs_of(req), ino);
	char *buf;
	size_t k;

	(void)fi;
	if (n == NULL || !S_ISREG(n->vol.attr.mode) || off < 0) {
		fuse_reply_err(req, n == NULL ? ENOENT : EINVAL);
		return;
	}
	buf = xmalloc(size);
	k = cutfs_data_read(&n->vol.data, (uint64_t)off, buf, size);
	fuse_reply_buf(req, buf, k);
	free(buf);
}

/* op_write - write into the volatile content (durable for O_DSYNC) */
static void
op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	struct cutfs_fs *fs = fs_of(req);
	struct cutfs_node *n = cutfs_node_get(fs, ino);
	int r;

	if (n == NULL || !S_ISREG(n->vol.attr.mode) || off < 0) {
		fuse_reply_err(req, n == NULL ? ENOENT : EINVAL);
		return;
	}
	if ((r = cutfs_data_write(fs, &n->vol.data, (uint64_t)off, buf,
	    size)) < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	cutfs_node_touch(n, 1);
	/* A write to an O_SYNC or O_DSYNC file is durable when it returns. */
	if (fi != NULL && (fi->fh & O_DSYNC))
		cutfs_node_sync(fs, n, (fi->fh & O_SYNC) != O_SYNC);
	fuse_reply_write(req, size);
}

/* op_flush - close(): makes nothing durable */
static void
op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	/* close() is no sync: nothing becomes durable here. */
	fuse_reply_err(req, 0);
}

/* op_release - the FUSE request release */
static void
op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cutfs_fs *fs = fs_of(req);
	struct cutfs_node *n = cutfs_node_get(fs, ino);

	(void)fi;
	if (n != NULL && n->opens > 0) {
		n->opens--;
		cutfs_node_release(fs, n);
	}
	fuse_reply_err(req, 0);
}

/* op_fsync - fsync/fdatasync: the file's state becomes durable */
static void
op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi)
{
	struct cutfs_fs *fs = fs_of(req);
	struct cutfs_node *n = cutfs_node_get(fs, ino);

	(void)fi;
	if (n == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	cutfs_node_sync(fs, n, datasync);
	fuse_reply_err(req, 0);
}

/* dir_snapshot - fill h with ".", ".." and the volatile entries of d */
static void
dir_snapshot(struct cutfs_fs *fs, struct dir_handle *h,
    const struct cutfs_node *d)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->ents[i].name);
	free(h->ents);
	h->n = d->vol.dir.n + 2;
	h->ents = xcalloc(h->n, sizeof(*h->ents));
	h->ents[0].name = xstrdup(".");
	h->ents[0].ino = d->ino;
	h->ents[1].name = xstrdup("..");
	h->ents[1].ino = cutfs_node_get(fs, d->parent) ? d->parent : d->ino;
	for (size_t i = 0; i < d->vol.dir.n; i++) {
		h->ents[i + 2].name = xstrdup(d->vol.dir.ents[i].name);
		h->ents[i + 2].ino = d->vol.dir.ents[i].ino;
	}
}

/* op_opendir - the FUSE request opendir */
static void
op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cutfs_fs *fs = fs_of(req);
	struct dir_handle *h;
	struct cutfs_node *d;
	int err;

	if ((d = dir_get(fs, ino, &err)) == NULL) {
		fuse_reply_err(req, err);
		return;
	}
	h = xcalloc(1, sizeof(*h));
	dir_snapshot(fs, h, d);
	fi->fh = (uint64_t)(uintptr_t)h;
	d->opens++;
	if (fuse_reply_open(req, fi) != 0) {
		for (size_t i = 0; i < h->n; i++)
			free(h->ents[i].name);
		free(h->ents);
		free(h);
		d->opens--;
	}
}

/* op_readdir - entries of the opendir snapshot from off on */
static void
op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct cutfs_fs *fs = fs_of(req);
	struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;
	struct cutfs_node *d = cutfs_node_get(fs, ino);
	char *buf;
	size_t pos = 0;

	if (d == NULL || off < 0) {
		fuse_reply_err(req, d == NULL ? ENOENT : EINVAL);
		return;
	}
	if (off == 0)		/* rewinddir */
		dir_snapshot(fs, h, d);
	buf = xmalloc(size);
	for (size_t i = (size_t)off; i < h->n; i++) {
		const struct cutfs_node *c = cutfs_node_get(fs, h->ents[i].ino);
		struct stat st;
		size_t k;

		memset(&st, 0, sizeof(st));
		st.st_ino = h->ents[i].ino;
		st.st_mode = c != NULL ? c->vol.attr.mode & S_IFMT : 0;
		k = fuse_add_direntry(req, buf + pos, size - pos,
		    h->ents[i].name, &st, (off_t)(i + 1));
		if (k > size - pos)
			break;
		pos += k;
	}
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

/* op_releasedir - the FUSE request releasedir */
static void
op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cutfs_fs *fs = fs_of(req);
	struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;
	struct cutfs_node *d = cutfs_node_get(fs, ino);

	for (size_t i = 0; i < h->n; i++)
		free(h->ents[i].name);
	free(h->ents);
	free(h);
	if (d != NULL && d->opens > 0) {
		d->opens--;
		cutfs_node_release(fs, d);
	}
	fuse_reply_err(req, 0);
}

/* op_fsyncdir - fsync of a directory: its entries become durable */
static void
op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi)
{
	struct cutfs_fs *fs = fs_of(req);
	struct cutfs_node *d;
	int err;

	(void)datasync;
	(void)fi;
	if ((d = dir_get(fs, ino, &err)) == NULL) {
		fuse_reply_err(req, err);
		return;
	}
	cutfs_dir_sync(fs, d);
	fuse_reply_err(req, 0);
}

/* op_statfs - the FUSE request statfs */
static void
op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct cutfs_fs *fs = fs_of(req);
	struct statvfs sv;
	uint64_t used = fs->npages < CUTFS_BLOCKS ? fs->npages : CUTFS_BLOCKS;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = CUTFS_PAGE_SIZE;
	sv.f_blocks = CUTFS_BLOCKS;
	sv.f_bfree = sv.f_bavail = CUTFS_BLOCKS - used;
	sv.f_files = CUTFS_FILES;
	sv.f_ffree = sv.f_favail = CUTFS_FILES - fs->nnodes;
	sv.f_namemax = CUTFS_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

const struct fuse_lowlevel_ops cutfs_ops = {
	.init		= op_init,
	.lookup		= op_lookup,
	.forget		= op_forget,
	.forget_multi	= op_forget_multi,
	.getattr	= op_getattr,
	.setattr	= op_setattr,
	.mknod		= op_mknod,
	.mkdir		= op_mkdir,
	.unlink		= op_unlink,
	.rmdir		= op_rmdir,
	.rename		= op_rename,
	.link		= op_link,
	.create		= op_create,
	.open		= op_open,
	.read		= op_read,
	.write		= op_write,
	.flush		= op_flush,
	.release	= op_release,
	.fsync		= op_fsync,
	.opendir	= op_opendir,
	.readdir	= op_readdir,
	.releasedir	= op_releasedir,
	.fsyncdir	= op_fsyncdir,
	.statfs		= op_statfs,
};
