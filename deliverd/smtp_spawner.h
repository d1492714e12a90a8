/*
 * smtp_spawner - the process that forks the smtp (and lmtp) transport's
 * connection processes, so that they share its memory rather than the
 * transport parent's (smtp_spawner.c says why).
 */
#ifndef TERN_SMTP_SPAWNER_H
#define TERN_SMTP_SPAWNER_H

#include <sys/types.h>

/* What the spawner runs: prepare once in the spawner itself, to drop what
 * no connection process needs; child in each connection process, on its
 * end of the new channel (it must not return). */
struct smtp_spawner_ops {
	void	(*prepare)(void);
	void	(*child)(int fd);
};

/*
 * smtp_spawner_spawn - a new connection process, made by the spawner
 * (started first when there is none).  Returns the parent's end of its
 * channel (blocking; the caller owns it) and its pid in *pid, which is
 * the caller's child to reap; -1 when none could be made (logged).
 */
int smtp_spawner_spawn(const struct smtp_spawner_ops *ops, pid_t *pid);

/* smtp_spawner_stop - close the spawner's channel: it exits, and the next
 * connection process comes from a new one (with the settings of then).
 * Connection processes already made are not touched. */
void smtp_spawner_stop(void);

/* smtp_spawner_reaped - 1 when pid was the spawner (its exit noted and,
 * when abnormal, logged), 0 for any other process */
int smtp_spawner_reaped(pid_t pid, int wstatus);

#endif
