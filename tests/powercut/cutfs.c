/*
 * cutfs - a FUSE filesystem for power-cut tests: what was not fsync'd is
 * gone after the cut.
 *
 *   cutfs -o image=FILE[,harsh=SEED] [-f] [-d] MOUNTPOINT
 *
 * The whole filesystem lives in memory, in a volatile and a durable state
 * (cutfs_model.h says exactly what makes what durable).  Unmounting it
 * (umount MOUNTPOINT, or SIGTERM to cutfs) is the power cut: cutfs writes
 * only the durable state to FILE and exits; the next cutfs on the same
 * FILE starts from it, as a machine boots from its disk.  So a test kills
 * every process using the filesystem (kill -9), unmounts, and mounts
 * again.  On stderr cutfs reports what each cut kept and threw away.
 *
 * harsh=SEED: at the cut, each page written but not synced survives or
 * not at random (and so does an unsynced size change), as when a disk
 * wrote part of its cache before the power went.  Off by default.
 *
 * Made for tern's tests (tests/integration/test_power_cut.py and
 * test_cutfs.py); mounted as root with allow_other and
 * default_permissions.  Not supported: symbolic links, extended
 * attributes, fallocate; syncfs()/sync() make nothing durable (FUSE does
 * not pass them on).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cutfs_image.h"
#include "cutfs_model.h"
#include "cutfs_ops.h"
#include "log.h"

struct cutfs_conf {
	char	*image;
	char	*harsh;
};

static const struct fuse_opt conf_opts[] = {
	{ "image=%s", offsetof(struct cutfs_conf, image), 0 },
	{ "harsh=%s", offsetof(struct cutfs_conf, harsh), 0 },
	FUSE_OPT_END
};

/* usage - print the synopsis and exit 2 */
static void
usage(void)
{
	fprintf(stderr, "usage: cutfs -o image=FILE[,harsh=SEED] [-f] [-d] "
	    "MOUNTPOINT\n");
	exit(2);
}

/* conf_image_path - image made absolute (daemonizing changes to /); the
 * caller frees it */
static char *
conf_image_path(const char *image)
{
	char cwd[4096];
	char *path;

	if (image[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return strdup(image);
	if (asprintf(&path, "%s/%s", cwd, image) < 0)
		return NULL;
	return path;
}

/* cutfs_serve - serve the mount until it is unmounted; 0 when it ran */
static int
cutfs_serve(struct fuse_args *args, const char *mountpoint, int foreground,
    struct cutfs_fs *fs)
{
	struct fuse_session *se;
	int ret = -1;

	se = fuse_session_new(args, &cutfs_ops, sizeof(cutfs_ops), fs);
	if (se == NULL)
		return -1;
	if (fuse_set_signal_handlers(se) == 0) {
		if (fuse_session_mount(se, mountpoint) == 0) {
			if (fuse_daemonize(foreground) == 0)
				ret = fuse_session_loop(se) < 0 ? -1 : 0;
			fuse_session_unmount(se);
		}
		fuse_remove_signal_handlers(se);
	}
	fuse_session_destroy(se);
	return ret;
}

int
main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct cutfs_conf conf = { NULL, NULL };
	struct cutfs_cut_stats st;
	struct cutfs_fs fs;
	uint64_t seed = 0;
	char err[4096], *image, *end;
	int r;

	log_init("cutfs", 1);
	if (fuse_opt_parse(&args, &conf, conf_opts, NULL) < 0 ||
	    fuse_parse_cmdline(&args, &opts) != 0)
		usage();
	if (opts.show_help || opts.show_version || opts.mountpoint == NULL ||
	    conf.image == NULL)
		usage();
	if (conf.harsh != NULL) {
		errno = 0;
		seed = strtoull(conf.harsh, &end, 10);
		if (errno != 0 || *end != '\0' || end == conf.harsh)
			usage();
	}
	if ((image = conf_image_path(conf.image)) == NULL)
		fatal("image path");
	if (fuse_opt_add_arg(&args, "-oallow_other,default_permissions,"
	    "fsname=cutfs,subtype=cutfs") != 0)
		fatalx("fuse_opt_add_arg failed");
	if (opts.debug && fuse_opt_add_arg(&args, "-odebug") != 0)
		fatalx("fuse_opt_add_arg failed");

	cutfs_fs_init(&fs);
	if ((r = cutfs_image_load(&fs, image, err, sizeof(err))) < 0)
		fatalx("cannot load image %s", err);
	if (r == 1)
		cutfs_fs_format(&fs, 0755, 0, 0);
	log_info("%s %s: %" PRIu64 " nodes%s", r == 1 ? "new" : "loaded",
	    image, fs.nnodes, conf.harsh ? " (harsh)" : "");

	if (cutfs_serve(&args, opts.mountpoint, opts.foreground, &fs) < 0)
		fatalx("cannot serve %s", opts.mountpoint);

	/* Unmounted: this is the power cut. */
	if (cutfs_image_save(&fs, image, conf.harsh != NULL, seed, &st, err,
	    sizeof(err)) < 0)
		fatalx("cannot save image: %s", err);
	log_info("cut: kept %" PRIu64 " files, %" PRIu64 " directories, %"
	    PRIu64 " others; lost %" PRIu64 " nodes not durably linked, "
	    "unsynced data of %" PRIu64 " files (%" PRIu64 " pages lost, %"
	    PRIu64 " kept), unsynced entries of %" PRIu64 " directories; %"
	    PRIu64 " second directory links dropped", st.files, st.dirs,
	    st.others, st.lost_nodes, st.unsynced_files, st.lost_pages,
	    st.kept_pages, st.unsynced_dirs, st.dropped_dir_links);
	cutfs_fs_free(&fs);
	free(opts.mountpoint);
	free(image);
	free(conf.image);
	free(conf.harsh);
	fuse_opt_free_args(&args);
	return 0;
}
