/*
 * cutfs_model - the in-memory filesystem of cutfs, kept in two states.
 *
 * Every inode (node) has a volatile state, what the running system sees,
 * and a durable state, what a disk would still hold after a power cut.
 * Only three things copy volatile to durable:
 *   cutfs_node_sync(datasync=1)  fdatasync: the content and the size;
 *   cutfs_node_sync(datasync=0)  fsync: that, plus mode, owner and times;
 *   cutfs_dir_sync()             fsync of a directory: its entries (and
 *                                its own attributes).
 * Everything else changes the volatile state alone.  So a create, link,
 * unlink or rename is durable only once the directories involved were
 * fsync'd after it, and a file whose data was synced but whose directory
 * entry was not is gone after a cut.  A new node's durable attributes are
 * those it was created with and its durable content is empty.
 *
 * File content lives in 4 KiB pages shared between the two states with
 * reference counts: a sync shares the volatile pages (one pointer each),
 * and a write copies a shared page before changing it.
 *
 * Node lifetime: a node is freed when no volatile entry, no durable entry,
 * no kernel lookup and no open file refers to it (cutfs_node_release).
 * The cut itself (keep only the durable state) is cutfs_image_save().
 * Single-threaded: the FUSE session loop is the only caller.
 */
#ifndef CUTFS_MODEL_H
#define CUTFS_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#define CUTFS_PAGE_SIZE		4096
#define CUTFS_ROOT_INO		1
#define CUTFS_NAME_MAX		255
/* Files are capped at 4 GiB: the page table stays small. */
#define CUTFS_FILE_MAX		((uint64_t)1 << 32)
#define CUTFS_NODES_MAX		((uint64_t)1 << 24)

struct cutfs_page {
	uint32_t	 refs;
	unsigned char	 bytes[CUTFS_PAGE_SIZE];
};

/* File content: pages[i] covers bytes i*PAGE..; NULL reads as zeros.  The
 * bytes past size in the last page are always zero. */
struct cutfs_data {
	struct cutfs_page	**pages;
	size_t			  npages;	/* slots in pages[] */
	uint64_t		  size;
};

struct cutfs_dirent {
	char		*name;
	uint64_t	 ino;
};

struct cutfs_dir {
	struct cutfs_dirent	*ents;
	size_t			 n, cap;
};

struct cutfs_attr {
	uint32_t	 mode;		/* type and permission bits */
	uint32_t	 uid, gid;
	uint64_t	 rdev;
	struct timespec	 atime, mtime, ctime;
};

struct cutfs_state {
	struct cutfs_attr	attr;
	struct cutfs_data	data;	/* regular files */
	struct cutfs_dir	dir;	/* directories */
};

struct cutfs_node {
	uint64_t		ino;
	uint64_t		parent;	/* directories: volatile parent */
	struct cutfs_state	vol, dur;
	uint64_t		vlinks;	/* volatile entries naming it */
	uint64_t		dlinks;	/* durable entries naming it */
	uint64_t		lookups;	/* the kernel's references */
	uint64_t		opens;	/* open files and directories */
};

struct cutfs_fs {
	struct cutfs_node	**nodes;	/* by ino; NULL for free slots */
	size_t			  cap;
	uint64_t		  next_ino;
	uint64_t		  nnodes;
	uint64_t		  npages;	/* pages allocated, both states */
};

/* cutfs_fs_init - an empty table (no root: cutfs_fs_format or a load) */
void cutfs_fs_init(struct cutfs_fs *fs);
/* cutfs_fs_format - a new filesystem: an empty root directory, durable */
void cutfs_fs_format(struct cutfs_fs *fs, uint32_t mode, uint32_t uid,
    uint32_t gid);
/* cutfs_fs_free - free every node and page */
void cutfs_fs_free(struct cutfs_fs *fs);

/* cutfs_node_get - the node of ino, or NULL */
struct cutfs_node *cutfs_node_get(struct cutfs_fs *fs, uint64_t ino);
/*
 * cutfs_node_new - a new node (next free ino; or ino when not 0, which
 * must be free) with no links; its durable attributes are its creation
 * attributes.  The table owns it.
 */
struct cutfs_node *cutfs_node_new(struct cutfs_fs *fs, uint64_t ino,
    uint32_t mode, uint32_t uid, uint32_t gid, uint64_t rdev);
/* cutfs_node_release - free node if nothing refers to it any more */
void cutfs_node_release(struct cutfs_fs *fs, struct cutfs_node *node);
/* cutfs_node_stat - the volatile attributes as a struct stat */
void cutfs_node_stat(struct cutfs_fs *fs, const struct cutfs_node *node,
    struct stat *st);
/* cutfs_node_sync - fsync (datasync 0) or fdatasync (datasync 1) */
void cutfs_node_sync(struct cutfs_fs *fs, struct cutfs_node *node,
    int datasync);
/* cutfs_node_touch - set the volatile ctime (and mtime if modify) now */
void cutfs_node_touch(struct cutfs_node *node, int modify);

/* cutfs_dir_find - index of name in dir, or -1 */
long cutfs_dir_find(const struct cutfs_dir *dir, const char *name);
/* cutfs_dir_add - append the entry (name copied) */
void cutfs_dir_add(struct cutfs_dir *dir, const char *name, uint64_t ino);
/* cutfs_dir_free - free the entries */
void cutfs_dir_free(struct cutfs_dir *dir);
/* cutfs_dir_same - 1 when a and b hold the same (name, ino) pairs */
int cutfs_dir_same(const struct cutfs_dir *a, const struct cutfs_dir *b);
/* cutfs_dir_sync - fsync of a directory: its entries become durable */
void cutfs_dir_sync(struct cutfs_fs *fs, struct cutfs_node *dir);

/* cutfs_link_add - a volatile entry name -> child in parent */
void cutfs_link_add(struct cutfs_node *parent, const char *name,
    struct cutfs_node *child);
/* cutfs_link_remove - drop parent's volatile entry at idx; the child is
 * released unless keep (the caller releases it later) */
void cutfs_link_remove(struct cutfs_fs *fs, struct cutfs_node *parent,
    long idx, int keep);
/* cutfs_subdirs - how many volatile entries of dir are directories */
uint64_t cutfs_subdirs(struct cutfs_fs *fs, const struct cutfs_node *dir);

/* cutfs_data_read - up to len bytes at off into buf; the count read */
size_t cutfs_data_read(const struct cutfs_data *d, uint64_t off, void *buf,
    size_t len);
/* cutfs_data_write - len bytes at off; 0, or -EFBIG past CUTFS_FILE_MAX */
int cutfs_data_write(struct cutfs_fs *fs, struct cutfs_data *d, uint64_t off,
    const void *buf, size_t len);
/* cutfs_data_truncate - set the size; 0, or -EFBIG */
int cutfs_data_truncate(struct cutfs_fs *fs, struct cutfs_data *d,
    uint64_t size);
/* cutfs_data_trim - drop the pages past the size and zero the tail of the
 * last one (after the size was set directly) */
void cutfs_data_trim(struct cutfs_fs *fs, struct cutfs_data *d);
/* cutfs_data_share - dst becomes a copy of src sharing its pages */
void cutfs_data_share(struct cutfs_fs *fs, struct cutfs_data *dst,
    const struct cutfs_data *src);
/* cutfs_data_free - drop every page */
void cutfs_data_free(struct cutfs_fs *fs, struct cutfs_data *d);
/* cutfs_data_page_writable - page i, unshared (allocated if NULL) */
struct cutfs_page *cutfs_data_page_writable(struct cutfs_fs *fs,
    struct cutfs_data *d, size_t i);
/* cutfs_data_page_set - page i := p (shared, may be NULL) */
void cutfs_data_page_set(struct cutfs_fs *fs, struct cutfs_data *d, size_t i,
    struct cutfs_page *p);
/* cutfs_data_page - page i or NULL (also past the slots) */
struct cutfs_page *cutfs_data_page(const struct cutfs_data *d, size_t i);

#endif
