/* master_spool.h - not yet written */
