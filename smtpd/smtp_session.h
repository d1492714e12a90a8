/* smtp_session.h - not yet written */
