/* master_listen.h - not yet written */
