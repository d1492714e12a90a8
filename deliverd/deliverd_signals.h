/*
 * deliverd_signals - SIGCHLD, SIGTERM and SIGINT delivered to the poll
 * loop of tern-deliverd (deliverd.c) through a self-pipe.
 */
#ifndef TERN_DELIVERD_SIGNALS_H
#define TERN_DELIVERD_SIGNALS_H

/* deliverd_signals_setup - install the handlers; the fd to poll for input */
int deliverd_signals_setup(void);
/* deliverd_signals_read - drain the pipe; 1 when SIGTERM/SIGINT came */
int deliverd_signals_read(void);
/* deliverd_signals_child - in a forked child: default handlers, no pipe */
void deliverd_signals_child(void);

#endif
