/* smtp_command.h - not yet written */
