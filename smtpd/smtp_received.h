/* smtp_received.h - not yet written */
