/* spool.h - not yet written */
