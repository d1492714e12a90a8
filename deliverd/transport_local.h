/*
 * transport_local - deliver to one local mailbox, in a child process that
 * becomes the mailbox owner before it touches the mailbox.
 *
 * deliverd's main loop calls local_user_check() when a job arrives,
 * local_spawn() per recipient and local_child_result() when the child has
 * been reaped.  The resolution and delivery steps are public so that unit
 * tests can drive them without forking.
 */
#ifndef TERN_TRANSPORT_LOCAL_H
#define TERN_TRANSPORT_LOCAL_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#define LOCAL_USER_MAX		64	/* octets in a mailbox user name */
#define LOCAL_CHILD_TIMEOUT	600	/* seconds before a child is killed */
#define LOCAL_ERR_MAX		512	/* "x.y.z text" from a child */

/* Where one recipient's mail goes and as whom it is written. */
struct local_target {
	char	maildir[PATH_MAX];	/* ends in "/Maildir" */
	char	home[PATH_MAX];		/* the directory that must exist */
	char	user[LOCAL_USER_MAX + 1]; /* passwd name for initgroups, or "" */
	uid_t	uid;
	gid_t	gid;
	int	become;			/* switch to uid/gid before delivering */
};

/* One recipient's delivery, as the main loop hands it to a child. */
struct local_delivery {
	const char	*sender;	/* envelope sender, "" for <> */
	const char	*address;	/* recipient, for Delivered-To */
	const char	*user;		/* mailbox user (lookupd's verdict) */
	int		 msgfd;		/* the queue file, read-only */
	off_t		 body_offset;
	off_t		 body_size;	/* octets of message from there */
	const char	*mailbox_base;	/* "" = home directories from passwd */
	const char	*hostname;	/* for Maildir unique names */
};

/*
 * local_user_check - 0 when user is acceptable as a mailbox name (1 to 64
 * octets, no '/', no leading '.', no control characters); else -1 with
 * err = "5.1.3 ...".
 */
int local_user_check(const char *user, char *err, size_t errsize);

/*
 * local_target_resolve - find the Maildir and owner for user, under
 * mailbox_base (owner of mailbox_base/user) or in passwd when
 * mailbox_base is empty.  Returns enum deliver_status; on failure err
 * holds "x.y.z text" (5.1.1 for an unknown user, 4.x.x when the mailbox
 * may become reachable).  Reads nothing inside the mailbox.
 */
int local_target_resolve(const char *mailbox_base, const char *user,
    struct local_target *t, char *err, size_t errsize);

/*
 * local_deliver - resolve, switch to the owner for good when root, and
 * write the message.  Meant for the per-delivery child: once it has
 * switched it cannot switch back.  Returns enum deliver_status with
 * "x.y.z text" in err (also on success).
 */
int local_deliver(const struct local_delivery *d, char *err, size_t errsize);

/*
 * local_spawn - fork a child that runs local_deliver() and writes its
 * result to a pipe.  Returns the child's pid with *resultfd the pipe's
 * non-blocking read end (caller closes), or -1 (errno) when fork failed.
 */
pid_t local_spawn(const struct local_delivery *d, int *resultfd);

/*
 * local_child_result - the outcome of a reaped child from its wait status
 * and result pipe.  The child is not trusted: a result that does not
 * parse, or a child that crashed, gives 4.3.0.  Fills dsn ("x.y.z") and
 * text (printable ASCII); *crashed is set when the child did not report
 * normally.  Returns enum deliver_status.
 */
int local_child_result(int resultfd, int wstatus, char *dsn, size_t dsnsize,
    char *text, size_t textsize, int *crashed);

#endif
