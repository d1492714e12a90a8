/*
 * local_child - deliver to one local mailbox, in a child process that
 * becomes the mailbox owner before it touches the mailbox.
 *
 * The local transport (transport_local.c) calls local_child_spawn() per
 * recipient and local_child_result() when the child has been reaped.
 * The delivery step is public so that unit tests can drive it without
 * forking.
 */
#ifndef TERN_LOCAL_CHILD_H
#define TERN_LOCAL_CHILD_H

#include <stddef.h>
#include <sys/types.h>

#define LOCAL_CHILD_TIMEOUT	600	/* seconds before a child is killed */
#define LOCAL_ERR_MAX		512	/* "x.y.z text" from a child */

/* One recipient's delivery, as the transport hands it to a child. */
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
 * local_child_deliver - resolve, switch to the owner for good when root,
 * and write the message.  Meant for the per-delivery child: once it has
 * switched it cannot switch back.  Returns enum deliver_status with
 * "x.y.z text" in err (also on success).
 */
int local_child_deliver(const struct local_delivery *d, char *err,
    size_t errsize);

/*
 * local_child_spawn - fork a child that runs local_child_deliver() and
 * writes its result to a pipe.  Returns the child's pid with *resultfd
 * the pipe's non-blocking read end (caller closes), or -1 (errno) when
 * fork failed.
 */
pid_t local_child_spawn(const struct local_delivery *d, int *resultfd);

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
