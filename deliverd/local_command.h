/*
 * local_command - run an alias or .forward "|command" for one message,
 * in the delivery process of the command's owner (local_child.c), which
 * has already switched to that owner for good.
 *
 * The command string is the administrator's (or the .forward owner's)
 * and runs with /bin/sh -c; envelope data reaches it only through the
 * environment and on standard input, never through the command line.
 */
#ifndef TERN_LOCAL_COMMAND_H
#define TERN_LOCAL_COMMAND_H

#include <stddef.h>
#include <sys/types.h>

#define LOCAL_COMMAND_OUTPUT_MAX	300	/* octets of output kept for
						   the bounce */

/* One command delivery. */
struct local_command {
	const char	*command;	/* for /bin/sh -c */
	int		 msgfd;		/* the queue file, read with pread */
	off_t		 offset;	/* where the message starts */
	off_t		 size;		/* its length */
	const char	*sender;	/* SENDER, Return-Path; "" for <> */
	const char	*recipient;	/* RECIPIENT, Delivered-To */
	const char	*user;		/* USER, LOGNAME */
	const char	*home;		/* HOME, and the working directory */
	const char	*extension;	/* EXTENSION, "" none */
	long		 time_limit;	/* seconds (command_time_limit) */
};

/*
 * local_command_exit_class - what an exit status means (sysexits.h):
 * the delivery status, with dsn the enhanced code to report.
 */
int local_command_exit_class(int status, const char **dsn);

/*
 * local_command_run - run c with the message on its standard input
 * ("Return-Path:" and "Delivered-To:" first, LF line ends).  Returns
 * enum deliver_status with err "x.y.z text": delivered on exit 0; a
 * temporary sysexits code, a signal, or the time limit (the whole
 * process group is killed) defers; any other exit fails, with the
 * command's first LOCAL_COMMAND_OUTPUT_MAX octets of output in err.
 */
int local_command_run(const struct local_command *c, char *err,
    size_t errsize);

#endif
