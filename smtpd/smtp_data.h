/* smtp_data.h - not yet written */
