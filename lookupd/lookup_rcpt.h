/* lookup_rcpt.h - not yet written */
