/*
 * notice - notifications to the sender (placeholder: records only).
 */
#include "config.h"

#include "notice.h"

/* notice_settle - store what waited for a notice */
void
notice_settle(struct sched_msg *sm)
{
	for (uint32_t i = 0; i < sm->n && sm->nnotice > 0; i++)
		if (sm->r[i].notice != NOTICE_NONE) {
			sched_rcpt_settled(sm, i);
			sm->nnotice--;
		}
}
