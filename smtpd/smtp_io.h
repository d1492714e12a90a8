/* smtp_io.h - not yet written */
