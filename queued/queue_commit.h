/* queue_commit.h - not yet written */
