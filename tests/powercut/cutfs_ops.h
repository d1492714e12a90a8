/*
 * cutfs_ops - the FUSE low-level operations of cutfs: each request is
 * turned into changes of the volatile state of cutfs_model, except
 * fsync, fdatasync, fsyncdir and writes to O_SYNC/O_DSYNC files, which
 * make state durable.  flush (close) makes nothing durable.
 *
 * The session's userdata is the struct cutfs_fs; the session must be
 * single-threaded (fuse_session_loop), since the model has no locks.
 * Mount with default_permissions (the kernel checks modes and owners
 * against what getattr says) and allow_other (tern's processes run as
 * _tern and _ternq), and without writeback_cache or direct_io: a write
 * reaches cutfs when write() returns, and shared writable mmap goes
 * through the page cache.
 */
#ifndef CUTFS_OPS_H
#define CUTFS_OPS_H

#define FUSE_USE_VERSION 31
#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops cutfs_ops;

#endif
