/* scheduler.h - not yet written */
