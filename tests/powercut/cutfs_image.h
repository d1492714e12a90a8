/*
 * cutfs_image - the power cut: only the durable state of a cutfs goes to
 * an image file, and the next mount starts from that file.
 *
 * cutfs_image_save() walks the durable tree from the root (durable
 * entries only): a node no durable entry reaches - a file created but
 * never durably linked - is not written, and every node is written with
 * its durable attributes and content.  A directory named by two durable
 * entries (a renamed directory whose old and new parents were synced
 * separately) keeps the first one only, as fsck would.  In harsh mode
 * each page and each size change not yet synced is first kept or dropped
 * at random, as a disk may have written part of its cache before the
 * power went.
 *
 * Format (native byte order: an image never leaves the machine):
 *   "CUTFS01\n", u64 count, then count nodes, the root first, each
 *   u64 ino, u32 mode, u32 uid, u32 gid, u64 rdev, then atime, mtime,
 *   ctime as (i64 sec, i64 nsec); a regular file adds u64 size and size
 *   bytes; a directory adds u64 n and n x (u32 namelen, name, u64 ino).
 */
#ifndef CUTFS_IMAGE_H
#define CUTFS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "cutfs_model.h"

/* What a cut kept and what it threw away. */
struct cutfs_cut_stats {
	uint64_t	files, dirs, others;	/* nodes kept */
	uint64_t	lost_nodes;	/* in use but not durably reachable */
	uint64_t	unsynced_files;	/* content or size not synced */
	uint64_t	lost_pages;	/* unsynced pages thrown away */
	uint64_t	kept_pages;	/* harsh: unsynced pages kept */
	uint64_t	unsynced_dirs;	/* entries changed since the sync */
	uint64_t	dropped_dir_links;	/* second durable parents */
};

/*
 * cutfs_image_save - cut: write the durable state of fs to path
 * (atomically, through path.tmp).  harsh: keep each unsynced page with
 * probability 1/2, decided by seed.  Fills st.  0, or -1 with err set.
 * fs's durable state may be changed (harsh mode); its volatile state is
 * meaningless afterwards.
 */
int cutfs_image_save(struct cutfs_fs *fs, const char *path, int harsh,
    uint64_t seed, struct cutfs_cut_stats *st, char *err, size_t errsize);

/*
 * cutfs_image_load - fill the empty fs from path: both states equal to
 * the image.  1 when path does not exist (fs untouched), 0 when loaded,
 * -1 with err set for a malformed or unreadable image.
 */
int cutfs_image_load(struct cutfs_fs *fs, const char *path, char *err,
    size_t errsize);

#endif
